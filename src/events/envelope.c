/* envelope.c - CloudEvents 1.0 envelopes around event log rows. */
#include "events/envelope.h"

#include "util/buf.h"
#include "util/err.h"
#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

json_t *sp_envelope_json(const sp_event *e, const char *source)
{
    json_t *data = json_loads(e->data, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(data)) {
        json_decref(data);
        return NULL;
    }
    char when[SP_TIME_RFC3339_LEN], seq[24];
    sp_time_format_rfc3339(e->time_ms, when);
    /* The CloudEvents sequence extension: a string that orders events of
     * one source; ours is the log's sequence number. */
    snprintf(seq, sizeof seq, "%lld", (long long)e->seq);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id",
                     e->id, "source", source, "type", e->type, "subject", e->subject, "time",
                     when, "datacontenttype", "application/json", "sequence", seq, "data", data);
}

char *sp_envelope_text(const sp_event *e, const char *source)
{
    /* The relay's hot path: the stored data is a JSON object this program
     * wrote itself, so it is spliced in as text instead of being parsed
     * and serialized again (half of the relay's time otherwise). */
    size_t len = strlen(e->data);
    if (len < 2 || e->data[0] != '{' || e->data[len - 1] != '}')
        return NULL;
    char when[SP_TIME_RFC3339_LEN];
    sp_time_format_rfc3339(e->time_ms, when);
    sp_buf b = {0};
    int rc = sp_buf_puts(&b, "{\"specversion\":\"1.0\",\"id\":\"");
    rc |= sp_buf_json_escape(&b, e->id);
    rc |= sp_buf_puts(&b, "\",\"source\":\"");
    rc |= sp_buf_json_escape(&b, source);
    rc |= sp_buf_puts(&b, "\",\"type\":\"");
    rc |= sp_buf_json_escape(&b, e->type);
    rc |= sp_buf_puts(&b, "\",\"subject\":\"");
    rc |= sp_buf_json_escape(&b, e->subject);
    rc |= sp_buf_printf(&b,
                        "\",\"time\":\"%s\",\"datacontenttype\":\"application/json\","
                        "\"sequence\":\"%lld\",\"data\":",
                        when, (long long)e->seq);
    rc |= sp_buf_append(&b, e->data, len);
    rc |= sp_buf_puts(&b, "}");
    if (rc) {
        sp_buf_free(&b);
        return NULL;
    }
    return sp_buf_steal(&b);
}

int sp_envelope_ours(const char *text, size_t len, const char *source, int64_t *seq)
{
    json_t *ev = text ? json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    const char *from = json_string_value(json_object_get(ev, "source"));
    const char *digits = json_string_value(json_object_get(ev, "sequence"));
    int rc = SP_ERR_INVALID;
    if (from && digits && strcmp(from, source) == 0 && *digits) {
        int64_t n = 0;
        const char *p = digits;
        for (; *p >= '0' && *p <= '9'; p++) {
            if (n > (INT64_MAX - (*p - '0')) / 10)
                break;
            n = n * 10 + (*p - '0');
        }
        if (*p == '\0' && n > 0) {
            *seq = n;
            rc = 0;
        }
    }
    json_decref(ev);
    return rc;
}
