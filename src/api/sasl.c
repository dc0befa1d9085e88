/* The SASL state machine of a connection (api/sasl.h): its state, what
 * runs before dispatch, and the delayed failure. The mechanisms' steps
 * are sasl_step.c, the listener settings sasl_listener.c.
 *
 * Failure modes: a request the state does not allow closes the connection
 * (SaslHandshake, SaslAuthenticate and, while SaslAuthenticate is due,
 * ApiVersions get ILLEGAL_SASL_STATE first, from their handlers); a failed
 * exchange is answered after the delay and the connection closed; a raw
 * v0 token that fails closes the connection after the delay without an
 * answer, as Kafka does; out of memory closes the connection. */
#include <string.h>

#include "api/sasl_int.h"
#include "common/diag.h"
#include "common/heap.h"
#include "protocol/prim.h"

/* ---- per connection ----------------------------------------------- */

static void conn_state_free(void *p)
{
    struct bk_sasl_conn *st = p;
    bk_scram_server_clear(&st->scram);
    bk_free(st);
}

struct bk_sasl_conn *bk_sasl_conn_get(struct bk_conn *c)
{
    struct bk_sasl_conn *st = bk_conn_auth_state(c);
    if (st == NULL) {
        st = bk_calloc(1, sizeof(*st));
        if (st != NULL) {
            bk_conn_set_auth_state(c, st, conn_state_free);
        }
    }
    return st;
}

/* A failed authentication's answer, held for the delay. Listed as
 * waiting so that a shard's drain sends it at once: the delay must not
 * hold a shutdown up. */
struct delayed {
    struct bk_api_waiting waiting; /* first: cut_short casts back */
    uv_timer_t timer;
    struct bk_req *req;
    const void *frame;
    size_t len;
    bool listed;
};

static void delayed_closed(uv_handle_t *h)
{
    bk_free(h->data);
}

static void delayed_send(struct delayed *d)
{
    if (d->listed) {
        bk_api_waiting_remove(d->req->shard, &d->waiting);
        d->listed = false;
    }
    uv_timer_stop(&d->timer);
    if (d->frame != NULL) {
        bk_req_reply_close(d->req, d->frame, d->len);
    } else {
        bk_req_fail(d->req, "SASL authentication failed");
    }
    uv_close((uv_handle_t *)&d->timer, delayed_closed);
}

static void delayed_fire(uv_timer_t *t)
{
    delayed_send(t->data);
}

static void delayed_cut_short(struct bk_api_waiting *w)
{
    struct delayed *d = (struct delayed *)w;
    d->listed = false; /* the drain took it off the list */
    delayed_send(d);
}

void bk_sasl_fail_later(struct bk_req *req, const void *frame, size_t len)
{
    const struct bk_sasl_listener *l = bk_conn_sasl_config(req->conn);
    struct delayed *d = bk_calloc(1, sizeof(*d));
    if (d == NULL || l == NULL) {
        bk_free(d);
        bk_req_fail(req, "SASL authentication failed");
        return;
    }
    d->req = req;
    d->frame = frame;
    d->len = len;
    d->timer.data = d;
    uv_timer_init(&req->shard->loop, &d->timer);
    d->waiting.cut_short = delayed_cut_short;
    bk_api_waiting_add(req->shard, &d->waiting);
    d->listed = true;
    uv_timer_start(&d->timer, delayed_fire, l->fail_delay_ms, 0);
}

/* ---- before dispatch ---------------------------------------------- */

/* A raw token of the v0 flow: answered by a raw token (4-byte length and
 * bytes, no header); a failure closes the connection after the delay
 * without an answer (KIP-152 added errors; v0 has none). */
static void raw_token(struct bk_req *req, struct bk_sasl_conn *st)
{
    uint8_t *out;
    size_t n;
    const char *msg;
    int rv = bk_sasl_step(req, st, req->frame, req->frame_len, &out, &n, &msg);
    if (rv < 0) {
        bk_sasl_fail_later(req, NULL, 0);
        return;
    }
    uint8_t *frame = bk_arena_alloc(&req->arena, 4 + n);
    if (frame == NULL) {
        bk_req_fail(req, "out of memory");
        return;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, frame, 4 + n);
    bk_wr_i32(&wr, (int32_t)n);
    bk_wr_raw(&wr, out, n);
    bk_req_reply(req, frame, 4 + n);
}

bool bk_sasl_before_dispatch(struct bk_req *req)
{
    if (bk_conn_sasl_config(req->conn) == NULL) {
        return false;
    }
    struct bk_sasl_conn *st = bk_sasl_conn_get(req->conn);
    if (st == NULL) {
        bk_req_fail(req, "out of memory");
        return true;
    }
    st->illegal = false;
    if (st->state == BK_SASL_ST_TOKEN) {
        raw_token(req, st);
        return true;
    }
    if (st->state == BK_SASL_ST_FAILED) {
        bk_req_noreply(req); /* the connection is closing */
        return true;
    }
    if (req->frame_len < 2) {
        return false; /* dispatch refuses the header */
    }
    int16_t key = (int16_t)((req->frame[0] << 8) | req->frame[1]);
    bool allowed;
    switch (st->state) {
        case BK_SASL_ST_COMPLETE:
            if (st->expires_at != 0 &&
                uv_now(&req->shard->loop) >= st->expires_at &&
                key != BK_API_SASL_HANDSHAKE) {
                /* KIP-368: Kafka's Processor closes an expired session
                 * on its next request that does not re-authenticate. */
                bk_req_fail(req,
                            "SASL session expired "
                            "(connections.max.reauth.ms)");
                return true;
            }
            return false;
        case BK_SASL_ST_HANDSHAKE:
            allowed =
                key == BK_API_API_VERSIONS || key == BK_API_SASL_HANDSHAKE;
            break;
        default: /* BK_SASL_ST_AUTHENTICATE */
            allowed = key == BK_API_SASL_AUTHENTICATE;
            break;
    }
    if (allowed) {
        return false;
    }
    if (key == BK_API_SASL_HANDSHAKE || key == BK_API_SASL_AUTHENTICATE ||
        key == BK_API_API_VERSIONS) {
        /* Their handlers answer ILLEGAL_SASL_STATE, then close (Kafka's
         * getErrorResponse; other APIs are closed without an answer). */
        st->illegal = true;
        return false;
    }
    st->state = BK_SASL_ST_FAILED;
    bk_diag_info("api",
                 "conn=%llu peer=%s api_key=%d msg=\"ILLEGAL_SASL_STATE: "
                 "request before SASL authentication\"",
                 (unsigned long long)bk_conn_id(req->conn),
                 bk_conn_peer(req->conn), key);
    bk_req_fail(req, "ILLEGAL_SASL_STATE: request before SASL authentication");
    return true;
}

bool bk_sasl_refuse_api_versions(struct bk_req *req)
{
    if (bk_conn_sasl_config(req->conn) == NULL) {
        return false;
    }
    struct bk_sasl_conn *st = bk_conn_auth_state(req->conn);
    if (st == NULL || !st->illegal) {
        return false;
    }
    st->state = BK_SASL_ST_FAILED;
    bk_conn_close_after_answers(req->conn);
    return true;
}

int bk_sasl_encode(struct bk_call *call,
                   const void *resp,
                   uint8_t **frame,
                   size_t *len)
{
    size_t nholes = 0;
    return bk_call_encode_deferred(call, resp, 0, NULL, 0, &nholes, frame, len);
}

void bk_sasl_answer_close(struct bk_call *call, const void *resp, bool delayed)
{
    uint8_t *frame;
    size_t len;
    if (bk_sasl_encode(call, resp, &frame, &len) != 0) {
        bk_req_fail(call->req, "answer encoding failed");
        return;
    }
    if (delayed) {
        bk_sasl_fail_later(call->req, frame, len);
    } else {
        bk_req_reply_close(call->req, frame, len);
    }
}
