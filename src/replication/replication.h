/* Partition replication, the follower's side: each shard fetches the
 * partitions it follows from their leaders and appends what they send
 * (replication-notes.md section 2), and tells the controller when a
 * partition it leads wants its ISR changed (AlterPartition, section 4).
 *
 * One bk_repl per shard, on the shard's loop; every call on that thread.
 * A fetcher per leader broker keeps one bk_kclient connection to it, so a
 * follower has a connection per (shard, leader broker), as the issue asks,
 * and no partition is ever touched off its owning shard.
 *
 * Durable by default: a follower fetches again (and so reports its new log
 * end to the leader, which counts it for the high watermark) only once
 * what it appended is on disk. replica.ack.unsynced=true relaxes that to
 * Kafka's acknowledgement from memory. */
#ifndef BK_REPLICATION_REPLICATION_H
#define BK_REPLICATION_REPLICATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "cluster/image.h"
#include "net/kclient.h"
#include "partition/manager.h"

struct bk_repl_config {
    int32_t node_id;
    int32_t fetch_wait_max_ms;        /* replica.fetch.wait.max.ms */
    int32_t fetch_max_bytes;          /* replica.fetch.max.bytes */
    int32_t fetch_response_max_bytes; /* replica.fetch.response.max.bytes */
    int32_t fetch_backoff_ms;         /* replica.fetch.backoff.ms */
    bool ack_unsynced;                /* replica.ack.unsynced */
};

/* Sends a request frame to the active controller (api/ctl_channel.h's
 * bk_ctl_channel_send, as a seam). */
typedef int (*bk_repl_ctl_send_fn)(void *ctl,
                                   const uint8_t *frame,
                                   size_t len,
                                   bk_kclient_cb cb,
                                   void *data);

struct bk_repl_fetcher;

struct bk_repl {
    uv_loop_t *loop;      /* borrowed: the shard's loop */
    struct bk_rmgr *rmgr; /* borrowed: the shard's replicas */
    struct bk_repl_config cfg;
    struct bk_md_image *img; /* the newest applied (one reference) */
    struct bk_repl_fetcher *fetchers;
    bk_repl_ctl_send_fn ctl_send;
    void *ctl;
    size_t isr_inflight; /* AlterPartition requests in flight */
    bool closing;
};

/* Sets r up on the shard's thread; rmgr, loop and ctl are borrowed for
 * r's life. Also listens for the ISR changes of rmgr's partitions. */
void bk_repl_init(struct bk_repl *r,
                  uv_loop_t *loop,
                  struct bk_rmgr *rmgr,
                  const struct bk_repl_config *cfg,
                  bk_repl_ctl_send_fn ctl_send,
                  void *ctl);

/* After bk_rmgr_apply(img): each partition of img that this shard hosts
 * and another broker leads is fetched from that broker; fetchers of
 * brokers that lead nothing here any more close. img is borrowed (r
 * takes its own reference). */
void bk_repl_apply(struct bk_repl *r, struct bk_md_image *img);

/* Stops fetching (the shard is stopping): connections close, appends in
 * flight finish. The loop must run afterwards for the handles to close. */
void bk_repl_close(struct bk_repl *r);

#endif /* BK_REPLICATION_REPLICATION_H */
