/*
 * test_envelope.c - unit tests of src/events/envelope: the CloudEvent of a
 * log row, its zero-padded sequence extension, and sp_envelope_sequence,
 * which reads the sequence back from a published event's text.
 *
 * The parser is tested from a table of inputs; each row is one loop
 * iteration, so a failure names the row's index and input.
 */
#include "events/envelope.h"
#include "util/err.h"

#include <check.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const char *const source = "https://spaceport.test";

static sp_event row(int64_t seq)
{
    sp_event e = {seq,
                  "0190f5d2-8a0e-7f5e-9d1b-1c2d3e4f5a6b",
                  "spaceport.share.created",
                  "d1",
                  1795000000000,
                  "{\"shareId\":\"s\"}",
                  NULL,
                  0};
    return e;
}

/* The sequence attribute of the text envelope, as a new string. */
static char *text_sequence(int64_t seq)
{
    sp_event e = row(seq);
    char *text = sp_envelope_text(&e, source);
    ck_assert_ptr_nonnull(text);
    json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    ck_assert_ptr_nonnull(j);
    char *s = strdup(json_string_value(json_object_get(j, "sequence")));
    json_decref(j);
    free(text);
    return s;
}

START_TEST(sequence_is_zero_padded)
{
    char *s = text_sequence(7);
    ck_assert_str_eq(s, "0000000000000000007");
    free(s);
    s = text_sequence(INT64_MAX);
    ck_assert_str_eq(s, "9223372036854775807");
    ck_assert_uint_eq(strlen(s), SP_ENVELOPE_SEQUENCE_DIGITS);
    free(s);
    /* Both builders agree. */
    sp_event e = row(42);
    json_t *j = sp_envelope_json(&e, source);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(j, "sequence")), "0000000000000000042");
    json_decref(j);
}
END_TEST

/* The Initiator-ID goes out as the initiatorid extension attribute, the
 * same from both builders, escaped like every other string: a quote in it
 * cannot add an attribute. Without one there is no such attribute. */
START_TEST(initiator_is_an_extension_attribute)
{
    sp_event e = row(5);
    e.initiator = "tab\",\"type\":\"x";
    char *text = sp_envelope_text(&e, source);
    ck_assert_ptr_nonnull(text);
    json_t *t = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    json_t *j = sp_envelope_json(&e, source);
    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(j);
    ck_assert_str_eq(json_string_value(json_object_get(t, "initiatorid")), e.initiator);
    ck_assert_str_eq(json_string_value(json_object_get(t, "type")), "spaceport.share.created");
    ck_assert(json_equal(t, j));
    json_decref(t);
    json_decref(j);
    free(text);
    e.initiator = NULL;
    text = sp_envelope_text(&e, source);
    t = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    j = sp_envelope_json(&e, source);
    ck_assert_ptr_null(json_object_get(t, "initiatorid"));
    ck_assert_ptr_null(json_object_get(j, "initiatorid"));
    ck_assert_int_eq(json_object_size(t), 9);
    ck_assert(json_equal(t, j));
    json_decref(t);
    json_decref(j);
    free(text);
}
END_TEST

START_TEST(sequence_string_order_is_event_order)
{
    static const int64_t seqs[] = {
        1, 9, 10, 99, 100, 12345, 999999999, 1000000000, INT64_MAX / 10, INT64_MAX - 1, INT64_MAX};
    for (size_t i = 0; i + 1 < COUNT(seqs); i++) {
        char *a = text_sequence(seqs[i]), *b = text_sequence(seqs[i + 1]);
        ck_assert_msg(strcmp(a, b) < 0, "%s sorts before %s", a, b);
        ck_assert_uint_eq(strlen(a), SP_ENVELOPE_SEQUENCE_DIGITS);
        free(a);
        free(b);
    }
}
END_TEST

START_TEST(sequence_round_trips)
{
    static const int64_t seqs[] = {1, 7, 10, 4096, 1000000007, INT64_MAX};
    for (size_t i = 0; i < COUNT(seqs); i++) {
        sp_event e = row(seqs[i]);
        char *text = sp_envelope_text(&e, source);
        ck_assert_ptr_nonnull(text);
        int64_t got = -1;
        ck_assert_int_eq(sp_envelope_sequence(text, strlen(text), NULL, &got), 0);
        ck_assert_int_eq(got, seqs[i]);
        free(text);
        json_t *j = sp_envelope_json(&e, source);
        text = json_dumps(j, JSON_COMPACT);
        got = -1;
        ck_assert_int_eq(sp_envelope_sequence(text, strlen(text), NULL, &got), 0);
        ck_assert_int_eq(got, seqs[i]);
        free(text);
        json_decref(j);
    }
}
END_TEST

static const struct {
    const char *json;
    int rc;
    int64_t seq;
} sequence_cases[] = {
    /* events published before the padding, and padded ones */
    {"{\"sequence\":\"42\"}", 0, 42},
    {"{\"sequence\":\"0\"}", 0, 0},
    {"{\"sequence\":\"0000000000000000042\"}", 0, 42},
    {"{\"sequence\":\"000000000000000000000000042\"}", 0, 42},
    {"{\"sequence\":\"9223372036854775807\"}", 0, INT64_MAX},
    {"{\"specversion\":\"1.0\",\"data\":{\"sequence\":\"1\"},\"sequence\":\"5\"}", 0, 5},
    /* not an event */
    {"", SP_ERR_INVALID, 0},
    {"{", SP_ERR_INVALID, 0},
    {"[\"sequence\",\"1\"]", SP_ERR_INVALID, 0},
    {"\"1\"", SP_ERR_INVALID, 0},
    {"{}", SP_ERR_INVALID, 0},
    {"{\"data\":{\"sequence\":\"1\"}}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"1\",\"sequence\":\"2\"}", SP_ERR_INVALID, 0},
    /* not a string of digits */
    {"{\"sequence\":42}", SP_ERR_INVALID, 0},
    {"{\"sequence\":null}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"-1\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"+1\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\" 1\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"1 \"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"1a\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"0x10\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"1e3\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"1\\u00002\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"\\uff11\"}", SP_ERR_INVALID, 0}, /* a full-width digit one */
    /* too large for int64_t */
    {"{\"sequence\":\"9223372036854775808\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"18446744073709551615\"}", SP_ERR_INVALID, 0},
    {"{\"sequence\":\"99999999999999999999999\"}", SP_ERR_INVALID, 0},
};

START_TEST(sequence_parser_table)
{
    for (size_t i = 0; i < COUNT(sequence_cases); i++) {
        int64_t seq = -7;
        const char *in = sequence_cases[i].json;
        int rc = sp_envelope_sequence(in, strlen(in), NULL, &seq);
        ck_assert_msg(rc == sequence_cases[i].rc, "row %zu (%s): rc %d, expected %d", i, in, rc,
                      sequence_cases[i].rc);
        ck_assert_msg(seq == (rc == 0 ? sequence_cases[i].seq : -7), "row %zu (%s): sequence %lld",
                      i, in, (long long)seq);
    }
}
END_TEST

START_TEST(sequence_parser_reads_only_len_bytes)
{
    /* A message's payload is not NUL-terminated. */
    const char *buf = "{\"sequence\":\"12\"}{\"sequence\":\"13\"}";
    int64_t seq = 0;
    ck_assert_int_eq(sp_envelope_sequence(buf, 17, NULL, &seq), 0);
    ck_assert_int_eq(seq, 12);
    ck_assert_int_eq(sp_envelope_sequence(buf, strlen(buf), NULL, &seq), SP_ERR_INVALID);
    ck_assert_int_eq(sp_envelope_sequence(buf, 10, NULL, &seq), SP_ERR_INVALID);
}
END_TEST

START_TEST(sequence_parser_checks_source)
{
    /* The relay reads back its own events among other publishers'. */
    const char *ours = "{\"source\":\"https://sp.example\",\"sequence\":\"007\"}";
    const char *other = "{\"source\":\"https://storage.example\",\"sequence\":\"8\"}";
    const char *none = "{\"sequence\":\"9\"}";
    int64_t seq = 0;
    ck_assert_int_eq(sp_envelope_sequence(ours, strlen(ours), "https://sp.example", &seq), 0);
    ck_assert_int_eq(seq, 7);
    ck_assert_int_eq(sp_envelope_sequence(other, strlen(other), "https://sp.example", &seq),
                     SP_ERR_INVALID);
    ck_assert_int_eq(sp_envelope_sequence(none, strlen(none), "https://sp.example", &seq),
                     SP_ERR_INVALID);
    ck_assert_int_eq(seq, 7);
    ck_assert_int_eq(sp_envelope_sequence(other, strlen(other), NULL, &seq), 0);
    ck_assert_int_eq(seq, 8);
}
END_TEST

static Suite *envelope_suite(void)
{
    Suite *s = suite_create("envelope");
    TCase *tc = tcase_create("sequence");
    tcase_add_test(tc, sequence_is_zero_padded);
    tcase_add_test(tc, sequence_string_order_is_event_order);
    tcase_add_test(tc, initiator_is_an_extension_attribute);
    tcase_add_test(tc, sequence_round_trips);
    tcase_add_test(tc, sequence_parser_table);
    tcase_add_test(tc, sequence_parser_reads_only_len_bytes);
    tcase_add_test(tc, sequence_parser_checks_source);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(envelope_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
