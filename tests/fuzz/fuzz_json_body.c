/* fuzz_json_body.c - request bodies: the parser and limits every route's
 * body goes through before its fields are read. */
#include "api/internal.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int seeded;
    if (!seeded) {
        json_object_seed(1); /* deterministic hashing for reproducible runs */
        seeded = 1;
    }
    char why[300];
    json_t *v = sp_api__json_parse((const char *)data, size, why, sizeof why);
    if (v) {
        if (!json_is_object(v))
            abort();
        json_decref(v);
    }
    return 0;
}
