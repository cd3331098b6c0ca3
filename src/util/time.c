/* time.c - clocks, timestamps and durations. */
#include "time.h"

#include "err.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t sp_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sp_time_mono_ms(void)
{
    return sp_time_mono_ns() / 1000000;
}

int64_t sp_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void sp_time_format_rfc3339(int64_t ms, char out[SP_TIME_RFC3339_LEN])
{
    time_t secs = (time_t)(ms / 1000);
    int milli = (int)(ms % 1000);
    if (milli < 0) {
        milli += 1000;
        secs -= 1;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    /* The fields are in range, but the compiler cannot know: format into a
     * roomy buffer and copy the fixed-width result. */
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, milli);
    memcpy(out, tmp, SP_TIME_RFC3339_LEN - 1);
    out[SP_TIME_RFC3339_LEN - 1] = '\0';
}

/* Reads exactly n digits at *p, advancing it. Returns -1 on a non-digit. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)**p))
            return -1;
        v = v * 10 + (**p - '0');
        (*p)++;
    }
    return v;
}

int sp_time_parse_rfc3339(const char *s, int64_t *ms_out)
{
    const char *p = s;
    int year = digits(&p, 4);
    if (year < 0 || *p++ != '-')
        return SP_ERR_INVALID;
    int mon = digits(&p, 2);
    if (mon < 1 || mon > 12 || *p++ != '-')
        return SP_ERR_INVALID;
    int day = digits(&p, 2);
    if (day < 1 || day > 31 || (*p != 'T' && *p != 't' && *p != ' '))
        return SP_ERR_INVALID;
    p++;
    int hour = digits(&p, 2);
    if (hour < 0 || hour > 23 || *p++ != ':')
        return SP_ERR_INVALID;
    int min = digits(&p, 2);
    if (min < 0 || min > 59 || *p++ != ':')
        return SP_ERR_INVALID;
    int sec = digits(&p, 2);
    if (sec < 0 || sec > 60)
        return SP_ERR_INVALID;
    int milli = 0;
    if (*p == '.') {
        p++;
        int scale = 100, any = 0;
        while (isdigit((unsigned char)*p)) {
            milli += (*p - '0') * scale;
            scale /= 10;
            p++;
            any = 1;
        }
        if (!any)
            return SP_ERR_INVALID;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1;
        int oh = digits(&p, 2);
        if (oh < 0 || oh > 23 || *p++ != ':')
            return SP_ERR_INVALID;
        int om = digits(&p, 2);
        if (om < 0 || om > 59)
            return SP_ERR_INVALID;
        offset_min = sign * (oh * 60 + om);
    } else {
        return SP_ERR_INVALID;
    }
    if (*p)
        return SP_ERR_INVALID;
    /* timegm would roll 30 February into March: check the month's length. */
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (day > days[mon - 1] + (mon == 2 && leap))
        return SP_ERR_INVALID;
    struct tm tm = {0};
    tm.tm_year = year - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = min;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    *ms_out = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + milli;
    return 0;
}

int sp_time_parse_duration(const char *s, int64_t *ms_out)
{
    if (!s || !isdigit((unsigned char)*s))
        return SP_ERR_INVALID;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno || v < 0)
        return SP_ERR_INVALID;
    int64_t unit;
    if (strcmp(end, "ms") == 0)
        unit = 1;
    else if (strcmp(end, "s") == 0)
        unit = 1000;
    else if (strcmp(end, "m") == 0)
        unit = 60 * 1000;
    else if (strcmp(end, "h") == 0)
        unit = 3600 * 1000;
    else if (strcmp(end, "d") == 0)
        unit = 86400 * 1000;
    else
        return SP_ERR_INVALID;
    /* Ten years is longer than any setting needs; it keeps the product in range. */
    if (v > (int64_t)3650 * 86400 * 1000 / unit)
        return SP_ERR_INVALID;
    *ms_out = (int64_t)v * unit;
    return 0;
}
