/*
 * test_inbound.c - unit tests of src/events/inbound: storage change
 * CloudEvents as NATS messages, in binary and structured content mode.
 *
 * Most cases are data: tests/data/inbound/cases.json lists messages
 * (headers and payload) with the expected outcome; each is one loop
 * iteration, so a failure names the case. The limits, the equivalence of
 * the two modes and the independence of the result from the message's
 * memory are tested here in code.
 */
#include "events/inbound.h"
#include "util/err.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CASES_PATH SP_SOURCE_ROOT "/tests/data/inbound/cases.json"
/* More headers than any case has, and than the parser accepts. */
#define MAX_CASE_HEADERS (SP_INBOUND_HEADERS_MAX + 8)

/* One message of a case: headers borrowed from the case file's JSON. */
typedef struct message {
    sp_inbound_header headers[MAX_CASE_HEADERS];
    size_t n;
    char *payload; /* new */
} message;

static json_t *load_cases(void)
{
    json_error_t err;
    json_t *root = json_load_file(CASES_PATH, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(root != NULL, "%s:%d: %s", CASES_PATH, err.line, err.text);
    return root;
}

static void push(message *m, const char *name, const char *value)
{
    ck_assert_uint_lt(m->n, MAX_CASE_HEADERS);
    m->headers[m->n].name = name;
    m->headers[m->n].value = value;
    m->n++;
}

static void push_pairs(message *m, json_t *pairs)
{
    size_t i;
    json_t *pair;
    json_array_foreach(pairs, i, pair)
    {
        push(m, json_string_value(json_array_get(pair, 0)),
             json_string_value(json_array_get(pair, 1)));
    }
}

/* Builds the message of case c (see the file's "about"). */
static void build(json_t *root, json_t *c, message *m)
{
    memset(m, 0, sizeof *m);
    int binary = json_is_string(json_object_get(c, "base"));
    if (binary)
        push_pairs(m, json_object_get(root, "binary_headers"));
    else
        push_pairs(m, json_object_get(c, "headers"));
    const char *name;
    json_t *value;
    json_object_foreach(json_object_get(c, "set"), name, value)
    {
        size_t i = 0;
        while (i < m->n && strcmp(m->headers[i].name, name) != 0)
            i++;
        if (i == m->n) {
            if (!json_is_null(value))
                push(m, name, json_string_value(value));
        } else if (json_is_null(value)) {
            memmove(&m->headers[i], &m->headers[i + 1], (m->n - i - 1) * sizeof m->headers[0]);
            m->n--;
        } else {
            m->headers[i].value = json_string_value(value);
        }
    }
    push_pairs(m, json_object_get(c, "add"));
    json_t *payload = json_object_get(c, "payload");
    json_t *body = json_object_get(c, "body");
    if (!payload && !body && binary)
        body = json_object_get(root, "binary_body");
    if (payload)
        m->payload = strdup(json_string_value(payload));
    else
        m->payload = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_ptr_nonnull(m->payload);
}

static int parse(message *m, sp_inbound *in, const char **why)
{
    return sp_inbound_parse_msg(m->headers, m->n, m->payload, strlen(m->payload), in, why);
}

static void expect_str(json_t *c, const char *key, const char *got)
{
    json_t *want = json_object_get(c, key);
    if (!want)
        return;
    const char *name = json_string_value(json_object_get(c, "name"));
    ck_assert_msg(got && strcmp(got, json_string_value(want)) == 0, "%s: %s is %s, expected %s",
                  name, key, got ? got : "(null)", json_string_value(want));
}

START_TEST(cases_from_the_corpus)
{
    json_t *root = load_cases();
    size_t i, ok = 0, invalid = 0;
    json_t *c;
    json_array_foreach(json_object_get(root, "cases"), i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *expect = json_string_value(json_object_get(c, "expect"));
        message m;
        build(root, c, &m);
        sp_inbound in;
        const char *why = NULL;
        int rc = parse(&m, &in, &why);
        if (strcmp(expect, "ok") == 0) {
            ck_assert_msg(rc == 0, "case %zu (%s): rc %d: %s", i, name, rc, why ? why : "");
            ck_assert_ptr_nonnull(in.change.event_id);
            ck_assert_ptr_nonnull(in.change.drive_id);
            ck_assert_ptr_nonnull(in.change.etag);
            ck_assert_ptr_nonnull(in.change.change);
            expect_str(c, "id", in.change.event_id);
            expect_str(c, "driveId", in.change.drive_id);
            expect_str(c, "eTag", in.change.etag);
            expect_str(c, "itemId", in.change.item_id);
            json_t *q = json_object_get(c, "quotaUsed");
            if (q) {
                ck_assert_msg(in.change.has_quota_used &&
                                  in.change.quota_used == json_integer_value(q),
                              "case %zu (%s): quotaUsed", i, name);
            }
            json_t *items = json_object_get(c, "items");
            size_t want = items ? (size_t)json_integer_value(items) : 0;
            ck_assert_msg(in.change.item_count == want &&
                              (want == 0 || in.change.items == in.items),
                          "case %zu (%s): %zu items, expected %zu", i, name,
                          in.change.item_count, want);
            sp_inbound_free(&in);
            ck_assert_ptr_null(in.json);
            ok++;
        } else {
            const char *part = json_string_value(json_object_get(c, "why"));
            ck_assert_msg(rc == SP_ERR_INVALID, "case %zu (%s): rc %d, expected invalid", i, name,
                          rc);
            ck_assert_msg(why && strstr(why, part), "case %zu (%s): reason \"%s\", expected \"%s\"",
                          i, name, why ? why : "(null)", part);
            ck_assert_ptr_null(in.json);
            ck_assert_ptr_null(in.items);
            invalid++;
        }
        free(m.payload);
    }
    ck_assert_uint_ge(ok, 15);
    ck_assert_uint_ge(invalid, 50);
    json_decref(root);
}
END_TEST

/* What a description says reaches the store as it was sent: a file below
 * a folder, the root, and a removal. */
START_TEST(items_are_read_as_sent)
{
    const char *text =
        "{\"specversion\":\"1.0\",\"id\":\"i1\",\"source\":\"urn:x\","
        "\"type\":\"spaceport.storage.changed\",\"data\":{\"driveId\":\"d1\",\"eTag\":\"e\","
        "\"lastModifiedDateTime\":\"2026-11-24T08:00:00Z\",\"change\":\"updated\",\"items\":["
        "{\"id\":\"d1!f\",\"parentId\":\"d1!dir\",\"name\":\"a.txt\",\"path\":\"/dir/a.txt\","
        "\"type\":\"file\",\"size\":12,\"eTag\":\"f1\",\"lastModifiedDateTime\":"
        "\"2026-11-24T08:00:01Z\",\"mimeType\":\"text/plain\"},"
        "{\"id\":\"d1\",\"name\":\"Project\",\"path\":\"/\",\"type\":\"folder\",\"eTag\":\"r\","
        "\"lastModifiedDateTime\":\"2026-11-24T08:00:00Z\"},"
        "{\"id\":\"d1!gone\",\"removed\":true}]}}";
    sp_inbound in;
    const char *why = NULL;
    ck_assert_int_eq(sp_inbound_parse(text, strlen(text), &in, &why), 0);
    ck_assert_uint_eq(in.change.item_count, 3);
    const sp_item *f = &in.change.items[0], *root = &in.change.items[1], *gone = &in.change.items[2];
    ck_assert_str_eq(f->drive_id, "d1");
    ck_assert_str_eq(f->id, "d1!f");
    ck_assert_str_eq(f->parent_id, "d1!dir");
    ck_assert_str_eq(f->name, "a.txt");
    ck_assert_str_eq(f->path, "/dir/a.txt");
    ck_assert_int_eq(f->folder, 0);
    ck_assert_int_eq(f->size, 12);
    ck_assert_str_eq(f->etag, "f1");
    ck_assert_int_eq(f->mtime_ms, 1795507201000LL);
    ck_assert_str_eq(f->mime_type, "text/plain");
    ck_assert_int_eq(f->removed, 0);
    ck_assert_ptr_null(root->parent_id);
    ck_assert_int_eq(root->folder, 1);
    ck_assert_int_eq(root->size, 0);
    ck_assert_ptr_null(root->mime_type);
    ck_assert_str_eq(gone->id, "d1!gone");
    ck_assert_int_eq(gone->removed, 1);
    ck_assert_ptr_null(gone->name);
    sp_inbound_free(&in);
    ck_assert_ptr_null(in.items);
}
END_TEST

/* The first binary case of the corpus. */
static void binary_case(json_t *root, message *m)
{
    build(root, json_array_get(json_object_get(root, "cases"), 0), m);
}

START_TEST(both_modes_give_the_same_change)
{
    json_t *root = load_cases();
    message m;
    binary_case(root, &m);
    sp_inbound bin, st;
    const char *why = NULL;
    ck_assert_int_eq(parse(&m, &bin, &why), 0);
    /* The structured event it stands for. */
    json_t *ev =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:O}", "specversion", "1.0", "id", "b1", "source",
                  "urn:test:storage", "type", "spaceport.storage.changed", "datacontenttype",
                  "application/json", "data", json_object_get(root, "binary_body"));
    char *text = json_dumps(ev, JSON_COMPACT);
    sp_inbound_header ct = {"Content-Type", "application/cloudevents+json"};
    ck_assert_int_eq(sp_inbound_parse_msg(&ct, 1, text, strlen(text), &st, &why), 0);
    ck_assert_str_eq(bin.change.event_id, st.change.event_id);
    ck_assert_str_eq(bin.change.drive_id, st.change.drive_id);
    ck_assert_str_eq(bin.change.item_id, st.change.item_id);
    ck_assert_str_eq(bin.change.etag, st.change.etag);
    ck_assert_str_eq(bin.change.change, st.change.change);
    ck_assert_str_eq(bin.change.executant, st.change.executant);
    ck_assert_int_eq(bin.change.mtime_ms, st.change.mtime_ms);
    ck_assert_int_eq(bin.change.has_quota_used, st.change.has_quota_used);
    ck_assert_int_eq(bin.change.quota_used, st.change.quota_used);
    /* And the same event, whole, as the structured mode reads it. */
    ck_assert(json_equal(bin.json, st.json));
    sp_inbound_free(&bin);
    sp_inbound_free(&st);
    free(text);
    json_decref(ev);
    free(m.payload);
    json_decref(root);
}
END_TEST

START_TEST(nothing_points_into_the_message)
{
    json_t *root = load_cases();
    message m;
    binary_case(root, &m);
    /* Copies of every header string and of the payload, overwritten
     * after the parse. */
    char *copies[MAX_CASE_HEADERS * 2];
    for (size_t i = 0; i < m.n; i++) {
        copies[2 * i] = strdup(m.headers[i].name);
        copies[2 * i + 1] = strdup(m.headers[i].value);
        m.headers[i].name = copies[2 * i];
        m.headers[i].value = copies[2 * i + 1];
    }
    sp_inbound in;
    const char *why = NULL;
    ck_assert_int_eq(parse(&m, &in, &why), 0);
    for (size_t i = 0; i < 2 * m.n; i++) {
        memset(copies[i], '#', strlen(copies[i]));
        free(copies[i]);
    }
    memset(m.payload, '#', strlen(m.payload));
    free(m.payload);
    ck_assert_str_eq(in.change.event_id, "b1");
    ck_assert_str_eq(in.change.drive_id, "d1");
    ck_assert_str_eq(in.change.executant, "u1");
    sp_inbound_free(&in);
    json_decref(root);
}
END_TEST

START_TEST(header_count_limit)
{
    json_t *root = load_cases();
    message m;
    binary_case(root, &m);
    sp_inbound in;
    const char *why = NULL;
    while (m.n < SP_INBOUND_HEADERS_MAX)
        push(&m, "X-Filler", "x");
    ck_assert_int_eq(parse(&m, &in, &why), 0);
    sp_inbound_free(&in);
    push(&m, "X-Filler", "x");
    ck_assert_int_eq(parse(&m, &in, &why), SP_ERR_INVALID);
    ck_assert_str_eq(why, "more than 64 headers");
    free(m.payload);
    json_decref(root);
}
END_TEST

START_TEST(size_limit_counts_headers_and_payload)
{
    json_t *root = load_cases();
    message m;
    binary_case(root, &m);
    size_t used = strlen(m.payload);
    for (size_t i = 0; i < m.n; i++)
        used += strlen(m.headers[i].name) + strlen(m.headers[i].value);
    /* An extension attribute that fills the rest exactly, then one more. */
    size_t room = SP_INBOUND_MAX - used - strlen("ce-pad");
    char *pad = malloc(room + 2);
    memset(pad, 'p', room + 1);
    pad[room] = '\0';
    push(&m, "ce-pad", pad);
    sp_inbound in;
    const char *why = NULL;
    ck_assert_int_eq(parse(&m, &in, &why), 0);
    sp_inbound_free(&in);
    pad[room] = 'p';
    pad[room + 1] = '\0';
    ck_assert_int_eq(parse(&m, &in, &why), SP_ERR_INVALID);
    ck_assert_str_eq(why, "event larger than 64 KiB");
    free(pad);
    free(m.payload);
    json_decref(root);
}
END_TEST

START_TEST(field_length_limit)
{
    json_t *root = load_cases();
    message m;
    binary_case(root, &m);
    char id[SP_INBOUND_FIELD_MAX + 2];
    memset(id, 'i', sizeof id - 1);
    id[SP_INBOUND_FIELD_MAX] = '\0';
    for (size_t i = 0; i < m.n; i++) {
        if (strcmp(m.headers[i].name, "ce-id") == 0)
            m.headers[i].value = id;
    }
    sp_inbound in;
    const char *why = NULL;
    ck_assert_int_eq(parse(&m, &in, &why), 0);
    ck_assert_uint_eq(strlen(in.change.event_id), SP_INBOUND_FIELD_MAX);
    sp_inbound_free(&in);
    id[SP_INBOUND_FIELD_MAX] = 'i';
    id[SP_INBOUND_FIELD_MAX + 1] = '\0';
    ck_assert_int_eq(parse(&m, &in, &why), SP_ERR_INVALID);
    ck_assert_str_eq(why, "id must be a non-empty string");
    free(m.payload);
    json_decref(root);
}
END_TEST

START_TEST(payload_is_read_to_len_only)
{
    /* A NATS payload is not NUL-terminated: the bytes after len are not
     * the message's. */
    json_t *root = load_cases();
    message m;
    binary_case(root, &m);
    size_t len = strlen(m.payload);
    char *longer = malloc(len + 8);
    memcpy(longer, m.payload, len);
    memcpy(longer + len, "garbage", 8);
    sp_inbound in;
    const char *why = NULL;
    ck_assert_int_eq(sp_inbound_parse_msg(m.headers, m.n, longer, len, &in, &why), 0);
    sp_inbound_free(&in);
    free(longer);
    free(m.payload);
    json_decref(root);
}
END_TEST

static Suite *inbound_suite(void)
{
    Suite *s = suite_create("inbound");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, cases_from_the_corpus);
    tcase_add_test(tc, items_are_read_as_sent);
    tcase_add_test(tc, both_modes_give_the_same_change);
    tcase_add_test(tc, nothing_points_into_the_message);
    tcase_add_test(tc, header_count_limit);
    tcase_add_test(tc, size_limit_counts_headers_and_payload);
    tcase_add_test(tc, field_length_limit);
    tcase_add_test(tc, payload_is_read_to_len_only);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inbound_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
