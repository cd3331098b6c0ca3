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

/* Whether the stream's user was a known member of group_id when the
 * stream opened. */
static int in_group(const sp_api_stream_user *u, const char *group_id)
{
    for (size_t i = 0; i < u->group_count; i++) {
        if (strncmp(u->group_ids + i * SP_USER_ID_LEN, group_id, SP_USER_ID_LEN) == 0)
            return 1;
    }
    return 0;
}

/*
 * affecteduserids: the user whose access the event changes, as the data
 * names them: the grantee of a share (granteeUserId), the user whose view
 * of a share changed (userId), the member (grantee). A group grant
 * (granteeGroupId) names the stream's own user when they are in the
 * group, as oCIS's clientlog names the group's members, and nobody
 * otherwise: the same event also reaches the sharer and the space's other
 * members, and the web drops a space or tells "your access has been
 * revoked" when it finds its user in this list. Membership is the
 * stream's, read when it opened (no store lookups while streaming). An
 * e-mail share names nobody yet: empty. Item changes concern no one in
 * particular: null, as oCIS.
 */
static json_t *affected(sp_clientlog_kind kind, json_t *data, const sp_api_stream_user *u)
{
    static const char *const share_keys[] = {"granteeUserId", "userId", NULL};
    static const char *const member_keys[] = {"grantee", NULL};
    if (kind == SP_CLIENTLOG_ITEM)
        return json_null();
    const char *user = first(data, kind == SP_CLIENTLOG_SHARE ? share_keys : member_keys, NULL);
    const char *group = str(data, "granteeGroupId");
    if (!user && group && in_group(u, group))
        user = u->id;
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
                          const sp_api_stream_user *user)
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
    json_t *who = affected(k->clientlog, data, user);
    if (!who)
        return NULL;
    /* Strings always, "" when unknown: ownCloud Web's schema takes a
     * missing member but not a null one. */
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "itemid", item, "parentitemid",
                     parent ? parent : "", "spaceid", space, "initiatorid",
                     e->initiator ? e->initiator : "", "etag", first(data, etag_keys, ""),
                     "affecteduserids", who);
}

int sp_api__clientlog_frame(sp_buf *out, const sp_event *e, const sp_api_stream_user *user)
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
    json_t *fe = file_event(e, k, data, user);
    char *text = fe ? json_dumps(fe, JSON_COMPACT) : NULL;
    json_decref(fe);
    json_decref(data);
    if (!text)
        return SP_ERR_NOMEM;
    int rc = sp_buf_printf(out, "id: %lld\nevent: %s\ndata: %s\n\n", (long long)e->seq, name, text);
    free(text);
    return rc;
}
