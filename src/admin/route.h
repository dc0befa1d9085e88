/* Partition leaders for brokerctl's data commands.
 *
 * Produce, ListOffsets and Fetch must go to each partition's leader; a
 * broker that does not lead a partition answers NOT_LEADER_OR_FOLLOWER. A
 * route knows one topic's leaders and the brokers' advertised addresses
 * from Metadata, keeps one connection per broker, and is refreshed when a
 * broker says it is not (or no longer) the leader, as Kafka's clients do.
 * The bootstrap connection is used for the broker it talks to, and for
 * everything when the cluster has one broker, so a single node sees
 * exactly the requests it saw before. */
#ifndef BK_ADMIN_ROUTE_H
#define BK_ADMIN_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "admin/cli.h"

/* How many times a command refreshes the leaders and tries again before it
 * gives up with the broker's error. */
#define BK_ROUTE_MAX_RETRIES 10

struct bk_route_broker {
    int32_t id;
    char addr[300]; /* "host:port" as advertised */
    bool open;      /* c is connected */
    struct bk_client c;
};

struct bk_route {
    const struct bk_cli *cli;
    struct bk_client *boot; /* borrowed: the bootstrap connection */
    const char *topic;      /* borrowed */
    int32_t n_partitions;
    int32_t *leader; /* owned, n_partitions entries; -1 unknown */
    size_t n_brokers;
    struct bk_route_broker *brokers; /* owned */
    int retries; /* refreshes by the caller's current operation */
};

/* Looks up the leaders of topic's partitions through boot (both
 * borrowed for the route's life). Returns 0, or 1 after printing why. */
int bk_route_open(struct bk_route *r,
                  const struct bk_cli *cli,
                  struct bk_client *boot,
                  const char *topic);

/* Asks Metadata again (after a short pause: the cluster is moving a
 * leader or electing one). Returns 0, or 1 after printing why. */
int bk_route_refresh(struct bk_route *r);

/* The leader of partition p, or -1 when unknown. */
int32_t bk_route_leader(const struct bk_route *r, int32_t p);

/* The connection to broker id (borrowed from the route), connecting on
 * first use. Returns NULL after printing why. */
struct bk_client *bk_route_client(struct bk_route *r, int32_t id);

/* Whether a partition error means "ask for the leader again". */
bool bk_route_retriable(int16_t code);

/* Closes the connections the route opened (not the bootstrap one). */
void bk_route_close(struct bk_route *r);

#endif /* BK_ADMIN_ROUTE_H */
