/* An asynchronous Kafka-protocol client connection on a libuv loop.
 *
 * Brokers talk Kafka protocol to other brokers: BrokerRegistration and
 * BrokerHeartbeat to the active controller, admin requests forwarded to it,
 * and (later) fetches from partition leaders. A bk_kclient is one such
 * connection: it targets one host:port, opens its TCP connection lazily on
 * the first send (and again on the first send after the connection is
 * lost), pipelines requests on it and hands each answer back to the
 * request's callback, in request order (a Kafka broker answers one
 * connection's requests in the order it received them).
 *
 * Every request sent through a client must expect an answer: answers are
 * matched to requests by their order and correlation id, so a request the
 * server never answers (a Produce with acks=0) would leave the client
 * waiting until it times out and drops the connection. Never send one.
 *
 * Failures are never retried here: a request may not be idempotent, so the
 * caller decides. A lost connection fails every request in flight with
 * BK_EIO and the next send connects again.
 *
 * Threads: a client belongs to the thread that created it, which runs its
 * loop; every call below must be made there, and callbacks run there. It
 * keeps no global state, so any number of clients may share a loop. */
#ifndef BK_NET_KCLIENT_H
#define BK_NET_KCLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct bk_kclient;

struct bk_kclient_opts {
    /* From the first send on an unconnected client until the connection
     * is up, name resolution included; 0 means 5000. */
    unsigned connect_timeout_ms;
    /* Per request, counted from bk_kclient_send; 0 means 30000. */
    unsigned request_timeout_ms;
    /* A response frame larger than this fails the connection with
     * BK_EPROTO; 0 means 100 MiB. */
    size_t max_response_bytes;
};

/* Runs exactly once per accepted request, on the loop thread, never from
 * inside bk_kclient_send.
 *
 * status: 0, or a negative BK_E* code:
 *   BK_ETIMEDOUT  the request timed out (the connection is dropped, see
 *                 kclient.c), or the connection was not up in time;
 *   a connect failure: the negative errno libuv reports (-ECONNREFUSED,
 *                 -ENETUNREACH, ...), or for a name that does not resolve
 *                 BK_ENOTFOUND (BK_EAGAIN: the resolver may succeed later);
 *   BK_EIO        the connection was lost while the request was queued or
 *                 in flight (or an earlier request on it timed out);
 *   BK_EPROTO     the server sent a frame that is malformed, oversized or
 *                 not the answer to the oldest request in flight;
 *   BK_ENOMEM     no memory for the connection or the answer;
 *   BK_ESHUTDOWN  bk_kclient_close ran first.
 * resp, len: on status 0, the response frame without its 4-byte size
 * prefix, starting with the caller's own correlation id; borrowed for the
 * duration of the callback only (copy what you keep). NULL and 0
 * otherwise. */
typedef void (*bk_kclient_cb)(void *data,
                              int status,
                              const uint8_t *resp,
                              size_t len);

/* Creates a client for host:port on loop (borrowed; must outlive the
 * client). host (borrowed, copied) is an IPv4 or IPv6 literal, optionally
 * in brackets, or a name resolved with uv_getaddrinfo at each connect; a
 * name with several addresses is tried one address per connect, moving on
 * after a failure (KIP-302). o (borrowed; NULL for the defaults). Nothing
 * is connected yet. On success *out is owned by the caller, to be ended
 * with bk_kclient_close. Returns 0, BK_EINVAL (empty host, port outside
 * 1..65535) or BK_ENOMEM. */
int bk_kclient_new(uv_loop_t *loop,
                   const char *host,
                   int port,
                   const struct bk_kclient_opts *o,
                   struct bk_kclient **out);

/* Queues one request. req (borrowed for the call; copied) is a complete
 * request frame without the size prefix: the request header (api_key
 * int16, api_version int16, correlation_id int32, client_id, ...) then the
 * body. The client puts its own correlation id on the wire, so a caller
 * may forward a client's frame unchanged, and restores the caller's in the
 * response it hands to cb. Connects if the client has no connection.
 * data (borrowed) is passed to cb.
 *
 * Returns 0, and cb will run exactly once; or, with no callback ever:
 * BK_EINVAL (cb NULL, or len below the 8 bytes of api_key, api_version and
 * correlation id, or above INT32_MAX), BK_ENOMEM, or BK_ESHUTDOWN from a
 * callback that bk_kclient_close is running. */
int bk_kclient_send(struct bk_kclient *c,
                    const uint8_t *req,
                    size_t len,
                    bk_kclient_cb cb,
                    void *data);

/* Ends the client (takes ownership of c). Every request whose callback has
 * not run yet gets it before this returns: BK_ESHUTDOWN, or the failure it
 * already had if it failed before. Those callbacks may not call
 * bk_kclient_close again; a send from them returns BK_ESHUTDOWN. The
 * socket is closed and c is freed once libuv has closed its handles, so
 * the loop must run afterwards. */
void bk_kclient_close(struct bk_kclient *c);

/* Whether the client has an established connection now (diagnostics). */
bool bk_kclient_connected(const struct bk_kclient *c);

/* The address the client targets, "host:port" ("[v6]:port" for an IPv6
 * literal); owned by c. */
const char *bk_kclient_target(const struct bk_kclient *c);

/* Why the last connection attempt or connection ended ("" if none has);
 * owned by c, valid until the next call into c or the next loop turn. */
const char *bk_kclient_errmsg(const struct bk_kclient *c);

/* Requests accepted by bk_kclient_send whose callback has not run yet. */
size_t bk_kclient_pending(const struct bk_kclient *c);

#endif /* BK_NET_KCLIENT_H */
