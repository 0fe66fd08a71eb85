/* test_machine: the machine probe (bench/machine.c), its JSON, its results
 * file, the `machine` command and thread pinning. Only quick measurements;
 * no timing is asserted beyond being positive and finite. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../bench/context.h"
#include "../bench/machine.h"
#include "../bench/probe.h"
#include "../kernels/kernels.h"
#include "../kernels/pin.h"

/* bench/commands.h gains this line when the command is wired in */
int cmd_machine(int argc, char **argv, FILE *out, status_t *st);

static machine_info g_m; /* one quick measurement shared by the tests that only read it */
static int g_threads;

static int group_setup(void **state) {
    (void)state;
    g_threads = machine_default_threads() >= 2 ? 2 : 1;
    status_t st = {0};
    int rc = machine_measure(&g_m, g_threads, 1, NULL, &st);
    if (rc) fprintf(stderr, "machine_measure: %s\n", st.msg);
    return rc;
}

static int group_teardown(void **state) {
    (void)state;
    machine_free(&g_m);
    return 0;
}

/* ---- temporary folders --------------------------------------------------- */

static void make_tmpdir(char *buf, size_t len) {
    const char *base = getenv("TMPDIR");
    snprintf(buf, len, "%s/gr-machine-XXXXXX", base && *base ? base : "/tmp");
    assert_non_null(mkdtemp(buf));
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- checks ------------------------------------------------------------------ */

static void assert_pos(double v) {
    assert_true(isfinite(v));
    assert_true(v > 0);
}

static void test_quick_measure(void **state) {
    (void)state;
    const machine_info *m = &g_m;
    assert_int_equal(m->schema_version, MACHINE_SCHEMA_VERSION);
    assert_int_equal(m->threads, g_threads);
    assert_int_equal(m->quick, 1);
    assert_pos(m->read_gbs);
    assert_pos(m->copy_gbs);
    assert_pos(m->triad_gbs);
    assert_pos(m->clock_ghz);
    assert_pos(m->peak_gflops);
    assert_pos(m->spec_gflops);
    assert_pos(m->sgemm_gflops);
    assert_pos(m->measure_s);
    assert_true(m->stream_array_bytes > 0);
    assert_true(m->stream_reps >= 1);
    assert_true(m->read_median_gbs > 0 && m->read_median_gbs <= m->read_gbs); /* the median pass is never faster */
    assert_true(m->llc_bytes_measured >= 0);
    assert_true(m->llc_bytes_hwloc >= 0);
    assert_true(m->spec_cores >= 1 && m->spec_cores <= m->threads);
    assert_true(strcmp(m->isa, "avx512") == 0 || strcmp(m->isa, "avx2") == 0 || strcmp(m->isa, "scalar") == 0);
    assert_true(m->cpu[0] && m->host[0] && m->date[0] && m->compiler[0] && m->git_revision[0]);
    assert_true(m->pinning[0]);
    assert_true(m->n_curve >= 5);
    for (int i = 0; i < m->n_curve; i++) {
        assert_pos(m->curve[i].gbs);
        if (i) assert_true(m->curve[i].bytes == 2 * m->curve[i - 1].bytes);
    }
    assert_int_equal(m->curve[0].bytes, 32 * 1024);
    assert_int_equal(m->n_sgemv, 5);
    assert_int_equal(m->n_shapes, 10); /* quick: M in {1, 16} x 5 shapes */
    int lm = 0;
    for (int i = 0; i < m->n_shapes; i++) {
        assert_pos(m->shapes[i].gflops);
        assert_pos(m->shapes[i].weight_gbs);
        assert_pos(m->shapes[i].median_gflops);
        assert_true(m->shapes[i].median_gflops <= m->shapes[i].gflops * (1 + 1e-12));
        if (m->shapes[i].lm_head) {
            lm++;
            assert_int_equal(m->shapes[i].k, 768);
            assert_int_equal(m->shapes[i].n, 50257);
        }
    }
    assert_int_equal(lm, 2);
    for (int i = 0; i < m->n_sgemv; i++) assert_pos(m->sgemv[i].weight_gbs);
    assert_non_null(m->topology);
    assert_non_null(m->openblas);
    assert_non_null(m->env);
    assert_true(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(m->openblas, "config")));
    assert_true(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m->topology, "cores")));
}

static void assert_json_equal(const cJSON *a, const cJSON *b) {
    char *sa = cJSON_PrintUnformatted(a), *sb = cJSON_PrintUnformatted(b);
    assert_non_null(sa);
    assert_non_null(sb);
    assert_string_equal(sa, sb);
    free(sa);
    free(sb);
}

/* every saved field of a and b equal (numbers exactly) */
static void assert_machine_equal(const machine_info *a, const machine_info *b) {
#define EQ(f) assert_true(a->f == b->f)
#define SEQ(f) assert_string_equal(a->f, b->f)
    EQ(schema_version); EQ(threads); EQ(quick);
    SEQ(cpu); SEQ(isa); SEQ(host); SEQ(date); SEQ(compiler); SEQ(compiler_flags); SEQ(git_revision); SEQ(pinning);
    EQ(read_gbs); EQ(read_median_gbs); EQ(copy_gbs); EQ(triad_gbs); EQ(stream_array_bytes); EQ(stream_reps);
    EQ(read_streams);
    EQ(clock_ghz); EQ(peak_gflops); EQ(spec_gflops); EQ(flops_per_cycle_per_core); EQ(spec_cores);
    EQ(sgemm_gflops); EQ(sgemm_size); EQ(llc_bytes_measured); EQ(llc_bytes_hwloc); EQ(measure_s); EQ(busy_cpus_before);
    EQ(n_curve); EQ(n_shapes); EQ(n_sgemv);
    for (int i = 0; i < a->n_curve; i++) { EQ(curve[i].bytes); EQ(curve[i].gbs); }
    for (int i = 0; i < a->n_shapes; i++) {
        EQ(shapes[i].m); EQ(shapes[i].k); EQ(shapes[i].n); EQ(shapes[i].lm_head);
        EQ(shapes[i].gflops); EQ(shapes[i].weight_gbs); EQ(shapes[i].median_gflops);
    }
    for (int i = 0; i < a->n_sgemv; i++) {
        EQ(sgemv[i].k); EQ(sgemv[i].n); EQ(sgemv[i].lm_head);
        EQ(sgemv[i].weight_gbs); EQ(sgemv[i].median_weight_gbs);
    }
#undef EQ
#undef SEQ
    assert_json_equal(a->topology, b->topology);
    assert_json_equal(a->openblas, b->openblas);
    assert_json_equal(a->env, b->env);
}

static void test_json_round_trip(void **state) {
    (void)state;
    cJSON *j = machine_to_json(&g_m);
    assert_non_null(j);
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    assert_non_null(text);
    cJSON *back = cJSON_Parse(text);
    free(text);
    assert_non_null(back);
    machine_info m2;
    status_t st = {0};
    int rc = machine_from_json(&m2, back, &st);
    if (rc) fprintf(stderr, "%s\n", st.msg);
    assert_int_equal(rc, ST_OK);
    cJSON_Delete(back);
    assert_machine_equal(&g_m, &m2);
    machine_free(&m2);
}

/* Applies `edit` to a fresh JSON of g_m and expects machine_from_json to
 * refuse it with ST_BAD_INPUT, naming `field` in the message. */
static void expect_refused(void (*edit)(cJSON *), const char *field) {
    cJSON *j = machine_to_json(&g_m);
    assert_non_null(j);
    edit(j);
    machine_info m2;
    status_t st = {0};
    assert_int_equal(machine_from_json(&m2, j, &st), ST_BAD_INPUT);
    assert_int_equal(st.code, ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, field));
    assert_null(strchr(st.msg, '\n'));
    assert_null(m2.topology);
    cJSON_Delete(j);
}

static void drop_read(cJSON *j) { cJSON_DeleteItemFromObjectCaseSensitive(j, "read_gbs"); }
static void string_read(cJSON *j) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "read_gbs", cJSON_CreateString("52.0"));
}
static void string_threads(cJSON *j) { cJSON_ReplaceItemInObjectCaseSensitive(j, "threads", cJSON_CreateString("2")); }
static void negative_peak(cJSON *j) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "peak_gflops", cJSON_CreateNumber(-1));
}
static void number_cpu(cJSON *j) { cJSON_ReplaceItemInObjectCaseSensitive(j, "cpu", cJSON_CreateNumber(3)); }
static void array_topology(cJSON *j) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "topology", cJSON_CreateArray());
}
static void curve_string(cJSON *j) {
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "cache_curve"), 0);
    cJSON_ReplaceItemInObjectCaseSensitive(p, "gbs", cJSON_CreateString("fast"));
}
static void shape_missing_n(cJSON *j) {
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(j, "sgemm_shapes"), 1);
    cJSON_DeleteItemFromObjectCaseSensitive(p, "n");
}
static void string_median(cJSON *j) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "read_median_gbs", cJSON_CreateString("26"));
}
static void old_schema(cJSON *j) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "schema_version", cJSON_CreateNumber(MACHINE_SCHEMA_VERSION + 1));
}
static void fractional_threads(cJSON *j) {
    cJSON_ReplaceItemInObjectCaseSensitive(j, "threads", cJSON_CreateNumber(1.5));
}

static void test_from_json_refuses(void **state) {
    (void)state;
    expect_refused(drop_read, "read_gbs");
    expect_refused(string_read, "read_gbs");
    expect_refused(string_threads, "threads");
    expect_refused(fractional_threads, "threads");
    expect_refused(negative_peak, "peak_gflops");
    expect_refused(number_cpu, "cpu");
    expect_refused(array_topology, "topology");
    expect_refused(curve_string, "gbs");
    expect_refused(shape_missing_n, "'n'");
    expect_refused(old_schema, "schema_version");
    expect_refused(string_median, "read_median_gbs");
    machine_info m2;
    status_t st = {0};
    /* a file from before read_median_gbs still loads, with 0 */
    cJSON *older = machine_to_json(&g_m);
    cJSON_DeleteItemFromObjectCaseSensitive(older, "read_median_gbs");
    assert_int_equal(machine_from_json(&m2, older, &st), ST_OK);
    assert_true(m2.read_median_gbs == 0 && m2.read_gbs == g_m.read_gbs);
    machine_free(&m2);
    cJSON_Delete(older);
    /* and one from before the multi-stream read test, with 1 stream */
    assert_int_equal(g_m.read_streams, MACHINE_READ_STREAMS);
    older = machine_to_json(&g_m);
    cJSON_DeleteItemFromObjectCaseSensitive(older, "read_streams");
    assert_int_equal(machine_from_json(&m2, older, &st), ST_OK);
    assert_int_equal(m2.read_streams, 1);
    machine_free(&m2);
    cJSON_Delete(older);
    assert_int_equal(machine_from_json(&m2, NULL, &st), ST_BAD_INPUT);
    cJSON *arr = cJSON_CreateArray();
    assert_int_equal(machine_from_json(&m2, arr, &st), ST_BAD_INPUT);
    cJSON_Delete(arr);
}

static ino_t inode_of(const char *path) {
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_ino;
}

static void test_obtain_reuses_and_remeasures(void **state) {
    (void)state;
    char tmp[512], dir[600], path[1024], host[256];
    make_tmpdir(tmp, sizeof tmp);
    snprintf(dir, sizeof dir, "%s/results/sub", tmp); /* made by machine_obtain */
    context_hostname(host, sizeof host);
    machine_default_path(path, sizeof path, dir, host, 1, 1);
    status_t st = {0};
    machine_info a, b, c;
    int rc = machine_obtain(&a, 1, 0, 1, dir, NULL, &st);
    if (rc) fprintf(stderr, "%s\n", st.msg);
    assert_int_equal(rc, ST_OK);
    assert_int_equal(a.from_cache, 0);
    assert_string_equal(a.path, path);
    ino_t first = inode_of(path);

    assert_int_equal(machine_obtain(&b, 1, 0, 1, dir, NULL, &st), ST_OK);
    assert_int_equal(b.from_cache, 1);
    assert_machine_equal(&a, &b);
    assert_true(inode_of(path) == first); /* not rewritten */
    /* the quick file does not serve a full request: no full file exists */
    char full[1024];
    machine_default_path(full, sizeof full, dir, host, 1, 0);
    assert_int_not_equal(access(full, F_OK), 0);

    assert_int_equal(machine_obtain(&c, 1, 1, 1, dir, NULL, &st), ST_OK);
    assert_int_equal(c.from_cache, 0);
    assert_true(inode_of(path) != first); /* replaced by rename */
    machine_info d;
    assert_int_equal(machine_load(&d, path, &st), ST_OK);
    assert_machine_equal(&c, &d);

    /* a corrupt file is measured over, not trusted */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("{\"schema_version\": 1, \"read_gbs\": \"x\"", f);
    fclose(f);
    machine_info e;
    assert_int_equal(machine_obtain(&e, 1, 0, 1, dir, NULL, &st), ST_OK);
    assert_int_equal(e.from_cache, 0);
    machine_info g;
    assert_int_equal(machine_load(&g, path, &st), ST_OK);
    /* the file written over the corrupt one is reused */
    machine_info h;
    assert_int_equal(machine_obtain(&h, 1, 0, 1, dir, NULL, &st), ST_OK);
    assert_int_equal(h.from_cache, 1);
    /* a file whose read test read one stream per thread is measured again */
    cJSON *one = machine_to_json(&h);
    cJSON_ReplaceItemInObjectCaseSensitive(one, "read_streams", cJSON_CreateNumber(1));
    char *text = cJSON_Print(one);
    cJSON_Delete(one);
    assert_int_equal(machine_write_atomic(path, text, &st), ST_OK);
    free(text);
    machine_info k;
    assert_int_equal(machine_obtain(&k, 1, 0, 1, dir, NULL, &st), ST_OK);
    assert_int_equal(k.from_cache, 0);
    assert_int_equal(k.read_streams, MACHINE_READ_STREAMS);
    machine_free(&k);

    /* no temporary files left behind */
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls '%s' | grep -c tmp > /dev/null", dir);
    assert_int_not_equal(system(cmd), 0);
    machine_free(&a);
    machine_free(&b);
    machine_free(&c);
    machine_free(&d);
    machine_free(&e);
    machine_free(&g);
    machine_free(&h);
    remove_tree(tmp);
}

static void test_load_refuses_missing_and_garbage(void **state) {
    (void)state;
    char tmp[512], path[600];
    make_tmpdir(tmp, sizeof tmp);
    machine_info m;
    status_t st = {0};
    snprintf(path, sizeof path, "%s/none.json", tmp);
    assert_int_equal(machine_load(&m, path, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "none.json"));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not json", f);
    fclose(f);
    assert_int_equal(machine_load(&m, path, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "not valid JSON"));
    remove_tree(tmp);
}

/* Runs cmd_machine on argv; returns its exit code, *text its output. */
static int run_cmd(int argc, char **argv, char **text, status_t *st) {
    FILE *out = tmpfile();
    assert_non_null(out);
    int rc = cmd_machine(argc, argv, out, st);
    long len = ftell(out);
    assert_true(len >= 0);
    rewind(out);
    *text = calloc((size_t)len + 1, 1);
    assert_non_null(*text);
    assert_int_equal(fread(*text, 1, (size_t)len, out), (size_t)len);
    fclose(out);
    return rc;
}

static void expect_type(const cJSON *o, const char *name, int (*is)(const cJSON *)) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it || !is(it)) fprintf(stderr, "JSON member '%s' missing or of the wrong type\n", name);
    assert_non_null(it);
    assert_true(is(it));
}

static int is_number(const cJSON *x) { return cJSON_IsNumber(x); }
static int is_string(const cJSON *x) { return cJSON_IsString(x); }
static int is_object(const cJSON *x) { return cJSON_IsObject(x); }
static int is_array(const cJSON *x) { return cJSON_IsArray(x); }
static int is_bool(const cJSON *x) { return cJSON_IsBool(x); }

static void test_cmd_json_stdout(void **state) {
    (void)state;
    char tmp[512];
    make_tmpdir(tmp, sizeof tmp);
    char *argv[] = {"machine", "--quick", "--json", "-", "--threads", "1", "--results", tmp, NULL};
    char *text = NULL;
    status_t st = {0};
    int rc = run_cmd(8, argv, &text, &st);
    if (rc) fprintf(stderr, "%s\n", st.msg);
    assert_int_equal(rc, ST_OK);
    /* one line of JSON, nothing else */
    size_t len = strlen(text);
    assert_true(len > 2 && text[len - 1] == '\n');
    assert_null(memchr(text, '\n', len - 1));
    cJSON *j = cJSON_Parse(text);
    assert_non_null(j);
    static const char *const numbers[] = {"schema_version", "read_gbs", "read_median_gbs", "triad_gbs", "copy_gbs", "peak_gflops",
                                          "sgemm_gflops", "spec_gflops", "threads", "clock_ghz",
                                          "llc_bytes_measured", "llc_bytes_hwloc", "stream_array_bytes",
                                          "flops_per_cycle_per_core", "measure_s", "busy_cpus_before"};
    static const char *const strings[] = {"cpu", "isa", "host", "date", "compiler", "compiler_flags",
                                          "git_revision", "pinning", "spec_assumption", "stream_convention"};
    for (size_t i = 0; i < sizeof numbers / sizeof numbers[0]; i++) expect_type(j, numbers[i], is_number);
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) expect_type(j, strings[i], is_string);
    expect_type(j, "topology", is_object);
    expect_type(j, "openblas", is_object);
    expect_type(j, "env", is_object);
    expect_type(j, "cache_curve", is_array);
    expect_type(j, "sgemm_shapes", is_array);
    expect_type(j, "sgemv_shapes", is_array);
    expect_type(j, "quick", is_bool);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(j, "threads")->valueint, 1);
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(j, "spec_assumption")->valuestring, "2 FMA pipes"));
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "cache_curve")) {
        expect_type(e, "bytes", is_number);
        expect_type(e, "gbs", is_number);
    }
    assert_true(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "sgemm_shapes")) > 0);
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(j, "sgemm_shapes")) {
        expect_type(e, "m", is_number);
        expect_type(e, "k", is_number);
        expect_type(e, "n", is_number);
        expect_type(e, "gflops", is_number);
        expect_type(e, "weight_gbs", is_number);
    }
    const cJSON *topo = cJSON_GetObjectItemCaseSensitive(j, "topology");
    expect_type(topo, "cores", is_number);
    expect_type(topo, "pus", is_number);
    expect_type(topo, "packages", is_number);
    expect_type(topo, "numa_nodes", is_number);
    expect_type(topo, "caches", is_array);
    expect_type(topo, "total_memory_bytes", is_number);
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(j, "openblas");
    expect_type(ob, "config", is_string);
    expect_type(ob, "corename", is_string);
    expect_type(ob, "num_threads", is_number);
    machine_info m;
    assert_int_equal(machine_from_json(&m, j, &st), ST_OK);
    machine_free(&m);
    cJSON_Delete(j);
    free(text);

    /* the human form of the same (reused) file, and --json FILE */
    char file[600];
    snprintf(file, sizeof file, "%s/out.json", tmp);
    char *argv2[] = {"machine", "--quick", "--threads", "1", "--results", tmp, "--json", file, NULL};
    rc = run_cmd(8, argv2, &text, &st);
    assert_int_equal(rc, ST_OK);
    assert_non_null(strstr(text, "ridge point"));
    assert_non_null(strstr(text, "GB/s"));
    assert_non_null(strstr(text, "--remeasure"));
    free(text);
    assert_int_equal(machine_load(&m, file, &st), ST_OK);
    machine_free(&m);
    remove_tree(tmp);
}

static void test_cmd_refuses_bad_flags(void **state) {
    (void)state;
    static const char *const bad[] = {"0", "-1", "abc", "1.5", "", "100000"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *argv[] = {"machine", "--threads", (char *)bad[i], "--quick", "--results", "/nonexistent/x", NULL};
        char *text = NULL;
        status_t st = {0};
        assert_int_equal(run_cmd(6, argv, &text, &st), ST_BAD_INPUT);
        assert_non_null(strstr(st.msg, "--threads"));
        free(text);
    }
    char *argv[] = {"machine", "--thread", "1", NULL};
    char *text = NULL;
    status_t st = {0};
    assert_int_equal(run_cmd(3, argv, &text, &st), ST_BAD_INPUT);
    assert_non_null(strstr(st.msg, "--threads"));
    free(text);
    char *argv2[] = {"machine", "--help", NULL};
    assert_int_equal(run_cmd(2, argv2, &text, &st), ST_OK);
    assert_non_null(strstr(text, "--remeasure"));
    free(text);
}

/* The probe: sizes, a positive reading, and a void one (-1) when the
 * buffer does not hold what was written; machine_read_sum sums exactly. */
static void test_probe(void **state) {
    (void)state;
    assert_int_equal(probe_bytes_for(3.0 * 4194304), 3 * 4194304);
    assert_int_equal(probe_bytes_for(0), 384u << 20);
    assert_int_equal(probe_bytes_for(-1), 384u << 20);
    assert_int_equal(probe_bytes_for(100), 65536);
    bw_probe p;
    status_t st = {0};
    assert_int_equal(probe_init(&p, 2u << 20, &st), 0);
    assert_int_equal(p.n, (2u << 20) / 4);
    assert_true(machine_read_sum(p.buf, p.n) == (double)p.n);
    assert_true(machine_read_sum(p.buf + 16, 77) == 77.0); /* one 64-float block and a tail */
    /* the pieces read side by side: every length, aligned or not (the
     * portable loop), against a plain sum of small integers (exact) */
    const size_t lens[] = {0, 1, 15, 16, 63, 64, 65, 1000, 4103, (2u << 20) / 4 - 1};
    for (size_t i = 0; i < p.n; i++) p.buf[i] = (float)(i % 7);
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++)
        for (int off = 0; off < 2; off++) {
            const size_t n = lens[li] - (off && lens[li] ? 1 : 0);
            double want = 0;
            for (size_t i = 0; i < n; i++) want += p.buf[off + i];
            if (machine_read_sum(p.buf + off, n) != want)
                fail_msg("machine_read_sum(offset %d, n %zu) = %.1f, want %.1f", off, n, machine_read_sum(p.buf + off, n), want);
        }
    for (size_t i = 0; i < p.n; i++) p.buf[i] = 1.0f;
    { /* pieces of more than 2^20 floats (READ_EXACT): two chunks per piece */
        const size_t n = ((size_t)4 << 20) + 37;
        float *big = aligned_alloc(64, (n + 15) / 16 * 16 * sizeof(float));
        assert_non_null(big);
        for (size_t i = 0; i < n; i++) big[i] = 1.0f;
        assert_true(machine_read_sum(big, n) == (double)n);
        free(big);
    }
    double gbs = probe_read_gbs(&p, 3);
    assert_true(gbs > 0 && isfinite(gbs));
    p.buf[p.n / 2] = 2.0f;
    assert_true(probe_read_gbs(&p, 3) == -1);
    assert_true(probe_read_gbs(&p, 0) == -1);
    probe_free(&p);
    assert_null(p.buf);
}

static void test_default_path(void **state) {
    (void)state;
    char buf[256];
    assert_string_equal(machine_default_path(buf, sizeof buf, "results", "vm", 2, 0), "results/machine-vm-t2.json");
    assert_string_equal(machine_default_path(buf, sizeof buf, "r", "a b/c", 1, 1), "r/machine-a_b_c-t1-quick.json");
    assert_string_equal(machine_default_path(buf, sizeof buf, "r", "..", 1, 0), "r/machine-unknown-t1.json");
}

static void test_pin_describes(void **state) {
    (void)state;
    char desc[256] = "";
    int rc = threads_pin(1, desc, sizeof desc);
    assert_true(desc[0] != '\0');
    assert_string_equal(desc, threads_pin_description());
    if (rc == 0) assert_non_null(strstr(desc, "hwloc"));
    assert_int_not_equal(threads_pin(0, desc, sizeof desc), 0);
    assert_non_null(strstr(desc, "not pinned"));
}

static void test_context_json(void **state) {
    (void)state;
    cJSON *c = context_json();
    assert_non_null(c);
    expect_type(c, "date", is_string);
    const char *date = cJSON_GetObjectItemCaseSensitive(c, "date")->valuestring;
    assert_int_equal(strlen(date), 20); /* 2025-02-01T12:00:00Z */
    assert_true(date[10] == 'T' && date[19] == 'Z');
    expect_type(c, "git_revision", is_string);
    expect_type(c, "compiler_flags", is_string);
    cJSON_Delete(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quick_measure),
        cmocka_unit_test(test_json_round_trip),
        cmocka_unit_test(test_from_json_refuses),
        cmocka_unit_test(test_obtain_reuses_and_remeasures),
        cmocka_unit_test(test_load_refuses_missing_and_garbage),
        cmocka_unit_test(test_cmd_json_stdout),
        cmocka_unit_test(test_cmd_refuses_bad_flags),
        cmocka_unit_test(test_probe),
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_pin_describes),
        cmocka_unit_test(test_context_json),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
