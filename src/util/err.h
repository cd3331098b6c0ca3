/*
 * err.h - the one error convention of Spaceport.
 *
 * Every function that can fail returns 0 on success or a negative sp_err
 * code. Details, when a caller needs them, travel in an out-parameter; a
 * code never doubles as a count or a pointer.
 */
#ifndef SP_UTIL_ERR_H
#define SP_UTIL_ERR_H

enum sp_err {
    SP_OK = 0,
    SP_ERR_NOMEM = -1,       /* allocation failed */
    SP_ERR_INVALID = -2,     /* input is malformed or not allowed */
    SP_ERR_NOT_FOUND = -3,   /* no such thing (or not visible to the caller) */
    SP_ERR_CONFLICT = -4,    /* the thing exists already or the state forbids it */
    SP_ERR_IO = -5,          /* file system, socket or child process failure */
    SP_ERR_DB = -6,          /* SQLite reported an error */
    SP_ERR_UNAVAILABLE = -7, /* a dependency (bus, issuer) is not reachable now */
    SP_ERR_DENIED = -8,      /* authenticated but not allowed */
    SP_ERR_TOO_LARGE = -9,   /* input exceeds a named limit */
    SP_ERR_FULL = -10,       /* storage is full */
    SP_ERR_UNAUTHORIZED = -11, /* credentials missing or not valid */
    SP_ERR_NEWER_SCHEMA = -12, /* database was written by a newer binary */
};

/* Returns a static, human-readable name for an sp_err code. */
const char *sp_err_str(int err);

#endif
