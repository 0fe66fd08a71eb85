/* pin: hwloc binding of the OpenMP threads, thread i to core i. */
#include "pin.h"

#include <errno.h>
#include <hwloc.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char g_desc[256] = "not pinned";

const char *threads_pin_description(void) { return g_desc; }

static int finish(char *desc, size_t desc_len, int rc) {
    if (desc && desc_len) snprintf(desc, desc_len, "%s", g_desc);
    return rc;
}

int threads_pin(int n, char *desc, size_t desc_len) {
    if (n < 1) {
        snprintf(g_desc, sizeof g_desc, "not pinned: thread count %d is not positive", n);
        return finish(desc, desc_len, 1);
    }
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        snprintf(g_desc, sizeof g_desc, "not pinned: hwloc_topology_init failed");
        return finish(desc, desc_len, 1);
    }
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        snprintf(g_desc, sizeof g_desc, "not pinned: hwloc_topology_load failed");
        return finish(desc, desc_len, 1);
    }
    int n_cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    int n_pus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
    /* one core per thread while there are enough; else PUs round-robin */
    hwloc_obj_type_t unit = (n_cores >= n) ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    int n_units = unit == HWLOC_OBJ_CORE ? n_cores : n_pus;
    if (n_units < 1) {
        hwloc_topology_destroy(topo);
        snprintf(g_desc, sizeof g_desc, "not pinned: hwloc found no cores or PUs");
        return finish(desc, desc_len, 1);
    }
    /* per thread: the PU os index bound to (first of the unit), or -1 - errno on failure */
    int *bound = calloc((size_t)n, sizeof *bound);
    if (!bound) {
        hwloc_topology_destroy(topo);
        snprintf(g_desc, sizeof g_desc, "not pinned: out of memory");
        return finish(desc, desc_len, 1);
    }
    for (int i = 0; i < n; i++) bound[i] = -1 - ESRCH; /* stays so if the team is smaller than n */
#pragma omp parallel num_threads(n)
    {
        int i = omp_get_thread_num();
        hwloc_obj_t obj = hwloc_get_obj_by_type(topo, unit, (unsigned)(i % n_units));
        if (!obj || !obj->cpuset) bound[i] = -1 - ENOENT;
        else if (hwloc_set_cpubind(topo, obj->cpuset, HWLOC_CPUBIND_THREAD) != 0) bound[i] = -1 - errno;
        else bound[i] = hwloc_bitmap_first(obj->cpuset);
    }
    int failed = 0, first_errno = 0, first_failed = -1;
    char where[160] = ""; /* "0:PU0 1:PU1 ..." for the first 8 threads */
    for (int i = 0; i < n; i++) {
        if (bound[i] < 0) {
            failed++;
            if (first_failed < 0) { first_failed = i; first_errno = -1 - bound[i]; }
        } else if (i < 8) {
            size_t len = strlen(where);
            snprintf(where + len, sizeof where - len, "%s%d:PU%d", len ? " " : "", i, bound[i]);
        }
    }
    free(bound);
    hwloc_topology_destroy(topo);
    if (failed) {
        snprintf(g_desc, sizeof g_desc, "pinning failed for %d of %d OpenMP threads (first: thread %d, %s); "
                 "threads left unpinned or partly pinned", failed, n, first_failed,
                 strerror(first_errno));
        return finish(desc, desc_len, 1);
    }
    snprintf(g_desc, sizeof g_desc, "hwloc: OpenMP thread i bound to %s i of %d%s [%s%s]",
             unit == HWLOC_OBJ_CORE ? "core" : "PU (mod PUs)", n_units,
             unit == HWLOC_OBJ_CORE ? "" : ", more threads than cores", where, n > 8 ? " ..." : "");
    return finish(desc, desc_len, 0);
}
