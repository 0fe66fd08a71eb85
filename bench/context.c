/* context: hwloc topology, OpenBLAS build, environment, compiler, revision,
 * date and host of a measurement. */
#include "context.h"

#include <cblas.h>
#include <hwloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

const char *context_compiler(void) {
#ifdef __VERSION__
    return __VERSION__;
#else
    return "unknown";
#endif
}

const char *context_compiler_flags(void) {
#ifdef BUILD_CFLAGS
    return BUILD_CFLAGS;
#else
    return "unknown";
#endif
}

void context_hostname(char *buf, size_t len) {
    if (!len) return;
    if (gethostname(buf, len) != 0 || !buf[0]) snprintf(buf, len, "unknown");
    buf[len - 1] = '\0';
}

void context_date_utc(char *buf, size_t len) {
    time_t t = time(NULL);
    struct tm tm;
    if (!len) return;
    if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm)) snprintf(buf, len, "unknown");
}

void context_git_revision(char *buf, size_t len) {
    if (!len) return;
    snprintf(buf, len, "unknown");
    FILE *p = popen("git rev-parse --short HEAD 2>/dev/null", "r");
    if (!p) return;
    char line[64] = "";
    int ok = fgets(line, sizeof line, p) != NULL;
    int rc = pclose(p);
    if (!ok || rc != 0) return;
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) return;
    /* uncommitted changes to tracked files: say so */
    int dirty = system("git diff --quiet HEAD -- 2>/dev/null") != 0;
    snprintf(buf, len, "%s%s", line, dirty ? "-dirty" : "");
}

int context_hw_get(context_hw *hw) {
    memset(hw, 0, sizeof *hw);
    snprintf(hw->cpu, sizeof hw->cpu, "unknown");
    snprintf(hw->cpu_vendor, sizeof hw->cpu_vendor, "unknown");
    snprintf(hw->cpu_family, sizeof hw->cpu_family, "unknown");
    snprintf(hw->cpu_model_number, sizeof hw->cpu_model_number, "unknown");
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) goto fallback;
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        goto fallback;
    }
    hw->packages = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE);
    hw->numa_nodes = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE);
    hw->cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    hw->pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    static const hwloc_obj_type_t cache_type[5] = {0, HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L2CACHE, HWLOC_OBJ_L3CACHE,
                                                   HWLOC_OBJ_L4CACHE};
    for (int lv = 1; lv <= 4; lv++) {
        int n = hwloc_get_nbobjs_by_type(topo, cache_type[lv]);
        hwloc_obj_t o = n > 0 ? hwloc_get_obj_by_type(topo, cache_type[lv], 0) : NULL;
        if (o && o->attr) {
            hw->cache_bytes[lv] = (int64_t)o->attr->cache.size;
            hw->cache_instances[lv] = n;
            if (hw->cache_bytes[lv] > 0) hw->llc_level = lv;
        }
    }
    hwloc_obj_t root = hwloc_get_root_obj(topo);
    hw->total_memory_bytes = root ? (int64_t)root->total_memory : 0;
    hwloc_obj_t pkg = hwloc_get_obj_by_type(topo, HWLOC_OBJ_PACKAGE, 0);
    const char *model = pkg ? hwloc_obj_get_info_by_name(pkg, "CPUModel") : NULL;
    if (!model && root) model = hwloc_obj_get_info_by_name(root, "CPUModel");
    if (model && *model) snprintf(hw->cpu, sizeof hw->cpu, "%s", model);
    static const char *const keys[3] = {"CPUVendor", "CPUFamilyNumber", "CPUModelNumber"};
    char *dst[3] = {hw->cpu_vendor, hw->cpu_family, hw->cpu_model_number};
    for (int i = 0; i < 3; i++) {
        const char *v = pkg ? hwloc_obj_get_info_by_name(pkg, keys[i]) : NULL;
        snprintf(dst[i], sizeof hw->cpu_vendor, "%s", v && *v ? v : "unknown");
    }
    hwloc_topology_destroy(topo);
    if (hw->cores < 1 || hw->pus < 1) goto fallback;
    return 0;
fallback : {
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    hw->cores = hw->pus = c > 0 ? (int)c : 1;
    return 1;
}
}

static cJSON *topology_json(const context_hw *hw) {
    cJSON *t = cJSON_CreateObject();
    if (!t) return NULL;
    cJSON_AddStringToObject(t, "cpu_vendor", hw->cpu_vendor);
    cJSON_AddStringToObject(t, "cpu_family", hw->cpu_family);
    cJSON_AddStringToObject(t, "cpu_model_number", hw->cpu_model_number);
    cJSON_AddNumberToObject(t, "packages", hw->packages);
    cJSON_AddNumberToObject(t, "numa_nodes", hw->numa_nodes);
    cJSON_AddNumberToObject(t, "cores", hw->cores);
    cJSON_AddNumberToObject(t, "pus", hw->pus);
    cJSON *caches = cJSON_AddArrayToObject(t, "caches");
    for (int lv = 1; lv <= 4 && caches; lv++) {
        if (hw->cache_bytes[lv] <= 0) continue;
        cJSON *c = cJSON_CreateObject();
        if (!c) break;
        cJSON_AddNumberToObject(c, "level", lv);
        cJSON_AddNumberToObject(c, "bytes", (double)hw->cache_bytes[lv]); /* per instance */
        cJSON_AddNumberToObject(c, "instances", hw->cache_instances[lv]);
        cJSON_AddItemToArray(caches, c);
    }
    cJSON_AddNumberToObject(t, "llc_bytes", hw->llc_level ? (double)hw->cache_bytes[hw->llc_level] : 0);
    cJSON_AddNumberToObject(t, "total_memory_bytes", (double)hw->total_memory_bytes);
    char v[32];
    unsigned api = hwloc_get_api_version();
    snprintf(v, sizeof v, "%u.%u.%u", api >> 16, (api >> 8) & 0xff, api & 0xff);
    cJSON_AddStringToObject(t, "hwloc_api_version", v);
    return t;
}

static cJSON *openblas_json(void) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    const char *cfg = openblas_get_config(), *core = openblas_get_corename();
    cJSON_AddStringToObject(o, "config", cfg ? cfg : "unknown");
    cJSON_AddStringToObject(o, "corename", core ? core : "unknown");
    cJSON_AddNumberToObject(o, "num_threads", openblas_get_num_threads());
    int par = openblas_get_parallel(); /* 0 sequential, 1 pthreads, 2 OpenMP */
    cJSON_AddStringToObject(o, "parallel", par == 0 ? "sequential" : par == 1 ? "pthreads" : par == 2 ? "openmp"
                                                                                                   : "unknown");
    return o;
}

static cJSON *env_json(void) {
    cJSON *e = cJSON_CreateObject();
    if (!e) return NULL;
    static const char *const prefixes[] = {"OPENBLAS_", "OMP_", "GOMP_", "GOTO_"};
    for (char **p = environ; p && *p; p++) {
        const char *kv = *p, *eq = strchr(kv, '=');
        if (!eq) continue;
        int want = 0;
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
            if (strncmp(kv, prefixes[i], strlen(prefixes[i])) == 0) want = 1;
        if (!want) continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - kv < 127 ? eq - kv : 127), kv);
        if (!cJSON_GetObjectItemCaseSensitive(e, name)) cJSON_AddStringToObject(e, name, eq + 1);
    }
    return e;
}

cJSON *context_json(void) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return NULL;
    context_hw hw;
    context_hw_get(&hw);
    char host[256], date[32], rev[64];
    context_hostname(host, sizeof host);
    context_date_utc(date, sizeof date);
    context_git_revision(rev, sizeof rev);
    cJSON_AddStringToObject(o, "cpu", hw.cpu);
    cJSON_AddStringToObject(o, "host", host);
    cJSON_AddStringToObject(o, "date", date);
    cJSON_AddStringToObject(o, "compiler", context_compiler());
    cJSON_AddStringToObject(o, "compiler_flags", context_compiler_flags());
    cJSON_AddStringToObject(o, "git_revision", rev);
    cJSON *t = topology_json(&hw), *b = openblas_json(), *e = env_json();
    if (t) cJSON_AddItemToObject(o, "topology", t);
    if (b) cJSON_AddItemToObject(o, "openblas", b);
    if (e) cJSON_AddItemToObject(o, "env", e);
    if (!t || !b || !e) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}
