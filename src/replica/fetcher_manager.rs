//! Which fetcher serves which followed partition (Kafka's `ReplicaFetcherManager`): per leader broker
//! `num.replica.fetchers` fetchers, a partition going to fetcher [`fetcher_id`]. Fetchers start when
//! they get their first partition and stop when their last one leaves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::info;

use super::fetcher::{self, FetcherConfig, Shared};
use super::partition::Partition;
use super::truncation::fetcher_id;
use super::TopicPartition;

struct FetcherHandle {
    addr: String,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl FetcherHandle {
    fn stop(self) -> JoinHandle<()> {
        let _ = self.stop.send(true);
        self.task
    }
}

/// All replica fetchers of this broker.
pub struct ReplicaFetcherManager {
    config: FetcherConfig,
    /// `num.replica.fetchers`, changed at run time by [`ReplicaFetcherManager::resize`].
    num_fetchers: AtomicI32,
    shutdown: watch::Receiver<bool>,
    /// Keyed by (leader broker, fetcher id).
    fetchers: Mutex<HashMap<(i32, i32), FetcherHandle>>,
}

impl ReplicaFetcherManager {
    pub fn new(config: FetcherConfig, num_fetchers: i32, shutdown: watch::Receiver<bool>) -> Self {
        ReplicaFetcherManager {
            config,
            num_fetchers: AtomicI32::new(num_fetchers.max(1)),
            shutdown,
            fetchers: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<(i32, i32), FetcherHandle>> {
        self.fetchers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts following `leader` at `addr` for `partition` in `leader_epoch`: the partition leaves any
    /// fetcher it was in and starts over (truncation first) in the fetcher its id picks. A fetcher whose
    /// leader moved to another address is replaced, keeping its other partitions.
    pub fn add_partition(
        &self,
        partition: Arc<Partition>,
        leader: i32,
        addr: String,
        leader_epoch: i32,
    ) {
        let tp = (partition.topic.clone(), partition.index);
        self.remove_partition(&tp);
        let key = (
            leader,
            fetcher_id(&tp.0, tp.1, self.num_fetchers.load(Ordering::Relaxed)),
        );
        let mut fetchers = self.lock();
        if fetchers.get(&key).is_some_and(|f| f.addr != addr) {
            if let Some(old) = fetchers.remove(&key) {
                let moved: Vec<(Arc<Partition>, i32)> = old
                    .shared
                    .lock()
                    .drain()
                    .map(|(_, s)| (s.partition, s.leader_epoch))
                    .collect();
                drop(old.stop());
                let new = self.spawn(key, addr.clone());
                for (p, epoch) in moved {
                    new.shared.add(p, epoch);
                }
                fetchers.insert(key, new);
            }
        }
        let fetcher = fetchers
            .entry(key)
            .or_insert_with(|| self.spawn(key, addr.clone()));
        fetcher.shared.add(partition, leader_epoch);
    }

    fn spawn(&self, key: (i32, i32), addr: String) -> FetcherHandle {
        info!(leader = key.0, fetcher = key.1, %addr, "starting replica fetcher");
        let shared = Arc::new(Shared::default());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(fetcher::run(
            key.0,
            addr.clone(),
            self.config.clone(),
            shared.clone(),
            stop_rx,
            self.shutdown.clone(),
        ));
        FetcherHandle {
            addr,
            shared,
            stop,
            task,
        }
    }

    /// Stops fetching `tp` (it became leader, was stopped, or lost its leader); a fetcher left without
    /// partitions stops. Returns whether the partition was being fetched.
    pub fn remove_partition(&self, tp: &TopicPartition) -> bool {
        let mut fetchers = self.lock();
        let mut found = None;
        for (key, f) in fetchers.iter() {
            let mut map = f.shared.lock();
            if map.remove(tp).is_some() {
                found = Some((*key, map.is_empty()));
                break;
            }
        }
        match found {
            Some((key, empty)) => {
                if empty {
                    if let Some(f) = fetchers.remove(&key) {
                        info!(
                            leader = key.0,
                            fetcher = key.1,
                            "stopping idle replica fetcher"
                        );
                        drop(f.stop());
                    }
                }
                true
            }
            None => false,
        }
    }

    /// Changes the number of fetchers per leader (Kafka's `resizeThreadPool`, on a dynamic
    /// `num.replica.fetchers`): every fetcher stops and its partitions go to the fetcher their id
    /// now picks, starting again with truncation.
    pub fn resize(&self, num_fetchers: i32) {
        let num_fetchers = num_fetchers.max(1);
        let old = self.num_fetchers.swap(num_fetchers, Ordering::Relaxed);
        if old == num_fetchers {
            return;
        }
        let moved: Vec<(Arc<Partition>, i32, i32, String)> = {
            let mut fetchers = self.lock();
            fetchers
                .drain()
                .flat_map(|((leader, _), f)| {
                    let parts: Vec<_> = f
                        .shared
                        .lock()
                        .drain()
                        .map(|(_, s)| (s.partition, leader, s.leader_epoch, f.addr.clone()))
                        .collect();
                    drop(f.stop());
                    parts
                })
                .collect()
        };
        info!(
            from = old,
            to = num_fetchers,
            partitions = moved.len(),
            "resizing the replica fetcher pool"
        );
        for (partition, leader, epoch, addr) in moved {
            self.add_partition(partition, leader, addr, epoch);
        }
    }

    /// Whether `tp` is in some fetcher (for tests and diagnostics).
    pub fn is_fetching(&self, tp: &TopicPartition) -> bool {
        self.lock()
            .values()
            .any(|f| f.shared.lock().contains_key(tp))
    }

    /// Stops every fetcher and waits for their tasks to end (each ends at its next await point).
    pub async fn shutdown(&self) {
        let handles: Vec<JoinHandle<()>> = self.lock().drain().map(|(_, f)| f.stop()).collect();
        for h in handles {
            let _ = h.await;
        }
    }

    /// Signals every fetcher to stop without waiting (the synchronous shutdown path).
    pub fn stop_all(&self) {
        for (_, f) in self.lock().drain() {
            drop(f.stop());
        }
    }
}
