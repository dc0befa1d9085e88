/* Users' SCRAM credentials in the metadata image (issue 15): what the
 * BK_MD_REC_SCRAM and BK_MD_REC_REMOVE_SCRAM records build, on every
 * node, and what SaslAuthenticate and DescribeUserScramCredentials read.
 * The image holds a sorted copy, copied whole on each apply (credentials
 * are few and small). */
#ifndef BK_CLUSTER_SCRAM_H
#define BK_CLUSTER_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#include "cluster/records.h"

struct bk_md_image;

struct bk_md_scram_cred {
    char *name; /* owned */
    int8_t mechanism;
    int32_t iterations;
    uint8_t salt_len;
    uint8_t key_len;
    uint8_t salt[BK_MD_MAX_SCRAM_SALT];
    uint8_t stored_key[BK_MD_MAX_SCRAM_KEY];
    uint8_t server_key[BK_MD_MAX_SCRAM_KEY];
};

/* Sorted by (name, mechanism). */
struct bk_md_scram {
    size_t n;
    struct bk_md_scram_cred *v; /* owned */
};

/* The credential of name for mechanism, or NULL. Borrowed from img. */
const struct bk_md_scram_cred *bk_md_image_scram(const struct bk_md_image *img,
                                                 const char *name,
                                                 size_t len,
                                                 int8_t mechanism);

/* All credentials, sorted by name then mechanism. Borrowed from img. */
const struct bk_md_scram *bk_md_image_scram_all(const struct bk_md_image *img);

/* For image.c: copy, free, apply (0 applied, 1 skipped as invalid, or
 * BK_ENOMEM), and the records that rebuild the set (written at *recs,
 * views into s). */
int bk_md_scram_copy(struct bk_md_scram *dst, const struct bk_md_scram *src);
void bk_md_scram_free(struct bk_md_scram *s);
int bk_md_scram_apply(struct bk_md_scram *s, const struct bk_md_rec *rec);
size_t bk_md_scram_to_records(const struct bk_md_scram *s,
                              struct bk_md_rec *recs);

#endif /* BK_CLUSTER_SCRAM_H */
