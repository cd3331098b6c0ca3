/* fuzz_event_id.c - Last-Event-ID, and the time parsers of the contract. */
#include "api/query.h"
#include "util/time.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    int64_t v = -1;
    if (sp_query_parse_event_id(s, &v) == 0 && v < 0)
        abort();
    int64_t ms;
    if (sp_time_parse_rfc3339(s, &ms) == 0) {
        char back[SP_TIME_RFC3339_LEN];
        sp_time_format_rfc3339(ms, back);
    }
    (void)sp_time_parse_duration(s, &ms);
    free(s);
    return 0;
}
