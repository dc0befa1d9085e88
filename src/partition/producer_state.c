#include "partition/producer_state.h"

#include <stdio.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/err.h"
#include "common/heap.h"
#include "protocol/prim.h"

#define SNAP_MAGIC 0x424b5053u /* "BKPS" */
/* Version 2 adds each producer's open transaction and coordinator epoch;
 * version 1 files (written before transactions) still load. */
#define SNAP_VERSION 2
#define SNAP_MAX     (64u * 1024 * 1024)
#define ENTRY_SIZE_1 (8 + 2 + 8 + 1 + BK_PRODUCER_BATCHES * 24)
#define ENTRY_SIZE   (ENTRY_SIZE_1 + 8 + 4)
#define ABORTED_SIZE 34

void bk_pstate_init(struct bk_pstate *ps)
{
    memset(ps, 0, sizeof(*ps));
}

void bk_pstate_free(struct bk_pstate *ps)
{
    bk_free(ps->v);
    bk_free(ps->done);
    bk_free(ps->aborted);
    memset(ps, 0, sizeof(*ps));
}

/* Index of producer_id, or of where it would go (binary search). */
static size_t find(const struct bk_pstate *ps, int64_t pid, bool *found)
{
    size_t lo = 0, hi = ps->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ps->v[mid].producer_id < pid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = lo < ps->n && ps->v[lo].producer_id == pid;
    return lo;
}

static int32_t seq_add(int32_t seq, int32_t n)
{
    /* Sequences wrap from INT32_MAX to 0 (Kafka's DefaultRecordBatch). */
    int64_t s = (int64_t)seq + n;
    if (s > INT32_MAX) {
        s -= (int64_t)INT32_MAX + 1;
    }
    return (int32_t)s;
}

enum bk_pstate_verdict bk_pstate_check(const struct bk_pstate *ps,
                                       int64_t producer_id,
                                       int16_t epoch,
                                       int32_t first_seq,
                                       int32_t count,
                                       struct bk_pstate_batch *dup)
{
    if (producer_id < 0) {
        return BK_PSTATE_APPEND;
    }
    bool found;
    size_t i = find(ps, producer_id, &found);
    if (!found) {
        return BK_PSTATE_APPEND; /* unknown producer: any sequence */
    }
    const struct bk_pstate_entry *e = &ps->v[i];
    if (epoch < e->epoch) {
        return BK_PSTATE_BAD_EPOCH;
    }
    if (epoch > e->epoch) {
        return first_seq == 0 ? BK_PSTATE_APPEND : BK_PSTATE_OUT_OF_ORDER;
    }
    int32_t last_seq = seq_add(first_seq, count - 1);
    for (unsigned b = 0; b < e->nbatches; b++) {
        if (e->batches[b].first_seq == first_seq &&
            e->batches[b].last_seq == last_seq) {
            *dup = e->batches[b];
            return BK_PSTATE_DUPLICATE;
        }
    }
    if (e->nbatches == 0) {
        return BK_PSTATE_APPEND;
    }
    int32_t expected = seq_add(e->batches[e->nbatches - 1].last_seq, 1);
    return first_seq == expected ? BK_PSTATE_APPEND : BK_PSTATE_OUT_OF_ORDER;
}

struct bk_pstate_entry *bk_pstate_entry_get(struct bk_pstate *ps,
                                            int64_t producer_id,
                                            int16_t epoch)
{
    bool found;
    size_t i = find(ps, producer_id, &found);
    if (found) {
        return &ps->v[i];
    }
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 4;
        struct bk_pstate_entry *v = bk_realloc(ps->v, cap * sizeof(*v));
        if (v == NULL) {
            return NULL;
        }
        ps->v = v;
        ps->cap = cap;
    }
    memmove(&ps->v[i + 1], &ps->v[i], (ps->n - i) * sizeof(ps->v[0]));
    memset(&ps->v[i], 0, sizeof(ps->v[i]));
    ps->v[i].producer_id = producer_id;
    ps->v[i].epoch = epoch;
    ps->v[i].txn_first_offset = -1;
    ps->v[i].coordinator_epoch = -1;
    ps->n++;
    return &ps->v[i];
}

const struct bk_pstate_entry *bk_pstate_entry_find(const struct bk_pstate *ps,
                                                   int64_t producer_id)
{
    bool found;
    size_t i = find(ps, producer_id, &found);
    return found ? &ps->v[i] : NULL;
}

int bk_pstate_update(struct bk_pstate *ps,
                     int64_t producer_id,
                     int16_t epoch,
                     int32_t first_seq,
                     int32_t count,
                     int64_t first_offset,
                     int64_t timestamp)
{
    if (producer_id < 0) {
        return 0;
    }
    struct bk_pstate_entry *e = bk_pstate_entry_get(ps, producer_id, epoch);
    if (e == NULL) {
        return BK_ENOMEM;
    }
    if (epoch != e->epoch) {
        e->epoch = epoch;
        e->nbatches = 0; /* a new epoch starts a new sequence space */
    }
    if (e->nbatches == BK_PRODUCER_BATCHES) {
        memmove(&e->batches[0], &e->batches[1],
                (BK_PRODUCER_BATCHES - 1) * sizeof(e->batches[0]));
        e->nbatches--;
    }
    struct bk_pstate_batch *b = &e->batches[e->nbatches++];
    b->first_seq = first_seq;
    b->last_seq = seq_add(first_seq, count - 1);
    b->first_offset = first_offset;
    b->last_offset = first_offset + count - 1;
    e->last_timestamp = timestamp;
    return 0;
}

/* Reopens the transactions whose marker is at or past offset and that
 * began before it, and forgets those that began there. */
static void truncate_done(struct bk_pstate *ps, int64_t offset)
{
    size_t w = 0;
    for (size_t i = 0; i < ps->ndone; i++) {
        struct bk_pstate_txn *t = &ps->done[i];
        if (t->last_offset < offset) {
            ps->done[w++] = *t;
            continue;
        }
        bool found;
        size_t k = find(ps, t->producer_id, &found);
        if (found && t->first_offset < offset) {
            ps->v[k].txn_first_offset = t->first_offset;
        }
    }
    ps->ndone = w;
}

void bk_pstate_truncate(struct bk_pstate *ps, int64_t offset)
{
    truncate_done(ps, offset);
    while (ps->naborted > 0 &&
           ps->aborted[ps->naborted - 1].last_offset >= offset) {
        ps->naborted--;
    }
    size_t w = 0;
    for (size_t i = 0; i < ps->n; i++) {
        struct bk_pstate_entry *e = &ps->v[i];
        uint8_t keep = 0;
        for (unsigned b = 0; b < e->nbatches; b++) {
            if (e->batches[b].last_offset < offset) {
                e->batches[keep++] = e->batches[b];
            }
        }
        e->nbatches = keep;
        if (e->txn_first_offset >= offset) {
            e->txn_first_offset = -1;
        }
        if (keep > 0 || e->txn_first_offset >= 0) {
            ps->v[w++] = *e;
        }
    }
    ps->n = w;
    bk_pstate_count_open(ps);
}

int bk_pstate_encode(const struct bk_pstate *ps,
                     int64_t offset,
                     uint8_t **out,
                     size_t *out_len)
{
    size_t size = 4 + 2 + 8 + 4 + ps->n * ENTRY_SIZE + 4 +
                  ps->naborted * ABORTED_SIZE + 4;
    if (size > SNAP_MAX) {
        return BK_ETOOLARGE;
    }
    uint8_t *buf = bk_malloc(size);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    struct bk_wr wr;
    bk_wr_init(&wr, buf, size);
    bk_wr_u32(&wr, SNAP_MAGIC);
    bk_wr_u16(&wr, SNAP_VERSION);
    bk_wr_i64(&wr, offset);
    bk_wr_u32(&wr, (uint32_t)ps->n);
    for (size_t i = 0; i < ps->n; i++) {
        const struct bk_pstate_entry *e = &ps->v[i];
        bk_wr_i64(&wr, e->producer_id);
        bk_wr_i16(&wr, e->epoch);
        bk_wr_i64(&wr, e->last_timestamp);
        bk_wr_i8(&wr, (int8_t)e->nbatches);
        for (unsigned b = 0; b < BK_PRODUCER_BATCHES; b++) {
            const struct bk_pstate_batch *x = &e->batches[b];
            bk_wr_i32(&wr, b < e->nbatches ? x->first_seq : 0);
            bk_wr_i32(&wr, b < e->nbatches ? x->last_seq : 0);
            bk_wr_i64(&wr, b < e->nbatches ? x->first_offset : 0);
            bk_wr_i64(&wr, b < e->nbatches ? x->last_offset : 0);
        }
        bk_wr_i64(&wr, e->txn_first_offset);
        bk_wr_i32(&wr, e->coordinator_epoch);
    }
    /* The aborted transactions, each in Kafka's .txnindex entry layout
     * (AbortedTxn: version, producer id, first, last, last stable). */
    bk_wr_u32(&wr, (uint32_t)ps->naborted);
    for (size_t i = 0; i < ps->naborted; i++) {
        const struct bk_pstate_aborted *a = &ps->aborted[i];
        bk_wr_i16(&wr, 0);
        bk_wr_i64(&wr, a->producer_id);
        bk_wr_i64(&wr, a->first_offset);
        bk_wr_i64(&wr, a->last_offset);
        bk_wr_i64(&wr, a->last_stable);
    }
    bk_wr_u32(&wr, bk_crc32c(0, buf, wr.len));
    if (wr.err != 0) {
        bk_free(buf);
        return wr.err;
    }
    *out = buf;
    *out_len = wr.len;
    return 0;
}

int bk_pstate_write(const struct bk_disk *disk,
                    const char *path,
                    const uint8_t *buf,
                    size_t len)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
    } else {
        snprintf(dir, sizeof(dir), ".");
    }
    return bk_disk_write_atomic(disk, dir, path, buf, len);
}

int bk_pstate_save(const struct bk_pstate *ps,
                   const struct bk_disk *disk,
                   const char *path,
                   int64_t offset)
{
    uint8_t *buf;
    size_t len;
    int rv = bk_pstate_encode(ps, offset, &buf, &len);
    if (rv == 0) {
        rv = bk_pstate_write(disk, path, buf, len);
        bk_free(buf);
    }
    return rv;
}

/* The aborted transactions after the entries of a version 2 snapshot.
 * Returns 0 (a malformed list sets rd->err) or BK_ENOMEM. */
static int read_aborted(struct bk_pstate *ps, struct bk_rd *rd)
{
    uint32_t n = bk_rd_u32(rd);
    if (rd->err != 0 || n > bk_rd_left(rd) / ABORTED_SIZE) {
        bk_rd_fail(rd);
        return 0;
    }
    for (uint32_t i = 0; i < n && rd->err == 0; i++) {
        struct bk_pstate_aborted a;
        if (bk_rd_i16(rd) != 0) {
            bk_rd_fail(rd);
            break;
        }
        a.producer_id = bk_rd_i64(rd);
        a.first_offset = bk_rd_i64(rd);
        a.last_offset = bk_rd_i64(rd);
        a.last_stable = bk_rd_i64(rd);
        if (bk_pstate_add_aborted(ps, &a) != 0) {
            return BK_ENOMEM;
        }
    }
    return 0;
}

int bk_pstate_load(struct bk_pstate *ps,
                   const struct bk_disk *disk,
                   const char *path,
                   int64_t *offset)
{
    bk_pstate_init(ps);
    *offset = -1;
    int64_t fsize = 0;
    int rv = disk->stat_size(disk, path, &fsize);
    if (rv == BK_ENOENT) {
        return 0;
    }
    if (rv != 0) {
        return rv;
    }
    if (fsize < 22 || fsize > (int64_t)SNAP_MAX) {
        return BK_ECORRUPT;
    }
    uint8_t *buf = bk_malloc((size_t)fsize);
    if (buf == NULL) {
        return BK_ENOMEM;
    }
    ssize_t n = bk_disk_read_small(disk, path, buf, (size_t)fsize);
    if (n != fsize) {
        bk_free(buf);
        return n < 0 ? (int)n : BK_ECORRUPT;
    }
    size_t len = (size_t)n;
    struct bk_rd rd;
    bk_rd_init(&rd, buf, len - 4);
    struct bk_rd crc_rd;
    bk_rd_init(&crc_rd, buf + len - 4, 4);
    uint32_t crc = bk_rd_u32(&crc_rd);
    uint16_t version = 0;
    if (crc != bk_crc32c(0, buf, len - 4) || bk_rd_u32(&rd) != SNAP_MAGIC ||
        (version = bk_rd_u16(&rd)) < 1 || version > SNAP_VERSION) {
        bk_free(buf);
        return BK_ECORRUPT;
    }
    size_t entry_size = version >= 2 ? ENTRY_SIZE : ENTRY_SIZE_1;
    int64_t off = bk_rd_i64(&rd);
    uint32_t count = bk_rd_u32(&rd);
    if (rd.err != 0 || count > bk_rd_left(&rd) / entry_size) {
        bk_free(buf);
        return BK_ECORRUPT;
    }
    ps->v = bk_calloc(count ? count : 1, sizeof(ps->v[0]));
    if (ps->v == NULL) {
        bk_free(buf);
        return BK_ENOMEM;
    }
    ps->cap = count ? count : 1;
    for (uint32_t i = 0; i < count; i++) {
        struct bk_pstate_entry *e = &ps->v[i];
        e->producer_id = bk_rd_i64(&rd);
        e->epoch = bk_rd_i16(&rd);
        e->last_timestamp = bk_rd_i64(&rd);
        int8_t nb = bk_rd_i8(&rd);
        e->nbatches = (uint8_t)(nb < 0 ? 0 : nb);
        for (unsigned b = 0; b < BK_PRODUCER_BATCHES; b++) {
            e->batches[b].first_seq = bk_rd_i32(&rd);
            e->batches[b].last_seq = bk_rd_i32(&rd);
            e->batches[b].first_offset = bk_rd_i64(&rd);
            e->batches[b].last_offset = bk_rd_i64(&rd);
        }
        e->txn_first_offset = version >= 2 ? bk_rd_i64(&rd) : -1;
        e->coordinator_epoch = version >= 2 ? bk_rd_i32(&rd) : -1;
        if (e->nbatches > BK_PRODUCER_BATCHES ||
            (i > 0 && e->producer_id <= ps->v[i - 1].producer_id)) {
            rd.err = BK_EPROTO;
        }
    }
    ps->n = count;
    if (version >= 2 && rd.err == 0 && read_aborted(ps, &rd) != 0) {
        rd.err = BK_ENOMEM;
    }
    bk_free(buf);
    if (rd.err == BK_ENOMEM) {
        bk_pstate_free(ps);
        return BK_ENOMEM;
    }
    if (rd.err != 0) {
        bk_pstate_free(ps);
        return BK_ECORRUPT;
    }
    bk_pstate_count_open(ps);
    *offset = off;
    return 0;
}
