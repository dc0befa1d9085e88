/* CRC-32C (Castagnoli), the checksum of Kafka record batches (magic 2).
 *
 * bk_crc32c() uses the SSE4.2 crc32 instruction when the CPU has it (checked
 * once, at first use, with __builtin_cpu_supports) and a portable
 * slicing-by-8 table otherwise. Both give the same result; the choice never
 * changes during the life of the process. Thread-safe. */
#ifndef BK_COMMON_CRC32C_H
#define BK_COMMON_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Extends crc (0 to start) with len bytes of buf and returns the new value.
 * bk_crc32c(0, "123456789", 9) == 0xE3069283. buf is borrowed. */
uint32_t bk_crc32c(uint32_t crc, const void *buf, size_t len);

/* The portable implementation, exposed so tests can compare the two. */
uint32_t bk_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* Whether bk_crc32c() uses the hardware instruction on this machine. */
bool bk_crc32c_hw_available(void);

#endif /* BK_COMMON_CRC32C_H */
