//! `zkafka lab`: the downtime lab's command line (`failover`, `compare`); the experiments live in
//! `src/lab/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};

use crate::lab::failover::{self, Plan, Target};
use crate::lab::fault::Fault;
use crate::lab::local_cluster::BrokerKind;
use crate::lab::result::Settings;

#[derive(Debug, Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub command: LabCommand,
}

#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Lose a broker under a steady producer and measure each partition's unavailability.
    Failover(Box<FailoverArgs>),
    /// Draw several result.json files side by side (compare.html, compare.svg).
    Compare(CompareArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StartKind {
    /// ZooKeeper and zkafka brokers from this executable, in a temporary directory.
    Zkafka,
    /// ZooKeeper and Apache Kafka 3.9 brokers (jars from scripts/kafka-java.sh's cache), with the
    /// same broker properties.
    Kafka,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Acks {
    All,
    #[value(name = "1")]
    One,
}

#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// Brokers of the cluster to start.
    #[arg(long, default_value_t = 3)]
    pub brokers: usize,
    #[arg(long, default_value_t = 1)]
    pub topics: usize,
    /// Partitions per topic.
    #[arg(long, default_value_t = 30)]
    pub partitions: i32,
    #[arg(long, default_value_t = 3)]
    pub replication_factor: i16,
    #[arg(long, default_value_t = 2)]
    pub min_insync_replicas: i32,
    /// Records per second per partition (one record to every partition per tick).
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    #[arg(long, value_enum, default_value = "all")]
    pub acks: Acks,
    /// zookeeper.session.timeout.ms of the brokers started (on a running cluster: what it uses,
    /// for the record).
    #[arg(long, default_value_t = 18_000)]
    pub session_timeout_ms: u64,
    /// kill (SIGKILL), stop[:SECONDS] (SIGSTOP, then SIGCONT), term (controlled shutdown),
    /// controller (SIGKILL of the controller's broker).
    #[arg(long, default_value = "kill")]
    pub fault: Fault,
    #[arg(long, default_value_t = 1)]
    pub repetitions: usize,
    /// Directory for result.json, partitions.csv, report.html, report.svg.
    #[arg(long)]
    pub out: PathBuf,
    /// Start a fresh local cluster for each repetition.
    #[arg(long, value_enum, conflicts_with_all = ["bootstrap", "zookeeper", "pids"])]
    pub start: Option<StartKind>,
    /// A running cluster's brokers, host:port[,...].
    #[arg(long, requires_all = ["zookeeper", "pids"])]
    pub bootstrap: Option<String>,
    /// The running cluster's ZooKeeper, host:port[/chroot].
    #[arg(long)]
    pub zookeeper: Option<String>,
    /// The running cluster's broker processes, id=PID[,...].
    #[arg(long)]
    pub pids: Option<String>,
    /// Controller event stream files of a running zkafka cluster (repeatable).
    #[arg(long = "events-file")]
    pub events_files: Vec<PathBuf>,
    /// What the running cluster is, for the report: zkafka or kafka.
    #[arg(long, default_value = "zkafka")]
    pub kind: String,
    /// Title of the report (default: "<kind> <fault> <n> partitions").
    #[arg(long)]
    pub label: Option<String>,
    /// Seconds of producing before the fault.
    #[arg(long, default_value_t = 3.0)]
    pub warmup_seconds: f64,
    /// Longest wait after the fault for every partition to take writes again.
    #[arg(long, default_value_t = 120.0)]
    pub max_wait_seconds: f64,
    /// The producer's request.timeout.ms.
    #[arg(long, default_value_t = 5_000)]
    pub request_timeout_ms: u64,
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// result.json files written by `zkafka lab failover`.
    #[arg(required = true)]
    pub results: Vec<PathBuf>,
    /// Directory for compare.html and compare.svg.
    #[arg(long)]
    pub out: PathBuf,
}

pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    match args.command {
        LabCommand::Failover(a) => failover_cmd(*a).await,
        LabCommand::Compare(a) => {
            crate::lab::compare::run(&a.results, &a.out)?;
            println!("{}", a.out.join("compare.html").display());
            Ok(())
        }
    }
}

/// `1=1234,2=1235` → broker id → pid.
pub fn parse_pids(s: &str) -> anyhow::Result<BTreeMap<i32, u32>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (id, pid) = p
                .split_once('=')
                .with_context(|| format!("--pids entry '{p}' is not id=PID"))?;
            Ok((
                id.trim()
                    .parse()
                    .with_context(|| format!("broker id in '{p}'"))?,
                pid.trim()
                    .parse()
                    .with_context(|| format!("pid in '{p}'"))?,
            ))
        })
        .collect()
}

async fn failover_cmd(a: FailoverArgs) -> anyhow::Result<()> {
    let (target, kind) = match (&a.start, &a.bootstrap) {
        (Some(StartKind::Zkafka), _) => (Target::Start(BrokerKind::Zkafka), "zkafka".to_string()),
        (Some(StartKind::Kafka), _) => (Target::Start(BrokerKind::Kafka), "kafka".to_string()),
        (None, Some(bootstrap)) => (
            Target::Running {
                bootstrap: bootstrap.clone(),
                zookeeper: a.zookeeper.clone().unwrap_or_default(),
                pids: parse_pids(a.pids.as_deref().unwrap_or_default())?,
                event_files: a.events_files.clone(),
            },
            a.kind.clone(),
        ),
        (None, None) => bail!("give --start zkafka|kafka, or --bootstrap, --zookeeper and --pids"),
    };
    if a.partitions < 1 || a.topics < 1 || a.repetitions < 1 || a.rate <= 0.0 {
        bail!("--topics, --partitions, --repetitions and --rate must be positive");
    }
    let total = a.topics as i64 * i64::from(a.partitions);
    let label = a
        .label
        .clone()
        .unwrap_or_else(|| format!("{kind} {} {total} partitions", a.fault));
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    let plan = Plan {
        settings: Settings {
            brokers: a.brokers,
            topics: a.topics,
            partitions_per_topic: a.partitions,
            replication_factor: a.replication_factor,
            min_insync_replicas: a.min_insync_replicas,
            rate_per_partition: a.rate,
            acks: match a.acks {
                Acks::All => -1,
                Acks::One => 1,
            },
            session_timeout_ms: a.session_timeout_ms,
            fault: a.fault.to_string(),
            command,
        },
        fault: a.fault,
        target,
        repetitions: a.repetitions,
        out: a.out.clone(),
        warmup: Duration::from_secs_f64(a.warmup_seconds.max(0.5)),
        max_wait: Duration::from_secs_f64(a.max_wait_seconds.max(1.0)),
        request_timeout: Duration::from_millis(a.request_timeout_ms.max(100)),
    };
    failover::run(&plan, label, kind).await?;
    println!("{}", a.out.join("report.html").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pids_parse() {
        let m = parse_pids("1=100, 2=200").expect("valid");
        assert_eq!(m.get(&2), Some(&200));
        assert!(parse_pids("1:100").is_err());
    }
}
