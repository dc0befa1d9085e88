/* Stable hashing of bytes (FNV-1a 64), for placement and hash tables. */
#ifndef BK_COMMON_HASH_H
#define BK_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>

/* FNV-1a 64 of len bytes at p (borrowed). Stable across runs and builds. */
uint64_t bk_hash64(const void *p, size_t len);

#endif /* BK_COMMON_HASH_H */
