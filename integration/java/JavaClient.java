// The Java client (kafka-clients) as the integration tests drive it, one single-file program run
// with `java -cp <kafka-clients jars> JavaClient.java COMMAND ARGS...` (integration/reference.py's
// java_client). Every command prints one JSON object per line on stdout and exits non-zero on a
// failure, so a test reads what a Java application would have seen.
//
//   produce BOOTSTRAP TOPIC COUNT              idempotent, acks=all: {"acked":N,"offsets":{"p":[first,last]}}
//   group BOOTSTRAP TOPIC GROUP ASSIGNOR MEMBERS EXPECTED SECONDS [INSTANCE_PREFIX]
//                                              MEMBERS consumers in one group (eager "range" or
//                                              "cooperative-sticky"); each line: a member's final
//                                              assignment and the records it read; commits sync
//   admin BOOTSTRAP TOPIC GROUP                describeCluster, describeTopics, describeConfigs,
//                                              listConsumerGroups, describeConsumerGroups, listOffsets
import java.time.Duration;
import java.util.*;
import java.util.concurrent.*;
import java.util.concurrent.atomic.*;
import java.util.stream.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.clients.consumer.*;
import org.apache.kafka.clients.producer.*;
import org.apache.kafka.common.*;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.*;

public class JavaClient {
    public static void main(String[] args) throws Exception {
        switch (args[0]) {
            case "produce" -> produce(args[1], args[2], Integer.parseInt(args[3]));
            case "group" -> group(args[1], args[2], args[3], args[4], Integer.parseInt(args[5]),
                    Integer.parseInt(args[6]), Integer.parseInt(args[7]), args.length > 8 ? args[8] : null);
            case "admin" -> admin(args[1], args[2], args[3]);
            default -> throw new IllegalArgumentException("unknown command " + args[0]);
        }
    }

    static String q(Object s) {
        return "\"" + String.valueOf(s).replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static void produce(String bootstrap, String topic, int count) throws Exception {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "60000");
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        TreeMap<Integer, long[]> ranges = new TreeMap<>();
        int acked = 0;
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            List<Future<RecordMetadata>> futures = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                futures.add(producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i)));
            }
            producer.flush();
            for (Future<RecordMetadata> f : futures) {
                RecordMetadata m = f.get(60, TimeUnit.SECONDS);
                acked++;
                long[] r = ranges.computeIfAbsent(m.partition(), k -> new long[] {m.offset(), m.offset()});
                r[0] = Math.min(r[0], m.offset());
                r[1] = Math.max(r[1], m.offset());
            }
        }
        String offsets = ranges.entrySet().stream()
                .map(e -> q(e.getKey()) + ":[" + e.getValue()[0] + "," + e.getValue()[1] + "]")
                .collect(Collectors.joining(","));
        System.out.println("{\"acked\":" + acked + ",\"offsets\":{" + offsets + "}}");
    }

    /** MEMBERS consumers poll until EXPECTED records have been read by the group and every member
     * holds an assignment that no other member holds, or until SECONDS pass. The assignment printed
     * is the one seen then (empty if the group never settled), not the one after close. */
    static void group(String bootstrap, String topic, String groupId, String assignor, int members,
                      int expected, int seconds, String instancePrefix) throws Exception {
        String assignorClass = switch (assignor) {
            case "range" -> RangeAssignor.class.getName();
            case "roundrobin" -> RoundRobinAssignor.class.getName();
            case "cooperative-sticky" -> CooperativeStickyAssignor.class.getName();
            default -> throw new IllegalArgumentException("assignor " + assignor);
        };
        AtomicInteger read = new AtomicInteger();
        AtomicBoolean stop = new AtomicBoolean();
        List<Set<Integer>> owned = new ArrayList<>();
        List<AtomicInteger> rebalances = new ArrayList<>();
        List<List<String>> values = new ArrayList<>();
        ExecutorService pool = Executors.newFixedThreadPool(members);
        List<Future<?>> running = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        for (int m = 0; m < members; m++) {
            Set<Integer> mine = ConcurrentHashMap.newKeySet();
            AtomicInteger count = new AtomicInteger();
            List<String> got = Collections.synchronizedList(new ArrayList<>());
            owned.add(mine);
            rebalances.add(count);
            values.add(got);
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, assignorClass);
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, "10000");
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, "1000");
            if (instancePrefix != null) {
                p.put(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG, instancePrefix + "-" + m);
            }
            p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
            running.add(pool.submit(() -> {
                try (KafkaConsumer<String, String> c = new KafkaConsumer<>(p)) {
                    c.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
                            parts.forEach(tp -> mine.remove(tp.partition()));
                        }
                        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
                            count.incrementAndGet();
                            parts.forEach(tp -> mine.add(tp.partition()));
                        }
                        public void onPartitionsLost(Collection<TopicPartition> parts) {
                            parts.forEach(tp -> mine.remove(tp.partition()));
                        }
                    });
                    while (!stop.get() && System.nanoTime() < deadline) {
                        ConsumerRecords<String, String> records = c.poll(Duration.ofMillis(200));
                        for (ConsumerRecord<String, String> r : records) {
                            got.add(r.value());
                            read.incrementAndGet();
                        }
                        if (!records.isEmpty()) {
                            c.commitSync();
                        }
                    }
                }
                return null;
            }));
        }
        List<Set<Integer>> settled = null;
        while (System.nanoTime() < deadline) {
            Set<Integer> union = new HashSet<>();
            int total = 0;
            boolean everyoneHasSome = true;
            for (Set<Integer> s : owned) {
                union.addAll(s);
                total += s.size();
                everyoneHasSome &= !s.isEmpty();
            }
            if (read.get() >= expected && total == union.size() && everyoneHasSome) {
                Thread.sleep(1000); // settled: one more second to see a spurious rebalance
                settled = owned.stream().map(TreeSet::new).collect(Collectors.toList());
                break;
            }
            Thread.sleep(100);
        }
        stop.set(true);
        for (Future<?> f : running) {
            f.get(30, TimeUnit.SECONDS);
        }
        pool.shutdown();
        for (int m = 0; m < members; m++) {
            System.out.println("{\"member\":" + m + ",\"partitions\":" + (settled == null ? "[]" : settled.get(m))
                    + ",\"rebalances\":" + rebalances.get(m).get() + ",\"read\":" + values.get(m).size() + "}");
        }
        System.out.println("{\"total_read\":" + read.get() + "}");
    }

    static void admin(String bootstrap, String topic, String groupId) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        try (Admin admin = Admin.create(p)) {
            DescribeClusterResult cluster = admin.describeCluster();
            System.out.println("{\"cluster_id\":" + q(cluster.clusterId().get()) + ",\"brokers\":"
                    + cluster.nodes().get().stream().map(Node::id).sorted().collect(Collectors.toList())
                    + ",\"controller\":" + cluster.controller().get().id() + "}");
            TopicDescription t = admin.describeTopics(List.of(topic)).allTopicNames().get().get(topic);
            String parts = t.partitions().stream()
                    .map(pi -> "{\"partition\":" + pi.partition() + ",\"replicas\":"
                            + pi.replicas().stream().map(Node::id).collect(Collectors.toList())
                            + ",\"isr\":" + pi.isr().stream().map(Node::id).sorted().collect(Collectors.toList())
                            + ",\"leader\":" + (pi.leader() == null ? -1 : pi.leader().id()) + "}")
                    .collect(Collectors.joining(","));
            System.out.println("{\"topic\":" + q(t.name()) + ",\"internal\":" + t.isInternal()
                    + ",\"partitions\":[" + parts + "]}");
            ConfigResource res = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = admin.describeConfigs(List.of(res)).all().get().get(res);
            String entries = config.entries().stream()
                    .filter(e -> e.name().equals("retention.ms") || e.name().equals("cleanup.policy")
                            || e.name().equals("min.insync.replicas") || e.name().equals("segment.bytes"))
                    .sorted(Comparator.comparing(ConfigEntry::name))
                    .map(e -> q(e.name()) + ":{\"value\":" + q(e.value()) + ",\"source\":" + q(e.source())
                            + ",\"read_only\":" + e.isReadOnly() + ",\"sensitive\":" + e.isSensitive() + "}")
                    .collect(Collectors.joining(","));
            System.out.println("{\"topic_configs\":{" + entries + "}}");
            List<String> groups = admin.listConsumerGroups().all().get().stream()
                    .map(ConsumerGroupListing::groupId).sorted().collect(Collectors.toList());
            System.out.println("{\"groups_listed\":" + groups.stream().map(JavaClient::q).collect(Collectors.toList()) + "}");
            ConsumerGroupDescription g = admin.describeConsumerGroups(List.of(groupId)).all().get().get(groupId);
            System.out.println("{\"group\":" + q(g.groupId()) + ",\"state\":" + q(g.state())
                    + ",\"members\":" + g.members().size() + ",\"simple\":" + g.isSimpleConsumerGroup() + "}");
            Map<TopicPartition, OffsetSpec> specs = new HashMap<>();
            for (TopicPartitionInfo pi : t.partitions()) {
                specs.put(new TopicPartition(topic, pi.partition()), OffsetSpec.latest());
            }
            long end = admin.listOffsets(specs).all().get().values().stream()
                    .mapToLong(ListOffsetsResult.ListOffsetsResultInfo::offset).sum();
            Map<TopicPartition, OffsetAndMetadata> committed =
                    admin.listConsumerGroupOffsets(groupId).partitionsToOffsetAndMetadata().get();
            long committedSum = committed.values().stream().mapToLong(OffsetAndMetadata::offset).sum();
            System.out.println("{\"end_offsets\":" + end + ",\"committed\":" + committedSum + "}");
        }
    }
}
