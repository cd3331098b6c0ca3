/*
 * delta.c - GET /graph/v1.0/me/drives/delta: the caller's drive list as
 * Microsoft Graph's delta query gives a collection, read from the event
 * log and the listing, writing nothing.
 *
 * A token is an event seq. Without one the answer is the whole listing,
 * paged, ending with a deltaLink whose token is the log's last seq read
 * before the listing: a change committed meanwhile is in the listing and
 * again in the next delta, never in neither. With one, the drives that
 * changed are named by the caller's own events after it (so a delta never
 * tells more than the caller's change stream): the event's drive, the
 * mountpoints the caller received on it, the remote space. Each is
 * answered as the listing has it now, or as {"id", "@removed"} when the
 * listing no longer has it. Pages of either kind carry their position in
 * an opaque "p" token of the nextLink.
 */
#include "api/internal.h"

#include "api/query.h"

#include "store/delta.h"

#include "util/base64.h"
#include "util/buf.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Drives per page unless $top or Prefer: odata.maxpagesize says less (or
 * more, up to SP_DRIVE_TOP_MAX): Graph's clients page by nextLink. */
#define SP_DELTA_PAGE_DEFAULT 200
/* Events read for one round of changes: a client far behind gets the
 * changes of the first ones and a nextLink for the rest, so that one
 * request never reads the whole log. */
#define SP_DELTA_EVENTS_MAX 5000
/* The raw text of a page token: kind, two seqs, an id and a sort key. */
#define SP_DELTA_POS_MAX (sizeof(((sp_drive_cursor *)0)->key) + SP_USER_ID_LEN + 64)
/* A page token: "p" and the position in base64url. */
#define SP_DELTA_TOKEN_MAX (SP_BASE64URL_LEN(SP_DELTA_POS_MAX) + 2)

/* Where a page starts. */
typedef struct delta_pos {
    char kind;             /* 'L': the whole listing; 'C': the changes after from */
    int64_t from;          /* C: the token the round started from */
    int64_t upto;          /* the round is computed up to this seq: the deltaLink's token */
    sp_drive_cursor after; /* L: the listing's cursor; C: after.id the last id answered */
} delta_pos;

static int pos_encode(const delta_pos *p, char *out, size_t outlen)
{
    char raw[SP_DELTA_POS_MAX];
    int n = snprintf(raw, sizeof raw, "%c\n%lld\n%lld\n%s\n%s", p->kind, (long long)p->from,
                     (long long)p->upto, p->after.id, p->after.key);
    if (n < 0 || (size_t)n >= sizeof raw || outlen < 2)
        return SP_ERR_TOO_LARGE;
    out[0] = 'p';
    return sp_base64url_encode(raw, (size_t)n, out + 1, outlen - 1);
}

/* Reads a decimal seq field ending at '\n' from *s. */
static int read_seq(char **s, int64_t *out)
{
    char *nl = strchr(*s, '\n');
    if (!nl)
        return SP_ERR_INVALID;
    *nl = '\0';
    int rc = sp_query_parse_event_id(*s, out);
    *s = nl + 1;
    return rc;
}

static int pos_decode(const char *token, delta_pos *p)
{
    char raw[SP_DELTA_POS_MAX];
    size_t n;
    memset(p, 0, sizeof *p);
    if (token[0] != 'p' || strlen(token) >= SP_DELTA_TOKEN_MAX ||
        sp_base64url_decode(token + 1, raw, sizeof raw - 1, &n) < 0)
        return SP_ERR_INVALID;
    raw[n] = '\0';
    if (memchr(raw, '\0', n) || n < 2 || (raw[0] != 'L' && raw[0] != 'C') || raw[1] != '\n')
        return SP_ERR_INVALID;
    p->kind = raw[0];
    char *s = raw + 2;
    if (read_seq(&s, &p->from) < 0 || read_seq(&s, &p->upto) < 0)
        return SP_ERR_INVALID;
    char *nl = strchr(s, '\n');
    if (!nl || nl == s || (size_t)(nl - s) >= sizeof p->after.id ||
        strlen(nl + 1) >= sizeof p->after.key)
        return SP_ERR_INVALID;
    *nl = '\0';
    snprintf(p->after.id, sizeof p->after.id, "%s", s);
    snprintf(p->after.key, sizeof p->after.key, "%s", nl + 1);
    p->after.set = 1;
    return 0;
}

/* ---- a sorted set of ids ---- */

typedef struct idset {
    char **v;
    size_t n, cap;
} idset;

static int idset_add(idset *s, const char *id)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **grown = realloc(s->v, cap * sizeof *grown);
        if (!grown)
            return SP_ERR_NOMEM;
        s->v = grown;
        s->cap = cap;
    }
    s->v[s->n] = strdup(id);
    return s->v[s->n++] ? 0 : SP_ERR_NOMEM;
}

static int cmp_ids(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the set and drops repeats. */
static void idset_seal(idset *s)
{
    if (s->n)
        qsort(s->v, s->n, sizeof *s->v, cmp_ids);
    size_t k = 0;
    for (size_t i = 0; i < s->n; i++) {
        if (k && strcmp(s->v[k - 1], s->v[i]) == 0)
            free(s->v[i]);
        else
            s->v[k++] = s->v[i];
    }
    s->n = k;
}

/* Non-zero when the sealed set (its first n ids) holds id. */
static int idset_has(char *const *v, size_t n, const char *id)
{
    return n && bsearch(&id, v, n, sizeof *v, cmp_ids) != NULL;
}

static void idset_free(idset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- one round of changes: which ids the caller's events name ---- */

typedef struct round {
    const sp_user *user;
    int64_t upto;     /* events after it are the next round's */
    size_t rows;      /* events the log answered */
    int64_t last_seq; /* the last of them */
    idset ids;        /* drive ids to answer */
    idset mounts;     /* drives whose mountpoints the caller may have changed */
    idset held;       /* of those, drives where a change of the caller's received
                       * shares may have brought or taken the Shares drive */
    int shares;       /* the Shares drive may have come or gone */
} round;

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* A share event names the share's mountpoint when the caller received it:
 * a share to them, or to a group they are a known member of. */
static int share_mount(round *r, const sp_event *e)
{
    json_t *data = json_loads(e->data, 0, NULL);
    const char *mount = json_string_value(json_object_get(data, "mountId"));
    const char *grantee = json_string_value(json_object_get(data, "granteeUserId"));
    int group = json_object_get(data, "granteeGroupId") != NULL;
    int rc = 0;
    if (mount && ((grantee && strcmp(grantee, r->user->id) == 0) || (group && e->affected))) {
        rc = idset_add(&r->ids, mount);
        r->shares = 1;
    }
    json_decref(data);
    return rc;
}

static int on_event(const sp_event *e, void *arg)
{
    round *r = arg;
    r->rows++;
    r->last_seq = e->seq;
    if (e->seq > r->upto)
        return 0; /* committed after the round began */
    const char *t = e->type;
    int lifecycle = strcmp(t, SP_EVENT_SPACE_DISABLED) == 0 ||
                    strcmp(t, SP_EVENT_SPACE_RESTORED) == 0 ||
                    strcmp(t, SP_EVENT_SPACE_DELETED) == 0;
    int rc = 0;
    if (starts(t, "spaceport.space.") || starts(t, "spaceport.remote."))
        rc = idset_add(&r->ids, e->subject);
    if (rc == 0 && strcmp(t, SP_EVENT_ITEM_CHANGED) == 0) {
        /* The drive's eTag and quota, its mountpoints' names and eTag. */
        rc = idset_add(&r->ids, e->subject);
        if (rc == 0)
            rc = idset_add(&r->mounts, e->subject);
    }
    if (rc == 0 && (lifecycle || starts(t, "spaceport.share."))) {
        rc = idset_add(&r->mounts, e->subject);
        if (rc == 0)
            rc = idset_add(&r->held, e->subject);
    }
    if (rc == 0 && starts(t, "spaceport.share."))
        rc = share_mount(r, e);
    return rc;
}

typedef struct mount_ctx {
    idset *ids;
    int found;
} mount_ctx;

static int add_mount(const char *mount_id, void *arg)
{
    mount_ctx *m = arg;
    m->found = 1;
    return idset_add(m->ids, mount_id);
}

/*
 * Reads the round of changes after from into r: the events up to r->upto
 * (at most SP_DELTA_EVENTS_MAX; when the log answers that many, the round
 * ends at the last of them: r->upto moves there and *more is set), and
 * the mountpoints of the drives they name. r->ids ends sorted.
 */
static int read_round(sp_api *api, int64_t from, round *r, int *more)
{
    int rc =
        sp_store_events_for_user(api->store, r->user->seq, from, SP_DELTA_EVENTS_MAX, on_event, r);
    *more = r->rows == SP_DELTA_EVENTS_MAX && r->last_seq <= r->upto;
    if (*more)
        r->upto = r->last_seq;
    idset_seal(&r->mounts);
    idset_seal(&r->held);
    for (size_t i = 0; rc == 0 && i < r->mounts.n; i++) {
        mount_ctx m = {&r->ids, 0};
        rc = sp_store_mounts_received(api->store, r->user, r->mounts.v[i], add_mount, &m);
        if (m.found && idset_has(r->held.v, r->held.n, r->mounts.v[i]))
            r->shares = 1;
    }
    if (rc == 0 && r->shares)
        rc = idset_add(&r->ids, SP_SHARES_DRIVE_ID);
    idset_seal(&r->ids);
    return rc;
}

/* ---- rendering ---- */

typedef struct pick {
    sp_api *api;
    char *const *ids; /* sorted */
    size_t n;
    json_t *found; /* id -> the drive as the listing renders it */
} pick;

static int pick_drive(const sp_drive *d, void *arg)
{
    pick *p = arg;
    if (!idset_has(p->ids, p->n, d->id))
        return 0;
    json_t *j = sp_api__drive_json(p->api, d, 0);
    return j && json_object_set_new(p->found, d->id, j) == 0 ? 0 : SP_ERR_NOMEM;
}

/* Appends to value the n sorted ids, each as the caller's listing has it
 * now, or removed when it has it no more: one pass over the listing. */
static int answer_ids(sp_api *api, const sp_user *u, char *const *ids, size_t n, json_t *value)
{
    pick p = {api, ids, n, json_object()};
    if (!p.found)
        return SP_ERR_NOMEM;
    sp_drive_query q = {.order = SP_DRIVE_ORDER_NAME_ASC, .top = SP_DRIVE_TOP_MAX};
    sp_drive_cursor next = {0};
    int rc = 0, more = 1;
    while (rc == 0 && more && n) {
        /* The cursor read goes to its own buffer: q.after is bound to the
         * statement while it runs. */
        rc = sp_store_drives_list(api->store, u, 0, &q, pick_drive, &p, &more, &next);
        q.after = next;
    }
    if (rc == 0 && idset_has(ids, n, SP_SHARES_DRIVE_ID)) {
        json_t *virt = json_array();
        rc = virt ? sp_api__shares_drive(api, u, virt) : SP_ERR_NOMEM;
        if (rc == 0 && json_array_size(virt))
            json_object_set(p.found, SP_SHARES_DRIVE_ID, json_array_get(virt, 0));
        json_decref(virt);
    }
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *d = json_object_get(p.found, ids[i]);
        json_t *item =
            d ? json_incref(d)
              : json_pack("{s:s, s:{s:s}}", "id", ids[i], "@removed", "reason", "deleted");
        rc = item && json_array_append_new(value, item) == 0 ? 0 : SP_ERR_NOMEM;
    }
    json_decref(p.found);
    return rc;
}

static int add_listed(const sp_drive *d, void *arg)
{
    pick *p = arg;
    json_t *j = sp_api__drive_json(p->api, d, 0);
    return j && json_array_append_new(p->found, j) == 0 ? 0 : SP_ERR_NOMEM;
}

/* ---- the request ---- */

/* The page size the request asks: $top, else Prefer: odata.maxpagesize
 * (*preferred set), else the default. Returns it, or 0 when $top is not
 * a positive integer. */
static int page_size(sp_http_req *req, int *preferred)
{
    *preferred = 0;
    const char *top = sp_http_query(req, "$top");
    const char *prefer = sp_http_header(req, "Prefer");
    const char *max = prefer ? strstr(prefer, "odata.maxpagesize=") : NULL;
    long long v = SP_DELTA_PAGE_DEFAULT;
    char *end;
    if (top && *top) {
        v = strtoll(top, &end, 10);
        if (*end || v < 1)
            return 0;
    } else if (max) {
        long long m = strtoll(max + 18, &end, 10);
        if (end != max + 18 && m >= 1) {
            v = m;
            *preferred = 1;
        }
    }
    return v > SP_DRIVE_TOP_MAX ? SP_DRIVE_TOP_MAX : (int)v;
}

/* Sets @odata.nextLink or @odata.deltaLink (name) of doc to the delta URL
 * with token, keeping the request's $top. */
static int set_link(sp_http_req *req, sp_api *api, json_t *doc, const char *name, const char *token)
{
    sp_buf link = {0};
    int rc = sp_buf_printf(&link, "%s/graph/v1.0/me/drives/delta", api->cfg->public_url);
    if (rc == 0 && token)
        rc = sp_api__append_param(&link, "token", token);
    if (rc == 0 && sp_http_query(req, "$top"))
        rc = sp_api__append_param(&link, "$top", sp_http_query(req, "$top"));
    if (rc == 0)
        rc = json_object_set_new(doc, name, json_string(link.data)) == 0 ? 0 : SP_ERR_NOMEM;
    sp_buf_free(&link);
    return rc;
}

static int set_seq_link(sp_http_req *req, sp_api *api, json_t *doc, const char *name, int64_t seq)
{
    char token[24];
    snprintf(token, sizeof token, "%lld", (long long)seq);
    return set_link(req, api, doc, name, token);
}

static int set_page_link(sp_http_req *req, sp_api *api, json_t *doc, const delta_pos *p)
{
    char token[SP_DELTA_TOKEN_MAX];
    int rc = pos_encode(p, token, sizeof token);
    return rc < 0 ? rc : set_link(req, api, doc, "@odata.nextLink", token);
}

/* A page of the whole listing, from p->after (unset: the first page,
 * which starts with the Shares drive). */
static int listing_page(sp_http_req *req, sp_api *api, const sp_user *u, const delta_pos *p,
                        int size, json_t *doc)
{
    json_t *value = json_object_get(doc, "value");
    pick add = {.api = api, .found = value};
    int rc = p->after.set ? 0 : sp_api__shares_drive(api, u, value);
    sp_drive_query q = {.order = SP_DRIVE_ORDER_NAME_ASC, .top = size, .after = p->after};
    delta_pos next = {.kind = 'L', .upto = p->upto};
    int more = 0;
    if (rc == 0)
        rc = sp_store_drives_list(api->store, u, 0, &q, add_listed, &add, &more, &next.after);
    if (rc == 0)
        rc = more ? set_page_link(req, api, doc, &next)
                  : set_seq_link(req, api, doc, "@odata.deltaLink", p->upto);
    return rc;
}

/* A page of the changes after p->from, from p->after (unset: the first
 * page of the round, which fixes p->upto). */
static int changes_page(sp_http_req *req, sp_api *api, const sp_user *u, const delta_pos *p,
                        int size, json_t *doc)
{
    round r = {.user = u, .upto = p->upto};
    int more_events = 0;
    int rc = read_round(api, p->from, &r, &more_events);
    size_t start = 0;
    while (p->after.set && start < r.ids.n && strcmp(r.ids.v[start], p->after.id) <= 0)
        start++;
    size_t n = r.ids.n - start < (size_t)size ? r.ids.n - start : (size_t)size;
    if (rc == 0)
        rc = answer_ids(api, u, r.ids.v + start, n, json_object_get(doc, "value"));
    if (rc == 0 && start + n < r.ids.n) {
        delta_pos next = {.kind = 'C', .from = p->from, .upto = r.upto};
        next.after.set = 1;
        snprintf(next.after.id, sizeof next.after.id, "%s", r.ids.v[start + n - 1]);
        rc = set_page_link(req, api, doc, &next);
    } else if (rc == 0) {
        /* A round cut short at SP_DELTA_EVENTS_MAX goes on from its end. */
        rc = set_seq_link(req, api, doc, more_events ? "@odata.nextLink" : "@odata.deltaLink",
                          r.upto);
    }
    idset_free(&r.ids);
    idset_free(&r.mounts);
    idset_free(&r.held);
    return rc;
}

static void drives_delta(sp_http_req *req, void *ctx)
{
    sp_api *api = ctx;
    sp_user u;
    if (sp_api__caller(req, api, &u) < 0)
        return;
    int preferred;
    int size = page_size(req, &preferred);
    if (!size) {
        sp_http_reply_error(req, 400, "invalidRequest", "$top must be a positive integer");
        return;
    }
    int64_t oldest, last;
    if (sp_store_delta_bounds(api->store, &oldest, &last) < 0) {
        sp_api__store_error(req, api, SP_ERR_DB);
        return;
    }
    const char *token = sp_http_query(req, "token");
    delta_pos p = {.kind = 'L', .upto = last};
    int latest = token && strcmp(token, "latest") == 0;
    if (token && !latest && token[0] == 'p') {
        if (pos_decode(token, &p) < 0) {
            sp_http_reply_error(req, 400, "invalidRequest", "token is not a delta token");
            return;
        }
    } else if (token && !latest) {
        if (sp_query_parse_event_id(token, &p.from) < 0) {
            sp_http_reply_error(req, 400, "invalidRequest", "token is not a delta token");
            return;
        }
        p.kind = 'C';
    }
    /* A round whose events are no longer all in the log (or that this log
     * never wrote: a restored database) cannot be answered: the client
     * lists again. */
    int64_t since = p.kind == 'C' ? p.from : p.upto;
    if (since + 1 < oldest || since > last || p.upto > last) {
        sp_buf loc = {0};
        if (sp_buf_printf(&loc, "%s/graph/v1.0/me/drives/delta", api->cfg->public_url) == 0)
            sp_http_add_header(req, "Location", loc.data);
        sp_buf_free(&loc);
        sp_http_reply_error(req, 410, "resyncRequired",
                            "the token is older than the event log keeps: start again without a "
                            "token and replace the local list");
        return;
    }
    json_t *doc = json_pack("{s:[]}", "value");
    int rc = doc ? 0 : SP_ERR_NOMEM;
    if (rc == 0 && latest)
        rc = set_seq_link(req, api, doc, "@odata.deltaLink", last);
    else if (rc == 0 && p.kind == 'L')
        rc = listing_page(req, api, &u, &p, size, doc);
    else if (rc == 0)
        rc = changes_page(req, api, &u, &p, size, doc);
    if (rc < 0) {
        json_decref(doc);
        sp_api__store_error(req, api, rc);
        return;
    }
    if (preferred) {
        char applied[48];
        snprintf(applied, sizeof applied, "odata.maxpagesize=%d", size);
        sp_http_add_header(req, "Preference-Applied", applied);
    }
    sp_http_add_header(req, "Cache-Control", "private, no-store");
    sp_http_reply_json(req, 200, doc);
}

int sp_api__register_delta(sp_router *r, sp_api *api)
{
    static const sp_api_route routes[] = {
        {"GET", "/graph/v1.0/me/drives/delta", drives_delta},
    };
    return sp_api__add_routes(r, api, routes, sizeof routes / sizeof routes[0]);
}
