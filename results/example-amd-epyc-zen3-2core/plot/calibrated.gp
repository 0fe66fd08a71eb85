# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 36.7017
cal_tok_hi = 803.002
cal_err_max = 0.152656
