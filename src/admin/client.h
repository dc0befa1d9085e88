/* A small blocking Kafka client for brokerctl: one connection, one request
 * at a time, the generated codec for both directions. It negotiates
 * versions with ApiVersions like any client (KIP-511 fallback included). */
#ifndef BK_ADMIN_CLIENT_H
#define BK_ADMIN_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "protocol/gen/api.h"

#define BK_CLIENT_MAX_KEYS 128

struct bk_client {
    int fd;
    int32_t next_corr;
    int timeout_ms;
    char addr[300];
    /* The broker's advertised range per key; max < 0 = not supported. */
    int16_t broker_min[BK_CLIENT_MAX_KEYS];
    int16_t broker_max[BK_CLIENT_MAX_KEYS];
    uint8_t *frame; /* owned: last response frame */
    char errmsg[512];
};

/* Connects to "host:port" and runs ApiVersions. On failure returns a BK_E*
 * code with one line in c->errmsg. */
int bk_client_connect(struct bk_client *c,
                      const char *hostport,
                      int timeout_ms);

void bk_client_close(struct bk_client *c);

/* The version to use for key: min(our max, broker max), or -1 when the
 * broker does not support the key or no version overlaps. */
int16_t bk_client_version(const struct bk_client *c, int16_t key);

/* Sends req (a request struct of key) at version and decodes the answer
 * into resp (a response struct, initialised here), allocating from arena.
 * Views in resp point into a buffer owned by c, valid until the next call. */
int bk_client_call(struct bk_client *c,
                   int16_t key,
                   int16_t version,
                   const void *req,
                   void *resp,
                   struct bk_arena *arena);

/* Sends req without waiting for an answer (Produce with acks=0). */
int bk_client_send_only(struct bk_client *c,
                        int16_t key,
                        int16_t version,
                        const void *req);

#endif /* BK_ADMIN_CLIENT_H */
