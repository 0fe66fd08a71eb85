# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 42.07
cal_tok_hi = 770.358
cal_err_max = 0.233499
