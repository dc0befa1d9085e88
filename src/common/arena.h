/* Per-request bump allocator.
 *
 * Each request gets an arena; everything decoded from the request and built
 * for its answer lives there and is freed at once when the answer has been
 * written (nginx's pools, conventions.md §5). Chunks are reused across
 * requests by bk_arena_reset(), so the steady state does no malloc.
 * Not thread-safe: an arena belongs to one shard. */
#ifndef BK_COMMON_ARENA_H
#define BK_COMMON_ARENA_H

#include <stddef.h>

struct bk_arena_chunk;

struct bk_arena {
    struct bk_arena_chunk *head; /* owned: chunk list, newest first */
    size_t chunk_size;           /* default size of a new chunk */
    size_t used;                 /* bytes handed out since the last reset */
    size_t limit;                /* 0 = unlimited; else alloc fails past it */
};

/* Initialises an empty arena; no memory is allocated until the first use. */
void bk_arena_init(struct bk_arena *a, size_t chunk_size, size_t limit);

/* Returns zeroed memory aligned to 16 bytes that lives until the next reset
 * or destroy, or NULL when out of memory or past the arena's limit. The
 * memory is owned by the arena. */
void *bk_arena_alloc(struct bk_arena *a, size_t size);

/* Returns an arena-owned NUL-terminated copy of len bytes of s, or NULL. */
char *bk_arena_strndup(struct bk_arena *a, const char *s, size_t len);

/* Frees everything handed out; keeps one chunk for the next request. */
void bk_arena_reset(struct bk_arena *a);

/* Frees all chunks. The arena may be initialised again. */
void bk_arena_destroy(struct bk_arena *a);

#endif /* BK_COMMON_ARENA_H */
