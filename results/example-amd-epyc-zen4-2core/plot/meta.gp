# gpt2-bench report: variables for scripts/plot (machine.json + decode.jsonl)
cpu = "AMD EPYC"
machine_label = "AMD EPYC (avx512), 2 threads"
model_label = "gpt2, f32 weights"
quick = 0
read_gbs = 34.0852
copy_gbs = 30.1726
triad_gbs = 33.6292
peak_gflops = 233.684
spec_gflops = 462.884
sgemm_gflops = 211.004
sgemm_size = 2048
ridge = 6.85588
n_series = 2
n_points = 14
series_title_1 = "S=128"
series_context_1 = 128
cross_1 = 19.193
cross_tok_1 = 925.755
series_title_2 = "S=896"
series_context_2 = 896
cross_2 = -1
cross_tok_2 = 0
b_lo = 0.666667
b_hi = 96
tok_lo = 53.7155
tok_hi = 925.755
int_lo = 0.499198
int_hi = 13.4436
gflops_lo = 16.107
gflops_hi = 148.21
eff_hi = 1.46129
eff_nx = 7
eff_ny = 2
eff_xtics = "(\"1\" 0, \"2\" 1, \"4\" 2, \"8\" 3, \"16\" 4, \"32\" 5, \"64\" 6)"
b_tics = "(1, 2, 4, 8, 16, 32, 64)"
eff_ytics = "(\"S=128\" 0, \"S=896\" 1)"
n_op_points = 4
n_ops = 10
