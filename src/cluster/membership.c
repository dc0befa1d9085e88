/* Adding and removing a controller: raft membership changes on the active
 * controller (raft-notes.md §1: raft_add joins a server as a spare,
 * raft_assign makes it a voter once it has caught up, raft_remove takes it
 * out; one change at a time).
 *
 * Runs on the raft thread (bk_md_call). A voter is added in two changes,
 * add then assign, and the answer comes after the second, so that the
 * caller learns of a voter that counts in the quorum, not of a spare. The
 * active controller does not remove itself: leadership must be handed over
 * first, so that the quorum never loses its leader to a request. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cluster/controller_int.h"
#include "common/heap.h"

#define KERR_NOT_CONTROLLER    41
#define KERR_INVALID_REQUEST   42
#define KERR_DUPLICATE_VOTER   126 /* Kafka: DUPLICATE_VOTER */
#define KERR_VOTER_NOT_FOUND   127 /* Kafka: VOTER_NOT_FOUND */
#define KERR_REQUEST_TIMED_OUT 7

struct change_op {
    struct raft_change change;
    struct bk_md *md;
    int32_t id;
    bool add; /* else remove */
    char address[MAX_ADDR];
    bk_md_member_cb cb;
    void *data;
    struct bk_md_member_resp resp;
};

/* Answers with error and a message for the log. */
__attribute__((format(printf, 3, 4))) static void finish(struct change_op *op,
                                                         int16_t error,
                                                         const char *fmt,
                                                         ...)
{
    op->resp.error = error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(op->resp.msg, sizeof(op->resp.msg), fmt, ap);
    va_end(ap);
    op->cb(op->data, &op->resp);
    bk_free(op);
}

/* A raft failure as Kafka's error code, with a line for the log. */
static void failed(struct change_op *op, int rv)
{
    switch (rv) {
        case RAFT_NOTLEADER:
        case RAFT_LEADERSHIPLOST:
            finish(op, KERR_NOT_CONTROLLER,
                   "Leadership moved during the change of voter %d; look "
                   "again before retrying.",
                   op->id);
            return;
        case RAFT_CANTCHANGE:
            finish(op, KERR_REQUEST_TIMED_OUT,
                   "Another change of the voters is in progress (voter %d "
                   "not changed); retry.",
                   op->id);
            return;
        case RAFT_DUPLICATEID:
        case RAFT_DUPLICATEADDRESS:
            finish(op, KERR_DUPLICATE_VOTER,
                   "Node %d or its address is already in the quorum.", op->id);
            return;
        case RAFT_BADID:
            finish(op, KERR_VOTER_NOT_FOUND, "Node %d is not in the quorum.",
                   op->id);
            return;
        default:
            finish(op, KERR_REQUEST_TIMED_OUT,
                   "The change of voter %d failed; it may not have caught "
                   "up with the log in time.",
                   op->id);
    }
}

static void promoted(struct raft_change *req, int status)
{
    struct change_op *op = req->data;
    if (status != 0) {
        failed(op, status);
        return;
    }
    finish(op, 0, "Node %d is a voter.", op->id);
}

static void added(struct raft_change *req, int status)
{
    struct change_op *op = req->data;
    if (status != 0) {
        failed(op, status);
        return;
    }
    /* raft catches the spare up before it counts it as a voter. */
    int rv = raft_assign(&op->md->raft, &op->change, (raft_id)op->id + 1,
                         RAFT_VOTER, promoted);
    if (rv != 0) {
        failed(op, rv);
    }
}

static void removed(struct raft_change *req, int status)
{
    struct change_op *op = req->data;
    if (status != 0) {
        failed(op, status);
        return;
    }
    finish(op, 0, "Node %d left the quorum.", op->id);
}

static void run_change(void *data, int status)
{
    struct change_op *op = data;
    struct bk_md *md = op->md;
    if (status != 0 || !bk_md_is_active(md)) {
        finish(op, KERR_NOT_CONTROLLER, "Node %d is not the controller.",
               md->node_id);
        return;
    }
    op->change.data = op;
    int rv;
    if (op->add) {
        rv = raft_add(&md->raft, &op->change, (raft_id)op->id + 1, op->address,
                      added);
    } else if (op->id == md->node_id) {
        finish(op, KERR_INVALID_REQUEST,
               "Node %d is the active controller: stop it (it hands "
               "leadership over) or let another lead first.",
               op->id);
        return;
    } else {
        rv = raft_remove(&md->raft, &op->change, (raft_id)op->id + 1, removed);
    }
    if (rv != 0) {
        failed(op, rv);
    }
}

static int submit(struct bk_md *md,
                  int32_t id,
                  const char *address,
                  bk_md_member_cb cb,
                  void *data)
{
    if (id < 0 || (address != NULL && strlen(address) >= MAX_ADDR)) {
        return BK_EINVAL;
    }
    struct change_op *op = bk_calloc(1, sizeof(*op));
    if (op == NULL) {
        return BK_ENOMEM;
    }
    op->md = md;
    op->id = id;
    op->add = address != NULL;
    if (address != NULL) {
        snprintf(op->address, sizeof(op->address), "%s", address);
    }
    op->cb = cb;
    op->data = data;
    int rv = bk_md_call(md, run_change, op);
    if (rv != 0) {
        bk_free(op);
    }
    return rv;
}

int bk_md_add_voter(struct bk_md *md,
                    int32_t id,
                    const char *address,
                    bk_md_member_cb cb,
                    void *data)
{
    if (address == NULL || address[0] == '\0') {
        return BK_EINVAL;
    }
    return submit(md, id, address, cb, data);
}

int bk_md_remove_voter(struct bk_md *md,
                       int32_t id,
                       bk_md_member_cb cb,
                       void *data)
{
    return submit(md, id, NULL, cb, data);
}

size_t bk_md_voters(const struct bk_md *md, int32_t *ids, size_t cap)
{
    /* The live configuration, which membership changes move away from
     * controller.quorum.voters. raft 0.15 has no getter for it; this is
     * the one place that reads the field (raft-notes.md §3.8). */
    const struct raft_configuration *c = &md->raft.configuration;
    if (md->is_observer || c->n == 0) {
        for (size_t i = 0; i < md->n_voters && i < cap; i++) {
            ids[i] = md->voters[i].node_id;
        }
        return md->n_voters;
    }
    size_t n = 0;
    for (unsigned i = 0; i < c->n; i++) {
        if (c->servers[i].role == RAFT_VOTER) {
            if (n < cap) {
                ids[n] = (int32_t)(c->servers[i].id - 1);
            }
            n++;
        }
    }
    return n;
}
