//! [`KafkaReportTransport`]: keel-quotas' [`ReportTransport`] over a Kafka topic.
//!
//! The trait is synchronous (the quota core has no IO), so the transport is two halves:
//! the trait methods only touch in-memory queues (`send_report` and `publish_shares` queue
//! records, `take_reports` and `latest_shares` read what was fetched), and the async
//! [`KafkaReportTransport::flush`] (Produce, acks=all) and [`KafkaReportTransport::poll`]
//! (Fetch from the last offset read) move them over the topic. The quota loop calls both once
//! per interval. Records that fail to decode are logged with their offset and skipped.
//!
//! The topic has one partition (reports are small and few: one per broker per interval) with
//! time retention (1 h) and is created on first use if missing.

use std::collections::VecDeque;

use bytes::Bytes;
use keel_quotas::{BrokerReport, ReportTransport, TenantShares};
use keel_wire::batch::{BatchIter, RecordBatchBuilder};
use keel_wire::client::{FetchOptions, KafkaClient, NewTopic, OffsetSpec};
use parking_lot::Mutex;

use super::codec::{self, ReportRecord};

/// The report topic's partition.
pub const PARTITION: i32 = 0;

#[derive(Debug, Default)]
struct Queues {
    outbox: Vec<(Vec<u8>, Vec<u8>)>,
    reports: VecDeque<BrokerReport>,
    shares: Option<Vec<TenantShares>>,
    /// Broker ids of the latest shares (dense index order).
    share_brokers: Vec<i32>,
    /// Broker ids for the next `publish_shares`.
    publishing_brokers: Vec<i32>,
}

/// Reports and shares over a Kafka topic.
#[derive(Debug)]
pub struct KafkaReportTransport {
    client: KafkaClient,
    topic: String,
    queues: Mutex<Queues>,
    next_offset: tokio::sync::Mutex<Option<i64>>,
}

/// Unix time in nanoseconds (the clock every sidecar stamps reports with).
pub fn unix_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl KafkaReportTransport {
    /// A transport on `topic` (not created yet: see [`Self::ensure_topic`]).
    pub fn new(client: KafkaClient, topic: impl Into<String>) -> Self {
        KafkaReportTransport {
            client,
            topic: topic.into(),
            queues: Mutex::new(Queues::default()),
            next_offset: tokio::sync::Mutex::new(None),
        }
    }

    /// The topic name.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// Creates the topic if missing: one partition, replication factor min(3, brokers),
    /// `retention.ms` one hour.
    pub async fn ensure_topic(&self) -> anyhow::Result<()> {
        let meta = self.client.refresh_metadata().await?;
        if meta.topics.contains_key(&self.topic) {
            return Ok(());
        }
        let rf = meta.brokers.len().clamp(1, 3) as i16;
        let topic = NewTopic::new(self.topic.clone(), 1, rf)
            .config("retention.ms", "3600000")
            .config("cleanup.policy", "delete");
        let outcomes = self.client.create_topics(&[topic], false).await?;
        for o in outcomes {
            if !o.exists()
                && let Some(e) = o.error
            {
                return Err(anyhow::anyhow!("creating report topic {}: {e}", self.topic));
            }
        }
        self.client.refresh_metadata().await?;
        Ok(())
    }

    /// Sets the broker ids the next [`ReportTransport::publish_shares`] is indexed by.
    pub fn set_share_brokers(&self, brokers: Vec<i32>) {
        self.queues.lock().publishing_brokers = brokers;
    }

    /// Broker ids of the latest shares read or published.
    pub fn share_brokers(&self) -> Vec<i32> {
        self.queues.lock().share_brokers.clone()
    }

    /// Produces every queued record (one batch). On failure the records stay queued.
    pub async fn flush(&self) -> anyhow::Result<usize> {
        let records = std::mem::take(&mut self.queues.lock().outbox);
        if records.is_empty() {
            return Ok(0);
        }
        let now_ms = (unix_nanos() / 1_000_000) as i64;
        let mut b = RecordBatchBuilder::new(0);
        for (k, v) in &records {
            b.append(now_ms, Some(k), Some(v), &[])?;
        }
        let bytes = Bytes::from(b.build()?);
        match self.client.produce(&self.topic, PARTITION, bytes).await {
            Ok(_) => Ok(records.len()),
            Err(e) => {
                // Keep them for the next flush, newest last; bound the backlog.
                let mut q = self.queues.lock();
                let mut back = records;
                back.append(&mut q.outbox);
                let excess = back.len().saturating_sub(1000);
                back.drain(..excess);
                q.outbox = back;
                Err(anyhow::anyhow!("producing to {}: {e}", self.topic))
            }
        }
    }

    /// Fetches records written since the last poll. The first poll starts at the records
    /// written within `lookback` (by timestamp), so a restarted sidecar sees the live reports.
    pub async fn poll(&self, lookback: std::time::Duration) -> anyhow::Result<usize> {
        let mut next = self.next_offset.lock().await;
        let mut offset = match *next {
            Some(o) => o,
            None => {
                let since = (unix_nanos() / 1_000_000) as i64 - lookback.as_millis() as i64;
                let q = [(self.topic.clone(), PARTITION, OffsetSpec::Timestamp(since))];
                let r = self.client.list_offsets(&q).await?;
                match r.first().map(|p| p.offset) {
                    Some(o) if o >= 0 => o,
                    _ => {
                        let q = [(self.topic.clone(), PARTITION, OffsetSpec::Latest)];
                        self.client
                            .list_offsets(&q)
                            .await?
                            .first()
                            .map_or(0, |p| p.offset)
                    }
                }
            }
        };
        let mut decoded = 0;
        // A few rounds at most: catch up, never spin.
        for _ in 0..16 {
            let fetched = self
                .client
                .fetch(
                    &self.topic,
                    PARTITION,
                    offset,
                    FetchOptions {
                        max_bytes: 1 << 20,
                        max_wait_ms: 0,
                        min_bytes: 0,
                    },
                )
                .await?;
            let before = offset;
            for entry in BatchIter::new(&fetched.records) {
                // A truncated last batch ends the answer; the next fetch re-reads it.
                let Ok(entry) = entry else { break };
                let Some(batch) = entry.as_v2() else { continue };
                let last = batch.last_offset();
                if last < offset {
                    continue;
                }
                match batch.to_owned_records() {
                    Ok(records) => {
                        for r in records.iter().filter(|r| r.offset >= offset) {
                            match codec::decode(r.key.as_deref(), r.value.as_deref()) {
                                Ok(Some(rec)) => {
                                    decoded += 1;
                                    self.accept(rec);
                                }
                                Ok(None) => {}
                                Err(e) => {
                                    tracing::warn!(topic = %self.topic, offset = r.offset, error = %e, "skipping a bad record")
                                }
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(topic = %self.topic, offset = batch.base_offset(), error = %e, "skipping a bad batch")
                    }
                }
                offset = last + 1;
            }
            if offset == before || offset >= fetched.high_watermark {
                // Nothing new, or caught up. An offset below the log start (retention) moves
                // to the log start.
                if offset < fetched.log_start_offset {
                    offset = fetched.log_start_offset;
                }
                break;
            }
        }
        *next = Some(offset);
        Ok(decoded)
    }

    fn accept(&self, rec: ReportRecord) {
        let mut q = self.queues.lock();
        match rec {
            ReportRecord::Report(r) => {
                q.reports.push_back(r);
                let excess = q.reports.len().saturating_sub(10_000);
                q.reports.drain(..excess);
            }
            ReportRecord::Shares {
                brokers, shares, ..
            } => {
                q.shares = Some(shares);
                q.share_brokers = brokers;
            }
        }
    }
}

impl ReportTransport for KafkaReportTransport {
    fn send_report(&self, report: BrokerReport) {
        let rec = codec::encode_report(&report);
        self.queues.lock().outbox.push(rec);
    }

    fn take_reports(&self) -> Vec<BrokerReport> {
        self.queues.lock().reports.drain(..).collect()
    }

    fn publish_shares(&self, shares: Vec<TenantShares>) {
        let mut q = self.queues.lock();
        let brokers = q.publishing_brokers.clone();
        let rec = codec::encode_shares(unix_nanos(), &brokers, &shares);
        q.outbox.push(rec);
    }

    fn latest_shares(&self) -> Option<Vec<TenantShares>> {
        self.queues.lock().shares.clone()
    }
}
