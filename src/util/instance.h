/*
 * instance.h - matching URLs and OCM addresses against the trusted
 * instances (SPACEPORT_TRUSTED_INSTANCES).
 *
 * This is the gate in front of every connection to another instance: a
 * URL a user or a peer hands us is compared with the configured base URLs
 * after normalisation (scheme and host lower case, default port dropped),
 * and only an exact match of scheme, host and port, followed by the base
 * path and /dav/spaces/<driveId>, passes. Nothing here opens a connection
 * or resolves a name, so a refusal is certain to have cost no traffic.
 */
#ifndef SP_UTIL_INSTANCE_H
#define SP_UTIL_INSTANCE_H

#include <stddef.h>

/* Longest remote drive id (decoded). oCIS ids ("storage$space!opaque")
 * are about 110 characters; 255 leaves room without inviting abuse. */
#define SP_INSTANCE_DRIVE_ID_MAX 256
/* Longest "host[:port]" authority (a host name is at most 253 bytes). */
#define SP_INSTANCE_AUTHORITY_MAX 272

/* A webDavUrl that matched a trusted instance. */
typedef struct sp_instance_dav {
    size_t index;                                 /* which trusted instance */
    char drive_id[SP_INSTANCE_DRIVE_ID_MAX];      /* the /dav/spaces/<id> segment, decoded */
    char drive_seg[SP_INSTANCE_DRIVE_ID_MAX * 3]; /* the same segment as in the URL */
} sp_instance_dav;

/*
 * Checks that url is a WebDAV URL of a space hosted by one of the trusted
 * instances (base URLs, borrowed): https (or http to a loopback host), no
 * user-info, fragment or query, the same scheme, host and port as a
 * trusted base URL, whose path continues with /dav/spaces/<driveId>
 * optionally followed by a relative path without empty, "." or ".."
 * segments (also percent-encoded), encoded slashes or NULs. Returns 0 and
 * fills *out, or SP_ERR_INVALID with *why (static text) set.
 */
int sp_instance_match_dav(const char *const *instances, size_t count, const char *url,
                          sp_instance_dav *out, const char **why);

/*
 * Checks that url is a URL on one of the trusted instances (base URLs,
 * borrowed), as an OCM share's WebDAV URI must be when the sender is not
 * a Spaceport: https (or http to a loopback host), no user-info, fragment
 * or query, the same scheme, host and port as a trusted base URL, any
 * path without empty, "." or ".." segments (also percent-encoded),
 * encoded slashes or NULs. Returns 0 and the instance's index in *index,
 * or SP_ERR_INVALID with *why (static text) set.
 */
int sp_instance_match_url(const char *const *instances, size_t count, const char *url,
                          size_t *index, const char **why);

/*
 * Writes the authority of base_url as OCM addresses name it: the host
 * (IPv6 in brackets), with ":port" only when it is not the scheme's
 * default ("cloud.zurich.test", "127.0.0.1:9200"). Returns 0, or
 * SP_ERR_INVALID when base_url does not parse or out is too small.
 */
int sp_instance_authority(const char *base_url, char *out, size_t outlen);

/*
 * Finds the trusted instance whose authority is the host part of an OCM
 * address "user@host[:port]" (the part after the last '@', without an
 * "https://" or "http://" some peers put before it; compared after
 * normalisation, so a default port may be written or not). Returns 0 and
 * the instance's index in *index; SP_ERR_INVALID when address is not
 * user@host; SP_ERR_NOT_FOUND when no trusted instance has that host.
 */
int sp_instance_by_address(const char *const *instances, size_t count, const char *address,
                           size_t *index);

/* Returns non-zero when the host part of address (as above) is the
 * authority of base_url. */
int sp_instance_address_is(const char *base_url, const char *address);

/*
 * Parses an entry of SPACEPORT_WEBHOOK_HOSTS: "host" (any port of it) or
 * "host:port" ("[v6]" or "[v6]:port" for IPv6 literals), nothing else.
 * Writes the host, lower case and without brackets, to host (at least
 * SP_INSTANCE_AUTHORITY_MAX bytes) and the port, 0 for any, to *port.
 * Returns 0 or SP_ERR_INVALID.
 */
int sp_instance_host_entry(const char *entry, char *host, int *port);

/*
 * The outbound URL policy of webhooks (a notificationUrl, a
 * lifecycleNotificationUrl): an absolute https URL (http only to a
 * loopback host), without user-info or fragment, whose scheme, host and
 * port are those of a trusted instance (base URLs, any path), or whose
 * host (and port, when the entry names one) is an entry of hosts
 * (SPACEPORT_WEBHOOK_HOSTS, see sp_instance_host_entry). Like everything
 * here it resolves no name: sp_fetch checks the addresses it connects to.
 * Returns 0 with *slot (may be NULL) set to the matching entry's index
 * (trusted instances first, then hosts: one number per destination, for
 * bounding work per destination), or SP_ERR_INVALID with *why (static
 * text) set.
 */
int sp_instance_match_webhook(const char *const *instances, size_t ninstances,
                              const char *const *hosts, size_t nhosts, const char *url,
                              size_t *slot, const char **why);

#endif
