# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 40.258
cal_tok_hi = 767.87
cal_err_max = 0.206637
