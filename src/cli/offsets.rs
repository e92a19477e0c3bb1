//! `zkafka offsets migrate`: copies a group's committed offsets between ZooKeeper
//! (`/consumers/<group>/offsets`, what Kafka 0.8's consumers and zkafka's default storage use) and
//! Kafka's storage (`__consumer_offsets`, reached through the group coordinator of the cluster at
//! `--bootstrap-server` with OffsetFetch/OffsetCommit, as Kafka's `kafka-consumer-groups.sh
//! --reset-offsets` does). Idempotent: partitions whose target already holds the source's offset
//! are left alone, so a second run copies nothing. `--dry-run` prints the plan only.

use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    FindCoordinatorRequest, GroupId, OffsetCommitRequest, OffsetFetchRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::client::{check_code, ClientError, ClusterClient, Connection};
use crate::coordinator::{
    CommittedOffset, OffsetExtra, OffsetStore, OffsetWrite, TopicPartition, ZkOffsetStore,
};
use crate::zk::{KafkaZkClient, ZkSettings};

#[derive(Debug, Args)]
pub struct OffsetsArgs {
    #[command(subcommand)]
    pub command: OffsetsCommand,
}

#[derive(Debug, Subcommand)]
pub enum OffsetsCommand {
    /// Copy a group's committed offsets from one storage to the other.
    Migrate(MigrateArgs),
}

/// Where committed offsets are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Storage {
    /// `/consumers/<group>/offsets/<topic>/<partition>` in ZooKeeper (`--zookeeper`).
    Zookeeper,
    /// `__consumer_offsets`, through the group coordinator (`--bootstrap-server`).
    Kafka,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The consumer group whose offsets are copied.
    #[arg(long)]
    pub group: String,
    #[arg(long, value_enum)]
    pub from: Storage,
    #[arg(long, value_enum)]
    pub to: Storage,
    /// The cluster whose group coordinator keeps Kafka-stored offsets.
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    /// ZooKeeper connect string, with the cluster's chroot if it has one.
    #[arg(long, value_name = "HOST:PORT[/CHROOT]")]
    pub zookeeper: String,
    /// Print what would be copied, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Timeout of each request and of the ZooKeeper connection.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: u64,
}

pub async fn run(args: OffsetsArgs) -> anyhow::Result<()> {
    match args.command {
        OffsetsCommand::Migrate(m) => migrate(m).await,
    }
}

/// The two storages, connected.
struct Storages {
    zk: ZkOffsetStore,
    coordinator: Connection,
}

impl Storages {
    async fn read(
        &self,
        s: Storage,
        group: &str,
    ) -> anyhow::Result<Vec<(TopicPartition, i64, OffsetExtra)>> {
        Ok(match s {
            Storage::Zookeeper => self
                .zk
                .fetch(group, None)
                .await
                .context("reading offsets from ZooKeeper")?
                .into_iter()
                .filter_map(|(tp, c)| c.map(|c| with_extra(tp, c)))
                .collect(),
            Storage::Kafka => kafka_fetch(&self.coordinator, group).await?,
        })
    }

    async fn write(&self, s: Storage, group: &str, w: Vec<OffsetWrite>) -> anyhow::Result<()> {
        match s {
            Storage::Zookeeper => self
                .zk
                .commit(group, w)
                .await
                .context("writing offsets to ZooKeeper"),
            Storage::Kafka => kafka_commit(&self.coordinator, group, w).await,
        }
    }
}

fn with_extra(tp: TopicPartition, c: CommittedOffset) -> (TopicPartition, i64, OffsetExtra) {
    let extra = c.extra.unwrap_or(OffsetExtra {
        metadata: Some(String::new()),
        leader_epoch: -1,
        commit_timestamp_ms: -1,
    });
    (tp, c.offset, extra)
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    if args.from == args.to {
        bail!("--from and --to name the same storage");
    }
    let timeout = Duration::from_millis(args.timeout_ms);
    let mut settings = ZkSettings::new(args.zookeeper.clone());
    settings.connection_timeout = timeout;
    let zk = KafkaZkClient::connect(&settings)
        .await
        .with_context(|| format!("connecting to ZooKeeper at {}", args.zookeeper))?;
    let cluster = ClusterClient::bootstrap(&args.bootstrap_server, "zkafka-offsets", timeout)
        .await
        .with_context(|| format!("connecting to {}", args.bootstrap_server))?;
    let coordinator = find_coordinator(&cluster, &args.group, timeout).await?;
    let storages = Storages {
        zk: ZkOffsetStore::with_client(zk),
        coordinator,
    };
    let source = storages.read(args.from, &args.group).await?;
    let target = storages.read(args.to, &args.group).await?;
    let mut writes = Vec::new();
    let mut in_place = 0;
    let verb = if args.dry_run { "would copy" } else { "copy" };
    for (tp, offset, extra) in source {
        let there = target.iter().find(|(t, _, _)| *t == tp).map(|(_, o, _)| *o);
        if there == Some(offset) {
            in_place += 1;
            continue;
        }
        let was = there.map_or("-".to_string(), |o| o.to_string());
        println!(
            "{verb} {} {} {} {offset} (target had {was})",
            args.group, tp.topic, tp.partition
        );
        writes.push(OffsetWrite {
            tp,
            offset,
            extra: Some(extra),
        });
    }
    let n = writes.len();
    if !args.dry_run && !writes.is_empty() {
        storages.write(args.to, &args.group, writes).await?;
    }
    let done = if args.dry_run { "to copy" } else { "copied" };
    println!("{n} {done}, {in_place} already in place");
    Ok(())
}

/// The group's coordinator, asking until the cluster has one (the first lookup creates
/// `__consumer_offsets`, whose leaders take a moment to be elected).
async fn find_coordinator(
    cluster: &ClusterClient,
    group: &str,
    timeout: Duration,
) -> anyhow::Result<Connection> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let conn = cluster.any_connection().await?;
        let req = FindCoordinatorRequest::default()
            .with_key(StrBytes::from_string(group.to_owned()))
            .with_key_type(0);
        let (_, resp) = conn.send_negotiated(req, 3).await?;
        if resp.error_code == 0 {
            let addr = format!("{}:{}", resp.host.as_str(), resp.port);
            let c = Connection::connect(&addr, cluster.client_id(), timeout)
                .await?
                .with_request_timeout(timeout);
            c.api_versions().await?;
            return Ok(c);
        }
        if tokio::time::Instant::now() >= deadline {
            check_code(resp.error_code, || {
                format!("finding the coordinator of {group}")
            })?;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn kafka_fetch(
    conn: &Connection,
    group: &str,
) -> anyhow::Result<Vec<(TopicPartition, i64, OffsetExtra)>> {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_topics(None);
    let (_, resp) = conn.send_negotiated(req, 7).await?;
    check_code(resp.error_code, || format!("fetching offsets of {group}"))?;
    let mut out = Vec::new();
    for t in &resp.topics {
        for p in &t.partitions {
            check_code(p.error_code, || {
                format!("fetching {group} {}-{}", t.name.as_str(), p.partition_index)
            })?;
            if p.committed_offset < 0 {
                continue;
            }
            out.push((
                TopicPartition::new(t.name.as_str(), p.partition_index),
                p.committed_offset,
                OffsetExtra {
                    metadata: p.metadata.as_ref().map(|m| m.to_string()),
                    leader_epoch: p.committed_leader_epoch,
                    commit_timestamp_ms: -1,
                },
            ));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A standalone commit (generation -1, no member), refused by the coordinator while the group
/// has members, as Kafka's `--reset-offsets` is.
async fn kafka_commit(
    conn: &Connection,
    group: &str,
    writes: Vec<OffsetWrite>,
) -> anyhow::Result<()> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for w in &writes {
        let extra = w.extra.as_ref();
        let p = OffsetCommitRequestPartition::default()
            .with_partition_index(w.tp.partition)
            .with_committed_offset(w.offset)
            .with_committed_leader_epoch(extra.map_or(-1, |e| e.leader_epoch))
            .with_committed_metadata(
                extra
                    .and_then(|e| e.metadata.clone())
                    .map(StrBytes::from_string),
            );
        match topics.iter_mut().find(|t| t.name.as_str() == w.tp.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(
                OffsetCommitRequestTopic::default()
                    .with_name(TopicName(StrBytes::from_string(w.tp.topic.clone())))
                    .with_partitions(vec![p]),
            ),
        }
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(StrBytes::from_string(group.to_owned())))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(topics);
    let (_, resp) = conn.send_negotiated(req, 8).await?;
    for t in &resp.topics {
        for p in &t.partitions {
            check_code(p.error_code, || {
                format!(
                    "committing {group} {}-{}",
                    t.name.as_str(),
                    p.partition_index
                )
            })
            .map_err(|e: ClientError| anyhow::anyhow!(e))?;
        }
    }
    Ok(())
}
