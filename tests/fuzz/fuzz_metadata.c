/* libFuzzer target: the metadata log's decoders, which brokers that pull
 * metadata feed with bytes from the network (cluster/observer.c).
 *
 * Input: one mode byte, then the payload.
 *   mode even: the payload is one metadata entry (cluster/records.h); when
 *              it decodes, it is applied to an empty image and to the image
 *              that results, as a broker applies pulled entries, and the
 *              image must snapshot and restore to the same offset.
 *   mode odd:  the payload is an image snapshot (bk_md_image_restore).
 * Any crash, sanitizer report or abort() is a finding. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "cluster/image.h"
#include "cluster/records.h"
#include "common/arena.h"
#include "common/heap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_snapshot(const struct bk_md_image *img)
{
    void *buf;
    size_t len;
    if (bk_md_image_snapshot(img, bk_malloc, &buf, &len) != 0) {
        return;
    }
    struct bk_md_image *back;
    if (bk_md_image_restore(buf, len, &back) == 0) {
        if (back->offset != img->offset || back->n_topics != img->n_topics ||
            back->n_brokers != img->n_brokers) {
            abort();
        }
        bk_md_image_release(back);
    }
    bk_free(buf);
}

static void fuzz_entry(const uint8_t *p, size_t n)
{
    struct bk_arena arena;
    bk_arena_init(&arena, 4096, 1u << 22);
    struct bk_md_rec *recs;
    size_t count;
    if (bk_md_batch_decode(p, n, &arena, &recs, &count) == 0) {
        struct bk_md_image *empty = bk_md_image_new();
        struct bk_md_image *once = NULL, *twice = NULL;
        if (empty != NULL &&
            bk_md_image_apply(empty, recs, count, NULL, &once) == 0) {
            if (bk_md_image_apply(once, recs, count, NULL, &twice) == 0) {
                check_snapshot(twice);
                bk_md_image_release(twice);
            }
            bk_md_image_release(once);
        }
        bk_md_image_release(empty);
    }
    bk_arena_destroy(&arena);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    if ((data[0] & 1) == 0) {
        fuzz_entry(data + 1, size - 1);
    } else {
        struct bk_md_image *img;
        if (bk_md_image_restore(data + 1, size - 1, &img) == 0) {
            bk_md_image_release(img);
        }
    }
    return 0;
}
