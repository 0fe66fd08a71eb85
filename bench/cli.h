/* cli: command-line flags, numbers, lists and token arguments, each refused
 * with one line naming the flag and what it takes. */
#ifndef GR_CLI_H
#define GR_CLI_H

#include "../model/status.h"

typedef struct {
    const char *name;   /* "--batch" */
    int takes_value;    /* 1: "--batch 4"; 0: a switch */
    const char *value;  /* filled by cli_parse ("" for a present switch) */
} cli_flag;

/* Parses argv[first..argc) against `flags`. Unknown flags are refused with
 * the nearest known one suggested. */
int cli_parse(int argc, char **argv, int first, cli_flag *flags, int n_flags, const char *cmd, status_t *st);

/* The flag's value, or NULL when not given. */
const char *cli_get(const cli_flag *flags, int n_flags, const char *name);

/* A whole decimal integer in [lo, hi]. */
int cli_int(const char *s, const char *flag, long lo, long hi, long *out, status_t *st);

/* A positive number (double) in (0, hi]. */
int cli_double(const char *s, const char *flag, double hi, double *out, status_t *st);

/* A list: "1,2,4", ranges "1-64*2" (multiply), "1-8+2" (add), "1-4"
 * (step 1), mixed with commas. Values in [lo, hi], at most 4096 of them.
 * *vals is malloc'd. */
int cli_list(const char *s, const char *flag, long lo, long hi, long **vals, int *n, status_t *st);

/* Token sequences "1,2,3;4,5,6": B sequences of T ids each (all the same
 * length). *tokens: (B, T), malloc'd. */
int cli_tokens(const char *s, int **tokens, int *B, int *T, status_t *st);

/* Refuses (ST_BAD_INPUT) the first of n token ids outside 0..vocab-1,
 * naming the command, the id and the model's vocabulary. */
int cli_tokens_in_vocab(const int *tokens, long n, int vocab, const char *cmd, const char *model, status_t *st);

/* Edit distance, ignoring case, for suggestions. */
int cli_edit_distance(const char *a, const char *b);

#endif
