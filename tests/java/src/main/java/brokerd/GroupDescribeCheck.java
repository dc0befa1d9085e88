package brokerd;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeConsumerGroupsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Admin.describeConsumerGroups() against live groups. Usage:
 *   GroupDescribeCheck BOOTSTRAP TOPIC PARTITIONS GROUP CLASSIC_GROUP
 * Runs two group.protocol=consumer members of GROUP and one classic member
 * of CLASSIC_GROUP on TOPIC, then describes GROUP, CLASSIC_GROUP and an
 * unknown group in one call. GROUP must come back through
 * ConsumerGroupDescribe: the Admin client fills groupEpoch(),
 * targetAssignmentEpoch(), memberEpoch(), targetAssignment() and (from
 * v1's MemberType) upgraded() only from that API. CLASSIC_GROUP comes back
 * through the DescribeGroups fallback (GROUP_ID_NOT_FOUND from
 * ConsumerGroupDescribe), the unknown group as GroupIdNotFoundException.
 * Prints "describe ok ..." and exits 0, or "error: ..." and exits 1.
 */
public final class GroupDescribeCheck {
    private GroupDescribeCheck() {}

    static final class Member extends Thread {
        final KafkaConsumer<byte[], byte[]> consumer;
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<Throwable> failure;
        volatile Set<TopicPartition> assigned = Collections.emptySet();

        Member(String bootstrap, String topic, String group, String protocol,
               String name, AtomicReference<Throwable> failure) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, name);
            p.put(ConsumerConfig.GROUP_PROTOCOL_CONFIG, protocol);
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            if (protocol.equals("classic")) {
                p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
                p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
            }
            this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(),
                                                new ByteArrayDeserializer());
            this.consumer.subscribe(Collections.singletonList(topic));
            this.failure = failure;
            setDaemon(true);
        }

        @Override
        public void run() {
            try {
                while (!stop.get()) {
                    consumer.poll(Duration.ofMillis(100));
                    assigned = new HashSet<>(consumer.assignment());
                }
            } catch (Throwable t) {
                failure.compareAndSet(null, t);
            } finally {
                consumer.close();
            }
        }
    }

    static void check(boolean ok, String what) {
        if (!ok) {
            throw new IllegalStateException(what);
        }
    }

    static Set<TopicPartition> all(String topic, int n) {
        Set<TopicPartition> s = new HashSet<>();
        for (int i = 0; i < n; i++) {
            s.add(new TopicPartition(topic, i));
        }
        return s;
    }

    /* The members' assignments are the whole topic, without overlap. */
    static boolean covers(List<Set<TopicPartition>> sets, Set<TopicPartition> all) {
        Set<TopicPartition> union = new HashSet<>();
        int total = 0;
        for (Set<TopicPartition> s : sets) {
            union.addAll(s);
            total += s.size();
        }
        return union.equals(all) && total == all.size();
    }

    static String members(ConsumerGroupDescription d) {
        List<String> out = new ArrayList<>();
        for (MemberDescription m : d.members()) {
            out.add(m.clientId() + "=" + new TreeSet<>(m.assignment().topicPartitions().stream()
                .map(TopicPartition::partition).toList()));
        }
        Collections.sort(out);
        return out.toString();
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.out.println("error: usage: GroupDescribeCheck BOOTSTRAP TOPIC "
                               + "PARTITIONS GROUP CLASSIC_GROUP");
            System.exit(2);
        }
        String bootstrap = args[0], topic = args[1];
        int parts = Integer.parseInt(args[2]);
        String group = args[3], classicGroup = args[4];
        String unknown = group + "-unknown";
        Set<TopicPartition> all = all(topic, parts);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        List<Member> ms = new ArrayList<>();
        ms.add(new Member(bootstrap, topic, group, "consumer", "cgd-0", failure));
        ms.add(new Member(bootstrap, topic, group, "consumer", "cgd-1", failure));
        ms.add(new Member(bootstrap, topic, classicGroup, "classic", "cgd-classic", failure));
        ms.forEach(Thread::start);
        Properties ap = new Properties();
        ap.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        long deadline = System.currentTimeMillis() + 90_000;
        String last = "nothing described";
        int code = 1;
        try (Admin admin = Admin.create(ap)) {
            while (true) {
                check(failure.get() == null, "consumer failed: " + failure.get());
                check(System.currentTimeMillis() < deadline, "timed out; last: " + last);
                Thread.sleep(200);
                /* Wait until the consumers themselves agree on a
                 * complete, disjoint assignment. */
                if (!covers(List.of(ms.get(0).assigned, ms.get(1).assigned), all)
                    || !ms.get(2).assigned.equals(all)) {
                    last = "consumers not assigned yet";
                    continue;
                }
                Map<String, KafkaFuture<ConsumerGroupDescription>> res = admin
                    .describeConsumerGroups(Arrays.asList(group, classicGroup, unknown),
                                            new DescribeConsumerGroupsOptions()
                                                .includeAuthorizedOperations(true))
                    .describedGroups();
                ConsumerGroupDescription d = res.get(group).get(30, TimeUnit.SECONDS);
                last = d.toString();
                if (d.groupState() != GroupState.STABLE) {
                    continue;
                }
                check(d.type() == GroupType.CONSUMER, "type " + d.type());
                check(d.groupId().equals(group), "group id " + d.groupId());
                check(!d.isSimpleConsumerGroup(), "simple");
                check(d.partitionAssignor().equals("uniform"), "assignor " + d.partitionAssignor());
                /* Only ConsumerGroupDescribe fills the epochs. */
                check(d.groupEpoch().isPresent() && d.groupEpoch().get() >= 2,
                      "groupEpoch " + d.groupEpoch());
                check(d.targetAssignmentEpoch().equals(d.groupEpoch()),
                      "targetAssignmentEpoch " + d.targetAssignmentEpoch());
                check(d.authorizedOperations() != null && d.authorizedOperations().containsAll(
                          Set.of(AclOperation.READ, AclOperation.DESCRIBE, AclOperation.DELETE)),
                      "authorizedOperations " + d.authorizedOperations());
                check(d.members().size() == 2, "members " + d.members());
                List<Set<TopicPartition>> current = new ArrayList<>();
                Set<String> clients = new HashSet<>();
                for (MemberDescription m : d.members()) {
                    clients.add(m.clientId());
                    check(!m.consumerId().isEmpty(), "member id");
                    check(m.host().startsWith("/"), "host " + m.host());
                    check(m.groupInstanceId().isEmpty(), "instance id");
                    check(m.memberEpoch().equals(d.groupEpoch()),
                          "memberEpoch " + m.memberEpoch() + " of " + d.groupEpoch());
                    /* MemberType 1 (consumer), ConsumerGroupDescribe v1. */
                    check(m.upgraded().equals(Optional.of(true)), "upgraded " + m.upgraded());
                    Set<TopicPartition> a = m.assignment().topicPartitions();
                    check(m.targetAssignment().isPresent()
                              && m.targetAssignment().get().topicPartitions().equals(a),
                          "target " + m.targetAssignment() + " vs " + a);
                    current.add(a);
                    Member local = m.clientId().equals("cgd-0") ? ms.get(0) : ms.get(1);
                    check(local.assigned.equals(a), m.clientId() + " owns " + local.assigned
                          + ", described " + a);
                }
                check(clients.equals(Set.of("cgd-0", "cgd-1")), "clients " + clients);
                check(covers(current, all), "assignments " + current);

                /* The classic group, through the DescribeGroups fallback. */
                ConsumerGroupDescription c = res.get(classicGroup).get(30, TimeUnit.SECONDS);
                check(c.type() == GroupType.CLASSIC, "classic type " + c.type());
                check(c.groupState() == GroupState.STABLE, "classic state " + c.groupState());
                check(c.groupEpoch().isEmpty(), "classic groupEpoch " + c.groupEpoch());
                check(c.members().size() == 1, "classic members " + c.members());
                MemberDescription cm = c.members().iterator().next();
                check(cm.clientId().equals("cgd-classic"), "classic client " + cm.clientId());
                check(cm.assignment().topicPartitions().equals(all),
                      "classic assignment " + cm.assignment());
                check(cm.memberEpoch().isEmpty() && cm.upgraded().isEmpty(),
                      "classic member " + cm);

                /* An unknown group: what Kafka's Admin gives. */
                try {
                    res.get(unknown).get(30, TimeUnit.SECONDS);
                    check(false, "unknown group described");
                } catch (ExecutionException e) {
                    check(e.getCause() instanceof GroupIdNotFoundException,
                          "unknown group: " + e.getCause());
                }
                System.out.println("describe ok epoch=" + d.groupEpoch().get()
                                   + " members=" + members(d));
                code = 0;
                break;
            }
        } catch (Throwable t) {
            System.out.println("error: " + t);
        } finally {
            for (Member m : ms) {
                m.stop.set(true);
            }
            for (Member m : ms) {
                m.join(30000);
            }
        }
        System.exit(code);
    }
}
