/* log.c - JSON log lines on stderr. */
#include "log.h"

#include "buf.h"
#include "err.h"
#include "time.h"

#include <stdarg.h>
#include <string.h>
#include <unistd.h>

/* Set once by main before threads start, read-only afterwards. */
static enum sp_log_level threshold = SP_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

int sp_log_level_parse(const char *s, enum sp_log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum sp_log_level)i;
            return 0;
        }
    }
    return SP_ERR_INVALID;
}

void sp_log_set_level(enum sp_log_level level)
{
    threshold = level;
}

int sp_log_enabled(enum sp_log_level level)
{
    return level >= threshold;
}

void sp_log(enum sp_log_level level, const char *module, const char *fmt, ...)
{
    if (level < threshold)
        return;
    char stamp[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(sp_time_now_ms(), stamp);

    sp_buf msg = {0}, line = {0};
    va_list ap;
    va_start(ap, fmt);
    int rc = sp_buf_vprintf(&msg, fmt, ap);
    va_end(ap);

    rc |= sp_buf_printf(&line, "{\"time\":\"%s\",\"level\":\"%s\",\"module\":\"", stamp,
                        level_names[level]);
    rc |= sp_buf_json_escape(&line, module);
    rc |= sp_buf_puts(&line, "\",\"msg\":\"");
    rc |= sp_buf_json_escape(&line, msg.data ? msg.data : "");
    rc |= sp_buf_puts(&line, "\"}\n");
    if (rc == 0) {
        ssize_t ignored = write(STDERR_FILENO, line.data, line.len);
        (void)ignored;
    }
    sp_buf_free(&msg);
    sp_buf_free(&line);
}
