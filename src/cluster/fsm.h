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
 * The apply result handed to raft's apply callback is the entry's sequence
 * number (an integer cast to void *, nothing to free: followers drop it).
 * The fsm remembers the per-record skip flags of its last
 * BK_MD_FSM_RESULTS entries, so the leader's callback can tell each
 * proposer whether its records conflicted, whether raft calls it right
 * after apply (0.15) or later in the same loop iteration (newer releases).
 *
 * snapshot: the whole image as one buffer (bk_md_image_snapshot); restore:
 * the reverse. All callbacks run on the raft thread; readers on other
 * threads use bk_md_fsm_acquire(). */
#ifndef BK_CLUSTER_FSM_H
#define BK_CLUSTER_FSM_H

#include <raft.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/image.h"
#include "cluster/tail.h"

#define BK_MD_FSM_RESULTS 64
/* The entries kept for brokers that pull metadata (cluster/tail.h). */
#define BK_MD_TAIL_ENTRIES 8192
#define BK_MD_TAIL_BYTES   (64u << 20)

struct bk_md_fsm {
    struct raft_fsm raft; /* passed to raft_init; raft.data == this */
    struct bk_md_pub pub;
    struct bk_md_image *cur; /* the writer's reference to the newest image */
    uint64_t seq; /* entries applied by this fsm (the apply result) */
    struct bk_md_fsm_result {
        uint64_t seq;
        uint8_t *skipped; /* per record: 1 when it was skipped */
        size_t n;
        size_t cap;
    } results[BK_MD_FSM_RESULTS];
    int64_t n_bad_entries;    /* entries that could not be decoded */
    struct bk_md_tail tail;   /* the newest entries applied */
    atomic_llong n_installed; /* images installed whole (snapshots) */
    /* Called on the writer thread after each new image is published, so
     * that readers are told rather than poll (may be NULL). */
    void (*on_publish)(void *data);
    void *on_publish_data; /* borrowed */
};

/* Initialises an fsm holding an empty image. Returns 0 or BK_ENOMEM. */
int bk_md_fsm_init(struct bk_md_fsm *f);

/* Frees the fsm. Images acquired earlier stay valid until released. */
void bk_md_fsm_close(struct bk_md_fsm *f);

/* Any thread: the current image (returns owned; bk_md_image_release it). */
struct bk_md_image *bk_md_fsm_acquire(struct bk_md_fsm *f);

/* Replaces the image with img (takes the reference) and publishes it, as a
 * snapshot restore does; the tail starts over at its offset. */
void bk_md_fsm_install(struct bk_md_fsm *f, struct bk_md_image *img);

/* Applies one entry's bytes (borrowed), as raft's apply does. Returns 0 or
 * BK_ENOMEM. For tests and for the raft apply callback. */
int bk_md_fsm_apply_entry(struct bk_md_fsm *f, const void *buf, size_t len);

/* The skip flags of the entry whose apply result was seq (borrowed, valid
 * until BK_MD_FSM_RESULTS more entries are applied), with *n records; NULL
 * when it is no longer remembered. Raft thread only. */
const uint8_t *bk_md_fsm_skipped(const struct bk_md_fsm *f,
                                 uint64_t seq,
                                 size_t *n);

#endif /* BK_CLUSTER_FSM_H */
