//! [`Routing`]: the client's routing cache, the part of cluster metadata that routing needs
//! and nothing more: brokers (id, address, rack), the controller, and one leader id per
//! partition, stored per topic in a dense array indexed by partition (topic names once).
//! About 4 bytes per partition, where a full [`super::ClusterMetadata`] holds three `Vec`s.
//!
//! Also the [`MetadataVisitor`] trait through which a Metadata response is read topic by
//! topic ([`super::metadata_reader`]), and the visitor that builds a [`Routing`].

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::ResponseError;

use super::cluster::BrokerInfo;
use super::context::ErrorContext;
use super::metadata_reader::{PartitionEntry, TopicHead};
use crate::error::{Result, WireError};

/// Receives a Metadata response as it is read: each topic's head, then its partitions.
pub trait MetadataVisitor {
    /// Called once before the first topic with the answer's totals (counted in a first,
    /// allocation-free pass over the bytes), so the visitor can reserve exactly.
    fn totals(&mut self, topics: usize, partitions: usize, replicas: usize) {
        let _ = (topics, partitions, replicas);
    }
    /// A topic starts; its partitions follow through [`MetadataVisitor::partition`].
    fn topic(&mut self, topic: &TopicHead<'_>);
    /// One partition of the topic last started.
    fn partition(&mut self, partition: &PartitionEntry<'_>);
}

/// A visitor that ignores everything.
impl MetadataVisitor for () {
    fn topic(&mut self, _: &TopicHead<'_>) {}
    fn partition(&mut self, _: &PartitionEntry<'_>) {}
}

/// Both visitors see everything, the first one first.
impl<A: MetadataVisitor, B: MetadataVisitor> MetadataVisitor for (&mut A, &mut B) {
    fn totals(&mut self, topics: usize, partitions: usize, replicas: usize) {
        self.0.totals(topics, partitions, replicas);
        self.1.totals(topics, partitions, replicas);
    }
    fn topic(&mut self, topic: &TopicHead<'_>) {
        self.0.topic(topic);
        self.1.topic(topic);
    }
    fn partition(&mut self, partition: &PartitionEntry<'_>) {
        self.0.partition(partition);
        self.1.partition(partition);
    }
}

/// Leader ids per topic, indexed by partition (-1 = no leader or not listed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Routing {
    /// The cluster id.
    pub cluster_id: Option<String>,
    /// Controller id as Metadata reports it (in KRaft a random live broker), if any.
    pub controller_id: Option<i32>,
    /// Brokers by id.
    pub brokers: BTreeMap<i32, BrokerInfo>,
    leaders: HashMap<Box<str>, Box<[i32]>>,
}

impl Routing {
    /// The broker with this id.
    pub fn broker(&self, id: i32) -> Option<&BrokerInfo> {
        self.brokers.get(&id)
    }

    /// The leader of a partition, or `LeaderNotAvailable` / `UnknownTopicOrPartition` (both
    /// retriable after a metadata refresh).
    pub fn leader_of(&self, topic: &str, partition: i32) -> Result<i32> {
        let leader = self
            .leaders
            .get(topic)
            .and_then(|l| usize::try_from(partition).ok().and_then(|i| l.get(i)))
            .copied();
        let error = match leader {
            Some(l) if l >= 0 && self.brokers.contains_key(&l) => return Ok(l),
            Some(_) => (
                ResponseError::LeaderNotAvailable,
                "no live leader in cluster metadata",
            ),
            None => (
                ResponseError::UnknownTopicOrPartition,
                "not in cluster metadata",
            ),
        };
        Err(WireError::Kafka {
            api: "Metadata",
            error: error.0,
            context: ErrorContext::default().topic(topic).partition(partition),
            message: Some(error.1.to_owned()),
        })
    }

    /// Number of topics with routing entries.
    pub fn topic_count(&self) -> usize {
        self.leaders.len()
    }

    /// Number of partition slots (partitions listed, plus gaps in sparse indices).
    pub fn partition_slots(&self) -> usize {
        self.leaders.values().map(|l| l.len()).sum()
    }
}

/// Builds a [`Routing`] from a Metadata response read topic by topic. Topics with an error
/// code get no entry (their lookups fail as unknown, which refreshes metadata).
#[derive(Debug, Default)]
pub(crate) struct RoutingBuilder {
    routing: Routing,
    /// The topic being read, if it gets an entry.
    current: Option<Box<str>>,
    /// `(partition, leader)` of the topic being read (reused across topics).
    listed: Vec<(i32, i32)>,
}

impl RoutingBuilder {
    fn end_topic(&mut self) {
        let Some(name) = self.current.take() else {
            return;
        };
        let listed = &self.listed;
        // Partitions are 0..n in Kafka; a sparse or hostile index beyond twice the count
        // gets no slot rather than a huge array (its lookups fail as unknown).
        let limit = listed.len().saturating_mul(2).saturating_add(16);
        let slots = listed
            .iter()
            .filter_map(|(p, _)| usize::try_from(*p).ok().filter(|p| *p < limit))
            .max()
            .map_or(0, |m| m + 1);
        let mut leaders = vec![-1i32; slots];
        for &(p, leader) in listed {
            if let Some(slot) = usize::try_from(p).ok().and_then(|p| leaders.get_mut(p)) {
                *slot = leader;
            }
        }
        self.listed.clear();
        self.routing
            .leaders
            .insert(name, leaders.into_boxed_slice());
    }

    /// The finished routing with the response's brokers and controller.
    pub(crate) fn finish(
        mut self,
        cluster_id: Option<String>,
        controller_id: Option<i32>,
        brokers: BTreeMap<i32, BrokerInfo>,
    ) -> Routing {
        self.end_topic();
        self.routing.cluster_id = cluster_id;
        self.routing.controller_id = controller_id;
        self.routing.brokers = brokers;
        self.routing.leaders.shrink_to_fit();
        self.routing
    }
}

impl MetadataVisitor for RoutingBuilder {
    fn topic(&mut self, topic: &TopicHead<'_>) {
        self.end_topic();
        if let (0, Some(name)) = (topic.error_code, topic.name) {
            self.current = Some(name.into());
        }
    }

    fn partition(&mut self, partition: &PartitionEntry<'_>) {
        if self.current.is_some() {
            self.listed.push((partition.partition, partition.leader));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::metadata_reader::BrokerIds;

    fn head(name: &str, error_code: i16) -> TopicHead<'_> {
        TopicHead {
            error_code,
            name: Some(name),
            topic_id: [0; 16],
            is_internal: false,
            partitions: 0,
        }
    }

    fn part(partition: i32, leader: i32) -> PartitionEntry<'static> {
        PartitionEntry {
            error_code: 0,
            partition,
            leader,
            leader_epoch: 0,
            replicas: BrokerIds::default(),
            isr: BrokerIds::default(),
            offline_replicas: BrokerIds::default(),
        }
    }

    fn broker(id: i32) -> (i32, BrokerInfo) {
        let info = BrokerInfo {
            id,
            host: "h".into(),
            port: 1,
            rack: None,
            fenced: false,
        };
        (id, info)
    }

    #[test]
    fn leader_of_names_missing_topic_leaderless_and_sparse_partitions() {
        let mut b = RoutingBuilder::default();
        b.topic(&head("t", 0));
        b.partition(&part(1, 7));
        b.partition(&part(0, 1));
        b.partition(&part(2, -1));
        b.partition(&part(1_000_000, 1));
        b.topic(&head("bad", ResponseError::LeaderNotAvailable.code()));
        b.partition(&part(0, 1));
        let r = b.finish(None, Some(1), [broker(1)].into_iter().collect());
        assert_eq!(r.leader_of("t", 0).unwrap(), 1);
        for (p, code) in [
            (1, "LeaderNotAvailable"),
            (2, "LeaderNotAvailable"),
            (3, "UnknownTopicOrPartition"),
            (-1, "UnknownTopicOrPartition"),
            (1_000_000, "UnknownTopicOrPartition"),
        ] {
            let e = r.leader_of("t", p).unwrap_err();
            assert!(e.to_string().contains(code), "partition {p}: {e}");
            assert!(e.to_string().contains(&format!("partition {p}")), "{e}");
        }
        let e = r.leader_of("bad", 0).unwrap_err();
        assert!(e.to_string().contains("UnknownTopicOrPartition"), "{e}");
        assert!(e.to_string().contains("\"bad\""), "{e}");
        assert_eq!(r.topic_count(), 1);
        assert_eq!(r.partition_slots(), 3);
    }
}
