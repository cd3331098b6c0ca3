/*
 * pg_fixture.h - what the suites run against PostgreSQL share
 * (SPACEPORT_TEST_PG_URL names an admin URL of the server).
 */
#ifndef SP_TEST_PG_FIXTURE_H
#define SP_TEST_PG_FIXTURE_H

#include <stddef.h>

/* Writes into out (len bytes, always terminated) the admin URL with its
 * database (the path after the host) replaced by name, keeping any query. */
void url_with_database(const char *admin, const char *name, char *out, size_t len);

#endif
