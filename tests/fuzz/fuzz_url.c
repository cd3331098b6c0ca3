/* fuzz_url.c - the strict URL parser in front of every outbound connection. */
#include "util/url.h"
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
    sp_url u;
    const char *why = NULL;
    if (sp_url_parse(s, &u, &why) == 0) {
        /* What it accepts must be well-formed. */
        if (!u.scheme[0] || !u.host[0] || u.port < 0 || u.port > 65535 || strchr(u.host, '@'))
            abort();
        (void)sp_url_host_is_loopback(u.host);
    } else if (!why) {
        abort(); /* a refusal always says why */
    }
    free(s);
    return 0;
}
