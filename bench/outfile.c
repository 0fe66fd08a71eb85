#include "outfile.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder holding path ("." when it has no '/'). */
static void folder_of(const char *path, char *dir, size_t len) {
    snprintf(dir, len, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, len, ".");
    else if (slash == dir) dir[1] = 0; /* "/x" -> "/" */
    else *slash = 0;
}

/* A failure to create a file: the disk's fault (exit 1) or the path's (exit 2). */
static int code_for(int e) {
    return e == ENOSPC || e == EDQUOT || e == EIO || e == ENOMEM || e == EMFILE || e == ENFILE ? ST_RUNTIME
                                                                                              : ST_BAD_INPUT;
}

int outfile_check(const char *path, const char *flag, status_t *st) {
    if (!path || !*path) return status_fail(st, ST_BAD_INPUT, "%s: give a file name", flag);
    if (strlen(path) >= OUTFILE_PATH_MAX - 16)
        return status_fail(st, ST_BAD_INPUT, "%s: the path is too long: choose a shorter one", flag);
    struct stat sb;
    if (stat(path, &sb) == 0) {
        if (S_ISDIR(sb.st_mode))
            return status_fail(st, ST_BAD_INPUT, "%s %s: is a folder: give a file name inside it", flag, path);
        if (!S_ISREG(sb.st_mode)) return ST_OK; /* a device or FIFO: written in place */
    } else if (errno != ENOENT && errno != ENOTDIR) {
        return status_fail(st, ST_BAD_INPUT, "%s %s: cannot be written (%s): choose another path", flag, path,
                           strerror(errno));
    }
    if (path[strlen(path) - 1] == '/')
        return status_fail(st, ST_BAD_INPUT, "%s %s: names a folder: give a file name", flag, path);
    char dir[OUTFILE_PATH_MAX];
    folder_of(path, dir, sizeof dir);
    if (stat(dir, &sb) != 0)
        return status_fail(st, ST_BAD_INPUT, "%s %s: the folder %s does not exist (%s): create it or choose another path",
                           flag, path, dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return status_fail(st, ST_BAD_INPUT, "%s %s: %s is not a folder: choose another path", flag, path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return status_fail(st, ST_BAD_INPUT, "%s %s: the folder %s is not writable (%s): choose another path", flag,
                           path, dir, strerror(errno));
    return ST_OK;
}

/* Removes the temporaries "<name>.tmpXXXXXX" of earlier writers of path that
 * were killed before they could (SIGKILL, a crash, a signal mid-write):
 * the next writer of a file tidies up after them. A writer of the same
 * file at the same moment is a conflict anyway (the last rename wins); it
 * then reports that its temporary is gone. */
static void remove_stale_temporaries(const char *path) {
    char dir[OUTFILE_PATH_MAX];
    folder_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        const char *n = e->d_name;
        if (strlen(n) != blen + 10 || strncmp(n, base, blen) != 0 || strncmp(n + blen, ".tmp", 4) != 0) continue;
        int alnum = 1;
        for (int i = 0; i < 6; i++) alnum &= isalnum((unsigned char)n[blen + 4 + i]) != 0;
        char p[OUTFILE_PATH_MAX];
        struct stat sb;
        if (alnum && (size_t)snprintf(p, sizeof p, "%s/%s", dir, n) < sizeof p && lstat(p, &sb) == 0 &&
            S_ISREG(sb.st_mode))
            unlink(p);
    }
    closedir(d);
}

int outfile_open(outfile *o, const char *path, status_t *st) {
    memset(o, 0, sizeof *o);
    if ((size_t)snprintf(o->path, sizeof o->path, "%s", path) >= sizeof o->path - 16)
        return status_fail(st, ST_BAD_INPUT, "%.200s...: the path is too long: choose a shorter one", path);
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return status_fail(st, ST_BAD_INPUT, "%s: is a folder: give a file name inside it", path);
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
        o->f = fopen(path, "w");
        if (!o->f)
            return status_fail(st, code_for(errno), "%s: cannot write (%s): choose another path", path,
                               strerror(errno));
        return ST_OK;
    }
    remove_stale_temporaries(path);
    snprintf(o->tmp, sizeof o->tmp, "%s.tmpXXXXXX", path);
    int fd = mkstemp(o->tmp);
    if (fd < 0) {
        int e = errno;
        o->tmp[0] = 0;
        return status_fail(st, code_for(e), "%s: cannot create a file beside it (%s): choose a writable folder", path,
                           strerror(e));
    }
    o->f = fdopen(fd, "w");
    if (!o->f) {
        int e = errno;
        close(fd);
        unlink(o->tmp);
        o->tmp[0] = 0;
        return status_fail(st, ST_RUNTIME, "%s: cannot write (%s)", path, strerror(e));
    }
    return ST_OK;
}

void outfile_abort(outfile *o) {
    if (o->f) fclose(o->f);
    o->f = NULL;
    if (o->tmp[0]) unlink(o->tmp);
    o->tmp[0] = 0;
}

int outfile_commit(outfile *o, status_t *st) {
    if (!o->f) return status_fail(st, ST_RUNTIME, "%s: not open for writing", o->path);
    int ok = 1, e = 0;
    errno = 0;
    if (fflush(o->f) != 0 || ferror(o->f)) {
        ok = 0;
        e = o->err ? o->err : errno ? errno : EIO;
    }
    if (ok && o->tmp[0] && fsync(fileno(o->f)) != 0) {
        ok = 0;
        e = errno;
    }
    if (fclose(o->f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    o->f = NULL;
    if (ok && o->tmp[0]) {
        mode_t mask = umask(022);
        umask(mask);
        if (chmod(o->tmp, 0666 & ~mask) != 0) { /* mkstemp's 0600 stays: not an error */ }
        if (rename(o->tmp, o->path) != 0) {
            ok = 0;
            e = errno;
        }
    }
    if (!ok) {
        int in_place = !o->tmp[0];
        if (o->tmp[0]) unlink(o->tmp);
        o->tmp[0] = 0;
        return status_fail(st, ST_RUNTIME, "%s: write failed (%s): check the free space; %s", o->path, strerror(e),
                           in_place ? "what was written is incomplete" : "nothing was written");
    }
    if (o->tmp[0]) { /* make the rename itself durable */
        char dir[OUTFILE_PATH_MAX];
        folder_of(o->path, dir, sizeof dir);
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            if (fsync(fd) != 0) { /* best effort */ }
            close(fd);
        }
    }
    o->tmp[0] = 0;
    return ST_OK;
}

int outfile_write(const char *path, const void *data, size_t len, status_t *st) {
    outfile o;
    int rc = outfile_open(&o, path, st);
    if (rc) return rc;
    if (len && fwrite(data, 1, len, o.f) != len) o.err = errno; /* the stream keeps the error: commit reports it */
    return outfile_commit(&o, st);
}
