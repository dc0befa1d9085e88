#include "cluster/fsm.h"

#include <string.h>

#include "common/arena.h"
#include "common/diag.h"
#include "common/err.h"
#include "common/heap.h"

int bk_md_fsm_apply_entry(struct bk_md_fsm *f, const void *buf, size_t len)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 16 * 1024, 0);
    struct bk_md_rec *recs;
    size_t n;
    struct bk_md_fsm_result *res =
        &f->results[(f->seq + 1) % BK_MD_FSM_RESULTS];
    int rv = bk_md_batch_decode(buf, len, &arena, &recs, &n);
    if (rv == BK_ENOMEM) {
        goto out;
    }
    if (rv != 0) {
        f->n_bad_entries++;
        bk_diag_error("cluster",
                      "msg=\"skipping undecodable metadata entry\" "
                      "len=%zu err=%s",
                      len, bk_errname(rv));
        res->seq = ++f->seq;
        res->n = 0;
        rv = 0;
        goto out;
    }
    if (n > res->cap) {
        uint8_t *s = bk_realloc(res->skipped, n);
        if (s == NULL) {
            rv = BK_ENOMEM;
            goto out;
        }
        res->skipped = s;
        res->cap = n;
    }
    struct bk_md_image *img;
    rv = bk_md_image_apply(f->cur, recs, n, res->skipped, &img);
    if (rv != 0) {
        goto out;
    }
    res->seq = ++f->seq;
    res->n = n;
    /* Before the image is published: a reader it wakes finds the entry. */
    bk_md_tail_add(&f->tail, f->cur->offset, img->offset, buf, len);
    bk_md_image_release(f->cur);
    f->cur = img;
    bk_md_image_ref(img);
    bk_md_pub_publish(&f->pub, img);
    if (f->on_publish != NULL) {
        f->on_publish(f->on_publish_data);
    }
out:
    bk_arena_destroy(&arena);
    return rv;
}

const uint8_t *bk_md_fsm_skipped(const struct bk_md_fsm *f,
                                 uint64_t seq,
                                 size_t *n)
{
    const struct bk_md_fsm_result *res = &f->results[seq % BK_MD_FSM_RESULTS];
    if (seq == 0 || res->seq != seq) {
        return NULL;
    }
    *n = res->n;
    return res->skipped;
}

static int fsm_apply(struct raft_fsm *rf,
                     const struct raft_buffer *buf,
                     void **result)
{
    struct bk_md_fsm *f = rf->data;
    int rv = bk_md_fsm_apply_entry(f, buf->base, buf->len);
    /* raft hands the result back as a void *; it carries a number. */
    /* NOLINTNEXTLINE(performance-no-int-to-ptr) */
    *result = (void *)(uintptr_t)f->seq;
    return rv == 0 ? 0 : RAFT_NOMEM;
}

static int fsm_snapshot(struct raft_fsm *rf,
                        struct raft_buffer *bufs[],
                        unsigned *n_bufs)
{
    struct bk_md_fsm *f = rf->data;
    struct raft_buffer *b = raft_malloc(sizeof(*b));
    if (b == NULL) {
        return RAFT_NOMEM;
    }
    void *data;
    size_t len;
    int rv = bk_md_image_snapshot(f->cur, raft_malloc, &data, &len);
    if (rv != 0) {
        raft_free(b);
        return RAFT_NOMEM;
    }
    b->base = data;
    b->len = len;
    *bufs = b;
    *n_bufs = 1;
    return 0;
}

/* Version 2: the application frees what snapshot() allocated. */
static int fsm_snapshot_finalize(struct raft_fsm *rf,
                                 struct raft_buffer *bufs[],
                                 unsigned *n_bufs)
{
    (void)rf;
    for (unsigned i = 0; i < *n_bufs; i++) {
        raft_free((*bufs)[i].base);
    }
    raft_free(*bufs);
    *bufs = NULL;
    *n_bufs = 0;
    return 0;
}

static int fsm_restore(struct raft_fsm *rf, struct raft_buffer *buf)
{
    struct bk_md_fsm *f = rf->data;
    struct bk_md_image *img;
    int rv = bk_md_image_restore(buf->base, buf->len, &img);
    if (rv != 0) {
        bk_diag_error("cluster",
                      "msg=\"cannot restore metadata snapshot\" "
                      "err=%s",
                      bk_errname(rv));
        return rv == BK_ENOMEM ? RAFT_NOMEM : RAFT_CORRUPT;
    }
    /* On success the fsm owns the snapshot buffer. */
    raft_free(buf->base);
    bk_md_fsm_install(f, img);
    return 0;
}

void bk_md_fsm_install(struct bk_md_fsm *f, struct bk_md_image *img)
{
    atomic_fetch_add(&f->n_installed, 1);
    bk_md_tail_reset(&f->tail, img->offset);
    bk_md_image_release(f->cur);
    f->cur = img;
    bk_md_image_ref(img);
    bk_md_pub_publish(&f->pub, img);
    if (f->on_publish != NULL) {
        f->on_publish(f->on_publish_data);
    }
}

int bk_md_fsm_init(struct bk_md_fsm *f)
{
    memset(f, 0, sizeof(*f));
    f->cur = bk_md_image_new();
    if (f->cur == NULL) {
        return BK_ENOMEM;
    }
    if (bk_md_tail_init(&f->tail, BK_MD_TAIL_ENTRIES, BK_MD_TAIL_BYTES) != 0) {
        bk_md_image_release(f->cur);
        f->cur = NULL;
        return BK_ENOMEM;
    }
    bk_md_image_ref(f->cur);
    bk_md_pub_init(&f->pub, f->cur);
    f->raft.version = 2;
    f->raft.data = f;
    f->raft.apply = fsm_apply;
    f->raft.snapshot = fsm_snapshot;
    f->raft.snapshot_finalize = fsm_snapshot_finalize;
    f->raft.restore = fsm_restore;
    return 0;
}

void bk_md_fsm_close(struct bk_md_fsm *f)
{
    bk_md_tail_close(&f->tail);
    bk_md_pub_close(&f->pub);
    bk_md_image_release(f->cur);
    f->cur = NULL;
    for (size_t i = 0; i < BK_MD_FSM_RESULTS; i++) {
        bk_free(f->results[i].skipped);
        f->results[i].skipped = NULL;
    }
}

struct bk_md_image *bk_md_fsm_acquire(struct bk_md_fsm *f)
{
    return bk_md_pub_acquire(&f->pub);
}
