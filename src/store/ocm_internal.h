/*
 * ocm_internal.h - what the two halves of the outbound OCM store share:
 * deriving deliveries from events (ocm.c) and the queue itself with this
 * instance's answers to shares it received (ocm_queue.c).
 */
#ifndef SP_STORE_OCM_INTERNAL_H
#define SP_STORE_OCM_INTERNAL_H

#include "store/internal.h"

#include <jansson.h>
#include <stdint.h>

/* Queues a delivery of kind for sent share sent_seq, or (sent_seq 0) for
 * reply reply_seq; etag may be NULL. Within a write transaction. */
int sp_store__ocm_enqueue(sp_conn *w, int64_t sent_seq, int64_t reply_seq, const char *kind,
                          const char *etag);

/*
 * This instance as the recipient of a share that came over OCM: accepted
 * (it arrived: remote.registered) or declined (its owner removed it:
 * remote.removed), from the event's data (borrowed: instance, ocmShareId,
 * resourceType). Queues SHARE_ACCEPTED or SHARE_DECLINED for the sender,
 * once per change of answer. Within a write transaction.
 */
int sp_store__ocm_reply(sp_conn *w, int accepted, json_t *data);

#endif
