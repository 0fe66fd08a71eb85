# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 56.949
cal_tok_hi = 815.112
cal_err_max = 0.164132
