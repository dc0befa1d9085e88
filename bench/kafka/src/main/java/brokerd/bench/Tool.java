package brokerd.bench;

import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The benchmark's helpers, driven by scripts/bench.py. Each subcommand
 * prints one line "RESULT key=value ..." on success, or "ERROR <exception
 * class>: <message>" (and exits 1), so that the driver can quote the
 * broker's own error when a workload cannot run. "serve" runs many
 * commands in one JVM (see serve()).
 *
 *   topics  --bootstrap B NAME:PARTITIONS[:key=value,...] ...
 *       creates the topics with the Admin client (CreateTopics) and waits
 *       until Metadata shows a leader for every partition.
 *   consume --bootstrap B --topic T --partitions P --records N
 *       reads N records from offset 0 of partitions 0..P-1 with assign(),
 *       no consumer group, so that it measures Fetch and nothing else.
 *   e2e     --bootstrap B --topic T --rate R --seconds S --warmup W
 *           --size BYTES --acks A
 *       produces at a fixed rate R/s for S seconds and consumes in the
 *       same JVM; latency is receive time minus the time the record was
 *       scheduled to be sent (so a stalled producer counts against the
 *       broker: no coordinated omission); the first W seconds are dropped.
 */
public final class Tool {
    private Tool() {}

    public static void main(String[] args) {
        if (args.length == 1 && args[0].equals("serve")) {
            serve();
            return;
        }
        try {
            dispatch(args);
            System.out.flush();
            System.exit(0);
        } catch (Throwable t) {
            System.err.println("ERROR " + describe(t));
            System.err.flush();
            System.exit(1);
        }
    }

    /**
     * One JVM for all the runs of a benchmark: reads one command a line
     * (arguments separated by tabs), runs it, and ends its output with a
     * line "@@DONE". Saves a JVM start per run, and both brokers meet a
     * client whose JIT is equally warm. "pp ARGS" runs Kafka's
     * ProducerPerformance with ARGS, unchanged.
     */
    private static void serve() {
        System.setErr(System.out);
        java.io.BufferedReader in = new java.io.BufferedReader(
            new java.io.InputStreamReader(System.in, java.nio.charset.StandardCharsets.UTF_8));
        try {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.isEmpty()) {
                    continue;
                }
                String[] a = line.split("\t");
                try {
                    if (a[0].equals("pp")) {
                        org.apache.kafka.tools.ProducerPerformance.main(
                            Arrays.copyOfRange(a, 1, a.length));
                    } else {
                        dispatch(a);
                    }
                } catch (Throwable t) {
                    System.out.println("ERROR " + describe(t));
                }
                System.out.println("@@DONE");
                System.out.flush();
            }
        } catch (java.io.IOException e) {
            System.out.println("ERROR " + describe(e));
        }
        System.out.flush();
        System.exit(0);
    }

    private static String describe(Throwable t) {
        Throwable root = t;
        while ((root instanceof ExecutionException
                || root instanceof java.util.concurrent.CompletionException)
                && root.getCause() != null) {
            root = root.getCause();
        }
        return root.getClass().getSimpleName() + ": " + root.getMessage();
    }

    private static void dispatch(String[] args) throws Exception {
        {
            if (args.length == 0) {
                throw new IllegalArgumentException("usage: topics|consume|e2e ...");
            }
            String cmd = args[0];
            Map<String, String> opts = new HashMap<>();
            List<String> rest = new ArrayList<>();
            for (int i = 1; i < args.length; i++) {
                if (args[i].startsWith("--") && i + 1 < args.length) {
                    opts.put(args[i].substring(2), args[++i]);
                } else {
                    rest.add(args[i]);
                }
            }
            switch (cmd) {
                case "topics": topics(opts, rest); break;
                case "consume": consume(opts); break;
                case "e2e": e2e(opts); break;
                default: throw new IllegalArgumentException("unknown command " + cmd);
            }
        }
    }

    private static String need(Map<String, String> o, String k) {
        String v = o.get(k);
        if (v == null) {
            throw new IllegalArgumentException("missing --" + k);
        }
        return v;
    }

    private static void topics(Map<String, String> o, List<String> specs) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, need(o, "bootstrap"));
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "20000");
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "30000");
        List<NewTopic> topics = new ArrayList<>();
        for (String spec : specs) {
            String[] f = spec.split(":", 3);
            NewTopic t = new NewTopic(f[0], Integer.parseInt(f[1]), (short) 1);
            if (f.length == 3 && !f[2].isEmpty()) {
                Map<String, String> cfg = new HashMap<>();
                for (String kv : f[2].split(",")) {
                    String[] e = kv.split("=", 2);
                    cfg.put(e[0], e[1]);
                }
                t.configs(cfg);
            }
            topics.add(t);
        }
        long t0 = System.nanoTime();
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(topics).all().get(20, TimeUnit.SECONDS);
        }
        // Wait until Metadata shows a leader for every partition. Metadata,
        // not Admin.describeTopics (DescribeTopicPartitions): the workloads
        // need nothing more than Metadata.
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, need(o, "bootstrap"));
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp)) {
            for (NewTopic t : topics) {
                while (true) {
                    List<org.apache.kafka.common.PartitionInfo> ps = null;
                    try {
                        ps = c.partitionsFor(t.name(), Duration.ofSeconds(5));
                    } catch (org.apache.kafka.common.errors.RetriableException e) {
                        ps = null;
                    }
                    boolean ready = ps != null && ps.size() == t.numPartitions();
                    if (ready) {
                        for (org.apache.kafka.common.PartitionInfo pi : ps) {
                            if (pi.leader() == null || pi.leader().isEmpty()) {
                                ready = false;
                            }
                        }
                    }
                    if (ready) {
                        break;
                    }
                    if (System.nanoTime() > deadline) {
                        throw new IllegalStateException("topic " + t.name()
                            + " has no leader for every partition after 20 s");
                    }
                    Thread.sleep(50);
                }
            }
        }
        System.out.printf("RESULT topics=%d seconds=%.3f%n", topics.size(),
                          (System.nanoTime() - t0) / 1e9);
    }

    private static void consume(Map<String, String> o) {
        String topic = need(o, "topic");
        int parts = Integer.parseInt(need(o, "partitions"));
        long want = Long.parseLong(need(o, "records"));
        long stallMs = Long.parseLong(o.getOrDefault("stall-ms", "20000"));
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, need(o, "bootstrap"));
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        List<TopicPartition> tps = new ArrayList<>();
        for (int i = 0; i < parts; i++) {
            tps.add(new TopicPartition(topic, i));
        }
        long records = 0;
        long bytes = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
            c.assign(tps);
            for (TopicPartition tp : tps) {
                c.seek(tp, 0);
            }
            long t0 = System.nanoTime();
            long lastProgress = t0;
            while (records < want) {
                ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(200));
                long now = System.nanoTime();
                if (rs.isEmpty()) {
                    if (now - lastProgress > TimeUnit.MILLISECONDS.toNanos(stallMs)) {
                        throw new IllegalStateException("no records for " + stallMs
                            + " ms after " + records + " of " + want);
                    }
                    continue;
                }
                lastProgress = now;
                for (ConsumerRecord<byte[], byte[]> r : rs) {
                    records++;
                    bytes += r.serializedValueSize() + Math.max(0, r.serializedKeySize());
                }
            }
            double s = (System.nanoTime() - t0) / 1e9;
            System.out.printf("RESULT records=%d bytes=%d seconds=%.4f records_per_s=%.1f mb_per_s=%.2f%n",
                              records, bytes, s, records / s, bytes / s / (1024.0 * 1024.0));
        }
    }

    private static void e2e(Map<String, String> o) throws Exception {
        String bootstrap = need(o, "bootstrap");
        String topic = need(o, "topic");
        int rate = Integer.parseInt(need(o, "rate"));
        double seconds = Double.parseDouble(need(o, "seconds"));
        double warmup = Double.parseDouble(o.getOrDefault("warmup", "1"));
        int size = Math.max(16, Integer.parseInt(o.getOrDefault("size", "1024")));
        String acks = o.getOrDefault("acks", "all");
        int total = (int) Math.round(rate * seconds);
        int skip = (int) Math.round(rate * warmup);
        long interval = 1_000_000_000L / rate;

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.ACKS_CONFIG, acks);
        pp.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "false");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, "0");
        pp.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "10000");
        pp.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "20000");
        pp.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        pp.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        cp.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        cp.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        long[] lat = new long[total];
        boolean[] seen = new boolean[total];
        AtomicReference<Throwable> failure = new AtomicReference<>();
        TopicPartition tp = new TopicPartition(topic, 0);
        final int[] received = {0};
        final java.util.concurrent.atomic.AtomicLong sendStart =
            new java.util.concurrent.atomic.AtomicLong();

        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(cp);
             KafkaProducer<byte[], byte[]> prod = new KafkaProducer<>(pp)) {
            c.assign(List.of(tp));
            c.seek(tp, 0);
            c.poll(Duration.ofMillis(1)); // connect before the clock starts
            prod.partitionsFor(topic);
            Thread consumer = new Thread(() -> {
                try {
                    long deadline = Long.MAX_VALUE;
                    while (received[0] < total) {
                        ConsumerRecords<byte[], byte[]> rs = c.poll(Duration.ofMillis(100));
                        long now = System.nanoTime();
                        for (ConsumerRecord<byte[], byte[]> r : rs) {
                            ByteBuffer b = ByteBuffer.wrap(r.value());
                            long scheduled = b.getLong();
                            int i = b.getInt();
                            if (i >= 0 && i < total && !seen[i]) {
                                seen[i] = true;
                                lat[i] = now - scheduled;
                                received[0]++;
                            }
                        }
                        if (sendStart.get() != 0 && deadline == Long.MAX_VALUE) {
                            deadline = sendStart.get() + (long) ((seconds + 20) * 1e9);
                        }
                        if (now > deadline || failure.get() != null) {
                            break;
                        }
                    }
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                }
            }, "e2e-consumer");
            consumer.start();
            long start = System.nanoTime() + 50_000_000L;
            sendStart.set(start);
            byte[] payload = new byte[size];
            for (int i = 0; i < total && failure.get() == null; i++) {
                long at = start + i * interval;
                long wait;
                while ((wait = at - System.nanoTime()) > 0) {
                    LockSupport.parkNanos(wait);
                }
                byte[] v = payload.clone();
                ByteBuffer.wrap(v).putLong(at).putInt(i);
                prod.send(new ProducerRecord<>(topic, 0, null, v), (md, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    }
                });
            }
            prod.flush();
            consumer.join();
        }
        if (failure.get() != null) {
            Throwable t = failure.get();
            throw t instanceof Exception ? (Exception) t : new RuntimeException(t);
        }
        if (received[0] < total) {
            throw new IllegalStateException("received " + received[0] + " of " + total + " records");
        }
        long[] kept = Arrays.copyOfRange(lat, Math.min(skip, total - 1), total);
        Arrays.sort(kept);
        System.out.printf("RESULT count=%d rate=%d p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f%n",
                          kept.length, rate, pct(kept, 50), pct(kept, 99), pct(kept, 99.9),
                          kept[kept.length - 1] / 1e6);
    }

    private static double pct(long[] sorted, double p) {
        int idx = (int) Math.ceil(p / 100.0 * sorted.length) - 1;
        idx = Math.max(0, Math.min(sorted.length - 1, idx));
        return sorted[idx] / 1e6;
    }
}
