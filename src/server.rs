//! Broker start-up and shutdown (Kafka's `KafkaServer`): ZooKeeper session, cluster id, broker id,
//! log recovery, listeners, registration, controller, and requests processed once the controller's
//! first UpdateMetadata names this broker; then SIGTERM (at any point, ZooKeeper up or not) →
//! controlled shutdown (leaderships move away while we still serve) → stop accepting, finish
//! in-flight requests, flush, deregister, exit 0. A ZooKeeper session expiry builds a new session, registers again and tells the
//! controller to re-run its election.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::api::{KafkaApis, ProducerIdManager};
use crate::config::{DynamicBrokerConfig, KafkaConfig, TopicConfig};
use crate::controlled_shutdown::{request_controlled_shutdown, ControlledShutdownSettings};
use crate::controller::{
    self, ControllerConfig, ControllerEvent, ControllerHandle, ControllerQueue,
};
use crate::coordinator::{start_group_coordinator, GroupCoordinator};
use crate::dynamic_config::{load_broker_configs, run_config_changes, ConfigTargets};
use crate::log::cleaner::{CleanableLog, CleanerConfig, LogSource, ReconfigurableCleaner};
use crate::log::manager::{log_config, LogManager};
use crate::metadata::MetadataCache;
use crate::metrics;
use crate::network;
use crate::replica::{
    run_housekeeping, run_log_dir_failure_handler, HousekeepingIntervals, ReplicaManager,
};
use crate::zk::{
    self, BrokerRegistration, KafkaZkClient, ListenerEndpoint, SessionInfo, ZkSettings,
};

/// How long to wait between attempts to rebuild an expired ZooKeeper session.
const SESSION_RETRY: Duration = Duration::from_secs(1);

/// Runs a broker from a `server.properties` file plus `--override key=value` pairs, until SIGTERM.
pub fn main(properties: &Path, overrides: &[(String, String)]) -> anyhow::Result<()> {
    let (config, warnings) = KafkaConfig::load(properties, overrides)?;
    for w in warnings {
        warn!("{w}");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(run(Arc::new(config)))
}

fn zk_settings(config: &KafkaConfig) -> ZkSettings {
    ZkSettings {
        connect: zk_connect_string(config),
        session_timeout: Duration::from_millis(config.zookeeper_session_timeout_ms.max(0) as u64),
        connection_timeout: Duration::from_millis(
            config.zookeeper_connection_timeout_ms.max(0) as u64
        ),
        set_acl: config.zookeeper_set_acl,
        // Checked once by connect_zk, before the first session.
        sasl: zk_sasl().ok().flatten(),
    }
}

/// ZooKeeper SASL credentials from the JAAS file `KAFKA_OPTS` names, as Kafka's scripts take it.
fn zk_sasl() -> Result<Option<crate::zk::ZkSaslCredentials>, String> {
    crate::zk::credentials_from_kafka_opts(&std::env::var("KAFKA_OPTS").unwrap_or_default())
}

/// `zookeeper.connect` as ZooKeeper clients write it: `h1:2181,h2:2181/chroot`.
fn zk_connect_string(config: &KafkaConfig) -> String {
    let zk = &config.zookeeper_connect;
    format!("{}{}", zk.hosts(), zk.chroot.as_deref().unwrap_or(""))
}

async fn connect_zk(config: &KafkaConfig) -> anyhow::Result<KafkaZkClient> {
    zk_sasl().map_err(|e| anyhow::anyhow!(e))?;
    KafkaZkClient::connect(&zk_settings(config))
        .await
        .with_context(|| {
            format!(
                "cannot connect to ZooKeeper (zookeeper.connect={})",
                zk_connect_string(config)
            )
        })
}

fn machine_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".to_string())
}

/// The registration to write: advertised listeners, with port 0 replaced by the bound port and an
/// empty host by this machine's name.
fn registration(config: &KafkaConfig, bound: &[network::BoundListener]) -> BrokerRegistration {
    let endpoints: Vec<ListenerEndpoint> = config
        .advertised_with_bound_ports(bound)
        .into_iter()
        .map(|l| ListenerEndpoint {
            security_protocol: l.security_protocol.name().to_string(),
            host: if l.host.is_empty() {
                machine_hostname()
            } else {
                l.host
            },
            listener: l.name,
            port: l.port,
        })
        .collect();
    BrokerRegistration::new(&endpoints, config.broker_rack.clone())
}

/// SIGTERM and SIGINT, installed before anything else so that a signal at any point of start-up,
/// a ZooKeeper outage or a session being rebuilt stops the broker instead of killing it mid-write
/// or being ignored.
struct StopSignals {
    sigterm: Signal,
    sigint: Signal,
}

impl StopSignals {
    fn install() -> anyhow::Result<Self> {
        Ok(StopSignals {
            sigterm: signal(SignalKind::terminate())
                .context("cannot install the SIGTERM handler")?,
            sigint: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.sigterm.recv() => {}
            _ = self.sigint.recv() => {}
        }
    }

    /// Runs one start-up step unless a stop signal comes first (`None`); the steps that wait on
    /// ZooKeeper can take up to its connection or session timeout while it is down.
    async fn unless_stopped<T>(
        &mut self,
        step: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<Option<T>> {
        tokio::select! {
            done = step => done.map(Some),
            () = self.recv() => {
                info!("stop signal during start-up; exiting before serving");
                Ok(None)
            }
        }
    }
}

async fn run(config: Arc<KafkaConfig>) -> anyhow::Result<()> {
    let mut signals = StopSignals::install()?;
    let Some(zk) = signals.unless_stopped(connect_zk(&config)).await? else {
        return Ok(());
    };
    let Some((cluster_id, broker_id)) = signals.unless_stopped(identify(&zk, &config)).await?
    else {
        return Ok(());
    };
    // Kafka's `DynamicBrokerConfig.initialize`: `/config/brokers` overrides the file before the
    // logs load with the topic defaults.
    let dynamic = Arc::new(DynamicBrokerConfig::new(config.clone()));
    let loading = async {
        load_broker_configs(&zk, broker_id, &dynamic)
            .await
            .context("cannot read /config/brokers")
    };
    let Some(in_force) = signals.unless_stopped(loading).await? else {
        return Ok(());
    };
    let logs = LogManager::open(&config.log_dirs, broker_id, &cluster_id)?;
    let defaults =
        TopicConfig::new(&in_force, &Default::default()).context("invalid topic defaults")?;
    let loaded = logs.load_logs(&log_config(&defaults))?;
    let replicas = Arc::new(ReplicaManager::new(broker_id, logs, loaded));
    let metadata = Arc::new(MetadataCache::new(cluster_id.clone()));

    let mut listeners = network::bind(&config.bind_addresses())
        .await
        .context("cannot bind listeners")?;
    let reg = registration(&config, &listeners);
    let bound: Vec<String> = listeners
        .iter()
        .map(|l| format!("{}://{}", l.name, l.local_addr))
        .collect();

    let (zk_tx, zk_rx) = watch::channel(zk.clone());
    let credentials = Arc::new(crate::security::ZkCredentials(zk_rx.clone()));
    config
        .secure_listeners(&mut listeners, credentials)
        .context("cannot set up TLS/SASL")?;
    crate::client::set_inter_broker_security(
        crate::client::ClientSecurity::inter_broker(config.inter_broker_security())
            .map_err(|e| anyhow::anyhow!("inter-broker TLS: {e}"))?,
    );
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let groups = start_group_coordinator(
        &config,
        zk_rx.clone(),
        replicas.clone(),
        shutdown_rx.clone(),
    );
    let (controller, controller_queue) = ControllerHandle::new();
    let authorizer = crate::security::authorizer::start(&config, &zk, &zk_rx, &shutdown_rx)
        .await
        .context("cannot load ACLs")?;
    let apis = Arc::new(KafkaApis {
        broker_id,
        config: config.clone(),
        dynamic: dynamic.clone(),
        replicas: replicas.clone(),
        metadata: metadata.clone(),
        zk: zk_rx.clone(),
        producer_ids: ProducerIdManager::default(),
        groups: groups.clone(),
        controller: controller.clone(),
        fence: Default::default(),
        follower_epochs: Default::default(),
        request_processing: Default::default(),
        authorizer,
    });
    let net_config = in_force.network_config();
    let (quotas_tx, quotas_rx) = watch::channel(net_config.quotas.clone());
    let replication = replicas.start_replication(&config, metadata.clone(), shutdown_rx.clone());
    // The throttle rates may be dynamic broker configs, already read.
    replicas.quotas().apply_broker(&in_force, false);
    let network = tokio::spawn(network::serve_with_quotas(
        listeners,
        apis.clone(),
        net_config,
        quotas_rx,
        shutdown_rx.clone(),
    ));
    let state = metrics::LiveBroker {
        broker_id,
        replicas: replicas.clone(),
        controller: controller.clone(),
        zk: zk_rx.clone(),
    };
    let metrics_endpoint = metrics::startup::start(&config, state, shutdown_rx.clone()).await?;

    // The listeners are open (the registration carries their ports) but hold client requests
    // until the controller's first UpdateMetadata arrives (see `RequestProcessing`).
    let registered = async {
        zk.register_broker(broker_id, &reg)
            .await
            .context("cannot register the broker")
    };
    let Some(epoch) = signals.unless_stopped(registered).await? else {
        // Nothing was written since the logs were opened; only the listeners must close.
        let _ = shutdown_tx.send(true);
        let _ = network.await;
        return Ok(());
    };
    replicas.set_broker_epoch(epoch);
    info!(broker_id, broker_epoch = epoch, cluster_id = %cluster_id, endpoints = ?bound, "broker registered");

    let tasks = BackgroundTasks::start(
        &config,
        broker_id,
        Dynamic {
            config: dynamic,
            in_force,
            connection_quotas: quotas_tx,
        },
        &replicas,
        (&controller, controller_queue),
        zk_rx,
        shutdown_rx,
    )?;
    let broker = Running {
        config,
        broker_id,
        replicas,
        metadata,
        groups,
        controller,
        apis,
        reg,
        shutdown_tx,
        network,
        metrics_endpoint,
        replication,
        tasks,
    };
    let (current, started) = broker.serve_until_stopped(&mut signals, zk, zk_tx).await;
    broker.shut_down(current, started).await;
    Ok(())
}

/// Kafka's start-up before the logs: the persistent znodes, the cluster id, and the broker id
/// (configured, stored in `meta.properties`, or generated from `/brokers/seqid`).
async fn identify(zk: &KafkaZkClient, config: &KafkaConfig) -> anyhow::Result<(String, i32)> {
    zk.ensure_persistent_paths()
        .await
        .context("cannot create Kafka's persistent znodes")?;
    let cluster_id = zk
        .get_or_create_cluster_id(&zk::new_cluster_id())
        .await
        .context("cannot read /cluster/id")?;
    let broker_id = if config.broker_id >= 0 {
        config.broker_id
    } else if let Some(id) = LogManager::stored_broker_id(&config.log_dirs)? {
        id
    } else {
        zk.generate_broker_id(config.reserved_broker_max_id)
            .await
            .context("cannot generate a broker id from /brokers/seqid")?
    };
    Ok((cluster_id, broker_id))
}

/// A registered broker: what it runs and what its shutdown stops.
struct Running {
    config: Arc<KafkaConfig>,
    broker_id: i32,
    replicas: Arc<ReplicaManager>,
    metadata: Arc<MetadataCache>,
    groups: Arc<GroupCoordinator>,
    controller: ControllerHandle,
    apis: Arc<KafkaApis>,
    reg: BrokerRegistration,
    shutdown_tx: watch::Sender<bool>,
    network: JoinHandle<std::io::Result<()>>,
    metrics_endpoint: Option<JoinHandle<()>>,
    replication: JoinHandle<()>,
    tasks: BackgroundTasks,
}

impl Running {
    /// Serves until a stop signal, rebuilding the ZooKeeper session whenever it is lost; returns
    /// the session in use and whether start-up had finished (requests were being processed).
    async fn serve_until_stopped(
        &self,
        signals: &mut StopSignals,
        zk: KafkaZkClient,
        zk_tx: watch::Sender<KafkaZkClient>,
    ) -> (KafkaZkClient, bool) {
        let (config, broker_id, replicas) = (&self.config, self.broker_id, &self.replicas);
        let reg = &self.reg;
        let mut current = zk;
        // Kafka's `enableRequestProcessing` at the end of start-up: once the controller has told this
        // broker about the cluster, including itself.
        let ready = self
            .apis
            .request_processing
            .enable_when_ready(&self.metadata, broker_id);
        tokio::pin!(ready);
        let mut started = false;
        loop {
            tokio::select! {
                () = signals.recv() => break,
                () = &mut ready, if !started => {
                    started = true;
                    info!(broker_id, "started: processing requests");
                }
                _ = current.session_lost() => {
                    metrics::zk_session_expired();
                    warn!(broker_id, "ZooKeeper session lost; resuming it or building a new one");
                    let renewal = renew_session(config, broker_id, reg, replicas, current.session_info());
                    current = tokio::select! {
                        renewed = renewal => renewed,
                        // Kafka shuts down without ZooKeeper too: leaderships cannot move then, so
                        // the controlled shutdown below fails its retries and the broker stops.
                        () = signals.recv() => break,
                    };
                    let _ = zk_tx.send(current.clone());
                    self.groups.refresh_mirrors();
                    self.controller.send(ControllerEvent::SessionRenewed);
                }
            }
        }
        (current, started)
    }

    /// Kafka's shutdown: controlled shutdown (when start-up finished), then the listeners, the
    /// tasks, the logs, and the registration.
    async fn shut_down(self, current: KafkaZkClient, started: bool) {
        let (config, broker_id, replicas) = (&self.config, self.broker_id, &self.replicas);
        info!(broker_id, "shutting down");
        // Leaderships move away while this broker still serves, so clients only see a leader change.
        // As in Kafka, only a broker that finished starting asks (it may lead nothing yet otherwise,
        // and the controller it would ask may be unknown).
        if config.controlled_shutdown_enable && started {
            let settings = ControlledShutdownSettings {
                broker_id,
                broker_epoch: replicas.broker_epoch(),
                control_listener: config.control_listener_name().to_string(),
                max_retries: config.controlled_shutdown_max_retries,
                retry_backoff: Duration::from_millis(
                    config.controlled_shutdown_retry_backoff_ms.max(0) as u64,
                ),
                request_timeout: Duration::from_millis(config.request_timeout_ms.max(1) as u64),
            };
            request_controlled_shutdown(&settings, &self.metadata).await;
        }
        let _ = self.shutdown_tx.send(true);
        self.groups.shutdown();
        if let Ok(Err(e)) = self.network.await {
            warn!(error = %e, "listener error at shutdown");
        }
        if let Some(endpoint) = self.metrics_endpoint {
            let _ = endpoint.await;
        }
        self.tasks.join().await;
        let _ = self.replication.await;
        if let Err(e) = replicas.shutdown() {
            error!(error = %format!("{e:#}"), "flushing logs at shutdown failed");
        }
        // Without ZooKeeper these would wait for it; closing the session removes both ephemerals
        // anyway once ZooKeeper expires it, so they get one session timeout at most.
        let release = async {
            if let Err(e) = current.deregister_broker(broker_id).await {
                warn!(error = %e, "cannot remove the broker registration");
            }
            if let Err(e) = current.resign_controller(broker_id).await {
                warn!(error = %e, "cannot release /controller");
            }
        };
        if tokio::time::timeout(zk_settings(config).session_timeout, release)
            .await
            .is_err()
        {
            warn!("ZooKeeper did not answer; its session expiry will remove the registration");
        }
        current.close().await;
        info!(broker_id, "shut down cleanly");
    }
}

/// The dynamic broker configs: the store, the configuration in force at start-up, and the
/// connection quotas the listeners follow.
struct Dynamic {
    config: Arc<DynamicBrokerConfig>,
    in_force: Arc<KafkaConfig>,
    connection_quotas: watch::Sender<network::QuotaLimits>,
}

/// The tasks a registered broker runs besides its listeners and fetchers: the controller, config
/// changes, housekeeping (retention, flushes, checkpoints), log dir failures and the log cleaner.
struct BackgroundTasks {
    controller_task: JoinHandle<()>,
    config_changes: JoinHandle<()>,
    housekeeping: JoinHandle<()>,
    dir_failures: JoinHandle<()>,
    cleaner: Arc<ReconfigurableCleaner>,
}

impl BackgroundTasks {
    fn start(
        config: &Arc<KafkaConfig>,
        broker_id: i32,
        dynamic: Dynamic,
        replicas: &Arc<ReplicaManager>,
        (controller, controller_queue): (&ControllerHandle, ControllerQueue),
        zk_rx: watch::Receiver<KafkaZkClient>,
        shutdown_rx: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let controller_task = controller::start(
            ControllerConfig {
                broker_id,
                delete_topic_enable: config.delete_topic_enable,
                unclean_leader_election_enable: config.unclean_leader_election_enable,
                auto_leader_rebalance_enable: config.auto_leader_rebalance_enable,
                leader_imbalance_per_broker_percentage: config
                    .leader_imbalance_per_broker_percentage,
                leader_imbalance_check_interval: Duration::from_secs(
                    config.leader_imbalance_check_interval_seconds.max(1) as u64,
                ),
                inter_broker_listener: config.inter_broker_listener_name.clone(),
                control_listener: config.control_listener_name().to_string(),
                events_file: config.zkafka_controller_events_file.clone(),
            },
            zk_rx.clone(),
            shutdown_rx.clone(),
            controller,
            controller_queue,
        );
        let dir_failures = tokio::spawn(run_log_dir_failure_handler(
            replicas.clone(),
            zk_rx.clone(),
            shutdown_rx.clone(),
        ));
        let cleaner = Arc::new(start_log_cleaner(&dynamic.in_force, replicas)?);
        let config_changes = tokio::spawn(run_config_changes(
            ConfigTargets {
                broker_id,
                dynamic: dynamic.config,
                cleaner: cleaner.clone(),
                connection_quotas: dynamic.connection_quotas,
                replicas: replicas.clone(),
                controller: controller.clone(),
            },
            zk_rx,
            shutdown_rx.clone(),
        ));
        let housekeeping = tokio::spawn(run_housekeeping(
            replicas.clone(),
            HousekeepingIntervals {
                retention_check: Duration::from_millis(
                    config.log_retention_check_interval_ms.max(1) as u64,
                ),
                checkpoint: Duration::from_millis(
                    config.log_flush_offset_checkpoint_interval_ms.max(1) as u64,
                ),
            },
            shutdown_rx,
        ));
        Ok(BackgroundTasks {
            controller_task,
            config_changes,
            housekeeping,
            dir_failures,
            cleaner,
        })
    }

    /// Waits for every task to stop (the shutdown signal was sent).
    async fn join(self) {
        let _ = self.controller_task.await;
        let _ = self.housekeeping.await;
        let _ = self.dir_failures.await;
        let _ = self.config_changes.await;
        let cleaner = self.cleaner;
        let _ = tokio::task::spawn_blocking(move || cleaner.shutdown()).await;
    }
}

/// Starts the log cleaner threads over every hosted partition (none when `log.cleaner.enable`
/// is false).
fn start_log_cleaner(
    config: &KafkaConfig,
    replicas: &Arc<ReplicaManager>,
) -> anyhow::Result<ReconfigurableCleaner> {
    let replicas = replicas.clone();
    let source: LogSource = Arc::new(move || {
        replicas
            .all_partitions()
            .into_iter()
            .map(|p| p as Arc<dyn CleanableLog>)
            .collect()
    });
    ReconfigurableCleaner::start(CleanerConfig::from_broker(config), &config.log_dirs, source)
        .context("cannot start the log cleaner")
}

/// Connects again and re-registers, retrying until it works: a broker without a session serves
/// nothing new, but it keeps serving what it has until the controller moves its partitions.
/// The old session comes first: the client gives up on it after the session timeout without a
/// server, but a restarted ZooKeeper may still hold it (and its ephemerals), and only ZooKeeper's
/// answer ends it. A resumed session keeps its registration, so the broker epoch does not change.
async fn renew_session(
    config: &KafkaConfig,
    broker_id: i32,
    reg: &BrokerRegistration,
    replicas: &ReplicaManager,
    old: SessionInfo,
) -> KafkaZkClient {
    let mut resumable = Some(old);
    loop {
        let attempt = match resumable.clone() {
            Some(session) => KafkaZkClient::resume(&zk_settings(config), session).await,
            None => KafkaZkClient::connect(&zk_settings(config)).await,
        };
        match attempt {
            Ok(zk) => match zk.register_broker(broker_id, reg).await {
                Ok(epoch) => {
                    let renewed = replicas.broker_epoch() != epoch;
                    replicas.set_broker_epoch(epoch);
                    info!(
                        broker_id,
                        broker_epoch = epoch,
                        renewed,
                        "registered after the session loss"
                    );
                    return zk;
                }
                Err(e) => warn!(error = %e, "re-registration failed; retrying"),
            },
            Err(zk::ZkError::SessionLost) if resumable.is_some() => {
                info!(
                    broker_id,
                    "ZooKeeper ended the old session; building a new one"
                );
                resumable = None;
                continue;
            }
            Err(e) => warn!(error = %e, "cannot reach ZooKeeper; retrying"),
        }
        tokio::time::sleep(SESSION_RETRY).await;
    }
}
