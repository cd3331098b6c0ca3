/*
 * time.h - clocks, RFC 3339 timestamps and durations ("15s", "7d").
 */
#ifndef SP_UTIL_TIME_H
#define SP_UTIL_TIME_H

#include <stdint.h>

/* "2026-11-24T07:30:00.123Z" plus NUL. */
#define SP_TIME_RFC3339_LEN 25

/* Wall clock, milliseconds since the Unix epoch. */
int64_t sp_time_now_ms(void);
/* Monotonic clock in milliseconds, for timeouts and latencies. */
int64_t sp_time_mono_ms(void);
/* Monotonic clock in nanoseconds, for latency histograms. */
int64_t sp_time_mono_ns(void);

/* Writes ms as UTC RFC 3339 with milliseconds into out. */
void sp_time_format_rfc3339(int64_t ms, char out[SP_TIME_RFC3339_LEN]);
/* Parses an RFC 3339 date-time ("2026-11-24T07:30:00Z", fractions and
 * offsets allowed). Returns 0 or SP_ERR_INVALID. */
int sp_time_parse_rfc3339(const char *s, int64_t *ms_out);

/* Parses a duration: a positive integer followed by ms, s, m, h or d
 * ("250ms", "15s", "7d"). Returns 0 or SP_ERR_INVALID. */
int sp_time_parse_duration(const char *s, int64_t *ms_out);

#endif
