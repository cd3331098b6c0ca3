/*
 * pg_fixture.c - what the suites run against PostgreSQL share.
 */
#include "pg_fixture.h"

#include <stdio.h>
#include <string.h>

void url_with_database(const char *admin, const char *name, char *out, size_t len)
{
    const char *auth = strstr(admin, "://");
    auth = auth ? auth + 3 : admin;
    size_t host = strcspn(auth, "/?");
    const char *query = strchr(auth, '?');
    snprintf(out, len, "%.*s/%s%s", (int)(auth + host - admin), admin, name, query ? query : "");
}
