/*
 * fuzz_inbound.c - storage providers' change CloudEvents from the bus.
 *
 * An input that starts with "NATS/1.0\r\n" is a message with headers: the
 * header block (one "Name: value" per line, up to an empty line) and the
 * payload after it, as NATS carries them; that reaches the binary mode.
 * Any other input is a payload without headers (structured mode).
 */
#include "events/inbound.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define HEAD "NATS/1.0\r\n"

/* Splits the header block of copy (NUL-terminated, modified) into h;
 * returns the count and stores where the payload starts. */
static size_t split(char *copy, size_t size, sp_inbound_header *h, size_t max, size_t *payload)
{
    size_t n = 0, at = strlen(HEAD);
    *payload = size;
    while (at < size) {
        char *line = copy + at;
        char *end = strstr(line, "\r\n");
        if (!end)
            break;
        *end = '\0';
        at = (size_t)(end - copy) + 2;
        if (!*line) {
            *payload = at;
            break;
        }
        char *colon = strchr(line, ':');
        if (!colon || n == max)
            continue;
        *colon = '\0';
        h[n].name = line;
        h[n].value = colon + 1;
        n++;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sp_inbound in;
    const char *why = NULL;
    int rc;
    if (size >= strlen(HEAD) && memcmp(data, HEAD, strlen(HEAD)) == 0) {
        /* One more header than the parser accepts, so the limit is reached. */
        sp_inbound_header h[SP_INBOUND_HEADERS_MAX + 1];
        char *copy = fuzz_text(data, size);
        if (!copy)
            return 0;
        size_t payload;
        size_t n = split(copy, size, h, SP_INBOUND_HEADERS_MAX + 1, &payload);
        rc = sp_inbound_parse_msg(h, n, copy + payload, size - payload, &in, &why);
        /* Nothing in the parsed event may point into the message. */
        memset(copy, 'x', size);
        free(copy);
    } else {
        rc = sp_inbound_parse((const char *)data, size, &in, &why);
    }
    if (rc == 0) {
        /* Everything the store will bind must be there. */
        if (!in.change.event_id || !in.change.drive_id || !in.change.etag || !in.change.change)
            abort();
        if (strlen(in.change.event_id) > SP_INBOUND_FIELD_MAX)
            abort();
        sp_inbound_free(&in);
    } else if (!why) {
        abort();
    }
    return 0;
}
