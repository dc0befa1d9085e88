package brokerd;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The data path with the real Java client. Usage:
 *   DataCheck produce BOOTSTRAP TOPIC N [COMPRESSION [MARK]]
 *     The default producer (idempotent, acks=all) sends N keyed records
 *     (key-%04d of i % 997, value-%06d of i) and waits for every ack.
 *     COMPRESSION "none" keeps the default. With MARK, prints "acked MARK"
 *     as soon as MARK records are acknowledged, while sending goes on (a
 *     test can restart the broker at that moment).
 *     Prints "produced N idempotence=... partitions=P:COUNT,..." and exits 0,
 *     or prints "error: ..." and exits 1. Checks that the offsets each
 *     partition acknowledged are contiguous from 0 in send order.
 *   DataCheck produce-for BOOTSTRAP TOPIC SECONDS RATE
 *     The same records and checks as produce, sent at about RATE records
 *     a second for SECONDS (while a test kills and restarts brokers),
 *     retrying for up to two minutes per record. Prints "started" at the
 *     first ack, then what produce prints.
 *   DataCheck consume BOOTSTRAP TOPIC N [TIMEOUT_S]
 *     A consumer without a group assign()s every partition, seeks to the
 *     beginning and polls until N records arrived (then briefly longer, to
 *     catch extra copies). Checks each record's key and value, that every
 *     value arrives once, offsets contiguous from 0 and per-partition send
 *     order. Prints "consumed N partitions=P:COUNT,..." and exits 0, or
 *     "error: ..." and exits 1.
 */
public final class DataCheck {
    private DataCheck() {}

    static byte[] key(int i) {
        return String.format("key-%04d", i % 997).getBytes(StandardCharsets.UTF_8);
    }

    static byte[] value(int i) {
        return String.format("value-%06d", i).getBytes(StandardCharsets.UTF_8);
    }

    static int valueIndex(byte[] v) {
        String s = new String(v, StandardCharsets.UTF_8);
        if (!s.startsWith("value-")) {
            throw new IllegalStateException("unexpected value " + s);
        }
        return Integer.parseInt(s.substring(6));
    }

    public static void main(String[] args) {
        if (args.length < 4) {
            System.err.println("usage: DataCheck produce|consume BOOTSTRAP TOPIC N [...]");
            System.exit(2);
        }
        try {
            String mode = args[0];
            String bootstrap = args[1];
            String topic = args[2];
            int n = Integer.parseInt(args[3]);
            if (mode.equals("produce")) {
                String compression = args.length > 4 && !args[4].equals("none") ? args[4] : null;
                int mark = args.length > 5 ? Integer.parseInt(args[5]) : -1;
                produce(bootstrap, topic, n, compression, mark);
            } else if (mode.equals("produce-for")) {
                produceFor(bootstrap, topic, n, Integer.parseInt(args[4]));
            } else if (mode.equals("consume")) {
                consume(bootstrap, topic, n, args.length > 4 ? Integer.parseInt(args[4]) : 60);
            } else {
                System.err.println("unknown mode " + mode);
                System.exit(2);
            }
        } catch (Throwable e) {
            System.out.println("error: " + e);
            System.exit(1);
        }
        System.exit(0);
    }

    static String counts(Map<Integer, Integer> perPartition) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<Integer, Integer> e : new TreeMap<>(perPartition).entrySet()) {
            if (sb.length() > 0) {
                sb.append(',');
            }
            sb.append(e.getKey()).append(':').append(e.getValue());
        }
        return sb.toString();
    }

    static void produce(String bootstrap, String topic, int n, String compression, int mark)
            throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        if (compression != null) {
            props.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, compression);
        }
        long[] offsets = new long[n];
        int[] partitions = new int[n];
        AtomicReference<Exception> failure = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicInteger acks = new java.util.concurrent.atomic.AtomicInteger();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            for (int i = 0; i < n; i++) {
                final int idx = i;
                producer.send(new ProducerRecord<>(topic, key(i), value(i)), (md, ex) -> {
                    if (ex != null) {
                        failure.compareAndSet(null, ex);
                    } else {
                        offsets[idx] = md.offset();
                        partitions[idx] = md.partition();
                        if (acks.incrementAndGet() == mark) {
                            System.out.println("acked " + mark);
                            System.out.flush();
                        }
                    }
                });
            }
            producer.flush();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        Map<Integer, Integer> perPartition = new HashMap<>();
        for (int i = 0; i < n; i++) {
            int p = partitions[i];
            int next = perPartition.getOrDefault(p, 0);
            if (offsets[i] != next) {
                throw new IllegalStateException("record " + i + " acknowledged at " + p + "/"
                        + offsets[i] + ", expected offset " + next);
            }
            perPartition.put(p, next + 1);
        }
        ProducerConfig cfg = new ProducerConfig(props);
        System.out.println("produced " + n + " idempotence="
                + cfg.getBoolean(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG)
                + " acks=" + cfg.getString(ProducerConfig.ACKS_CONFIG)
                + " partitions=" + counts(perPartition));
    }

    static void produceFor(String bootstrap, String topic, int seconds, int rate)
            throws Exception {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "120000");
        props.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        props.put(ProducerConfig.METADATA_MAX_AGE_CONFIG, "2000");
        List<long[]> acked = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicReference<Exception> failure = new AtomicReference<>();
        java.util.concurrent.atomic.AtomicBoolean started =
                new java.util.concurrent.atomic.AtomicBoolean();
        int n = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(props)) {
            long start = System.nanoTime();
            long end = start + seconds * 1_000_000_000L;
            while (System.nanoTime() < end && failure.get() == null) {
                final int idx = n++;
                producer.send(new ProducerRecord<>(topic, key(idx), value(idx)), (md, ex) -> {
                    if (ex != null) {
                        failure.compareAndSet(null, ex);
                    } else {
                        acked.add(new long[] {idx, md.partition(), md.offset()});
                        if (started.compareAndSet(false, true)) {
                            System.out.println("started");
                            System.out.flush();
                        }
                    }
                });
                long due = start + (long) n * 1_000_000_000L / rate;
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    Thread.sleep(wait / 1_000_000L, (int) (wait % 1_000_000L));
                }
            }
            producer.flush();
        }
        if (failure.get() != null) {
            throw failure.get();
        }
        long[] offsets = new long[n];
        int[] partitions = new int[n];
        for (long[] a : acked) {
            partitions[(int) a[0]] = (int) a[1];
            offsets[(int) a[0]] = a[2];
        }
        if (acked.size() != n) {
            throw new IllegalStateException(acked.size() + " of " + n + " acknowledged");
        }
        Map<Integer, Integer> perPartition = new HashMap<>();
        for (int i = 0; i < n; i++) {
            int p = partitions[i];
            int next = perPartition.getOrDefault(p, 0);
            if (offsets[i] != next) {
                throw new IllegalStateException("record " + i + " acknowledged at " + p + "/"
                        + offsets[i] + ", expected offset " + next);
            }
            perPartition.put(p, next + 1);
        }
        System.out.println("produced " + n + " idempotence=true acks=all partitions="
                + counts(perPartition));
    }

    static void consume(String bootstrap, String topic, int n, int timeoutS) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        boolean[] seen = new boolean[n];
        Map<Integer, Long> nextOffset = new HashMap<>();
        Map<Integer, Integer> lastIndex = new HashMap<>();
        Map<Integer, Integer> perPartition = new HashMap<>();
        int count = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
            List<TopicPartition> tps = new ArrayList<>();
            for (PartitionInfo pi : infos) {
                tps.add(new TopicPartition(topic, pi.partition()));
            }
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            long deadline = System.nanoTime() + timeoutS * 1_000_000_000L;
            long settle = -1;
            while (System.nanoTime() < deadline) {
                if (count >= n) {
                    if (settle < 0) {
                        settle = System.nanoTime() + 500_000_000L;
                    } else if (System.nanoTime() > settle) {
                        break;
                    }
                }
                ConsumerRecords<byte[], byte[]> recs = consumer.poll(Duration.ofMillis(200));
                for (ConsumerRecord<byte[], byte[]> r : recs) {
                    int p = r.partition();
                    long want = nextOffset.getOrDefault(p, 0L);
                    if (r.offset() != want) {
                        throw new IllegalStateException("partition " + p + ": offset " + r.offset()
                                + ", expected " + want);
                    }
                    nextOffset.put(p, want + 1);
                    int i = valueIndex(r.value());
                    if (i < 0 || i >= n) {
                        throw new IllegalStateException("value index " + i + " out of range");
                    }
                    if (seen[i]) {
                        throw new IllegalStateException("record " + i + " read twice (at " + p
                                + "/" + r.offset() + ")");
                    }
                    seen[i] = true;
                    if (!java.util.Arrays.equals(r.key(), key(i))) {
                        throw new IllegalStateException("record " + i + ": wrong key");
                    }
                    Integer last = lastIndex.get(p);
                    if (last != null && last > i) {
                        throw new IllegalStateException("partition " + p + ": record " + i
                                + " after record " + last);
                    }
                    lastIndex.put(p, i);
                    perPartition.merge(p, 1, Integer::sum);
                    count++;
                }
            }
        }
        if (count != n) {
            throw new IllegalStateException("consumed " + count + " of " + n + " records");
        }
        System.out.println("consumed " + count + " partitions=" + counts(perPartition));
    }
}
