/*
 * clientlog.c - events as oCIS's clientlog service sends them to its sse
 * service: the name the catalog gives a type on oCIS's path, and a
 * FileEvent payload {itemid, parentitemid, spaceid, initiatorid, etag,
 * affecteduserids}, the shape ownCloud Web and OpenCloud Web check their
 * events against.
 *
 * The payload is made from the event's own data and its stored
 * Initiator-ID only: a stream never asks the store about items or
 * members while it writes, so a replay says what was true when the event
 * was written, and a burst of events costs no queries.
 */
#include "api/internal.h"

#include "store/catalog.h"

#include "util/err.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* The string member key of data, or NULL. */
static const char *str(json_t *data, const char *key)
{
    return json_string_value(json_object_get(data, key));
}

/* The first of keys that data holds as a string, or fallback. */
static const char *first(json_t *data, const char *const *keys, const char *fallback)
{
    for (; *keys; keys++) {
        const char *v = str(data, *keys);
        if (v)
            return v;
    }
    return fallback;
}

/*
 * affecteduserids: the user whose access the event changes, as the data
 * names them: the grantee of a share (granteeUserId), the user whose view
 * of a share changed (userId), the member (grantee). A group grant
 * (granteeGroupId) names the stream's own user when they were a known
 * member of the group when it was written (e->affected, recorded with
 * the recipients), as oCIS's clientlog names the group's members; the
 * drive's other members, the sharer and the actor are told with an empty
 * list (the web drops a space or a share when it finds its user here:
 * a Manager who removes a group keeps the space). An
 * e-mail share names nobody yet: empty. Item changes concern no one in
 * particular: null, as oCIS.
 */
static json_t *affected(sp_clientlog_kind kind, const sp_event *e, json_t *data,
                        const char *user_id)
{
    static const char *const share_keys[] = {"granteeUserId", "userId", NULL};
    static const char *const member_keys[] = {"grantee", NULL};
    if (kind == SP_CLIENTLOG_ITEM)
        return json_null();
    const char *user = first(data, kind == SP_CLIENTLOG_SHARE ? share_keys : member_keys, NULL);
    if (!user && str(data, "granteeGroupId") && e->affected)
        user = user_id;
    json_t *list = json_array();
    if (list && user && json_array_append_new(list, json_string(user)) < 0) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* The FileEvent of an event whose data is data (borrowed): a new
 * reference, or NULL when out of memory. */
static json_t *file_event(const sp_event *e, const sp_event_kind *k, json_t *data,
                          const char *user_id)
{
    static const char *const etag_keys[] = {"itemETag", "eTag", NULL};
    const char *space = str(data, "driveId");
    if (!space)
        space = e->subject;
    /* A space's root item id is the space's id: member events are about
     * the root (the web then reads the space again by this id). */
    const char *item = k->clientlog == SP_CLIENTLOG_MEMBER ? space : str(data, "itemId");
    if (!item)
        item = space;
    const char *parent = str(data, "parentItemId");
    json_t *who = affected(k->clientlog, e, data, user_id);
    if (!who)
        return NULL;
    /* Strings always, "" when unknown: ownCloud Web's schema takes a
     * missing member but not a null one. */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "itemid", item, "parentitemid",
                     parent ? parent : "", "spaceid", space, "initiatorid",
                     e->initiator ? e->initiator : "", "etag", first(data, etag_keys, ""),
                     "affecteduserids", who);
}

int sp_api__clientlog_frame(sp_buf *out, const sp_event *e, const char *user_id)
{
    const sp_event_kind *k = sp_event_kind_find(e->type);
    if (!k || k->clientlog == SP_CLIENTLOG_NONE)
        return 0;
    json_t *data = json_loads(e->data, JSON_REJECT_DUPLICATES, NULL);
    const char *change = str(data, "change");
    const char *name = sp_event_kind_ocis_name(k, change);
    /* A storage change that names no item (or the root) says only that
     * the drive changed: as item-trashed or item-moved of the root, the
     * web would tell a user at the space's root that the folder they are
     * in was removed, or drop it from its list. oCIS never trashes or
     * moves a root: nothing is sent. */
    const char *item = str(data, "itemId");
    if (k->clientlog == SP_CLIENTLOG_ITEM && change &&
        (strcmp(change, "deleted") == 0 || strcmp(change, "moved") == 0) &&
        (!item || !str(data, "driveId") || strcmp(item, str(data, "driveId")) == 0))
        name = NULL;
    if (!json_is_object(data) || !name) { /* not for this path, or a row it cannot read */
        json_decref(data);
        return 0;
    }
    json_t *fe = file_event(e, k, data, user_id);
    char *text = fe ? json_dumps(fe, JSON_COMPACT) : NULL;
    json_decref(fe);
    json_decref(data);
    if (!text)
        return SP_ERR_NOMEM;
    int rc = sp_buf_printf(out, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)e->seq, name, text);
    free(text);
    return rc;
}
