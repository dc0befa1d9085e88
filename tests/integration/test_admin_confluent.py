"""Topic and config administration through librdkafka's admin API
(confluent-kafka): CreateTopics, DescribeConfigs, IncrementalAlterConfigs,
CreatePartitions, DescribeCluster, describe_topics (Metadata with topic
ids) and DeleteTopics, and a refusal with Kafka's message."""
# scripts/deps installs the client: a missing one is a failure, not a skip.
import confluent_kafka as ck
import pytest
from confluent_kafka.admin import (AdminClient, AlterConfigOpType,
                                   ConfigEntry, ConfigResource, NewPartitions,
                                   NewTopic, ResourceType)

from harness import Broker


def results(futures):
    return {k: f.result(timeout=30) for k, f in futures.items()}


def test_librdkafka_admin():
    with Broker() as b:
        a = AdminClient({"bootstrap.servers": b.bootstrap})
        results(a.create_topics([NewTopic("ck", 2, 1, config={"retention.ms": "5000"})]))
        topic = ConfigResource(ResourceType.TOPIC, "ck")
        (cfg,) = results(a.describe_configs([topic])).values()
        assert cfg["retention.ms"].value == "5000"
        assert cfg["retention.ms"].source == 1  # DYNAMIC_TOPIC_CONFIG
        assert cfg["cleanup.policy"].value == "delete"
        assert cfg["cleanup.policy"].is_default

        results(a.incremental_alter_configs([ConfigResource(
            ResourceType.TOPIC, "ck", incremental_configs=[
                ConfigEntry("cleanup.policy", "compact",
                            incremental_operation=AlterConfigOpType.SET)])]))
        (cfg,) = results(a.describe_configs([topic])).values()
        assert cfg["cleanup.policy"].value == "compact"
        assert cfg["retention.ms"].value == "5000"  # incremental: kept

        results(a.create_partitions([NewPartitions("ck", 4)]))
        (d,) = results(a.describe_topics(ck.TopicCollection(["ck"]))).values()
        assert d.name == "ck" and len(d.partitions) == 4

        broker = ConfigResource(ResourceType.BROKER, "1")
        (cfg,) = results(a.describe_configs([broker])).values()
        assert cfg["num.partitions"].value == "1" and cfg["num.partitions"].is_read_only

        cluster = a.describe_cluster().result(timeout=30)
        assert cluster.controller.id == 1
        assert [(n.id, n.port) for n in cluster.nodes] == [(1, b.port)]

        with pytest.raises(ck.KafkaException) as e:
            results(a.create_partitions([NewPartitions("ck", 2)]))
        err = e.value.args[0]
        assert err.code() == ck.KafkaError.INVALID_PARTITIONS
        # Kafka 4.1's message.
        assert err.str() == "The topic ck currently has 4 partition(s); 2 " \
            "would not be an increase."

        results(a.delete_topics(["ck"]))
        assert "ck" not in a.list_topics(timeout=10).topics
