/* inbound.c - strict parsing of storage change CloudEvents. */
#include "events/inbound.h"

#include "util/err.h"
#include "util/time.h"

#include <string.h>

/* A required (or optional) bounded, non-empty string member. */
static const char *field(json_t *obj, const char *key, int required, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v || json_is_null(v)) {
        if (required)
            *bad = 1;
        return NULL;
    }
    const char *s = json_string_value(v);
    if (!s || !*s || json_string_length(v) > SP_INBOUND_FIELD_MAX ||
        strlen(s) != json_string_length(v)) {
        *bad = 1;
        return NULL;
    }
    return s;
}

int sp_inbound_parse(const char *data, size_t len, sp_inbound *in, const char **why)
{
    memset(in, 0, sizeof *in);
#define FAIL(reason)                                                                              \
    do {                                                                                          \
        *why = reason;                                                                            \
        sp_inbound_free(in);                                                                      \
        return SP_ERR_INVALID;                                                                    \
    } while (0)
    if (len > SP_INBOUND_MAX)
        FAIL("event larger than 64 KiB");
    in->json = json_loadb(data, len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(in->json))
        FAIL("not a JSON object");
    int bad = 0;
    const char *spec = field(in->json, "specversion", 1, &bad);
    if (bad || strcmp(spec, "1.0") != 0)
        FAIL("specversion must be 1.0");
    const char *type = field(in->json, "type", 1, &bad);
    if (bad || strcmp(type, "spaceport.storage.changed") != 0)
        FAIL("type must be spaceport.storage.changed");
    in->change.event_id = field(in->json, "id", 1, &bad);
    if (bad)
        FAIL("id must be a non-empty string");
    json_t *d = json_object_get(in->json, "data");
    if (!json_is_object(d))
        FAIL("data must be an object");
    in->change.drive_id = field(d, "driveId", 1, &bad);
    in->change.etag = field(d, "eTag", 1, &bad);
    in->change.item_id = field(d, "itemId", 0, &bad);
    in->change.executant = field(d, "executant", 0, &bad);
    const char *change = field(d, "change", 1, &bad);
    const char *mtime = field(d, "lastModifiedDateTime", 1, &bad);
    if (bad)
        FAIL("data needs driveId, eTag, change and lastModifiedDateTime as strings");
    static const char *const changes[] = {"created", "updated", "deleted", "moved"};
    int known = 0;
    for (size_t i = 0; i < 4; i++)
        known |= strcmp(change, changes[i]) == 0;
    if (!known)
        FAIL("data.change must be created, updated, deleted or moved");
    in->change.change = change;
    if (sp_time_parse_rfc3339(mtime, &in->change.mtime_ms) < 0)
        FAIL("data.lastModifiedDateTime must be an RFC 3339 date-time");
    json_t *q = json_object_get(d, "quotaUsed");
    if (q && !json_is_null(q)) {
        if (!json_is_integer(q) || json_integer_value(q) < 0)
            FAIL("data.quotaUsed must be a non-negative integer");
        in->change.has_quota_used = 1;
        in->change.quota_used = json_integer_value(q);
    }
    return 0;
#undef FAIL
}

void sp_inbound_free(sp_inbound *in)
{
    json_decref(in->json);
    memset(in, 0, sizeof *in);
}
