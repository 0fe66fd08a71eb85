/* cpustat: the "cpu" line of /proc/stat (all CPUs, in clock ticks), to say
 * how much CPU time the hypervisor gave to other guests (steal) while a
 * point ran: on a shared VM a slow repetition is often a stolen one. */
#ifndef GR_CPUSTAT_H
#define GR_CPUSTAT_H

typedef struct {
    double total; /* every state: user nice system idle iowait irq softirq steal */
    double busy;  /* total less idle and iowait */
    double steal; /* taken by the hypervisor for other guests */
} cpustat_ticks;

/* Parses a "cpu  u n s i w irq sirq steal ..." line. 0, or -1 when it is
 * not one (fewer than 4 numbers; steal 0 when the kernel gives no 8th). */
int cpustat_parse(const char *line, cpustat_ticks *t);
/* Reads /proc/stat now. 0, or -1 when unreadable. */
int cpustat_read(cpustat_ticks *t);
/* The share of all CPUs' time stolen between a and b, 0..1; -1 when
 * unknown (no ticks passed). */
double cpustat_steal_fraction(const cpustat_ticks *a, const cpustat_ticks *b);

#endif
