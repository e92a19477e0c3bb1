#!/usr/bin/env bash
# Runs one of Apache Kafka 3.9's command-line tools, against zkafka or the reference Kafka alike:
#
#   scripts/kafka-tool.sh kafka-topics --bootstrap-server localhost:9092 --list
#   scripts/kafka-tool.sh kafka-dump-log --files .run/kafka-logs-1/t-0/00000000000000000000.log
#   scripts/kafka-tool.sh kafka-run-class CLASS ARGS...   any class on Kafka's classpath
#   scripts/kafka-tool.sh list                     the tool names it knows
#
# NAME is the name of Kafka's bin/ script with or without ".sh". The jars come from Maven
# Central through scripts/kafka-java.sh (KAFKA_VERSION, default 3.9.2); each tool runs in its own
# JVM with KAFKA_TOOL_HEAP (default -Xmx512m) and Kafka's tools-log4j settings (warnings to stderr).
set -euo pipefail
# shellcheck source=scripts/kafka-java.sh
. "$(dirname "${BASH_SOURCE[0]}")/kafka-java.sh"

# NAME CLASS, as Kafka 3.9's bin/*.sh scripts name them
TOOLS="
kafka-acls                      kafka.admin.AclCommand
kafka-broker-api-versions       kafka.admin.BrokerApiVersionsCommand
kafka-client-metrics            org.apache.kafka.tools.ClientMetricsCommand
kafka-cluster                   org.apache.kafka.tools.ClusterTool
kafka-configs                   kafka.admin.ConfigCommand
kafka-console-consumer          org.apache.kafka.tools.consumer.ConsoleConsumer
kafka-console-producer          kafka.tools.ConsoleProducer
kafka-consumer-groups           org.apache.kafka.tools.consumer.group.ConsumerGroupCommand
kafka-consumer-perf-test        org.apache.kafka.tools.ConsumerPerformance
kafka-delegation-tokens         org.apache.kafka.tools.DelegationTokenCommand
kafka-delete-records            org.apache.kafka.tools.DeleteRecordsCommand
kafka-dump-log                  kafka.tools.DumpLogSegments
kafka-e2e-latency               org.apache.kafka.tools.EndToEndLatency
kafka-features                  org.apache.kafka.tools.FeatureCommand
kafka-get-offsets               org.apache.kafka.tools.GetOffsetShell
kafka-jmx                       org.apache.kafka.tools.JmxTool
kafka-leader-election           org.apache.kafka.tools.LeaderElectionCommand
kafka-log-dirs                  org.apache.kafka.tools.LogDirsCommand
kafka-producer-perf-test        org.apache.kafka.tools.ProducerPerformance
kafka-reassign-partitions       org.apache.kafka.tools.reassign.ReassignPartitionsCommand
kafka-run-class                 -
kafka-replica-verification      org.apache.kafka.tools.ReplicaVerificationTool
kafka-topics                    org.apache.kafka.tools.TopicCommand
kafka-transactions              org.apache.kafka.tools.TransactionsCommand
kafka-verifiable-consumer       org.apache.kafka.tools.VerifiableConsumer
kafka-verifiable-producer       org.apache.kafka.tools.VerifiableProducer
zookeeper-security-migration    kafka.admin.ZkSecurityMigrator
zookeeper-shell                 org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka
"

name="${1:-}"
[ -n "$name" ] || { echo "usage: $0 NAME [ARGS...]   ($0 list for the names)" >&2; exit 2; }
shift
if [ "$name" = list ]; then
  echo "$TOOLS" | awk 'NF { print $1 }'
  exit 0
fi
name="$(basename "$name" .sh)"
class="$(echo "$TOOLS" | awk -v n="$name" '$1 == n { print $2 }')"
[ -n "$class" ] || { echo "kafka-tool: unknown tool '$name' ($0 list for the names)" >&2; exit 2; }
if [ "$class" = - ]; then
  # kafka-run-class CLASS ARGS...: any class on Kafka's classpath (e.g. kafka.tools.EndToEndLatency)
  [ "$#" -gt 0 ] || { echo "usage: $0 kafka-run-class CLASS [ARGS...]" >&2; exit 2; }
  class="$1"
  shift
fi

cp="$(kafka_classpath broker "$KAFKA_VERSION")"
# shellcheck disable=SC2086 # KAFKA_TOOL_HEAP may hold several options
exec java ${KAFKA_TOOL_HEAP:--Xmx512m} \
  -Djava.awt.headless=true \
  -Dlog4j.configuration="file:$KAFKA_JAVA_ROOT/reference/tools-log4j.properties" \
  -cp "$cp" "$class" "$@"
