/* fuzz_router.c - the route table of the whole API against arbitrary
 * methods and paths ("METHOD /path" per input). */
#include "api/api.h"
#include "http/router.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sp_router *routes(void)
{
    static sp_router *r;
    static sp_api api; /* handlers never run here: only their table */
    if (!r) {
        r = sp_router_new();
        if (!r || sp_api_register(r, &api) < 0)
            abort();
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    char *path = strchr(s, ' ');
    if (path)
        *path++ = '\0';
    sp_route_match m;
    int rc = sp_router_match(routes(), s, path ? path : "/", &m);
    if (rc == 0) {
        if (m.route < 0 || !m.handler)
            abort();
        for (size_t i = 0; i < m.param_count; i++) {
            if (!m.params[i].value || !m.params[i].value[0] || strchr(m.params[i].value, '/'))
                abort();
        }
    }
    sp_route_match_free(&m);
    free(s);
    return 0;
}
