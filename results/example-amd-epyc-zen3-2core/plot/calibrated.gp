# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 35.5155
cal_tok_hi = 660.651
cal_err_max = 0.290843
