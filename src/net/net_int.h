/* Internals shared by the files of src/net/ only. */
#ifndef BK_NET_NET_INT_H
#define BK_NET_NET_INT_H

#include <sys/socket.h>

#include "net/net.h"

void bk_shard_maybe_finish(struct bk_shard *s);

/* Stop reading on every connection; close those with nothing in flight. */
void bk_conns_drain(struct bk_shard *s);

/* Close every connection now. */
void bk_conns_close_all(struct bk_shard *s);

/* Adopt an accepted socket on shard s (shard thread). key is the peer's
 * address as bk_net_addr_key() made it; the connection releases it from
 * the group's limits when it is freed. */
void bk_conn_adopt(struct bk_shard *s,
                   int fd,
                   uint64_t id,
                   const uint8_t key[16],
                   const struct bk_conn_origin *origin);

/* Shard timers (shard thread): connections waiting to read again, and the
 * once-a-second sweep of idle and stalled connections. */
void bk_conns_resume_cb(uv_timer_t *t);
void bk_conns_sweep_cb(uv_timer_t *t);

/* The peer address as a 16-byte key (IPv4 mapped into IPv6). */
void bk_net_addr_key(const struct sockaddr_storage *ss, uint8_t key[16]);

/* --- connection limits (limits.c) -------------------------------------- */

/* Parses the overrides and sets up the table. Returns 0, or BK_ECONFIG
 * with one line in err. */
int bk_conn_limits_init(struct bk_conn_limits *l,
                        const struct bk_net_config *cfg,
                        char *err,
                        size_t errlen);
void bk_conn_limits_close(struct bk_conn_limits *l);

/* Counts a new connection from key (any thread). Returns 0, or BK_ELIMIT
 * when max.connections or the address's own limit is reached. */
int bk_conn_limits_admit(struct bk_conn_limits *l, const uint8_t key[16]);

/* Gives back what bk_conn_limits_admit counted (any thread). */
void bk_conn_limits_release(struct bk_conn_limits *l, const uint8_t key[16]);

/* Whether max.connections is reached (the acceptor pauses then). */
bool bk_conn_limits_full(struct bk_conn_limits *l);

/* --- authentication of one connection (sasl_conn.c) -------------------- */

struct bk_conn_auth {
    bool required;      /* a SASL listener */
    size_t max_receive; /* frame cap until authenticated */
    const void *config; /* borrowed: origin.sasl_config */
    char *principal;    /* owned; NULL until authenticated */
    void *state;        /* owned through state_free */
    void (*state_free)(void *state);
    bool close_after_write; /* bk_req_reply_close was called */
};

/* The auth part of c (conn.c). */
struct bk_conn_auth *bk_conn_auth_of(struct bk_conn *c);
const struct bk_conn_auth *bk_conn_auth_of_const(const struct bk_conn *c);

void bk_conn_auth_init(struct bk_conn_auth *a, const struct bk_conn_origin *o);
void bk_conn_auth_free(struct bk_conn_auth *a);

/* The largest frame a may take now: normal, or the pre-authentication
 * cap. */
size_t bk_conn_auth_max_frame(const struct bk_conn_auth *a, size_t normal);

#endif /* BK_NET_NET_INT_H */
