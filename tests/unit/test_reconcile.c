/*
 * test_reconcile.c - unit tests of what the relay concludes the stream
 * holds (src/events/reconcile.c), over streams made of strings: the walk
 * back from the end, other publishers' messages skipped, deleted messages,
 * the window below the newest event and the cursor, a front removed by the
 * stream's limits, an empty stream, a read that fails, and the lookup.
 */
#include "events/reconcile.h"
#include "util/err.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE "https://spaceport.example"
#define MAX_MSGS 64

/* A stream of up to MAX_MSGS messages; index = stream sequence. */
typedef struct fake_stream {
    const char *msgs[MAX_MSGS + 1]; /* NULL: deleted */
    uint64_t first, last;
    uint64_t fail_at; /* read of this sequence fails */
    int reads;
} fake_stream;

static char *ours(int64_t seq)
{
    char *s = malloc(160);
    /* Zero-padded as the relay publishes it. */
    snprintf(s, 160,
             "{\"specversion\":\"1.0\",\"id\":\"e%lld\",\"source\":\"" SOURCE
             "\",\"type\":\"spaceport.share.created\",\"sequence\":\"%020lld\",\"data\":{}}",
             (long long)seq, (long long)seq);
    return s;
}

static int fake_read(void *ctx, uint64_t seq, const char **text, size_t *len)
{
    fake_stream *f = ctx;
    f->reads++;
    if (seq == f->fail_at)
        return SP_ERR_UNAVAILABLE;
    if (seq > MAX_MSGS || !f->msgs[seq])
        return SP_ERR_NOT_FOUND;
    *text = f->msgs[seq];
    *len = strlen(*text);
    return 0;
}

static char *owned[MAX_MSGS + 1];

/* Appends our event ev as the next stream message. */
static void add_ours(fake_stream *f, int64_t ev)
{
    f->last++;
    owned[f->last] = ours(ev);
    f->msgs[f->last] = owned[f->last];
    if (!f->first)
        f->first = 1;
}

static void add_other(fake_stream *f, const char *text)
{
    f->last++;
    f->msgs[f->last] = text;
    if (!f->first)
        f->first = 1;
}

static sp_stream_view view_of(fake_stream *f)
{
    uint64_t msgs = 0;
    for (uint64_t i = f->first; i && i <= f->last; i++)
        msgs += f->msgs[i] != NULL;
    return (sp_stream_view){f->first, f->last, msgs, fake_read, f};
}

static void teardown(void)
{
    for (int i = 0; i <= MAX_MSGS; i++) {
        free(owned[i]);
        owned[i] = NULL;
    }
}

START_TEST(lost_tail_found)
{
    /* Events 1..10 in the stream; the cursor says 15 were published. */
    fake_stream f = {0};
    for (int64_t e = 1; e <= 10; e++)
        add_ours(&f, e);
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 15, 4, &h), 0);
    ck_assert_int_eq(h.top, 10);
    /* Event 6 is a window below the newest: everything up to 2 is held;
     * 5..2 are read to know the events above the floor one by one. */
    ck_assert_int_eq(h.floor, 2);
    ck_assert_int_eq(h.scanned, 9);
    for (int64_t e = 1; e <= 10; e++)
        ck_assert_msg(sp_held_has(&h, e), "event %lld is held", (long long)e);
    for (int64_t e = 11; e <= 15; e++)
        ck_assert_msg(!sp_held_has(&h, e), "event %lld is missing", (long long)e);
    sp_held_free(&h);
}
END_TEST

START_TEST(holes_within_window)
{
    /* A failed publish sent 5..8 again after 9: event 7 is missing from
     * the stream below the newest event. */
    fake_stream f = {0};
    static const int64_t order[] = {1, 2, 3, 4, 5, 6, 9, 5, 6, 8, 10};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++)
        add_ours(&f, order[i]);
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 10, 4, &h), 0);
    ck_assert_int_eq(h.top, 10);
    ck_assert(!sp_held_has(&h, 7));
    for (int64_t e = 1; e <= 10; e++)
        ck_assert_msg(e == 7 || sp_held_has(&h, e), "event %lld is held", (long long)e);
    ck_assert(!sp_held_has(&h, 11));
    /* Each held event once in the set. */
    for (size_t i = 1; i < h.n; i++)
        ck_assert_int_lt(h.seqs[i - 1], h.seqs[i]);
    sp_held_free(&h);
}
END_TEST

START_TEST(others_and_deleted_skipped)
{
    fake_stream f = {0};
    add_ours(&f, 1);
    add_ours(&f, 2);
    add_other(&f, "{\"specversion\":\"1.0\",\"source\":\"https://storage.example\","
                  "\"sequence\":\"99\",\"type\":\"spaceport.storage.changed\"}");
    add_ours(&f, 3);
    add_other(&f, "not json at all");
    f.last++; /* a deleted message */
    add_other(&f, "{\"source\":\"" SOURCE "\",\"sequence\":\"12x\"}");
    add_other(&f, "{\"source\":\"" SOURCE "\",\"sequence\":\"99999999999999999999999\"}");
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 3, 100, &h), 0);
    ck_assert_int_eq(h.top, 3);
    ck_assert_int_eq(h.floor, 0); /* read from message 1: nothing is taken on trust */
    ck_assert_int_eq(h.n, 3);
    ck_assert(!sp_held_has(&h, 99));
    sp_held_free(&h);
}
END_TEST

START_TEST(only_others)
{
    /* None of ours: a stream read to its first message holds none of the
     * log; one whose front was removed leaves the cursor trusted. */
    fake_stream f = {0};
    add_other(&f, "{\"source\":\"https://storage.example\",\"sequence\":\"1\"}");
    add_other(&f, "{}");
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 9, 4, &h), 0);
    ck_assert_int_eq(h.floor, 0);
    ck_assert_int_eq(h.n, 0);
    ck_assert(!sp_held_has(&h, 1));
    sp_held_free(&h);
    f.msgs[1] = NULL;
    f.first = 2;
    v = view_of(&f);
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 9, 4, &h), 0);
    ck_assert_int_eq(h.floor, 9);
    sp_held_free(&h);
}
END_TEST

START_TEST(front_removed_by_limits)
{
    /* Messages 1..4 removed by the stream's limits; 5..8 hold events 5..8. */
    fake_stream f = {0};
    for (int64_t e = 1; e <= 8; e++)
        add_ours(&f, e);
    for (int i = 1; i <= 4; i++)
        f.msgs[i] = NULL;
    f.first = 5;
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 8, 100, &h), 0);
    ck_assert_int_eq(h.floor, 5);
    ck_assert(sp_held_has(&h, 2)); /* not published again: the operator's limits */
    sp_held_free(&h);
}
END_TEST

START_TEST(empty_streams)
{
    sp_held h;
    sp_stream_view never = {0, 0, 0, fake_read, NULL};
    ck_assert_int_eq(sp_held_scan(&never, SOURCE, 42, 4, &h), 0);
    ck_assert_int_eq(h.floor, 0); /* a lost store: publish the whole log again */
    ck_assert(!sp_held_has(&h, 1));
    sp_held_free(&h);
    sp_stream_view purged = {31, 30, 0, fake_read, NULL};
    ck_assert_int_eq(sp_held_scan(&purged, SOURCE, 42, 4, &h), 0);
    ck_assert_int_eq(h.floor, 42); /* purged on purpose: trust the cursor */
    sp_held_free(&h);
}
END_TEST

START_TEST(read_failure)
{
    fake_stream f = {0};
    for (int64_t e = 1; e <= 6; e++)
        add_ours(&f, e);
    f.fail_at = 4;
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 6, 100, &h), SP_ERR_UNAVAILABLE);
    ck_assert_ptr_null(h.seqs);
    ck_assert_int_eq(f.reads, 3);
}
END_TEST

START_TEST(stream_ahead_of_cursor)
{
    /* Published but the cursor was not moved (a crash before the mark):
     * everything in the stream counts as held, nothing is sent twice. */
    fake_stream f = {0};
    for (int64_t e = 1; e <= 20; e++)
        add_ours(&f, e);
    sp_stream_view v = view_of(&f);
    sp_held h;
    ck_assert_int_eq(sp_held_scan(&v, SOURCE, 12, 3, &h), 0);
    ck_assert_int_eq(h.top, 20);
    ck_assert_int_eq(h.floor, 14);
    for (int64_t e = 1; e <= 20; e++)
        ck_assert(sp_held_has(&h, e));
    sp_held_free(&h);
}
END_TEST

static Suite *reconcile_suite(void)
{
    Suite *s = suite_create("reconcile");
    TCase *tc = tcase_create("reconcile");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, lost_tail_found);
    tcase_add_test(tc, holes_within_window);
    tcase_add_test(tc, others_and_deleted_skipped);
    tcase_add_test(tc, only_others);
    tcase_add_test(tc, front_removed_by_limits);
    tcase_add_test(tc, empty_streams);
    tcase_add_test(tc, read_failure);
    tcase_add_test(tc, stream_ahead_of_cursor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(reconcile_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
