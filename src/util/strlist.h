/*
 * strlist.h - a short list of strings, as configuration gives them
 * (issuers, trusted instances, NATS URLs): the type the modules' options
 * share with config.h.
 */
#ifndef SP_UTIL_STRLIST_H
#define SP_UTIL_STRLIST_H

#include <stddef.h>

/* Most entries in one list. */
#define SP_STRLIST_MAX 32

typedef struct sp_strlist {
    char *items[SP_STRLIST_MAX];
    size_t count;
} sp_strlist;

#endif
