/* test_robustness: the failure paths of gpt2-bench, in-process through
 * bench_main. Each case gives a command bad input or a hostile resource and
 * asserts the exit status (2 bad input, 1 a failure while running) and the
 * message: one line that names the input and says what to do. The cases
 * the older suites hold are not repeated here (test_safetensors: malformed
 * checkpoints; test_cli: the parsers; test_commands, test_decode: a few
 * refusals each); process-level cases (signals, exit statuses of the binary,
 * file-size limits, a file that shrinks while mapped) are in
 * tests/e2e_robustness.sh.
 *
 *   checkpoints  shape products past 64 bits, a header or tensor claiming
 *                gigabytes, NaN/Inf weights (a warning, not a refusal), a
 *                folder without config.json, config.json with wrong types
 *                and absurd values
 *   arguments    zero, negative, non-numeric, fractional, out-of-range and
 *                overflowing values of every numeric flag of decode,
 *                prefill, predict, generate, logits, machine and calc;
 *                context past n_ctx; tokens outside the vocabulary; unknown
 *                flags and commands, with the nearest one suggested
 *   resources    a batch whose KV cache exceeds the memory here, refused
 *                fast, before anything is made or measured; outputs that
 *                cannot be written (under a file, a folder as the file);
 *                a full disk (a link to /dev/full); nothing partial left
 *   readers      crafted .npy and results files that used to overflow
 *
 * At the end it prints how many inputs it tried. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../bench/commands.h"
#include "../bench/npy.h"
#include "../bench/results.h"
#include "../kernels/kernels.h"
#include "test_support.h"

static char *g_dir;      /* temp dir */
static char *g_machine;  /* a machine file with made-up ceilings */
static char *g_config;   /* fixture config.json text */
static ts_tset g_fix;    /* fixture tensors */
static int g_case;       /* unique folder names */
static int g_inputs;     /* inputs tried, over the whole program */

static int group_setup(void **state) {
    (void)state;
    threads_init(2);
    g_dir = ts_mkdtemp();
    if (!g_dir) return -1;
    g_machine = ts_path(g_dir, "machine.json");
    const char *m = "{\"read_gbs\": 20.0, \"copy_gbs\": 15.0, \"triad_gbs\": 16.0, \"peak_gflops\": 100.0,"
                    " \"sgemm_gflops\": 80.0, \"spec_gflops\": 120.0, \"llc_bytes_measured\": 1048576,"
                    " \"stream_array_bytes\": 1048576}";
    if (ts_write_file(g_machine, m, strlen(m))) return -1;
    g_config = ts_read_file(TS_FIXTURE_CONFIG, NULL);
    if (!g_config) return -1;
    return ts_tset_from_file(&g_fix, TS_FIXTURE_ST) ? -1 : 0;
}

static int group_teardown(void **state) {
    (void)state;
    print_message("robustness: %d inputs tried\n", g_inputs);
    ts_rmtree(g_dir);
    free(g_dir);
    free(g_machine);
    free(g_config);
    ts_tset_free(&g_fix);
    return 0;
}

/* ---- running a command ----------------------------------------------------------- */

typedef struct {
    int rc;
    status_t st;
    char *out;  /* what the command wrote to its output */
    char *err;  /* what it wrote to stderr (when captured) */
} run_result;

/* bench_main over a NULL-terminated list (without argv[0]); stderr is
 * captured into r.err when capture_err. */
static run_result run_list(char **args, int capture_err) {
    char *argv[96];
    int argc = 0;
    argv[argc++] = "gpt2-bench";
    while (args[argc - 1] && argc < 95) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;
    run_result r;
    memset(&r, 0, sizeof r);
    size_t len = 0;
    FILE *f = open_memstream(&r.out, &len);
    assert_non_null(f);
    int saved = -1;
    char *errpath = NULL;
    if (capture_err) {
        errpath = ts_path(g_dir, "stderr.txt");
        fflush(stderr);
        saved = dup(2);
        int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_true(saved >= 0 && fd >= 0);
        dup2(fd, 2);
        close(fd);
    }
    g_inputs++;
    r.rc = bench_main(argc, argv, f, &r.st);
    if (capture_err) {
        fflush(stderr);
        dup2(saved, 2);
        close(saved);
        r.err = ts_read_file(errpath, NULL);
        assert_non_null(r.err);
        unlink(errpath);
        free(errpath);
    }
    assert_int_equal(fclose(f), 0);
    assert_non_null(r.out);
    threads_init(2); /* a command may have set another thread count */
    return r;
}

#define RUN(...) run_list((char *[]){__VA_ARGS__, NULL}, 0)
#define RUN_ERR(...) run_list((char *[]){__VA_ARGS__, NULL}, 1)

static void run_free(run_result *r) {
    free(r->out);
    free(r->err);
}

/* Refused with `code` and one line holding both needles (NULL: none). */
static void expect_code(run_result r, int code, const char *n1, const char *n2) {
    if (r.rc != code) fail_msg("exit %d, expected %d (message: %s)", r.rc, code, r.st.msg);
    if (code == ST_OK) {
        run_free(&r);
        return;
    }
    assert_int_equal(r.st.code, code);
    if (!r.st.msg[0]) fail_msg("exit %d without a message", r.rc);
    if (strchr(r.st.msg, '\n')) fail_msg("message on more than one line: %s", r.st.msg);
    if (n1 && !strstr(r.st.msg, n1)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n1);
    if (n2 && !strstr(r.st.msg, n2)) fail_msg("message \"%s\" does not mention \"%s\"", r.st.msg, n2);
    run_free(&r);
}

#define REFUSED(n1, n2, ...) expect_code(RUN(__VA_ARGS__), ST_BAD_INPUT, n1, n2)

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- model folders ------------------------------------------------------------------ */

static char *folder_with(const char *what, const char *config_text, const ts_tset *s) {
    char name[96];
    snprintf(name, sizeof name, "%02d-%s", g_case++, what);
    char *folder = ts_make_model(g_dir, name, config_text, s, TS_ALIGN8);
    assert_non_null(folder);
    return folder;
}

/* A folder with the fixture config and a raw header + data. */
static char *folder_raw(const char *what, uint64_t hlen_field, const char *header, const void *data, size_t n) {
    char *folder = folder_with(what, g_config, NULL);
    char *stp = ts_path(folder, "model.safetensors");
    assert_int_equal(ts_write_st_raw_len(stp, hlen_field, header, strlen(header), data, n), 0);
    free(stp);
    return folder;
}

static void fixture_copy(ts_tset *s) {
    memset(s, 0, sizeof *s);
    for (int i = 0; i < g_fix.n; i++) {
        const ts_tensor *t = &g_fix.t[i];
        assert_int_equal(ts_tset_add(s, t->name, t->dtype, t->ndim, t->shape, t->data, t->nbytes), 0);
    }
}

/* The fixture config with `key` set to the raw JSON `value` (NULL: removed). */
static char *config_with(const char *key, const char *value) {
    cJSON *root = cJSON_Parse(g_config);
    assert_non_null(root);
    if (value) {
        cJSON *v = cJSON_CreateRaw(value);
        if (cJSON_HasObjectItem(root, key)) cJSON_ReplaceItemInObjectCaseSensitive(root, key, v);
        else cJSON_AddItemToObject(root, key, v);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(root, key);
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    assert_non_null(text);
    return text;
}

/* Every file in dir whose name holds `part`: none may be left behind. */
static int files_named(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

/* ---- checkpoints ------------------------------------------------------------------------ */

/* Shapes whose element or byte counts overflow 64 bits are refused, naming
 * the file and the tensor, never wrapped into a small size that "fits". */
static void test_checkpoint_shape_overflow(void **state) {
    (void)state;
    static const char *const shapes[] = {
        "[4294967296, 4294967296]",           /* 2^64 elements */
        "[65536, 65536, 65536, 65536]",       /* 2^64, in four steps */
        "[3037000500, 3037000500]",           /* just over 2^63 */
        "[9000000000000000, 9000000000000000]",
        "[4096, 4096, 4096, 4096, 4096, 4096]", /* 2^72, each entry small */
        "[2147483648, 2147483648]",           /* 2^62 elements: 2^64 bytes of F32 */
        "[4503599627370496, 1024]",           /* the same, one entry at 2^52 */
    };
    float data[4] = {0};
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":%s,\"data_offsets\":[0,16]}}", shapes[i]);
        char *folder = folder_raw("overflow", strlen(hdr), hdr, data, sizeof data);
        char *stp = ts_path(folder, "model.safetensors");
        run_result r = RUN("info", "--weights", folder);
        print_message("  shape %s: %s\n", shapes[i], r.st.msg);
        assert_non_null(strstr(r.st.msg, "64 bits"));
        expect_code(r, ST_BAD_INPUT, stp, "wte.weight");
        free(stp);
        free(folder);
    }
    /* offsets of 2^64 and beyond: not sizes */
    const char *offs[] = {"[0,18446744073709551616]", "[18446744073709551600,18446744073709551616]", "[0,1e300]"};
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        char hdr[256];
        snprintf(hdr, sizeof hdr, "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":%s}}", offs[i]);
        char *folder = folder_raw("offsets", strlen(hdr), hdr, data, sizeof data);
        REFUSED("wte.weight", "data_offsets", "info", "--weights", folder);
        free(folder);
    }
}

/* A header that claims gigabytes: its length field, a header that really is
 * that long (a sparse file), a tensor whose shape and offsets claim it.
 * Each is refused at once, without reading or allocating what it claims. */
static void test_checkpoint_claims_gigabytes(void **state) {
    (void)state;
    const char *hdr = "{\"ln_f.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}";
    float one = 1.0f;
    /* the length field says 3 GiB in a file of a hundred bytes */
    char *a = folder_raw("hlen3g", 3ull << 30, hdr, &one, 4);
    REFUSED("header length", "3221225472", "info", "--weights", a);
    /* a 2 GiB sparse file whose header length field says 1.5 GiB: inside the
     * file, but past the format's 100 MiB limit */
    char *b = folder_with("sparse", g_config, NULL);
    char *stp = ts_path(b, "model.safetensors");
    int fd = open(stp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    unsigned char le[8];
    uint64_t h = 3ull << 29;
    for (int i = 0; i < 8; i++) le[i] = (unsigned char)(h >> (8 * i));
    assert_int_equal(write(fd, le, 8), 8);
    assert_int_equal(ftruncate(fd, 2ll << 30), 0);
    close(fd);
    double t0 = now_s();
    REFUSED(stp, "100 MiB", "info", "--weights", b);
    double dt = now_s() - t0;
    print_message("  1.5 GiB header refused in %.3f s\n", dt);
    assert_true(dt < 10); /* nothing read or parsed */
    /* a tensor claiming 64 GiB of a small file */
    const char *big = "{\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[268435456,64],\"data_offsets\":[0,68719476736]}}";
    char *c = folder_raw("bigtensor", strlen(big), big, &one, 4);
    REFUSED("wte.weight", "past the end", "info", "--weights", c);
    /* ... and of a sparse file that really is that long, but whose config
     * says otherwise: refused on the shape, before a byte of it is read */
    free(stp);
    free(a);
    free(b);
    free(c);
}

/* NaN and Inf in the weights: loaded (timings still mean something) with a
 * warning on stderr that names the file, the count and the first tensor. */
static void test_checkpoint_nan_inf(void **state) {
    (void)state;
    ts_tset s;
    fixture_copy(&s);
    ts_tensor *t = ts_tset_find(&s, "h.1.mlp.c_fc.weight");
    assert_non_null(t);
    float nan = NAN, inf = -INFINITY;
    memcpy(t->data + 4 * 7, &nan, 4);
    memcpy(t->data + 4 * 9, &nan, 4);
    ts_tensor *u = ts_tset_find(&s, "ln_f.bias");
    assert_non_null(u);
    memcpy(u->data, &inf, 4);
    char *folder = folder_with("nan", g_config, &s);
    run_result r = RUN_ERR("info", "--weights", folder);
    if (r.rc) fail_msg("exit %d: %s", r.rc, r.st.msg);
    print_message("  stderr: %s", r.err);
    assert_non_null(strstr(r.err, "warning"));
    assert_non_null(strstr(r.err, "NaN/Inf"));
    assert_non_null(strstr(r.err, "3 NaN/Inf"));
    assert_non_null(strstr(r.err, "model.safetensors"));
    assert_non_null(strstr(r.err, "first in ln_f.bias")); /* the first one, in load order */
    assert_non_null(strchr(r.err, '\n'));
    assert_null(strchr(strchr(r.err, '\n') + 1, '\n')); /* one line */
    run_free(&r);
    /* the commands still run on it */
    r = RUN_ERR("generate", "--weights", folder, "--tokens", "1,2,3", "--steps", "3");
    if (r.rc) fail_msg("generate exit %d: %s", r.rc, r.st.msg);
    assert_non_null(strstr(r.err, "NaN/Inf"));
    run_free(&r);
    r = RUN_ERR("decode", "--weights", folder, "--batch", "2", "--context", "4", "--steps", "2", "--reps", "1",
                "--warmup", "0", "--machine", g_machine, "--quiet", "--json", "-");
    if (r.rc) fail_msg("decode exit %d: %s", r.rc, r.st.msg);
    assert_non_null(strstr(r.err, "NaN/Inf"));
    assert_non_null(strstr(r.out, "\"tok_s\""));
    run_free(&r);
    /* a clean checkpoint warns of nothing */
    r = RUN_ERR("info", "--weights", TS_FIXTURE_DIR);
    assert_int_equal(r.rc, 0);
    assert_null(strstr(r.err, "NaN"));
    run_free(&r);
    free(folder);
    ts_tset_free(&s);
}

/* A folder without config.json, through every command that takes weights. */
static void test_checkpoint_no_config(void **state) {
    (void)state;
    char *folder = folder_with("noconfig", NULL, &g_fix);
    char *cfg = ts_path(folder, "config.json");
    char *npy = ts_path(g_dir, "noconfig.npy");
    REFUSED(cfg, "config.json in the model folder", "info", "--weights", folder);
    REFUSED(cfg, NULL, "generate", "--weights", folder, "--tokens", "1", "--steps", "1");
    REFUSED(cfg, NULL, "logits", "--weights", folder, "--tokens", "1", "--out", npy);
    REFUSED(cfg, NULL, "decode", "--weights", folder, "--batch", "1", "--context", "1", "--machine", g_machine);
    REFUSED(cfg, NULL, "prefill", "--weights", folder, "--batch", "1", "--prompt", "1", "--machine", g_machine);
    char *stp = ts_path(folder, "model.safetensors");
    REFUSED(cfg, NULL, "info", "--weights", stp); /* the file inside the folder: the same */
    REFUSED("config.json", NULL, "predict", "--config", folder, "--batch", "1", "--context", "1", "--bandwidth",
            "10", "--flops", "10");
    REFUSED("config.json", NULL, "calc", "--config", folder);
    assert_false(ts_file_exists(npy));
    free(stp);
    free(npy);
    free(cfg);
    free(folder);
}

/* config.json with wrong types and absurd values: refused by every reader
 * (the checkpoint loader through info, predict --config, calc --config),
 * naming the file and the key. */
static void test_checkpoint_bad_config(void **state) {
    (void)state;
    static const struct {
        const char *key, *value, *needle;
    } cases[] = {
        {"n_layer", "\"2\"", "n_layer"},     {"n_layer", "null", "n_layer"},     {"n_layer", "[2]", "n_layer"},
        {"n_layer", "{\"n\": 2}", "n_layer"}, {"n_layer", "true", "n_layer"},    {"n_layer", "2.5", "n_layer"},
        {"n_layer", "0", "n_layer"},         {"n_layer", "-2", "n_layer"},       {"n_layer", "1e300", "n_layer"},
        {"n_layer", "5000", "n_layer"},      {"n_layer", "4294967298", "n_layer"},
        {"n_head", "0", "n_head"},           {"n_head", "-4", "n_head"},         {"n_head", "5", "n_head"},
        {"n_head", "128", "n_head"},         {"n_head", "\"4\"", "n_head"},
        {"n_embd", "-64", "n_embd"},         {"n_embd", "0", "n_embd"},          {"n_embd", "2097152", "n_embd"},
        {"n_embd", "1e10", "n_embd"},
        {"n_positions", "-1", "n_positions"}, {"n_positions", "0", "n_positions"},
        {"n_positions", "16777216", "n_positions"},
        {"vocab_size", "-5", "vocab_size"},  {"vocab_size", "0", "vocab_size"},  {"vocab_size", "1000000000", "vocab_size"},
        {"vocab_size", "\"101\"", "vocab_size"},
        {"layer_norm_epsilon", "0", "layer_norm_epsilon"}, {"layer_norm_epsilon", "\"x\"", "layer_norm_epsilon"},
        {"layer_norm_epsilon", "2", "layer_norm_epsilon"},
        {"n_layer", NULL, "n_layer"},        {"n_embd", NULL, "n_embd"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *text = config_with(cases[i].key, cases[i].value);
        char *folder = folder_with("badcfg", text, &g_fix);
        char *cp = ts_path(folder, "config.json");
        run_result r = RUN("info", "--weights", folder);
        print_message("  %s = %s: %s\n", cases[i].key, cases[i].value ? cases[i].value : "(absent)", r.st.msg);
        expect_code(r, ST_BAD_INPUT, cp, cases[i].needle);
        REFUSED(cp, cases[i].needle, "predict", "--config", cp, "--batch", "1", "--context", "1", "--bandwidth", "10",
                "--flops", "10");
        free(cp);
        free(folder);
        free(text);
    }
    /* the whole file wrong */
    const char *texts[] = {"", "{", "[]", "null", "\"gpt2\"", "{\"n_layer\": 2} trailing", "\xff\xfe{}"};
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        char *folder = folder_with("cfgtext", texts[i], &g_fix);
        char *cp = ts_path(folder, "config.json");
        REFUSED(cp, NULL, "info", "--weights", folder);
        free(cp);
        free(folder);
    }
    /* not a file: a folder, and more than the 1 MiB a config.json may take */
    char *big = ts_path(g_dir, "big-config.json");
    FILE *f = fopen(big, "w");
    assert_non_null(f);
    fputs("{\"pad\": \"", f);
    for (int i = 0; i < (1 << 20); i++) fputc('x', f);
    fputs("\"}", f);
    fclose(f);
    REFUSED(big, "1 MiB", "predict", "--config", big, "--batch", "1", "--context", "1", "--bandwidth", "1", "--flops",
            "1");
    REFUSED(g_dir, "folder", "predict", "--config", g_dir, "--batch", "1", "--context", "1", "--bandwidth", "1",
            "--flops", "1");
    free(big);
}

/* ---- arguments ------------------------------------------------------------------------- */

typedef struct {
    const char *cmd;
    const char *flag;
    int kind;             /* WHOLE: an integer; LIST: a list flag; REAL: a positive number */
    int zero_ok;          /* 0 is valid */
    const char *base[16]; /* the rest of a valid command line */
} numeric_flag;

enum { WHOLE, LIST, REAL };

#define FIX "--weights", TS_FIXTURE_DIR

static void check_numeric(const numeric_flag *f) {
    static const char *const whole_bad[] = {"-1", "abc", "", "1.5", "99999999999999999999", "1e3", "12abc",
                                            "-99999999999999999999"};
    static const char *const list_bad[] = {"-1", "abc", "", "1.5", "99999999999999999999", "1,,2", "2-1", "1-",
                                           "1-8*1", "1-8+0", ",1", "1,", "1;2"};
    static const char *const real_bad[] = {"-1", "abc", "", "nan", "inf", "-inf", "1e400", "1e30", "2x", "0x"};
    const char *const *bad = f->kind == WHOLE ? whole_bad : f->kind == LIST ? list_bad : real_bad;
    int n = f->kind == WHOLE ? (int)(sizeof whole_bad / sizeof *whole_bad)
          : f->kind == LIST  ? (int)(sizeof list_bad / sizeof *list_bad)
                             : (int)(sizeof real_bad / sizeof *real_bad);
    for (int i = -1; i < n; i++) {
        const char *v = i < 0 ? "0" : bad[i];
        if (i < 0 && f->zero_ok) continue;
        char *argv[24];
        int a = 0;
        argv[a++] = (char *)f->cmd;
        for (int k = 0; f->base[k]; k++) argv[a++] = (char *)f->base[k];
        argv[a++] = (char *)f->flag;
        argv[a++] = (char *)v;
        argv[a] = NULL;
        run_result r = run_list(argv, 0);
        if (r.rc != ST_BAD_INPUT)
            fail_msg("%s %s '%s': exit %d, expected 2 (%s)", f->cmd, f->flag, v, r.rc, r.st.msg);
        expect_code(r, ST_BAD_INPUT, f->flag, NULL);
    }
}

/* Zero, negative, non-numeric, fractional, out-of-range and overflowing
 * values of every numeric flag: exit 2 before anything runs, naming the
 * flag and the values it takes. */
static void test_args_numeric(void **state) {
    (void)state;
    char *npy = ts_path(g_dir, "never-written.npy");
    const numeric_flag flags[] = {
        {"decode", "--batch", LIST, 0, {FIX, "--context", "4", "--machine", g_machine, NULL}},
        {"decode", "--context", LIST, 1, {FIX, "--batch", "1", "--machine", g_machine, NULL}},
        {"decode", "--threads", LIST, 0, {FIX, "--batch", "1", "--context", "4", "--machine", g_machine, NULL}},
        {"decode", "--steps", WHOLE, 0, {FIX, "--batch", "1", "--context", "4", "--machine", g_machine, NULL}},
        {"decode", "--reps", WHOLE, 0, {FIX, "--batch", "1", "--context", "4", "--machine", g_machine, NULL}},
        {"decode", "--warmup", WHOLE, 1, {FIX, "--batch", "1", "--context", "4", "--machine", g_machine, NULL}},
        {"decode", "--seed", WHOLE, 1, {FIX, "--batch", "1", "--context", "4", "--machine", g_machine, NULL}},
        {"prefill", "--batch", WHOLE, 0, {FIX, "--prompt", "4", "--machine", g_machine, NULL}},
        {"prefill", "--prompt", WHOLE, 0, {FIX, "--batch", "1", "--machine", g_machine, NULL}},
        {"prefill", "--reps", WHOLE, 0, {FIX, "--batch", "1", "--prompt", "4", "--machine", g_machine, NULL}},
        {"prefill", "--threads", WHOLE, 0, {FIX, "--batch", "1", "--prompt", "4", "--machine", g_machine, NULL}},
        {"prefill", "--seed", WHOLE, 1, {FIX, "--batch", "1", "--prompt", "4", "--machine", g_machine, NULL}},
        {"predict", "--batch", LIST, 0, {"--model", "gpt2", "--context", "4", "--bandwidth", "10", "--flops", "100", NULL}},
        {"predict", "--context", LIST, 1, {"--model", "gpt2", "--batch", "1", "--bandwidth", "10", "--flops", "100", NULL}},
        {"predict", "--bandwidth", REAL, 0, {"--model", "gpt2", "--batch", "1", "--context", "4", "--flops", "100", NULL}},
        {"predict", "--flops", REAL, 0, {"--model", "gpt2", "--batch", "1", "--context", "4", "--bandwidth", "10", NULL}},
        {"generate", "--steps", WHOLE, 0, {FIX, "--tokens", "1,2", NULL}},
        {"generate", "--threads", WHOLE, 0, {FIX, "--tokens", "1,2", "--steps", "1", NULL}},
        {"logits", "--threads", WHOLE, 0, {FIX, "--tokens", "1,2", "--out", npy, NULL}},
        {"machine", "--threads", WHOLE, 0, {"--results", "/nonexistent/never-made", NULL}},
        {"calc", "--batch", WHOLE, 0, {"--model", "gpt2", NULL}},
        {"calc", "--context", WHOLE, 1, {"--model", "gpt2", NULL}},
        {"calc", "--prompt", WHOLE, 0, {"--model", "gpt2", NULL}},
        {"calc", "--lora-rank", WHOLE, 0, {"--model", "gpt2", NULL}},
        {"calc", "--devices", WHOLE, 0, {"--model", "gpt2", NULL}},
        {"calc", "--users", WHOLE, 0, {"--model", "gpt2", NULL}},
        {"calc", "--cpu-channels", WHOLE, 0, {"--model", "gpt2", "--cpu-mts", "4800", NULL}},
        {"calc", "--cpu-mts", REAL, 0, {"--model", "gpt2", "--cpu-channels", "2", NULL}},
        {"calc", "--bandwidth", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--flops", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--memory", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--bits", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--kv-bits", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--tokens", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--mfu", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--tok-s-per-user", REAL, 0, {"--model", "gpt2", NULL}},
        {"calc", "--price-per-hour", REAL, 0, {"--model", "gpt2", NULL}},
    };
    int before = g_inputs;
    for (size_t i = 0; i < sizeof flags / sizeof *flags; i++) check_numeric(&flags[i]);
    print_message("  %zu numeric flags, %d bad values refused\n", sizeof flags / sizeof *flags, g_inputs - before);
    /* out of range for the flag alone */
    REFUSED("--batch", "65536", "decode", FIX, "--batch", "65537", "--context", "4", "--machine", g_machine);
    REFUSED("--threads", "4096", "decode", FIX, "--batch", "1", "--context", "4", "--threads", "4097");
    REFUSED("--reps", "100000", "decode", FIX, "--batch", "1", "--context", "4", "--reps", "100001");
    REFUSED("--steps", NULL, "generate", FIX, "--tokens", "1", "--steps", "1048577");
    REFUSED("--threads", "1024", "logits", FIX, "--tokens", "1", "--out", npy, "--threads", "1025");
    REFUSED("--mfu", NULL, "calc", "--model", "gpt2", "--mfu", "1.01");
    REFUSED("--bits", NULL, "calc", "--model", "gpt2", "--bits", "65");
    REFUSED("--devices", NULL, "calc", "--model", "gpt2", "--devices", "16777217");
    /* a flag that needs a value, at the end */
    REFUSED("--batch", "value", "decode", FIX, "--context", "4", "--batch");
    REFUSED("--steps", "value", "generate", FIX, "--tokens", "1", "--steps");
    REFUSED("--threads", "value", "machine", "--threads");
    assert_false(ts_file_exists("/nonexistent"));
    assert_false(ts_file_exists(npy));
    free(npy);
}

/* Context past n_ctx, for every command that takes one. */
static void test_args_context_beyond_n_ctx(void **state) {
    (void)state;
    char *npy = ts_path(g_dir, "long.npy");
    /* the fixture: n_ctx 32 */
    REFUSED("n_ctx", "lower the context", "decode", FIX, "--batch", "1", "--context", "29", "--machine", g_machine);
    REFUSED("n_ctx", NULL, "decode", FIX, "--batch", "1", "--context", "4,32", "--steps", "1", "--warmup", "0",
            "--machine", g_machine);
    REFUSED("n_ctx", NULL, "decode", FIX, "--batch", "1", "--context", "1048576", "--machine", g_machine);
    REFUSED("n_ctx", "--prompt 32", "prefill", FIX, "--batch", "1", "--prompt", "33", "--machine", g_machine);
    char tok[200] = "";
    for (int i = 0; i < 33; i++) strcat(tok, i ? ",1" : "1");
    REFUSED("n_ctx", "at most 32", "logits", FIX, "--tokens", tok, "--out", npy);
    REFUSED("n_ctx", "steps", "generate", FIX, "--tokens", "1,2,3", "--steps", "31");
    REFUSED("n_ctx", NULL, "generate", FIX, "--tokens", tok, "--steps", "1");
    /* named models: n_ctx 1024 */
    REFUSED("n_ctx", NULL, "decode", "--model", "gpt2-xl", "--batch", "1", "--context", "1020");
    REFUSED("n_ctx", NULL, "prefill", "--model", "gpt2", "--batch", "1", "--prompt", "1025");
    REFUSED("n_ctx", "1024 or less", "predict", "--model", "gpt2", "--batch", "1", "--context", "1025", "--bandwidth",
            "10", "--flops", "100");
    REFUSED("n_ctx", NULL, "predict", "--model", "gpt2", "--batch", "1", "--context", "1-4096*2", "--bandwidth", "10",
            "--flops", "100");
    REFUSED("window", "--context", "calc", "--model", "gpt2", "--context", "1025");
    REFUSED("window", "--prompt", "calc", "--model", "gpt2", "--prompt", "4096");
    REFUSED("window", NULL, "calc", "--model", "llama-7b", "--context", "1073741824");
    assert_false(ts_file_exists(npy));
    free(npy);
}

/* Token ids outside the vocabulary (101 ids in the fixture), negative,
 * overflowing, and token lists that are not lists. */
static void test_args_tokens(void **state) {
    (void)state;
    char *npy = ts_path(g_dir, "tok.npy");
    const char *outside[] = {"101", "1,2,101", "1,2;3,1000", "2147483647", "0,50256"};
    for (size_t i = 0; i < sizeof outside / sizeof *outside; i++) {
        REFUSED("--tokens", "vocabulary 0..100", "logits", FIX, "--tokens", (char *)outside[i], "--out", npy);
        REFUSED("--tokens", "use ids below 101", "generate", FIX, "--tokens", (char *)outside[i], "--steps", "1");
    }
    const char *bad[] = {"-1", "1,-2", "2147483648", "99999999999999999999", "", "a", "1,,2", "1;;2", ";", ",",
                         "1,2;3", "1 2", "1.5", "0x10", "1,2,", "1;"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        REFUSED("--tokens", NULL, "logits", FIX, "--tokens", (char *)bad[i], "--out", npy);
        REFUSED("--tokens", NULL, "generate", FIX, "--tokens", (char *)bad[i], "--steps", "1");
    }
    assert_false(ts_file_exists(npy));
    free(npy);
}

/* Unknown flags and commands: the nearest valid one suggested. */
static void test_args_unknown(void **state) {
    (void)state;
    static const char *const typos[][3] = {
        {"decode", "--bacth", "--batch"},     {"decode", "--contxt", "--context"},  {"decode", "--warmpu", "--warmup"},
        {"prefill", "--promt", "--prompt"},   {"predict", "--bandwith", "--bandwidth"},
        {"generate", "--step", "--steps"},    {"logits", "--tokns", "--tokens"},   {"machine", "--thread", "--threads"},
        {"calc", "--contex", "--context"},    {"info", "--weigth", "--weights"},   {"report", "--dirr", "--dir"},
        {"decode", "--JSON", "--json"},       {"calc", "--hardwear", "--hardware"},
    };
    for (size_t i = 0; i < sizeof typos / sizeof *typos; i++)
        REFUSED(typos[i][1], typos[i][2], (char *)typos[i][0], (char *)typos[i][1], "1");
    /* far from everything: no suggestion, but where to look */
    REFUSED("--completely-unrelated", "--help", "decode", "--completely-unrelated");
    REFUSED("-b", "--help", "decode", "-b", "1");
    REFUSED("positional", "--help", "calc", "positional");
    static const char *const cmds[][2] = {
        {"decoed", "decode"}, {"prefil", "prefill"}, {"predcit", "predict"}, {"mashine", "machine"},
        {"calk", "calc"},     {"reprot", "report"},  {"genrate", "generate"}, {"logit", "logits"}, {"inf", "info"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[32];
        snprintf(want, sizeof want, "'%s'", cmds[i][1]);
        REFUSED(cmds[i][0], want, (char *)cmds[i][0]);
    }
    REFUSED("benchmark-everything", "--help", "benchmark-everything");
    REFUSED("", "--help", "");
}

/* ---- resources --------------------------------------------------------------------------- */

/* A batch whose KV cache cannot fit in this machine's memory: refused at
 * once, with the numbers, before any weights are made, the machine is
 * measured or anything is written. */
static void test_resources_kv_cache_too_big(void **state) {
    (void)state;
    char *never = ts_path(g_dir, "never-made");
    char *json = ts_path(g_dir, "never.jsonl");
    const char *models[] = {"gpt2", "gpt2-xl"};
    for (int i = 0; i < 2; i++) {
        double t0 = now_s();
        run_result r = RUN("decode", "--model", (char *)models[i], "--batch", "65536", "--context", "1000", "--results",
                           never, "--json", json);
        double dt = now_s() - t0;
        print_message("  %s, batch 65536: %.3f s: %s\n", models[i], dt, r.st.msg);
        assert_true(dt < 10);
        assert_non_null(strstr(r.st.msg, "KV cache"));
        expect_code(r, ST_BAD_INPUT, "needs", "available");
    }
    /* the numbers: 2 L B S d 4 bytes of KV cache, and what /proc/meminfo says */
    run_result r = RUN("decode", "--model", "gpt2", "--batch", "65536", "--context", "1000", "--steps", "16",
                       "--warmup", "4");
    double want = 2.0 * 12 * 65536 * (1000 + 4 + 16) * 768 * 4 / 1073741824.0;
    char kv[64];
    snprintf(kv, sizeof kv, "a %.2f GiB KV cache", want);
    print_message("  %s\n", r.st.msg);
    expect_code(r, ST_BAD_INPUT, kv, "batch 65536 at context 1000");
    /* a grid where only the last point is too big: nothing measured either */
    REFUSED("batch 65536", "GiB", "decode", "--model", "gpt2", "--batch", "1,65536", "--context", "8", "--results",
            never, "--json", json);
    REFUSED("needs", "available", "prefill", "--model", "gpt2", "--batch", "65536", "--prompt", "1024", "--results",
            never, "--json", json);
    REFUSED("needs", "available", "prefill", "--model", "gpt2-xl", "--batch", "4096", "--prompt", "1024");
    assert_false(ts_file_exists(never));
    assert_false(ts_file_exists(json));
    assert_false(ts_file_exists("results/never-made"));
    free(never);
    free(json);
}

/* Outputs that cannot be written: refused (exit 2) before any work, naming
 * the path; nothing is created. */
static void test_resources_output_not_writable(void **state) {
    (void)state;
    char *file = ts_path(g_dir, "a-file");
    assert_int_equal(ts_write_file(file, "x", 1), 0);
    char *under = ts_path(file, "out.npy"); /* a path under a regular file */
    char *deep = ts_path(g_dir, "no/such/folder/out.jsonl");
    const char *paths[] = {under, deep, "/proc/gpt2-robustness-test/out"};
    for (int i = 0; i < 3; i++) {
        char *p = (char *)paths[i];
        double t0 = now_s();
        REFUSED(p, "choose another path", "logits", FIX, "--tokens", "1,2", "--out", p);
        REFUSED(p, "choose another path", "decode", FIX, "--batch", "1", "--context", "4", "--machine", g_machine,
                "--json", p);
        REFUSED(p, "choose another path", "decode", FIX, "--batch", "1", "--context", "4", "--machine", g_machine,
                "--csv", p);
        REFUSED(p, "choose another path", "prefill", FIX, "--batch", "1", "--prompt", "4", "--machine", g_machine,
                "--json", p);
        REFUSED(p, "choose another path", "machine", "--quick", "--results", g_dir, "--json", p);
        assert_true(now_s() - t0 < 10); /* refused before the machine is measured */
        assert_false(ts_file_exists(p));
    }
    /* a folder given as the file */
    REFUSED(g_dir, "is a folder", "logits", FIX, "--tokens", "1", "--out", g_dir);
    REFUSED(g_dir, "is a folder", "decode", FIX, "--batch", "1", "--context", "4", "--machine", g_machine, "--json",
            g_dir);
    REFUSED(g_dir, "is a folder", "machine", "--quick", "--results", g_dir, "--json", g_dir);
    /* a folder that is a file: the results folder of machine, report --dir */
    REFUSED(file, "--results", "machine", "--quick", "--results", under);
    REFUSED(file, "not a folder", "report", "--dir", file);
    assert_int_equal(files_named(g_dir, ".tmp"), 0);
    free(file);
    free(under);
    free(deep);
}

static int dev_full_ok(void) {
    struct stat sb;
    return stat("/dev/full", &sb) == 0 && S_ISCHR(sb.st_mode);
}

/* A full disk: every writer reports it (exit 1) naming the path, and leaves
 * nothing partial. The disk is /dev/full, reached through a link in the
 * temp folder, so a writer that renamed over its target would replace only
 * the link (and the check after each run would catch it), never /dev/full. */
static void test_resources_disk_full(void **state) {
    (void)state;
    if (!dev_full_ok()) {
        print_message("  /dev/full is not a character device here: skipped\n");
        return;
    }
    char *dir = ts_path(g_dir, "full");
    assert_int_equal(mkdir(dir, 0755), 0);
    char *full = ts_path(dir, "full");
    assert_int_equal(symlink("/dev/full", full), 0);
    struct stat sb;
    expect_code(RUN("logits", FIX, "--tokens", "1,2;3,4", "--out", full), ST_RUNTIME, full, "No space left");
    assert_true(lstat(full, &sb) == 0 && S_ISLNK(sb.st_mode));
    expect_code(RUN("decode", FIX, "--batch", "1", "--context", "4", "--steps", "2", "--reps", "1", "--warmup", "0",
                    "--machine", g_machine, "--quiet", "--json", full),
                ST_RUNTIME, full, "No space left");
    expect_code(RUN("decode", FIX, "--batch", "1", "--context", "4", "--steps", "2", "--reps", "1", "--warmup", "0",
                    "--machine", g_machine, "--quiet", "--csv", full),
                ST_RUNTIME, full, "No space left");
    expect_code(RUN("prefill", FIX, "--batch", "1", "--prompt", "4", "--reps", "1", "--machine", g_machine, "--json",
                    full),
                ST_RUNTIME, full, "No space left");
    expect_code(RUN("machine", "--quick", "--results", dir, "--json", full), ST_RUNTIME, full, "No space left");
    assert_true(lstat(full, &sb) == 0 && S_ISLNK(sb.st_mode));
    /* report: its summary.md is the full disk */
    char *sweep = ts_path(g_dir, "full-sweep");
    assert_int_equal(mkdir(sweep, 0755), 0);
    char *jl = ts_path(sweep, "decode.jsonl"), *mj = ts_path(sweep, "machine.json");
    expect_code(RUN("decode", FIX, "--batch", "1,2", "--context", "4", "--steps", "2", "--reps", "2", "--warmup", "0",
                    "--machine", g_machine, "--quiet", "--json", jl),
                ST_OK, NULL, NULL);
    expect_code(RUN("machine", "--quick", "--results", dir, "--json", mj), ST_OK, NULL, NULL);
    char *summary = ts_path(sweep, "summary.md");
    assert_int_equal(symlink("/dev/full", summary), 0);
    expect_code(RUN("report", "--dir", sweep), ST_RUNTIME, "summary.md", "No space left");
    assert_true(lstat(summary, &sb) == 0 && S_ISLNK(sb.st_mode));
    assert_int_equal(files_named(sweep, ".tmp"), 0);
    assert_int_equal(files_named(dir, ".tmp"), 0);
    assert_true(dev_full_ok());
    free(summary);
    free(jl);
    free(mj);
    free(sweep);
    free(full);
    free(dir);
}

/* A device as the output (/dev/stdout into a pipe, /dev/null): written in
 * place, not through a temporary renamed over it, and not refused because
 * a device cannot be fsync'd (decode --json /dev/stdout | ... used to fail
 * with "write failed (Invalid argument)"). */
static void test_resources_device_written_in_place(void **state) {
    (void)state;
    char *npy = ts_path(g_dir, "via-null.npy");
    assert_int_equal(symlink("/dev/null", npy), 0);
    expect_code(RUN("logits", FIX, "--tokens", "1,2", "--out", npy), ST_OK, NULL, NULL);
    expect_code(RUN("decode", FIX, "--batch", "1", "--context", "4", "--steps", "2", "--reps", "1", "--warmup", "0",
                    "--machine", g_machine, "--quiet", "--json", npy, "--csv", npy),
                ST_OK, NULL, NULL);
    expect_code(RUN("prefill", FIX, "--batch", "1", "--prompt", "4", "--reps", "1", "--machine", g_machine, "--json",
                    npy),
                ST_OK, NULL, NULL);
    struct stat sb;
    assert_true(lstat(npy, &sb) == 0 && S_ISLNK(sb.st_mode)); /* the link stays a link */
    assert_true(stat("/dev/null", &sb) == 0 && S_ISCHR(sb.st_mode));
    assert_int_equal(files_named(g_dir, ".tmp"), 0);
    free(npy);
}

/* A writer killed mid-write (SIGKILL, or a signal while report writes)
 * leaves its temporary; the next writer of the same file removes it, and
 * nothing else (found by e2e_robustness.sh's random kills). */
static void test_resources_stale_temporaries(void **state) {
    (void)state;
    char *dir = ts_path(g_dir, "stale");
    assert_int_equal(mkdir(dir, 0755), 0);
    char *npy = ts_path(dir, "l.npy"), *stale = ts_path(dir, "l.npy.tmpAb3xY9"), *other = ts_path(dir, "m.npy.tmpAb3xY9");
    char *mine = ts_path(dir, "l.npy.tmp-kept"), *jl = ts_path(dir, "decode.jsonl"), *mj = ts_path(dir, "machine.json");
    char *sstale = ts_path(dir, "summary.md.tmpQQQQQQ");
    const char *files[] = {stale, other, mine, sstale};
    for (int i = 0; i < 4; i++) assert_int_equal(ts_write_file(files[i], "half", 4), 0);
    expect_code(RUN("logits", FIX, "--tokens", "1,2", "--out", npy), ST_OK, NULL, NULL);
    assert_false(ts_file_exists(stale));
    assert_true(ts_file_exists(other)); /* another file's */
    assert_true(ts_file_exists(mine));  /* not the pattern */
    expect_code(RUN("decode", FIX, "--batch", "1,2", "--context", "4", "--steps", "2", "--reps", "2", "--warmup", "0",
                    "--machine", g_machine, "--quiet", "--json", jl),
                ST_OK, NULL, NULL);
    assert_int_equal(ts_copy_file(g_machine, mj), 0);
    run_result r = RUN("report", "--dir", dir);
    if (r.rc) fail_msg("report: exit %d: %s", r.rc, r.st.msg);
    run_free(&r);
    assert_false(ts_file_exists(sstale));
    assert_int_equal(files_named(dir, ".tmp") - 2, 0); /* only the two that are not stale temporaries of these */
    free(dir);
    free(npy);
    free(stale);
    free(other);
    free(mine);
    free(jl);
    free(mj);
    free(sstale);
}

/* ---- readers ---------------------------------------------------------------------------- */

/* A .npy header whose shape overflows, or claims more data than the file
 * holds: refused before anything is allocated (it used to allocate the
 * wrapped size and read the data past it). */
static void test_npy_crafted_shapes(void **state) {
    (void)state;
    const char *shapes[] = {"(4611686018427387904,)", "(4294967296, 4294967296)", "(-1,)", "(2, -3)",
                            "(1000000000000,)", "(3, 4611686018427387905)"};
    char *path = ts_path(g_dir, "crafted.npy");
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
        char hdr[128];
        int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shapes[i]);
        unsigned char buf[10 + 128 + 64];
        memcpy(buf, "\x93NUMPY\x01\x00", 8);
        buf[8] = (unsigned char)n;
        buf[9] = 0;
        memcpy(buf + 10, hdr, (size_t)n);
        memset(buf + 10 + n, 0x41, 64); /* some data */
        assert_int_equal(ts_write_file(path, buf, 10 + (size_t)n + 64), 0);
        float *d = (float *)(uintptr_t)1;
        int nd;
        int64_t sh[8];
        status_t st = {0};
        g_inputs++;
        int rc = npy_read_f32(path, &d, &nd, sh, &st);
        print_message("  shape %s: %s\n", shapes[i], st.msg);
        assert_int_equal(rc, ST_BAD_INPUT);
        assert_null(d);
        assert_non_null(strstr(st.msg, path));
    }
    free(path);
}

/* Numbers beyond an int in a record or machine file (found by review of the
 * results reader's fuzz target; under UBSan the casts aborted): read as
 * absent. */
static void test_results_huge_numbers(void **state) {
    (void)state;
    const char *rec = "{\"kind\":\"decode\",\"batch\":1,\"context\":4,\"threads\":2,\"dtype\":\"f32\",\"tok_s\":10,"
                      "\"tok_s_min\":9,\"tok_s_max\":11,\"predicted_tok_s\":20,\"efficiency\":0.5,\"mbu\":0.1,"
                      "\"mfu\":0.1,\"achieved_gbs\":1,\"achieved_gflops\":1,\"intensity\":1,\"step_ns_median\":1e5,"
                      "\"bytes_per_step\":1e6,\"flops_per_step\":1e6,\"bound\":\"memory\","
                      "\"bytes_per_step_split\":{\"weights\":5e5},\"machine\":{\"read_gbs\":20,\"peak_gflops\":100},"
                      "\"steps\":1e300,\"reps\":-1e300}";
    result_point p;
    char why[200] = "";
    g_inputs++;
    assert_int_equal(results_parse_point(rec, &p, why, sizeof why), 0);
    assert_int_equal(p.steps, 0);
    assert_int_equal(p.reps, 0);
    char *mpath = ts_path(g_dir, "huge-machine.json");
    const char *m = "{\"read_gbs\":20,\"peak_gflops\":100,\"threads\":1e300,\"spec_cores\":-1e300,\"sgemm_size\":3e9}";
    assert_int_equal(ts_write_file(mpath, m, strlen(m)), 0);
    result_machine rm;
    status_t st = {0};
    g_inputs++;
    assert_int_equal(results_read_machine(mpath, &rm, &st), ST_OK);
    assert_int_equal(rm.threads, 0);
    assert_int_equal(rm.spec_cores, 0);
    assert_int_equal(rm.sgemm_size, 0);
    free(mpath);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checkpoint_shape_overflow),
        cmocka_unit_test(test_checkpoint_claims_gigabytes),
        cmocka_unit_test(test_checkpoint_nan_inf),
        cmocka_unit_test(test_checkpoint_no_config),
        cmocka_unit_test(test_checkpoint_bad_config),
        cmocka_unit_test(test_args_numeric),
        cmocka_unit_test(test_args_context_beyond_n_ctx),
        cmocka_unit_test(test_args_tokens),
        cmocka_unit_test(test_args_unknown),
        cmocka_unit_test(test_resources_kv_cache_too_big),
        cmocka_unit_test(test_resources_output_not_writable),
        cmocka_unit_test(test_resources_disk_full),
        cmocka_unit_test(test_resources_device_written_in_place),
        cmocka_unit_test(test_resources_stale_temporaries),
        cmocka_unit_test(test_npy_crafted_shapes),
        cmocka_unit_test(test_results_huge_numbers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
