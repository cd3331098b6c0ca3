/* id.c - identifiers from getrandom(2): random v4 and time-ordered v7 UUIDs. */
#include "util/id.h"

#include "util/err.h"
#include "util/time.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/random.h>

int sp_id_random(void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return SP_ERR_IO;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static void format(const uint8_t b[16], char out[SP_ID_LEN])
{
    snprintf(out, SP_ID_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

int sp_id_uuid(char out[SP_ID_LEN])
{
    uint8_t b[16];
    if (sp_id_random(b, sizeof b) < 0)
        return SP_ERR_IO;
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
    format(b, out);
    return 0;
}

int sp_id_uuid7(char out[SP_ID_LEN])
{
    uint8_t b[16];
    if (sp_id_random(b + 6, sizeof b - 6) < 0)
        return SP_ERR_IO;
    uint64_t ms = (uint64_t)sp_time_now_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (uint8_t)(ms >> (40 - 8 * i)); /* 48 bits, big-endian */
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x70);   /* version 7 */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);   /* RFC 9562 variant */
    format(b, out);
    return 0;
}
