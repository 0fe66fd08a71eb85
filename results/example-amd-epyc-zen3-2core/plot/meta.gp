# gpt2-bench report: variables for scripts/plot (machine.json + decode.jsonl)
cpu = "AMD EPYC"
machine_label = "AMD EPYC (avx2), 2 threads"
model_label = "gpt2, f32 weights"
quick = 0
read_gbs = 27.3789
copy_gbs = 21.2996
triad_gbs = 23.5896
peak_gflops = 194.458
spec_gflops = 195.854
sgemm_gflops = 174.69
sgemm_size = 2048
ridge = 7.10248
n_series = 2
n_points = 14
series_title_1 = "S=128"
series_context_1 = 128
cross_1 = 20.1947
cross_tok_1 = 770.358
series_title_2 = "S=896"
series_context_2 = 896
cross_2 = -1
cross_tok_2 = 0
b_lo = 0.666667
b_hi = 96
tok_lo = 29.0922
tok_hi = 770.358
int_lo = 0.499198
int_hi = 13.4436
gflops_lo = 11.3805
gflops_hi = 98.5447
eff_hi = 1.03266
eff_nx = 7
eff_ny = 2
eff_xtics = "(\"1\" 0, \"2\" 1, \"4\" 2, \"8\" 3, \"16\" 4, \"32\" 5, \"64\" 6)"
b_tics = "(1, 2, 4, 8, 16, 32, 64)"
eff_ytics = "(\"S=128\" 0, \"S=896\" 1)"
n_op_points = 4
n_ops = 9
