/*
 * odata.h - the OData expression grammar as oCIS's parser (godata) reads
 * it: the tokens and tree of $filter and $orderby expressions, and the
 * syntax of $select and $expand. What a listing makes of a tree is the
 * listing's business (query.c for drives); this module only parses, so a
 * form godata refuses is refused here with the same 400.
 */
#ifndef SP_API_ODATA_H
#define SP_API_ODATA_H

#include <stddef.h>

/* Longest option accepted; real clients send a few dozen bytes (the
 * longest, the federated-roles filter of the permission listings, 101). */
#define SP_ODATA_OPTION_MAX 512

/* Why an option was refused, as the answer tells it: oCIS answers a form
 * it cannot parse 400 invalidRequest and a form it does not apply 501
 * notSupported. */
typedef struct sp_odata_error {
    int status;        /* 400, 501, or 500 when out of memory */
    const char *code;  /* "invalidRequest", "notSupported", "generalException" (static) */
    char message[192]; /* for the client */
} sp_odata_error;

/* Fills *err (the code follows from status); returns SP_ERR_INVALID. */
int sp_odata_fail(sp_odata_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

typedef enum sp_odata_kind {
    SP_ODATA_OPERATOR, /* eq ne gt ge lt le and or not has in add sub mul div divby mod / = */
    SP_ODATA_FUNCTION, /* contains(...), any(...), ... */
    SP_ODATA_VALUE,    /* string, number, date, time, guid, boolean, null, $it, $root */
    SP_ODATA_NAME,     /* a property name or other bare word (children: its key list) */
    SP_ODATA_LIST,     /* a parenthesised list of two or more items */
} sp_odata_kind;

typedef struct sp_odata_node {
    sp_odata_kind kind;
    const char *name; /* operator or function in lower case, "list"; NULL otherwise (static) */
    const char *text; /* as written, len bytes (borrowed from the parsed string) */
    size_t len;
    int boolean; /* a value true or false */
    int kids[2]; /* the first two children (indexes for sp_odata_kid), -1 if none */
    int nkids;
} sp_odata_node;

typedef struct sp_odata_expr sp_odata_expr;

/*
 * Parses expression s (at most SP_ODATA_OPTION_MAX bytes) into a new tree
 * in *out that borrows s: free it with sp_odata_free before s goes. When
 * filter is non-zero the expression must be boolean, as for $filter.
 * Returns 0, or SP_ERR_INVALID with *err set.
 */
int sp_odata_parse(const char *s, int filter, sp_odata_expr **out, sp_odata_error *err);
void sp_odata_free(sp_odata_expr *e);

/* The root of a parsed tree, and child i (0 or 1) of n or NULL (borrowed). */
const sp_odata_node *sp_odata_root(const sp_odata_expr *e);
const sp_odata_node *sp_odata_kid(const sp_odata_expr *e, const sp_odata_node *n, int i);

/* The value a node stands for as oCIS reads it (Token.Value with its
 * quotes trimmed, strings.Trim(v, "'")): a string with '' read as ', an
 * operator or function by its name, anything else as written. out holds
 * SP_ODATA_OPTION_MAX + 1 bytes; returns the length written. */
size_t sp_odata_value(const sp_odata_node *n, char *out);

/*
 * Parses a $orderby value as godata does: a comma list of expressions,
 * each optionally followed by asc or desc (any case). Writes the first
 * item's expression as written (trimmed) to first (SP_ODATA_OPTION_MAX + 1
 * bytes) and whether it is descending to *desc, and the number of items
 * to *count. Returns 0, or SP_ERR_INVALID with *err set.
 */
int sp_odata_parse_orderby(const char *s, char *first, int *desc, int *count, sp_odata_error *err);

/* Checks a $select value (a comma list of property paths) as godata does.
 * NULL or "" is fine. Returns 0, or SP_ERR_INVALID with *err set. */
int sp_odata_check_select(const char *select, sp_odata_error *err);

/* Checks a $expand value (paths, each with optional nested options in
 * parentheses such as root($expand=permissions)) as godata does. NULL or
 * "" is fine. Returns 0, or SP_ERR_INVALID with *err set. */
int sp_odata_check_expand(const char *expand, sp_odata_error *err);

/* Checks a $expand value as sp_odata_check_expand, and that each item is
 * one property without options, as oCIS's GetExpandValues requires of
 * /me and /users. Returns 0, or SP_ERR_INVALID with *err set. */
int sp_odata_check_expand_plain(const char *expand, sp_odata_error *err);

/* Whether the comma list of a (checked) $select or $expand value names
 * name at its top level, ignoring nested options: "memberOf" is named by
 * "memberOf" and by "id,memberOf($select=id)". 0 for NULL. */
int sp_odata_names(const char *list, const char *name);

#endif
