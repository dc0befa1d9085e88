/* Intrusive multi-producer single-consumer queue (Vyukov's algorithm).
 *
 * Producers on any thread push without locks; only the owning shard pops.
 * This is the cross-shard message queue of brief.md §2: the producer pushes
 * and then wakes the owner with uv_async_send. */
#ifndef BK_NET_MPSC_H
#define BK_NET_MPSC_H

#include <stdatomic.h>
#include <stddef.h>

struct bk_mpsc_node {
    _Atomic(struct bk_mpsc_node *) next;
};

struct bk_mpsc {
    _Atomic(struct bk_mpsc_node *) head; /* producers swap here */
    struct bk_mpsc_node *tail;           /* consumer only */
    struct bk_mpsc_node sentinel;
};

static inline void bk_mpsc_init(struct bk_mpsc *q)
{
    atomic_store(&q->sentinel.next, NULL);
    atomic_store(&q->head, &q->sentinel);
    q->tail = &q->sentinel;
}

/* Any thread. The node is borrowed by the queue until popped. */
static inline void bk_mpsc_push(struct bk_mpsc *q, struct bk_mpsc_node *n)
{
    atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
    struct bk_mpsc_node *prev =
        atomic_exchange_explicit(&q->head, n, memory_order_acq_rel);
    atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Consumer thread only. Returns NULL when empty, or when a producer is
 * between its two steps (the caller will be woken again by its async). */
static inline struct bk_mpsc_node *bk_mpsc_pop(struct bk_mpsc *q)
{
    struct bk_mpsc_node *tail = q->tail;
    struct bk_mpsc_node *next =
        atomic_load_explicit(&tail->next, memory_order_acquire);
    if (tail == &q->sentinel) {
        if (next == NULL) {
            return NULL;
        }
        q->tail = next;
        tail = next;
        next = atomic_load_explicit(&next->next, memory_order_acquire);
    }
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    struct bk_mpsc_node *head =
        atomic_load_explicit(&q->head, memory_order_acquire);
    if (tail != head) {
        return NULL;
    }
    bk_mpsc_push(q, &q->sentinel);
    next = atomic_load_explicit(&tail->next, memory_order_acquire);
    if (next != NULL) {
        q->tail = next;
        return tail;
    }
    return NULL;
}

#endif /* BK_NET_MPSC_H */
