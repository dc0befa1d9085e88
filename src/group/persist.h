/* The registry's side of persistence in __consumer_offsets: which records
 * a group's pending changes need, and how a record read back is applied.
 * The coordinator only appends and reads (src/coord/group_coord.c), so
 * the whole round trip is testable here without a log. */
/* Prefix: bk_group_ for the verbs (they act on the registry of group.h);
 * the record lists they fill are bk_gr_ types, as in records.h. */
#ifndef BK_GROUP_PERSIST_H
#define BK_GROUP_PERSIST_H

#include "common/arena.h"
#include "group/group.h"

struct bk_gr_rec {
    struct bk_bytes key;
    struct bk_bytes value; /* BK_BYTES_NULL: a tombstone */
};

/* A growing list of records in an arena (borrowed). */
struct bk_gr_recs {
    struct bk_gr_rec *v;
    size_t n;
    size_t cap;
    struct bk_arena *a;
    bool failed; /* out of memory: write nothing, retry later */
};

void bk_gr_recs_add(struct bk_gr_recs *rs,
                    struct bk_bytes key,
                    struct bk_bytes value);

/* The records g's pending changes need, in Kafka's order: tombstones of
 * removed KIP-848 members and of a conversion, the consumer group's dirty
 * member, epoch, target and assignment records, or the classic
 * GroupMetadata. Adds nothing when nothing is pending. */
void bk_group_pending_records(const struct bk_group *g, struct bk_gr_recs *rs);
/* They were written: clears the pending flags. */
void bk_group_pending_clear(struct bk_group *g);

/* Every tombstone deleting g needs (DeleteGroups): its offsets, its
 * GroupMetadata and its consumer group records. */
void bk_group_delete_records(const struct bk_group *g, struct bk_gr_recs *rs);

/* Applies one record of __consumer_offsets (NULL value: a tombstone);
 * unknown or malformed records are skipped. scratch holds temporary
 * decoding memory. */
void bk_group_load_record(struct bk_group_registry *r,
                          struct bk_bytes key,
                          struct bk_bytes value,
                          struct bk_arena *scratch);

#endif /* BK_GROUP_PERSIST_H */
