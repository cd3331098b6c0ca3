/* envelope.c - CloudEvents 1.0 envelopes around event log rows. */
#include "events/envelope.h"

#include "util/time.h"

#include <stdio.h>
#include <stdlib.h>

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
    json_t *j = sp_envelope_json(e, source);
    if (!j)
        return NULL;
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return text;
}
