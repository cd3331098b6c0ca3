/*
 * inbound.c - strict parsing of storage change CloudEvents, in the
 * structured and binary content modes of the CloudEvents NATS protocol
 * binding.
 *
 * Binary mode is read by building the structured event it stands for
 * (each `ce-` header an attribute, the payload the data) and checking that
 * event with the same function as a structured one: the rules exist once.
 */
#include "events/inbound.h"

#include "util/err.h"
#include "util/itemid.h"
#include "util/url.h"
#include "util/time.h"
#include "util/utf8.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Content types of the structured mode: the binding says any
 * application/cloudevents type selects it; we read the JSON format only. */
#define STRUCTURED_PREFIX "application/cloudevents"
#define STRUCTURED_JSON   "application/cloudevents+json"
#define DATA_JSON         "application/json"
/* The binding's prefix of attribute headers. */
#define CE_PREFIX     "ce-"
#define CE_PREFIX_LEN 3

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

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* A string member of an item within max bytes (required or not): NULL
 * when absent, or sets *bad. */
static const char *item_text(json_t *obj, const char *key, int required, size_t max, int *bad)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return required ? (*bad = 1, NULL) : NULL;
    const char *s = json_string_value(v);
    if (!s || !*s || json_string_length(v) > max || strlen(s) != json_string_length(v))
        *bad = 1;
    return *bad ? NULL : s;
}

/* Whether every member of obj is one of the NULL-terminated keys. */
static int only_keys(json_t *obj, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        size_t i = 0;
        while (keys[i] && strcmp(keys[i], k) != 0)
            i++;
        if (!keys[i])
            return 0;
        (void)v;
    }
    return 1;
}

/*
 * Reads one item description of drive_id from v into *it (strings point
 * into v). Returns 0 or SP_ERR_INVALID with *why.
 */
static int read_item(json_t *v, const char *drive_id, sp_item *it, const char **why)
{
    static const char *const removal_keys[] = {"id", "removed", NULL};
    static const char *const keys[] = {"id",   "parentId", "name",
                                       "path", "type",     "size",
                                       "eTag", "lastModifiedDateTime", "mimeType",
                                       "removed", NULL};
    int bad = 0;
    memset(it, 0, sizeof *it);
    if (!json_is_object(v)) {
        *why = "data.items must hold objects";
        return SP_ERR_INVALID;
    }
    it->drive_id = drive_id;
    it->id = item_text(v, "id", 1, SP_INBOUND_FIELD_MAX, &bad);
    if (bad || sp_itemid_check(drive_id, it->id, NULL) < 0) {
        *why = "data.items[].id must be an item of the event's drive";
        return SP_ERR_INVALID;
    }
    json_t *removed = json_object_get(v, "removed");
    if (removed && !json_is_boolean(removed)) {
        *why = "data.items[].removed must be true or false";
        return SP_ERR_INVALID;
    }
    if (json_is_true(removed)) {
        it->removed = 1;
        if (!only_keys(v, removal_keys)) {
            *why = "a removed item in data.items names only its id";
            return SP_ERR_INVALID;
        }
        return 0;
    }
    if (!only_keys(v, keys)) {
        *why = "data.items[] has a member the schema does not name";
        return SP_ERR_INVALID;
    }
    int root = strcmp(it->id, drive_id) == 0;
    it->parent_id = item_text(v, "parentId", 0, SP_INBOUND_FIELD_MAX, &bad);
    if (bad || (it->parent_id == NULL) != root ||
        (it->parent_id && (sp_itemid_check(drive_id, it->parent_id, NULL) < 0 ||
                           strcmp(it->parent_id, it->id) == 0))) {
        *why = "data.items[].parentId must be another item of the drive, absent for its root";
        return SP_ERR_INVALID;
    }
    it->name = item_text(v, "name", 1, SP_INBOUND_NAME_MAX, &bad);
    if (bad || strchr(it->name, '/') || !sp_utf8_text((const unsigned char *)it->name,
                                                      strlen(it->name))) {
        *why = "data.items[].name must be a file name: text without '/', at most 255 bytes";
        return SP_ERR_INVALID;
    }
    it->path = item_text(v, "path", 1, SP_INBOUND_PATH_MAX, &bad);
    if (bad || it->path[0] != '/' || (root && strcmp(it->path, "/") != 0) ||
        (!root && strcmp(it->path, "/") == 0) ||
        !sp_utf8_text((const unsigned char *)it->path, strlen(it->path))) {
        *why = "data.items[].path must start with '/' and be \"/\" exactly for the root";
        return SP_ERR_INVALID;
    }
    const char *type = item_text(v, "type", 1, 16, &bad);
    if (bad || (strcmp(type, "file") != 0 && strcmp(type, "folder") != 0)) {
        *why = "data.items[].type must be file or folder";
        return SP_ERR_INVALID;
    }
    it->folder = type[1] == 'o';
    json_t *size = json_object_get(v, "size");
    if (size && (!json_is_integer(size) || json_integer_value(size) < 0)) {
        *why = "data.items[].size must be a non-negative integer";
        return SP_ERR_INVALID;
    }
    it->size = size ? json_integer_value(size) : 0;
    it->etag = item_text(v, "eTag", 1, SP_INBOUND_FIELD_MAX, &bad);
    const char *mtime = item_text(v, "lastModifiedDateTime", 1, SP_INBOUND_FIELD_MAX, &bad);
    if (bad || sp_time_parse_rfc3339(mtime, &it->mtime_ms) < 0) {
        *why = "data.items[] needs an eTag and an RFC 3339 lastModifiedDateTime";
        return SP_ERR_INVALID;
    }
    it->mime_type = item_text(v, "mimeType", 0, 255, &bad);
    if (bad || (it->mime_type && (it->folder || !strchr(it->mime_type, '/')))) {
        *why = "data.items[].mimeType must be a media type, of files only";
        return SP_ERR_INVALID;
    }
    return 0;
}

/* Reads data.items (absent: none) into in->items. Returns 0,
 * SP_ERR_INVALID with *why, or SP_ERR_NOMEM. */
static int read_items(json_t *d, sp_inbound *in, const char **why)
{
    json_t *items = json_object_get(d, "items");
    if (!items)
        return 0;
    size_t n = json_array_size(items);
    if (!json_is_array(items) || n > SP_INBOUND_ITEMS_MAX) {
        *why = "data.items must be an array of at most 256 items";
        return SP_ERR_INVALID;
    }
    if (n == 0)
        return 0;
    in->items = calloc(n, sizeof *in->items);
    if (!in->items) {
        *why = "out of memory";
        return SP_ERR_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        int rc = read_item(json_array_get(items, i), in->change.drive_id, &in->items[i], why);
        if (rc < 0)
            return rc;
    }
    in->change.items = in->items;
    in->change.item_count = n;
    return 0;
}

/* Whether s is the media type `type` (case-insensitive, as media types
 * are), optionally followed by parameters ("; charset=utf-8"). */
static int media_type_is(const char *s, const char *type)
{
    size_t n = strlen(type);
    while (is_ows(*s))
        s++;
    if (strncasecmp(s, type, n) != 0)
        return 0;
    s += n;
    while (is_ows(*s))
        s++;
    return *s == '\0' || *s == ';';
}

/* Whether s is made of printable US-ASCII, spaces and tabs: all a NATS
 * header value may hold. */
static int printable(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c > 0x7e)
            return 0;
    }
    return 1;
}

/*
 * Decodes a binary-mode header value as the binding says: optional
 * whitespace around it is dropped, a double-quoted string is unescaped
 * (RFC 7230 3.2.6; earlier versions of the binding produced them), then
 * one round of percent-decoding, and the result must be UTF-8 text.
 * Returns 0 with a new JSON string in *out, SP_ERR_INVALID with *why, or
 * SP_ERR_NOMEM.
 */
static int decode_value(const char *raw, json_t **out, const char **why)
{
    if (!printable(raw)) {
        *why = "ce- header values must be printable ASCII (percent-encode the rest)";
        return SP_ERR_INVALID;
    }
    size_t n = strlen(raw);
    while (n && is_ows(raw[0])) {
        raw++;
        n--;
    }
    while (n && is_ows(raw[n - 1]))
        n--;
    char *buf = malloc(n + 1);
    if (!buf)
        return SP_ERR_NOMEM;
    int rc = SP_ERR_INVALID;
    size_t m = 0;
    if (n && raw[0] == '"') {
        if (n < 2 || raw[n - 1] != '"') {
            *why = "a quoted ce- header value must end with a quote";
            goto done;
        }
        for (size_t i = 1; i < n - 1; i++) {
            if (raw[i] == '"') {
                *why = "a quote inside a quoted ce- header value must be escaped";
                goto done;
            }
            if (raw[i] == '\\' && ++i == n - 1) {
                *why = "a quoted ce- header value must end with a quote";
                goto done;
            }
            buf[m++] = raw[i];
        }
    } else {
        memcpy(buf, raw, n);
        m = n;
    }
    /* One round of percent-decoding, in place: the output never
     * overtakes the input. */
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (buf[i] != '%') {
            buf[k++] = buf[i];
            continue;
        }
        int hi = i + 2 < m ? sp_url_hex(buf[i + 1]) : -1;
        int lo = i + 2 < m ? sp_url_hex(buf[i + 2]) : -1;
        if (hi < 0 || lo < 0) {
            *why = "a % in a ce- header value must start two hex digits";
            goto done;
        }
        buf[k++] = (char)(hi << 4 | lo);
        i += 2;
    }
    if (!sp_utf8_text((const unsigned char *)buf, k)) {
        *why = "a ce- header value must decode to UTF-8 text without control characters";
        goto done;
    }
    *out = json_stringn(buf, k);
    rc = *out ? 0 : SP_ERR_NOMEM;
done:
    free(buf);
    return rc;
}

/* The attribute named by a `ce-` header (what follows the prefix,
 * lower-cased: header names are case-insensitive, attribute names are
 * lower-case a-z and 0-9). Returns 0 or SP_ERR_INVALID. */
static int attribute_name(const char *s, char out[SP_INBOUND_ATTR_NAME_MAX + 1])
{
    size_t n = 0;
    for (; *s; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        if (n == SP_INBOUND_ATTR_NAME_MAX || !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return SP_ERR_INVALID;
        out[n++] = c;
    }
    out[n] = '\0';
    return n ? 0 : SP_ERR_INVALID;
}

/* The reason for a failed json_loadb: out of memory, or the text.
 * jansson 2.14 reports only some of its allocation failures as such;
 * others come back as syntax errors (the consumer parses a malformed
 * event a second time to tell). */
static int load_failed(const json_error_t *jerr, const char *reason, const char **why)
{
    if (json_error_code(jerr) == json_error_out_of_memory) {
        *why = "out of memory";
        return SP_ERR_NOMEM;
    }
    *why = reason;
    return SP_ERR_INVALID;
}

/*
 * Checks the event in in->json (either mode's) and points in->change into
 * it. Returns 0 or SP_ERR_INVALID with *why; frees nothing.
 */
static int check_event(sp_inbound *in, const char **why)
{
#define BAD(reason)                                                                                \
    do {                                                                                           \
        *why = reason;                                                                             \
        return SP_ERR_INVALID;                                                                     \
    } while (0)
    if (!json_is_object(in->json))
        BAD("not a JSON object");
    int bad = 0;
    const char *spec = field(in->json, "specversion", 1, &bad);
    if (bad || strcmp(spec, "1.0") != 0)
        BAD("specversion must be 1.0");
    const char *type = field(in->json, "type", 1, &bad);
    if (bad || strcmp(type, "spaceport.storage.changed") != 0)
        BAD("type must be spaceport.storage.changed");
    in->change.event_id = field(in->json, "id", 1, &bad);
    if (bad)
        BAD("id must be a non-empty string");
    field(in->json, "source", 1, &bad);
    if (bad)
        BAD("source must be a non-empty string");
    json_t *ct = json_object_get(in->json, "datacontenttype");
    if (ct && !json_is_null(ct) &&
        (!json_is_string(ct) || strlen(json_string_value(ct)) != json_string_length(ct) ||
         !media_type_is(json_string_value(ct), DATA_JSON)))
        BAD("datacontenttype must be application/json");
    json_t *when = json_object_get(in->json, "time");
    int64_t ms;
    if (when && !json_is_null(when) &&
        (!json_is_string(when) || sp_time_parse_rfc3339(json_string_value(when), &ms) < 0))
        BAD("time must be an RFC 3339 date-time");
    json_t *d = json_object_get(in->json, "data");
    if (!json_is_object(d))
        BAD("data must be an object");
    in->change.drive_id = field(d, "driveId", 1, &bad);
    in->change.etag = field(d, "eTag", 1, &bad);
    in->change.item_id = field(d, "itemId", 0, &bad);
    in->change.executant = field(d, "executant", 0, &bad);
    const char *change = field(d, "change", 1, &bad);
    const char *mtime = field(d, "lastModifiedDateTime", 1, &bad);
    if (bad)
        BAD("data needs driveId, eTag, change and lastModifiedDateTime as strings");
    static const char *const changes[] = {"created", "updated", "deleted", "moved"};
    int known = 0;
    for (size_t i = 0; i < 4; i++)
        known |= strcmp(change, changes[i]) == 0;
    if (!known)
        BAD("data.change must be created, updated, deleted or moved");
    in->change.change = change;
    if (sp_time_parse_rfc3339(mtime, &in->change.mtime_ms) < 0)
        BAD("data.lastModifiedDateTime must be an RFC 3339 date-time");
    json_t *q = json_object_get(d, "quotaUsed");
    if (q && !json_is_null(q)) {
        if (!json_is_integer(q) || json_integer_value(q) < 0)
            BAD("data.quotaUsed must be a non-negative integer");
        in->change.has_quota_used = 1;
        in->change.quota_used = json_integer_value(q);
    }
    return read_items(d, in, why);
#undef BAD
}

int sp_inbound_parse(const char *data, size_t len, sp_inbound *in, const char **why)
{
    memset(in, 0, sizeof *in);
    if (len > SP_INBOUND_MAX) {
        *why = "event larger than 64 KiB";
        return SP_ERR_INVALID;
    }
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr); /* json_loadb leaves the code unset on some failures */
    in->json = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    int rc = in->json ? check_event(in, why) : load_failed(&jerr, "not a JSON object", why);
    if (rc < 0)
        sp_inbound_free(in);
    return rc;
}

/*
 * Binary mode: the attributes of the `ce-` headers, datacontenttype from
 * Content-Type (ctype, may be NULL) or ce-datacontenttype, data from the
 * payload, into in->json; then the common checks. Returns as
 * sp_inbound_parse; the caller frees in on failure.
 */
static int parse_binary(const sp_inbound_header *h, size_t n, const char *ctype, const char *data,
                        size_t len, sp_inbound *in, const char **why)
{
#define BAD(reason)                                                                                \
    do {                                                                                           \
        *why = reason;                                                                             \
        return SP_ERR_INVALID;                                                                     \
    } while (0)
#define NOMEM()                                                                                    \
    do {                                                                                           \
        *why = "out of memory";                                                                    \
        return SP_ERR_NOMEM;                                                                       \
    } while (0)
    in->json = json_object();
    if (!in->json)
        NOMEM();
    for (size_t i = 0; i < n; i++) {
        if (strncasecmp(h[i].name, CE_PREFIX, CE_PREFIX_LEN) != 0)
            continue;
        char attr[SP_INBOUND_ATTR_NAME_MAX + 1];
        if (attribute_name(h[i].name + CE_PREFIX_LEN, attr) < 0)
            BAD("a ce- header must name an attribute: a-z and 0-9, at most 64");
        if (strcmp(attr, "data") == 0)
            BAD("data is the payload in binary mode, not a ce-data header");
        /* As JSON_REJECT_DUPLICATES in structured mode: one value each. */
        if (json_object_get(in->json, attr))
            BAD("an attribute appears in two ce- headers");
        json_t *v = NULL;
        int rc = decode_value(h[i].value, &v, why);
        if (rc == SP_ERR_NOMEM)
            NOMEM();
        if (rc < 0)
            return rc;
        if (json_object_set_new(in->json, attr, v) < 0)
            NOMEM();
    }
    json_t *ct = json_object_get(in->json, "datacontenttype");
    if (ctype && ct) {
        /* The binding's own example names it in a ce- header, other
         * producers in Content-Type: either, but not two different. */
        if (strcasecmp(json_string_value(ct), ctype) != 0)
            BAD("Content-Type and ce-datacontenttype differ");
    } else if (ctype) {
        /* Printable ASCII (checked by the caller), hence UTF-8. */
        ct = json_string(ctype);
        if (!ct || json_object_set_new(in->json, "datacontenttype", ct) < 0)
            NOMEM();
    }
    /* The payload is JSON text when the data is application/json (and
     * when no type is named: our events carry nothing else). */
    if (ct && !media_type_is(json_string_value(ct), DATA_JSON))
        BAD("datacontenttype must be application/json");
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr); /* json_loadb leaves the code unset on some failures */
    json_t *d = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!d)
        return load_failed(&jerr, "data must be an object (JSON text in the payload)", why);
    if (json_object_set_new(in->json, "data", d) < 0)
        NOMEM();
    return check_event(in, why);
#undef NOMEM
#undef BAD
}

int sp_inbound_parse_msg(const sp_inbound_header *headers, size_t n, const char *data, size_t len,
                         sp_inbound *in, const char **why)
{
    memset(in, 0, sizeof *in);
    if (n > SP_INBOUND_HEADERS_MAX) {
        *why = "more than 64 headers";
        return SP_ERR_INVALID;
    }
    const char *ctype = NULL;
    size_t total = len;
    int binary = 0;
    for (size_t i = 0; i < n; i++) {
        total += strlen(headers[i].name) + strlen(headers[i].value);
        if (strcasecmp(headers[i].name, "Content-Type") == 0) {
            if (ctype) {
                *why = "Content-Type appears twice";
                return SP_ERR_INVALID;
            }
            ctype = headers[i].value;
        } else if (strncasecmp(headers[i].name, CE_PREFIX, CE_PREFIX_LEN) == 0) {
            binary = 1;
        }
    }
    if (total > SP_INBOUND_MAX) {
        *why = "event larger than 64 KiB";
        return SP_ERR_INVALID;
    }
    if (ctype && !printable(ctype)) {
        *why = "Content-Type must be printable ASCII";
        return SP_ERR_INVALID;
    }
    const char *media = ctype;
    while (media && is_ows(*media))
        media++;
    if (media && strncasecmp(media, STRUCTURED_PREFIX, strlen(STRUCTURED_PREFIX)) == 0) {
        /* Structured, whatever ce- headers say (the binding decides by
         * the content type). */
        if (!media_type_is(media, STRUCTURED_JSON)) {
            *why = "structured mode is read as application/cloudevents+json only";
            return SP_ERR_INVALID;
        }
        return sp_inbound_parse(data, len, in, why);
    }
    if (!binary)
        return sp_inbound_parse(data, len, in, why);
    int rc = parse_binary(headers, n, ctype, data, len, in, why);
    if (rc < 0)
        sp_inbound_free(in);
    return rc;
}

void sp_inbound_free(sp_inbound *in)
{
    free(in->items);
    json_decref(in->json);
    memset(in, 0, sizeof *in);
}
