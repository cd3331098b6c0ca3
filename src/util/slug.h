/*
 * slug.h - names as URL-safe aliases: "Team Alpha: Q3" -> "team-alpha-q3".
 */
#ifndef SP_UTIL_SLUG_H
#define SP_UTIL_SLUG_H

#include <stddef.h>

/* Writes name's ASCII letters and digits in lower case into out (outlen
 * bytes, NUL-terminated), a single '-' for each run of anything else
 * between them. The result is "" when name has no letter or digit. */
void sp_slug(const char *name, char *out, size_t outlen);

#endif
