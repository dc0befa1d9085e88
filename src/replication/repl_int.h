/* Internals shared by the replication layer's files (src/replication/
 * only). */
#ifndef BK_REPLICATION_REPL_INT_H
#define BK_REPLICATION_REPL_INT_H

#include "replication/replication.h"

/* fetcher.c: follow what img assigns; stop every fetcher. */
void bk_repl_fetchers_apply(struct bk_repl *r, const struct bk_md_image *img);
void bk_repl_fetchers_close(struct bk_repl *r);

/* isr.c: the partition table's on_isr_change listener (data: the
 * struct bk_repl). */
void bk_repl_isr_changed(void *data, struct bk_partition *p);

/* Whether node is one of mp's replicas. */
bool bk_repl_hosts(const struct bk_md_partition *mp, int32_t node);

#endif /* BK_REPLICATION_REPL_INT_H */
