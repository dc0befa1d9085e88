/* The broker process: start-up, the control loop, graceful shutdown.
 *
 * Threads: the control thread (the caller of bk_broker_run) owns the
 * listeners and the signal handlers; N shard threads serve connections
 * (src/net). Start-up order: data directory (lock, meta.properties), shards,
 * listeners, then the shard threads start; any failure before the threads
 * start prints one line and exits non-zero. */
#ifndef BK_SERVER_BROKER_H
#define BK_SERVER_BROKER_H

#include "server/config.h"

/* Runs the broker until SIGTERM/SIGINT. Takes ownership of nothing; cfg must
 * have passed bk_config_finish(). Returns the process exit code. */
int bk_broker_run(const struct bk_config *cfg);

#endif /* BK_SERVER_BROKER_H */
