/* gpt2-bench generate: greedy continuation of one or more prompts. */
#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../model/forward.h"
#include "cli.h"
#include "commands.h"
#include "model_source.h"

static const char *USAGE =
    "usage: gpt2-bench generate --weights PATH | --model NAME --tokens \"1,2,3\" --steps N [--threads T]\n"
    "                           [--dtype f32|bf16|f16|int8] [--kv-dtype f32|f16|bf16]\n"
    "  prints the N greedy token ids that follow each prompt, one line per prompt\n";

/* out_ids: (B, steps). Prefills the prompts, then decodes greedily. */
int generate_run(const gpt2_model *m, const int *prompt, int B, int P, int steps, int *out_ids, wdtype kv_dt,
                 status_t *st) {
    const int V = m->cfg.vocab;
    gpt2_state s;
    int cap = P + steps - 1;
    int rc = gpt2_state_init_kv(&s, &m->cfg, B, P, cap > P ? cap : P, kv_dt, st);
    if (rc) return rc;
    float *logits = malloc((size_t)B * V * sizeof *logits); /* (B, V) */
    int *next = malloc((size_t)B * sizeof *next);
    if (!logits || !next) rc = status_fail(st, ST_RUNTIME, "out of memory");
    if (!rc) rc = gpt2_forward(m, &s, prompt, P, logits, LOGITS_LAST, st);
    for (int i = 0; i < steps && !rc; i++) {
        argmax_rows_f32(next, logits, B, V); /* logits: (B, V) */
        for (int b = 0; b < B; b++) out_ids[(size_t)b * steps + i] = next[b];
        if (i + 1 < steps) rc = gpt2_forward(m, &s, next, 1, logits, LOGITS_LAST, st);
    }
    free(logits);
    free(next);
    gpt2_state_free(&s);
    return rc;
}

int cmd_generate(int argc, char **argv, FILE *out, status_t *st) {
    cli_flag fl[] = {{"--model", 1, 0}, {"--weights", 1, 0}, {"--tokens", 1, 0}, {"--steps", 1, 0},
                     {"--threads", 1, 0}, {"--help", 0, 0}, {"--dtype", 1, 0}, {"--kv-dtype", 1, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    int rc = cli_parse(argc, argv, 1, fl, nf, "generate", st);
    if (rc) return rc;
    if (cli_get(fl, nf, "--help")) { fputs(USAGE, out); return ST_OK; }
    long steps = 0, threads = 0;
    if ((rc = cli_int(cli_get(fl, nf, "--steps"), "--steps", 1, 1 << 20, &steps, st))) return rc;
    if (cli_get(fl, nf, "--threads") && (rc = cli_int(cli_get(fl, nf, "--threads"), "--threads", 1, 1024, &threads, st)))
        return rc;
    threads_init((int)threads);
    wdtype early;
    if (cli_get(fl, nf, "--dtype") && wdtype_parse(cli_get(fl, nf, "--dtype"), &early) != 0)
        return status_fail(st, ST_BAD_INPUT, "--dtype %s: use f32, bf16, f16 or int8", cli_get(fl, nf, "--dtype"));
    if ((rc = kv_dtype_parse(cli_get(fl, nf, "--kv-dtype"), &early, st))) return rc;
    int *prompt, B, P;
    if ((rc = cli_tokens(cli_get(fl, nf, "--tokens"), &prompt, &B, &P, st))) return rc;
    gpt2_model m;
    if ((rc = model_open(&m, cli_get(fl, nf, "--model"), cli_get(fl, nf, "--weights"), 1, st))) {
        free(prompt);
        return rc;
    }
    wdtype wdt, kvdt = WDT_F32;
    if ((rc = kv_dtype_parse(cli_get(fl, nf, "--kv-dtype"), &kvdt, st)) ||
        (rc = model_pack(&m, cli_get(fl, nf, "--dtype"), 0, &wdt, st))) {
        /* refused: freed below */
    } else if ((rc = cli_tokens_in_vocab(prompt, (long)B * P, m.cfg.vocab, "generate", m.cfg.name, st))) {
        /* refused */
    } else if (P + steps - 1 > m.cfg.n_ctx) {
        rc = status_fail(st, ST_BAD_INPUT,
                         "generate: a %d-token prompt plus %ld steps needs %ld positions but n_ctx is %d: "
                         "use at most %ld steps",
                         P, steps, P + steps - 1, m.cfg.n_ctx, (long)m.cfg.n_ctx - P + 1);
    } else {
        int *ids = malloc((size_t)B * steps * sizeof *ids);
        rc = ids ? generate_run(&m, prompt, B, P, (int)steps, ids, kvdt, st) : status_fail(st, ST_RUNTIME, "out of memory");
        for (int b = 0; b < B && !rc; b++) {
            for (long i = 0; i < steps; i++) fprintf(out, "%s%d", i ? " " : "", ids[(size_t)b * steps + i]);
            fputc('\n', out);
        }
        free(ids);
    }
    gpt2_free(&m);
    free(prompt);
    return rc;
}
