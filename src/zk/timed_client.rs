//! The ZooKeeper client with every request timed for Kafka's `ZooKeeperRequestLatencyMs`
//! (`docs/metrics.md`). Its methods shadow the client's own (the rest are reached through
//! `Deref`), so the code in this module calls `self.client.get_data(...)` as before. A request is
//! sent when its future is created, so pipelined requests are timed from their sending to their
//! answer, as Kafka's client times each request from send to callback.

use std::future::Future;
use std::ops::Deref;

use zookeeper_client::{Client, CreateOptions, CreateSequence, Error, OneshotWatcher, Stat};

use crate::metrics::zk_timed;

#[derive(Debug)]
pub(crate) struct TimedClient(Client);

impl TimedClient {
    pub(crate) fn new(client: Client) -> Self {
        TimedClient(client)
    }

    pub(crate) fn get_data(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<u8>, Stat), Error>> + Send {
        zk_timed(self.0.get_data(path))
    }

    pub(crate) fn get_and_watch_data(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<u8>, Stat, OneshotWatcher), Error>> + Send + '_ {
        zk_timed(self.0.get_and_watch_data(path))
    }

    pub(crate) fn check_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Option<Stat>, Error>> + Send {
        zk_timed(self.0.check_stat(path))
    }

    pub(crate) fn check_and_watch_stat(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Option<Stat>, OneshotWatcher), Error>> + Send + '_ {
        zk_timed(self.0.check_and_watch_stat(path))
    }

    pub(crate) fn list_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send + '_ {
        zk_timed(self.0.list_children(path))
    }

    pub(crate) fn list_and_watch_children(
        &self,
        path: &str,
    ) -> impl Future<Output = Result<(Vec<String>, OneshotWatcher), Error>> + Send + '_ {
        zk_timed(self.0.list_and_watch_children(path))
    }

    pub(crate) fn create<'a: 'f, 'b: 'f, 'f>(
        &'a self,
        path: &'b str,
        data: &[u8],
        options: &CreateOptions<'_>,
    ) -> impl Future<Output = Result<(Stat, CreateSequence), Error>> + Send + 'f {
        zk_timed(self.0.create(path, data, options))
    }

    pub(crate) fn set_data(
        &self,
        path: &str,
        data: &[u8],
        expected_version: Option<i32>,
    ) -> impl Future<Output = Result<Stat, Error>> + Send {
        zk_timed(self.0.set_data(path, data, expected_version))
    }

    pub(crate) fn delete(
        &self,
        path: &str,
        expected_version: Option<i32>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        zk_timed(self.0.delete(path, expected_version))
    }
}

impl Deref for TimedClient {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.0
    }
}
