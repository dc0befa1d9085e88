package brokerd;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * A transactional producer with the real Java client (kafka-clients 4.x),
 * which uses transactions v2 (KIP-890 part 2: Produce v12 with no
 * AddPartitionsToTxn, EndTxn v5, TxnOffsetCommit v5) when the broker
 * finalizes transaction.version 2. Usage:
 *   TxnCheck BOOTSTRAP TOPIC PARTITIONS TXN_ID GROUP N
 *     Runs N transactions. Transaction i sends one record "txn-i-p" to
 *     every partition p and commits the offset i + 1 of GROUP for TOPIC
 *     partition 0 (sendOffsetsToTransaction); every third transaction
 *     (i % 3 == 2) is aborted instead. Prints "transactions N committed C
 *     aborted A" and exits 0, or prints "error: ..." and exits 1.
 */
public final class TxnCheck {
    private TxnCheck() {}

    public static void main(String[] args) {
        try {
            run(args[0], args[1], Integer.parseInt(args[2]), args[3], args[4],
                Integer.parseInt(args[5]));
        } catch (Exception e) {
            System.out.println("error: " + e);
            e.printStackTrace(System.out);
            System.exit(1);
        }
    }

    static void run(String bootstrap, String topic, int partitions,
                    String txnId, String group, int n) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, txnId);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG,
              ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG,
              ByteArraySerializer.class.getName());
        int committed = 0;
        int aborted = 0;
        try (KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(p)) {
            prod.initTransactions();
            for (int i = 0; i < n; i++) {
                prod.beginTransaction();
                for (int part = 0; part < partitions; part++) {
                    byte[] v = String.format("txn-%d-%d", i, part)
                                   .getBytes(StandardCharsets.UTF_8);
                    prod.send(new ProducerRecord<>(topic, part, null, v));
                }
                Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
                offsets.put(new TopicPartition(topic, 0),
                            new OffsetAndMetadata(i + 1));
                prod.sendOffsetsToTransaction(offsets,
                                              new ConsumerGroupMetadata(group));
                if (i % 3 == 2) {
                    prod.abortTransaction();
                    aborted++;
                } else {
                    prod.commitTransaction();
                    committed++;
                }
            }
        }
        System.out.println("transactions " + n + " committed " + committed +
                           " aborted " + aborted);
    }
}
