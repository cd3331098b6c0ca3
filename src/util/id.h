/*
 * id.h - random identifiers.
 *
 * Ids that clients see (users, drives, shares, events) are UUIDs from the
 * kernel's CSPRNG: opaque and unguessable. Rows written at a high rate
 * (shares, events) get time-ordered v7 UUIDs (RFC 9562), whose 74 random
 * bits are still unguessable: their unique indexes then grow at one end,
 * and a commit writes a few index pages instead of one per row.
 */
#ifndef SP_UTIL_ID_H
#define SP_UTIL_ID_H

#include <stddef.h>

/* 36 characters plus NUL. */
#define SP_ID_LEN 37

/* Writes a random v4 UUID. Returns 0 or SP_ERR_IO when the kernel gave no
 * randomness (never silently weaker). */
int sp_id_uuid(char out[SP_ID_LEN]);
/* Writes a v7 UUID: the Unix time in milliseconds, then random bits.
 * Returns 0 or SP_ERR_IO. */
int sp_id_uuid7(char out[SP_ID_LEN]);
/* Fills buf with n random bytes. Returns 0 or SP_ERR_IO. */
int sp_id_random(void *buf, size_t n);

#endif
