/* gpt2-bench logits: float32 logits (B, T, V) of every position, by batched
 * decode through the KV cache or by one prefill pass. */
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../model/forward.h"
#include "cli.h"
#include "commands.h"
#include "model_source.h"
#include "npy.h"
#include "outfile.h"

static const char *USAGE =
    "usage: gpt2-bench logits --weights PATH | --model NAME --tokens \"1,2,3;4,5,6\"\n"
    "                         [--mode decode|prefill] [--threads T] --out FILE.npy\n"
    "                         [--dtype f32|bf16|f16|int8] [--kv-dtype f32|f16|bf16]\n"
    "  writes float32 logits of shape (B, T, V): B sequences (';'), T ids each (',')\n"
    "  decode (default): one position at a time through the KV cache, all B batched\n"
    "  prefill: every position in one pass\n";

/* logits: (B, T, V). Decode mode feeds column t of tokens as one step. */
int logits_run(const gpt2_model *m, const int *tokens, int B, int T, int prefill, float *logits, wdtype kv_dt,
               status_t *st) {
    const int V = m->cfg.vocab;
    gpt2_state s;
    int rc = gpt2_state_init_kv(&s, &m->cfg, B, prefill ? T : 1, T, kv_dt, st);
    if (rc) return rc;
    if (prefill) {
        rc = gpt2_forward(m, &s, tokens, T, logits, LOGITS_ALL, st);
    } else {
        int *col = malloc((size_t)B * sizeof *col);
        float *step = malloc((size_t)B * V * sizeof *step); /* (B, V) */
        if (!col || !step) rc = status_fail(st, ST_RUNTIME, "out of memory");
        for (int t = 0; t < T && !rc; t++) {
            for (int b = 0; b < B; b++) col[b] = tokens[(size_t)b * T + t];
            rc = gpt2_forward(m, &s, col, 1, step, LOGITS_LAST, st);
            for (int b = 0; b < B && !rc; b++)
                memcpy(logits + ((size_t)b * T + t) * V, step + (size_t)b * V, (size_t)V * sizeof(float));
        }
        free(col);
        free(step);
    }
    gpt2_state_free(&s);
    return rc;
}

int cmd_logits(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0},   {"--weights", 1, 0}, {"--tokens", 1, 0}, {"--mode", 1, 0},
                     {"--out", 1, 0},     {"--threads", 1, 0}, {"--help", 0, 0},   {"--dtype", 1, 0},
                     {"--kv-dtype", 1, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "logits", st);
    if (rc) return rc;
    if (cli_get(fl, nf, "--help")) { fputs(USAGE, out); return ST_OK; }
    const char *mode = cli_get(fl, nf, "--mode"), *path = cli_get(fl, nf, "--out");
    if (mode && strcmp(mode, "decode") != 0 && strcmp(mode, "prefill") != 0)
        return status_fail(st, ST_BAD_INPUT, "logits: --mode '%s': use decode or prefill", mode);
    if (!path) return status_fail(st, ST_BAD_INPUT, "logits: --out FILE.npy is required");
    if ((rc = outfile_check(path, "logits: --out", st))) return rc;
    long threads = 0;
    if (cli_get(fl, nf, "--threads") && (rc = cli_int(cli_get(fl, nf, "--threads"), "--threads", 1, 1024, &threads, st)))
        return rc;
    threads_init((int)threads);
    wdtype early;
    if (cli_get(fl, nf, "--dtype") && wdtype_parse(cli_get(fl, nf, "--dtype"), &early) != 0)
        return status_fail(st, ST_BAD_INPUT, "--dtype %s: use f32, bf16, f16 or int8", cli_get(fl, nf, "--dtype"));
    if ((rc = kv_dtype_parse(cli_get(fl, nf, "--kv-dtype"), &early, st))) return rc;
    int *tokens, B, T;
    if ((rc = cli_tokens(cli_get(fl, nf, "--tokens"), &tokens, &B, &T, st))) return rc;
    gpt2_model m;
    if ((rc = model_open(&m, cli_get(fl, nf, "--model"), cli_get(fl, nf, "--weights"), 1, st))) {
        free(tokens);
        return rc;
    }
    wdtype wdt, kvdt = WDT_F32;
    if ((rc = kv_dtype_parse(cli_get(fl, nf, "--kv-dtype"), &kvdt, st)) ||
        (rc = model_pack(&m, cli_get(fl, nf, "--dtype"), 0, &wdt, st))) {
        /* refused below, after freeing */
    } else if ((rc = cli_tokens_in_vocab(tokens, (long)B * T, m.cfg.vocab, "logits", m.cfg.name, st))) {
        /* refused */
    } else if (T > m.cfg.n_ctx) {
        rc = status_fail(st, ST_BAD_INPUT, "logits: %d tokens per sequence exceed the model's n_ctx %d: use at most %d",
                         T, m.cfg.n_ctx, m.cfg.n_ctx);
    } else {
        uint64_t bytes = (uint64_t)B * T * m.cfg.vocab * sizeof(float);
        rc = mem_check(st, "the logits", bytes);
        float *logits = rc ? NULL : malloc(bytes);
        if (!rc && !logits) rc = status_fail(st, ST_RUNTIME, "out of memory for the logits");
        if (!rc) rc = logits_run(&m, tokens, B, T, mode && strcmp(mode, "prefill") == 0, logits, kvdt, st);
        if (!rc) {
            int64_t shape[3] = {B, T, m.cfg.vocab};
            rc = npy_write_f32(path, logits, 3, shape, st);
        }
        free(logits);
    }
    gpt2_free(&m);
    free(tokens);
    return rc;
}
