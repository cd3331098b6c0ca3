/* fuzz_inbound.c - storage providers' change CloudEvents from the bus. */
#include "events/inbound.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_inbound in;
    const char *why = NULL;
    if (sp_inbound_parse((const char *)data, size, &in, &why) == 0) {
        /* Everything the store will bind must be there. */
        if (!in.change.event_id || !in.change.drive_id || !in.change.etag || !in.change.change)
            abort();
        sp_inbound_free(&in);
    } else if (!why) {
        abort();
    }
    return 0;
}
