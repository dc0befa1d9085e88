/* The read path of the partition log: locating a batch by offset, reading
 * ranges of whole batches (pinned file ranges for zero-copy sends, or a
 * copy), and the offset-for-timestamp lookup. */
#include <sys/types.h>

#include "common/err.h"
#include "common/heap.h"
#include "log/batch.h"
#include "log/log_int.h"

/* ---- read ---- */

/* Finds the batch holding offset: segment index and position. Returns 1
 * when there is no such batch (offset at or past the end). */
static int find_batch(struct bk_log *log,
                      int64_t offset,
                      int *seg_i,
                      int64_t *pos)
{
    int i = seg_find(log, offset);
    if (i < 0) {
        i = 0;
    }
    struct segment *s = log->segs[i];
    int64_t p = 0;
    int rv;
    if (offset == log->hint_offset && s->base == log->hint_base) {
        p = log->hint_pos;
    } else if ((rv = seg_index_lookup(log, s, offset, &p)) != 0) {
        return rv;
    }
    for (;;) {
        while (p < s->size) {
            struct bk_batch_hdr h;
            rv = read_hdr(log, s, p, &h);
            if (rv != 0) {
                return rv == BK_EAGAIN ? BK_ECORRUPT : rv;
            }
            if (bk_batch_hdr_last_offset(&h) >= offset) {
                *seg_i = i;
                *pos = p;
                return 0;
            }
            p += bk_batch_hdr_size(&h);
        }
        if (++i >= log->nsegs) {
            return 1;
        }
        s = log->segs[i];
        p = 0;
    }
}

/* bk_log_read() and bk_log_read_retained(), once offset is in range. */
static int read_from(struct bk_log *log,
                     int64_t offset,
                     int64_t max_bytes,
                     int64_t upto,
                     struct bk_log_read_result *res)
{
    int i;
    int64_t pos;
    int rv = find_batch(log, offset, &i, &pos);
    if (rv != 0) {
        return rv == 1 ? 0 : rv;
    }
    bool stop = false;
    while (!stop && res->count < BK_LOG_MAX_RANGES) {
        struct segment *s = log->segs[i];
        int64_t start = pos;
        while (pos < s->size) {
            struct bk_batch_hdr h;
            rv = read_hdr(log, s, pos, &h);
            if (rv != 0) {
                rv = rv == BK_EAGAIN ? BK_ECORRUPT : rv;
                bk_log_read_release(res);
                return rv;
            }
            int64_t sz = bk_batch_hdr_size(&h);
            int64_t taken = res->bytes + (pos - start);
            /* KIP-74: the first batch goes out even when it alone is
             * bigger than max_bytes. */
            if (bk_batch_hdr_last_offset(&h) >= upto ||
                (taken > 0 && taken + sz > max_bytes)) {
                stop = true;
                break;
            }
            pos += sz;
            res->next_offset = bk_batch_hdr_last_offset(&h) + 1;
        }
        if (pos > start) {
            int fd = bk_fdc_pin(s->log_f, false);
            if (fd < 0) {
                bk_log_read_release(res);
                return fd;
            }
            bk_fdc_file_ref(s->log_f);
            struct bk_log_range *r = &res->ranges[res->count++];
            r->fd = fd;
            r->file_offset = start;
            r->length = pos - start;
            r->file = s->log_f;
            res->bytes += pos - start;
        }
        log->hint_offset = res->next_offset;
        log->hint_base = s->base;
        log->hint_pos = pos;
        if (stop || res->bytes >= max_bytes || i + 1 >= log->nsegs) {
            break;
        }
        i++;
        pos = 0;
    }
    return 0;
}

int bk_log_read(struct bk_log *log,
                int64_t offset,
                int64_t max_bytes,
                int64_t upto,
                struct bk_log_read_result *res)
{
    res->count = 0;
    res->bytes = 0;
    res->next_offset = offset;
    res->fc = log->fc;
    if (offset < log->log_start || offset > log->leo) {
        return BK_ERANGE;
    }
    return read_from(log, offset, max_bytes, upto, res);
}

int bk_log_read_retained(struct bk_log *log,
                         int64_t offset,
                         int64_t max_bytes,
                         int64_t upto,
                         struct bk_log_read_result *res)
{
    int64_t first = log->nsegs > 0 ? log->segs[0]->base : log->log_start;
    if (offset < first) {
        offset = first;
    }
    res->count = 0;
    res->bytes = 0;
    res->next_offset = offset;
    res->fc = log->fc;
    if (offset > log->leo) {
        return BK_ERANGE;
    }
    return read_from(log, offset, max_bytes, upto, res);
}

void bk_log_read_release(struct bk_log_read_result *res)
{
    for (int i = 0; i < res->count; i++) {
        bk_fdc_unpin(res->ranges[i].file);
        bk_fdc_file_unref(res->ranges[i].file);
    }
    res->count = 0;
    res->bytes = 0;
}

int bk_log_read_copy(struct bk_log *log,
                     int64_t offset,
                     int64_t max_bytes,
                     int64_t upto,
                     void *buf,
                     size_t cap,
                     size_t *len,
                     int64_t *next_offset)
{
    struct bk_log_read_result res;
    if (max_bytes > (int64_t)cap) {
        max_bytes = (int64_t)cap;
    }
    int rv = bk_log_read(log, offset, max_bytes, upto, &res);
    if (rv != 0) {
        return rv;
    }
    *len = 0;
    *next_offset = res.next_offset;
    if (res.bytes > (int64_t)cap) {
        *len = (size_t)res.bytes;
        bk_log_read_release(&res);
        return BK_ETOOLARGE;
    }
    for (int i = 0; i < res.count && rv == 0; i++) {
        struct bk_log_range *r = &res.ranges[i];
        ssize_t n = bk_disk_pread_all(log->disk, r->fd, (char *)buf + *len,
                                      (size_t)r->length, r->file_offset);
        if (n != r->length) {
            rv = n < 0 ? (int)n : BK_EIO;
        }
        *len += (size_t)r->length;
    }
    bk_log_read_release(&res);
    return rv;
}

/* ---- lookups ---- */

int bk_log_offset_for_time(struct bk_log *log,
                           int64_t ts,
                           int64_t *offset,
                           int64_t *timestamp)
{
    int i = 0, rv;
    for (; i < log->nsegs; i++) {
        struct segment *s = log->segs[i];
        if (seg_end_offset(log, i) <= log->log_start) {
            continue;
        }
        if ((rv = seg_index_load(log, s)) != 0) {
            return rv;
        }
        if (s->max_ts >= ts) {
            break;
        }
    }
    if (i == log->nsegs) {
        return BK_ENOTFOUND;
    }
    int64_t start;
    if ((rv = seg_time_lookup(log, log->segs[i], ts, &start)) != 0) {
        return rv;
    }
    if (start < log->log_start) {
        start = log->log_start;
    }
    int64_t pos;
    if ((rv = find_batch(log, start, &i, &pos)) != 0) {
        return rv == 1 ? BK_ENOTFOUND : rv;
    }
    uint8_t *buf = NULL;
    size_t cap = 0;
    for (; i < log->nsegs; i++, pos = 0) {
        struct segment *s = log->segs[i];
        while (pos < s->size) {
            struct bk_batch_hdr h;
            rv = read_hdr(log, s, pos, &h);
            if (rv != 0) {
                bk_free(buf);
                return rv == BK_EAGAIN ? BK_ECORRUPT : rv;
            }
            size_t sz = (size_t)bk_batch_hdr_size(&h);
            if (h.max_timestamp >= ts) {
                if (sz > cap) {
                    uint8_t *nb = bk_realloc(buf, sz);
                    if (nb == NULL) {
                        bk_free(buf);
                        return BK_ENOMEM;
                    }
                    buf = nb;
                }
                ssize_t n = file_pread(log, s->log_f, buf, sz, pos);
                if (n != (ssize_t)sz) {
                    bk_free(buf);
                    return n < 0 ? (int)n : BK_ECORRUPT;
                }
                rv = bk_batch_find_timestamp(buf, sz, ts, offset, timestamp);
                bk_free(buf);
                if (rv == 0 && *offset < log->log_start) {
                    *offset = log->log_start;
                }
                return rv;
            }
            pos += (int64_t)sz;
        }
    }
    bk_free(buf);
    return BK_ENOTFOUND;
}
