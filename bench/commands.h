/* commands: each gpt2-bench subcommand as a function, so tests can run it
 * in-process. argv[0] is the subcommand name; output goes to `out`; a
 * failure fills `st` and returns its exit code (2 bad input, 1 runtime). */
#ifndef GR_COMMANDS_H
#define GR_COMMANDS_H

#include <stdio.h>

#include "../model/status.h"

int cmd_info(int argc, char **argv, FILE *out, status_t *st);
int cmd_logits(int argc, char **argv, FILE *out, status_t *st);
int cmd_generate(int argc, char **argv, FILE *out, status_t *st);
int cmd_decode(int argc, char **argv, FILE *out, status_t *st);
int cmd_machine(int argc, char **argv, FILE *out, status_t *st);
int cmd_predict(int argc, char **argv, FILE *out, status_t *st);
int cmd_report(int argc, char **argv, FILE *out, status_t *st);
int cmd_prefill(int argc, char **argv, FILE *out, status_t *st);
int cmd_kernels(int argc, char **argv, FILE *out, status_t *st);
int cmd_calc(int argc, char **argv, FILE *out, status_t *st);
int cmd_calibrate(int argc, char **argv, FILE *out, status_t *st);

/* Dispatches argv[1] (the subcommand). */
int bench_main(int argc, char **argv, FILE *out, status_t *st);

#endif
