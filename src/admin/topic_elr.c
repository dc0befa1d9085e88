/* The eligible leader replicas of a topic's partitions for brokerctl topic
 * describe (KIP-966): Metadata does not carry them, DescribeTopicPartitions
 * (key 75) does, as kafka-topics.sh --describe reads them. */
#include "admin/cli.h"
#include "protocol/gen/describe_topic_partitions.h"
#include "protocol/kerr.h"

int bk_cli_topic_elr(struct bk_client *c,
                     struct bk_arena *arena,
                     struct bk_str name,
                     const bk_cli_elr_part **parts,
                     int32_t *n)
{
    *parts = NULL;
    *n = 0;
    if (bk_client_version(c, BK_API_DESCRIBE_TOPIC_PARTITIONS) < 0) {
        return 0; /* an older broker: nothing to show */
    }
    struct bk_msg_describe_topic_partitions_request req;
    bk_msg_describe_topic_partitions_request_init(&req);
    struct bk_msg_describe_topic_partitions_request_topic_request t = {
        .name = name
    };
    req.topics = &t;
    req.topics_count = 1;
    /* One answer holds up to 2000 partitions (Kafka's limit); the ELR of
     * partitions past them is not shown. */
    req.response_partition_limit = 2000;
    struct bk_msg_describe_topic_partitions_response resp;
    if (bk_client_call(c, BK_API_DESCRIBE_TOPIC_PARTITIONS, 0, &req, &resp,
                       arena) != 0) {
        return bk_cli_fail("%s", c->errmsg);
    }
    if (resp.topics_count == 1 && resp.topics[0].error_code == BK_KERR_NONE) {
        *parts = resp.topics[0].partitions;
        *n = resp.topics[0].partitions_count;
    }
    return 0;
}
