/*
 * base64.h - base64url without padding (RFC 4648 section 5).
 */
#ifndef SP_UTIL_BASE64_H
#define SP_UTIL_BASE64_H

#include <stddef.h>

/* Encoded length of n bytes, without the NUL. */
#define SP_BASE64URL_LEN(n) (((n) * 4 + 2) / 3)

/* Encodes n bytes of in into out (outlen bytes, NUL-terminated). Returns 0
 * or SP_ERR_TOO_LARGE when out is too small. */
int sp_base64url_encode(const void *in, size_t n, char *out, size_t outlen);

/* Decodes s (no padding, no other characters) into out (at most outlen
 * bytes); *n receives the length. Returns 0, SP_ERR_INVALID or
 * SP_ERR_TOO_LARGE. */
int sp_base64url_decode(const char *s, void *out, size_t outlen, size_t *n);

#endif
