/*
 * query.h - the query options of drive listings as oCIS's ListDrives
 * applies them ($filter, $orderby, $select, $expand; odata.c parses them),
 * the paging options ($top and the opaque $skiptoken cursor of
 * @odata.nextLink), and the Last-Event-ID of change streams.
 */
#ifndef SP_API_QUERY_H
#define SP_API_QUERY_H

#include "api/odata.h"
#include "store/drives.h"

#include <stddef.h>

/* Longest cursor: order, id and a sort key of at most 1 KiB, encoded. */
#define SP_QUERY_CURSOR_MAX 1500

/* The query options of a drive listing as the request has them; each is
 * NULL when absent (borrowed). */
typedef struct sp_drive_options {
    const char *filter, *orderby, *top, *skiptoken, *select, *expand;
} sp_drive_options;

/* Filter values, kept for the sp_drive_query that points into them. An
 * empty string is a value no drive has: the filter matches nothing. */
typedef struct sp_drive_filter {
    char type[16]; /* longer than any drive type: matches nothing */
    char id[SP_ODATA_OPTION_MAX + 1];
} sp_drive_filter;

/*
 * Parses the options of a drive listing into q, keeping filter strings in
 * f (q->type and q->id point into it). What is accepted, as oCIS's
 * ListDrives does:
 *   $filter   one `<field> eq <value>`, the value quoted ('personal') or
 *             not (personal), operators in any case, in parentheses or
 *             not; driveType and id filter, an eq on another field is
 *             accepted and not applied. Spaceport also takes eq clauses on
 *             driveType and id joined by `and`. Any other operator at the
 *             top (or, ne, not, functions) is 501 notSupported.
 *   $orderby  one key, name or lastModifiedDateTime, asc or desc (any
 *             case); several keys leave the default order (name asc).
 *   $select, $expand  checked for syntax, not applied (oCIS applies
 *             neither to drive listings).
 *   $top      1..1000 (larger values are clamped)
 * An empty option is absent. Returns 0, or SP_ERR_INVALID with *err set.
 */
int sp_query_parse_drives(const sp_drive_options *opt, sp_drive_query *q, sp_drive_filter *f,
                          sp_odata_error *err);

/* Reads the $orderby of a users or groups listing as oCIS's sortUsers and
 * sortGroups: one of the nkeys keys (static strings; *key is one of them),
 * *desc when descending; *key NULL when absent or several keys (no
 * order). Returns 0, or SP_ERR_INVALID with *err set. */
int sp_query_parse_order(const char *orderby, const char *const *keys, size_t nkeys,
                         const char **key, int *desc, sp_odata_error *err);

/* Encodes the cursor that resumes after next in order into out. Returns 0
 * or SP_ERR_TOO_LARGE. */
int sp_query_cursor_encode(sp_drive_order order, const sp_drive_cursor *next, char *out,
                           size_t outlen);

/* Parses a Last-Event-ID: a decimal event sequence number of at most 18
 * digits. Returns 0 or SP_ERR_INVALID. */
int sp_query_parse_event_id(const char *s, int64_t *out);

#endif
