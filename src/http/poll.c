/* Asking every shard a question from the HTTP thread.
 *
 * One message per shard goes through its inbox (bk_shard_post); the shard
 * answers into its slot under the poll's mutex and signals. The waiter
 * gives up after a timeout (a shard that is stopping no longer reads its
 * inbox); the poll is reference counted, so a shard that answers late
 * finds it still allocated, sees that the waiter left, and only drops its
 * reference. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/heap.h"
#include "http/http_int.h"
#include "net/net.h"

struct poll_msg {
    struct bk_shard_msg msg;
    struct bk_http_poll *poll;
};

struct bk_http_poll {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_uint refs; /* the waiter and each message */
    unsigned pending; /* shards that have not answered */
    bool abandoned;   /* the waiter left: answer nothing */
    bk_http_shard_fn fn;
    bk_http_shard_arg_fn afn; /* instead of fn, with arg */
    const void *arg;
    void (*slot_free)(void *slot);
    unsigned n;
    size_t slot_size;
    struct poll_msg *msgs; /* owned, one per shard */
    char *slots;           /* owned, n * slot_size, zeroed */
};

static void poll_unref(struct bk_http_poll *p)
{
    if (atomic_fetch_sub(&p->refs, 1) != 1) {
        return;
    }
    for (unsigned i = 0; p->slot_free != NULL && i < p->n; i++) {
        p->slot_free(p->slots + (size_t)i * p->slot_size);
    }
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    bk_free(p->msgs);
    bk_free(p->slots);
    bk_free(p);
}

/* On the shard's thread. */
static void answer_fn(struct bk_shard *shard, struct bk_shard_msg *m)
{
    struct poll_msg *pm = (struct poll_msg *)m;
    struct bk_http_poll *p = pm->poll;
    pthread_mutex_lock(&p->mu);
    if (!p->abandoned) {
        void *slot = p->slots + (size_t)shard->id * p->slot_size;
        if (p->afn != NULL) {
            p->afn(shard, slot, p->arg);
        } else {
            p->fn(shard, slot);
        }
        p->pending--;
        pthread_cond_signal(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    poll_unref(p);
}

static struct bk_http_poll *poll_new(unsigned n,
                                     bk_http_shard_fn fn,
                                     void (*slot_free)(void *slot),
                                     size_t slot_size)
{
    struct bk_http_poll *p = bk_calloc(1, sizeof(*p));
    if (p == NULL) {
        return NULL;
    }
    p->msgs = bk_calloc(n, sizeof(*p->msgs));
    p->slots = bk_calloc(n, slot_size);
    if (p->msgs == NULL || p->slots == NULL) {
        bk_free(p->msgs);
        bk_free(p->slots);
        bk_free(p);
        return NULL;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&p->refs, n + 1);
    p->pending = n;
    p->fn = fn;
    p->slot_free = slot_free;
    p->n = n;
    p->slot_size = slot_size;
    return p;
}

/* Posts p to every shard and waits for the answers. */
static int run_poll(struct bk_shards *shards,
                    struct bk_http_poll *p,
                    unsigned timeout_ms,
                    struct bk_http_poll **out)
{
    for (unsigned i = 0; i < p->n; i++) {
        p->msgs[i].msg.fn = answer_fn;
        p->msgs[i].poll = p;
        bk_shard_post(&shards->shards[i], &p->msgs[i].msg);
    }
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    int rv = 0;
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0 && rv == 0) {
        rv = pthread_cond_timedwait(&p->cv, &p->mu, &until);
    }
    bool all = p->pending == 0;
    p->abandoned = !all;
    pthread_mutex_unlock(&p->mu);
    if (!all) {
        poll_unref(p);
        return BK_ETIMEDOUT;
    }
    *out = p;
    return 0;
}

int bk_http_poll_shards(struct bk_shards *shards,
                        bk_http_shard_fn fn,
                        void (*slot_free)(void *slot),
                        size_t slot_size,
                        unsigned timeout_ms,
                        struct bk_http_poll **out)
{
    *out = NULL;
    struct bk_http_poll *p = poll_new(shards->n, fn, slot_free, slot_size);
    if (p == NULL) {
        return BK_ENOMEM;
    }
    return run_poll(shards, p, timeout_ms, out);
}

int bk_http_poll_shards_arg(struct bk_shards *shards,
                            bk_http_shard_arg_fn fn,
                            const void *arg,
                            void (*slot_free)(void *slot),
                            size_t slot_size,
                            unsigned timeout_ms,
                            struct bk_http_poll **out)
{
    *out = NULL;
    struct bk_http_poll *p = poll_new(shards->n, NULL, slot_free, slot_size);
    if (p == NULL) {
        return BK_ENOMEM;
    }
    p->afn = fn;
    p->arg = arg;
    return run_poll(shards, p, timeout_ms, out);
}

void *bk_http_poll_slot(struct bk_http_poll *p, unsigned shard)
{
    return p->slots + (size_t)shard * p->slot_size;
}

unsigned bk_http_poll_count(const struct bk_http_poll *p)
{
    return p->n;
}

void bk_http_poll_free(struct bk_http_poll *p)
{
    if (p != NULL) {
        poll_unref(p);
    }
}
