/* err.c - names of sp_err codes, for logs. */
#include "err.h"

const char *sp_err_str(int err)
{
    switch (err) {
    case SP_OK: return "ok";
    case SP_ERR_NOMEM: return "out of memory";
    case SP_ERR_INVALID: return "invalid";
    case SP_ERR_NOT_FOUND: return "not found";
    case SP_ERR_CONFLICT: return "conflict";
    case SP_ERR_IO: return "i/o error";
    case SP_ERR_DB: return "database error";
    case SP_ERR_UNAVAILABLE: return "unavailable";
    case SP_ERR_DENIED: return "denied";
    case SP_ERR_TOO_LARGE: return "too large";
    case SP_ERR_FULL: return "storage full";
    case SP_ERR_UNAUTHORIZED: return "unauthorized";
    case SP_ERR_NEWER_SCHEMA: return "database schema is newer than this binary";
    }
    return "unknown error";
}
