/*
 * items.c - items as storage providers described them: written with the
 * storage change that reported them, read by share listings and event
 * data, bounded by how many unshared items are kept.
 */
#include "store/items.h"

#include "store/internal.h"

#include "util/err.h"

#include <string.h>

/* Columns of an item read, in sp_item order. */
#define ITEM_COLS                                                                                 \
    "d.id, i.id, i.parent_id, i.name, i.path, i.folder, i.size, i.etag, i.mtime, i.mime_type"

static const char SQL_GET[] = "SELECT " ITEM_COLS " FROM items i JOIN drives d"
                              " ON d.seq = i.drive_seq WHERE d.id = ?1 AND i.id = ?2";
/* A report replaces the row, so that its seq says it is the newest:
 * SQLite gives the new row the next rowid, PostgreSQL the identity's next
 * value. */
#define ITEM_PUT                                                                                  \
    " INTO items (drive_seq, id, parent_id, name, path, folder, size, etag, mtime, mime_type)"    \
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
static const char *const SQL_PUT[2] = {
    "INSERT OR REPLACE" ITEM_PUT,
    "INSERT" ITEM_PUT " ON CONFLICT (drive_seq, id) DO UPDATE SET"
    " seq = nextval(pg_get_serial_sequence('items', 'seq')), parent_id = excluded.parent_id,"
    " name = excluded.name, path = excluded.path, folder = excluded.folder, size = excluded.size,"
    " etag = excluded.etag, mtime = excluded.mtime, mime_type = excluded.mime_type",
};
static const char SQL_REMOVE[] = "DELETE FROM items WHERE drive_seq = ? AND id = ?";
static const char SQL_COUNT[] = "SELECT count(*) FROM items";
/* Unshared items beyond the newest ?1 (a share of any state keeps its
 * item: its listings and events name it). */
static const char SQL_PRUNE[] =
    "DELETE FROM items WHERE seq IN (SELECT i.seq FROM items i WHERE NOT EXISTS"
    " (SELECT 1 FROM shares s WHERE s.drive_seq = i.drive_seq AND s.item_id = i.id)"
    " ORDER BY i.seq DESC LIMIT " SP_SQL_NO_LIMIT " OFFSET ?1)";

void sp_store__read_item(sp_db_stmt *q, int col, sp_item *it)
{
#define T(i) (sp_db_column_text(q, col + (i)))
    memset(it, 0, sizeof *it);
    it->drive_id = T(0);
    it->id = T(1);
    it->parent_id = T(2);
    it->name = T(3);
    it->path = T(4);
    it->folder = sp_db_column_int64(q, col + 5);
    it->size = sp_db_column_int64(q, col + 6);
    it->etag = T(7);
    it->mtime_ms = sp_db_column_int64(q, col + 8);
    it->mime_type = T(9);
#undef T
}

/* Runs SQL_GET on c; calls fn or returns SP_ERR_NOT_FOUND. */
static int get_on(sp_conn *c, const char *drive_id, const char *item_id, sp_item_fn fn,
                  void *ctx)
{
    sp_db_stmt *q = sp_store__stmt(c, SQL_GET);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_text(q, 1, drive_id);
    sp_db_bind_text(q, 2, item_id);
    int step = sp_db_step(q), rc;
    if (step == SP_DB_ROW) {
        sp_item it;
        sp_store__read_item(q, 0, &it);
        rc = fn(&it, ctx);
    } else {
        rc = step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(c, step, "get item");
    }
    sp_store__done(q);
    return rc;
}

int sp_store_item_get(sp_store *st, const char *drive_id, const char *item_id, sp_item_fn fn,
                      void *ctx)
{
    sp_conn *c = sp_store__conn(st);
    return c ? get_on(c, drive_id, item_id, fn, ctx) : SP_ERR_DB;
}

const char *sp_item_fallback_name(const char *item_id, const char *stored)
{
    const char *bang = strchr(item_id, '!');
    if (stored && *stored && strcmp(stored, item_id) != 0)
        return stored;
    return bang && bang[1] ? bang + 1 : item_id;
}

void sp_store_items_limit(sp_store *st, int64_t max)
{
    st->items_max = max < 0 ? 0 : max;
    st->items_pruned_at = 0;
}

/* Records one description (or removal) of an item of drive_seq. */
static int put(sp_conn *w, int64_t drive_seq, const sp_item *it)
{
    sp_db_stmt *q = sp_store__stmt(w, it->removed ? SQL_REMOVE : SP_SQL(w, SQL_PUT));
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, drive_seq);
    sp_db_bind_text(q, 2, it->id);
    if (!it->removed) {
        if (it->parent_id)
            sp_db_bind_text(q, 3, it->parent_id);
        sp_db_bind_text(q, 4, it->name);
        sp_db_bind_text(q, 5, it->path);
        sp_db_bind_int64(q, 6, it->folder);
        sp_db_bind_int64(q, 7, it->size);
        sp_db_bind_text(q, 8, it->etag);
        sp_db_bind_int64(q, 9, it->mtime_ms);
        if (it->mime_type)
            sp_db_bind_text(q, 10, it->mime_type);
    }
    return sp_store__step_done(w, q, it->removed ? "remove item" : "record item");
}

int sp_store__items_apply(sp_conn *w, sp_store *st, int64_t drive_seq, const sp_item *items,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc = put(w, drive_seq, &items[i]);
        if (rc < 0)
            return rc;
    }
    if (n == 0)
        return 0;
    /* Counting is cheap next to the pruning query's scan: prune only
     * when the table holds more than the bound at all. */
    sp_db_stmt *q = sp_store__stmt(w, SQL_COUNT);
    if (!q)
        return SP_ERR_DB;
    int step = sp_db_step(q);
    int64_t total = step == SP_DB_ROW ? sp_db_column_int64(q, 0) : 0;
    sp_store__done(q);
    if (step != SP_DB_ROW)
        return sp_store__err(w, step, "count items");
    /* Pruning reads every item: not for each report once the table is at
     * the bound, but once it has grown by the slack past what the last
     * pruning left (shared items stay, so that can be above the bound). */
    if (total <= st->items_max ||
        total <= st->items_pruned_at + SP_ITEMS_PRUNE_SLACK(st->items_max))
        return 0;
    q = sp_store__stmt(w, SQL_PRUNE);
    if (!q)
        return SP_ERR_DB;
    sp_db_bind_int64(q, 1, st->items_max);
    int rc = sp_store__step_done(w, q, "prune items");
    if (rc == 0)
        st->items_pruned_at = total - sp_db_changes(w->db);
    return rc;
}

/* Event data being given an item's fields. */
typedef struct fields {
    json_t *data;
    int with_name;
} fields;

static int add_fields(const sp_item *it, void *arg)
{
    fields *f = arg;
    if (it->parent_id && json_object_set_new(f->data, "parentItemId", json_string(it->parent_id)))
        return SP_ERR_NOMEM;
    if (json_object_set_new(f->data, "itemETag", json_string(it->etag)))
        return SP_ERR_NOMEM;
    if (f->with_name && json_object_set_new(f->data, "resourceName", json_string(it->name)))
        return SP_ERR_NOMEM;
    return 0;
}

int sp_store__item_fields(sp_conn *w, const char *drive_id, const char *item_id, json_t *data,
                          int with_name)
{
    fields f = {data, with_name};
    int rc = get_on(w, drive_id, item_id, add_fields, &f);
    return rc == SP_ERR_NOT_FOUND ? 0 : rc;
}
