/* Produce's state shared by produce.c (the request) and produce_verify.c
 * (the transactional verification of KIP-890 part 1). Private to those
 * two files. */
#ifndef BK_API_PRODUCE_H
#define BK_API_PRODUCE_H

#include <stdbool.h>
#include <stdint.h>

#include "api/fan.h"
#include "api/leader_hint.h"
#include "partition/replica.h"
#include "protocol/gen/produce.h"

typedef struct bk_msg_produce_response_partition_produce_response out_part;
typedef struct bk_msg_produce_response_topic_produce_response out_topic;

struct bk_produce_item {
    /* The record errors and their messages (Produce v8+), allocated on the
     * owner's thread, which may not use the call's arena (fan.h); moved
     * into the call's arena on the connection's shard (errors_home). */
    struct bk_arena errs;
    const struct bk_msg_produce_request_partition_produce_data *in;
    struct bk_str topic;     /* the request's name for it (borrowed) */
    struct bk_uuid topic_id; /* resolved on the connection's shard */
    bool known;
    int16_t denied; /* the authorization error to answer, or 0 */
    out_part *out;
    struct bk_fan_part *part; /* while the append waits to be durable */
    struct bk_replica_append append;
    int16_t sync_error;
    /* Waiting for its coordinator (produce_verify.c): the batch's
     * producer and the guard taken when the question went out. */
    bool verifying;
    int64_t producer_id;
    int16_t producer_epoch;
    uint32_t guard;
};

struct bk_produce_state {
    struct bk_fan fan;
    struct bk_msg_produce_response resp;
    struct bk_produce_item *items;
    size_t nitems;
    int16_t acks;
    int16_t version;
    int32_t timeout_ms;
    struct bk_str txn_id; /* the request's transactional_id (borrowed) */
    bool verify;          /* transaction.partition.verification.enable */
    /* KIP-951: its image holds the endpoints' strings until encoded. */
    struct bk_leader_hints hints;
};

/* The item's answer: code, with msg (static) or the code's own text. */
void bk_produce_set_error(struct bk_produce_item *it,
                          int16_t code,
                          const char *msg);

/* On the owner: the item's partition when this broker may append to it,
 * else NULL with the item's error set. */
struct bk_partition *bk_produce_admit(struct bk_produce_state *st,
                                      struct bk_fan_part *part,
                                      const struct bk_md_image *img,
                                      struct bk_produce_item *it);

/* On the owner: appends the item's batch to p and fills its answer;
 * part stays held while an acks=all append waits for its sync. */
void bk_produce_append(struct bk_produce_state *st,
                       struct bk_fan_part *part,
                       struct bk_produce_item *it,
                       struct bk_partition *p);

/* On the owner, before the append: whether the item's batch must wait
 * for its coordinator's verification (then it is marked verifying, or
 * answered with an error, and not appended now). */
bool bk_produce_verify_needed(struct bk_produce_state *st,
                              struct bk_produce_item *it,
                              struct bk_partition *p);

/* On the owner, after every item of part was admitted: asks the
 * coordinators about the items marked verifying, holding part until
 * each is answered and, if verified, appended. */
void bk_produce_verify_start(struct bk_produce_state *st,
                             struct bk_fan_part *part,
                             const struct bk_md_image *img);

#endif /* BK_API_PRODUCE_H */
