//! `zkafka topics`: kafka-topics.sh's `--create`, `--list`, `--describe`, `--delete`, with its
//! flags and output format, over CreateTopics, DeleteTopics, Metadata and DescribeConfigs.

use std::time::Duration;

use anyhow::{bail, Context};
use base64::Engine;
use clap::{ArgGroup, Args};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, DescribeConfigsRequest, TopicName,
};

use crate::client::{check_code, ClientError, ClusterClient, ClusterMetadata, Connection};
use crate::metadata::str_bytes;

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("action").required(true).args(["create", "list", "describe", "delete"])))]
pub struct TopicsArgs {
    /// Broker(s) to connect to, host:port[,host:port...].
    #[arg(long, value_name = "HOST:PORT")]
    pub bootstrap_server: String,
    /// Create a new topic.
    #[arg(long)]
    pub create: bool,
    /// List all topics.
    #[arg(long)]
    pub list: bool,
    /// Describe a topic (all topics without --topic).
    #[arg(long)]
    pub describe: bool,
    /// Delete a topic.
    #[arg(long)]
    pub delete: bool,
    /// The topic to create, describe or delete.
    #[arg(long)]
    pub topic: Option<String>,
    /// Number of partitions (broker default `num.partitions` if absent).
    #[arg(long)]
    pub partitions: Option<i32>,
    /// Replication factor (broker default `default.replication.factor` if absent).
    #[arg(long)]
    pub replication_factor: Option<i16>,
    /// A topic config override key=value (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE")]
    pub configs: Vec<String>,
    /// With --create: succeed if the topic already exists.
    #[arg(long)]
    pub if_not_exists: bool,
    /// With --delete: succeed if the topic does not exist.
    #[arg(long)]
    pub if_exists: bool,
    /// Admin request timeout in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub timeout_ms: i32,
}

fn need_topic(args: &TopicsArgs, action: &str) -> anyhow::Result<String> {
    args.topic
        .clone()
        .with_context(|| format!("--{action} requires --topic"))
}

pub async fn run(args: TopicsArgs) -> anyhow::Result<()> {
    print!("{}", execute(&args).await?);
    Ok(())
}

/// Runs the action and returns what kafka-topics.sh would print.
pub async fn execute(args: &TopicsArgs) -> anyhow::Result<String> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1) as u64);
    let client = ClusterClient::bootstrap(&args.bootstrap_server, "zkafka-topics", timeout)
        .await
        .with_context(|| format!("connecting to {}", args.bootstrap_server))?;
    if args.create {
        create(&client, args).await
    } else if args.delete {
        delete(&client, args).await.map(|()| String::new())
    } else if args.list {
        let md = client
            .refresh_metadata(None)
            .await
            .context("reading metadata")?;
        Ok(format_list(&md))
    } else {
        describe(&client, args).await
    }
}

/// CreateTopics and DeleteTopics must reach the controller.
async fn controller(client: &ClusterClient) -> anyhow::Result<std::sync::Arc<Connection>> {
    let md = client.refresh_metadata(Some(&[])).await?;
    let conn = if md.controller_id >= 0 {
        client.broker_connection(md.controller_id).await?
    } else {
        client.any_connection().await?
    };
    Ok(conn)
}

/// `key=value` → config entry; the value may contain `=`.
pub fn parse_config(s: &str) -> anyhow::Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("invalid --config '{s}': expected key=value"),
    }
}

/// Builds the CreateTopics request; absent partitions/replication factor mean "broker default"
/// (-1, KIP-464) at v4+, and 1 for older brokers.
pub fn create_request(args: &TopicsArgs, version: i16) -> anyhow::Result<CreateTopicsRequest> {
    let topic = need_topic(args, "create")?;
    let default = if version >= 4 { -1 } else { 1 };
    let configs = args
        .configs
        .iter()
        .map(|c| {
            let (k, v) = parse_config(c)?;
            Ok(CreatableTopicConfig::default()
                .with_name(str_bytes(k))
                .with_value(Some(str_bytes(v))))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(CreateTopicsRequest::default()
        .with_topics(vec![CreatableTopic::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_num_partitions(args.partitions.unwrap_or(default))
            .with_replication_factor(args.replication_factor.unwrap_or(default as i16))
            .with_configs(configs)])
        .with_timeout_ms(args.timeout_ms))
}

async fn create(client: &ClusterClient, args: &TopicsArgs) -> anyhow::Result<String> {
    let conn = controller(client).await?;
    let version = conn.version_for::<CreateTopicsRequest>(7)?;
    let req = create_request(args, version)?;
    let topic = need_topic(args, "create")?;
    let resp = conn
        .send(req, version)
        .await
        .with_context(|| format!("creating topic {topic}"))?;
    let mut out = String::new();
    for t in &resp.topics {
        match check_code(t.error_code, || format!("creating topic {}", t.name.0)) {
            Err(ClientError::Kafka {
                error: kafka_protocol::error::ResponseError::TopicAlreadyExists,
                ..
            }) if args.if_not_exists => {}
            Err(e) => {
                let msg = t.error_message.as_deref().unwrap_or_default();
                return Err(e).with_context(|| msg.to_owned());
            }
            Ok(()) => out.push_str(&format!("Created topic {}.\n", t.name.0)),
        }
    }
    Ok(out)
}

async fn delete(client: &ClusterClient, args: &TopicsArgs) -> anyhow::Result<()> {
    let topic = need_topic(args, "delete")?;
    let conn = controller(client).await?;
    let version = conn.version_for::<DeleteTopicsRequest>(6)?;
    let name = TopicName(str_bytes(topic.clone()));
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(args.timeout_ms);
    if version >= 6 {
        req.topics = vec![DeleteTopicState::default().with_name(Some(name))];
    } else {
        req.topic_names = vec![name];
    }
    let resp = conn
        .send(req, version)
        .await
        .with_context(|| format!("deleting topic {topic}"))?;
    for r in &resp.responses {
        match check_code(r.error_code, || format!("deleting topic {topic}")) {
            Err(ClientError::Kafka {
                error: kafka_protocol::error::ResponseError::UnknownTopicOrPartition,
                ..
            }) if args.if_exists => {}
            other => other?,
        }
    }
    Ok(())
}

async fn describe(client: &ClusterClient, args: &TopicsArgs) -> anyhow::Result<String> {
    let wanted = args.topic.clone().map(|t| vec![t]);
    let md = client
        .refresh_metadata(wanted.as_deref())
        .await
        .context("reading metadata")?;
    let conn = client.any_connection().await?;
    let mut out = String::new();
    for topic in md.topics.values() {
        check_code(topic.error_code, || {
            format!("describing topic {}", topic.name)
        })?;
        let configs = topic_configs(&conn, &topic.name).await.unwrap_or_else(|e| {
            tracing::debug!(topic = topic.name, error = %e, "DescribeConfigs failed");
            Vec::new()
        });
        out.push_str(&format_describe(&md, &topic.name, &configs));
    }
    Ok(out)
}

/// The topic's non-default configs (what kafka-topics.sh prints after `Configs:`).
async fn topic_configs(
    conn: &Connection,
    topic: &str,
) -> Result<Vec<(String, String)>, ClientError> {
    const TOPIC: i8 = 2;
    const DEFAULT_CONFIG: i8 = 5;
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(TOPIC)
            .with_resource_name(str_bytes(topic))]);
    let (version, resp) = conn.send_negotiated(req, 4).await?;
    let mut out = Vec::new();
    for r in resp.results {
        check_code(r.error_code, || format!("describing configs of {topic}"))?;
        for c in r.configs {
            let default = if version == 0 {
                c.is_default
            } else {
                c.config_source == DEFAULT_CONFIG
            };
            if !default && !c.is_sensitive {
                out.push((
                    c.name.to_string(),
                    c.value.map(|v| v.to_string()).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// `--list` output: topic names, one per line, sorted.
pub fn format_list(md: &ClusterMetadata) -> String {
    md.topics.keys().map(|t| format!("{t}\n")).collect()
}

fn join(ids: &[i32]) -> String {
    ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// `--describe` output for one topic, in kafka-topics.sh's layout; topic ids print as Kafka's
/// `Uuid.toString()` does (URL-safe base64, no padding).
pub fn format_describe(md: &ClusterMetadata, topic: &str, configs: &[(String, String)]) -> String {
    let Some(t) = md.topics.get(topic) else {
        return String::new();
    };
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t.topic_id.as_bytes());
    let rf = t.partitions.first().map_or(0, |p| p.replicas.len());
    let configs = configs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let mut out = format!(
        "Topic: {topic}\tTopicId: {id}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {configs}\n",
        t.partitions.len()
    );
    for p in &t.partitions {
        let leader = if p.leader >= 0 {
            p.leader.to_string()
        } else {
            "none".to_owned()
        };
        out.push_str(&format!(
            "\tTopic: {topic}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
            p.partition,
            join(&p.replicas),
            join(&p.isr)
        ));
        if !p.offline_replicas.is_empty() {
            out.push_str(&format!("\tOffline: {}", join(&p.offline_replicas)));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
#[path = "topics_tests.rs"]
mod tests;
