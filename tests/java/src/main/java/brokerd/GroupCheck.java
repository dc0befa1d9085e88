package brokerd;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.regex.Pattern;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.SubscriptionPattern;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Consumer groups with the real Java client. Usage:
 *   GroupCheck consume BOOTSTRAP TOPIC GROUP N PROTOCOL [TIMEOUT_S]
 *     Two consumers of GROUP (group.protocol=PROTOCOL: classic or consumer,
 *     or a comma-separated list naming each member's in turn, which mixes
 *     the protocols in one group as KIP-848's migration allows) subscribe
 *     to TOPIC (re:PATTERN subscribes to a pattern); once a third of the N records arrived a third
 *     member joins, once two thirds arrived the first member leaves
 *     (committing first). Commits synchronously after each poll. Stops
 *     when N distinct values were seen. Prints "consumed N dups=D
 *     members=M" and exits 0, or "error: ..." and exits 1.
 */
public final class GroupCheck {
    private GroupCheck() {}

    static final class Member extends Thread {
        final KafkaConsumer<byte[], byte[]> consumer;
        final Set<String> seen;
        final AtomicInteger total;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Throwable> failure;
        volatile int assigned;

        Member(String bootstrap, String topic, String group, String protocol,
               String name, Set<String> seen, AtomicInteger total,
               AtomicReference<Throwable> failure) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            if (protocol.equals("classic")) {
                p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
                p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
            }
            p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, "50");
            this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                                                new ByteArrayDeserializer());
            if (topic.startsWith("re:") && protocol.equals("consumer")) {
                /* A pattern the broker resolves (KIP-848
                 * SubscribedTopicRegex); a java.util.regex.Pattern would
                 * be matched by the client. */
                this.consumer.subscribe(
                    new SubscriptionPattern(topic.substring(3)));
            } else if (topic.startsWith("re:")) {
                this.consumer.subscribe(Pattern.compile(topic.substring(3)));
            } else {
                this.consumer.subscribe(Collections.singletonList(topic));
            }
            this.seen = seen;
            this.total = total;
            this.failure = failure;
            setDaemon(true);
        }

        @Override
        public void run() {
            try {
                while (!stop.get()) {
                    for (ConsumerRecord<byte[], byte[]> r :
                         consumer.poll(Duration.ofMillis(100))) {
                        seen.add(new String(r.value(), StandardCharsets.UTF_8));
                        total.incrementAndGet();
                    }
                    consumer.commitSync();
                    assigned = consumer.assignment().size();
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                consumer.close();
            }
        }
    }

    static void await(Set<String> seen, int n, long deadline,
                      AtomicReference<Throwable> failure) throws Exception {
        while (seen.size() < n && System.currentTimeMillis() < deadline &&
               failure.get() == null) {
            Thread.sleep(50);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 6 || !args[0].equals("consume")) {
            System.out.println("error: usage: GroupCheck consume BOOTSTRAP "
                               + "TOPIC GROUP N PROTOCOL [TIMEOUT_S]");
            System.exit(2);
        }
        String bootstrap = args[1], topic = args[2], group = args[3];
        int n = Integer.parseInt(args[4]);
        String[] protocols = args[5].split(",");
        long timeout = args.length > 6 ? Long.parseLong(args[6]) : 120;
        long deadline = System.currentTimeMillis() + timeout * 1000;
        Set<String> seen = ConcurrentHashMap.newKeySet();
        AtomicInteger total = new AtomicInteger();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Member> members = new ArrayList<>();
        int joined = 0;
        for (int i = 0; i < 2; i++) {
            members.add(new Member(bootstrap, topic, group,
                                   protocols[i % protocols.length],
                                   "java-" + i, seen, total, failure));
            members.get(i).start();
            joined++;
        }
        await(seen, n / 3, deadline, failure);
        Member third = new Member(bootstrap, topic, group,
                                  protocols[2 % protocols.length], "java-2",
                                  seen, total, failure);
        members.add(third);
        third.start();
        joined++;
        await(seen, 2 * n / 3, deadline, failure);
        Member first = members.remove(0);
        first.stop.set(true);
        first.join(30000);
        await(seen, n, deadline, failure);
        Thread.sleep(1000); /* extra copies would show up now */
        for (Member m : members) {
            m.stop.set(true);
        }
        for (Member m : members) {
            m.join(30000);
        }
        if (failure.get() != null) {
            System.out.println("error: " + failure.get());
            System.exit(1);
        }
        if (seen.size() != n) {
            System.out.println("error: consumed " + seen.size() + " of " + n);
            System.exit(1);
        }
        System.out.println("consumed " + seen.size() + " dups="
                           + (total.get() - seen.size()) + " members="
                           + joined);
        System.exit(0);
    }
}
