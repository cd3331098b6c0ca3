/*
 * store_fixture.h - what the store suites share: a temporary directory per
 * test case, a fresh migrated database per test, a second raw SQLite
 * connection on the same file to read what was written, and users.
 */
#ifndef SP_TEST_STORE_FIXTURE_H
#define SP_TEST_STORE_FIXTURE_H

#include "store/store.h"
#include "store/users.h"

#include <sqlite3.h>
#include <stdint.h>

#define FIXTURE_ISSUER "https://idp.example.test"

extern sp_store *st; /* the store under test, fresh for each test */
extern sqlite3 *raw; /* a second connection on its file */

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

/* The integer sql answers on raw, with ?1 bound to p1 (may be NULL). */
int64_t raw_int(const char *sql, const char *p1);
/* Runs sql on raw, with ?1 bound to p1 (may be NULL). */
void raw_exec(const char *sql, const char *p1);

#endif
