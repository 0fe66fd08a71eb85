/* gpt2-weights fetch: a published GPT-2 checkpoint (config.json,
 * model.safetensors) into a folder.
 *
 * Source: https://huggingface.co/NAME/resolve/main/FILE, or a mirror named
 * by GPT2_FETCH_URL=BASE, read as BASE/NAME/FILE, BASE being file:///DIR or
 * http://HOST[:PORT][/PREFIX] (plain HTTP, e.g. a loopback server in
 * tests). Each file downloads to DIR/.FILE.part and is renamed when whole;
 * a later run resumes a .part (HTTP Range, or an offset into a file://
 * source). Checksum: when the source has FILE.sha256 (hex digest first),
 * the download is checked against it and refused on a mismatch; otherwise
 * the digest is printed, unverified. https goes through the curl program
 * (no TLS library is linked), after a 3-second reachability probe of the
 * host, so a machine without network fails in about 3 s with one line. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "weights_tool.h"

extern char **environ;

static const char *USAGE =
    "usage: gpt2-weights fetch NAME --out DIR [--force]\n"
    "  NAME: gpt2, gpt2-medium, gpt2-large, gpt2-xl. Downloads config.json and model.safetensors\n"
    "  from huggingface.co (through curl), or from GPT2_FETCH_URL=file:///DIR or http://HOST:PORT\n"
    "  (files at BASE/NAME/FILE). Partial downloads (DIR/.FILE.part) are resumed; a FILE.sha256\n"
    "  at the source is checked. DIR may exist (to resume) but not hold the files unless --force.\n"
    "  Without network it stops after a 3 s connection attempt (exit 1).\n";

#define CONNECT_TIMEOUT_MS 3000
#define RECV_TIMEOUT_S 30
#define WT_NOT_FOUND 3 /* internal: the source has no such file */

/* ---- timed name resolution and connection -------------------------------- */

typedef struct {
    char host[256], port[16];
    struct addrinfo *res;
    int err, done, refs;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} resolve_job;

static void job_release(resolve_job *j) {
    pthread_mutex_lock(&j->mu);
    int last = --j->refs == 0;
    pthread_mutex_unlock(&j->mu);
    if (last) {
        if (j->res) freeaddrinfo(j->res);
        pthread_mutex_destroy(&j->mu);
        pthread_cond_destroy(&j->cv);
        free(j);
    }
}

static void *resolve_thread(void *arg) {
    resolve_job *j = arg;
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int err = getaddrinfo(j->host, j->port, &hints, &res);
    pthread_mutex_lock(&j->mu);
    j->res = res;
    j->err = err;
    j->done = 1;
    pthread_cond_signal(&j->cv);
    pthread_mutex_unlock(&j->mu);
    job_release(j);
    return NULL;
}

/* A connected socket to host:port within timeout_ms, or -1 with why. */
static int connect_timed(const char *host, const char *port, int timeout_ms, char *why, size_t wlen) {
    resolve_job *j = calloc(1, sizeof *j);
    if (!j) { snprintf(why, wlen, "out of memory"); return -1; }
    snprintf(j->host, sizeof j->host, "%s", host);
    snprintf(j->port, sizeof j->port, "%s", port);
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 2;
    pthread_t th;
    if (pthread_create(&th, NULL, resolve_thread, j) != 0) {
        snprintf(why, wlen, "cannot start a thread");
        j->refs = 1;
        job_release(j);
        return -1;
    }
    pthread_detach(th);
    struct timespec dl;
    clock_gettime(CLOCK_REALTIME, &dl);
    dl.tv_sec += timeout_ms / 1000;
    dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) { dl.tv_sec++; dl.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&j->mu);
    while (!j->done)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &dl) == ETIMEDOUT) break;
    const int done = j->done, err = j->err;
    struct addrinfo *res = j->res;
    j->res = NULL; /* ours now, when done */
    pthread_mutex_unlock(&j->mu);
    if (!done) {
        snprintf(why, wlen, "name lookup took over %d s", timeout_ms / 1000);
        job_release(j);
        return -1;
    }
    job_release(j);
    if (err) {
        snprintf(why, wlen, "name lookup failed: %s", gai_strerror(err));
        return -1;
    }
    int fd = -1;
    snprintf(why, wlen, "no address");
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        int fl = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        int r = connect(fd, a->ai_addr, a->ai_addrlen);
        if (r != 0 && errno == EINPROGRESS) {
            struct pollfd p = {fd, POLLOUT, 0};
            r = poll(&p, 1, timeout_ms);
            if (r == 1) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
                r = e ? -1 : 0;
                if (e) errno = e;
            } else {
                if (r == 0) errno = ETIMEDOUT;
                r = -1;
            }
        }
        if (r != 0) {
            snprintf(why, wlen, "connect: %s", errno == ETIMEDOUT ? "no answer within 3 s" : strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        fcntl(fd, F_SETFL, fl);
        struct timeval tv = {RECV_TIMEOUT_S, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    freeaddrinfo(res);
    return fd;
}

/* ---- progress ------------------------------------------------------------ */

static void progress(const char *name, uint64_t got, uint64_t total, int final) {
    if (!isatty(2)) return;
    if (total)
        fprintf(stderr, "\r  %s: %.1f / %.1f MB (%.0f%%)%s", name, got / 1e6, total / 1e6, 100.0 * got / total,
                final ? "\n" : "");
    else
        fprintf(stderr, "\r  %s: %.1f MB%s", name, got / 1e6, final ? "\n" : "");
}

/* ---- sources --------------------------------------------------------------- */

static uint64_t file_size(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 ? (uint64_t)sb.st_size : 0;
}

/* file:// source: copies src into part, resuming from part's size. */
static int get_file(const char *src, const char *part, const char *name, status_t *st) {
    FILE *in = fopen(src, "rb");
    if (!in) {
        if (errno == ENOENT) return WT_NOT_FOUND;
        return status_fail(st, ST_RUNTIME, "fetch: cannot open source %s (%s)", src, strerror(errno));
    }
    const uint64_t total = file_size(src);
    uint64_t off = file_size(part);
    if (off > total) off = 0;
    FILE *o = fopen(part, off ? "ab" : "wb");
    if (!o) {
        fclose(in);
        return status_fail(st, ST_RUNTIME, "fetch: cannot write %s (%s)", part, strerror(errno));
    }
    if (off && fseeko(in, (off_t)off, SEEK_SET) != 0) off = 0;
    char *buf = malloc(1 << 22);
    int rc = buf ? ST_OK : status_fail(st, ST_RUNTIME, "out of memory");
    uint64_t got = off;
    size_t n;
    while (!rc && (n = fread(buf, 1, 1 << 22, in)) > 0) {
        if (fwrite(buf, 1, n, o) != n) rc = status_fail(st, ST_RUNTIME, "fetch: writing %s failed (%s)", part, strerror(errno));
        got += n;
        progress(name, got, total, 0);
    }
    if (!rc && ferror(in)) rc = status_fail(st, ST_RUNTIME, "fetch: reading %s failed", src);
    if (fclose(o) != 0 && !rc) rc = status_fail(st, ST_RUNTIME, "fetch: writing %s failed (%s)", part, strerror(errno));
    fclose(in);
    free(buf);
    if (!rc) progress(name, got, total, 1);
    return rc;
}

/* http://host[:port]/path: GET into part, with a Range from part's size. */
static int get_http(const char *url, const char *part, const char *name, status_t *st) {
    const char *h = url + 7;
    const char *slash = strchr(h, '/');
    char hostport[300], host[300], port[16] = "80";
    snprintf(hostport, sizeof hostport, "%.*s", (int)(slash ? slash - h : (long)strlen(h)), h);
    const char *path = slash ? slash : "/";
    char *colon = strrchr(hostport, ':');
    if (colon) {
        snprintf(port, sizeof port, "%s", colon + 1);
        *colon = 0;
    }
    snprintf(host, sizeof host, "%s", hostport);
    char why[256];
    int fd = connect_timed(host, port, CONNECT_TIMEOUT_MS, why, sizeof why);
    if (fd < 0)
        return status_fail(st, ST_RUNTIME, "fetch: cannot reach %s:%s (%s): check GPT2_FETCH_URL and the network",
                           host, port, why);
    uint64_t off = file_size(part);
    char req[2048];
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: gpt2-weights\r\nRange: bytes=%llu-\r\n"
                      "Connection: close\r\n\r\n", path, hostport, (unsigned long long)off);
    if (send(fd, req, (size_t)rl, MSG_NOSIGNAL) != rl) {
        close(fd);
        return status_fail(st, ST_RUNTIME, "fetch: sending the request to %s failed (%s)", host, strerror(errno));
    }
    /* headers */
    char hdr[65536];
    size_t hl = 0;
    char *body = NULL;
    while (hl < sizeof hdr - 1) {
        ssize_t r = recv(fd, hdr + hl, sizeof hdr - 1 - hl, 0);
        if (r <= 0) break;
        hl += (size_t)r;
        hdr[hl] = 0;
        if ((body = strstr(hdr, "\r\n\r\n"))) break;
    }
    if (!body) {
        close(fd);
        return status_fail(st, ST_RUNTIME, "fetch: %s sent no complete HTTP response (%s)", url,
                           hl ? "headers too long or cut" : strerror(errno));
    }
    *body = 0;
    body += 4;
    int code = 0;
    sscanf(hdr, "HTTP/%*s %d", &code);
    long long clen = -1;
    for (char *p = hdr; p && *p; p = strstr(p, "\r\n") ? strstr(p, "\r\n") + 2 : NULL)
        if (strncasecmp(p, "Content-Length:", 15) == 0) clen = atoll(p + 15);
    if (code == 404) {
        close(fd);
        return WT_NOT_FOUND;
    }
    if (code == 416 && off) { /* nothing past the end: the part is whole */
        close(fd);
        return ST_OK;
    }
    if (code != 200 && code != 206) {
        close(fd);
        return status_fail(st, ST_RUNTIME, "fetch: %s answered HTTP %d", url, code);
    }
    if (code == 200) off = 0; /* the whole file, from the start */
    FILE *o = fopen(part, off ? "ab" : "wb");
    if (!o) {
        close(fd);
        return status_fail(st, ST_RUNTIME, "fetch: cannot write %s (%s)", part, strerror(errno));
    }
    const uint64_t total = clen >= 0 ? off + (uint64_t)clen : 0;
    uint64_t got = 0;
    size_t first = hl - (size_t)(body - hdr);
    int rc = ST_OK;
    if (first && fwrite(body, 1, first, o) != first) rc = status_fail(st, ST_RUNTIME, "fetch: writing %s failed", part);
    got += first;
    char *buf = malloc(1 << 20);
    if (!buf && !rc) rc = status_fail(st, ST_RUNTIME, "out of memory");
    while (!rc) {
        ssize_t r = recv(fd, buf, 1 << 20, 0);
        if (r == 0) break;
        if (r < 0) {
            if (errno == EINTR) continue;
            rc = status_fail(st, ST_RUNTIME, "fetch: the download of %s stopped (%s): run fetch again to resume", url,
                             strerror(errno));
            break;
        }
        if (fwrite(buf, 1, (size_t)r, o) != (size_t)r) rc = status_fail(st, ST_RUNTIME, "fetch: writing %s failed", part);
        got += (size_t)r;
        progress(name, off + got, total, 0);
    }
    free(buf);
    close(fd);
    if (fclose(o) != 0 && !rc) rc = status_fail(st, ST_RUNTIME, "fetch: writing %s failed (%s)", part, strerror(errno));
    if (!rc && clen >= 0 && got != (uint64_t)clen)
        rc = status_fail(st, ST_RUNTIME, "fetch: %s ended after %llu of %lld bytes: run fetch again to resume", url,
                         (unsigned long long)got, clen);
    if (!rc) progress(name, off + got, total, 1);
    return rc;
}

/* https: through curl, resuming with -C -. */
static int get_https(const char *url, const char *part, int quiet, status_t *st) {
    char *args[] = {"curl", "-fL", "--connect-timeout", "10", "--retry", "3", "-C", "-", quiet ? "-sS" : "-#",
                    "-o", (char *)part, (char *)url, NULL};
    pid_t pid;
    int e = posix_spawnp(&pid, "curl", NULL, NULL, args, environ);
    if (e)
        return status_fail(st, ST_RUNTIME, "fetch: https needs the curl program (%s): install curl, or set "
                           "GPT2_FETCH_URL to a file:// or http:// mirror", strerror(e));
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status) && WEXITSTATUS(status) == 22) return WT_NOT_FOUND;
        return status_fail(st, ST_RUNTIME, "fetch: curl failed on %s (exit %d): run fetch again to resume", url,
                           WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    }
    return ST_OK;
}

/* Downloads url into part (resuming). */
static int get_url(const char *url, const char *part, const char *name, int quiet, status_t *st) {
    if (strncmp(url, "file://", 7) == 0) return get_file(url + 7, part, name, st);
    if (strncmp(url, "http://", 7) == 0) return get_http(url, part, name, st);
    if (strncmp(url, "https://", 8) == 0) return get_https(url, part, quiet, st);
    return status_fail(st, ST_BAD_INPUT, "fetch: source %s: file://, http:// or https:// expected (GPT2_FETCH_URL)", url);
}

static int sha256_file(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    wt_sha256 s;
    wt_sha256_init(&s);
    char *buf = malloc(1 << 20);
    size_t n;
    while (buf && (n = fread(buf, 1, 1 << 20, f)) > 0) wt_sha256_update(&s, buf, n);
    int bad = !buf || ferror(f);
    fclose(f);
    free(buf);
    if (bad) return -1;
    wt_sha256_hex(&s, hex);
    return 0;
}

/* One file: download, check, rename. note: what was done, for the summary. */
static int fetch_one(const char *base, const char *model, const char *dir, const char *fname, char *note,
                     size_t nlen, status_t *st) {
    char url[1400], part[1200], final[1200], surl[1410], spart[1200];
    const int hf = strncmp(base, "https://huggingface.co", 22) == 0;
    snprintf(url, sizeof url, hf ? "%s/%s/resolve/main/%s" : "%s/%s/%s", base, model, fname);
    snprintf(part, sizeof part, "%s/.%s.part", dir, fname);
    snprintf(final, sizeof final, "%s/%s", dir, fname);
    int rc = get_url(url, part, fname, 0, st);
    if (rc == WT_NOT_FOUND) return status_fail(st, ST_RUNTIME, "fetch: the source has no %s", url);
    if (rc) return rc;
    char hex[65];
    if (sha256_file(part, hex) != 0) return status_fail(st, ST_RUNTIME, "fetch: cannot read back %s", part);
    /* a published checksum, when the source has one */
    snprintf(surl, sizeof surl, "%s.sha256", url);
    snprintf(spart, sizeof spart, "%s/.%s.sha256.part", dir, fname);
    unlink(spart);
    status_t sst = {0};
    int src = hf ? WT_NOT_FOUND : get_url(surl, spart, "checksum", 1, &sst);
    const char *verdict = "not verified: the source publishes no checksum";
    if (src == ST_OK) {
        char want[80] = "";
        FILE *f = fopen(spart, "rb");
        if (f) {
            if (fscanf(f, "%79s", want) != 1) want[0] = 0;
            fclose(f);
        }
        unlink(spart);
        for (char *p = want; *p; p++) *p = (char)(*p >= 'A' && *p <= 'F' ? *p - 'A' + 'a' : *p);
        if (strcmp(want, hex) != 0) {
            unlink(part);
            return status_fail(st, ST_RUNTIME, "fetch: %s has sha256 %s but the source says %.64s: the download was "
                               "damaged and is removed; run fetch again", fname, hex, want);
        }
        verdict = "verified";
    } else {
        unlink(spart);
        if (src != WT_NOT_FOUND) {
            *st = sst;
            return src;
        }
    }
    if (rename(part, final) != 0)
        return status_fail(st, ST_RUNTIME, "fetch: cannot rename %s to %s (%s)", part, final, strerror(errno));
    snprintf(note, nlen, "%s (%llu bytes, sha256 %.16s... %s)", fname, (unsigned long long)file_size(final), hex,
             verdict);
    return ST_OK;
}

int wt_cmd_fetch(int argc, char **argv, FILE *out, status_t *st) {
    wt_flag fl[] = {{"--out", 1, 0}, {"--force", 0, 0}, {"--help", 0, 0}};
    const int nf = sizeof fl / sizeof fl[0];
    const char *pos[1];
    int npos, rc = wt_parse(argc, argv, fl, nf, pos, 1, &npos, "fetch", st);
    if (rc) return rc;
    if (wt_get(fl, nf, "--help")) {
        fputs(USAGE, out);
        return ST_OK;
    }
    if (npos != 1) return status_fail(st, ST_BAD_INPUT, "fetch: give NAME: gpt2, gpt2-medium, gpt2-large or gpt2-xl");
    const char *model = pos[0];
    gpt2_config c;
    if (config_by_name(model, &c, st))
        return status_fail(st, ST_BAD_INPUT, "fetch: unknown model '%s': gpt2, gpt2-medium, gpt2-large or gpt2-xl", model);
    const char *dir = wt_get(fl, nf, "--out");
    if (!dir) return status_fail(st, ST_BAD_INPUT, "fetch: --out DIR is required (the folder to download into)");
    const int force = wt_get(fl, nf, "--force") != NULL;
    /* the folder may exist (to resume) but not hold a finished download */
    int created = 0;
    struct stat sb;
    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return status_fail(st, ST_BAD_INPUT, "fetch: --out %s exists and is not a folder", dir);
        char b[1200];
        snprintf(b, sizeof b, "%s/model.safetensors", dir);
        if (!force && stat(b, &sb) == 0)
            return status_fail(st, ST_BAD_INPUT, "fetch: --out %s already holds a checkpoint: give --force to "
                               "overwrite it, or a new folder", dir);
    } else if ((rc = wt_prepare_out(dir, 0, &created, "fetch", st))) {
        return rc;
    }
    const char *env = getenv("GPT2_FETCH_URL");
    char base[1024];
    snprintf(base, sizeof base, "%s", env && *env ? env : "https://huggingface.co");
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/' && !(bl >= 3 && strcmp(base + bl - 3, "://") == 0)) base[--bl] = 0;
    if (strncmp(base, "https://", 8) == 0) { /* probe first: fail fast without network */
        char host[256], why[256];
        const char *h = base + 8, *sl = strchr(h, '/');
        snprintf(host, sizeof host, "%.*s", (int)(sl ? sl - h : (long)strlen(h)), h);
        int fd = connect_timed(host, "443", CONNECT_TIMEOUT_MS, why, sizeof why);
        if (fd < 0) {
            wt_cleanup_out(dir, created);
            return status_fail(st, ST_RUNTIME, "fetch: cannot reach %s:443 (%s): no network here? Copy a checkpoint "
                               "folder to this machine instead, or set GPT2_FETCH_URL to a file:// or http:// mirror",
                               host, why);
        }
        close(fd);
    }
    char n1[300] = "", n2[300] = "";
    rc = fetch_one(base, model, dir, "config.json", n1, sizeof n1, st);
    if (!rc) rc = fetch_one(base, model, dir, "model.safetensors", n2, sizeof n2, st);
    if (rc) {
        wt_cleanup_out(dir, created);
        return rc;
    }
    fprintf(out, "fetched %s into %s: %s; %s\n", model, dir, n1, n2);
    return ST_OK;
}
