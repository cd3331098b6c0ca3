/*
 * federation.h - the outbound Open Cloud Mesh queue: announces shares made
 * here with users of other (trusted) instances, tells those instances when
 * a shared drive changes, its permissions change or a share is revoked,
 * and answers the instances that shared with users here (accepted,
 * declined).
 *
 * One thread, woken on commit like the relay: it turns new events into
 * deliveries (store/ocm.h, driven by the event log), then sends what is
 * due, one request at a time, each with a short timeout, retrying with
 * back-off. Every request is signed with the instance key (util/fetch.h)
 * and goes to the endPoint the receiver's discovery document names
 * (util/discovery.h), in the form it takes. A share to marie@paris.test
 * goes to the trusted instance whose WebFinger knows paris.test and that
 * accepts it (POST <endPoint>/shares); a share with a contact straight to
 * the contact's instance. Changes follow as POST <endPoint>/notifications:
 * SHARE_UNSHARED to every peer, RESOURCE_CHANGED (the new eTag) and
 * SHARE_CHANGE_PERMISSION only to peers whose discovery lists them in
 * notificationTypes; SHARE_ACCEPTED and SHARE_DECLINED go to senders. A
 * request never waits for any of this.
 */
#ifndef SP_EVENTS_FEDERATION_H
#define SP_EVENTS_FEDERATION_H

#include "store/store.h"
#include "util/strlist.h"

#include <stddef.h>

struct sp_buf;
struct sp_discovery;
struct sp_httpsig_key;
typedef struct sp_federation sp_federation;

/* Who is told, and who we are. The lists and strings are borrowed and
 * must outlive the handle. */
typedef struct sp_federation_options {
    const sp_strlist *trusted;          /* the trusted instances' base URLs */
    const char *public_url, *dav_url;   /* ours, no trailing slash */
    const char *const *local_domains;   /* e-mail domains served here (WebFinger) */
    size_t local_domain_count;
} sp_federation_options;

/*
 * Starts the thread. opt (copied; what it points to is borrowed), discovery (the peers' documents) and key (this
 * instance's signing key) are borrowed and must outlive the handle. With no
 * trusted instances there is nobody to tell: returns 0 and *out = NULL.
 * Returns 0 and a new handle, or SP_ERR_NOMEM / SP_ERR_INVALID.
 */
int sp_federation_start(sp_store *st, const sp_federation_options *opt,
                        struct sp_discovery *discovery,
                        const struct sp_httpsig_key *key, sp_federation **out);

/* The commit listener: events were written. Safe from any thread. */
void sp_federation_wake(void *federation);

/* Stops the thread (a request in flight is cancelled; what is queued is
 * sent after the next start) and frees the handle. NULL is fine. */
void sp_federation_stop(sp_federation *f);

/* Appends Prometheus metrics: deliveries by outcome, queue length. */
int sp_federation_metrics(sp_federation *f, struct sp_buf *out);

#endif
