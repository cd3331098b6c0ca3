/*
 * db_pg_sql.h - the text work of the PostgreSQL backend: parameters,
 * COMMITs, passwords (only db_pg.c and its tests include it).
 */
#ifndef SP_STORE_DB_PG_SQL_H
#define SP_STORE_DB_PG_SQL_H

#include <stddef.h>

/* Renumbers sql's parameters for PostgreSQL: ?NNN becomes $NNN, and a bare
 * ? takes one more than the largest number so far (SQLite's rule); $NNN
 * already there count too. String literals, quoted identifiers, comments
 * and dollar-quoted bodies are copied as they are. Returns the new text
 * (new, caller frees) and sets *count to the highest number; NULL on a
 * number out of range (1 to 65535), a dollar tag too long, or no memory. */
char *sp_db_pg_renumber(const char *sql, int *count);

/* Whether sql commits: its first word is COMMIT or END, or a statement
 * after a ';' begins with COMMIT (as "NOTIFY c; COMMIT"). */
int sp_db_pg_commits(const char *sql);

/* Whether sql's first word, past spaces, is the keyword w (any case). */
int sp_db_pg_first_word(const char *sql, const char *w);

/* Copies location into out with its password replaced by "***": the one
 * in a URL's userinfo, a password= in its query, or a password keyword of
 * a "key=value" string (quoted or not). out is always terminated, cut
 * when too long. */
void sp_db_pg_redact(const char *location, char *out, size_t outlen);

/* Copies message into out with each of location's passwords (as found by
 * sp_db_pg_redact) replaced by "***" wherever it appears: libpq quotes a
 * location it cannot parse, or a part of it, in its error message. out is
 * always terminated, cut when too long. */
void sp_db_pg_redact_message(const char *location, const char *message, char *out, size_t outlen);

/* Replaces what msg quotes in double quotes by "...", in place. libpq's
 * complaints about a location it cannot read quote the piece it stopped
 * at, which may be a part of the password (a '%' in it not written %25). */
void sp_db_pg_elide_quoted(char *msg);

#endif
