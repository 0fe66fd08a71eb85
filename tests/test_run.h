/* test_run: gpt2-bench run in-process through bench_main, its output
 * captured with open_memstream. Include after cmocka.h. */
#ifndef GR_TEST_RUN_H
#define GR_TEST_RUN_H

#include <stdio.h>
#include <string.h>

#include "../bench/commands.h"

typedef struct {
    int rc;      /* the exit status the command would have */
    status_t st; /* its message when rc != 0 */
    char *out;   /* everything it printed (free it) */
} run_result;

/* bench_main over a NULL-terminated argument list (without argv[0]). */
static inline run_result run_argv(char **args) {
    char *argv[80];
    int argc = 0;
    argv[argc++] = "gpt2-bench";
    while (args[argc - 1] && argc < 79) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    run_result r;
    memset(&r, 0, sizeof r);
    size_t len = 0;
    FILE *f = open_memstream(&r.out, &len);
    assert_non_null(f);
    r.rc = bench_main(argc, argv, f, &r.st);
    assert_int_equal(fclose(f), 0);
    assert_non_null(r.out);
    return r;
}

#define RUN(...) run_argv((char *[]){__VA_ARGS__, NULL})

#endif
