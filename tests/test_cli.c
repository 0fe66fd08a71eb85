/* test_cli: flag parsing, numbers, lists, token arguments, and .npy files. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench/cli.h"
#include "../bench/npy.h"
#include "test_support.h"

/* A temp dir per file test (none for the others: a test that a sanitizer
 * stops must not leave one behind). */
static char *g_dir;

static int dir_setup(void **state) {
    (void)state;
    g_dir = ts_mkdtemp();
    return g_dir ? 0 : -1;
}

static int dir_teardown(void **state) {
    (void)state;
    ts_rmtree(g_dir);
    free(g_dir);
    g_dir = NULL;
    return 0;
}

/* ---- cli_list --------------------------------------------------------------------- */

static void expect_list(const char *s, long lo, long hi, const long *want, int n_want) {
    long *vals = NULL;
    int n = -1;
    status_t st = {0};
    int rc = cli_list(s, "--batch", lo, hi, &vals, &n, &st);
    if (rc) fail_msg("cli_list(\"%s\") refused: %s", s, st.msg);
    if (n != n_want) fail_msg("cli_list(\"%s\"): %d values, expected %d", s, n, n_want);
    for (int i = 0; i < n; i++)
        if (vals[i] != want[i]) fail_msg("cli_list(\"%s\")[%d] = %ld, expected %ld", s, i, vals[i], want[i]);
    free(vals);
}

static void expect_list_refused(const char *s, long lo, long hi) {
    long *vals = (long *)(uintptr_t)1; /* must be reset */
    int n = -1;
    status_t st = {0};
    int rc = cli_list(s, "--batch", lo, hi, &vals, &n, &st);
    if (rc == ST_OK) {
        free(vals);
        fail_msg("cli_list(\"%s\", %ld..%ld) accepted (%d values)", s ? s : "(null)", lo, hi, n);
    }
    assert_int_equal(rc, ST_BAD_INPUT);
    assert_int_equal(st.code, ST_BAD_INPUT);
    assert_null(vals);
    assert_int_equal(n, 0);
    if (!strstr(st.msg, "--batch")) fail_msg("message \"%s\" does not name the flag", st.msg);
}

static void test_cli_list_accepts(void **state) {
    (void)state;
    expect_list("1,2,4", 1, 1024, (long[]){1, 2, 4}, 3);
    expect_list("1-64*2", 1, 1024, (long[]){1, 2, 4, 8, 16, 32, 64}, 7);
    expect_list("1-8+3", 1, 1024, (long[]){1, 4, 7}, 3);
    expect_list("1-3", 1, 1024, (long[]){1, 2, 3}, 3);
    expect_list("1,4-16*2", 1, 1024, (long[]){1, 4, 8, 16}, 4);
    expect_list("1-3,8,16-64*2", 1, 1024, (long[]){1, 2, 3, 8, 16, 32, 64}, 7);
    expect_list("5", 1, 1024, (long[]){5}, 1);
    expect_list("7-7", 1, 1024, (long[]){7}, 1);
    expect_list("3-20*3", 1, 1024, (long[]){3, 9}, 2);
    expect_list("2-9+4", 1, 1024, (long[]){2, 6}, 2);
    expect_list("1024", 1, 1024, (long[]){1024}, 1); /* the bounds are inclusive */
    expect_list("0,1", 0, 1, (long[]){0, 1}, 2);
    /* the cap: exactly 4096 values */
    long *vals = NULL;
    int n = 0;
    status_t st = {0};
    assert_int_equal(cli_list("1-4096", "--x", 1, 100000, &vals, &n, &st), ST_OK);
    assert_int_equal(n, 4096);
    assert_int_equal(vals[0], 1);
    assert_int_equal(vals[4095], 4096);
    free(vals);
}

static void test_cli_list_refuses(void **state) {
    (void)state;
    expect_list_refused("", 1, 1024);
    expect_list_refused(NULL, 1, 1024);
    expect_list_refused("0", 1, 1024);
    expect_list_refused("1025", 1, 1024);
    expect_list_refused("1-2048*2", 1, 1024);
    expect_list_refused("abc", 1, 1024);
    expect_list_refused("4-1", 1, 1024);
    expect_list_refused("1-8*1", 1, 1024);
    expect_list_refused("1-8*0", 1, 1024);
    expect_list_refused("1-8+0", 1, 1024);
    expect_list_refused("1,,2", 1, 1024);
    expect_list_refused("1,", 1, 1024);
    expect_list_refused(",1", 1, 1024);
    expect_list_refused("1-", 1, 1024);
    expect_list_refused("1-8*", 1, 1024);
    expect_list_refused("1-8/2", 1, 1024);
    expect_list_refused("-1", 1, 1024);
    expect_list_refused("1 2", 1, 1024);
    expect_list_refused("2x", 1, 1024);
    expect_list_refused("99999999999999999999", 1, 1024);
    expect_list_refused("1-99999999999999999999", 1, 1024);
    expect_list_refused("1-5000", 1, 100000); /* more than 4096 values */
}

/* A step so large that the next value overflows a long: the list is the
 * first value alone (or refused), never values outside lo..hi. */
static void test_cli_list_huge_step(void **state) {
    (void)state;
    const char *cases[] = {"2-8*9223372036854775807", "2-8+9223372036854775807", "3-8*6148914691236517206"};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        long *vals = NULL;
        int n = 0;
        status_t st = {0};
        int rc = cli_list(cases[i], "--batch", 1, 64, &vals, &n, &st);
        if (rc == ST_OK) {
            int ok = n == 1 && vals[0] == (i == 2 ? 3 : 2);
            for (int k = 0; k < n; k++) ok = ok && vals[k] >= 1 && vals[k] <= 64;
            if (!ok) {
                print_message("  cli_list(\"%s\", 1..64) returned %d values:", cases[i], n);
                for (int k = 0; k < n && k < 5; k++) print_message(" %ld", vals[k]);
                print_message(" (expected just the first, or a refusal)\n");
                bad++;
            }
            free(vals);
        } else {
            assert_int_equal(rc, ST_BAD_INPUT);
            assert_null(vals);
            /* a refusal must be about the step, not a list that overflowed and ran on */
            if (strstr(st.msg, "4096")) {
                print_message("  cli_list(\"%s\") ran past its range: %s\n", cases[i], st.msg);
                bad++;
            }
        }
    }
    if (bad) fail_msg("%d of 3 huge-step lists mishandled (the next value overflows a long)", bad);
}

/* ---- cli_int, cli_double ------------------------------------------------------------ */

static void expect_int(const char *s, long lo, long hi, long want) {
    long v = -999;
    status_t st = {0};
    int rc = cli_int(s, "--steps", lo, hi, &v, &st);
    if (rc) fail_msg("cli_int(\"%s\") refused: %s", s, st.msg);
    assert_int_equal(v, want);
}

static void expect_int_refused(const char *s, long lo, long hi) {
    long v = -999;
    status_t st = {0};
    int rc = cli_int(s, "--steps", lo, hi, &v, &st);
    if (rc == ST_OK) fail_msg("cli_int(\"%s\", %ld..%ld) accepted: %ld", s ? s : "(null)", lo, hi, v);
    assert_int_equal(rc, ST_BAD_INPUT);
    assert_int_equal(v, -999); /* untouched */
    assert_non_null(strstr(st.msg, "--steps"));
    if (s && strlen(s) < 100) assert_non_null(strstr(st.msg, s));
}

static void test_cli_int(void **state) {
    (void)state;
    expect_int("42", 1, 100, 42);
    expect_int("1", 1, 100, 1);
    expect_int("100", 1, 100, 100);
    expect_int("-5", -10, 10, -5);
    expect_int("0", 0, 0, 0);
    expect_int("9223372036854775807", 0, LONG_MAX, LONG_MAX);
    expect_int("-9223372036854775808", LONG_MIN, 0, LONG_MIN);
    expect_int_refused("0", 1, 100);
    expect_int_refused("101", 1, 100);
    expect_int_refused("-1", 1, 100);
    expect_int_refused("-5", 0, 10);
    expect_int_refused("9223372036854775808", 0, LONG_MAX);     /* overflow */
    expect_int_refused("99999999999999999999999", 1, 1 << 20);  /* overflow */
    expect_int_refused("-99999999999999999999999", LONG_MIN, 0); /* underflow */
    expect_int_refused("12abc", 1, 100);
    expect_int_refused("12 ", 1, 100);
    expect_int_refused("1.5", 1, 100);
    expect_int_refused("0x10", 0, 100);
    expect_int_refused("abc", 1, 100);
    expect_int_refused("", 1, 100);
    expect_int_refused("-", 1, 100);
    expect_int_refused(NULL, 1, 100);
}

static void test_cli_double(void **state) {
    (void)state;
    double v = -1;
    status_t st = {0};
    assert_int_equal(cli_double("0.5", "--secs", 10, &v, &st), ST_OK);
    assert_true(v == 0.5);
    assert_int_equal(cli_double("10", "--secs", 10, &v, &st), ST_OK);
    assert_true(v == 10);
    assert_int_equal(cli_double("2e-3", "--secs", 10, &v, &st), ST_OK);
    assert_true(v == 2e-3);
    const char *bad[] = {"0", "-1", "10.5", "1e400", "nan", "inf", "abc", "1.5s", "", NULL};
    for (int i = 0; i < 10; i++) {
        v = -1;
        int rc = cli_double(bad[i], "--secs", 10, &v, &st);
        if (rc != ST_BAD_INPUT) fail_msg("cli_double(\"%s\") accepted: %g", bad[i] ? bad[i] : "(null)", v);
        assert_non_null(strstr(st.msg, "--secs"));
    }
}

/* ---- cli_tokens ------------------------------------------------------------------------ */

static void expect_tokens(const char *s, int B, int T, const int *want) {
    int *tok = NULL, b = -1, t = -1;
    status_t st = {0};
    int rc = cli_tokens(s, &tok, &b, &t, &st);
    if (rc) fail_msg("cli_tokens(\"%s\") refused: %s", s, st.msg);
    assert_int_equal(b, B);
    assert_int_equal(t, T);
    assert_memory_equal(tok, want, (size_t)B * T * sizeof *tok);
    free(tok);
}

static void expect_tokens_refused(const char *s) {
    int *tok = (int *)(uintptr_t)1, b = -1, t = -1;
    status_t st = {0};
    int rc = cli_tokens(s, &tok, &b, &t, &st);
    if (rc == ST_OK) {
        free(tok);
        fail_msg("cli_tokens(\"%s\") accepted: B=%d T=%d", s ? s : "(null)", b, t);
    }
    assert_int_equal(rc, ST_BAD_INPUT);
    assert_null(tok);
    assert_non_null(strstr(st.msg, "--tokens"));
}

static void test_cli_tokens(void **state) {
    (void)state;
    expect_tokens("1,2,3;4,5,6", 2, 3, (int[]){1, 2, 3, 4, 5, 6});
    expect_tokens("7", 1, 1, (int[]){7});
    expect_tokens("0;0;0", 3, 1, (int[]){0, 0, 0});
    expect_tokens(" 1, 2 ; 3 ,4", 2, 2, (int[]){1, 2, 3, 4});
    expect_tokens("2147483647", 1, 1, (int[]){INT_MAX});
    /* many: growth of the buffer */
    char big[8192] = "";
    int want[1000];
    for (int i = 0; i < 1000; i++) {
        want[i] = i * 7 % 50257;
        snprintf(big + strlen(big), sizeof big - strlen(big), "%s%d", i == 0 ? "" : (i % 100 == 0 ? ";" : ","),
                 want[i]);
    }
    expect_tokens(big, 10, 100, want);
}

static void test_cli_tokens_refuses(void **state) {
    (void)state;
    expect_tokens_refused("1,2,3;4,5");  /* unequal lengths */
    expect_tokens_refused("1;2,3");
    expect_tokens_refused("1,2;3,4;5");
    expect_tokens_refused("");
    expect_tokens_refused(NULL);
    expect_tokens_refused("a");
    expect_tokens_refused("1,a");
    expect_tokens_refused("1,,2");
    expect_tokens_refused("1,2,");
    expect_tokens_refused("1;");
    expect_tokens_refused(";1");
    expect_tokens_refused("1;;2");
    expect_tokens_refused("-1");
    expect_tokens_refused("1,-2");
    expect_tokens_refused("1.5");
    expect_tokens_refused("1 2");
    expect_tokens_refused("2147483648");
    expect_tokens_refused("99999999999999999999999");
    expect_tokens_refused("1:2");
}

/* ---- cli_parse, cli_edit_distance ---------------------------------------------------------- */

static void test_cli_parse(void **state) {
    (void)state;
    cli_flag fl[] = {{"--batch", 1, 0}, {"--weights", 1, 0}, {"--json", 1, 0}, {"--help", 0, 0}};
    const int nf = 4;
    status_t st = {0};
    char *a1[] = {"cmd", "--batch", "1-8", "--json=-", "--help"};
    assert_int_equal(cli_parse(5, a1, 1, fl, nf, "cmd", &st), ST_OK);
    assert_string_equal(cli_get(fl, nf, "--batch"), "1-8");
    assert_string_equal(cli_get(fl, nf, "--json"), "-");
    assert_string_equal(cli_get(fl, nf, "--help"), "");
    assert_null(cli_get(fl, nf, "--weights"));
    assert_null(cli_get(fl, nf, "--nope"));
    /* values are reset by each parse; the last of a repeated flag wins */
    char *a2[] = {"cmd", "--weights", "a", "--weights=b"};
    assert_int_equal(cli_parse(4, a2, 1, fl, nf, "cmd", &st), ST_OK);
    assert_string_equal(cli_get(fl, nf, "--weights"), "b");
    assert_null(cli_get(fl, nf, "--batch"));
    /* a value that looks like a flag is still the value */
    char *a3[] = {"cmd", "--json", "-"};
    assert_int_equal(cli_parse(3, a3, 1, fl, nf, "cmd", &st), ST_OK);
    assert_string_equal(cli_get(fl, nf, "--json"), "-");
    /* unknown: the nearest suggested */
    char *a4[] = {"cmd", "--weigths", "x"};
    assert_int_equal(cli_parse(3, a4, 1, fl, nf, "cmd", &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "'--weigths'"));
    assert_non_null(strstr(st.msg, "--weights"));
    char *a5[] = {"cmd", "--batch=4", "--bacth=2"};
    assert_int_equal(cli_parse(3, a5, 1, fl, nf, "cmd", &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "--batch"));
    /* unknown and far from everything: no suggestion */
    char *a6[] = {"cmd", "--completely-different"};
    assert_int_equal(cli_parse(2, a6, 1, fl, nf, "cmd", &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "--completely-different"));
    assert_null(strstr(st.msg, "did you mean"));
    /* missing value */
    char *a7[] = {"cmd", "--batch"};
    assert_int_equal(cli_parse(2, a7, 1, fl, nf, "cmd", &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "--batch"));
    /* a positional argument */
    char *a8[] = {"cmd", "stray"};
    assert_int_equal(cli_parse(2, a8, 1, fl, nf, "cmd", &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "stray"));
    /* a very long unknown flag does not overflow anything */
    char longflag[300];
    memset(longflag, 'x', sizeof longflag - 1);
    longflag[0] = longflag[1] = '-';
    longflag[sizeof longflag - 1] = 0;
    char *a9[] = {"cmd", longflag};
    assert_int_equal(cli_parse(2, a9, 1, fl, nf, "cmd", &st), ST_BAD_INPUT);
}

static void test_cli_edit_distance(void **state) {
    (void)state;
    assert_int_equal(cli_edit_distance("kitten", "sitting"), 3);
    assert_int_equal(cli_edit_distance("", "abc"), 3);
    assert_int_equal(cli_edit_distance("abc", ""), 3);
    assert_int_equal(cli_edit_distance("info", "info"), 0);
    assert_int_equal(cli_edit_distance("infp", "info"), 1);
    assert_int_equal(cli_edit_distance("--weigths", "--weights"), 2);
    assert_int_equal(cli_edit_distance("flaw", "lawn"), 2);
    char l[100];
    memset(l, 'a', 99);
    l[99] = 0;
    assert_true(cli_edit_distance(l, "a") > 3); /* long strings: never a suggestion */
}

/* ---- npy ------------------------------------------------------------------------------------ */

static void test_npy_round_trip(void **state) {
    (void)state;
    char *path = ts_path(g_dir, "a.npy");
    float data[2 * 3 * 4];
    ts_fill(data, 24, 5, -100, 100);
    data[0] = -0.0f;
    data[1] = INFINITY;
    data[2] = 1e-40f; /* subnormal */
    int64_t shape[3] = {2, 3, 4};
    status_t st = {0};
    assert_int_equal(npy_write_f32(path, data, 3, shape, &st), ST_OK);
    float *back;
    int nd = -1;
    int64_t sh[8];
    assert_int_equal(npy_read_f32(path, &back, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 3);
    assert_int_equal(sh[0], 2);
    assert_int_equal(sh[1], 3);
    assert_int_equal(sh[2], 4);
    assert_memory_equal(back, data, sizeof data);
    free(back);
    /* the file itself: magic, version 1.0, a header padded to 64 bytes, C order <f4 */
    size_t n;
    char *raw = ts_read_file(path, &n);
    assert_non_null(raw);
    assert_memory_equal(raw, "\x93NUMPY\x01\x00", 8);
    size_t hlen = (unsigned char)raw[8] | (size_t)(unsigned char)raw[9] << 8;
    assert_int_equal((10 + hlen) % 64, 0);
    assert_int_equal(n, 10 + hlen + sizeof data);
    assert_int_equal(raw[10 + hlen - 1], '\n');
    assert_non_null(strstr(raw + 10, "'descr': '<f4'"));
    assert_non_null(strstr(raw + 10, "'fortran_order': False"));
    assert_non_null(strstr(raw + 10, "'shape': (2, 3, 4)"));
    free(raw);
    /* no temporary left */
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_false(ts_file_exists(tmp));
    free(path);
}

static void test_npy_shapes(void **state) {
    (void)state;
    char *path = ts_path(g_dir, "b.npy");
    float data[7] = {1, 2, 3, 4, 5, 6, 7}, *back;
    int nd;
    int64_t sh[8];
    status_t st = {0};
    /* 1-D: written as (7,) */
    int64_t s1[1] = {7};
    assert_int_equal(npy_write_f32(path, data, 1, s1, &st), ST_OK);
    char *raw = ts_read_file(path, NULL);
    assert_non_null(strstr(raw + 10, "'shape': (7,)"));
    free(raw);
    assert_int_equal(npy_read_f32(path, &back, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 1);
    assert_int_equal(sh[0], 7);
    assert_memory_equal(back, data, sizeof data);
    free(back);
    /* an empty array */
    int64_t s0[2] = {0, 3};
    assert_int_equal(npy_write_f32(path, data, 2, s0, &st), ST_OK);
    assert_int_equal(npy_read_f32(path, &back, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 2);
    assert_int_equal(sh[0], 0);
    assert_int_equal(sh[1], 3);
    free(back);
    /* overwriting an existing file */
    int64_t s2[2] = {1, 7};
    assert_int_equal(npy_write_f32(path, data, 2, s2, &st), ST_OK);
    assert_int_equal(npy_read_f32(path, &back, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 2);
    assert_memory_equal(back, data, sizeof data);
    free(back);
    free(path);
}

/* The reference files written by NumPy read back. */
static void test_npy_reads_numpy_files(void **state) {
    (void)state;
    float *l;
    int nd;
    int64_t sh[8];
    status_t st = {0};
    assert_int_equal(npy_read_f32(TS_FIXTURE_REF_LOGITS, &l, &nd, sh, &st), ST_OK);
    assert_int_equal(nd, 3);
    assert_int_equal(sh[0], 3);
    assert_int_equal(sh[1], 12);
    assert_int_equal(sh[2], 101);
    assert_true(ts_all_finite(l, 3 * 12 * 101));
    assert_true(ts_max_abs(l, 3 * 12 * 101) > 0);
    free(l);
}

static void write_npy_raw(const char *path, const char *header, const void *data, size_t n) {
    size_t hl = strlen(header);
    unsigned char *buf = malloc(10 + hl + n);
    assert_non_null(buf);
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hl & 0xff);
    buf[9] = (unsigned char)(hl >> 8);
    memcpy(buf + 10, header, hl);
    if (n) memcpy(buf + 10 + hl, data, n);
    assert_int_equal(ts_write_file(path, buf, 10 + hl + n), 0);
    free(buf);
}

static void expect_npy_refused(const char *path) {
    float *d = (float *)(uintptr_t)1;
    int nd;
    int64_t sh[8];
    status_t st = {0};
    int rc = npy_read_f32(path, &d, &nd, sh, &st);
    if (rc == ST_OK) {
        free(d);
        fail_msg("%s: read, but should have been refused", path);
    }
    assert_int_equal(rc, ST_BAD_INPUT);
    assert_null(d);
    assert_non_null(strstr(st.msg, path));
}

static void test_npy_refuses(void **state) {
    (void)state;
    char *path = ts_path(g_dir, "bad.npy");
    float data[4] = {1, 2, 3, 4};
    expect_npy_refused("tests/fixtures/none.npy");
    assert_int_equal(ts_write_file(path, "hello world, not numpy", 22), 0);
    expect_npy_refused(path);
    write_npy_raw(path, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }\n", data, 16);
    expect_npy_refused(path);
    write_npy_raw(path, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", data, 16);
    expect_npy_refused(path);
    write_npy_raw(path, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }\n", data, 16);
    expect_npy_refused(path);
    write_npy_raw(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }\n", data, 16); /* short */
    expect_npy_refused(path);
    write_npy_raw(path, "{'descr': '<f4', 'fortran_order': False, }\n", data, 16); /* no shape */
    expect_npy_refused(path);
    /* header length past the end */
    unsigned char trunc[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0x00, '{', '}'};
    assert_int_equal(ts_write_file(path, trunc, sizeof trunc), 0);
    expect_npy_refused(path);
    /* writing where nothing can be written: refused, nothing left behind */
    char *bad = ts_path(g_dir, "missing-dir/x.npy");
    int64_t s[1] = {4};
    status_t st = {0};
    assert_int_not_equal(npy_write_f32(bad, data, 1, s, &st), ST_OK);
    assert_non_null(strstr(st.msg, bad));
    free(bad);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_list_accepts),
        cmocka_unit_test(test_cli_list_refuses),
        cmocka_unit_test(test_cli_int),
        cmocka_unit_test(test_cli_double),
        cmocka_unit_test(test_cli_tokens),
        cmocka_unit_test(test_cli_tokens_refuses),
        cmocka_unit_test(test_cli_parse),
        cmocka_unit_test(test_cli_edit_distance),
        cmocka_unit_test_setup_teardown(test_npy_round_trip, dir_setup, dir_teardown),
        cmocka_unit_test_setup_teardown(test_npy_shapes, dir_setup, dir_teardown),
        cmocka_unit_test(test_npy_reads_numpy_files),
        cmocka_unit_test_setup_teardown(test_npy_refuses, dir_setup, dir_teardown),
        /* last: under UBSan a signed overflow here aborts the program */
        cmocka_unit_test(test_cli_list_huge_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
