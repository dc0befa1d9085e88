/* Internals shared by the files of src/net/ only. */
#ifndef BK_NET_NET_INT_H
#define BK_NET_NET_INT_H

#include "net/net.h"

void bk_shard_maybe_finish(struct bk_shard *s);

/* Stop reading on every connection; close those with nothing in flight. */
void bk_conns_drain(struct bk_shard *s);

/* Close every connection now. */
void bk_conns_close_all(struct bk_shard *s);

/* Adopt an accepted socket on shard s (shard thread). */
void bk_conn_adopt(struct bk_shard *s, int fd, uint64_t id);

#endif /* BK_NET_NET_INT_H */
