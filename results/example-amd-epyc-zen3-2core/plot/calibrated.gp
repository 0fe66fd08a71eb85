# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 43.8254
cal_tok_hi = 790.701
cal_err_max = 0.148773
