/*
 * query.h - the OData query options of drive listings: $filter, $orderby,
 * $top and the opaque $skiptoken cursor of @odata.nextLink.
 */
#ifndef SP_API_QUERY_H
#define SP_API_QUERY_H

#include "store/drives.h"

#include <stddef.h>

/* Longest $filter/$orderby accepted; real clients send a few dozen bytes. */
#define SP_QUERY_OPTION_MAX 512
/* Longest cursor: order, id and a sort key of at most 1 KiB, encoded. */
#define SP_QUERY_CURSOR_MAX 1500

typedef struct sp_drive_filter {
    char type[16]; /* "" when not filtered */
    char id[64];   /* "" when not filtered */
} sp_drive_filter;

/*
 * Parses the options (each may be NULL) into q, keeping filter strings in f
 * (q->type and q->id point into it). Returns 0, or SP_ERR_INVALID with a
 * message for the client in *why (static text).
 */
int sp_query_parse_drives(const char *filter, const char *orderby, const char *top,
                          const char *skiptoken, sp_drive_query *q, sp_drive_filter *f,
                          const char **why);

/* Encodes the cursor that resumes after next in order into out. Returns 0
 * or SP_ERR_TOO_LARGE. */
int sp_query_cursor_encode(sp_drive_order order, const sp_drive_cursor *next, char *out,
                           size_t outlen);

/* Parses a Last-Event-ID: a decimal event sequence number of at most 18
 * digits. Returns 0 or SP_ERR_INVALID. */
int sp_query_parse_event_id(const char *s, int64_t *out);

#endif
