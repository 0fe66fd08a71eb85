/* gpt2-bench: how fast this machine decodes GPT-2, and how close to the roof. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../model/safetensors.h"
#include "commands.h"

static void say(const char *s) {
    ssize_t w = write(2, s, strlen(s));
    (void)w;
}

/* A mapped checkpoint that shrinks while in use raises SIGBUS on the next
 * read of the lost pages: say so in one line, naming the file, instead of
 * dumping core. Only async-signal-safe calls here. */
static void on_sigbus(int sig) {
    (void)sig;
    const char *path = st_last_mapped();
    say("gpt2-bench: bus error reading the mapped file ");
    say(*path ? path : "(none mapped)");
    say(": it changed or shrank while running: rerun with the file left alone\n");
    _exit(1);
}

int main(int argc, char **argv) {
    signal(SIGBUS, on_sigbus);
    status_t st = {0};
    int rc = bench_main(argc, argv, stdout, &st);
    /* output lost on the way (a full disk, a closed pipe) is a failure too */
    errno = 0;
    if ((fflush(stdout) != 0 || ferror(stdout)) && rc == 0) {
        fprintf(stderr, "gpt2-bench: writing to standard output failed (%s): check the disk or the pipe it goes to\n",
                errno ? strerror(errno) : "write error");
        return 1;
    }
    if (rc) fprintf(stderr, "gpt2-bench: %s\n", st.msg);
    return rc;
}
