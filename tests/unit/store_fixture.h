/*
 * store_fixture.h - what the store suites share: a temporary directory per
 * test case, a fresh migrated database per test, a second raw SQLite
 * connection on the same file to read what was written, and users.
 */
#ifndef SP_TEST_STORE_FIXTURE_H
#define SP_TEST_STORE_FIXTURE_H

#include "store/store.h"
#include "store/users.h"

#include <check.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#define FIXTURE_ISSUER "https://idp.example.test"

extern sp_store *st; /* the store under test, fresh for each test */
extern sqlite3 *raw; /* a second connection on its file */
extern char db_path[];  /* that file */
extern char test_dir[]; /* the directory it is in, removed after the test */

/* Unchecked fixture (once per test case): the case's directory under
 * $TMPDIR, named after prefix; and its removal. */
void fixture_root_setup_named(const char *prefix);
void fixture_root_teardown(void);
/* Checked fixture parts: a fresh store and raw connection; their end. */
void fixture_open(void);
void fixture_close(void);

/* Provisions a user of FIXTURE_ISSUER (sub and user name = name; email
 * may be NULL). */
void fixture_user(sp_user *u, const char *name, const char *email);

/* On raw, with up to three text parameters ?1..?3 (NULL leaves one
 * unbound): the integer in the one row sql returns; the text in it copied
 * into out ("" for NULL; returns 1 when not NULL); a statement without
 * rows. Each fails the test when sql does not do so. */
int64_t raw_int(const char *sql, const char *p1, const char *p2, const char *p3);
int raw_text(char *out, size_t len, const char *sql, const char *p1, const char *p2,
             const char *p3);
void raw_exec(const char *sql, const char *p1, const char *p2, const char *p3);

/* Runs suite s (log warnings only) and returns the process's exit status:
 * the store suites' main. */
int fixture_main(Suite *s);

#endif
