/* Builds valid record batches (magic 2, uncompressed) for tests. */
#ifndef BK_TESTS_LIB_BATCH_GEN_H
#define BK_TESTS_LIB_BATCH_GEN_H

#include <stddef.h>
#include <stdint.h>

/* Writes a batch of nrec records into buf (cap bytes): base offset 0,
 * leader epoch -1, record i with timestamp base_ts + i * ts_step and a
 * value of value_len bytes filled from seed. Returns the batch size, or 0
 * when cap is too small. */
size_t test_batch_build(uint8_t *buf,
                        size_t cap,
                        int nrec,
                        int64_t base_ts,
                        int64_t ts_step,
                        size_t value_len,
                        uint32_t seed);

/* Size test_batch_build() needs at most. */
size_t test_batch_size_bound(int nrec, size_t value_len);

#endif /* BK_TESTS_LIB_BATCH_GEN_H */
