/* The metadata quorum as brokerctl cluster info shows it, from
 * DescribeQuorum (api 55): what kafka-metadata-quorum.sh describe
 * --status and --replication show, in one place. */
#ifndef BK_ADMIN_QUORUM_VIEW_H
#define BK_ADMIN_QUORUM_VIEW_H

#include <jansson.h>
#include <stdio.h>

#include "admin/cli.h"
#include "protocol/gen/describe_quorum.h"

struct bk_quorum_view {
    /* 0: part is the __cluster_metadata-0 answer; else the Kafka error
     * that came instead (-1: the broker does not serve DescribeQuorum). */
    int16_t error;
    const struct bk_msg_describe_quorum_response_partition_data *part;
};

/* Asks c for the quorum; the answer lives in arena and in c's last frame
 * (valid until c's next call). Returns 0 with v filled (v->error may be a
 * Kafka error: the quorum is then shown as unavailable), or 1 after
 * printing why when the connection failed. */
int bk_quorum_view_fetch(struct bk_client *c,
                         struct bk_arena *arena,
                         struct bk_quorum_view *v);

/* The "Quorum:" section of the text output. */
void bk_quorum_view_print(FILE *out, const struct bk_quorum_view *v);

/* The value of the "quorum" member of the JSON output (returns owned). */
json_t *bk_quorum_view_json(const struct bk_quorum_view *v);

#endif /* BK_ADMIN_QUORUM_VIEW_H */
