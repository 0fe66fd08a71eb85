/* outfile: output files that no reader ever sees half-written.
 *
 * A new or regular file is written under a temporary name in the same
 * folder, flushed to disk and renamed over the target, so the target is
 * either the old file or the whole new one; the temporary is removed on
 * any failure. Anything else already at the path (a device such as
 * /dev/stdout or /dev/full, a FIFO) is written in place: renaming over it
 * would replace the device with a file. A folder is refused. Temporaries
 * that writers killed mid-write (SIGKILL) left beside the file are removed
 * by the next writer of it.
 *
 * Failures are one line naming the path: ST_BAD_INPUT when the path cannot
 * be written at all (missing or read-only folder, a folder given as the
 * file), ST_RUNTIME when writing fails on the way (a full disk). */
#ifndef GR_OUTFILE_H
#define GR_OUTFILE_H

#include <stddef.h>
#include <stdio.h>

#include "../model/status.h"

#define OUTFILE_PATH_MAX 4096

typedef struct {
    char path[OUTFILE_PATH_MAX];
    char tmp[OUTFILE_PATH_MAX]; /* "" when written in place */
    FILE *f;
    int err;  /* errno of a failed write through f, when the caller saw one */
} outfile;

/* Checks, before any work is done, that `path` can be written: not a
 * folder, its folder exists and is writable. `flag` names the option in
 * the message ("--out"). ST_BAD_INPUT when not. */
int outfile_check(const char *path, const char *flag, status_t *st);

/* Opens the temporary (or the device) for writing through o->f. */
int outfile_open(outfile *o, const char *path, status_t *st);

/* Flushes, syncs and renames into place; on any failure removes the
 * temporary. Closes o->f either way. */
int outfile_commit(outfile *o, status_t *st);

/* Closes and removes the temporary without touching the target. */
void outfile_abort(outfile *o);

/* The whole of data[0..len) to path, as above. */
int outfile_write(const char *path, const void *data, size_t len, status_t *st);

#endif
