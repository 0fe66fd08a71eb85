/* libFuzzer target: a .safetensors file beside a fixed tiny config.json,
 * through the whole loader (header, offsets, tensor binding, conversion).
 * Anything may be refused; nothing may crash, leak or hang. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../model/weights.h"

static char g_dir[64], g_st[96], g_cfg[96];

/* the folder goes when the fuzzer exits */
static void cleanup(void) {
    unlink(g_st);
    unlink(g_cfg);
    rmdir(g_dir);
}

static void write_all(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) abort();
    if (n && fwrite(data, 1, n, f) != n) abort();
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/fuzz-st-%d", (int)getpid());
        mkdir(g_dir, 0700);
        snprintf(g_cfg, sizeof g_cfg, "%s/config.json", g_dir);
        const char *c = "{\"n_layer\": 1, \"n_head\": 2, \"n_embd\": 4, \"n_positions\": 4, \"vocab_size\": 5}";
        write_all(g_cfg, c, strlen(c));
        snprintf(g_st, sizeof g_st, "%s/model.safetensors", g_dir);
        atexit(cleanup);
    }
    write_all(g_st, data, size);
    gpt2_model m;
    status_t st;
    if (gpt2_load(&m, g_dir, &st) == ST_OK) gpt2_free(&m);
    return 0;
}
