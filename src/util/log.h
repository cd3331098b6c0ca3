/*
 * log.h - structured logs: one JSON object a line on stderr.
 *
 *   {"time":"2026-11-24T07:30:00.123Z","level":"info","module":"http","msg":"..."}
 *
 * Lines are written with a single write(2) so that threads never interleave.
 * The level threshold is set once at start-up, before threads exist.
 */
#ifndef SP_UTIL_LOG_H
#define SP_UTIL_LOG_H

enum sp_log_level { SP_LOG_DEBUG = 0, SP_LOG_INFO, SP_LOG_WARN, SP_LOG_ERROR };

/* Parses "debug", "info", "warn" or "error". Returns 0 or SP_ERR_INVALID. */
int sp_log_level_parse(const char *s, enum sp_log_level *out);
/* Sets the threshold; call before starting threads. */
void sp_log_set_level(enum sp_log_level level);
/* Returns non-zero when a line at that level would be written. */
int sp_log_enabled(enum sp_log_level level);

/* Writes one line. module is a short fixed name ("http", "store", "bus"). */
void sp_log(enum sp_log_level level, const char *module, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define sp_debug(mod, ...) sp_log(SP_LOG_DEBUG, mod, __VA_ARGS__)
#define sp_info(mod, ...)  sp_log(SP_LOG_INFO, mod, __VA_ARGS__)
#define sp_warn(mod, ...)  sp_log(SP_LOG_WARN, mod, __VA_ARGS__)
#define sp_error(mod, ...) sp_log(SP_LOG_ERROR, mod, __VA_ARGS__)

#endif
