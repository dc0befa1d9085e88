/* Client quotas on the request path (KIP-13 byte rates, KIP-124 request
 * time, KIP-219 throttling).
 *
 * Each shard keeps a reference to the image's quota table (shard_state.c,
 * on every new image); with no quota configured the hooks below return at
 * their first test: no lock, no allocation, no clock read.
 *
 * With quotas, a request's (user, client id) resolves per quota kind
 * through Kafka's eight levels (cluster/quotas.h) to a bound and a sensor:
 * the rate (common/rate.h) of every connection of that entity on this
 * broker, whatever shard it is on. Sensors live in one table per broker
 * (struct bk_quota_mgr) under a mutex, so the cross-shard sum is exact;
 * the lock is taken once per request of a client that has a quota, never
 * otherwise. Throttling is KIP-219's: the answer goes out at once with
 * throttle_time_ms, and the connection reads nothing more for that long
 * (bk_conn_mute).
 *
 * The server owns the manager (bk_quota_mgr_*); the hooks are for the
 * handlers and dispatch. */
#ifndef BK_API_QUOTA_H
#define BK_API_QUOTA_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "api/call.h"
#include "common/clock.h"
#include "common/rate.h"

enum bk_quota_kind {
    BK_QUOTA_PRODUCE = 0,
    BK_QUOTA_FETCH = 1,
    BK_QUOTA_REQUEST = 2,
    BK_QUOTA_KINDS = 3,
};

struct bk_quota_sensor;

/* The broker's sensors, shared by the shards. */
struct bk_quota_mgr {
    uv_mutex_t lock;
    const struct bk_clock *clock; /* borrowed */
    struct bk_rate_cfg cfg;
    struct bk_quota_sensor **buckets; /* owned */
    size_t nbuckets;
    size_t n;
    int64_t last_sweep_ms;
};

/* samples: quota.window.num; window_s: quota.window.size.seconds. Returns
 * 0, BK_EINVAL for values out of range, or BK_ENOMEM. */
int bk_quota_mgr_init(struct bk_quota_mgr *m,
                      const struct bk_clock *clock,
                      unsigned samples,
                      unsigned window_s);
void bk_quota_mgr_close(struct bk_quota_mgr *m);

/* Records value on the sensor of (kind, user, client) (strings borrowed)
 * at the manager's clock and returns the throttle time in ms (0 when the
 * rate stays within bound). Any thread. Returns -1 when out of memory
 * (nothing recorded). */
int64_t bk_quota_mgr_record(struct bk_quota_mgr *m,
                            enum bk_quota_kind kind,
                            const char *user,
                            const char *client,
                            double bound,
                            double value);

/* Produce entry: records the request's record bytes against the client's
 * producer_byte_rate and mutes the connection for the throttle time. */
void bk_quota_produce(struct bk_call *call);

/* Fetch entry: for a consumer (replica_id < 0) with a consumer_byte_rate,
 * caps *max_bytes at one quota window's worth, and returns true when the
 * client is over its quota already: the caller then answers at once with
 * no data and *throttle_ms (Kafka's throttled fetch response). */
bool bk_quota_fetch_begin(struct bk_call *call,
                          int32_t replica_id,
                          int32_t *max_bytes,
                          int32_t *throttle_ms);

/* Fetch exit, with the answer's record bytes: sets *throttle_ms to the
 * throttle_time_ms to answer with (the connection is muted that long).
 * Returns true when the answer must go without data, as Kafka's does for
 * a fetch that takes its client over its quota (or one throttled by its
 * request quota): the bytes are then not counted. */
bool bk_quota_fetch_end(struct bk_call *call,
                        int64_t bytes,
                        int32_t *throttle_ms);

/* The throttle_time_ms a Produce answer carries (the larger of the byte
 * rate and the request time throttles). */
int32_t bk_quota_throttle_ms(const struct bk_call *call);

/* Request time (request_percentage): dispatch calls begin before the
 * handler and end after it with the same timing, which holds what end
 * needs (the call may be freed inside the handler). */
struct bk_quota_timing {
    struct bk_quota_mgr *m;
    struct bk_conn *conn;   /* borrowed: alive until the loop turns */
    struct bk_shard *shard; /* borrowed */
    /* Pinned (kept from expiry) until end; NULL: nothing to time. */
    struct bk_quota_sensor *sensor;
    double bound;
    uint64_t t0_ns;
};
void bk_quota_request_begin(struct bk_call *call, struct bk_quota_timing *t);
void bk_quota_request_end(struct bk_quota_timing *t);

#endif /* BK_API_QUOTA_H */
