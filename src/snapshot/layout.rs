//! Laying out a snapshot's brokers, racks, topics, partitions, replicas and leaders from
//! Metadata (pure: no IO).
//!
//! [`Layout`] takes the Metadata answer as it is read, topic by topic and partition by
//! partition ([`keel_wire::client::MetadataVisitor`]), straight into the balancer's compact
//! [`Cluster`] arrays: 64 bytes per partition and 4 per replica, with nothing else kept per
//! partition. While the answer streams in, replicas and leaders hold raw broker ids (the
//! brokers a replica names are only all known at the end); [`Layout::finish`] then lays out
//! the brokers (DescribeCluster's view wins over Metadata's; ids only replicas name become
//! dead brokers), sorts topics by name in place and turns ids into broker indices.

use std::collections::BTreeMap;

use kafka_protocol::ResponseError;
use keel_balancer::{Broker, BrokerState, Cluster, Partition};
use keel_wire::client::{BrokerInfo, MetadataVisitor, PartitionEntry, TopicHead};

use super::warning::{Warning, ids};

/// `Partition::leader` while laying out: no leader id.
const NO_LEADER: u32 = u32::MAX;

/// A laid-out cluster: the [`Cluster`], each topic's first partition index (plus the total),
/// and the warnings the metadata gave.
#[derive(Debug)]
pub struct Laid {
    /// Brokers, racks, topics (sorted by name), partitions (by topic, then index), replicas.
    pub cluster: Cluster,
    /// First partition index of each topic, plus the partition count.
    pub topic_start: Vec<u32>,
    /// What the metadata said that the snapshot cannot show.
    pub warnings: Vec<Warning>,
}

/// A cluster layout being read from Metadata.
#[derive(Debug, Default)]
pub struct Layout {
    topics: Vec<String>,
    partitions: Vec<Partition>,
    /// Raw broker ids (as `u32`) until [`Layout::finish`].
    replicas: Vec<u32>,
    /// First partition of the topic being read, `None` when its partitions are skipped.
    current: Option<usize>,
    no_replicas: Vec<String>,
    under_replicated: usize,
    skipped_topics: Vec<String>,
    skipped_topic_count: usize,
}

fn push_example(list: &mut Vec<String>, name: impl FnOnce() -> String) {
    if list.len() < 3 {
        list.push(name());
    }
}

impl Layout {
    /// An empty layout.
    pub fn new() -> Layout {
        Layout::default()
    }

    /// Reserves room for this many topics, partitions and replicas.
    pub fn reserve(&mut self, topics: usize, partitions: usize, replicas: usize) {
        self.topics.reserve_exact(topics);
        self.partitions.reserve_exact(partitions);
        self.replicas.reserve_exact(replicas);
    }

    fn end_topic(&mut self) {
        if let Some(first) = self.current.take() {
            // Metadata lists partitions in any order; lookups binary-search them by index.
            self.partitions[first..].sort_unstable_by_key(|p| p.partition);
        }
    }

    /// Starts a topic; its partitions follow through [`Layout::push_partition`].
    pub fn begin_topic(&mut self, name: &str) {
        self.end_topic();
        self.topics.push(name.to_owned());
        self.current = Some(self.partitions.len());
    }

    /// Leaves out a topic Metadata answered with an error (its partitions are ignored).
    pub fn skip_topic(&mut self, name: &str, error: ResponseError) {
        self.end_topic();
        self.skipped_topic_count += 1;
        push_example(&mut self.skipped_topics, || format!("{name} ({error:?})"));
    }

    /// One partition of the topic last begun: its replicas (broker ids, preferred first;
    /// repeats are dropped), its leader and the size of its ISR.
    pub fn push_partition(
        &mut self,
        partition: i32,
        leader: Option<i32>,
        replicas: impl IntoIterator<Item = i32>,
        isr_len: usize,
    ) {
        if self.current.is_none() {
            return;
        }
        let start = self.replicas.len();
        let mut listed = 0usize;
        for r in replicas {
            listed += 1;
            let r = r as u32;
            if !self.replicas[start..].contains(&r) {
                self.replicas.push(r);
            }
        }
        let rf = self.replicas.len() - start;
        let topic = self.topics.len() - 1;
        if rf == 0 || rf > usize::from(u8::MAX) {
            self.replicas.truncate(start);
            push_example(&mut self.no_replicas, || {
                format!("{}-{partition}", self.topics[topic])
            });
            return;
        }
        if isr_len < listed {
            self.under_replicated += 1;
        }
        self.partitions.push(Partition {
            topic: topic as u32,
            partition,
            start: start as u32,
            rf: rf as u8,
            leader: leader.filter(|l| *l >= 0).map_or(NO_LEADER, |l| l as u32),
            size_bytes: 0,
            bytes_in: 0.0,
            bytes_out: 0.0,
            leader_cpu: 0.0,
            follower_cpu: 0.0,
        });
    }

    /// Lays out the brokers and turns broker ids into indices. `brokers` are Metadata's;
    /// `described` DescribeCluster's when the cluster answered it (they win).
    pub fn finish(
        mut self,
        brokers: &BTreeMap<i32, BrokerInfo>,
        described: Option<&[BrokerInfo]>,
    ) -> Laid {
        self.end_topic();
        let mut infos: BTreeMap<i32, &BrokerInfo> = brokers.iter().map(|(k, v)| (*k, v)).collect();
        for b in described.unwrap_or_default() {
            infos.insert(b.id, b);
        }
        let mut states: BTreeMap<i32, (Option<String>, BrokerState)> = infos
            .values()
            .map(|b| {
                let state = if b.fenced {
                    BrokerState::Dead
                } else {
                    BrokerState::Alive
                };
                (b.id, (b.rack.clone(), state))
            })
            .collect();
        let mut unknown_brokers = Vec::new();
        for &r in &self.replicas {
            let id = r as i32;
            if let std::collections::btree_map::Entry::Vacant(e) = states.entry(id) {
                e.insert((None, BrokerState::Dead));
                unknown_brokers.push(id);
            }
        }
        unknown_brokers.sort_unstable();
        let fenced: Vec<i32> = infos.values().filter(|b| b.fenced).map(|b| b.id).collect();

        let mut cluster = Cluster::default();
        let mut rack_ids: BTreeMap<String, u32> = BTreeMap::new();
        for (id, (rack, state)) in &states {
            let rack_name = rack.clone().unwrap_or_else(|| format!("broker-{id}"));
            let next = rack_ids.len() as u32;
            let rack_idx = *rack_ids.entry(rack_name.clone()).or_insert_with(|| {
                cluster.racks.push(rack_name);
                next
            });
            cluster.brokers.push(Broker {
                id: *id,
                rack: rack.clone(),
                rack_idx,
                state: *state,
                capacity: [0.0; 4],
            });
        }
        let index_of_broker: BTreeMap<i32, u32> = cluster
            .brokers
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id, i as u32))
            .collect();

        // Topics sorted by name, in place: rank the names, renumber, sort partitions.
        if !self.topics.is_sorted() {
            let mut order: Vec<u32> = (0..self.topics.len() as u32).collect();
            order.sort_by(|a, b| self.topics[*a as usize].cmp(&self.topics[*b as usize]));
            let mut rank = vec![0u32; order.len()];
            for (r, t) in order.iter().enumerate() {
                rank[*t as usize] = r as u32;
            }
            for p in &mut self.partitions {
                p.topic = rank[p.topic as usize];
            }
            self.partitions
                .sort_unstable_by_key(|p| (p.topic, p.partition));
            let mut names: Vec<Option<String>> = std::mem::take(&mut self.topics)
                .into_iter()
                .map(Some)
                .collect();
            self.topics = order
                .iter()
                .map(|t| names[*t as usize].take().unwrap_or_default())
                .collect();
        }

        for r in &mut self.replicas {
            // Every replica id got a broker entry above.
            *r = index_of_broker.get(&(*r as i32)).copied().unwrap_or(0);
        }
        let mut leaderless = 0usize;
        let mut leaderless_examples = Vec::new();
        for p in &mut self.partitions {
            let replicas = &self.replicas[p.start as usize..p.start as usize + usize::from(p.rf)];
            let leader = (p.leader != NO_LEADER)
                .then(|| index_of_broker.get(&(p.leader as i32)).copied())
                .flatten()
                .filter(|l| {
                    replicas.contains(l) && cluster.brokers[*l as usize].state == BrokerState::Alive
                });
            p.leader = match leader {
                Some(l) => l,
                None => {
                    leaderless += 1;
                    push_example(&mut leaderless_examples, || {
                        format!("{}-{}", self.topics[p.topic as usize], p.partition)
                    });
                    replicas[0]
                }
            };
        }
        let mut topic_start = vec![0u32; self.topics.len() + 1];
        for p in &self.partitions {
            topic_start[p.topic as usize + 1] += 1;
        }
        for t in 1..topic_start.len() {
            topic_start[t] += topic_start[t - 1];
        }
        cluster.topics = self.topics;
        cluster.partitions = self.partitions;
        cluster.replicas = self.replicas;

        let mut warnings = Vec::new();
        if !unknown_brokers.is_empty() {
            warnings.push(Warning::api(
                "Metadata",
                format!(
                    "brokers {} host replicas but are not in the cluster metadata: written as state \"dead\"",
                    ids(&unknown_brokers)
                ),
            ));
        }
        if !fenced.is_empty() {
            warnings.push(Warning::api(
                "DescribeCluster",
                format!(
                    "brokers {} are fenced: written as state \"dead\"",
                    ids(&fenced)
                ),
            ));
        }
        if leaderless > 0 {
            warnings.push(Warning::api(
                "Metadata",
                format!(
                    "{leaderless} partitions have no live leader (e.g. {}): leader written as replicas[0], rates not measured",
                    leaderless_examples.join(", ")
                ),
            ));
        }
        if !self.no_replicas.is_empty() {
            warnings.push(Warning::api(
                "Metadata",
                format!(
                    "partitions without replicas left out of the snapshot (e.g. {})",
                    self.no_replicas.join(", ")
                ),
            ));
        }
        if self.under_replicated > 0 {
            warnings.push(Warning::api(
                "Metadata",
                format!(
                    "{} partitions are under-replicated (ISR smaller than the replica set)",
                    self.under_replicated
                ),
            ));
        }
        if self.skipped_topic_count > 0 {
            warnings.push(Warning::api(
                "Metadata",
                format!(
                    "{} topics left out of the snapshot: Metadata answered them with an error (e.g. {})",
                    self.skipped_topic_count,
                    self.skipped_topics.join(", ")
                ),
            ));
        }
        Laid {
            cluster,
            topic_start,
            warnings,
        }
    }
}

impl MetadataVisitor for Layout {
    fn totals(&mut self, topics: usize, partitions: usize, replicas: usize) {
        self.reserve(topics, partitions, replicas);
    }

    fn topic(&mut self, topic: &TopicHead<'_>) {
        let name = topic.name.unwrap_or_default();
        match ResponseError::try_from_code(topic.error_code) {
            None => self.begin_topic(name),
            // Deleted between listing and describing: not part of the cluster any more.
            Some(ResponseError::UnknownTopicOrPartition) => self.end_topic(),
            Some(e) => self.skip_topic(name, e),
        }
    }

    fn partition(&mut self, p: &PartitionEntry<'_>) {
        self.push_partition(p.partition, Some(p.leader), p.replicas.iter(), p.isr.len());
    }
}
