//! The downtime lab (`zkafka lab`): leader re-election experiments on a zkafka or Kafka cluster in
//! ZooKeeper mode, one command each, measured from outside with a steady producer and drawn as a
//! self-contained report. docs/downtime.md has the result schema and the findings.
//!
//! - [`failover`]: one experiment from start to result (cluster, producer, fault, read-back).
//! - [`local_cluster`]: ZooKeeper and zkafka or Kafka brokers started in a temporary directory.
//! - [`kafka_process`]: how an Apache Kafka 3.9 broker is started (jars, JVM flags, log4j).
//! - [`producer`]: one record per partition per tick, every acknowledgement logged.
//! - [`fault`]: SIGKILL, SIGSTOP/SIGCONT, SIGTERM on a broker process.
//! - [`phases`]: the controller's phases, from zkafka's event stream or ZooKeeper's znode times.
//! - [`kafka_log`]: Kafka's controller phases from its controller and state-change logs.
//! - [`verify`]: every acknowledged record read back by offset.
//! - [`result`]: the JSON and CSV outputs and their statistics.
//! - [`chart`], [`report`], [`compare`]: SVG charts and the HTML reports.

pub mod chart;
pub mod compare;
pub mod failover;
pub mod fault;
pub mod kafka_log;
pub mod kafka_process;
pub mod local_cluster;
pub mod phases;
pub mod producer;
pub mod report;
pub mod result;
pub mod verify;
