/* Allocation seam. Every allocation in brokerd goes through these so that a
 * test can count or fail them; in production they are libc's allocator. */
#ifndef BK_COMMON_HEAP_H
#define BK_COMMON_HEAP_H

#include <stddef.h>

/* Returns owned memory or NULL. */
void *bk_malloc(size_t size);
/* Returns owned zeroed memory or NULL. */
void *bk_calloc(size_t n, size_t size);
/* Like realloc(3): on NULL the old block is still owned by the caller. */
void *bk_realloc(void *ptr, size_t size);
/* Takes ownership of ptr (NULL is allowed). */
void bk_free(void *ptr);
/* Returns an owned copy of s, or NULL. */
char *bk_strdup(const char *s);
/* Returns an owned, NUL-terminated copy of the first n bytes of s, or NULL. */
char *bk_strndup(const char *s, size_t n);

/* Returns freed memory to the system (glibc keeps what a burst freed in
 * its arenas until asked: malloc_trim). Costs a walk of the heap, so call
 * it after a burst, not per request. */
void bk_heap_trim(void);

/* Test hook: after `countdown` more successful allocations, fail the next
 * `repeat` ones (dqlite's fault model). countdown < 0 disables. Thread-local,
 * so a test can fault one thread's allocations only. */
void bk_heap_fault_config(int countdown, int repeat);

#endif /* BK_COMMON_HEAP_H */
