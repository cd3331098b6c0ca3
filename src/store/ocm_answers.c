/*
 * ocm_answers.c - receivers' answers to the shares sent over Open Cloud
 * Mesh (see ocm_answers.h).
 */
#include "store/ocm_answers.h"

#include "store/internal.h"

#include "util/err.h"
#include "util/time.h"

#include <stdio.h>
#include <string.h>

/* ?1 the share id, ?2 the secret or ?3 the instance that signed. The
 * secret is the one generated for the share and sent with it (store/ocm.c),
 * compared whole. A signer reaches the share it took, or one still being
 * delivered (no instance recorded yet: the receiver may answer before its
 * 201 is recorded), whose answer then waits for the delivery's outcome.
 * (The CAST types ?3 where PostgreSQL meets it first, in case it is first
 * bound NULL.) */
static const char SQL_FIND[] =
    "SELECT seq, state, coalesce(answer, ''), coalesce(instance, ''), coalesce(answered_by, '')"
    " FROM ocm_sent WHERE share_id = ?1 AND ((CAST(?3 AS TEXT) IS NULL AND secret = ?2)"
    " OR (?3 IS NOT NULL AND (instance = ?3 OR (instance IS NULL AND state = 'pending'))))";
/* ?5: 1 when the share is recorded as delivered (an integer: PostgreSQL
 * takes no integer for a truth value). */
static const char SQL_ANSWER[] =
    "UPDATE ocm_sent SET answer = ?1, answered_at = ?2, updated_at = ?2, answered_by = ?4,"
    " state = CASE WHEN ?1 = 'declined' AND ?5 <> 0 THEN 'refused' ELSE state END WHERE seq = ?3";
static const char SQL_DROP_DELIVERIES[] = "DELETE FROM ocm_outbox WHERE sent_seq = ?";

typedef struct sent_row {
    int64_t seq;
    char state[16];
    char answer[16];
    char instance[SP_OCM_ANSWER_INSTANCE_MAX];
    char answered_by[SP_OCM_ANSWER_INSTANCE_MAX];
} sent_row;

static int find(sp_conn *c, const sp_ocm_sent_ref *ref, sent_row *row)
{
    sp_db_stmt *s = sp_store__stmt(c, SQL_FIND);
    if (!s)
        return SP_ERR_DB;
    sp_db_bind_text(s, 1, ref->share_id);
    if (ref->secret)
        sp_db_bind_text(s, 2, ref->secret);
    if (ref->instance)
        sp_db_bind_text(s, 3, ref->instance);
    int step = sp_db_step(s);
    if (step == SP_DB_ROW) {
        row->seq = sp_db_column_int64(s, 0);
        sp_store__copy_text(s, 1, row->state, sizeof row->state);
        sp_store__copy_text(s, 2, row->answer, sizeof row->answer);
        sp_store__copy_text(s, 3, row->instance, sizeof row->instance);
        sp_store__copy_text(s, 4, row->answered_by, sizeof row->answered_by);
    }
    sp_store__done(s);
    if (step == SP_DB_ROW)
        return 0;
    return step == SP_DB_DONE ? SP_ERR_NOT_FOUND : sp_store__err(c, step, "find sent share");
}

int sp_store_ocm_sent_instance(sp_store *st, const sp_ocm_sent_ref *ref,
                               char instance[SP_OCM_ANSWER_INSTANCE_MAX])
{
    sp_conn *c = sp_store__reader(st);
    if (!c)
        return SP_ERR_DB;
    sent_row row;
    int rc = find(c, ref, &row);
    if (rc == 0 && !row.instance[0] && strcmp(row.state, "pending") != 0)
        rc = SP_ERR_NOT_FOUND; /* never delivered, and no longer offered */
    if (rc == 0)
        snprintf(instance, SP_OCM_ANSWER_INSTANCE_MAX, "%s", row.instance);
    return rc;
}

/* Whether answer, signed by by ("" when matched by the secret), applies
 * to row: 1 to write it, 0 for a redelivery, or SP_ERR_NOT_FOUND for a
 * share that ended. */
static int judge(const sent_row *row, const char *answer, const char *by)
{
    if (strcmp(row->answer, answer) == 0 && (row->instance[0] || strcmp(row->answered_by, by) == 0))
        return 0;
    if (strcmp(row->state, "pending") != 0 && strcmp(row->state, "shared") != 0)
        return SP_ERR_NOT_FOUND;
    if (!row->instance[0] && strcmp(row->state, "pending") != 0)
        return SP_ERR_NOT_FOUND;
    return 1;
}

int sp_store_ocm_answer(sp_store *st, const sp_ocm_sent_ref *ref, sp_ocm_answer answer,
                        int *applied)
{
    const char *word = answer == SP_OCM_ANSWER_DECLINED ? "declined" : "accepted";
    if (applied)
        *applied = 0;
    sp_conn *w = sp_store__begin(st);
    if (!w)
        return SP_ERR_DB;
    sent_row row;
    int rc = find(w, ref, &row);
    if (rc == 0)
        rc = judge(&row, word, ref->instance && !row.instance[0] ? ref->instance : "");
    if (rc <= 0) {
        sp_store__rollback(st);
        return rc;
    }
    /* Still being delivered (the receiver answered before its 201 was
     * recorded): the answer is kept, and who signed it; it takes effect
     * when the share is recorded as delivered, and only if it went to
     * that instance (sp_store_ocm_finish). It never says where the share
     * goes. */
    int delivered = row.instance[0] != '\0';
    sp_db_stmt *s = sp_store__stmt(w, SQL_ANSWER);
    rc = s ? 0 : SP_ERR_DB;
    if (s) {
        sp_db_bind_text(s, 1, word);
        sp_db_bind_int64(s, 2, sp_time_now_ms());
        sp_db_bind_int64(s, 3, row.seq);
        if (!delivered && ref->instance)
            sp_db_bind_text(s, 4, ref->instance);
        sp_db_bind_int64(s, 5, delivered);
        rc = sp_store__step_done(w, s, "answer sent share");
    }
    /* Declined: the receiver no longer holds the share, so its changes
     * and its unshare have no one to go to. */
    if (rc == 0 && delivered && answer == SP_OCM_ANSWER_DECLINED)
        rc = sp_store__exec_seq(w, SQL_DROP_DELIVERIES, row.seq, "drop deliveries");
    if (rc < 0) {
        sp_store__rollback(st);
        return rc;
    }
    rc = sp_store__commit(st);
    if (rc == 0 && applied)
        *applied = 1;
    return rc;
}
