/* gpt2-weights: make, inspect, convert and fetch GPT-2 checkpoints
 * (weights_tool.h; the commands run in-process in the tests). */
#include <stdio.h>

#include "weights_tool.h"

int main(int argc, char **argv) {
    status_t st = {0};
    int rc = weights_main(argc, argv, stdout, &st);
    if (fflush(stdout) != 0 && rc == 0) {
        fprintf(stderr, "gpt2-weights: writing the output failed\n");
        return 1;
    }
    if (rc) fprintf(stderr, "gpt2-weights: %s\n", st.msg);
    return rc;
}
