/* dispatch: gpt2-bench's subcommand table. */
#include <string.h>

#include "../kernels/gemm_packed.h"
#include "cli.h"
#include "commands.h"

typedef struct {
    const char *name;
    int (*run)(int, char **, FILE *, status_t *);
    const char *what;
} command;

static const command COMMANDS[] = {
    {"decode", cmd_decode, "batched decode measured against the roofline"},
    {"machine", cmd_machine, "measure this machine's bandwidth and FLOP/s ceilings"},
    {"prefill", cmd_prefill, "prompt processing (prefill) measured against the compute roof"},
    {"kernels", cmd_kernels, "packed decode GEMM against OpenBLAS at the model's decode shapes"},
    {"calibrate", cmd_calibrate, "time each operator alone at the model's shapes: the calibrated model's tables"},
    {"predict", cmd_predict, "the roofline prediction (and --calibrated forecast), for any B and S"},
    {"calc", cmd_calc, "sizing sheet: parameters, memory, KV cache, FLOPs, token rates, devices, cost"},
    {"report", cmd_report, "summary, CSV and plot data of a sweep folder (scripts/sweep.sh)"},
    {"info", cmd_info, "a model's shape, parameters and weight bytes"},
    {"logits", cmd_logits, "logits of every position, to a .npy file"},
    {"generate", cmd_generate, "greedy continuation of a prompt"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *out) {
    fputs("usage: gpt2-bench COMMAND [options]   (COMMAND --help for its options)\n", out);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-10s %s\n", COMMANDS[i].name, COMMANDS[i].what);
}

int bench_main(int argc, char **argv, FILE *out, status_t *st) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(out);
        return argc < 2 ? status_fail(st, ST_BAD_INPUT, "no command given: see gpt2-bench --help") : ST_OK;
    }
    const char *kernel_env = gemm_path_env_problem();
    if (kernel_env) return status_fail(st, ST_BAD_INPUT, "%s", kernel_env);
    int best = 0, bd = 1 << 20;
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1, out, st);
        int d = cli_edit_distance(argv[1], COMMANDS[i].name);
        if (d < bd) { bd = d; best = i; }
    }
    if (bd <= 3)
        return status_fail(st, ST_BAD_INPUT, "unknown command '%s': did you mean '%s'? (gpt2-bench --help lists them)",
                           argv[1], COMMANDS[best].name);
    return status_fail(st, ST_BAD_INPUT, "unknown command '%s': gpt2-bench --help lists the commands", argv[1]);
}
