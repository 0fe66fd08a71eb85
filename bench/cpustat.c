#include "cpustat.h"

#include <stdio.h>
#include <string.h>

int cpustat_parse(const char *line, cpustat_ticks *t) {
    unsigned long long v[8] = {0}; /* user nice system idle iowait irq softirq steal */
    if (strncmp(line, "cpu", 3) != 0 || (line[3] != ' ' && line[3] != '\t')) return -1; /* not "cpu0" */
    int n = sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
    if (n < 4) return -1;
    t->total = 0;
    for (int i = 0; i < 8; i++) t->total += (double)v[i];
    t->busy = t->total - (double)v[3] - (double)v[4];
    t->steal = (double)v[7];
    return 0;
}

int cpustat_read(cpustat_ticks *t) {
    char line[512];
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    const int ok = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    return ok ? cpustat_parse(line, t) : -1;
}

double cpustat_steal_fraction(const cpustat_ticks *a, const cpustat_ticks *b) {
    const double dt = b->total - a->total, ds = b->steal - a->steal;
    if (!(dt > 0) || ds < 0) return -1;
    return ds > dt ? 1 : ds / dt;
}
