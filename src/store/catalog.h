/*
 * catalog.h - the one catalog of event types: each type's data schema,
 * its name on each Server-Sent Events path and the oCIS clientlog payload
 * it makes.
 *
 * The table is schema/events/catalog.json, turned into C at build time
 * (schema/events/catalog.py): event_catalog.c holds sp_event_catalog[],
 * event_types.h the SP_EVENT_* names the store writes events with. The web
 * page's list of event names is generated from the same file, so a new
 * type is one line of JSON and its schema.
 */
#ifndef SP_STORE_CATALOG_H
#define SP_STORE_CATALOG_H

#include "event_types.h"

#include <stddef.h>

/* Which oCIS clientlog payload a type makes (api/clientlog.c builds it). */
typedef enum sp_clientlog_kind {
    SP_CLIENTLOG_NONE,   /* not sent on oCIS's path */
    SP_CLIENTLOG_SHARE,  /* the shared item; affected: the grantee */
    SP_CLIENTLOG_MEMBER, /* the space's root item; affected: the member */
    SP_CLIENTLOG_ITEM,   /* the changed item (or the space's root) */
} sp_clientlog_kind;

/* An oCIS name chosen by the data's "change". */
typedef struct sp_event_name_by_change {
    const char *change, *name;
} sp_event_name_by_change;

/* One type of the catalog; every string static. */
typedef struct sp_event_kind {
    const char *type;         /* spaceport.share.created, ... */
    const char *schema;       /* its data schema, a file of schema/events */
    const char *changes_name; /* its SSE name on /api/v1/changes */
    const char *ocis_name;    /* on oCIS's path; NULL: none, or by change */
    /* The oCIS names by change ({NULL, NULL}-ended), or NULL. */
    const sp_event_name_by_change *ocis_by_change;
    sp_clientlog_kind clientlog;
} sp_event_kind;

extern const sp_event_kind sp_event_catalog[];
extern const size_t sp_event_catalog_count;

/* The catalog's entry of type (static), or NULL for a type it does not
 * know (rows written by a newer version). */
const sp_event_kind *sp_event_kind_find(const char *type);

/* The type's name on oCIS's path for an event whose data says change (may
 * be NULL), or NULL when it is not sent there. k may be NULL. */
const char *sp_event_kind_ocis_name(const sp_event_kind *k, const char *change);

#endif
