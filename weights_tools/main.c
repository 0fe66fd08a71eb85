/* gpt2-weights: make, inspect and convert GPT-2 checkpoints. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        puts("usage: gpt2-weights init|inspect|convert ...");
        return 0;
    }
    fprintf(stderr, "gpt2-weights: no subcommands are built yet (issue 6): use gpt2-bench info to read a checkpoint\n");
    return 2;
}
