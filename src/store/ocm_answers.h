/*
 * ocm_answers.h - what receiving instances answer about the shares this
 * instance sent them over Open Cloud Mesh (SHARE_ACCEPTED,
 * SHARE_DECLINED).
 *
 * A sent share (store/ocm.h) is found by its providerId, our share id,
 * together with either the shared secret we sent with it (the receiver
 * proves itself as Nextcloud does) or the instance that took it (the
 * receiver signed its request). An answer is kept on the sent share; a
 * decline also ends the share there: nothing more is delivered to that
 * instance for it.
 */
#ifndef SP_STORE_OCM_ANSWERS_H
#define SP_STORE_OCM_ANSWERS_H

#include "store/store.h"

/* Longest instance base URL copied out. */
#define SP_OCM_ANSWER_INSTANCE_MAX 2100

/* Which sent share a notification names (strings borrowed): share_id with
 * secret, or, when instance is set, share_id as delivered to instance. */
typedef struct sp_ocm_sent_ref {
    const char *share_id;
    const char *secret;
    const char *instance;
} sp_ocm_sent_ref;

typedef enum sp_ocm_answer { SP_OCM_ANSWER_ACCEPTED, SP_OCM_ANSWER_DECLINED } sp_ocm_answer;

/* Writes the base URL of the instance that took the sent share ref names
 * to instance ("" for a share still being delivered: the receiver may
 * answer before its 201 is recorded), on the thread's reader. Returns 0;
 * SP_ERR_NOT_FOUND when there is no such share, the secret differs, or it
 * was never delivered and is no longer offered; another negative sp_err. */
int sp_store_ocm_sent_instance(sp_store *st, const sp_ocm_sent_ref *ref,
                               char instance[SP_OCM_ANSWER_INSTANCE_MAX]);

/*
 * Records the receiver's answer on the sent share ref names. A share still
 * being delivered (no instance recorded yet, state pending) is reached by
 * its secret or by any trusted signer: the answer is kept with its signer
 * and takes effect when the delivery is recorded (sp_store_ocm_finish),
 * dropped if the share went to another instance; it never says where the
 * share goes. Otherwise: ACCEPTED
 * keeps answer 'accepted' on a share still pending or shared. DECLINED
 * keeps answer 'declined', sets the share's state to 'refused' and drops
 * its deliveries not yet made, in one transaction. The same answer again
 * is a redelivery: success, *applied 0. *applied may be NULL. Returns 0;
 * SP_ERR_NOT_FOUND (no such share, another secret or instance, or a share
 * that ended: unshared, refused without a decline, or declined when the
 * answer is ACCEPTED); another negative sp_err.
 */
int sp_store_ocm_answer(sp_store *st, const sp_ocm_sent_ref *ref, sp_ocm_answer answer,
                        int *applied);

#endif
