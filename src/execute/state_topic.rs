//! [`StateTopic`]: keel's own compacted topic (`__keel_state` by default), one partition, so
//! every record has one total order (its offset). The executor writes its plan and control
//! records there before acting (the outbox), operators write commands there, and every
//! reader replays it from the start. Records are written with Produce `acks=all` and read
//! back with Fetch; nothing is cached outside the log.
//!
//! Created on first use with `cleanup.policy=compact`, replication factor `min(3, brokers)`
//! and `min.insync.replicas=2` when the factor allows it, so an acknowledged write survives
//! the loss of one broker.

use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::ResponseError;
use keel_wire::WireError;
use keel_wire::batch::{BatchIter, LogEntry, RecordBatchBuilder};
use keel_wire::client::{FetchOptions, KafkaClient, NewTopic, OffsetSpec};

/// The default name of keel's state topic.
pub const DEFAULT_STATE_TOPIC: &str = "__keel_state";

/// The one partition keel uses.
const PARTITION: i32 = 0;

/// One record read back from the state topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateRecord {
    /// Offset in the partition (the record's position in the one total order).
    pub offset: i64,
    /// Key (UTF-8 in keel's own records; lossily decoded otherwise).
    pub key: String,
    /// Value; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// Producer timestamp, ms since the epoch.
    pub timestamp_ms: i64,
}

/// A handle on the state topic: append records, read them all, or poll for new ones.
#[derive(Debug, Clone)]
pub struct StateTopic {
    client: KafkaClient,
    name: String,
    /// Next offset [`StateTopic::poll`] reads from.
    position: i64,
}

impl StateTopic {
    /// Opens `name`, creating it if missing (compacted, one partition, RF `min(3, brokers)`),
    /// and waits until its partition has a leader. The read position starts at the log start.
    pub async fn open(client: &KafkaClient, name: &str) -> anyhow::Result<StateTopic> {
        if name.is_empty() {
            bail!("state topic name is empty");
        }
        let meta = client
            .refresh_metadata()
            .await
            .context("reading cluster metadata")?;
        if !meta.topics.contains_key(name) {
            let brokers = meta.brokers.len().max(1);
            let rf = brokers.min(3) as i16;
            let mut topic = NewTopic::new(name, 1, rf).config("cleanup.policy", "compact");
            if rf >= 3 {
                topic = topic.config("min.insync.replicas", "2");
            }
            let outcomes = client
                .create_topics(&[topic], false)
                .await
                .with_context(|| format!("creating state topic {name}"))?;
            for o in outcomes {
                if !o.exists()
                    && let Some(e) = o.error
                {
                    return Err(e).with_context(|| format!("creating state topic {name}"));
                }
            }
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let meta = client.refresh_metadata().await?;
            if meta.leader_of(name, PARTITION).is_ok() {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                bail!("state topic {name} partition 0 has no leader after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Ok(StateTopic {
            client: client.clone(),
            name: name.to_string(),
            position: 0,
        })
    }

    /// The topic name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next offset [`StateTopic::poll`] reads from.
    pub fn position(&self) -> i64 {
        self.position
    }

    /// Appends `(key, value)` records (`None` value = tombstone) as one batch with
    /// `acks=all`; returns the offset of the first. Once this returns, the records are in
    /// the log and every later read sees them.
    pub async fn append(&self, records: &[(&str, Option<&[u8]>)]) -> anyhow::Result<i64> {
        if records.is_empty() {
            bail!("append to {} with no records", self.name);
        }
        let now = now_ms() as i64;
        let mut b = RecordBatchBuilder::new(0);
        for (k, v) in records {
            b.append(now, Some(k.as_bytes()), *v, &[])
                .with_context(|| format!("encoding record {k} for {}", self.name))?;
        }
        let bytes = b.build()?;
        let ack = self
            .client
            .produce(&self.name, PARTITION, Bytes::from(bytes))
            .await
            .with_context(|| format!("writing to {}", self.name))?;
        Ok(ack.base_offset)
    }

    /// Reads every record from the log start to the end of the log, in offset order, and
    /// leaves the read position after the last.
    pub async fn read_all(&mut self) -> anyhow::Result<Vec<StateRecord>> {
        self.position = 0;
        self.poll().await
    }

    /// Reads the records appended since the last read: fetches until a fetch returns no new
    /// complete batch (one empty fetch per call when caught up).
    pub async fn poll(&mut self) -> anyhow::Result<Vec<StateRecord>> {
        let mut out = Vec::new();
        let opts = FetchOptions {
            max_bytes: 4 * 1024 * 1024,
            max_wait_ms: 0,
            min_bytes: 0,
        };
        loop {
            let fetched = match self
                .client
                .fetch(&self.name, PARTITION, self.position, opts)
                .await
            {
                Ok(f) => f,
                Err(WireError::Kafka {
                    error: ResponseError::OffsetOutOfRange,
                    ..
                }) => {
                    // Below the log start (deleted records): continue from the start.
                    let start = self
                        .client
                        .list_offsets(&[(self.name.clone(), PARTITION, OffsetSpec::Earliest)])
                        .await?;
                    let start = start.first().map_or(0, |o| o.offset);
                    if start <= self.position {
                        bail!(
                            "{} offset {} is out of range but the log starts at {start}",
                            self.name,
                            self.position
                        );
                    }
                    self.position = start;
                    continue;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("reading {}", self.name));
                }
            };
            let before = self.position;
            self.position = decode_records(&fetched.records, self.position, &mut out)
                .with_context(|| format!("decoding {} at offset {before}", self.name))?;
            if self.position == before {
                // A fetch that brought nothing new: caught up (or only a partial batch came
                // back; the next poll tries again). No offset a broker reports is trusted to
                // say where the log ends (tansu 0.6 answers ListOffsets(latest) with the last
                // batch's base offset + 1, below the log end when that batch holds several
                // records): reading stops only when the log itself has nothing more. The
                // position is always a batch boundary, which matters on tansu too: a Fetch
                // from inside a batch skips that whole batch there.
                return Ok(out);
            }
        }
    }
}

/// Decodes the complete v2 batches of `bytes`, appending records at or after `from`; returns
/// the offset after the last complete batch (or `from` when none).
pub fn decode_records(bytes: &[u8], from: i64, out: &mut Vec<StateRecord>) -> anyhow::Result<i64> {
    let mut next = from;
    for entry in BatchIter::new(bytes) {
        let entry = match entry {
            Ok(e) => e,
            // A partial batch at the end of a fetch is normal.
            Err(WireError::Truncated { .. }) => break,
            Err(e) => return Err(e.into()),
        };
        let LogEntry::V2(batch) = entry else {
            bail!("legacy (v0/v1) message in a keel state topic");
        };
        if batch.last_offset() < next {
            continue;
        }
        if !batch.is_control() {
            for r in batch.records()?.iter() {
                let r = r?;
                if r.offset() < next {
                    continue;
                }
                out.push(StateRecord {
                    offset: r.offset(),
                    key: String::from_utf8_lossy(r.key().unwrap_or_default()).into_owned(),
                    value: r.value().map(<[u8]>::to_vec),
                    timestamp_ms: r.timestamp(),
                });
            }
        }
        next = batch.last_offset() + 1;
    }
    Ok(next)
}

/// Wall-clock ms since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch(base: i64, recs: &[(&str, Option<&[u8]>)]) -> Vec<u8> {
        let mut b = RecordBatchBuilder::new(base);
        for (k, v) in recs {
            b.append(1_000, Some(k.as_bytes()), *v, &[]).unwrap();
        }
        b.build().unwrap()
    }

    #[test]
    fn decode_skips_records_before_the_position_and_stops_at_a_partial_batch() {
        let mut bytes = batch(0, &[("a", Some(b"1")), ("b", None)]);
        bytes.extend(batch(2, &[("c", Some(b"3"))]));
        let full = bytes.len();
        bytes.extend(&batch(3, &[("d", Some(b"4"))])[..20]);
        let mut out = Vec::new();
        let next = decode_records(&bytes, 1, &mut out).unwrap();
        assert_eq!(next, 3);
        let keys: Vec<_> = out.iter().map(|r| (r.offset, r.key.as_str())).collect();
        assert_eq!(keys, [(1, "b"), (2, "c")]);
        assert_eq!(out[0].value, None, "tombstone");
        let mut out = Vec::new();
        assert_eq!(decode_records(&bytes[..full], 5, &mut out).unwrap(), 5);
        assert!(out.is_empty());
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_fetch_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300), from in 0i64..10) {
            let mut out = Vec::new();
            let _ = decode_records(&bytes, from, &mut out);
        }

        #[test]
        fn every_record_appended_is_decoded_once_in_order(
            keys in proptest::collection::vec("[a-z]{1,5}", 1..20),
            split in 1usize..5,
        ) {
            let mut bytes = Vec::new();
            let mut base = 0i64;
            for chunk in keys.chunks(split) {
                let recs: Vec<(&str, Option<&[u8]>)> =
                    chunk.iter().map(|k| (k.as_str(), Some(k.as_bytes()))).collect();
                bytes.extend(batch(base, &recs));
                base += chunk.len() as i64;
            }
            let mut out = Vec::new();
            prop_assert_eq!(decode_records(&bytes, 0, &mut out).unwrap(), keys.len() as i64);
            let got: Vec<&str> = out.iter().map(|r| r.key.as_str()).collect();
            prop_assert_eq!(got, keys.iter().map(String::as_str).collect::<Vec<_>>());
            prop_assert!(out.iter().enumerate().all(|(i, r)| r.offset == i as i64));
        }
    }
}
