/* context: what a measurement ran on, for its JSON record: the hardware as
 * hwloc sees it, the OpenBLAS build, the threading environment, the
 * compiler, the source revision, the date and the host. */
#ifndef GR_CONTEXT_H
#define GR_CONTEXT_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

/* Hardware counts and sizes from hwloc; zeros where hwloc is unavailable. */
typedef struct {
    char cpu[128];                 /* model name ("unknown" if none) */
    char cpu_vendor[32], cpu_family[32], cpu_model_number[32]; /* hwloc's CPUVendor etc., "unknown" if none */
    int packages, numa_nodes, cores, pus;
    int64_t cache_bytes[5];        /* [level] per instance, level 1..4; 0 = none (L1 = data cache) */
    int cache_instances[5];        /* [level] how many of each */
    int llc_level;                 /* highest level present, 0 if none */
    int64_t total_memory_bytes;    /* hwloc's total (NUMA) memory, 0 if unknown */
} context_hw;

/* Fills *hw through hwloc. Returns 0, or 1 if hwloc failed (hw then holds
 * what the OS says: the online CPU count as cores and PUs, no caches). */
int context_hw_get(context_hw *hw);

/* A new object: "cpu", "host", "date", "compiler", "compiler_flags",
 * "git_revision", "topology" {cpu_vendor, cpu_family, cpu_model_number, packages, numa_nodes, cores, pus,
 * caches: [{level, bytes, instances}], llc_bytes, total_memory_bytes,
 * hwloc_version}, "openblas" {config, corename, num_threads, parallel},
 * "env" {every OPENBLAS_*, OMP_*, GOMP_* variable}. The caller deletes it.
 * NULL only when out of memory. */
cJSON *context_json(void);

/* Pieces of the above, each writing a NUL-terminated string of at most
 * len bytes. */
void context_hostname(char *buf, size_t len);     /* "unknown" if none */
void context_date_utc(char *buf, size_t len);     /* ISO 8601, "2025-02-01T12:00:00Z" */
void context_git_revision(char *buf, size_t len); /* short hash, "unknown" outside a checkout */
const char *context_compiler(void);               /* __VERSION__ */
const char *context_compiler_flags(void);         /* BUILD_CFLAGS, a string literal the build may define
                                                     (-DBUILD_CFLAGS='"-O2 ..."'), else "unknown" */

#endif
