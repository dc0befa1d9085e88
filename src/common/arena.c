#include "common/arena.h"

#include <stdint.h>
#include <string.h>

#include "common/heap.h"

struct bk_arena_chunk {
    struct bk_arena_chunk *next;
    size_t size; /* usable bytes in data[] */
    size_t pos;  /* next free byte in data[] */
    _Alignas(16) unsigned char data[];
};

#define ARENA_ALIGN 16u

void bk_arena_init(struct bk_arena *a, size_t chunk_size, size_t limit)
{
    a->head = NULL;
    a->chunk_size = chunk_size < 256 ? 256 : chunk_size;
    a->used = 0;
    a->limit = limit;
}

void *bk_arena_alloc(struct bk_arena *a, size_t size)
{
    size_t need = (size + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (need < size) {
        return NULL; /* overflow */
    }
    if (a->limit != 0 && (need > a->limit || a->used > a->limit - need)) {
        return NULL;
    }
    struct bk_arena_chunk *c = a->head;
    if (c == NULL || c->size - c->pos < need) {
        size_t csize = need > a->chunk_size ? need : a->chunk_size;
        if (csize > SIZE_MAX - sizeof(*c)) {
            return NULL;
        }
        c = bk_malloc(sizeof(*c) + csize);
        if (c == NULL) {
            return NULL;
        }
        c->size = csize;
        c->pos = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->pos;
    c->pos += need;
    a->used += need;
    memset(p, 0, size);
    return p;
}

char *bk_arena_strndup(struct bk_arena *a, const char *s, size_t len)
{
    char *p = bk_arena_alloc(a, len + 1);
    if (p != NULL) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void bk_arena_reset(struct bk_arena *a)
{
    struct bk_arena_chunk *c = a->head;
    if (c == NULL) {
        return;
    }
    /* Keep the most recent chunk if it is the default size: large one-off
     * chunks are returned to the heap so one big request does not pin memory
     * for the life of a connection. */
    struct bk_arena_chunk *keep = NULL;
    while (c != NULL) {
        struct bk_arena_chunk *next = c->next;
        if (keep == NULL && c->size == a->chunk_size) {
            keep = c;
        } else {
            bk_free(c);
        }
        c = next;
    }
    if (keep != NULL) {
        keep->next = NULL;
        keep->pos = 0;
    }
    a->head = keep;
    a->used = 0;
}

void bk_arena_destroy(struct bk_arena *a)
{
    struct bk_arena_chunk *c = a->head;
    while (c != NULL) {
        struct bk_arena_chunk *next = c->next;
        bk_free(c);
        c = next;
    }
    a->head = NULL;
    a->used = 0;
}
