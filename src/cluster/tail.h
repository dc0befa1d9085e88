/* The newest metadata entries, kept in memory for the brokers that pull
 * metadata instead of voting (raft-notes.md §5.4): a broker asks for the
 * entries after the offset it has applied, and gets them from here, or the
 * whole image when it is so far behind that they are gone.
 *
 * The fsm adds each entry it applies (before it publishes the image, so a
 * reader woken by the image finds the entry); readers on any thread copy
 * out under the lock. Bounded by entry count and bytes; the oldest go
 * first. */
#ifndef BK_CLUSTER_TAIL_H
#define BK_CLUSTER_TAIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"

struct bk_md_tail_entry {
    int64_t first;  /* image offset before the entry */
    int64_t next;   /* image offset after it */
    uint8_t *bytes; /* owned */
    size_t len;
};

struct bk_md_tail {
    pthread_mutex_t lock;
    struct bk_md_tail_entry *v; /* ring of cap */
    size_t cap;
    size_t head; /* oldest */
    size_t n;
    size_t bytes;
    size_t max_bytes;
    int64_t start; /* offset of the oldest entry kept (or the next) */
};

/* Returns 0 or BK_ENOMEM. */
int bk_md_tail_init(struct bk_md_tail *t, size_t max_entries, size_t max_bytes);
void bk_md_tail_close(struct bk_md_tail *t);

/* Adds a copy of an applied entry (buf borrowed). An entry that does not
 * follow the newest one (a snapshot restore came in between) starts the
 * tail over. Out of memory also starts it over: readers then get the
 * image. */
void bk_md_tail_add(struct bk_md_tail *t,
                    int64_t first,
                    int64_t next,
                    const void *buf,
                    size_t len);

/* Forgets everything; the tail starts again at offset (a restored image). */
void bk_md_tail_reset(struct bk_md_tail *t, int64_t offset);

/* Copies the entries that start at `from` and follow it, up to max_bytes
 * of entry bytes (at least one entry), into one buffer in arena: for each,
 * int64 first, int64 next, int32 length, the bytes. *out is NULL and *len 0
 * when there is nothing after from yet. Returns 0, or BK_ERANGE when from
 * is not an entry boundary the tail still has (the reader needs the
 * image), or BK_ENOMEM. */
int bk_md_tail_read(struct bk_md_tail *t,
                    int64_t from,
                    size_t max_bytes,
                    struct bk_arena *arena,
                    uint8_t **out,
                    size_t *len);

#endif /* BK_CLUSTER_TAIL_H */
