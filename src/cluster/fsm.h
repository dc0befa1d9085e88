/* The metadata state machine: a raft_fsm (version 2, with
 * snapshot_finalize) over the immutable image of cluster/image.h.
 *
 * apply: decodes the entry (one batch of records, cluster/records.h),
 * applies it with bk_md_image_apply() and publishes the new image. It is
 * deterministic and never fails on content: conflicting records are skipped
 * the same way on every node. An undecodable entry (a record type from a
 * newer version, or corrupt bytes that passed raft's CRC) is logged and
 * skipped as a whole, advancing nothing, so that the node keeps applying;
 * mixed-version clusters need a feature gate before new types are written.
 * Only out-of-memory makes apply return an error (raft then retries).
 *
 * The apply result handed to raft's apply callback is the fsm itself; the
 * leader's callback, which runs right after apply on the same thread, reads
 * last_skipped[] to tell each proposer whether its records conflicted.
 *
 * snapshot: the whole image as one buffer (bk_md_image_snapshot); restore:
 * the reverse. All callbacks run on the raft thread; readers on other
 * threads use bk_md_fsm_acquire(). */
#ifndef BK_CLUSTER_FSM_H
#define BK_CLUSTER_FSM_H

#include <raft.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/image.h"

struct bk_md_fsm {
    struct raft_fsm raft; /* passed to raft_init; raft.data == this */
    struct bk_md_pub pub;
    struct bk_md_image *cur; /* the writer's reference to the newest image */
    /* Per record of the last applied entry: 1 when it was skipped. */
    uint8_t *last_skipped;
    size_t last_n;
    size_t last_cap;
    int64_t n_bad_entries; /* entries that could not be decoded */
};

/* Initialises an fsm holding an empty image. Returns 0 or BK_ENOMEM. */
int bk_md_fsm_init(struct bk_md_fsm *f);

/* Frees the fsm. Images acquired earlier stay valid until released. */
void bk_md_fsm_close(struct bk_md_fsm *f);

/* Any thread: the current image (returns owned; bk_md_image_release it). */
struct bk_md_image *bk_md_fsm_acquire(struct bk_md_fsm *f);

/* Applies one entry's bytes (borrowed), as raft's apply does. Returns 0 or
 * BK_ENOMEM. For tests and for the raft apply callback. */
int bk_md_fsm_apply_entry(struct bk_md_fsm *f, const void *buf, size_t len);

#endif /* BK_CLUSTER_FSM_H */
