#include "common/crc32c.h"

#include <pthread.h>
#include <string.h>

/* Reflected Castagnoli polynomial. */
#define CRC32C_POLY 0x82F63B78u

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

/* Block lengths of the three-stream hardware loop, and for each the
 * operator x^(8 * len) mod P that moves a CRC register over len zero
 * bytes. */
#define NBLOCKS 3
static const size_t block_len[NBLOCKS] = { 8192, 4096, 1024 };
static uint32_t block_shift[NBLOCKS];

/* Multiplies a by b modulo P in the reflected representation (x^0 is the
 * top bit), as zlib's crc32_combine does. */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
    uint32_t m = 1u << 31, p = 0;
    for (;;) {
        if (a & m) {
            p ^= b;
            if ((a & (m - 1)) == 0) {
                break;
            }
        }
        m >>= 1;
        b = (b & 1) ? (b >> 1) ^ CRC32C_POLY : b >> 1;
    }
    return p;
}

/* x^(8n) mod P. */
static uint32_t x8nmodp(size_t n)
{
    uint32_t result = 1u << 31; /* x^0 */
    uint32_t base = 1u << 23;   /* x^8 */
    while (n > 0) {
        if (n & 1) {
            result = multmodp(base, result);
        }
        base = multmodp(base, base);
        n >>= 1;
    }
    return result;
}

static void table_init(void)
{
    for (int i = 0; i < NBLOCKS; i++) {
        block_shift[i] = x8nmodp(block_len[i]);
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
        }
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int k = 1; k < 8; k++) {
            c = table[0][c & 0xff] ^ (c >> 8);
            table[k][n] = c;
        }
    }
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

uint32_t bk_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    pthread_once(&table_once, table_init);
    crc = ~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    while (len >= 8) {
        uint64_t v = load_le64(p) ^ crc;
        crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
              table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
              table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
              table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    return ~crc;
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BK_CRC32C_HW 1

/* The crc32 instruction has a latency of 3 cycles and a throughput of 1,
 * so three independent streams over adjacent blocks run about three times
 * faster than one; the three partial CRCs are then combined by moving
 * each over the following block's length (a multiplication by
 * x^(8 * len) mod P, by linearity of the CRC register). */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc,
                                                            const void *buf,
                                                            size_t len)
{
    const uint8_t *p = buf;
    uint64_t c0 = ~crc;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
        len--;
    }
    for (int k = 0; k < NBLOCKS; k++) {
        size_t bl = block_len[k];
        while (len >= 3 * bl) {
            uint64_t c1 = 0, c2 = 0;
            const uint8_t *end = p + bl;
            do {
                uint64_t v0, v1, v2;
                memcpy(&v0, p, 8);
                memcpy(&v1, p + bl, 8);
                memcpy(&v2, p + 2 * bl, 8);
                c0 = __builtin_ia32_crc32di(c0, v0);
                c1 = __builtin_ia32_crc32di(c1, v1);
                c2 = __builtin_ia32_crc32di(c2, v2);
                p += 8;
            } while (p < end);
            c0 = multmodp(block_shift[k], (uint32_t)c0) ^ (uint32_t)c1;
            c0 = multmodp(block_shift[k], (uint32_t)c0) ^ (uint32_t)c2;
            p += 2 * bl;
            len -= 3 * bl;
        }
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c0 = __builtin_ia32_crc32di(c0, v);
        p += 8;
        len -= 8;
    }
    while (len > 0) {
        c0 = __builtin_ia32_crc32qi((uint32_t)c0, *p++);
        len--;
    }
    return ~(uint32_t)c0;
}
#else
#define BK_CRC32C_HW 0
#endif

/* 0 = not probed yet, 1 = software, 2 = hardware. The probe is idempotent,
 * so a benign race between two first callers stores the same value. */
static int crc_impl;

static int probe(void)
{
    int impl = __atomic_load_n(&crc_impl, __ATOMIC_ACQUIRE);
    if (impl == 0) {
        pthread_once(&table_once, table_init);
#if BK_CRC32C_HW
        __builtin_cpu_init();
        impl = __builtin_cpu_supports("sse4.2") ? 2 : 1;
#else
        impl = 1;
#endif
        __atomic_store_n(&crc_impl, impl, __ATOMIC_RELEASE);
    }
    return impl;
}

bool bk_crc32c_hw_available(void)
{
    return probe() == 2;
}

uint32_t bk_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if BK_CRC32C_HW
    if (probe() == 2) {
        return crc32c_hw(crc, buf, len);
    }
#endif
    return bk_crc32c_sw(crc, buf, len);
}
