#include "status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int status_fail(status_t *st, int code, const char *fmt, ...) {
    if (st) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(st->msg, sizeof st->msg, fmt, ap);
        va_end(ap);
        st->code = code;
    }
    return code;
}

uint64_t mem_available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
    }
    fclose(f);
    return (uint64_t)kb * 1024u;
}

int mem_check(status_t *st, const char *what, uint64_t need_bytes) {
    uint64_t avail = mem_available_bytes();
    if (avail && need_bytes > avail) {
        return status_fail(st, ST_BAD_INPUT,
                           "%s needs %.2f GiB but only %.2f GiB of memory is available: "
                           "use a smaller batch or context",
                           what, need_bytes / 1073741824.0, avail / 1073741824.0);
    }
    return ST_OK;
}
