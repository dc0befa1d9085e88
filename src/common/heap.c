#include "common/heap.h"

#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* Thread-local fault state: only tests set it; the default never fails. */
static _Thread_local int fault_countdown = -1;
static _Thread_local int fault_repeat;

static int fault_tick(void)
{
    if (fault_countdown < 0) {
        return 0;
    }
    if (fault_countdown > 0) {
        fault_countdown--;
        return 0;
    }
    if (fault_repeat > 0) {
        fault_repeat--;
        return 1;
    }
    fault_countdown = -1;
    return 0;
}

void bk_heap_fault_config(int countdown, int repeat)
{
    fault_countdown = countdown;
    fault_repeat = repeat;
}

void *bk_malloc(size_t size)
{
    if (fault_tick()) {
        return NULL;
    }
    return malloc(size == 0 ? 1 : size);
}

void *bk_calloc(size_t n, size_t size)
{
    if (fault_tick()) {
        return NULL;
    }
    return calloc(n == 0 ? 1 : n, size == 0 ? 1 : size);
}

void *bk_realloc(void *ptr, size_t size)
{
    if (fault_tick()) {
        return NULL;
    }
    return realloc(ptr, size == 0 ? 1 : size);
}

void bk_free(void *ptr)
{
    free(ptr);
}

char *bk_strdup(const char *s)
{
    return bk_strndup(s, strlen(s));
}

char *bk_strndup(const char *s, size_t n)
{
    char *p = bk_malloc(n + 1);
    if (p == NULL) {
        return NULL;
    }
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void bk_heap_trim(void)
{
#ifdef __GLIBC__
    malloc_trim(0);
#endif
}
