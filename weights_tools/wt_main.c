/* wt_main: gpt2-weights' subcommand table (weights_tool.h). */
#include <string.h>

#include "../bench/cli.h"
#include "weights_tool.h"

typedef struct {
    const char *name;
    int (*run)(int, char **, FILE *, status_t *);
    const char *what;
} wt_command;

static const wt_command COMMANDS[] = {
    {"init", wt_cmd_init, "write a Hugging Face GPT-2 folder with seeded synthetic weights"},
    {"inspect", wt_cmd_inspect, "tensors, parameters, checks, NaN/Inf and bytes per decode step"},
    {"convert", wt_cmd_convert, "a checkpoint's weight matrices to bf16, f16 or int8"},
    {"fetch", wt_cmd_fetch, "download a published GPT-2 checkpoint (or from GPT2_FETCH_URL)"},
};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof COMMANDS[0])

static void usage(FILE *out) {
    fputs("usage: gpt2-weights COMMAND [options]   (COMMAND --help for its options)\n", out);
    for (int i = 0; i < N_COMMANDS; i++) fprintf(out, "  %-8s %s\n", COMMANDS[i].name, COMMANDS[i].what);
}

int weights_main(int argc, char **argv, FILE *out, status_t *st) {
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(out);
        return argc < 2 ? status_fail(st, ST_BAD_INPUT, "no command given: see gpt2-weights --help") : ST_OK;
    }
    int best = 0, bd = 1 << 20;
    for (int i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], COMMANDS[i].name) == 0) return COMMANDS[i].run(argc - 1, argv + 1, out, st);
        int d = cli_edit_distance(argv[1], COMMANDS[i].name);
        if (d < bd) { bd = d; best = i; }
    }
    if (bd <= 3)
        return status_fail(st, ST_BAD_INPUT, "unknown command '%s': did you mean '%s'? (gpt2-weights --help lists them)",
                           argv[1], COMMANDS[best].name);
    return status_fail(st, ST_BAD_INPUT, "unknown command '%s': gpt2-weights --help lists the commands", argv[1]);
}
