/*
 * httpsig_internal.h - what the two halves of util/httpsig share: the key
 * (httpsig_keys.c makes them, httpsig.c signs and verifies with them) and
 * structured fields' base64.
 */
#ifndef SP_UTIL_HTTPSIG_INTERNAL_H
#define SP_UTIL_HTTPSIG_INTERNAL_H

#include "util/httpsig.h"

#include <openssl/evp.h>

struct sp_httpsig_key {
    EVP_PKEY *pkey;
    int is_private;
    char keyid[SP_HTTPSIG_KEYID_MAX];
};

/* Standard base64 with padding, as structured fields' byte sequences:
 * writes n bytes of in to out. Returns 0, or SP_ERR_TOO_LARGE when out
 * (outlen) cannot hold it. */
int sp_httpsig__b64(const unsigned char *in, size_t n, char *out, size_t outlen);

#endif
