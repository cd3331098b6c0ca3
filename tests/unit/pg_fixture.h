/*
 * pg_fixture.h - a scratch PostgreSQL database for a unit suite, made on
 * the server SPACEPORT_TEST_PG_URL names (tests/run starts one) and
 * dropped at the end.
 */
#ifndef SP_TEST_PG_FIXTURE_H
#define SP_TEST_PG_FIXTURE_H

#include <stddef.h>

/* Makes database "sp_unit_<suite>_<pid>" and writes its URL to url.
 * Returns 1 when made, 0 when SPACEPORT_TEST_PG_URL is unset (the
 * PostgreSQL cases are to be skipped), -1 on failure (a "Bail out!" line
 * is printed). */
int pg_fixture_create(const char *suite, char *url, size_t len);

/* Drops the database pg_fixture_create made, if any. */
void pg_fixture_drop(void);

/* Writes into out (len bytes, always terminated) the admin URL with its
 * database (the path after the host) replaced by name, keeping any query. */
void url_with_database(const char *admin, const char *name, char *out, size_t len);

/* The admin URL the fixture was given ("" before pg_fixture_create). */
const char *pg_fixture_admin_url(void);

#endif
