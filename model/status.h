/* status: how a library call reports failure to the command that called it.
 * A failing call fills `msg` with one line (what was wrong, what to do) and
 * returns the exit code the command should use: 2 for bad input, 1 for a
 * failure while running. 0 is success. */
#ifndef GR_STATUS_H
#define GR_STATUS_H

#include <stddef.h>
#include <stdint.h>

enum { ST_OK = 0, ST_RUNTIME = 1, ST_BAD_INPUT = 2 };

typedef struct {
    int code;       /* ST_OK, ST_RUNTIME or ST_BAD_INPUT */
    char msg[768];  /* one line, no trailing newline */
} status_t;

/* Sets code and message; returns code, so `return status_fail(st, ...)`. */
int status_fail(status_t *st, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Bytes the kernel says can still be allocated (MemAvailable), 0 if unknown. */
uint64_t mem_available_bytes(void);

/* Refuses (ST_BAD_INPUT) when `need_bytes` exceeds what is available,
 * naming `what` and both numbers. */
int mem_check(status_t *st, const char *what, uint64_t need_bytes);

#endif
