// The Admin client's alterPartitionReassignments and listPartitionReassignments with bad input, as
// test_reassignment.py compares them between zkafka and Kafka 3.9. Run with
// `java -cp <kafka-clients jars> ReassignErrors.java BOOTSTRAP TOPIC` (TOPIC: one partition on
// brokers 1,2); prints one JSON object per case on stdout: {"case":..,"error":..,"message":..}
// (error and message null on success).
import java.util.*;
import java.util.concurrent.*;
import org.apache.kafka.clients.admin.*;
import org.apache.kafka.common.*;

public class ReassignErrors {
    static String q(Object s) {
        return s == null ? "null" : "\"" + String.valueOf(s).replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    static void print(String name, Throwable t) {
        Throwable cause = t instanceof ExecutionException ? t.getCause() : t;
        System.out.println("{\"case\":" + q(name) + ",\"error\":"
                + q(cause == null ? null : cause.getClass().getSimpleName())
                + ",\"message\":" + q(cause == null ? null : cause.getMessage()) + "}");
    }

    public static void main(String[] args) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        String topic = args[1];
        LinkedHashMap<String, Map.Entry<TopicPartition, Optional<NewPartitionReassignment>>> cases =
                new LinkedHashMap<>();
        cases.put("unknown topic", Map.entry(new TopicPartition(topic + "-missing", 0),
                Optional.of(new NewPartitionReassignment(List.of(1, 2)))));
        cases.put("unknown partition", Map.entry(new TopicPartition(topic, 5),
                Optional.of(new NewPartitionReassignment(List.of(1, 2)))));
        cases.put("dead broker", Map.entry(new TopicPartition(topic, 0),
                Optional.of(new NewPartitionReassignment(List.of(1, 9)))));
        cases.put("duplicate", Map.entry(new TopicPartition(topic, 0),
                Optional.of(new NewPartitionReassignment(List.of(1, 1)))));
        cases.put("negative", Map.entry(new TopicPartition(topic, 0),
                Optional.of(new NewPartitionReassignment(List.of(-1, 1)))));
        cases.put("cancel with none in progress", Map.entry(new TopicPartition(topic, 0),
                Optional.empty()));
        try (Admin admin = Admin.create(p)) {
            for (var c : cases.entrySet()) {
                var e = c.getValue();
                try {
                    admin.alterPartitionReassignments(Map.of(e.getKey(), e.getValue()))
                            .all().get(30, TimeUnit.SECONDS);
                    print(c.getKey(), null);
                } catch (ExecutionException ex) {
                    print(c.getKey(), ex);
                }
            }
            var listed = admin.listPartitionReassignments(Set.of(new TopicPartition(topic, 0)))
                    .reassignments().get(30, TimeUnit.SECONDS);
            System.out.println("{\"case\":\"list\",\"reassignments\":" + listed.size() + "}");
        }
    }
}
