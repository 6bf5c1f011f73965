//! The pure core of the simulator: the cluster state and every change to it, driven by
//! simulated time (`now_ms`, milliseconds since the simulation started) and by requests.
//! No IO, no tokio: the server in [`super::server`] is a thin shell around it.
//!
//! Owns brokers (liveness, dynamic configs), topics (configs, in-memory logs for topics made
//! through CreateTopics), partitions (replicas, ISR, leader, epoch), reassignments in flight
//! ([`moves`], [KIP-455](https://cwiki.apache.org/confluence/display/KAFKA/KIP-455%3A+Create+an+Administrative+API+for+Replica+Reassignment)),
//! client quotas ([`quotas`], [KIP-546](https://cwiki.apache.org/confluence/display/KAFKA/KIP-546%3A+Add+Client+Quota+APIs+to+the+Admin+Client))
//! and injected faults ([`faults`]).

pub mod catch_up;
pub mod configs;
pub mod faults;
pub mod log;
pub mod moves;
pub mod quotas;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use keel_balancer::model::{BrokerState, Cluster};

use super::{Result, SimError};
use faults::FaultState;
use log::MemLog;
use moves::Move;
use quotas::QuotaStore;

/// A Kafka broker id.
pub type BrokerId = i32;

/// Average bytes per record the simulator assumes when it turns byte rates into offsets: a
/// partition of `size_bytes` spans `size_bytes / RECORD_BYTES` offsets, and its log end offset
/// grows by `bytes_in_per_sec / RECORD_BYTES` per simulated second (its log start offset by as
/// much, as retention keeps the size steady). A snapshot tool estimates a partition's bytes-in
/// rate as `Δ(log end offset) × size_bytes / (log end offset − log start offset) / Δt`.
pub const RECORD_BYTES: u64 = 1024;

/// One simulated broker.
#[derive(Debug, Clone, PartialEq)]
pub struct SimBroker {
    /// Broker id.
    pub id: BrokerId,
    /// Rack, if the snapshot gave one.
    pub rack: Option<String>,
    /// Whether the broker answers requests and can be in an ISR.
    pub alive: bool,
    /// Disk capacity in bytes.
    pub disk_bytes: u64,
    /// Network in capacity, bytes/s.
    pub network_in: f64,
    /// Network out capacity, bytes/s.
    pub network_out: f64,
    /// Dynamic broker configs set through IncrementalAlterConfigs.
    pub configs: BTreeMap<String, String>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq)]
pub struct SimTopic {
    /// Topic name.
    pub name: String,
    /// Topic id (a UUID, derived from the name).
    pub id: [u8; 16],
    /// Indices into [`ClusterState::partitions`], by partition number.
    pub partitions: Vec<u32>,
    /// Dynamic topic configs.
    pub configs: BTreeMap<String, String>,
}

/// One partition.
#[derive(Debug, Clone, PartialEq)]
pub struct SimPartition {
    /// Index into [`ClusterState::topics`].
    pub topic: u32,
    /// Partition number.
    pub partition: i32,
    /// Replicas as Kafka reports them: during a move, the target replicas then the ones
    /// being removed.
    pub replicas: Vec<BrokerId>,
    /// In-sync replicas.
    pub isr: Vec<BrokerId>,
    /// Leader, `-1` when offline.
    pub leader: BrokerId,
    /// Leader epoch, bumped on every leader change.
    pub leader_epoch: i32,
    /// Size of one replica in bytes (for a topic with an in-memory log: the log's size).
    pub size_bytes: u64,
    /// Produce rate, bytes/s.
    pub bytes_in_per_sec: f64,
    /// In-memory log, for topics created through CreateTopics.
    pub log: Option<Box<MemLog>>,
}

/// The whole simulated cluster.
#[derive(Debug)]
pub struct ClusterState {
    /// Brokers in snapshot order; broker `i` listens on the `i`-th address.
    pub brokers: Vec<SimBroker>,
    /// Topics.
    pub topics: Vec<SimTopic>,
    /// Partitions.
    pub partitions: Vec<SimPartition>,
    pub(crate) topic_index: HashMap<String, u32>,
    pub(crate) broker_index: HashMap<BrokerId, usize>,
    /// Reassignments in flight, by partition index.
    pub moves: BTreeMap<u32, Move>,
    /// Partitions whose moves never catch up (fault).
    pub stuck: BTreeSet<u32>,
    /// Followers catching up after their broker came back, by (partition index, broker);
    /// out of the ISR until caught up ([`catch_up`]).
    pub catching_up: BTreeMap<(u32, BrokerId), catch_up::CatchUp>,
    /// When each dead broker went down, simulated ms.
    pub(crate) down_since: HashMap<BrokerId, u64>,
    /// Client quotas.
    pub quotas: QuotaStore,
    /// Cluster-wide dynamic broker config defaults (broker resource name "").
    pub cluster_defaults: BTreeMap<String, String>,
    /// Simulated time of the last [`ClusterState::advance_to`], ms.
    pub now_ms: u64,
    /// Bumped on every change a Metadata answer shows.
    pub generation: u64,
    pub(crate) faults: FaultState,
}

/// A stable pseudo-UUID for a topic name (FNV-1a over the name, twice with different seeds).
fn topic_uuid(name: &str) -> [u8; 16] {
    let hash = |seed: u64| {
        name.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&hash(0xcbf2_9ce4_8422_2325).to_be_bytes());
    id[8..].copy_from_slice(&hash(0x8422_2325_cbf2_9ce4).to_be_bytes());
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    id
}

impl ClusterState {
    /// Builds the state from a parsed `keel.cluster/v1` snapshot. Brokers in state `dead` start
    /// dead (out of every ISR); leaders come from the snapshot.
    pub fn from_cluster(cluster: &Cluster, seed: u64) -> Result<ClusterState> {
        if cluster.brokers.is_empty() {
            return Err(SimError::Snapshot {
                reason: "the snapshot has no brokers".into(),
            });
        }
        let brokers: Vec<SimBroker> = cluster
            .brokers
            .iter()
            .map(|b| SimBroker {
                id: b.id,
                rack: b.rack.clone(),
                alive: b.state != BrokerState::Dead,
                disk_bytes: b.capacity[0] as u64,
                network_in: b.capacity[1],
                network_out: b.capacity[2],
                configs: BTreeMap::new(),
            })
            .collect();
        let broker_index = brokers.iter().enumerate().map(|(i, b)| (b.id, i)).collect();
        let mut topics: Vec<SimTopic> = cluster
            .topics
            .iter()
            .map(|name| SimTopic {
                name: name.clone(),
                id: topic_uuid(name),
                partitions: Vec::new(),
                configs: BTreeMap::new(),
            })
            .collect();
        let mut partitions = Vec::with_capacity(cluster.partitions.len());
        for (p, part) in cluster.partitions.iter().enumerate() {
            let replicas: Vec<BrokerId> = cluster
                .replicas_of(p)
                .iter()
                .map(|&b| cluster.brokers[b as usize].id)
                .collect();
            let leader = cluster.brokers[part.leader as usize].id;
            partitions.push(SimPartition {
                topic: part.topic,
                partition: part.partition,
                isr: replicas.clone(),
                replicas,
                leader,
                leader_epoch: 0,
                size_bytes: part.size_bytes,
                bytes_in_per_sec: part.bytes_in,
                log: None,
            });
        }
        // Partition numbers of a topic need not be dense in a snapshot; keep them sorted.
        for (i, p) in partitions.iter().enumerate() {
            topics[p.topic as usize].partitions.push(i as u32);
        }
        for t in &mut topics {
            t.partitions
                .sort_by_key(|&i| partitions[i as usize].partition);
        }
        let topic_index = topics
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name.clone(), i as u32))
            .collect();
        let mut state = ClusterState {
            brokers,
            topics,
            partitions,
            topic_index,
            broker_index,
            moves: BTreeMap::new(),
            stuck: BTreeSet::new(),
            catching_up: BTreeMap::new(),
            down_since: HashMap::new(),
            quotas: QuotaStore::default(),
            cluster_defaults: BTreeMap::new(),
            now_ms: 0,
            generation: 0,
            faults: FaultState::new(seed),
        };
        let dead: Vec<BrokerId> = state
            .brokers
            .iter()
            .filter(|b| !b.alive)
            .map(|b| b.id)
            .collect();
        for id in dead {
            state.set_broker_alive(id, false);
        }
        Ok(state)
    }

    /// Index of broker `id`.
    pub fn broker_idx(&self, id: BrokerId) -> Option<usize> {
        self.broker_index.get(&id).copied()
    }

    /// Whether broker `id` exists and is alive.
    pub fn is_alive(&self, id: BrokerId) -> bool {
        self.broker_idx(id).is_some_and(|i| self.brokers[i].alive)
    }

    /// Index of topic `name`.
    pub fn topic_idx(&self, name: &str) -> Option<u32> {
        self.topic_index.get(name).copied()
    }

    /// Index of the topic with id `id`.
    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<u32> {
        self.topics
            .iter()
            .position(|t| &t.id == id)
            .map(|i| i as u32)
    }

    /// Index of partition `topic`/`partition`.
    pub fn partition_idx(&self, topic: &str, partition: i32) -> Option<u32> {
        let t = &self.topics[self.topic_idx(topic)? as usize];
        let at = t
            .partitions
            .binary_search_by_key(&partition, |&i| self.partitions[i as usize].partition)
            .ok()?;
        Some(t.partitions[at])
    }

    /// Partition `topic`/`partition`.
    pub fn partition(&self, topic: &str, partition: i32) -> Option<&SimPartition> {
        self.partition_idx(topic, partition)
            .map(|i| &self.partitions[i as usize])
    }

    /// Name of topic index `t`.
    pub fn topic_name(&self, t: u32) -> &str {
        &self.topics[t as usize].name
    }

    /// The controller: the first live broker (`-1` when none is alive).
    pub fn controller_id(&self) -> BrokerId {
        self.brokers.iter().find(|b| b.alive).map_or(-1, |b| b.id)
    }

    /// Replicas on dead brokers.
    pub fn offline_replicas(&self, p: &SimPartition) -> Vec<BrokerId> {
        p.replicas
            .iter()
            .copied()
            .filter(|&b| !self.is_alive(b))
            .collect()
    }

    /// Log start and log end offsets of partition index `p` now.
    pub fn offsets(&self, p: u32) -> (i64, i64) {
        let part = &self.partitions[p as usize];
        if let Some(log) = &part.log {
            return (log.start_offset(), log.end_offset());
        }
        let produced = part.bytes_in_per_sec.max(0.0) * self.now_ms as f64 / 1000.0;
        let start = (produced / RECORD_BYTES as f64) as i64;
        let end = ((part.size_bytes as f64 + produced) / RECORD_BYTES as f64) as i64;
        (start, end)
    }

    /// Marks a broker alive or dead. A dead broker leaves every ISR; partitions it led get
    /// the first other in-sync replica as leader, or go offline (leader `-1`, the ISR keeps
    /// the dead broker, as KRaft does for the last ISR member). A revived broker leads the
    /// offline partitions whose last ISR member it was; as a follower it first catches up
    /// what the partition took in while it was down and rejoins the ISR only then
    /// ([`catch_up`]).
    pub fn set_broker_alive(&mut self, id: BrokerId, alive: bool) {
        let Some(bi) = self.broker_idx(id) else {
            return;
        };
        let was_alive = self.brokers[bi].alive;
        self.brokers[bi].alive = alive;
        self.generation += 1;
        let down_ms = if alive {
            let since = self.down_since.remove(&id);
            since.map_or(0, |t| self.now_ms.saturating_sub(t))
        } else {
            if was_alive || !self.down_since.contains_key(&id) {
                self.down_since.insert(id, self.now_ms);
            }
            0
        };
        let mut behind = Vec::new();
        for pi in 0..self.partitions.len() {
            let copied = self.moves.get(&(pi as u32)).and_then(|m| m.copied_to(id));
            // A replica a move adds copies through the move; once fully copied it is a
            // follower like any other and catches up what it missed.
            let adding = copied.is_some_and(|c| c < self.partitions[pi].size_bytes);
            let p = &mut self.partitions[pi];
            if !p.replicas.contains(&id) {
                continue;
            }
            if alive {
                if p.leader == -1 && p.isr.contains(&id) {
                    p.leader = id;
                    p.leader_epoch += 1;
                } else if !was_alive && !adding && !p.isr.contains(&id) {
                    behind.push(pi as u32);
                }
            } else if p.leader == id {
                let next = p.isr.iter().copied().find(|&b| b != id && b != -1);
                if let Some(next) = next {
                    p.isr.retain(|&b| b != id);
                    p.leader = next;
                } else {
                    p.leader = -1;
                }
                p.leader_epoch += 1;
            } else if p.leader != -1 {
                p.isr.retain(|&b| b != id);
            }
        }
        for p in behind {
            self.start_catch_up(p, id, down_ms);
        }
        if alive {
            // A move that waited only for this broker back in the ISR (as leader of an
            // offline partition) completes now, as in Kafka (the controller re-checks on every
            // ISR change); one waiting for it as a follower completes once it has caught up.
            let pending: Vec<u32> = self.moves.keys().copied().collect();
            for p in pending {
                self.try_complete(p);
            }
        }
    }

    /// Preferred-leader election for partition index `p`: `Ok(true)` when the leader moved,
    /// `Ok(false)` when the preferred leader already leads, `Err(code)` with Kafka's error
    /// code (80, PREFERRED_LEADER_NOT_AVAILABLE) when it cannot lead.
    pub fn elect_preferred(&mut self, p: u32) -> std::result::Result<bool, i16> {
        let part = &self.partitions[p as usize];
        let Some(&preferred) = part.replicas.first() else {
            return Err(80);
        };
        if part.leader == preferred {
            return Ok(false);
        }
        if !self.is_alive(preferred) || !part.isr.contains(&preferred) {
            return Err(80);
        }
        let part = &mut self.partitions[p as usize];
        part.leader = preferred;
        part.leader_epoch += 1;
        self.generation += 1;
        Ok(true)
    }

    /// Unclean election for partition index `p`: an offline partition takes any live
    /// replica as leader. `Ok(false)` when it has a leader, `Err(83)`
    /// (ELIGIBLE_LEADERS_NOT_AVAILABLE) when no replica is alive.
    pub fn elect_unclean(&mut self, p: u32) -> std::result::Result<bool, i16> {
        if self.partitions[p as usize].leader != -1 {
            return Ok(false);
        }
        let live = self.partitions[p as usize]
            .replicas
            .iter()
            .copied()
            .find(|&b| self.is_alive(b));
        let Some(b) = live else { return Err(83) };
        let part = &mut self.partitions[p as usize];
        part.leader = b;
        part.isr = vec![b];
        part.leader_epoch += 1;
        self.generation += 1;
        Ok(true)
    }

    /// Adds a topic with the given replica assignment (one list per partition) and configs;
    /// its partitions get in-memory logs.
    pub fn add_topic(
        &mut self,
        name: &str,
        assignment: Vec<Vec<BrokerId>>,
        configs: BTreeMap<String, String>,
    ) -> u32 {
        let t = self.topics.len() as u32;
        let mut indices = Vec::with_capacity(assignment.len());
        for (n, replicas) in assignment.into_iter().enumerate() {
            let isr: Vec<BrokerId> = replicas
                .iter()
                .copied()
                .filter(|&b| self.is_alive(b))
                .collect();
            let leader = isr.first().copied().unwrap_or(-1);
            indices.push(self.partitions.len() as u32);
            self.partitions.push(SimPartition {
                topic: t,
                partition: n as i32,
                replicas,
                isr,
                leader,
                leader_epoch: 0,
                size_bytes: 0,
                bytes_in_per_sec: 0.0,
                log: Some(Box::default()),
            });
        }
        self.topics.push(SimTopic {
            name: name.to_owned(),
            id: topic_uuid(name),
            partitions: indices,
            configs,
        });
        self.topic_index.insert(name.to_owned(), t);
        self.generation += 1;
        t
    }

    /// Replicas each broker index holds (for DescribeLogDirs), as partition indices.
    pub fn replicas_on(&self, broker: BrokerId) -> Vec<u32> {
        self.partitions
            .iter()
            .enumerate()
            .filter(|(_, p)| p.replicas.contains(&broker))
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// Bytes of partition index `p` that broker `b` holds: all of it, or what a move has
    /// copied so far.
    pub fn replica_bytes(&self, p: u32, b: BrokerId) -> u64 {
        let size = self.partitions[p as usize].size_bytes;
        self.moves
            .get(&p)
            .and_then(|m| m.copied_to(b))
            .map_or(size, |c| c.min(size))
    }
}

#[cfg(test)]
mod tests;
