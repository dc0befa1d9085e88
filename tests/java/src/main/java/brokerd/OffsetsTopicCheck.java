package brokerd;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.protocol.ApiMessage;
import org.apache.kafka.common.protocol.ByteBufferAccessor;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.coordinator.group.generated.CoordinatorRecordType;

/**
 * Reads every record of __consumer_offsets and parses it with Kafka's own
 * record classes (kafka-group-coordinator, the code Kafka's coordinator
 * and its offsets formatters use), so that a record brokerd writes in a
 * layout Kafka does not read fails here. Usage:
 *   OffsetsTopicCheck BOOTSTRAP
 * Prints one line per record, "TYPE key value" (value "tombstone" for a
 * null value), then "records=N" and exits 0; a record Kafka cannot parse,
 * or one with bytes left over, prints "error: ..." and exits 1.
 */
public final class OffsetsTopicCheck {
    private OffsetsTopicCheck() {}

    static String parse(byte[] key, byte[] value) {
        ByteBuffer kb = ByteBuffer.wrap(key);
        short type = kb.getShort();
        CoordinatorRecordType t = CoordinatorRecordType.fromId(type);
        ApiMessage k = t.newRecordKey();
        /* Keys are read at version 0 after their type (CoordinatorRecordSerde). */
        k.read(new ByteBufferAccessor(kb), (short) 0);
        if (kb.hasRemaining()) {
            throw new IllegalStateException(t + " key has " + kb.remaining()
                                            + " bytes left");
        }
        if (value == null) {
            return t + " " + k + " tombstone";
        }
        ByteBuffer vb = ByteBuffer.wrap(value);
        short version = vb.getShort();
        ApiMessage v = t.newRecordValue();
        if (version < v.lowestSupportedVersion()
            || version > v.highestSupportedVersion()) {
            throw new IllegalStateException(t + " value version " + version);
        }
        v.read(new ByteBufferAccessor(vb), version);
        if (vb.hasRemaining()) {
            throw new IllegalStateException(t + " value has " + vb.remaining()
                                            + " bytes left");
        }
        return t + " " + k + " " + v;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.out.println("error: usage: OffsetsTopicCheck BOOTSTRAP");
            System.exit(2);
        }
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        int n = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(
                 p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : c.partitionsFor("__consumer_offsets")) {
                tps.add(new TopicPartition(pi.topic(), pi.partition()));
            }
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            Map<TopicPartition, Long> left = new TreeMap<>(
                (a, b) -> Integer.compare(a.partition(), b.partition()));
            for (TopicPartition tp : tps) {
                if (end.get(tp) > c.position(tp)) {
                    left.put(tp, end.get(tp));
                }
            }
            long deadline = System.currentTimeMillis() + 60000;
            while (!left.isEmpty() && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r :
                     c.poll(Duration.ofMillis(200))) {
                    System.out.println(parse(r.key(), r.value()));
                    n++;
                }
                left.keySet().removeIf(tp -> c.position(tp) >= left.get(tp));
            }
            if (!left.isEmpty()) {
                System.out.println("error: not read to the end: " + left);
                System.exit(1);
            }
        } catch (RuntimeException e) {
            System.out.println("error: " + e);
            System.exit(1);
        }
        System.out.println("records=" + n);
        System.exit(0);
    }
}
