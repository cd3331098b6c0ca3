/* catalog.c - looking up the event catalog (the table is generated). */
#include "store/catalog.h"

#include <string.h>

const sp_event_kind *sp_event_kind_find(const char *type)
{
    for (size_t i = 0; type && i < sp_event_catalog_count; i++) {
        if (strcmp(sp_event_catalog[i].type, type) == 0)
            return &sp_event_catalog[i];
    }
    return NULL;
}

const char *sp_event_kind_ocis_name(const sp_event_kind *k, const char *change)
{
    if (!k || k->ocis_name || !k->ocis_by_change)
        return k ? k->ocis_name : NULL;
    for (const sp_event_name_by_change *c = k->ocis_by_change; c->change && change; c++) {
        if (strcmp(c->change, change) == 0)
            return c->name;
    }
    return NULL;
}
