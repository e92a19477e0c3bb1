//! One `zkafka lab failover` experiment: topics created, a steady producer on every partition, a
//! fault injected into a broker that leads partitions, and afterwards per partition the last
//! acknowledgement before the fault and the first after, the controller's phases, and every
//! acknowledged record read back.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{CreateTopicsRequest, DeleteTopicsRequest, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::fault::{self, Fault};
use super::local_cluster::{BrokerKind, LocalCluster, LocalSettings};
use super::phases::{self, ZkWatch};
use super::producer::{Ack, ProducerSettings, SteadyProducer};
use super::result::{
    csv, write_json, LabResult, PartitionResult, RunResult, RunStats, Settings, Summary,
    SCHEMA_VERSION,
};
use super::{kafka_log, report, verify};
use crate::client::{ClusterClient, ClusterMetadata};
use crate::clock::now_ms;
use crate::zk::{KafkaZkClient, ZkSettings};

/// Request timeout of the set-up requests (CreateTopics of thousands of partitions included), and
/// the longest wait for the new topics' leaders.
const SETUP_TIMEOUT: Duration = Duration::from_secs(120);

/// Which cluster the experiment runs on.
#[derive(Debug, Clone)]
pub enum Target {
    /// A fresh local cluster of zkafka or Kafka brokers per repetition.
    Start(BrokerKind),
    /// A running cluster: its bootstrap servers, ZooKeeper connect string, broker pids, and the
    /// controller event files to read (none for Kafka).
    Running {
        bootstrap: String,
        zookeeper: String,
        pids: BTreeMap<i32, u32>,
        event_files: Vec<PathBuf>,
    },
}

/// Everything one invocation needs.
#[derive(Debug, Clone)]
pub struct Plan {
    pub settings: Settings,
    pub fault: Fault,
    pub target: Target,
    pub repetitions: usize,
    pub out: PathBuf,
    /// Producing before the fault, so every partition has acknowledgements to measure from.
    pub warmup: Duration,
    /// The longest the lab waits after the fault for every partition to take writes again.
    pub max_wait: Duration,
    pub request_timeout: Duration,
}

/// The cluster of one repetition.
struct Cluster {
    bootstrap: String,
    zookeeper: String,
    pids: BTreeMap<i32, u32>,
    event_files: Vec<PathBuf>,
    /// Controller and state-change logs of the Kafka brokers the lab started.
    kafka_logs: Vec<(i32, PathBuf, PathBuf)>,
    local: Option<LocalCluster>,
}

async fn cluster_for(plan: &Plan) -> anyhow::Result<Cluster> {
    match &plan.target {
        Target::Start(kind) => {
            let s = &plan.settings;
            let local = LocalCluster::start(
                &LocalSettings {
                    kind: *kind,
                    brokers: s.brokers,
                    session_timeout_ms: s.session_timeout_ms,
                    replication_factor: s.replication_factor,
                    min_insync_replicas: s.min_insync_replicas,
                },
                &std::env::temp_dir(),
            )
            .await?;
            Ok(Cluster {
                bootstrap: local.bootstrap.clone(),
                zookeeper: local.zk_connect.clone(),
                pids: local.pids(),
                event_files: local.event_files.clone(),
                kafka_logs: local.controller_logs.clone(),
                local: Some(local),
            })
        }
        Target::Running {
            bootstrap,
            zookeeper,
            pids,
            event_files,
        } => Ok(Cluster {
            bootstrap: bootstrap.clone(),
            zookeeper: zookeeper.clone(),
            pids: pids.clone(),
            event_files: event_files.clone(),
            kafka_logs: Vec::new(),
            local: None,
        }),
    }
}

fn progress(line: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{line}");
    } else {
        eprintln!("{line}");
    }
}

/// Runs one repetition.
pub async fn run_once(plan: &Plan, repetition: usize) -> anyhow::Result<RunResult> {
    let s = &plan.settings;
    progress(&format!(
        "lab: run {repetition}/{}: starting the cluster",
        plan.repetitions
    ));
    let cluster = cluster_for(plan).await?;
    // Creating thousands of partitions takes longer than a produce may.
    let setup = ClusterClient::bootstrap(&cluster.bootstrap, "zkafka-lab", SETUP_TIMEOUT)
        .await
        .with_context(|| format!("connecting to {}", cluster.bootstrap))?;
    let stamp = now_ms();
    let topics: Vec<String> = (0..s.topics).map(|t| format!("lab-{stamp}-{t}")).collect();
    progress(&format!(
        "lab: run {repetition}: creating {} topics",
        topics.len()
    ));
    create_topics(&setup, &topics, s).await?;
    let md = wait_for_leaders(&setup, &topics, SETUP_TIMEOUT).await?;
    let partitions: Vec<(String, i32)> = topics
        .iter()
        .flat_map(|t| (0..s.partitions_per_topic).map(move |p| (t.clone(), p)))
        .collect();
    let victim = choose_victim(&md, &partitions, plan.fault)?;
    let pid = *cluster
        .pids
        .get(&victim)
        .with_context(|| format!("no pid given for broker {victim} (--pids)"))?;
    // The producer bootstraps from the brokers that stay up, so its metadata requests do not
    // wait on the broker being hit.
    let survivors: Vec<String> = md
        .brokers
        .iter()
        .filter(|(id, _)| **id != victim)
        .map(|(_, a)| a.clone())
        .collect();
    let client = Arc::new(
        ClusterClient::bootstrap(
            &survivors.join(","),
            "zkafka-lab-producer",
            plan.request_timeout,
        )
        .await
        .context("connecting the producer")?,
    );
    refresh(&client, &topics).await?;
    let zk = KafkaZkClient::connect(&ZkSettings::new(cluster.zookeeper.clone()))
        .await
        .with_context(|| format!("connecting to ZooKeeper at {}", cluster.zookeeper))?;
    let watch = ZkWatch::start(zk.clone());
    let producer = SteadyProducer::start(
        client.clone(),
        partitions.clone(),
        ProducerSettings {
            acks: s.acks,
            rate_per_partition: s.rate_per_partition,
            request_timeout: plan.request_timeout,
        },
    );
    let start_ms = now_ms();
    let counters = producer.counters();
    // Every partition must have taken writes before the fault (followers of thousands of new
    // partitions may take a while to join, and acks=all waits for them), then the warm-up.
    let ready = Instant::now();
    while producer.partitions_acked() < partitions.len() {
        if ready.elapsed() > SETUP_TIMEOUT {
            bail!(
                "only {} of {} partitions took a write within {SETUP_TIMEOUT:?}",
                producer.partitions_acked(),
                partitions.len()
            );
        }
        progress(&format!(
            "lab: run {repetition}: waiting for every partition to take a write ({}/{})",
            producer.partitions_acked(),
            partitions.len()
        ));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    tokio::time::sleep(plan.warmup).await;
    let before = refresh(&client, &topics).await?;
    let leaders_before: Vec<i32> = partitions
        .iter()
        .map(|(t, p)| before.leader(t, *p).unwrap_or(-1))
        .collect();
    let controller_before = before.controller_id;
    let fault_ms = now_ms();
    fault::inject(plan.fault, pid)?;
    tracing::info!(broker = victim, pid, fault = %plan.fault, "lab: fault injected");
    let waited = Instant::now();
    let mut recovered_at: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let recovered = producer.partitions_acked_since(fault_ms);
        progress(&format!(
            "lab: run {repetition}/{}: {} broker {victim} at +{:.1}s; now +{:.1}s; acked {} failed {} skipped {}; {recovered}/{} partitions written since",
            plan.repetitions,
            plan.fault,
            (fault_ms - start_ms) as f64 / 1000.0,
            (now_ms() - start_ms) as f64 / 1000.0,
            counters.acked.load(Ordering::Relaxed),
            counters.failed.load(Ordering::Relaxed),
            counters.skipped.load(Ordering::Relaxed),
            partitions.len()
        ));
        if recovered == partitions.len() {
            // A little more, so the last recoveries have acknowledgements after them too.
            let at = *recovered_at.get_or_insert_with(Instant::now);
            if at.elapsed() >= Duration::from_secs(1) {
                break;
            }
        }
        if waited.elapsed() > plan.max_wait {
            break;
        }
    }
    let acks = producer.stop().await;
    let end_ms = now_ms();
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    progress(&format!(
        "lab: run {repetition}: reading every acknowledged record back"
    ));
    let after = refresh(&client, &topics).await?;
    let (verification, checks) = verify::check(&client, &partitions, &acks).await;
    let moved: Vec<(String, i32)> = partitions
        .iter()
        .zip(&leaders_before)
        .filter(|(tp, l)| after.leader(&tp.0, tp.1) != Some(**l))
        .map(|(tp, _)| tp.clone())
        .collect();
    let mut phases = watch.finish();
    phases.extend(phases::state_write_times(&zk, &moved, fault_ms).await?);
    // The acknowledgement phases are written by the controller a moment after the clients see them.
    tokio::time::sleep(Duration::from_millis(300)).await;
    phases.extend(phases::read_event_files(
        &cluster.event_files,
        fault_ms,
        now_ms(),
    ));
    phases.extend(kafka_log::read(&cluster.kafka_logs, fault_ms, now_ms()));
    phases.sort_by_key(|p| p.ts_ms);
    let results: Vec<PartitionResult> = partitions
        .iter()
        .enumerate()
        .map(|(i, (t, p))| {
            let check = checks[i].unwrap_or((0, 0));
            partition_result(
                t,
                *p,
                leaders_before[i],
                after.leader(t, *p).unwrap_or(-1),
                victim,
                fault_ms,
                &acks[i],
                check,
            )
        })
        .collect();
    match &cluster.local {
        Some(local) => {
            let logs = plan.out.join(format!("logs-run-{repetition}"));
            if let Err(e) = local.keep_logs(&logs) {
                tracing::warn!(error = %e, "cannot keep the cluster's logs");
            }
        }
        // A running cluster is left without the lab's topics (deleted once every replica's
        // broker is back, as topic deletion in ZooKeeper mode waits for them).
        None => {
            if let Err(e) = delete_topics(&client, &topics).await {
                tracing::warn!(error = %e, "cannot delete the lab's topics");
            }
        }
    }
    drop(zk);
    let stats = RunStats::of(&results);
    Ok(RunResult {
        repetition,
        start_ms,
        fault_ms,
        end_ms,
        fault_broker: victim,
        fault_broker_was_controller: victim == controller_before,
        controller_before,
        phases,
        partitions: results,
        stats,
        verification,
    })
}

#[allow(clippy::too_many_arguments)]
fn partition_result(
    topic: &str,
    partition: i32,
    leader_before: i32,
    leader_after: i32,
    victim: i32,
    fault_ms: i64,
    acks: &[Ack],
    (lost, duplicated): (u64, u64),
) -> PartitionResult {
    let last_before = acks
        .iter()
        .filter(|a| a.acked_ms <= fault_ms)
        .map(|a| a.acked_ms)
        .max()
        .unwrap_or(-1);
    let first_after = acks
        .iter()
        .filter(|a| a.sent_ms >= fault_ms)
        .map(|a| a.acked_ms)
        .min()
        .unwrap_or(-1);
    let known = last_before >= 0 && first_after >= 0;
    PartitionResult {
        topic: topic.to_owned(),
        partition,
        leader_before,
        leader_after,
        affected: leader_before == victim,
        last_ack_before_ms: last_before,
        first_ack_after_ms: first_after,
        gap_ms: if known { first_after - last_before } else { -1 },
        unavailable_ms: if first_after >= 0 {
            first_after - fault_ms
        } else {
            -1
        },
        acked: acks.len() as u64,
        lost,
        duplicated,
    }
}

/// The broker the fault hits: the controller for `controller`; otherwise the broker leading the
/// most lab partitions among the others (the controller only when it is the sole leader).
fn choose_victim(
    md: &ClusterMetadata,
    partitions: &[(String, i32)],
    fault: Fault,
) -> anyhow::Result<i32> {
    if fault.hits_controller() {
        if md.controller_id < 0 {
            bail!("the cluster has no controller");
        }
        return Ok(md.controller_id);
    }
    let mut led: BTreeMap<i32, usize> = BTreeMap::new();
    for (t, p) in partitions {
        if let Some(l) = md.leader(t, *p).filter(|l| *l >= 0) {
            *led.entry(l).or_default() += 1;
        }
    }
    led.iter()
        .filter(|(id, _)| **id != md.controller_id)
        .max_by_key(|(id, n)| (**n, -**id))
        .or_else(|| led.iter().max_by_key(|(_, n)| **n))
        .map(|(id, _)| *id)
        .context("no broker leads a lab partition")
}

async fn create_topics(
    client: &ClusterClient,
    topics: &[String],
    s: &Settings,
) -> anyhow::Result<()> {
    let md = client.refresh_metadata(Some(&[])).await?;
    let conn = if md.controller_id >= 0 {
        client.broker_connection(md.controller_id).await?
    } else {
        client.any_connection().await?
    };
    let version = conn.version_for::<CreateTopicsRequest>(5)?;
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(60_000)
        .with_topics(
            topics
                .iter()
                .map(|t| {
                    CreatableTopic::default()
                        .with_name(TopicName(StrBytes::from_string(t.clone())))
                        .with_num_partitions(s.partitions_per_topic)
                        .with_replication_factor(s.replication_factor)
                        .with_configs(vec![CreatableTopicConfig::default()
                            .with_name(StrBytes::from_static_str("min.insync.replicas"))
                            .with_value(Some(StrBytes::from_string(
                                s.min_insync_replicas.to_string(),
                            )))])
                })
                .collect(),
        );
    let resp = conn.send(req, version).await?;
    for t in &resp.topics {
        crate::client::check_code(t.error_code, || format!("creating topic {}", t.name.0))?;
    }
    Ok(())
}

/// Metadata for `topics`, retried: on a busy machine one Metadata request may time out, and a
/// run must not be lost for it.
async fn refresh(
    client: &ClusterClient,
    topics: &[String],
) -> anyhow::Result<Arc<ClusterMetadata>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.refresh_metadata(Some(topics)).await {
            Ok(md) => return Ok(md),
            Err(e) if attempt < 10 => {
                tracing::debug!(attempt, error = %e, "lab metadata refresh failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e).context("reading metadata"),
        }
    }
}

async fn delete_topics(client: &ClusterClient, topics: &[String]) -> anyhow::Result<()> {
    let md = client.refresh_metadata(Some(&[])).await?;
    let conn = client.broker_connection(md.controller_id).await?;
    let version = conn.version_for::<DeleteTopicsRequest>(6)?;
    let names: Vec<TopicName> = topics
        .iter()
        .map(|t| TopicName(StrBytes::from_string(t.clone())))
        .collect();
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(1000);
    if version >= 6 {
        req.topics = names
            .into_iter()
            .map(|n| DeleteTopicState::default().with_name(Some(n)))
            .collect();
    } else {
        req.topic_names = names;
    }
    // A timeout only means the deletion waits for a broker; the topics are marked for it.
    conn.send(req, version).await?;
    Ok(())
}

async fn wait_for_leaders(
    client: &ClusterClient,
    topics: &[String],
    timeout: Duration,
) -> anyhow::Result<Arc<ClusterMetadata>> {
    let started = Instant::now();
    loop {
        if let Ok(md) = client.refresh_metadata(Some(topics)).await {
            let ready = topics.iter().all(|t| {
                md.topics.get(t).is_some_and(|tm| {
                    !tm.partitions.is_empty() && tm.partitions.iter().all(|p| p.leader >= 0)
                })
            });
            if ready {
                return Ok(md);
            }
        }
        if started.elapsed() > timeout {
            bail!("the lab's topics did not all get leaders within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Runs every repetition and writes `result.json`, `partitions.csv`, `report.html` and
/// `report.svg` into the plan's output directory.
pub async fn run(plan: &Plan, label: String, target: String) -> anyhow::Result<LabResult> {
    std::fs::create_dir_all(&plan.out)
        .with_context(|| format!("creating {}", plan.out.display()))?;
    if plan.repetitions > 1
        && matches!(plan.target, Target::Running { .. })
        && plan.fault.ends_process()
    {
        bail!(
            "--repetitions {} on a running cluster needs a fault that leaves the broker running \
             (stop): the lab cannot restart a broker it did not start; run it once per repetition",
            plan.repetitions
        );
    }
    let mut runs = Vec::new();
    for k in 1..=plan.repetitions {
        let run = run_once(plan, k)
            .await
            .with_context(|| format!("run {k}"))?;
        eprintln!(
            "lab: run {k}: {} partitions led by broker {}: unavailable p50 {} ms, p99 {} ms, max {} ms; {} acknowledged, {} lost, {} duplicated",
            run.stats.affected_partitions,
            run.fault_broker,
            run.stats.p50_ms,
            run.stats.p99_ms,
            run.stats.max_ms,
            run.verification.acked,
            run.verification.lost,
            run.verification.duplicated
        );
        runs.push(run);
        if matches!(plan.fault, Fault::Stop(_)) && k < plan.repetitions {
            // The stopped broker resumes and catches up before the next repetition.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
    let result = LabResult {
        schema_version: SCHEMA_VERSION,
        label,
        target,
        settings: plan.settings.clone(),
        summary: Summary::of(&runs),
        runs,
    };
    write_json(&result, &plan.out.join("result.json"))?;
    std::fs::write(plan.out.join("partitions.csv"), csv(&result))?;
    std::fs::write(plan.out.join("report.html"), report::html(&result))?;
    std::fs::write(plan.out.join("report.svg"), report::svg(&result))?;
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(seq: u64, sent_ms: i64, acked_ms: i64) -> Ack {
        Ack {
            seq,
            offset: seq as i64,
            sent_ms,
            acked_ms,
        }
    }

    #[test]
    fn the_gap_runs_from_the_last_ack_before_to_the_first_record_sent_after() {
        // Record 3 was sent before the fault and acknowledged after it: it ends no gap.
        let acks = [
            ack(1, 900, 910),
            ack(2, 990, 995),
            ack(3, 998, 7_000),
            ack(4, 6_500, 7_100),
            ack(5, 6_600, 7_200),
        ];
        let r = partition_result("t", 0, 1, 2, 1, 1_000, &acks, (0, 0));
        assert!(r.affected);
        assert_eq!(r.last_ack_before_ms, 995);
        assert_eq!(r.first_ack_after_ms, 7_100);
        assert_eq!(r.gap_ms, 6_105);
        assert_eq!(r.unavailable_ms, 6_100);
        assert_eq!(r.acked, 5);
        let never = partition_result("t", 1, 2, 2, 1, 1_000, &acks[..2], (0, 0));
        assert!(!never.affected);
        assert_eq!((never.first_ack_after_ms, never.gap_ms), (-1, -1));
    }
}
