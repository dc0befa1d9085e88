/* Compression codecs of Kafka record batches.
 *
 * The codec ids are Kafka's (the low 3 bits of a record batch's attributes).
 * Formats, as Kafka's clients write them:
 *   gzip    RFC 1952 gzip (Java's GZIPOutputStream); a zlib stream and
 *           concatenated gzip members are accepted on decode.
 *   snappy  xerial framing (Java's SnappyOutputStream: magic 0x82 "SNAPPY" 0,
 *           two INT32 versions, then [INT32 length][raw snappy block]...),
 *           and plain raw snappy, both decoded; xerial written with 32 KiB
 *           blocks like the Java client, so every client can read it.
 *   lz4     the LZ4 frame format (KIP-57 checksums), independent 64 KiB
 *           blocks, no content size, as Java's KafkaLZ4BlockOutputStream.
 *   zstd    zstd frames, content size optional, several frames allowed.
 *
 * Output ownership: when `arena` is non-NULL the output lives in the arena;
 * when it is NULL the output is returned owned and must be released with
 * bk_free(). *out is never NULL on success, even for an empty output.
 * All functions are thread-safe (no shared state); an arena is not. */
#ifndef BK_COMMON_COMPRESS_H
#define BK_COMMON_COMPRESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

struct bk_arena;

enum bk_codec {
    BK_CODEC_NONE = 0,
    BK_CODEC_GZIP = 1,
    BK_CODEC_SNAPPY = 2,
    BK_CODEC_LZ4 = 3,
    BK_CODEC_ZSTD = 4,
};

#define BK_CODEC_MAX BK_CODEC_ZSTD

/* The level that means "the codec's Kafka default" (gzip 6, lz4 9, zstd 3;
 * snappy has no levels). Any other level is clamped into the codec's range
 * (gzip 1..9, lz4 1..17 as liblz4 allows, zstd ZSTD_minCLevel()..22). */
#define BK_COMPRESS_LEVEL_DEFAULT INT_MIN

/* "none", "gzip", "snappy", "lz4", "zstd", or "unknown". */
const char *bk_codec_name(int codec);

/* Parses a codec name as Kafka's compression.type spells it ("none" and
 * "uncompressed" both give BK_CODEC_NONE). "producer" is not a codec: the
 * caller handles it. Returns 0 or BK_EINVAL. */
int bk_codec_from_name(const char *name, enum bk_codec *out);

/* Whether codec is one of the five above. */
bool bk_codec_valid(int codec);

/* Decompresses in[0..in_len) (borrowed) into *out / *out_len.
 *
 * At most max_out bytes are ever produced or allocated for the output: more
 * gives BK_ETOOLARGE (a decompression bomb fails early, memory stays bounded
 * by about max_out plus the codec's own state: zlib 44 KiB, lz4 up to 4 MiB
 * for 4 MiB blocks, zstd its window, at most 128 MiB (zstd's default
 * windowLogMax 27, which level-22 streams need) for a frame without a
 * content size). BK_CODEC_NONE copies.
 * Errors: BK_ECORRUPT for malformed or truncated input, BK_ETOOLARGE,
 * BK_ENOMEM (heap or arena limit), BK_EUNSUPPORTED for an unknown codec.
 * On error nothing is returned (heap memory is freed; arena memory stays
 * until the arena is reset). */
int bk_decompress(int codec,
                  const void *in,
                  size_t in_len,
                  size_t max_out,
                  struct bk_arena *arena,
                  void **out,
                  size_t *out_len);

/* Compresses in[0..in_len) (borrowed) with codec at level (see
 * BK_COMPRESS_LEVEL_DEFAULT) into *out / *out_len. BK_CODEC_NONE copies.
 * Errors: BK_ENOMEM, BK_EUNSUPPORTED, BK_ETOOLARGE (input over what the
 * codec accepts in one call, about 2 GiB), BK_EIO (library failure). */
int bk_compress(int codec,
                int level,
                const void *in,
                size_t in_len,
                struct bk_arena *arena,
                void **out,
                size_t *out_len);

#endif /* BK_COMMON_COMPRESS_H */
