//! Assembling a snapshot from admin-protocol answers (pure: no IO, no clock).
//!
//! [`Draft::from_layout`] takes the cluster laid out from Metadata (and DescribeCluster) in the
//! balancer's compact [`Cluster`] model ([`super::layout`]); the capture then folds in DescribeLogDirs answers
//! ([`Draft::record_log_dirs`]) and three ListOffsets rounds per leader group, and
//! [`Draft::finish`] computes rates, resolves capacities and turns counters into warnings. Per
//! partition the draft holds the [`Cluster`] entry (64 bytes + 4 per replica), three offsets and
//! the window length (28 bytes).

use kafka_protocol::ResponseError;
use keel_balancer::{BrokerState, Cluster};
use keel_wire::client::{BrokerInfo, ClusterMetadata, LogDirInfo, OffsetSpec};

use super::capacity::{CapacityFile, CapacitySource, FIELDS};
use super::layout::{Laid, Layout};
use super::rates::{OffsetSample, RateProblem, bytes_in_per_sec};
use super::warning::{Warning, ids};

/// Partitions led by one broker, asked for in one ListOffsets request per round.
#[derive(Debug, Clone, PartialEq)]
pub struct OffsetGroup {
    /// Broker id of the leader (from the metadata the draft was built from).
    pub leader: i32,
    /// Partition indices into [`Cluster::partitions`].
    pub partitions: Vec<u32>,
    /// Seconds (capture clock) at which the window-opening end offsets were read.
    pub opened_at: Option<f64>,
}

/// One partition's ListOffsets answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OffsetAnswer<'a> {
    /// Topic name.
    pub topic: &'a str,
    /// Partition index.
    pub partition: i32,
    /// The offset, or the partition's error code.
    pub offset: std::result::Result<i64, ResponseError>,
}

/// Which ListOffsets round an answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// Log end offsets when the window opens.
    EndBefore,
    /// Log start offsets.
    LogStart,
    /// Log end offsets when the window closes (rates are computed here).
    EndAfter,
}

impl Round {
    /// The ListOffsets spec of the round.
    pub fn spec(self) -> OffsetSpec {
        match self {
            Round::EndBefore | Round::EndAfter => OffsetSpec::Latest,
            Round::LogStart => OffsetSpec::Earliest,
        }
    }

    /// The ListOffsets timestamp field of the round (-1 latest, -2 earliest).
    pub fn spec_code(self) -> i64 {
        match self.spec() {
            OffsetSpec::Earliest => -2,
            _ => -1,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Round::EndBefore => "log end offsets (window start)",
            Round::LogStart => "log start offsets",
            Round::EndAfter => "log end offsets (window end)",
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    offline_dirs: Vec<String>,
    unknown_log_dir_replicas: usize,
    end_went_back: usize,
    no_size: usize,
    no_window: usize,
    offsets_missing: usize,
    offset_errors: usize,
    offset_error_example: String,
}

/// A snapshot being assembled.
#[derive(Debug)]
pub struct Draft {
    cluster: Cluster,
    /// First partition index of each topic (topics sorted by name), plus the total.
    topic_start: Vec<u32>,
    end_before: Vec<i64>,
    end_after: Vec<i64>,
    log_start: Vec<i64>,
    /// Seconds between each partition's two end-offset readings.
    elapsed: Vec<f32>,
    cluster_disk: Vec<f64>,
    fan_out: f64,
    counters: Counters,
    warnings: Vec<Warning>,
}

const UNKNOWN: i64 = i64::MIN;

fn push_example(list: &mut Vec<String>, name: impl FnOnce() -> String) -> usize {
    if list.len() < 3 {
        list.push(name());
    }
    list.len()
}

impl Draft {
    /// Lays out brokers, topics, partitions, replicas and leaders from a full
    /// [`ClusterMetadata`] (see [`Layout`]; the capture reads Metadata straight into a
    /// [`Layout`] instead). `described` are DescribeCluster's brokers when the cluster
    /// answered it (they win over Metadata's). `fan_out` is the number of times each produced
    /// byte is consumed (bytes out = bytes in × fan-out).
    pub fn from_metadata(
        meta: &ClusterMetadata,
        described: Option<&[BrokerInfo]>,
        fan_out: f64,
    ) -> Draft {
        let mut layout = Layout::new();
        for (name, t) in &meta.topics {
            layout.begin_topic(name);
            for p in &t.partitions {
                layout.push_partition(
                    p.partition,
                    p.leader,
                    p.replicas.iter().copied(),
                    p.isr.len(),
                );
            }
        }
        Draft::from_layout(layout.finish(&meta.brokers, described), fan_out)
    }

    /// A draft of a laid-out cluster.
    pub fn from_layout(laid: Laid, fan_out: f64) -> Draft {
        let Laid {
            cluster,
            topic_start,
            warnings,
        } = laid;
        let n = cluster.partitions.len();
        let brokers = cluster.brokers.len();
        Draft {
            cluster,
            topic_start,
            end_before: vec![UNKNOWN; n],
            end_after: vec![UNKNOWN; n],
            log_start: vec![UNKNOWN; n],
            elapsed: vec![0.0; n],
            cluster_disk: vec![0.0; brokers],
            fan_out: if fan_out.is_finite() && fan_out >= 0.0 {
                fan_out
            } else {
                1.0
            },
            counters: Counters::default(),
            warnings,
        }
    }

    /// The cluster as assembled so far.
    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// Adds a warning.
    pub fn warn(&mut self, warning: Warning) {
        self.warnings.push(warning);
    }

    /// Index into [`Cluster::partitions`] of `topic`/`partition`.
    pub fn index_of(&self, topic: &str, partition: i32) -> Option<usize> {
        let t = self
            .cluster
            .topics
            .binary_search_by(|name| name.as_str().cmp(topic))
            .ok()?;
        let lo = self.topic_start[t] as usize;
        let hi = self.topic_start[t + 1] as usize;
        let slice = &self.cluster.partitions[lo..hi];
        // Metadata lists partitions sorted by index.
        slice
            .binary_search_by_key(&partition, |p| p.partition)
            .ok()
            .map(|i| lo + i)
    }

    /// Partitions with a live leader, grouped by leader, at most `max_per_group` each.
    pub fn offset_groups(&self, max_per_group: usize) -> Vec<OffsetGroup> {
        let max = max_per_group.max(1);
        let mut by_leader: Vec<Vec<u32>> = vec![Vec::new(); self.cluster.brokers.len()];
        for (i, p) in self.cluster.partitions.iter().enumerate() {
            if self.cluster.brokers[p.leader as usize].state == BrokerState::Alive {
                by_leader[p.leader as usize].push(i as u32);
            }
        }
        let mut groups = Vec::new();
        for (b, parts) in by_leader.into_iter().enumerate() {
            for chunk in parts.chunks(max) {
                groups.push(OffsetGroup {
                    leader: self.cluster.brokers[b].id,
                    partitions: chunk.to_vec(),
                    opened_at: None,
                });
            }
        }
        groups
    }

    /// `(topic, partition)` of every partition of `group`, in order: topics come in runs
    /// (partitions are laid out topic by topic), so a request can be built topic by topic.
    pub fn group_keys<'a>(
        &'a self,
        group: &'a OffsetGroup,
    ) -> impl Iterator<Item = (&'a str, i32)> + 'a {
        group.partitions.iter().map(|&i| {
            let p = &self.cluster.partitions[i as usize];
            (self.cluster.topics[p.topic as usize].as_str(), p.partition)
        })
    }

    /// Folds in ListOffsets answers for `group`. `at` is when they were read, in seconds on
    /// the capture's clock (used for [`Round::EndBefore`] and [`Round::EndAfter`]).
    /// Partitions the request named but the answer lacks stay unknown (counted in
    /// [`Draft::finish`]).
    pub fn record_offsets<'a>(
        &mut self,
        group: &mut OffsetGroup,
        round: Round,
        answers: impl IntoIterator<Item = OffsetAnswer<'a>>,
        at: f64,
    ) {
        if round == Round::EndBefore {
            group.opened_at = Some(at);
        }
        for answer in answers {
            let Some(i) = self.index_of(answer.topic, answer.partition) else {
                self.counters.offsets_missing += 1;
                continue;
            };
            let offset = match answer.offset {
                Ok(o) => o,
                Err(e) => {
                    self.counters.offset_errors += 1;
                    if self.counters.offset_error_example.is_empty() {
                        self.counters.offset_error_example =
                            format!("{e:?} on {}-{}", answer.topic, answer.partition);
                    }
                    continue;
                }
            };
            match round {
                Round::EndBefore => self.end_before[i] = offset,
                Round::LogStart => self.log_start[i] = offset,
                Round::EndAfter => {
                    self.end_after[i] = offset;
                    self.elapsed[i] = group.opened_at.map_or(0.0, |t| (at - t) as f32);
                }
            }
        }
    }

    /// Rates of every partition whose three offset readings arrived (see [`super::rates`]);
    /// `size_bytes` must be in by now.
    fn apply_rates(&mut self) {
        for (i, p) in self.cluster.partitions.iter_mut().enumerate() {
            let (before, after, start) = (self.end_before[i], self.end_after[i], self.log_start[i]);
            if before == UNKNOWN && after == UNKNOWN && start == UNKNOWN {
                continue; // no live leader, or the group failed: reported already
            }
            if before == UNKNOWN || after == UNKNOWN || start == UNKNOWN {
                self.counters.offsets_missing += 1;
                continue;
            }
            let sample = OffsetSample {
                log_start: start,
                end_before: before,
                end_after: after,
                elapsed_secs: f64::from(self.elapsed[i]),
            };
            match bytes_in_per_sec(p.size_bytes, &sample) {
                Ok(rate) => {
                    p.bytes_in = rate;
                    p.bytes_out = rate * self.fan_out;
                }
                Err(RateProblem::EndWentBack) => self.counters.end_went_back += 1,
                Err(RateProblem::NoSize) => self.counters.no_size += 1,
                Err(RateProblem::NoWindow) => self.counters.no_window += 1,
            }
        }
    }

    /// Notes that a ListOffsets round failed for a whole group.
    pub fn record_offsets_failed(
        &mut self,
        group: &OffsetGroup,
        round: Round,
        error: &dyn std::fmt::Display,
    ) {
        self.warnings.push(Warning::api(
            "ListOffsets",
            format!(
                "{} of {} partitions led by broker {} not read: {error}; their rates stay 0",
                round.name(),
                group.partitions.len(),
                group.leader
            ),
        ));
    }

    /// Notes one log dir of `broker`: its volume size counts toward the broker's disk; an
    /// errored dir is reported (its replicas are not sized). Returns whether the dir is usable.
    pub fn record_log_dir(
        &mut self,
        broker: i32,
        path: &str,
        error: Option<ResponseError>,
        total_bytes: Option<i64>,
    ) -> bool {
        if let Some(e) = error {
            push_example(&mut self.counters.offline_dirs, || {
                format!("{broker}:{path} ({e:?})")
            });
            return false;
        }
        if let (Some(b), Some(total)) = (
            self.cluster.brokers.iter().position(|x| x.id == broker),
            total_bytes,
        ) {
            self.cluster_disk[b] += total.max(0) as f64;
        }
        true
    }

    /// Notes one replica's size: a partition's size is its largest current (non-future)
    /// replica.
    pub fn record_replica_size(
        &mut self,
        topic: &str,
        partition: i32,
        size_bytes: i64,
        is_future: bool,
    ) {
        if is_future {
            return;
        }
        match self.index_of(topic, partition) {
            Some(i) => {
                let size = u64::try_from(size_bytes).unwrap_or(0);
                let p = &mut self.cluster.partitions[i];
                p.size_bytes = p.size_bytes.max(size);
            }
            None => self.counters.unknown_log_dir_replicas += 1,
        }
    }

    /// Folds in one broker's DescribeLogDirs answer in the client's typed form.
    pub fn record_log_dirs(&mut self, broker: i32, dirs: &[LogDirInfo]) {
        for dir in dirs {
            if self.record_log_dir(broker, &dir.path, dir.error, dir.total_bytes) {
                for r in &dir.replicas {
                    self.record_replica_size(&r.topic, r.partition, r.size_bytes, r.is_future);
                }
            }
        }
    }

    /// Computes rates, resolves capacities and returns the cluster with every warning.
    pub fn finish(mut self, capacities: &CapacityFile) -> (Cluster, Vec<Warning>) {
        self.apply_rates();
        let mut builtin: [Vec<i32>; 4] = Default::default();
        for (b, broker) in self.cluster.brokers.iter_mut().enumerate() {
            let disk = Some(self.cluster_disk[b]).filter(|d| *d > 0.0);
            let (values, sources) = capacities.resolve(broker.id, disk);
            broker.capacity = values;
            for (f, s) in sources.iter().enumerate() {
                if *s == CapacitySource::Builtin {
                    builtin[f].push(broker.id);
                }
            }
        }
        let c = &self.counters;
        let mut w = std::mem::take(&mut self.warnings);
        for (f, brokers) in builtin.iter().enumerate() {
            if !brokers.is_empty() {
                w.push(Warning::other(format!(
                    "capacity {} of brokers {} not given (no --capacity entry{}): built-in default {}",
                    FIELDS[f],
                    ids(brokers),
                    if f == 0 { ", no log-dir volume size" } else { "" },
                    super::capacity::BUILTIN_DEFAULT[f]
                )));
            }
        }
        let unknown: Vec<i32> = capacities
            .brokers
            .keys()
            .filter(|id| !self.cluster.brokers.iter().any(|b| b.id == **id))
            .copied()
            .collect();
        if !unknown.is_empty() {
            w.push(Warning::other(format!(
                "capacity file names brokers {} that are not in the cluster",
                ids(&unknown)
            )));
        }
        if !c.offline_dirs.is_empty() {
            w.push(Warning::api(
                "DescribeLogDirs",
                format!(
                    "log dirs with errors, their replicas not sized: {}",
                    c.offline_dirs.join(", ")
                ),
            ));
        }
        if c.unknown_log_dir_replicas > 0 {
            w.push(Warning::api(
                "DescribeLogDirs",
                format!(
                    "{} replicas in log dirs are not in the metadata (created or deleted during the capture): ignored",
                    c.unknown_log_dir_replicas
                ),
            ));
        }
        if c.no_size > 0 {
            w.push(Warning::other(format!(
                "{} partitions grew during the sample but have no size (no DescribeLogDirs answer): rates 0",
                c.no_size
            )));
        }
        if c.end_went_back > 0 {
            w.push(Warning::api(
                "ListOffsets",
                format!(
                    "{} partitions' log end offsets went back during the sample: rates 0",
                    c.end_went_back
                ),
            ));
        }
        if c.no_window > 0 {
            w.push(Warning::other(format!(
                "{} partitions were sampled over an empty window (--sample 0?): rates 0",
                c.no_window
            )));
        }
        if c.offset_errors > 0 {
            w.push(Warning::api(
                "ListOffsets",
                format!(
                    "{} partition offset readings failed (e.g. {}): those rates stay 0",
                    c.offset_errors, c.offset_error_example
                ),
            ));
        }
        if c.offsets_missing > 0 {
            w.push(Warning::api(
                "ListOffsets",
                format!(
                    "{} partition offset readings missing: those rates stay 0",
                    c.offsets_missing
                ),
            ));
        }
        (self.cluster, w)
    }
}
