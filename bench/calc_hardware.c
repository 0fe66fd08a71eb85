/* calc_hardware: accelerator presets from the vendors' datasheets (dense
 * tensor-core FLOP/s, never the "with sparsity" figures), and DDR memory
 * bandwidth from channels x MT/s. Sources in docs/calc.md. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "calc.h"
#include "cli.h"

typedef struct {
    const char *name, *label;
    double memory_gb;      /* datasheet GB, read as 10^9 bytes */
    double bandwidth_gbs;  /* datasheet GB/s */
    double bf16_tflops;    /* dense */
    double fp8_tflops;     /* dense; 0: no FP8 tensor cores */
    const char *source;
} hw_preset;

static const hw_preset PRESETS[] = {
    {"a100-40gb", "NVIDIA A100 40GB SXM4", 40, 1555, 312, 0,
     "NVIDIA A100 Tensor Core GPU datasheet: 40 GB HBM2, 1,555 GB/s; BF16 Tensor Core 312 TFLOPS dense "
     "(624 is with sparsity); no FP8"},
    {"a100-80gb", "NVIDIA A100 80GB SXM4", 80, 2039, 312, 0,
     "NVIDIA A100 Tensor Core GPU datasheet: 80 GB HBM2e, 2,039 GB/s; BF16 Tensor Core 312 TFLOPS dense "
     "(624 is with sparsity); no FP8"},
    {"h100-sxm", "NVIDIA H100 SXM5 80GB", 80, 3350, 989.4, 1978.9,
     "NVIDIA H100 Tensor Core GPU datasheet: 80 GB HBM3, 3.35 TB/s; BF16 1,979 and FP8 3,958 TFLOPS are with "
     "sparsity, dense 989.4 and 1,978.9 (H100 architecture whitepaper)"},
    {"h100-pcie", "NVIDIA H100 PCIe 80GB", 80, 2000, 756, 1513,
     "NVIDIA H100 Tensor Core GPU datasheet: 80 GB HBM2e, 2 TB/s; BF16 1,513 and FP8 3,026 TFLOPS are with "
     "sparsity, dense 756 and 1,513"},
    {"h200", "NVIDIA H200 SXM 141GB", 141, 4800, 989.4, 1978.9,
     "NVIDIA H200 Tensor Core GPU datasheet: 141 GB HBM3e, 4.8 TB/s; BF16 1,979 and FP8 3,958 TFLOPS are with "
     "sparsity, dense 989.4 and 1,978.9 (the H100 SXM's tensor cores)"},
    {"rtx-4090", "NVIDIA GeForce RTX 4090", 24, 1008, 165.2, 330.3,
     "NVIDIA Ada Lovelace GPU architecture whitepaper (RTX 4090 column): 24 GB GDDR6X, 1,008 GB/s; BF16 with FP32 "
     "accumulate 165.2 TFLOPS dense (330.4 with sparsity), FP8 with FP32 accumulate 330.3 dense (660.6 with "
     "sparsity)"},
    {"l4", "NVIDIA L4", 24, 300, 121, 242.5,
     "NVIDIA L4 Tensor Core GPU datasheet: 24 GB GDDR6, 300 GB/s; BF16 242 and FP8 485 TFLOPS are with sparsity, "
     "dense 121 and 242.5"},
};
#define N_PRESETS (int)(sizeof PRESETS / sizeof PRESETS[0])

const char *const CALC_HARDWARE_NAMES = "a100-40gb, a100-80gb, h100-sxm, h100-pcie, h200, rtx-4090, l4";

int calc_hardware_by_name(const char *name, const char *compute, calc_hardware *hw, status_t *st) {
    memset(hw, 0, sizeof *hw);
    if (!name) name = "";
    if (!compute) compute = "bf16";
    if (strcmp(compute, "bf16") != 0 && strcmp(compute, "fp8") != 0)
        return status_fail(st, ST_BAD_INPUT, "calc: --compute %s: use bf16 or fp8", compute);
    for (int i = 0; i < N_PRESETS; i++) {
        const hw_preset *p = &PRESETS[i];
        if (strcasecmp(name, p->name) != 0) continue;
        snprintf(hw->name, sizeof hw->name, "%s", p->name);
        snprintf(hw->label, sizeof hw->label, "%s", p->label);
        snprintf(hw->source, sizeof hw->source, "%s", p->source);
        hw->memory_bytes = p->memory_gb * 1e9;
        hw->bandwidth = p->bandwidth_gbs * 1e9;
        hw->flops_bf16 = p->bf16_tflops * 1e12;
        hw->flops_fp8 = p->fp8_tflops * 1e12;
        if (strcmp(compute, "fp8") == 0) {
            if (!(hw->flops_fp8 > 0))
                return status_fail(st, ST_BAD_INPUT, "calc: the %s has no FP8 tensor cores: use --compute bf16",
                                   p->label);
            hw->flops = hw->flops_fp8;
        } else {
            hw->flops = hw->flops_bf16;
        }
        return ST_OK;
    }
    char prefixed[160] = "";
    size_t used = 0, nl = strlen(name);
    for (int i = 0; i < N_PRESETS && nl > 0; i++)
        if (strncasecmp(name, PRESETS[i].name, nl) == 0 && used < sizeof prefixed) {
            int w = snprintf(prefixed + used, sizeof prefixed - used, "%s%s", used ? " or " : "", PRESETS[i].name);
            if (w > 0) used += (size_t)w;
        }
    if (used)
        return status_fail(st, ST_BAD_INPUT, "calc: unknown hardware '%s': did you mean %s? (presets: %s)", name,
                           prefixed, CALC_HARDWARE_NAMES);
    int best = 0, bd = 1 << 20;
    for (int i = 0; i < N_PRESETS; i++) {
        int d = cli_edit_distance(name, PRESETS[i].name);
        if (d < bd) { bd = d; best = i; }
    }
    if (bd <= 4)
        return status_fail(st, ST_BAD_INPUT, "calc: unknown hardware '%s': did you mean %s? (presets: %s)", name,
                           PRESETS[best].name, CALC_HARDWARE_NAMES);
    return status_fail(st, ST_BAD_INPUT, "calc: unknown hardware '%s': use one of %s, --cpu-channels N --cpu-mts MT/s, "
                       "--machine FILE or --bandwidth/--flops/--memory", name, CALC_HARDWARE_NAMES);
}

double calc_ddr_bandwidth(double channels, double mts) { return channels * 8.0 * mts * 1e6; }
