/* libFuzzer target: the command-line parsers. The input is split at NUL
 * bytes into arguments; the first also goes through the list and token
 * parsers, and the whole vector through a subcommand's flag parser. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../bench/cli.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    char *argv[32];
    int argc = 0;
    for (size_t i = 0; i <= size && argc < 32;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    status_t st;
    long *vals = NULL;
    int n = 0;
    if (cli_list(argv[0], "--batch", 1, 1 << 16, &vals, &n, &st) == ST_OK) free(vals);
    int *tok = NULL, B = 0, T = 0;
    if (cli_tokens(argv[0], &tok, &B, &T, &st) == ST_OK) free(tok);
    long v;
    (void)cli_int(argv[0], "--steps", 1, 1 << 20, &v, &st);
    double dv;
    (void)cli_double(argv[0], "--bandwidth", 1e7, &dv, &st);
    cli_flag fl[] = {{"--model", 1, 0}, {"--batch", 1, 0}, {"--quiet", 0, 0}, {"--json", 1, 0}};
    (void)cli_parse(argc, argv, 0, fl, 4, "fuzz", &st);
    free(buf);
    return 0;
}
