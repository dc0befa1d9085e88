/* The transaction rules of producer state (producer_state.h): Kafka's
 * ProducerAppendInfo for transactional batches and markers, and the
 * last stable offset of ProducerStateManager. */
#include <string.h>

#include "common/err.h"
#include "common/heap.h"
#include "partition/producer_state.h"

enum bk_pstate_verdict bk_pstate_check_txn(const struct bk_pstate *ps,
                                           int64_t producer_id,
                                           bool transactional)
{
    if (producer_id < 0 || transactional) {
        return BK_PSTATE_APPEND;
    }
    const struct bk_pstate_entry *e = bk_pstate_entry_find(ps, producer_id);
    /* A producer may not write outside the transaction it has open: its
     * records would be neither committed nor aborted by the marker. */
    return e != NULL && e->txn_first_offset >= 0 ? BK_PSTATE_BAD_TXN
                                                 : BK_PSTATE_APPEND;
}

bool bk_pstate_txn_open_at(const struct bk_pstate *ps,
                           int64_t producer_id,
                           int16_t epoch)
{
    const struct bk_pstate_entry *e = bk_pstate_entry_find(ps, producer_id);
    return e != NULL && e->txn_first_offset >= 0 && e->epoch == epoch;
}

uint32_t bk_pstate_verify_guard(const struct bk_pstate *ps, int64_t producer_id)
{
    const struct bk_pstate_entry *e = bk_pstate_entry_find(ps, producer_id);
    return e != NULL ? e->markers : 0;
}

void bk_pstate_begin_txn(struct bk_pstate *ps,
                         int64_t producer_id,
                         int16_t epoch,
                         int64_t first_offset)
{
    /* A coordinator's own transactional batch (TxnOffsetCommit) has no
     * sequence and so no entry yet. */
    struct bk_pstate_entry *e = bk_pstate_entry_get(ps, producer_id, epoch);
    if (e != NULL && e->txn_first_offset < 0) {
        e->txn_first_offset = first_offset;
        ps->nopen++;
    }
}

enum bk_pstate_verdict bk_pstate_check_marker(const struct bk_pstate *ps,
                                              int64_t producer_id,
                                              int16_t epoch,
                                              int32_t coordinator_epoch)
{
    const struct bk_pstate_entry *e = bk_pstate_entry_find(ps, producer_id);
    if (e == NULL) {
        return BK_PSTATE_APPEND;
    }
    if (epoch < e->epoch) {
        return BK_PSTATE_BAD_EPOCH;
    }
    /* A marker from a coordinator older than the last one's is a zombie
     * coordinator's (Kafka: TransactionCoordinatorFencedException). An
     * admin's abort (KIP-664) carries -1 and is never fenced. */
    if (coordinator_epoch >= 0 && coordinator_epoch < e->coordinator_epoch) {
        return BK_PSTATE_FENCED;
    }
    return BK_PSTATE_APPEND;
}

static int push_done(struct bk_pstate *ps, const struct bk_pstate_txn *t)
{
    if (ps->ndone == ps->cap_done) {
        size_t cap = ps->cap_done ? ps->cap_done * 2 : 4;
        struct bk_pstate_txn *v = bk_realloc(ps->done, cap * sizeof(*v));
        if (v == NULL) {
            return BK_ENOMEM;
        }
        ps->done = v;
        ps->cap_done = cap;
    }
    ps->done[ps->ndone++] = *t;
    return 0;
}

int bk_pstate_end_txn(struct bk_pstate *ps,
                      int64_t producer_id,
                      int16_t epoch,
                      int32_t coordinator_epoch,
                      bool commit,
                      int64_t offset,
                      struct bk_pstate_txn *out)
{
    struct bk_pstate_entry *e = bk_pstate_entry_get(ps, producer_id, epoch);
    if (e == NULL) {
        return BK_ENOMEM;
    }
    if (epoch != e->epoch) {
        /* A fencing abort bumps the epoch: the old sequences are done. */
        e->epoch = epoch;
        e->nbatches = 0;
    }
    if (coordinator_epoch > e->coordinator_epoch) {
        e->coordinator_epoch = coordinator_epoch;
    }
    e->markers++;
    if (e->txn_first_offset < 0) {
        return 0; /* nothing open here: the marker only records epochs */
    }
    *out = (struct bk_pstate_txn){
        .producer_id = producer_id,
        .first_offset = e->txn_first_offset,
        .last_offset = offset,
        .aborted = !commit,
    };
    if (push_done(ps, out) != 0) {
        return BK_ENOMEM;
    }
    e->txn_first_offset = -1;
    ps->nopen--;
    if (!commit) {
        struct bk_pstate_aborted a = {
            .producer_id = producer_id,
            .first_offset = out->first_offset,
            .last_offset = offset,
            .last_stable = bk_pstate_txn_lso(ps, out),
        };
        if (bk_pstate_add_aborted(ps, &a) != 0) {
            return BK_ENOMEM;
        }
    }
    return 1;
}

int bk_pstate_add_aborted(struct bk_pstate *ps,
                          const struct bk_pstate_aborted *a)
{
    if (ps->naborted == ps->cap_aborted) {
        size_t cap = ps->cap_aborted ? ps->cap_aborted * 2 : 4;
        struct bk_pstate_aborted *v = bk_realloc(ps->aborted, cap * sizeof(*v));
        if (v == NULL) {
            return BK_ENOMEM;
        }
        ps->aborted = v;
        ps->cap_aborted = cap;
    }
    ps->aborted[ps->naborted++] = *a;
    return 0;
}

size_t bk_pstate_collect_aborted(const struct bk_pstate *ps,
                                 int64_t fetch_offset,
                                 int64_t upper,
                                 void (*fn)(void *arg,
                                            const struct bk_pstate_aborted *a),
                                 void *arg)
{
    size_t n = 0;
    for (size_t i = 0; i < ps->naborted; i++) {
        const struct bk_pstate_aborted *a = &ps->aborted[i];
        if (a->last_offset >= fetch_offset && a->first_offset < upper) {
            fn(arg, a);
            n++;
        }
        /* Every later marker closed a transaction that began at or after
         * this one's last stable offset: past the range read. */
        if (a->last_stable >= upper) {
            break;
        }
    }
    return n;
}

void bk_pstate_trim_aborted(struct bk_pstate *ps, int64_t log_start)
{
    size_t k = 0;
    while (k < ps->naborted && ps->aborted[k].last_offset < log_start) {
        k++;
    }
    if (k > 0) {
        memmove(ps->aborted, ps->aborted + k,
                (ps->naborted - k) * sizeof(ps->aborted[0]));
        ps->naborted -= k;
    }
}

int64_t bk_pstate_txn_lso(const struct bk_pstate *ps,
                          const struct bk_pstate_txn *t)
{
    int64_t lso = t->last_offset + 1;
    for (size_t i = 0; i < ps->n; i++) {
        const struct bk_pstate_entry *e = &ps->v[i];
        if (e->producer_id != t->producer_id && e->txn_first_offset >= 0 &&
            e->txn_first_offset < lso) {
            lso = e->txn_first_offset;
        }
    }
    return lso;
}

void bk_pstate_count_open(struct bk_pstate *ps)
{
    ps->nopen = 0;
    for (size_t i = 0; i < ps->n; i++) {
        ps->nopen += ps->v[i].txn_first_offset >= 0 ? 1 : 0;
    }
}

void bk_pstate_stable_to(struct bk_pstate *ps, int64_t hw)
{
    size_t w = 0;
    for (size_t i = 0; i < ps->ndone; i++) {
        if (ps->done[i].last_offset >= hw) {
            ps->done[w++] = ps->done[i];
        }
    }
    ps->ndone = w;
}

int64_t bk_pstate_last_stable(const struct bk_pstate *ps, int64_t hw)
{
    int64_t lso = hw;
    if (ps->nopen == 0 && ps->ndone == 0) {
        return lso; /* the common case: no transactions here */
    }
    for (size_t i = 0; i < ps->n; i++) {
        int64_t first = ps->v[i].txn_first_offset;
        if (first >= 0 && first < lso) {
            lso = first;
        }
    }
    for (size_t i = 0; i < ps->ndone; i++) {
        const struct bk_pstate_txn *t = &ps->done[i];
        if (t->last_offset >= hw && t->first_offset < lso) {
            lso = t->first_offset;
        }
    }
    return lso;
}
