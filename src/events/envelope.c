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
    char when[SP_TIME_RFC3339_LEN], seq[SP_ENVELOPE_SEQUENCE_DIGITS + 8];
    sp_time_format_rfc3339(e->time_ms, when);
    /* The CloudEvents sequence extension: a string that orders events of
     * one source; ours is the log's sequence number, zero-padded (see
     * SP_ENVELOPE_SEQUENCE_DIGITS) so that string order is event order. */
    snprintf(seq, sizeof seq, "%0*lld", SP_ENVELOPE_SEQUENCE_DIGITS, (long long)e->seq);
    json_t *ce =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o}", "specversion", "1.0", "id",
                  e->id, "source", source, "type", e->type, "subject", e->subject, "time", when,
                  "datacontenttype", "application/json", "sequence", seq, "data", data);
    if (ce && e->initiator && json_object_set_new(ce, "initiatorid", json_string(e->initiator))) {
        json_decref(ce);
        return NULL;
    }
    return ce;
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
                        "\"sequence\":\"%0*lld\",",
                        when, SP_ENVELOPE_SEQUENCE_DIGITS, (long long)e->seq);
    if (e->initiator) {
        /* The extension attribute: who asked, as the request said
         * (Initiator-ID), so that subscribers can tell a client's own
         * changes from others'. */
        rc |= sp_buf_puts(&b, "\"initiatorid\":\"");
        rc |= sp_buf_json_escape(&b, e->initiator);
        rc |= sp_buf_puts(&b, "\",\"data\":");
    } else {
        rc |= sp_buf_puts(&b, "\"data\":");
    }
    rc |= sp_buf_append(&b, e->data, len);
    rc |= sp_buf_puts(&b, "}");
    if (rc) {
        sp_buf_free(&b);
        return NULL;
    }
    return sp_buf_steal(&b);
}

int sp_envelope_sequence(const char *data, size_t len, const char *source, int64_t *seq)
{
    json_error_t jerr;
    memset(&jerr, 0, sizeof jerr); /* json_loadb leaves the code unset on some failures */
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!j)
        return json_error_code(&jerr) == json_error_out_of_memory ? SP_ERR_NOMEM : SP_ERR_INVALID;
    int rc = SP_ERR_INVALID;
    const char *from = json_string_value(json_object_get(j, "source"));
    if (source && (!from || strcmp(from, source) != 0))
        goto done;
    json_t *v = json_object_get(j, "sequence"); /* NULL unless j is an object */
    const char *s = json_string_value(v);
    if (!s)
        goto done;
    size_t n = json_string_length(v);
    if (n == 0)
        goto done;
    int64_t value = 0;
    for (size_t i = 0; i < n; i++) {
        /* An embedded NUL, a sign or a space is not a digit. */
        if (s[i] < '0' || s[i] > '9')
            goto done;
        int digit = s[i] - '0';
        if (value > (INT64_MAX - digit) / 10)
            goto done;
        value = value * 10 + digit;
    }
    *seq = value;
    rc = 0;
done:
    json_decref(j);
    return rc;
}
