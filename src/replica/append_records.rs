//! Kafka's `ReplicaManager.appendRecords`: a Produce's batches are appended to each partition as
//! its leader; with acks=all, the partitions whose high watermark has not yet covered the append
//! are handed back as a [`DelayedProduce`] that waits for the followers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::delayed_produce::DelayedProduce;
use super::partition::AppendError;
use super::ReplicaManager;
use crate::log::compression::Codec;
use crate::log::legacy_records;
use crate::log::record_batch::Batches;
use crate::log::AppendInfo;
use crate::metadata::ClusterView;

/// What holds for the whole Produce request.
#[derive(Debug, Clone, Copy)]
pub struct AppendParams {
    /// -1 (all), 0 or 1; anything else is INVALID_REQUIRED_ACKS.
    pub acks: i16,
    /// Transactional produce is not supported: every partition is refused.
    pub transactional: bool,
    /// zstd batches need Produce v7+ (KIP-110), since older clients could not read them back.
    pub allow_zstd: bool,
    /// Produce v0-v2 carry message formats v0/v1, converted up to a v2 batch before the append;
    /// v3+ carry v2 batches only (INVALID_RECORD otherwise).
    pub allow_legacy: bool,
    /// How long acks=all may wait for the followers.
    pub timeout_ms: i32,
    /// The append time (LogAppendTime topics, and `max.message.time.difference`).
    pub now_ms: i64,
}

/// One partition's batches, as decoded.
pub struct AppendTarget<'a> {
    pub topic: &'a str,
    pub partition: i32,
    /// `None` when the request carried no records (CORRUPT_MESSAGE).
    pub records: Option<&'a Bytes>,
}

/// What a Produce gets: one result per target (in request order) and, for acks=all, the appends
/// still waiting for replication.
pub struct AppendOutcome {
    pub results: Vec<Result<AppendInfo, AppendError>>,
    /// `None` unless acks=all left something to wait for.
    pub delayed: Option<DelayedProduce>,
}

impl ReplicaManager {
    /// Appends each target's batches as leader. `view` tells a partition of another broker
    /// (NOT_LEADER) from one the cluster does not have.
    pub fn append_records(
        &self,
        params: AppendParams,
        targets: &[AppendTarget<'_>],
        view: &ClusterView,
    ) -> AppendOutcome {
        let mut results = Vec::with_capacity(targets.len());
        let mut pending = Vec::new();
        for (i, target) in targets.iter().enumerate() {
            let appended = self.append_to_partition(&params, target, view);
            if let Ok((p, info)) = &appended {
                if params.acks == -1 && p.high_watermark() <= info.last_offset {
                    pending.push((i, p.clone(), info.last_offset + 1));
                }
            }
            results.push(appended.map(|(_, info)| info));
        }
        let delayed = (!pending.is_empty()).then(|| {
            DelayedProduce::new(
                pending,
                Duration::from_millis(params.timeout_ms.max(0) as u64),
            )
        });
        AppendOutcome { results, delayed }
    }

    fn append_to_partition(
        &self,
        params: &AppendParams,
        target: &AppendTarget<'_>,
        view: &ClusterView,
    ) -> Result<(Arc<super::Partition>, AppendInfo), AppendError> {
        if params.transactional {
            return Err(ResponseError::TransactionalIdAuthorizationFailed.into());
        }
        if !matches!(params.acks, -1..=1) {
            return Err(ResponseError::InvalidRequiredAcks.into());
        }
        let partition = self.hosted_partition(target.topic, target.partition, view)?;
        let records = target.records.ok_or(ResponseError::CorruptMessage)?;
        let converted;
        let records = if params.allow_legacy && legacy_records::is_legacy(records) {
            converted = Bytes::from(legacy_records::up_convert(records)?);
            &converted
        } else {
            // Kafka's `ProduceRequest.validateRecords`: v3+ carry magic 2 only.
            if legacy_records::is_legacy(records)
                || Batches::new(records).any(|b| b.header.magic < 2)
            {
                return Err(ResponseError::InvalidRecord.into());
            }
            if !params.allow_zstd && has_zstd(records) {
                return Err(ResponseError::UnsupportedCompressionType.into());
            }
            records
        };
        let info = partition.append_as_leader(records, params.acks, params.now_ms)?;
        Ok((partition, info))
    }
}

/// Kafka's `ProduceRequest.validateRecords` check for zstd (only batch headers are read).
fn has_zstd(records: &[u8]) -> bool {
    Batches::new(records).any(|b| b.header.compression_codec() == Codec::Zstd.id())
}
