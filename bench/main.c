/* gpt2-bench: how fast this machine decodes GPT-2, and how close to the roof. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "commands.h"

/* A mapped checkpoint that shrinks while in use raises SIGBUS on the next
 * read of the lost pages: say so in one line instead of dumping core. */
static void on_sigbus(int sig) {
    (void)sig;
    static const char msg[] = "gpt2-bench: bus error reading a mapped file: did the checkpoint change or shrink "
                              "while running? Rerun with the file left alone\n";
    ssize_t w = write(2, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

int main(int argc, char **argv) {
    signal(SIGBUS, on_sigbus);
    status_t st = {0};
    int rc = bench_main(argc, argv, stdout, &st);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "gpt2-bench: writing the output failed\n");
        return 1;
    }
    if (rc) fprintf(stderr, "gpt2-bench: %s\n", st.msg);
    return rc;
}
