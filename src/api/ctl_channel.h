/* The way from this node to the active controller's Kafka listener.
 *
 * A broker sends the controller its registration and heartbeats
 * (server/lifecycle.c) and forwards the admin requests it may not decide
 * itself (forward.c). The active controller is the raft leader as this
 * node knows it; where it listens is in the metadata image (the endpoint
 * it recorded when it became active, cluster/ops.h). A channel keeps one
 * bk_kclient connection to it and moves to the new one when leadership
 * changes. One channel per loop; every call on the loop's thread. */
#ifndef BK_API_CTL_CHANNEL_H
#define BK_API_CTL_CHANNEL_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/kclient.h"

struct bk_md;

struct bk_ctl_channel {
    uv_loop_t *loop;       /* borrowed */
    struct bk_md *md;      /* borrowed */
    struct bk_kclient *kc; /* owned; NULL until the first send */
    int32_t target;        /* node id kc talks to, -1 none */
    char host[256];
    int32_t port;
};

void bk_ctl_channel_init(struct bk_ctl_channel *ch,
                         uv_loop_t *loop,
                         struct bk_md *md);

/* The active controller's node id and endpoint as this node knows them.
 * Returns 0, or BK_ENOTLEADER when there is none yet (an election, or an
 * active controller that has not recorded its endpoint yet). */
int bk_ctl_channel_resolve(struct bk_ctl_channel *ch,
                           int32_t *id,
                           char *host,
                           size_t hostlen,
                           int32_t *port);

/* Sends a request frame (without size prefix; borrowed, copied) to the
 * active controller, as bk_kclient_send. Returns 0 (cb runs once, later),
 * BK_ENOTLEADER when no controller is known now (cb never runs; try again
 * later), or kclient's errors. */
int bk_ctl_channel_send(struct bk_ctl_channel *ch,
                        const uint8_t *frame,
                        size_t len,
                        bk_kclient_cb cb,
                        void *data);

/* The connection failed: drop it, so that the next send looks for the
 * controller again (it may have moved). */
void bk_ctl_channel_reset(struct bk_ctl_channel *ch);

/* Closes the connection; pending callbacks run with BK_ESHUTDOWN first. */
void bk_ctl_channel_close(struct bk_ctl_channel *ch);

#endif /* BK_API_CTL_CHANNEL_H */
