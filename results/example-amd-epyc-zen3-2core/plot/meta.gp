# gpt2-bench report: variables for scripts/plot (machine.json + decode.jsonl)
cpu = "AMD EPYC"
machine_label = "AMD EPYC (avx2), 2 threads"
model_label = "gpt2, f32 weights"
quick = 0
read_gbs = 28.5503
copy_gbs = 23.0523
triad_gbs = 27.1789
peak_gflops = 202.698
spec_gflops = 201.68
sgemm_gflops = 160.935
sgemm_size = 2048
ridge = 7.09968
n_series = 2
n_points = 14
series_title_1 = "S=128"
series_context_1 = 128
cross_1 = 20.1832
cross_tok_1 = 803.002
series_title_2 = "S=896"
series_context_2 = 896
cross_2 = -1
cross_tok_2 = 0
b_lo = 0.666667
b_hi = 96
tok_lo = 26.9811
tok_hi = 803.002
int_lo = 0.499198
int_hi = 13.4436
gflops_lo = 10.3238
gflops_hi = 92.4527
eff_hi = 1
eff_nx = 7
eff_ny = 2
eff_xtics = "(\"1\" 0, \"2\" 1, \"4\" 2, \"8\" 3, \"16\" 4, \"32\" 5, \"64\" 6)"
b_tics = "(1, 2, 4, 8, 16, 32, 64)"
eff_ytics = "(\"S=128\" 0, \"S=896\" 1)"
n_op_points = 4
n_ops = 9
