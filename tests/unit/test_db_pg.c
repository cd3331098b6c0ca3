/*
 * test_db_pg.c - unit tests of store/db.h on PostgreSQL (db_pg.c), against
 * a real server: SPACEPORT_TEST_PG_URL names an admin URL of one
 * (postgres://postgres@127.0.0.1:PORT/postgres), on which the suite
 * creates a database of its own and drops it at the end. Without the
 * variable the suite skips (the unit suites also run where no PostgreSQL
 * is, under valgrind).
 *
 * What is checked is what the store relies on from SQLite's model: its
 * parameter numbering, values read as SQLite's, result codes, changes()
 * and last_id(), a COMMIT of a failed transaction failing, a broken
 * connection back outside a transaction and failing inside one, held-back
 * savepoints, and no password in the log.
 */
#include "pg_fixture.h"
#include "store/db.h"
#include "store/db_pg_internal.h"

#include "pg_fixture.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The test database's URL, made from the admin URL in main. */
static char db_url[512];

static sp_db *open_test_db(void)
{
    sp_db *db = NULL;
    ck_assert_int_eq(sp_db_open(db_url, 1, &db), SP_DB_OK);
    ck_assert_int_eq(sp_db_kind_get(db), SP_DB_POSTGRES);
    return db;
}

static sp_db_stmt *prepare(sp_db *db, const char *sql)
{
    sp_db_stmt *s = NULL;
    ck_assert_msg(sp_db_prepare(db, sql, &s) == SP_DB_OK, "prepare %s: %s", sql, sp_db_errmsg(db));
    return s;
}

/* Runs a statement without parameters that returns one integer. */
static int64_t one_int(sp_db *db, const char *sql)
{
    sp_db_stmt *s = prepare(db, sql);
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s: %s", sql, sp_db_errmsg(db));
    int64_t v = sp_db_column_int64(s, 0);
    ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
    sp_db_finalize(s);
    return v;
}

/* ---- parameters ------------------------------------------------------- */

START_TEST(numbered_parameters_keep_their_numbers)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT ?2 || '-' || ?1 || '-' || ?2");
    ck_assert_int_eq(sp_db_bind_count(s), 2);
    char src[2] = "a";
    sp_db_bind_text_copy(s, 1, src);
    src[0] = 'x'; /* copied: the statement still has "a" */
    sp_db_bind_text(s, 2, "b");
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_str_eq(sp_db_column_text(s, 0), "b-a-b");
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(bare_parameters_follow_the_largest_number)
{
    sp_db *db = open_test_db();
    /* SQLite's rule: ?, then ?3, then ? is 4 (not 2); 2 is never used. */
    sp_db_stmt *s = prepare(db, "SELECT ? || ?3 || ?");
    ck_assert_int_eq(sp_db_bind_count(s), 4);
    sp_db_bind_text(s, 1, "x");
    sp_db_bind_text(s, 3, "y");
    sp_db_bind_text(s, 4, "z");
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_str_eq(sp_db_column_text(s, 0), "xyz");
    ck_assert_int_eq(sp_db_bind_int64(s, 5, 1), SP_DB_ERROR); /* out of range */
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(question_marks_in_literals_comments_and_names_are_not_parameters)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT '?' || 'it''s ?' || ? AS \"a?b\", $$?$$ AS d -- ? here\n"
                                "/* and ? here */");
    ck_assert_int_eq(sp_db_bind_count(s), 1);
    sp_db_bind_text(s, 1, "!");
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_str_eq(sp_db_column_text(s, 0), "?it's ?!");
    ck_assert_str_eq(sp_db_column_text(s, 1), "?");
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

/* A parameter compared as NULL and as text: the server cannot type it
 * from a NULL first binding alone, nor from an integer's. */
START_TEST(optional_parameter_pattern_prepares_from_any_first_binding)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TEMP TABLE t (name TEXT NOT NULL, seq BIGINT);"
                                    "INSERT INTO t VALUES ('a', 1), ('b', 2), ('c', 3)"),
                     SP_DB_OK);
    /* Each parameter either NULL (no condition) or a bound: name > 'a'
     * leaves 2 rows, seq > 2 leaves 1, both 1. */
    static const char sql[] = "SELECT count(*) FROM t WHERE (?1 IS NULL OR name > ?1)"
                              " AND (?2 IS NULL OR seq > ?2)";
    for (int first = 0; first < 4; first++) {
        sp_db_stmt *s = prepare(db, sql);
        for (int round = 0; round < 4; round++) {
            int nulls = (first + round) % 4; /* bit 0: ?1 NULL, bit 1: ?2 NULL */
            if (nulls & 1)
                sp_db_bind_null(s, 1);
            else
                sp_db_bind_text(s, 1, "a");
            if (nulls & 2)
                sp_db_bind_null(s, 2);
            else
                sp_db_bind_int64(s, 2, 2);
            ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%d/%d: %s", first, round, sp_db_errmsg(db));
            static const int64_t want[4] = {1, 1, 2, 3};
            ck_assert_int_eq(sp_db_column_int64(s, 0), want[nulls]);
            sp_db_reset(s);
        }
        sp_db_finalize(s);
    }
    sp_db_close(db);
}
END_TEST

START_TEST(limit_concatenation_and_int4_functions_take_their_parameters)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT g FROM generate_series(1, 10) g ORDER BY g LIMIT ?");
    sp_db_bind_int64(s, 1, 2);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_int_eq(sp_db_column_int64(s, 0), 2);
    ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
    sp_db_finalize(s);

    s = prepare(db, "SELECT ? || 'x'");
    sp_db_bind_int64(s, 1, 7);
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_str_eq(sp_db_column_text(s, 0), "7x");
    sp_db_finalize(s);
    s = prepare(db, "SELECT ? || 'x'");
    sp_db_bind_text(s, 1, "w");
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_str_eq(sp_db_column_text(s, 0), "wx");
    sp_db_finalize(s);

    /* substr takes int4: an int8 parameter has no such function. */
    s = prepare(db, "SELECT substr('abcdef', ?, ?)");
    sp_db_bind_int64(s, 1, 2);
    sp_db_bind_int64(s, 2, 3);
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_str_eq(sp_db_column_text(s, 0), "bcd");
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

/* ---- values ----------------------------------------------------------- */

START_TEST(nulls_read_as_sqlite_reads_them)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT NULL::text, NULL::bigint, ?, ?::text");
    sp_db_bind_null(s, 1);
    sp_db_bind_text(s, 2, NULL);
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_int_eq(sp_db_column_count(s), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_ptr_null(sp_db_column_text(s, i));
        ck_assert_int_eq(sp_db_column_is_null(s, i), 1);
        ck_assert_int_eq(sp_db_column_int64(s, i), 0);
    }
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(booleans_read_as_one_and_zero)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT 1 = 1, 1 = 2, ''::text");
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_int_eq(sp_db_column_int64(s, 0), 1);
    ck_assert_int_eq(sp_db_column_int64(s, 1), 0);
    ck_assert_str_eq(sp_db_column_text(s, 0), "1");
    ck_assert_str_eq(sp_db_column_text(s, 1), "0");
    ck_assert_int_eq(sp_db_column_is_null(s, 2), 0); /* empty is not NULL */
    ck_assert_str_eq(sp_db_column_text(s, 2), "");
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(numerics_and_reals_read_as_integers_truncated)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT sum(v), (SELECT avg(w) FROM (VALUES (1), (2)) u(w)), "
                                "2.9::float8, (-2.9)::numeric, 1e300::float8 FROM "
                                "(VALUES (9000000000000000000::bigint), (1::bigint)) t(v)");
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_int_eq(sp_db_column_int64(s, 0), INT64_C(9000000000000000001)); /* numeric */
    ck_assert_int_eq(sp_db_column_int64(s, 1), 1);                            /* 1.5 */
    ck_assert_int_eq(sp_db_column_int64(s, 2), 2);
    ck_assert_int_eq(sp_db_column_int64(s, 3), -2);
    ck_assert_int_eq(sp_db_column_int64(s, 4), INT64_MAX);
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(sessions_speak_utf8_and_name_themselves)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT current_setting('client_encoding'), "
                                "current_setting('application_name'), length(?)");
    sp_db_bind_text(s, 1, "Gr\xc3\xbc\xc3\x9f\xe2\x82\xac");
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_str_eq(sp_db_column_text(s, 0), "UTF8");
    ck_assert_str_eq(sp_db_column_text(s, 1), "spaceport");
    ck_assert_int_eq(sp_db_column_int64(s, 2), 5); /* characters, not bytes */
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(int64_extremes_round_trip)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TEMP TABLE n (v BIGINT)"), SP_DB_OK);
    static const int64_t values[] = {INT64_MAX, INT64_MIN, 0, -1, (int64_t)1 << 53};
    sp_db_stmt *ins = prepare(db, "INSERT INTO n (v) VALUES (?)");
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        sp_db_bind_int64(ins, 1, values[i]);
        ck_assert_int_eq(sp_db_step(ins), SP_DB_DONE);
        sp_db_reset(ins);
    }
    sp_db_finalize(ins);
    sp_db_stmt *s = prepare(db, "SELECT v FROM n WHERE v = ?");
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        sp_db_bind_int64(s, 1, values[i]);
        ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
        ck_assert_int_eq(sp_db_column_int64(s, 0), values[i]);
        ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
        sp_db_reset(s);
    }
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

/* ---- results ---------------------------------------------------------- */

START_TEST(constraint_violation_reads_as_constraint)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TEMP TABLE u (id BIGINT PRIMARY KEY, v TEXT NOT NULL)"),
                     SP_DB_OK);
    sp_db_stmt *s = prepare(db, "INSERT INTO u (id, v) VALUES (?, ?)");
    sp_db_bind_int64(s, 1, 1);
    sp_db_bind_text(s, 2, "x");
    ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
    sp_db_reset(s);
    sp_db_bind_int64(s, 1, 1);
    sp_db_bind_text(s, 2, "y");
    ck_assert_int_eq(sp_db_step(s), SP_DB_CONSTRAINT);
    ck_assert_int_eq(sp_db_errcode(db), SP_DB_CONSTRAINT);
    ck_assert_ptr_nonnull(strstr(sp_db_errmsg(db), "23505"));
    sp_db_reset(s);
    sp_db_bind_int64(s, 1, 2);
    sp_db_bind_null(s, 2);
    ck_assert_int_eq(sp_db_step(s), SP_DB_CONSTRAINT); /* NOT NULL */
    ck_assert_ptr_nonnull(strstr(sp_db_errmsg(db), "23502"));
    sp_db_finalize(s);
    /* And an error that is no constraint's. */
    ck_assert_int_eq(sp_db_exec(db, "SELECT 1/0"), SP_DB_ERROR);
    ck_assert_ptr_nonnull(strstr(sp_db_errmsg(db), "22012"));
    sp_db_close(db);
}
END_TEST

START_TEST(changes_count_only_inserts_updates_and_deletes)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TEMP TABLE c (k INT, v INT)"), SP_DB_OK);
    ck_assert_int_eq(sp_db_exec(db, "INSERT INTO c VALUES (1, 0), (2, 0), (3, 0)"), SP_DB_OK);
    ck_assert_int_eq(sp_db_changes(db), 3);
    sp_db_stmt *s = prepare(db, "UPDATE c SET v = 1 WHERE k >= ?");
    sp_db_bind_int64(s, 1, 2);
    ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
    ck_assert_int_eq(sp_db_changes(db), 2);
    sp_db_finalize(s);
    /* A query in between leaves the count as it was. */
    ck_assert_int_eq(one_int(db, "SELECT count(*) FROM c"), 3);
    ck_assert_int_eq(sp_db_changes(db), 2);
    s = prepare(db, "DELETE FROM c WHERE k > ?");
    sp_db_bind_int64(s, 1, 99);
    ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
    ck_assert_int_eq(sp_db_changes(db), 0);
    sp_db_finalize(s);
    s = prepare(db, "INSERT INTO c VALUES (?, 0) RETURNING k");
    sp_db_bind_int64(s, 1, 4);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_int_eq(sp_db_column_int64(s, 0), 4);
    ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
    ck_assert_int_eq(sp_db_changes(db), 1);
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(last_id_is_the_identity_just_drawn)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(
        sp_db_exec(db, "CREATE TEMP TABLE i (seq BIGINT GENERATED ALWAYS AS IDENTITY, v TEXT)"),
        SP_DB_OK);
    sp_db_stmt *s = prepare(db, "INSERT INTO i (v) VALUES (?)");
    for (int64_t want = 1; want <= 3; want++) {
        sp_db_bind_text(s, 1, "v");
        ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
        sp_db_reset(s);
        ck_assert_int_eq(sp_db_last_id(db), want);
    }
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(rows_step_in_order_and_a_reset_runs_again)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT g, 'r' || g FROM generate_series(1, ?) g ORDER BY g");
    for (int round = 0; round < 2; round++) {
        sp_db_bind_int64(s, 1, 3);
        for (int64_t want = 1; want <= 3; want++) {
            ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
            ck_assert_int_eq(sp_db_column_int64(s, 0), want);
            char text[8];
            snprintf(text, sizeof text, "r%d", (int)want);
            ck_assert_str_eq(sp_db_column_text(s, 1), text);
        }
        ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
        ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
        sp_db_reset(s);
    }
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

/* ---- transactions ----------------------------------------------------- */

/* PostgreSQL answers the COMMIT of a failed transaction as a success
 * (tag ROLLBACK); read as one, the store would acknowledge lost writes. */
START_TEST(commit_of_a_failed_transaction_fails)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TABLE f (id BIGINT PRIMARY KEY)"), SP_DB_OK);
    sp_db_stmt *ins = prepare(db, "INSERT INTO f (id) VALUES (?)");
    sp_db_stmt *commit = NULL;
    static const char *const commits[] = {"exec", "NOTIFY spaceport_test; COMMIT", "stmt"};
    for (int k = 0; k < 3; k++) {
        ck_assert_int_eq(sp_db_exec(db, "BEGIN"), SP_DB_OK);
        sp_db_bind_int64(ins, 1, 10 + k);
        ck_assert_int_eq(sp_db_step(ins), SP_DB_DONE);
        sp_db_reset(ins);
        sp_db_bind_int64(ins, 1, 10 + k);
        ck_assert_int_eq(sp_db_step(ins), SP_DB_CONSTRAINT); /* the transaction fails */
        sp_db_reset(ins);
        ck_assert_int_eq(sp_db_in_txn(db), 1);
        if (k == 2) {
            /* Through a prepared statement, as the store's COMMIT runs. */
            if (!commit)
                commit = prepare(db, "COMMIT");
            ck_assert_int_ne(sp_db_step(commit), SP_DB_DONE);
            sp_db_reset(commit);
        } else {
            ck_assert_int_eq(sp_db_exec(db, k == 0 ? "COMMIT" : commits[k]), SP_DB_ERROR);
        }
        if (sp_db_in_txn(db))
            ck_assert_int_eq(sp_db_exec(db, "ROLLBACK"), SP_DB_OK);
        ck_assert_int_eq(sp_db_in_txn(db), 0);
    }
    ck_assert_int_eq(one_int(db, "SELECT count(*) FROM f"), 0);
    /* A good transaction still commits, through the same statement. */
    ck_assert_int_eq(sp_db_exec(db, "BEGIN"), SP_DB_OK);
    sp_db_bind_int64(ins, 1, 1);
    ck_assert_int_eq(sp_db_step(ins), SP_DB_DONE);
    sp_db_reset(ins);
    ck_assert_int_eq(sp_db_step(commit), SP_DB_DONE);
    sp_db_reset(commit);
    ck_assert_int_eq(one_int(db, "SELECT count(*) FROM f"), 1);
    sp_db_finalize(commit);
    sp_db_finalize(ins);
    ck_assert_int_eq(sp_db_exec(db, "DROP TABLE f"), SP_DB_OK);
    sp_db_close(db);
}
END_TEST

/* A statement the server cannot type on the first try, or cannot parse,
 * leaves the transaction around it as it was, as on SQLite. */
START_TEST(a_failed_prepare_leaves_the_transaction_alive)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TEMP TABLE p (v TEXT)"), SP_DB_OK);
    ck_assert_int_eq(sp_db_exec(db, "BEGIN; INSERT INTO p VALUES ('kept')"), SP_DB_OK);
    sp_db_stmt *s = prepare(db, "SELECT substr('abc', ?, ?)");
    sp_db_bind_int64(s, 1, 1);
    sp_db_bind_int64(s, 2, 1);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_str_eq(sp_db_column_text(s, 0), "a");
    sp_db_finalize(s);
    /* Several typings tried, each failure rolled back to the savepoint. */
    s = prepare(db, "SELECT count(*) FROM p WHERE (?1 IS NULL OR v > ?1)"
                    " AND (?2 IS NULL OR length(v) > ?2)");
    sp_db_bind_null(s, 1);
    sp_db_bind_null(s, 2);
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_int_eq(sp_db_column_int64(s, 0), 1);
    sp_db_finalize(s);
    s = NULL;
    ck_assert_int_ne(sp_db_prepare(db, "SELEC 1", &s), SP_DB_OK);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(sp_db_exec(db, "COMMIT"), SP_DB_OK);
    ck_assert_int_eq(one_int(db, "SELECT count(*) FROM p WHERE v = 'kept'"), 1);
    sp_db_close(db);
}
END_TEST

/* SAVEPOINT and RELEASE are held back and sent with the next statement:
 * what they do must come out the same. */
START_TEST(held_back_savepoints_take_effect_in_order)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TEMP TABLE h (v INT)"), SP_DB_OK);
    sp_db_stmt *sa = prepare(db, "SAVEPOINT a");
    sp_db_stmt *ra = prepare(db, "RELEASE a");
    sp_db_stmt *sb = prepare(db, "SAVEPOINT b");
    sp_db_stmt *ins = prepare(db, "INSERT INTO h (v) VALUES (?)");
    sp_db_stmt *count = prepare(db, "SELECT count(*), coalesce(sum(v), 0) FROM h");
    ck_assert_int_eq(sp_db_exec(db, "BEGIN"), SP_DB_OK);
    for (int round = 0; round < 2; round++) {
        ck_assert_int_eq(sp_db_step(sa), SP_DB_DONE);
        ck_assert_int_eq(sp_db_step(sa), SP_DB_DONE); /* still done, still once */
        sp_db_reset(sa);
        sp_db_bind_int64(ins, 1, 1 + round);
        ck_assert_msg(sp_db_step(ins) == SP_DB_DONE, "%s", sp_db_errmsg(db));
        sp_db_reset(ins);
        ck_assert_int_eq(sp_db_step(ra), SP_DB_DONE);
        sp_db_reset(ra);
    }
    /* b, then a row rolled back to it: the ROLLBACK TO (an exec) takes
     * the held-back SAVEPOINT b along before it. */
    ck_assert_int_eq(sp_db_step(sb), SP_DB_DONE);
    sp_db_reset(sb);
    ck_assert_int_eq(sp_db_exec(db, "ROLLBACK TO b"), SP_DB_OK);
    ck_assert_int_eq(sp_db_step(sb), SP_DB_DONE);
    sp_db_reset(sb);
    sp_db_bind_int64(ins, 1, 100);
    ck_assert_int_eq(sp_db_step(ins), SP_DB_DONE);
    sp_db_reset(ins);
    ck_assert_int_eq(sp_db_exec(db, "ROLLBACK TO b"), SP_DB_OK);
    /* Held back before last_id and before a new statement is prepared. */
    ck_assert_int_eq(sp_db_step(sa), SP_DB_DONE);
    sp_db_reset(sa);
    sp_db_stmt *late = prepare(db, "SELECT ? + 1");
    sp_db_bind_int64(late, 1, 1);
    ck_assert_msg(sp_db_step(late) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    sp_db_finalize(late);
    ck_assert_int_eq(sp_db_step(ra), SP_DB_DONE);
    sp_db_reset(ra);
    ck_assert_int_eq(sp_db_exec(db, "COMMIT"), SP_DB_OK);
    ck_assert_int_eq(sp_db_step(count), SP_DB_ROW);
    ck_assert_int_eq(sp_db_column_int64(count, 0), 2);
    ck_assert_int_eq(sp_db_column_int64(count, 1), 3);
    sp_db_reset(count);
    sp_db_finalize(count);
    sp_db_finalize(ins);
    sp_db_finalize(sb);
    sp_db_finalize(ra);
    sp_db_finalize(sa);
    sp_db_close(db);
}
END_TEST

/* A held-back statement that fails fails the statement it went with, and
 * the transaction with it: nothing after it reads as done. */
START_TEST(a_failing_held_back_statement_fails_what_follows)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TABLE hf (v INT)"), SP_DB_OK);
    sp_db_stmt *bad = prepare(db, "RELEASE nosuch");
    sp_db_stmt *ins = prepare(db, "INSERT INTO hf (v) VALUES (?)");
    for (int via_exec = 0; via_exec < 2; via_exec++) {
        ck_assert_int_eq(sp_db_exec(db, "BEGIN"), SP_DB_OK);
        sp_db_bind_int64(ins, 1, 1);
        ck_assert_int_eq(sp_db_step(ins), SP_DB_DONE);
        sp_db_reset(ins);
        ck_assert_int_eq(sp_db_step(bad), SP_DB_DONE); /* held back */
        sp_db_reset(bad);
        if (via_exec) {
            ck_assert_int_eq(sp_db_exec(db, "COMMIT"), SP_DB_ERROR);
        } else {
            sp_db_bind_int64(ins, 1, 2);
            ck_assert_int_eq(sp_db_step(ins), SP_DB_ERROR);
            sp_db_reset(ins);
            ck_assert_msg(strstr(sp_db_errmsg(db), "3B001") != NULL, "%s", sp_db_errmsg(db));
            ck_assert_int_eq(sp_db_exec(db, "COMMIT"), SP_DB_ERROR);
        }
        if (sp_db_in_txn(db))
            ck_assert_int_eq(sp_db_exec(db, "ROLLBACK"), SP_DB_OK);
    }
    ck_assert_int_eq(one_int(db, "SELECT count(*) FROM hf"), 0);
    sp_db_finalize(ins);
    sp_db_finalize(bad);
    ck_assert_int_eq(sp_db_exec(db, "DROP TABLE hf"), SP_DB_OK);
    sp_db_close(db);
}
END_TEST

START_TEST(in_txn_follows_the_transaction)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_in_txn(db), 0);
    /* Outside a transaction a SAVEPOINT is not held back: it fails at
     * once, as the server says. */
    sp_db_stmt *sa = prepare(db, "SAVEPOINT a");
    ck_assert_int_eq(sp_db_step(sa), SP_DB_ERROR);
    ck_assert_msg(strstr(sp_db_errmsg(db), "25P01") != NULL, "%s", sp_db_errmsg(db));
    sp_db_finalize(sa);
    ck_assert_int_eq(sp_db_exec(db, "BEGIN"), SP_DB_OK);
    ck_assert_int_eq(sp_db_in_txn(db), 1);
    ck_assert_int_eq(sp_db_exec(db, "SELECT 1/0"), SP_DB_ERROR);
    ck_assert_int_eq(sp_db_in_txn(db), 1); /* failed, awaiting ROLLBACK */
    ck_assert_int_eq(sp_db_exec(db, "ROLLBACK"), SP_DB_OK);
    ck_assert_int_eq(sp_db_in_txn(db), 0);
    sp_db_close(db);
}
END_TEST

START_TEST(finalize_drops_the_server_statement)
{
    sp_db *db = open_test_db();
    static const char count[] = "SELECT count(*) FROM pg_prepared_statements";
    int64_t before = one_int(db, count);
    sp_db_stmt *s = prepare(db, "SELECT ?::int + 1");
    sp_db_bind_int64(s, 1, 1);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    sp_db_reset(s);
    ck_assert_int_eq(one_int(db, count), before + 1);
    sp_db_finalize(s);
    ck_assert_int_eq(one_int(db, count), before);
    sp_db_close(db);
}
END_TEST

/* ---- connection loss -------------------------------------------------- */

/* Terminates the server process pid from another connection. */
static void terminate_pid(int64_t pid)
{
    sp_db *admin = open_test_db();
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%lld)::int", (long long)pid);
    ck_assert_int_eq(one_int(admin, sql), 1);
    sp_db_close(admin);
    /* The server ends the process after answering: wait until it is gone,
     * so that what follows meets a closed connection, not a dying one. */
    sp_db *watch = open_test_db();
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %lld",
             (long long)pid);
    for (int i = 0; i < 200 && one_int(watch, sql) > 0; i++)
        usleep(10000);
    sp_db_close(watch);
}

/* Terminates db's server process. */
static void terminate(sp_db *db)
{
    terminate_pid(one_int(db, "SELECT pg_backend_pid()"));
}

START_TEST(a_terminated_connection_comes_back_outside_a_transaction)
{
    sp_db *db = open_test_db();
    sp_db_stmt *s = prepare(db, "SELECT ? + 1");
    sp_db_bind_int64(s, 1, 41);
    ck_assert_int_eq(sp_db_step(s), SP_DB_ROW);
    ck_assert_int_eq(sp_db_column_int64(s, 0), 42);
    sp_db_reset(s);
    int64_t pid = one_int(db, "SELECT pg_backend_pid()");

    terminate(db);
    /* Prepared on the old session, it runs on the new one. */
    sp_db_bind_int64(s, 1, 1);
    ck_assert_msg(sp_db_step(s) == SP_DB_ROW, "%s", sp_db_errmsg(db));
    ck_assert_int_eq(sp_db_column_int64(s, 0), 2);
    sp_db_reset(s);
    ck_assert_int_ne(one_int(db, "SELECT pg_backend_pid()"), pid);

    /* And an exec finds its way back the same. */
    terminate(db);
    ck_assert_int_eq(sp_db_exec(db, "SELECT 1"), SP_DB_OK);
    /* The session is set up again: notices below warnings stay silent. */
    sp_db_stmt *q = prepare(db, "SELECT current_setting('client_min_messages')");
    ck_assert_int_eq(sp_db_step(q), SP_DB_ROW);
    ck_assert_str_eq(sp_db_column_text(q, 0), "warning");
    sp_db_finalize(q);
    sp_db_finalize(s);
    sp_db_close(db);
}
END_TEST

START_TEST(a_terminated_connection_fails_inside_a_transaction)
{
    sp_db *db = open_test_db();
    ck_assert_int_eq(sp_db_exec(db, "CREATE TABLE lost (v INT)"), SP_DB_OK);
    sp_db_stmt *s = prepare(db, "INSERT INTO lost (v) VALUES (?)");
    /* Then again with a SAVEPOINT held back: the pipeline meets it. */
    for (int held = 0; held < 2; held++) {
        sp_db_stmt *sp = prepare(db, "SAVEPOINT x"); /* on this session */
        int64_t pid = one_int(db, "SELECT pg_backend_pid()");
        ck_assert_int_eq(sp_db_exec(db, "BEGIN"), SP_DB_OK);
        sp_db_bind_int64(s, 1, 1);
        ck_assert_int_eq(sp_db_step(s), SP_DB_DONE);
        sp_db_reset(s);
        if (held) {
            ck_assert_int_eq(sp_db_step(sp), SP_DB_DONE);
            sp_db_reset(sp);
        }
        terminate_pid(pid);
        if (held) { /* the store reads a key without looking for an error */
            ck_assert_int_eq(sp_db_last_id(db), 0);
        } else {
            sp_db_bind_int64(s, 1, 2);
            ck_assert_int_eq(sp_db_step(s), SP_DB_ERROR); /* not retried: the transaction is gone */
            sp_db_reset(s);
        }
        ck_assert_int_eq(sp_db_in_txn(db), 0);
        /* Going on as if still in it writes nothing outside a transaction,
         * and a COMMIT fails (PostgreSQL would answer it as done). */
        sp_db_bind_int64(s, 1, 3);
        ck_assert_int_eq(sp_db_step(s), SP_DB_ERROR);
        sp_db_reset(s);
        ck_assert_int_eq(sp_db_in_txn(db), 0);
        ck_assert_int_ne(sp_db_exec(db, "COMMIT"), SP_DB_OK);
        ck_assert_int_eq(sp_db_exec(db, held ? "BEGIN" : "ROLLBACK"), SP_DB_OK);
        if (held)
            ck_assert_int_eq(sp_db_exec(db, "ROLLBACK"), SP_DB_OK);
        ck_assert_int_eq(one_int(db, "SELECT count(*) FROM lost"), 0);
        sp_db_finalize(sp);
    }
    sp_db_finalize(s);
    ck_assert_int_eq(sp_db_exec(db, "DROP TABLE lost"), SP_DB_OK);
    sp_db_close(db);
}
END_TEST

/* A pipeline cut short leaves the connection in pipeline mode with
 * results unread (a server restarting under load): the next call makes
 * the connection again instead of being refused by libpq for good. */
START_TEST(a_connection_left_in_pipeline_mode_is_made_again)
{
    sp_db *db = open_test_db();
    PGconn *conn = ((pg_db *)db)->conn;
    ck_assert_int_eq(PQenterPipelineMode(conn), 1);
    ck_assert_int_eq(PQsendQueryParams(conn, "SELECT 1", 0, NULL, NULL, NULL, NULL, 0), 1);
    ck_assert_int_eq(PQpipelineSync(conn), 1);
    ck_assert_int_eq(PQexitPipelineMode(conn), 0); /* busy: as the cut pipeline left it */
    ck_assert_int_eq(one_int(db, "SELECT 2"), 2);
    sp_db_close(db);
}
END_TEST

/* ---- logs ------------------------------------------------------------- */

/* Opens location (which fails) with stderr, where the log goes, caught.
 * Returns the log (new, caller frees). */
static char *log_of_failed_open(const char *location)
{
    char path[] = "/tmp/test_db_pg_XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    sp_db *db = NULL;
    int rc = sp_db_open(location, 0, &db);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    ck_assert_int_ne(rc, SP_DB_OK);
    ck_assert_ptr_null(db);
    char *log = calloc(1, 8192);
    ck_assert_ptr_nonnull(log);
    ck_assert_int_ge(pread(fd, log, 8191, 0), 1);
    close(fd);
    return log;
}

START_TEST(a_bad_url_is_logged_without_its_password)
{
    static const char *const locations[] = {
        "postgres://spuser:s3cretpw@127.0.0.1:1/x",
        "postgresql://spuser:s3cretpw@127.0.0.1:1/x?sslmode=disable",
        "postgres://spuser@127.0.0.1:1/x?password=s3cretpw&sslmode=disable",
        "host=127.0.0.1 port=1 user=spuser password=s3cretpw dbname=x",
        "host=127.0.0.1 port=1 user=spuser password='s3cret pw' dbname=x",
        "host=127.0.0.1 port=1 user=spuser password = s3cretpw dbname=x",
        "postgres://spuser:pw@127.0.0.1:1/x?sslpassword=s3cretkey&sslmode=disable",
        "host=127.0.0.1 port=1 user=spuser sslpassword=s3cretkey dbname=x",
        /* libpq cannot read these, and says so quoting the password */
        "postgres://spuser:s3cret%pw@127.0.0.1:1/x",
        "postgres://spuser@127.0.0.1:1/x?password=s3cret%zz",
        "host=127.0.0.1 port=1 user=spuser password='s3cretpw",
        /* locations libpq cannot parse, which its message quotes */
        "postgres://spuser:s3cretpw@[127.0.0.1/x",
        "postgres://spuser:s3cret%zz@127.0.0.1:1/x",
        /* passwords typed without percent-encoding */
        "postgres://spuser:s3cret/pw@127.0.0.1:1/x",
        "postgres://spuser:s3cret?pw@127.0.0.1:1/x",
        "postgres://spuser:s3cret#pw@127.0.0.1:1/x",
        "postgres://spuser:s3cret@pw@127.0.0.1:1/x",
    };
    for (size_t i = 0; i < sizeof locations / sizeof locations[0]; i++) {
        char *log = log_of_failed_open(locations[i]);
        ck_assert_msg(strstr(log, "cannot connect") != NULL, "%s", log);
        ck_assert_msg(strstr(log, "spuser") != NULL, "%s", log);
        ck_assert_msg(strstr(log, "***") != NULL, "%s", log);
        ck_assert_msg(strstr(log, "s3cret") == NULL, "password logged: %s", log);
        free(log);
    }
}
END_TEST

static Suite *db_pg_suite(void)
{
    Suite *s = suite_create("db_pg");
    TCase *tc = tcase_create("parameters");
    tcase_add_test(tc, numbered_parameters_keep_their_numbers);
    tcase_add_test(tc, bare_parameters_follow_the_largest_number);
    tcase_add_test(tc, question_marks_in_literals_comments_and_names_are_not_parameters);
    tcase_add_test(tc, optional_parameter_pattern_prepares_from_any_first_binding);
    tcase_add_test(tc, limit_concatenation_and_int4_functions_take_their_parameters);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, nulls_read_as_sqlite_reads_them);
    tcase_add_test(tc, booleans_read_as_one_and_zero);
    tcase_add_test(tc, int64_extremes_round_trip);
    tcase_add_test(tc, numerics_and_reals_read_as_integers_truncated);
    tcase_add_test(tc, sessions_speak_utf8_and_name_themselves);
    suite_add_tcase(s, tc);

    tc = tcase_create("results");
    tcase_add_test(tc, constraint_violation_reads_as_constraint);
    tcase_add_test(tc, changes_count_only_inserts_updates_and_deletes);
    tcase_add_test(tc, last_id_is_the_identity_just_drawn);
    tcase_add_test(tc, rows_step_in_order_and_a_reset_runs_again);
    suite_add_tcase(s, tc);

    tc = tcase_create("transactions");
    tcase_add_test(tc, commit_of_a_failed_transaction_fails);
    tcase_add_test(tc, a_failed_prepare_leaves_the_transaction_alive);
    tcase_add_test(tc, in_txn_follows_the_transaction);
    tcase_add_test(tc, held_back_savepoints_take_effect_in_order);
    tcase_add_test(tc, a_failing_held_back_statement_fails_what_follows);
    tcase_add_test(tc, finalize_drops_the_server_statement);
    suite_add_tcase(s, tc);

    tc = tcase_create("connection");
    tcase_add_test(tc, a_terminated_connection_comes_back_outside_a_transaction);
    tcase_add_test(tc, a_terminated_connection_fails_inside_a_transaction);
    tcase_add_test(tc, a_connection_left_in_pipeline_mode_is_made_again);
    tcase_add_test(tc, a_bad_url_is_logged_without_its_password);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int pg = pg_fixture_create("db_pg", db_url, sizeof db_url);
    if (pg <= 0) {
        if (pg == 0)
            printf("1..0 # SKIP SPACEPORT_TEST_PG_URL is not set: no PostgreSQL to test against\n");
        return pg == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }

    SRunner *sr = srunner_create(db_pg_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);

    pg_fixture_drop();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
