/*
 * raw_sqlite.c - the ceiling for share creation in tests/bench/sharing.py:
 * one writer committing transactions of two inserts, a share-like row and
 * an event-like row, with the pragmas the service uses (WAL,
 * synchronous=FULL, foreign_keys=ON) and tables shaped like its shares and
 * events tables (same columns, unique and partial indexes, foreign keys).
 *
 *   raw_sqlite <db-path> <seconds> [event-data-bytes [pairs-per-tx]]
 *
 * Creates db-path (it must not exist), commits for the given time and
 * prints "tx N", "seconds S", "tx_per_s R" and "pairs_per_s R". With
 * pairs-per-tx > 1 (default 1) each transaction holds that many share and
 * event pairs: what group commit of that many requests could reach.
 */
#include "raw_common.h"

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
    "PRAGMA temp_store=MEMORY;"
    "CREATE TABLE users (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);"
    "CREATE TABLE drives (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE);"
    "CREATE TABLE shares (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,"
    " mount_id TEXT NOT NULL UNIQUE,"
    " drive_seq INTEGER NOT NULL REFERENCES drives (seq) ON DELETE CASCADE,"
    " item_id TEXT NOT NULL, item_name TEXT NOT NULL DEFAULT '',"
    " grantee_seq INTEGER REFERENCES users (seq), grantee_email TEXT, role TEXT NOT NULL,"
    " expires_at INTEGER, creator_seq INTEGER NOT NULL REFERENCES users (seq),"
    " created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);"
    "CREATE UNIQUE INDEX shares_item_user ON shares (drive_seq, item_id, grantee_seq)"
    " WHERE grantee_seq IS NOT NULL;"
    "CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    " type TEXT NOT NULL, subject TEXT NOT NULL, time INTEGER NOT NULL, data TEXT NOT NULL);"
    "CREATE INDEX events_time ON events (time);"
    "INSERT INTO users VALUES (1, 'u1'), (2, 'u2');"
    "INSERT INTO drives VALUES (1, 'd1');";

static const char INSERT_SHARE[] =
    "INSERT INTO shares (id, mount_id, drive_seq, item_id, item_name, grantee_seq, role,"
    " expires_at, creator_seq, created_at, updated_at) VALUES (?, ?, 1, ?, ?, 2, "
    "'b1e2218d-eef8-4d4c-b82d-0f1a1b48f3b5', NULL, 1, ?, ?)";
static const char INSERT_EVENT[] = "INSERT INTO events (id, type, subject, time, data)"
                                   " VALUES (?, 'spaceport.share.created', 'd1', ?, ?)";

static int fail(sqlite3 *db, const char *what)
{
    fprintf(stderr, "raw_sqlite: %s: %s\n", what, sqlite3_errmsg(db));
    return 1;
}

int main(int argc, char **argv)
{
    raw_args args;
    int bad = raw_args_read("raw_sqlite", "db-path", argc, argv, &args);
    if (bad)
        return bad;
    double seconds = args.seconds;
    size_t data_len = args.data_len;
    long per_tx = args.per_tx;
    char *data = args.data;

    sqlite3 *db = NULL;
    if (sqlite3_open_v2(argv[1], &db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK)
        return fail(db, "open");
    char *msg = NULL;
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "raw_sqlite: schema: %s\n", msg);
        return 1;
    }
    sqlite3_stmt *share = NULL, *event = NULL, *begin = NULL, *commit = NULL;
    if (sqlite3_prepare_v3(db, INSERT_SHARE, -1, SQLITE_PREPARE_PERSISTENT, &share, NULL) ||
        sqlite3_prepare_v3(db, INSERT_EVENT, -1, SQLITE_PREPARE_PERSISTENT, &event, NULL) ||
        sqlite3_prepare_v3(db, "BEGIN IMMEDIATE", -1, SQLITE_PREPARE_PERSISTENT, &begin, NULL) ||
        sqlite3_prepare_v3(db, "COMMIT", -1, SQLITE_PREPARE_PERSISTENT, &commit, NULL))
        return fail(db, "prepare");

    long long tx = 0, pairs = 0;
    double start = now_s(), end = start + seconds, t = start;
    char id[37], mount[37], ev[37], item[32];
    while (t < end) {
        if (sqlite3_step(begin) != SQLITE_DONE)
            return fail(db, "begin");
        sqlite3_reset(begin);
        for (long k = 0; k < per_tx; k++, pairs++) {
            uuid(id);
            uuid(mount);
            uuid(ev);
            snprintf(item, sizeof item, "item-%lld", pairs);
            int64_t ms = wall_ms();
            sqlite3_bind_text(share, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(share, 2, mount, -1, SQLITE_STATIC);
            sqlite3_bind_text(share, 3, item, -1, SQLITE_STATIC);
            sqlite3_bind_text(share, 4, item, -1, SQLITE_STATIC);
            sqlite3_bind_int64(share, 5, ms);
            sqlite3_bind_int64(share, 6, ms);
            if (sqlite3_step(share) != SQLITE_DONE)
                return fail(db, "insert share");
            sqlite3_reset(share);
            sqlite3_bind_text(event, 1, ev, -1, SQLITE_STATIC);
            sqlite3_bind_int64(event, 2, ms);
            sqlite3_bind_text(event, 3, data, (int)data_len, SQLITE_STATIC);
            if (sqlite3_step(event) != SQLITE_DONE)
                return fail(db, "insert event");
            sqlite3_reset(event);
        }
        if (sqlite3_step(commit) != SQLITE_DONE)
            return fail(db, "commit");
        sqlite3_reset(commit);
        tx++;
        t = now_s();
    }
    double took = t - start;
    printf("tx %lld\nseconds %.3f\ntx_per_s %.1f\npairs_per_s %.1f\n", tx, took, (double)tx / took,
           (double)pairs / took);
    sqlite3_finalize(share);
    sqlite3_finalize(event);
    sqlite3_finalize(begin);
    sqlite3_finalize(commit);
    sqlite3_close(db);
    free(data);
    return 0;
}
