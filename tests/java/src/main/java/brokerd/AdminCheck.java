package brokerd;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.CreateTopicsResult;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.DescribeConfigsOptions;
import org.apache.kafka.clients.admin.DescribeTopicsOptions;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicCollection;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.config.ConfigResource;

/**
 * Drives brokerd's admin APIs with the real Java Admin client. Usage:
 *   AdminCheck BOOTSTRAP lifecycle TOPIC   create, describe (by name with
 *       DescribeTopicPartitions paging, and by id), configs, alter, grow,
 *       errors, delete
 *   AdminCheck BOOTSTRAP describe TOPIC    the topic, its id and its set
 *       configs (for the restart check)
 *   AdminCheck BOOTSTRAP create TOPIC PARTITIONS [K=V...]
 * Prints one "key=value" line per fact and exits 0, or prints the exception
 * and exits 1.
 */
public final class AdminCheck {
    private static final long T = 30;

    private AdminCheck() {}

    private static void out(String k, Object v) {
        System.out.println(k + "=" + v);
    }

    private static String error(Runnable r) {
        try {
            r.run();
        } catch (RuntimeException e) {
            Throwable c = e.getCause() instanceof ExecutionException ? e.getCause().getCause() : e.getCause();
            if (c == null) {
                c = e;
            }
            return c.getClass().getSimpleName() + ": " + c.getMessage();
        }
        return "none";
    }

    private static <V> V get(org.apache.kafka.common.KafkaFuture<V> f) {
        try {
            return f.get(T, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static void printTopic(TopicDescription d) {
        out("topic", d.name());
        out("topic.id", d.topicId());
        out("partitions", d.partitions().size());
        for (TopicPartitionInfo p : d.partitions()) {
            List<Integer> replicas = new ArrayList<>();
            for (Node n : p.replicas()) {
                replicas.add(n.id());
            }
            List<Integer> isr = new ArrayList<>();
            for (Node n : p.isr()) {
                isr.add(n.id());
            }
            out("partition." + p.partition(), "leader:" + (p.leader() == null ? -1 : p.leader().id())
                    + " replicas:" + replicas + " isr:" + isr);
        }
    }

    private static void printSetConfigs(Admin admin, String topic) {
        ConfigResource r = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config c = get(admin.describeConfigs(List.of(r)).all()).get(r);
        for (ConfigEntry e : c.entries()) {
            if (e.source() == ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG) {
                out("config." + e.name(), e.value());
            }
        }
    }

    private static void lifecycle(Admin admin, String topic) {
        CreateTopicsResult cr = admin.createTopics(List.of(
                new NewTopic(topic, 5, (short) 1).configs(Map.of("retention.ms", "3600000"))));
        get(cr.all());
        Uuid id = get(cr.topicId(topic));
        out("created.id", id);
        out("created.partitions", get(cr.numPartitions(topic)));
        out("created.config.retention.ms", get(cr.config(topic)).get("retention.ms").value());

        // By name: DescribeTopicPartitions, two partitions per answer so the
        // client follows the cursor.
        TopicDescription d = get(admin.describeTopics(List.of(topic),
                new DescribeTopicsOptions().partitionSizeLimitPerResponse(2)).allTopicNames()).get(topic);
        printTopic(d);
        // By id: Metadata v12+.
        String[] byId = { null };
        String err = error(() -> byId[0] = get(admin.describeTopics(TopicCollection.ofTopicIds(List.of(id)))
                .allTopicIds()).get(id).name());
        out("by.id.name", byId[0] != null ? byId[0] : err);
        out("listed", get(admin.listTopics().names()).contains(topic));

        ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        Config cfg = get(admin.describeConfigs(List.of(res),
                new DescribeConfigsOptions().includeSynonyms(true).includeDocumentation(true)).all()).get(res);
        ConfigEntry rm = cfg.get("retention.ms");
        out("describe.retention.ms", rm.value() + " " + rm.source() + " " + rm.type()
                + " synonyms:" + rm.synonyms().size() + " doc:" + (rm.documentation() != null));
        ConfigEntry cp = cfg.get("cleanup.policy");
        out("describe.cleanup.policy", cp.value() + " " + cp.source() + " " + cp.type());

        get(admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.APPEND),
                new AlterConfigOp(new ConfigEntry("retention.ms", null), AlterConfigOp.OpType.DELETE),
                new AlterConfigOp(new ConfigEntry("max.message.bytes", "65536"), AlterConfigOp.OpType.SET))))
                .all());
        cfg = get(admin.describeConfigs(List.of(res)).all()).get(res);
        out("altered.cleanup.policy", cfg.get("cleanup.policy").value() + " " + cfg.get("cleanup.policy").source());
        out("altered.retention.ms", cfg.get("retention.ms").value() + " " + cfg.get("retention.ms").source());
        out("altered.max.message.bytes", cfg.get("max.message.bytes").value());

        get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(7))).all());
        d = get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
        out("grown.partitions", d.partitions().size());

        DescribeClusterResult dc = admin.describeCluster();
        out("cluster.id", get(dc.clusterId()));
        out("cluster.controller", get(dc.controller()).id());
        for (Node n : get(dc.nodes())) {
            out("cluster.node", n.id() + " " + n.host() + ":" + n.port());
        }
        ConfigResource broker = new ConfigResource(ConfigResource.Type.BROKER, "1");
        ConfigEntry np = get(admin.describeConfigs(List.of(broker)).all()).get(broker).get("num.partitions");
        out("broker.num.partitions", np.value() + " " + np.source() + " readOnly:" + np.isReadOnly());

        // Kafka's errors.
        out("error.exists", error(() -> get(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all())));
        out("error.name", error(() -> get(admin.createTopics(List.of(new NewTopic("bad/name", 1, (short) 1))).all())));
        out("error.rf", error(() -> get(admin.createTopics(List.of(new NewTopic("rf3", 1, (short) 3))).all())));
        out("error.config", error(() -> get(admin.incrementalAlterConfigs(Map.of(res, List.of(
                new AlterConfigOp(new ConfigEntry("retention.ms", "later"), AlterConfigOp.OpType.SET)))).all())));
        out("error.partitions", error(() -> get(admin.createPartitions(
                Map.of(topic, NewPartitions.increaseTo(2))).all())));
        out("error.unknown", error(() -> get(admin.describeConfigs(List.of(
                new ConfigResource(ConfigResource.Type.TOPIC, "no-such-topic"))).all())));
        out("error.broker.static", error(() -> get(admin.incrementalAlterConfigs(Map.of(broker, List.of(
                new AlterConfigOp(new ConfigEntry("num.partitions", "3"), AlterConfigOp.OpType.SET)))).all())));

        get(admin.deleteTopics(List.of(topic)).all());
        Set<String> names = get(admin.listTopics().names());
        out("deleted", !names.contains(topic));
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3) {
            System.err.println("usage: AdminCheck BOOTSTRAP COMMAND TOPIC");
            System.exit(2);
        }
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        try (Admin admin = Admin.create(props)) {
            switch (args[1]) {
                case "lifecycle":
                    lifecycle(admin, args[2]);
                    break;
                case "create": {
                    Map<String, String> configs = new java.util.HashMap<>();
                    for (int i = 4; i < args.length; i++) {
                        String[] kv = args[i].split("=", 2);
                        configs.put(kv[0], kv[1]);
                    }
                    CreateTopicsResult cr = admin.createTopics(List.of(
                            new NewTopic(args[2], Integer.parseInt(args[3]), (short) 1).configs(configs)));
                    get(cr.all());
                    out("created.id", get(cr.topicId(args[2])));
                    break;
                }
                case "cluster": {
                    // The brokers, controller and cluster id through
                    // DescribeCluster (args[2] is unused).
                    DescribeClusterResult dc = admin.describeCluster();
                    out("cluster.id", get(dc.clusterId()));
                    out("cluster.controller", get(dc.controller()).id());
                    for (Node n : get(dc.nodes())) {
                        out("cluster.node", n.id() + " " + n.host() + ":" + n.port());
                    }
                    break;
                }
                case "describe": {
                    Collection<String> names = List.of(args[2]);
                    printTopic(get(admin.describeTopics(names).allTopicNames()).get(args[2]));
                    printSetConfigs(admin, args[2]);
                    break;
                }
                default:
                    System.err.println("unknown command " + args[1]);
                    System.exit(2);
            }
        } catch (Exception e) {
            System.out.println("error: " + e);
            e.printStackTrace(System.out);
            System.exit(1);
        }
    }
}
