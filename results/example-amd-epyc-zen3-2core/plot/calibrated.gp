# gpt2-bench report: variables of the calibrated chart (scripts/plot)
n_calibrated = 14
cal_tok_lo = 43.7669
cal_tok_hi = 787.71
cal_err_max = 0.210717
