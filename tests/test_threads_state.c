/* test_threads_state: a forward state made under one thread count, then used
 * after threads_init raised it. The state's attention scratch holds one row
 * per thread counted at gpt2_state_init (n_scratch); gpt2_forward must not
 * let more threads than that write into it.
 *
 * Its own program: when the scratch overflows, AddressSanitizer stops the
 * process (make check), which would hide the other tests of a shared program.
 * In a plain build the overflow corrupts the heap silently, so this test
 * mostly fails under the sanitizers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../kernels/kernels.h"
#include "../model/forward.h"
#include "../model/weights.h"
#include "test_support.h"

static void test_more_threads_after_state_init(void **state) {
    (void)state;
    gpt2_model m;
    ts_reference ref;
    status_t st = {0};
    assert_int_equal(ts_reference_load(&ref), 0);
    assert_int_equal(gpt2_load(&m, TS_FIXTURE_DIR, &st), ST_OK);
    float *want;
    int nd;
    int64_t sh[8];
    assert_int_equal(npy_read_f32(TS_FIXTURE_REF_LOGITS, &want, &nd, sh, &st), ST_OK);
    const int B = ref.B, T = ref.T, V = ref.vocab;

    threads_init(1);
    gpt2_state s;
    assert_int_equal(gpt2_state_init(&s, &m.cfg, B, 1, T, &st), ST_OK);
    threads_init(4); /* more threads than the state was sized for */
    float *l = malloc((size_t)B * V * sizeof *l);
    assert_non_null(l);
    double err = 0;
    for (int t = 0; t < T; t++) {
        int col[8];
        for (int b = 0; b < B; b++) col[b] = ref.tokens[b * T + t];
        assert_int_equal(gpt2_forward(&m, &s, col, 1, l, LOGITS_LAST, &st), ST_OK);
        for (int b = 0; b < B; b++) {
            double e = ts_max_abs_diff(l + (size_t)b * V, want + ((size_t)b * T + t) * V, V);
            if (e > err) err = e;
        }
    }
    print_message("  decode with 4 threads on a state made under 1: max abs error vs reference %.3g\n", err);
    assert_true(err <= 1e-4);
    free(l);
    gpt2_state_free(&s);
    free(want);
    gpt2_free(&m);
    ts_reference_free(&ref);
    threads_init(2);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_more_threads_after_state_init),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
