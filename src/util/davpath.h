/*
 * davpath.h - the space a WebDAV request target names.
 *
 * The WebDAV server maps a target to a file below the space's directory,
 * and Spaceport decides on the space the target names: both must read it
 * alike. So it is read strictly: one percent-decoding, repeated '/'
 * merged (as nginx merges them), the query ignored, and anything a server
 * or file system could read differently (a dot segment, an encoded '/',
 * '\', NUL, control characters, a fragment) refused rather than normalised.
 */
#ifndef SP_UTIL_DAVPATH_H
#define SP_UTIL_DAVPATH_H

#include "util/id.h"

/* Longest target read: the HTTP layer's request target limit, which
 * nginx's default request-line buffers (8 KiB) match; a longer one
 * cannot name a real request. */
#define SP_DAVPATH_MAX 8192

/*
 * Reads the drive id out of path, an origin-form request target
 * ("/dav/spaces/<driveId>[/path][?query]" or the same below
 * "/remote.php"), into drive_id: a drive id as the registry makes them (a
 * lower-case UUID; an item-share mount "<driveId>!<opaque>" is not one).
 * Returns 0, or SP_ERR_INVALID with *why (static text).
 */
int sp_davpath_drive(const char *path, char drive_id[SP_ID_LEN], const char **why);

/*
 * Non-zero when target names the file source names or one below it, both
 * read as sp_davpath_drive reads them (whichever prefix each is under:
 * both lead to the same files). A COPY or MOVE of a folder into itself
 * would copy it into itself again at every level, until the path is too
 * long for the file system. 0 when either is refused or the drives differ.
 */
int sp_davpath_within(const char *target, const char *source);

#endif
