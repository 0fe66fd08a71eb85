#include "cli.h"

#include <ctype.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int cli_edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64) return 99;
    int prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++) prev[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, sizeof prev);
    }
    return prev[lb];
}

int cli_parse(int argc, char **argv, int first, cli_flag *flags, int n_flags, const char *cmd, status_t *st) {
    for (int i = 0; i < n_flags; i++) flags[i].value = NULL;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        const char *eq = strchr(a, '=');
        size_t name_len = eq && strncmp(a, "--", 2) == 0 ? (size_t)(eq - a) : strlen(a);
        int found = -1;
        for (int f = 0; f < n_flags; f++)
            if (strlen(flags[f].name) == name_len && strncmp(flags[f].name, a, name_len) == 0) found = f;
        if (found < 0) {
            int best = -1, bd = 1 << 20;
            for (int f = 0; f < n_flags; f++) {
                char tmp[80];
                snprintf(tmp, sizeof tmp, "%.*s", (int)(name_len < 79 ? name_len : 79), a);
                int dist = cli_edit_distance(tmp, flags[f].name);
                if (dist < bd) { bd = dist; best = f; }
            }
            if (best >= 0 && bd <= 3)
                return status_fail(st, ST_BAD_INPUT, "%s: unknown option '%s': did you mean %s? (see %s --help)",
                                   cmd, a, flags[best].name, cmd);
            return status_fail(st, ST_BAD_INPUT, "%s: unknown option '%s': see gpt2-bench %s --help", cmd, a, cmd);
        }
        if (flags[found].takes_value) {
            if (eq && name_len < strlen(a)) {
                flags[found].value = eq + 1;
            } else {
                if (i + 1 >= argc)
                    return status_fail(st, ST_BAD_INPUT, "%s: %s needs a value", cmd, flags[found].name);
                flags[found].value = argv[++i];
            }
        } else {
            flags[found].value = "";
        }
    }
    return ST_OK;
}

const char *cli_get(const cli_flag *flags, int n_flags, const char *name) {
    for (int i = 0; i < n_flags; i++)
        if (strcmp(flags[i].name, name) == 0) return flags[i].value;
    return NULL;
}

int cli_int(const char *s, const char *flag, long lo, long hi, long *out, status_t *st) {
    if (!s) return status_fail(st, ST_BAD_INPUT, "%s is required: give a whole number from %ld to %ld", flag, lo, hi);
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (!*s || end == s || *end || errno == ERANGE || v < lo || v > hi)
        return status_fail(st, ST_BAD_INPUT, "%s '%s': must be a whole number from %ld to %ld", flag, s, lo, hi);
    *out = v;
    return ST_OK;
}

int cli_double(const char *s, const char *flag, double hi, double *out, status_t *st) {
    char *end = NULL;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || end == s || *end || errno == ERANGE || !(v > 0) || v > hi)
        return status_fail(st, ST_BAD_INPUT, "%s '%s': must be a positive number up to %g", flag, s ? s : "", hi);
    *out = v;
    return ST_OK;
}

static int push(long **vals, int *n, int *cap, long v, const char *flag, status_t *st) {
    if (*n >= 4096) return status_fail(st, ST_BAD_INPUT, "%s: more than 4096 values in the list", flag);
    if (*n == *cap) {
        int c = *cap ? *cap * 2 : 16;
        long *p = realloc(*vals, (size_t)c * sizeof *p);
        if (!p) return status_fail(st, ST_RUNTIME, "out of memory");
        *vals = p;
        *cap = c;
    }
    (*vals)[(*n)++] = v;
    return ST_OK;
}

/* Reads a whole number at *p, advancing it. */
static int read_num(const char **p, long *v) {
    if (!isdigit((unsigned char)**p)) return 0;
    errno = 0;
    char *end;
    *v = strtol(*p, &end, 10);
    if (errno == ERANGE) return 0;
    *p = end;
    return 1;
}

int cli_list(const char *s, const char *flag, long lo, long hi, long **vals, int *n, status_t *st) {
    *vals = NULL;
    *n = 0;
    int cap = 0, rc = ST_OK;
    const char *p = s ? s : "";
    const char *usage = "a list like 1,2,4 or a range like 1-64*2";
    if (!*p) return status_fail(st, ST_BAD_INPUT, "%s: needs %s", flag, usage);
    while (*p && !rc) {
        long a, b, step = 1;
        char op = '+';
        if (!read_num(&p, &a)) { rc = ST_BAD_INPUT; break; }
        b = a;
        if (*p == '-') {
            p++;
            if (!read_num(&p, &b)) { rc = ST_BAD_INPUT; break; }
            if (*p == '*' || *p == '+') {
                op = *p++;
                if (!read_num(&p, &step)) { rc = ST_BAD_INPUT; break; }
            }
        }
        if (a < lo || b > hi || a > hi || b < lo || b < a) {
            rc = status_fail(st, ST_BAD_INPUT, "%s '%s': values must be from %ld to %ld, ranges low-high", flag, s,
                             lo, hi);
            goto out;
        }
        if ((op == '*' && step < 2) || (op == '+' && step < 1)) {
            rc = status_fail(st, ST_BAD_INPUT, "%s '%s': a range step must be +1 or more, or *2 or more", flag, s);
            goto out;
        }
        for (long v = a; !rc; v = op == '*' ? v * step : v + step) {
            rc = push(vals, n, &cap, v, flag, st);
            /* stop before the next value would pass b (or overflow) */
            if (op == '*' ? v > b / step : v > b - step) break;
        }
        if (rc) goto out;
        if (*p == ',') {
            p++;
            if (!*p) rc = ST_BAD_INPUT;
        } else if (*p) {
            rc = ST_BAD_INPUT;
        }
    }
    if (rc) rc = status_fail(st, ST_BAD_INPUT, "%s '%s': not %s", flag, s, usage);
out:
    if (rc) {
        free(*vals);
        *vals = NULL;
        *n = 0;
    }
    return rc;
}

int cli_tokens(const char *s, int **tokens, int *B, int *T, status_t *st) {
    *tokens = NULL;
    *B = *T = 0;
    if (!s || !*s) return status_fail(st, ST_BAD_INPUT, "--tokens: give ids like \"1,2,3\" or \"1,2;3,4\"");
    int cap = 0, n = 0, b = 0, t = 0, T0 = -1;
    const char *p = s;
    for (;;) {
        while (*p == ' ') p++;
        long v;
        if (!read_num(&p, &v) || v > 2147483647L) {
            free(*tokens);
            *tokens = NULL;
            return status_fail(st, ST_BAD_INPUT, "--tokens '%s': ids must be non-negative integers, ',' between "
                               "ids and ';' between sequences", s);
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            int *q = realloc(*tokens, (size_t)cap * sizeof *q);
            if (!q) { free(*tokens); *tokens = NULL; return status_fail(st, ST_RUNTIME, "out of memory"); }
            *tokens = q;
        }
        (*tokens)[n++] = (int)v;
        t++;
        while (*p == ' ') p++;
        if (*p == ',') { p++; continue; }
        if (*p == ';' || *p == 0) {
            if (T0 >= 0 && t != T0) {
                free(*tokens);
                *tokens = NULL;
                return status_fail(st, ST_BAD_INPUT, "--tokens: sequence %d has %d ids but sequence 0 has %d: "
                                   "all sequences must have the same length", b, t, T0);
            }
            T0 = t;
            t = 0;
            b++;
            if (*p == 0) break;
            p++;
            continue;
        }
        free(*tokens);
        *tokens = NULL;
        return status_fail(st, ST_BAD_INPUT, "--tokens '%s': unexpected '%c'", s, *p);
    }
    *B = b;
    *T = T0;
    return ST_OK;
}

int cli_tokens_in_vocab(const int *tokens, long n, int vocab, const char *cmd, const char *model, status_t *st) {
    for (long i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= vocab)
            return status_fail(st, ST_BAD_INPUT, "%s: --tokens: id %d is outside %s's vocabulary 0..%d: use ids below %d",
                               cmd, tokens[i], model, vocab - 1, vocab);
    return ST_OK;
}
