/* libFuzzer target: the results reader (bench/results.c) that a sweep's
 * resume (report --points) and scripts/compare (report --compare) read a
 * sweep folder with. The input is split at its first two NUL bytes into
 * the folder's decode.jsonl, machine.json and skipped.tsv. Every line goes
 * through results_parse_point, the file through results_read_decode (torn,
 * interrupted and repeated records), the points through the figures the
 * report derives from one record, and the other two files through their
 * readers. Anything may be refused; nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../bench/results.h"

static char g_decode[96], g_machine[96], g_skipped[96];
static FILE *g_warn; /* the readers' warnings: formatted, then dropped */

static void write_all(const char *path, const uint8_t *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    if (fclose(f) != 0) abort();
}

static char g_dir[64];

static void cleanup(void) {
    unlink(g_decode);
    unlink(g_machine);
    unlink(g_skipped);
    rmdir(g_dir);
}

static void init(void) {
    char *dir = g_dir;
    /* tmpfs when there is one: three files are written per input */
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(dir, sizeof g_dir, "%s/fuzz-results-%d", base, (int)getpid());
    mkdir(dir, 0700);
    snprintf(g_decode, sizeof g_decode, "%s/decode.jsonl", dir);
    snprintf(g_machine, sizeof g_machine, "%s/machine.json", dir);
    snprintf(g_skipped, sizeof g_skipped, "%s/skipped.tsv", dir);
    g_warn = fopen("/dev/null", "w");
    if (!g_warn) abort();
    atexit(cleanup);
}

/* What the report computes from one record. */
static void derive(const result_point *p) {
    volatile double sink = results_predicted_tok_s(p, 1) + results_predicted_tok_s(p, 2.0 * p->batch) +
                           results_crossover_batch(p) + results_worst_operator(p);
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_warn) init();
    const uint8_t *part[3] = {data, data + size, data + size};
    size_t len[3] = {size, 0, 0};
    for (int k = 1; k < 3; k++) {
        const uint8_t *nul = memchr(part[k - 1], 0, len[k - 1]);
        if (!nul) break;
        part[k] = nul + 1;
        len[k] = (size_t)(part[k - 1] + len[k - 1] - part[k]);
        len[k - 1] = (size_t)(nul - part[k - 1]);
    }
    write_all(g_decode, part[0], len[0]);
    write_all(g_machine, part[1], len[1]);
    write_all(g_skipped, part[2], len[2]);

    /* each line alone */
    char *text = malloc(len[0] + 1);
    if (!text) return 0;
    memcpy(text, part[0], len[0]);
    text[len[0]] = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        result_point p;
        char why[200];
        if (results_parse_point(line, &p, why, sizeof why) == 0) derive(&p);
    }
    free(text);

    /* the whole file, as resume and compare read it */
    result_set rs;
    status_t st;
    if (results_read_decode(g_decode, 1, &rs, g_warn, &st) == ST_OK) {
        results_sort(&rs);
        const result_point **series = malloc((size_t)(rs.n ? rs.n : 1) * sizeof *series);
        if (series) {
            for (int i = 0; i < rs.n; i++) {
                derive(&rs.p[i]);
                series[i] = &rs.p[i];
            }
            double gain;
            (void)results_measured_knee(series, rs.n, &gain);
            free(series);
        }
        if (rs.n > 1) (void)results_same_point(&rs.p[0], &rs.p[rs.n - 1]);
        results_set_free(&rs);
    }
    result_machine m;
    (void)results_read_machine(g_machine, &m, &st);
    result_skip *sk = NULL;
    int nsk = 0;
    if (results_read_skipped(g_skipped, &sk, &nsk, g_warn, &st) == ST_OK) free(sk);
    return 0;
}
