/* cpustat: parsing /proc/stat's "cpu" line and the stolen share between two
 * readings, on hand-made lines (hand-computed figures), and one real read. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "../bench/cpustat.h"

static void test_parse(void **state) {
    (void)state;
    cpustat_ticks t;
    /* user nice system idle iowait irq softirq steal guest guest_nice */
    assert_int_equal(cpustat_parse("cpu  100 5 20 800 10 1 4 60 0 0\n", &t), 0);
    assert_true(t.total == 1000 && t.busy == 190 && t.steal == 60);
    /* an old kernel without the steal column */
    assert_int_equal(cpustat_parse("cpu 10 0 10 80", &t), 0);
    assert_true(t.total == 100 && t.busy == 20 && t.steal == 0);
    /* not the aggregate line, or too few numbers */
    assert_int_equal(cpustat_parse("cpu0 1 2 3 4 5 6 7 8", &t), -1);
    assert_int_equal(cpustat_parse("cpu 1 2 3", &t), -1);
    assert_int_equal(cpustat_parse("intr 5", &t), -1);
}

static void test_steal_fraction(void **state) {
    (void)state;
    cpustat_ticks a, b;
    assert_int_equal(cpustat_parse("cpu 100 0 20 800 10 0 0 70", &a), 0);
    assert_int_equal(cpustat_parse("cpu 250 0 30 820 10 0 0 90", &b), 0); /* 200 ticks, 20 stolen */
    assert_true(cpustat_steal_fraction(&a, &b) == 0.1);
    assert_true(cpustat_steal_fraction(&a, &a) == -1); /* no time passed: unknown */
    assert_true(cpustat_steal_fraction(&b, &a) == -1); /* backwards: unknown */
    cpustat_ticks r0, r1;
    if (cpustat_read(&r0) == 0) { /* Linux: a real reading is consistent */
        assert_true(r0.total >= r0.busy && r0.busy >= 0 && r0.steal >= 0 && r0.total > 0);
        assert_int_equal(cpustat_read(&r1), 0);
        assert_true(r1.total >= r0.total);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_steal_fraction),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
