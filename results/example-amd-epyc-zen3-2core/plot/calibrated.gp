# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 45.2051
cal_tok_hi = 744.038
cal_err_max = 0.162192
