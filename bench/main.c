/* gpt2-bench: how fast this machine decodes GPT-2, and how close to the roof. */
#include <stdio.h>

#include "commands.h"

int main(int argc, char **argv) {
    status_t st = {0};
    int rc = bench_main(argc, argv, stdout, &st);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "gpt2-bench: writing the output failed\n");
        return 1;
    }
    if (rc) fprintf(stderr, "gpt2-bench: %s\n", st.msg);
    return rc;
}
