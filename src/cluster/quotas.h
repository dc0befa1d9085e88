/* Client quotas in the metadata image (Kafka's ClientQuotasImage).
 *
 * A quota entity names up to three parts, each a type (user, client-id, ip)
 * with a name or the type's default; Kafka allows user, client-id, both
 * together, or ip alone. Each entity holds values for some of the keys
 * below. The table is immutable once published and shared between images
 * until a client quota record changes it (copy on write, like topics).
 *
 * Resolution (bk_md_quota_resolve) is Kafka's DefaultQuotaCallback order
 * for a (user, client id) pair: the first of the eight entities that holds
 * the key wins (security-notes.md §9). */
#ifndef BK_CLUSTER_QUOTAS_H
#define BK_CLUSTER_QUOTAS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/records.h"
#include "common/arena.h"

/* Entity types, in the order Kafka sorts them. */
enum bk_md_qe_type {
    BK_MD_QE_USER = 0,
    BK_MD_QE_CLIENT_ID = 1,
    BK_MD_QE_IP = 2,
    BK_MD_QE_N = 3,
};

/* Quota keys (Kafka's QuotaConfig). */
enum bk_md_qkey {
    BK_MD_QK_PRODUCER_BYTE_RATE = 0,
    BK_MD_QK_CONSUMER_BYTE_RATE = 1,
    BK_MD_QK_REQUEST_PERCENTAGE = 2,
    BK_MD_QK_CONTROLLER_MUTATION_RATE = 3,
    BK_MD_QK_CONNECTION_CREATION_RATE = 4,
    BK_MD_QK_N = 5,
};

/* One entity: bit t of `set` says part t is present; bit t of `dflt` that
 * it is the default (name[t] NULL then). Names are owned by the table, or
 * borrowed where a caller builds an entity to look up. */
struct bk_md_qentity {
    uint8_t set;
    uint8_t dflt;
    const char *name[BK_MD_QE_N];
};

struct bk_md_qentry {
    struct bk_md_qentity e; /* names owned */
    uint8_t has;            /* bit k: value k is set */
    double v[BK_MD_QK_N];
};

/* The table: entries sorted by bk_md_qentity_cmp. */
struct bk_md_quotas {
    atomic_long refs;
    bool draft; /* private to the apply building it */
    size_t n, cap;
    struct bk_md_qentry *v; /* owned */
};

/* "user", "client-id", "ip" (Kafka's ClientQuotaEntity names). */
const char *bk_md_qe_type_name(unsigned type);
/* The type of a wire name, or -1 when unknown. */
int bk_md_qe_type_parse(struct bk_str s);
/* "producer_byte_rate", ... */
const char *bk_md_qkey_name(unsigned key);
/* The key of a wire name, or -1 when unknown. */
int bk_md_qkey_parse(struct bk_str s);

/* Total order on entities (types present, then defaults, then names). */
int bk_md_qentity_cmp(const struct bk_md_qentity *a,
                      const struct bk_md_qentity *b);

/* The entry of exactly e, or NULL (borrowed from q, which may be NULL). */
const struct bk_md_qentry *bk_md_quotas_find(const struct bk_md_quotas *q,
                                             const struct bk_md_qentity *e);

/* References; release frees on the last one. NULL is allowed. */
void bk_md_quotas_ref(struct bk_md_quotas *q);
void bk_md_quotas_release(struct bk_md_quotas *q);

/* Applies one client quota record to *q (a draft of this apply: the table
 * is copied first unless it is one already; *q may be NULL). Returns 0,
 * 1 when the record is skipped (an invalid entity or key), or BK_ENOMEM. */
int bk_md_quotas_apply(struct bk_md_quotas **q,
                       const struct bk_md_client_quota_rec *r);

/* Number of records bk_md_quotas_records writes. */
size_t bk_md_quotas_nrecords(const struct bk_md_quotas *q);
/* Writes one record per value into recs (strings borrowed from q). */
size_t bk_md_quotas_records(const struct bk_md_quotas *q,
                            struct bk_md_rec *recs);

/* Fills r's entity from e (names borrowed). */
void bk_md_qentity_to_rec(const struct bk_md_qentity *e,
                          struct bk_md_client_quota_rec *r);

/* Checks an entity as Kafka's controller does (non-empty, known types
 * without repeats, ip alone, ip names that are addresses) and fills *e
 * with names borrowed from the arrays. types/names have n items; a null
 * name (len < 0) is the default. Returns 0 or -1 with msg (BK_MD_QMSG
 * bytes) set. */
#define BK_MD_QMSG 160
int bk_md_qentity_parse(const struct bk_str *types,
                        const struct bk_str *names,
                        size_t n,
                        struct bk_arena *arena,
                        struct bk_md_qentity *e,
                        char *msg);

/* Checks that key may be set on e to value (Kafka: a key of the entity's
 * kind, a non-negative finite value, integral for the rate keys Kafka
 * types as long or int). Returns 0 or -1 with msg set. */
int bk_md_qvalue_check(const struct bk_md_qentity *e,
                       int key,
                       double value,
                       char *msg);

/* The quota values that apply to a connection of user (the principal's
 * name, "ANONYMOUS" unauthenticated) with client_id, resolved per key in
 * Kafka's order. For each key found, bit k of the result is set, v[k] has
 * the value and level[k] (may be NULL) the matching level 1..8 (1 = user
 * and client id, 8 = the default client id). */
uint8_t bk_md_quota_resolve(const struct bk_md_quotas *q,
                            const char *user,
                            const char *client_id,
                            double v[BK_MD_QK_N],
                            uint8_t level[BK_MD_QK_N]);

#endif /* BK_CLUSTER_QUOTAS_H */
