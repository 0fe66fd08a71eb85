# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 57.261
cal_tok_hi = 925.755
cal_err_max = 0.430473
