/*
 * pg_fixture.c - a scratch PostgreSQL database for a unit suite
 * (pg_fixture.h).
 */
#include "pg_fixture.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char admin_url[512], name[64];

const char *pg_fixture_admin_url(void)
{
    return admin_url;
}

void url_with_database(const char *admin, const char *db, char *out, size_t len)
{
    const char *auth = strstr(admin, "://");
    auth = auth ? auth + 3 : admin;
    size_t host = strcspn(auth, "/?");
    const char *query = strchr(auth, '?');
    snprintf(out, len, "%.*s/%s%s", (int)(auth + host - admin), admin, db, query ? query : "");
}

/* Runs sql alone on the admin URL (CREATE and DROP DATABASE run in no
 * transaction); returns 0 or -1 (said). */
static int admin_exec(const char *sql)
{
    PGconn *pg = PQconnectdb(admin_url);
    PGresult *res = PQstatus(pg) == CONNECTION_OK ? PQexec(pg, sql) : NULL;
    int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
    if (!ok)
        printf("Bail out! %s: %s\n", sql, PQerrorMessage(pg));
    PQclear(res);
    PQfinish(pg);
    return ok ? 0 : -1;
}

int pg_fixture_create(const char *suite, char *url, size_t len)
{
    const char *admin = getenv("SPACEPORT_TEST_PG_URL");
    if (!admin || !*admin)
        return 0;
    snprintf(admin_url, sizeof admin_url, "%s", admin);
    snprintf(name, sizeof name, "sp_unit_%s_%ld", suite, (long)getpid());
    url_with_database(admin, name, url, len);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    if (admin_exec(sql) < 0) {
        name[0] = '\0';
        return -1;
    }
    return 1;
}

void pg_fixture_drop(void)
{
    if (!name[0])
        return;
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", name);
    admin_exec(sql);
    name[0] = '\0';
}
