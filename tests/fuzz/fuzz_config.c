/* libFuzzer target: config.json text through the config reader. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../model/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    gpt2_config c;
    status_t st;
    if (config_from_json_text(text, "fuzz/config.json", &c, &st) == ST_OK) (void)config_param_count(&c);
    free(text);
    return 0;
}
