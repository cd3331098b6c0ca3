/*
 * notices.c - what a webhook subscription is told (see notices.h): which
 * of its owner's events it sees, their changeType, and the drive each
 * names, as the owner knows it.
 */
#include "events/notices.h"

#include "store/catalog.h"
#include "store/delta.h"
#include "store/drives.h"
#include "store/events.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/time.h"

#include <string.h>

/* Notifications per POST: Microsoft Graph batches up to 100 too, and a
 * batch stays well under what a receiver reads in one go (~50 KB). */
#define SP_HOOK_BATCH 100
/* Events of the owner read per turn, skipped ones included (another
 * drive's, a change type not asked for): bounds one turn's work. */
#define SP_HOOK_SCAN 1000

/* Types that change what a drive, or a user's list of drives, is. Others
 * (spaceport.subscription.*, and types added later) are not notified. */
static const char *const SEEN_PREFIXES[] = {"spaceport.space.", "spaceport.share.",
                                            "spaceport.remote."};

/* Types that make a drive appear in the list (created) or leave it
 * (deleted); any other seen type is an update. */
static const char *const CREATED_TYPES[] = {SP_EVENT_SPACE_CREATED, SP_EVENT_SHARE_CREATED,
                                            SP_EVENT_MEMBER_ADDED, SP_EVENT_REMOTE_REGISTERED};
static const char *const DELETED_TYPES[] = {SP_EVENT_SPACE_DELETED,  SP_EVENT_MEMBER_REMOVED,
                                            SP_EVENT_MEMBER_EXPIRED, SP_EVENT_SHARE_DELETED,
                                            SP_EVENT_SHARE_EXPIRED,  SP_EVENT_REMOTE_REMOVED};

static int type_in(const char *type, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(type, list[i]) == 0)
            return 1;
    return 0;
}

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* The changeType bit (SP_SUB_*) of an event of type, 0 when no
 * subscription is told of it. */
static unsigned change_kind(const char *type)
{
    int seen = strcmp(type, SP_EVENT_ITEM_CHANGED) == 0;
    for (size_t i = 0; !seen && i < COUNT_OF(SEEN_PREFIXES); i++)
        seen = strncmp(type, SEEN_PREFIXES[i], strlen(SEEN_PREFIXES[i])) == 0;
    if (!seen)
        return 0;
    if (type_in(type, CREATED_TYPES, COUNT_OF(CREATED_TYPES)))
        return SP_SUB_CREATED;
    if (type_in(type, DELETED_TYPES, COUNT_OF(DELETED_TYPES)))
        return SP_SUB_DELETED;
    return SP_SUB_UPDATED;
}

/*
 * The changeType of an event for sub's owner. A membership's or a share's
 * end (kind "deleted") is seen by every member of the drive, but the
 * drive left only the grantee's list: for anyone else (another member,
 * the sharer, a group's member who may still hold the drive directly)
 * it is an update. A registry that subscribed for a remote space removes
 * the space on "deleted"; losing access through a group ends the
 * subscription by the access check (subscriptionRemoved) instead.
 * data is the event's (may be NULL).
 */
static unsigned change_kind_for(const sp_subscription *sub, const char *type, json_t *data)
{
    unsigned kind = change_kind(type);
    if (kind != SP_SUB_DELETED || strcmp(type, SP_EVENT_SPACE_DELETED) == 0 ||
        strcmp(type, SP_EVENT_REMOTE_REMOVED) == 0)
        return kind;
    const char *grantee = json_string_value(json_object_get(data, "grantee"));
    if (!grantee)
        grantee = json_string_value(json_object_get(data, "granteeUserId"));
    return grantee && strcmp(grantee, sub->owner_id) == 0 ? kind : SP_SUB_UPDATED;
}

static const char *change_name(unsigned kind)
{
    return kind == SP_SUB_CREATED ? "created" : kind == SP_SUB_DELETED ? "deleted" : "updated";
}

/* One batch being read from the log. */
typedef struct batch {
    const sp_subscription *sub;
    const char *watched; /* drives/{id}: the drive its events are about */
    const char *expires; /* subscriptionExpirationDateTime */
    json_t *value;       /* the notifications */
    json_t *unplaced;    /* me/drives: [index, subject] of notifications whose drive
                          * the owner may reach only through mountpoints */
    int count;
    int full;        /* SP_HOOK_BATCH reached: stop reading */
    int64_t through; /* the last event read (sent or skipped) */
} batch;

/* The eTag an event tells (the drive's, or the changed item's), or NULL;
 * borrowed from data. */
static const char *event_etag(json_t *data)
{
    const char *etag = json_string_value(json_object_get(data, "eTag"));
    return etag ? etag : json_string_value(json_object_get(data, "itemETag"));
}

/* The grantee's mountpoint a share event names when sub's owner received
 * the share (to them, or to a group the log counts them in), else NULL:
 * that is the drive in the owner's list, not the sharer's. Borrowed from
 * data. */
static const char *own_mount(const sp_subscription *sub, const sp_event *e, json_t *data)
{
    if (!data || strncmp(e->type, "spaceport.share.", strlen("spaceport.share.")) != 0)
        return NULL;
    const char *mount = json_string_value(json_object_get(data, "mountId"));
    const char *grantee = json_string_value(json_object_get(data, "granteeUserId"));
    int group = json_object_get(data, "granteeGroupId") != NULL;
    if (mount && ((grantee && strcmp(grantee, sub->owner_id) == 0) || (group && e->affected)))
        return mount;
    return NULL;
}

/* Adds e's notification to b (sp_event_fn). */
static int collect(const sp_event *e, void *ctx)
{
    batch *b = ctx;
    const sp_subscription *sub = b->sub;
    b->through = e->seq;
    if (!change_kind(e->type) || (sub->drive_id[0] && strcmp(e->subject, b->watched)))
        return 0; /* skipped: the cursor still passes it */
    json_t *data = json_loads(e->data, 0, NULL);
    unsigned kind = change_kind_for(sub, e->type, data);
    if (!(sub->change_types & kind)) {
        json_decref(data);
        return 0;
    }
    const char *drive;
    if (sub->drive_id[0]) {
        /* A share's mountpoint watches the drive holding the item: of the
         * drive's share events, only its own share's are about it. */
        const char *named = json_string_value(json_object_get(data, "mountId"));
        if (strcmp(sub->drive_id, b->watched) &&
            strncmp(e->type, "spaceport.share.", strlen("spaceport.share.")) == 0 &&
            (!named || strcmp(named, sub->drive_id))) {
            json_decref(data);
            return 0;
        }
        drive = sub->drive_id; /* named as the subscriber knows it */
    } else {
        const char *mount = own_mount(sub, e, data);
        drive = mount ? mount : e->subject;
        if (!mount &&
            json_array_append_new(
                b->unplaced, json_pack("[i,s]", (int)json_array_size(b->value), e->subject)) < 0) {
            json_decref(data);
            return SP_ERR_NOMEM;
        }
    }
    sp_buf resource = {0};
    const char *etag = data ? event_etag(data) : NULL;
    json_t *note = NULL;
    if (sp_buf_printf(&resource, "drives/%s", drive) == 0)
        note = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:{s:s, s:s, s:s, s:s*}}", "id",
                         e->id, "subscriptionId", sub->id, "changeType", change_name(kind),
                         "resource", resource.data, "subscriptionExpirationDateTime", b->expires,
                         "tenantId", "", "sequenceNumber", (json_int_t)e->seq, "resourceData",
                         "@odata.type", "#microsoft.graph.drive", "@odata.id", resource.data, "id",
                         drive, "eTag", etag);
    json_decref(data);
    sp_buf_free(&resource);
    if (note && sub->client_state[0])
        json_object_set_new(note, "clientState", json_string(sub->client_state));
    if (!note || json_array_append_new(b->value, note) < 0)
        return SP_ERR_NOMEM;
    if (++b->count < SP_HOOK_BATCH)
        return 0;
    b->full = 1;
    return SP_ERR_TOO_LARGE; /* stops the read; not an error */
}

static int drive_seen(const sp_drive *d, void *ctx)
{
    (void)d;
    (void)ctx;
    return 0;
}

/* Names note (its resource, @odata.id and id) by drive. */
static int place_at(json_t *note, const char *drive)
{
    sp_buf r = {0};
    if (sp_buf_printf(&r, "drives/%s", drive) < 0)
        return SP_ERR_NOMEM;
    json_t *data = json_object_get(note, "resourceData");
    int rc = json_object_set_new(note, "resource", json_string(r.data)) |
             json_object_set_new(data, "@odata.id", json_string(r.data)) |
             json_object_set_new(data, "id", json_string(drive));
    sp_buf_free(&r);
    return rc ? SP_ERR_NOMEM : 0;
}

/* The notification at index of value, named by the owner's mountpoints. */
typedef struct placing {
    json_t *value;
    size_t index;
    int count;
} placing;

/* Names the notification by one more mountpoint (sp_mount_fn): the first
 * takes it over, each other gets a copy of its own (its id made distinct,
 * since receivers drop repeated ids). */
static int place_mount(const char *mount_id, void *ctx)
{
    placing *p = ctx;
    json_t *note = json_array_get(p->value, p->index);
    if (p->count++ == 0)
        return place_at(note, mount_id);
    json_t *copy = json_deep_copy(note);
    sp_buf id = {0};
    int rc = copy && sp_buf_printf(&id, "%s/%s", json_string_value(json_object_get(note, "id")),
                                   mount_id) == 0
                 ? 0
                 : SP_ERR_NOMEM;
    if (rc == 0 && json_object_set_new(copy, "id", json_string(id.data)) < 0)
        rc = SP_ERR_NOMEM;
    sp_buf_free(&id);
    if (rc == 0)
        rc = place_at(copy, mount_id);
    if (rc < 0) {
        json_decref(copy);
        return rc;
    }
    return json_array_insert_new(p->value, p->index + 1, copy) < 0 ? SP_ERR_NOMEM : 0;
}

/* me/drives: a notification of a drive the owner reaches only through
 * mountpoints (an item changed in a drive shared with them, a space
 * shared with them disabled) is named by those mountpoints, so that every
 * resource is a drive of their own list. Done after the log was read, in
 * reverse, so that copies inserted do not move the notifications still to
 * place. */
static int place(sp_store *st, const sp_subscription *sub, batch *b)
{
    sp_user owner = {.seq = sub->owner_seq};
    const char *listed = NULL; /* the last subject found in the list as it is */
    for (size_t i = json_array_size(b->unplaced); i-- > 0;) {
        json_t *pair = json_array_get(b->unplaced, i);
        const char *subject = json_string_value(json_array_get(pair, 1));
        if (listed && strcmp(listed, subject) == 0)
            continue;
        int rc = sp_store_drive_find(st, &owner, 0, subject, drive_seen, NULL);
        if (rc == 0) {
            listed = subject;
            continue;
        }
        if (rc != SP_ERR_NOT_FOUND)
            return rc;
        placing p = {.value = b->value,
                     .index = (size_t)json_integer_value(json_array_get(pair, 0))};
        rc = sp_store_mounts_received(st, &owner, subject, place_mount, &p);
        if (rc < 0)
            return rc;
        b->count += p.count > 1 ? p.count - 1 : 0;
    }
    return 0;
}

int sp_notices_read(sp_store *st, const sp_subscription *sub, const char *watched, sp_notices *out)
{
    char expires[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(sub->expires_at, expires);
    batch b = {.sub = sub,
               .watched = watched,
               .expires = expires,
               .value = json_array(),
               .unplaced = json_array(),
               .through = sub->cursor};
    if (!b.value || !b.unplaced) {
        json_decref(b.value);
        json_decref(b.unplaced);
        return SP_ERR_NOMEM;
    }
    int rc = sp_store_events_for_user(st, sub->owner_seq, sub->cursor, SP_HOOK_SCAN, collect, &b);
    if (rc == SP_ERR_TOO_LARGE && b.full)
        rc = 0;
    if (rc == 0 && b.count > 0 && json_array_size(b.unplaced) > 0)
        rc = place(st, sub, &b);
    json_decref(b.unplaced);
    if (rc == 0 && b.through == sub->cursor)
        rc = 1; /* nothing after the cursor after all */
    if (rc != 0) {
        json_decref(b.value);
        return rc;
    }
    *out = (sp_notices){.value = b.value, .count = b.count, .through = b.through};
    return 0;
}
