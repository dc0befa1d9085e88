/* The quorum as the active controller sees it, for DescribeQuorum (api 55,
 * KIP-595 and KIP-836).
 *
 * Kafka's leader knows each voter's log end offset from its fetches. Raft
 * 0.15 keeps its followers' progress to itself (raft-notes §1, §3.8), so
 * brokerd uses what it does know: every node heartbeats the metadata
 * offset it has applied to the active controller (heartbeats.c), and the
 * leader's own offset is its image's. Offsets here are metadata offsets
 * (records applied), the same unit as the high watermark reported. */
#include <string.h>

#include "cluster/controller.h"
#include "cluster/heartbeats.h"
#include "common/clock.h"
#include "common/err.h"
#include "common/heap.h"

struct quorum_op {
    struct bk_md *md;
    bk_md_quorum_cb cb;
    void *data;
};

static bool is_voter(const struct bk_md_quorum *q, int32_t id)
{
    for (size_t i = 0; i < q->n_voters; i++) {
        if (q->voters[i].id == id) {
            return true;
        }
    }
    return false;
}

static const struct bk_md_replica_progress *
find(const struct bk_md_replica_progress *v, size_t n, int32_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (v[i].id == id) {
            return &v[i];
        }
    }
    return NULL;
}

/* Fills q from the sessions (borrowed, n of them) on the raft thread. */
static int fill(struct bk_md *md,
                struct bk_md_quorum *q,
                const struct bk_md_replica_progress *sessions,
                size_t n)
{
    int32_t ids[BK_MD_QUORUM_MAX_VOTERS];
    size_t nv = bk_md_voters(md, ids, BK_MD_QUORUM_MAX_VOTERS);
    q->n_voters = nv < BK_MD_QUORUM_MAX_VOTERS ? nv : BK_MD_QUORUM_MAX_VOTERS;
    struct bk_md_image *img = bk_md_image_acquire(md);
    q->high_watermark = img->offset;
    bk_md_image_release(img);
    q->leader = bk_md_node_id(md);
    q->term = bk_md_term(md);
    int64_t now = bk_clock_wall_ms(bk_clock_system());
    for (size_t i = 0; i < q->n_voters; i++) {
        struct bk_md_replica_progress *v = &q->voters[i];
        const struct bk_md_replica_progress *s = find(sessions, n, ids[i]);
        if (ids[i] == q->leader) {
            /* The leader is caught up with itself by definition; Kafka
             * reports no fetch time for it. */
            *v = (struct bk_md_replica_progress){ ids[i], q->high_watermark, -1,
                                                  now };
        } else if (s != NULL) {
            *v = *s;
        } else {
            *v = (struct bk_md_replica_progress){ ids[i], -1, -1, -1 };
        }
    }
    q->n_observers = 0;
    q->observers = bk_calloc(n + 1, sizeof(*q->observers));
    if (q->observers == NULL) {
        return BK_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_voter(q, sessions[i].id)) {
            q->observers[q->n_observers++] = sessions[i];
        }
    }
    return 0;
}

static void describe_on_raft(void *data, int status)
{
    struct quorum_op *op = data;
    struct bk_md_quorum *q = NULL;
    struct bk_md_replica_progress *sessions = NULL;
    if (status == 0 && !bk_md_is_active(op->md)) {
        status = BK_ENOTLEADER;
    }
    if (status == 0) {
        struct bk_md_hb *hb = bk_md_hb_of(op->md);
        size_t n = bk_md_hb_progress(hb, NULL, 0);
        sessions = bk_calloc(n + 1, sizeof(*sessions));
        q = bk_calloc(1, sizeof(*q));
        if (sessions == NULL || q == NULL) {
            status = BK_ENOMEM;
        } else {
            bk_md_hb_progress(hb, sessions, n);
            status = fill(op->md, q, sessions, n);
        }
    }
    bk_free(sessions);
    if (status != 0) {
        bk_md_quorum_free(q);
        q = NULL;
    }
    op->cb(op->data, status, q);
    bk_free(op);
}

int bk_md_describe_quorum(struct bk_md *md, bk_md_quorum_cb cb, void *data)
{
    struct quorum_op *op = bk_malloc(sizeof(*op));
    if (op == NULL) {
        return BK_ENOMEM;
    }
    *op = (struct quorum_op){ md, cb, data };
    int rv = bk_md_call(md, describe_on_raft, op);
    if (rv != 0) {
        bk_free(op);
    }
    return rv;
}

void bk_md_quorum_free(struct bk_md_quorum *q)
{
    if (q != NULL) {
        bk_free(q->observers);
        bk_free(q);
    }
}
