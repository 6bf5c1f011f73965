//! The cluster model: brokers, racks, topics and partitions held in dense, index-addressed
//! vectors so that planning 2.8M replicas stays cache-friendly.
//!
//! Brokers are addressed by their index in [`Cluster::brokers`] (not their Kafka id), topics
//! by their index in [`Cluster::topics`], and every partition's replicas live in one flat
//! vector ([`Cluster::replicas`]). Load is derived exactly as `cluster-snapshot.md` says.

/// The four capacity-bound resources, in the order used by every `[f64; 4]` in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// Bytes on disk.
    Disk = 0,
    /// Bytes per second in (produce + replication fetch into the broker).
    NetworkIn = 1,
    /// Bytes per second out (consumers + followers fetching from the leader).
    NetworkOut = 2,
    /// CPU cores.
    Cpu = 3,
}

impl Resource {
    /// All resources in index order.
    pub const ALL: [Resource; 4] = [
        Resource::Disk,
        Resource::NetworkIn,
        Resource::NetworkOut,
        Resource::Cpu,
    ];

    /// Short name used in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Disk => "disk",
            Resource::NetworkIn => "network_in",
            Resource::NetworkOut => "network_out",
            Resource::Cpu => "cpu",
        }
    }
}

/// A broker's lifecycle state (`state` in the snapshot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BrokerState {
    /// Serving normally.
    Alive,
    /// Just added and empty; takes replicas.
    New,
    /// Gone: its replicas must move off.
    Dead,
    /// Being decommissioned: must end with no replicas.
    Removing,
    /// Keeps its replicas but leads nothing.
    Demoting,
}

impl BrokerState {
    /// Parses the snapshot spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "alive" => BrokerState::Alive,
            "new" => BrokerState::New,
            "dead" => BrokerState::Dead,
            "removing" => BrokerState::Removing,
            "demoting" => BrokerState::Demoting,
            _ => return None,
        })
    }
    /// The snapshot spelling.
    pub fn name(self) -> &'static str {
        match self {
            BrokerState::Alive => "alive",
            BrokerState::New => "new",
            BrokerState::Dead => "dead",
            BrokerState::Removing => "removing",
            BrokerState::Demoting => "demoting",
        }
    }
    /// Whether the broker may hold replicas at the end of a plan.
    pub fn can_host(self) -> bool {
        !matches!(self, BrokerState::Dead | BrokerState::Removing)
    }
    /// Whether the broker may lead partitions at the end of a plan.
    pub fn can_lead(self) -> bool {
        matches!(self, BrokerState::Alive | BrokerState::New)
    }
}

/// One broker.
#[derive(Debug, Clone, PartialEq)]
pub struct Broker {
    /// Kafka broker id.
    pub id: i32,
    /// Rack as written in the snapshot (`None`: a rack of its own).
    pub rack: Option<String>,
    /// Index into [`Cluster::racks`]; brokers without a rack get a rack of their own.
    pub rack_idx: u32,
    /// Lifecycle state.
    pub state: BrokerState,
    /// Capacity per [`Resource`] (bytes, bytes/s, bytes/s, cores).
    pub capacity: [f64; 4],
}

/// One partition. Its replicas are `Cluster::replicas[start .. start + rf]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Partition {
    /// Index into [`Cluster::topics`].
    pub topic: u32,
    /// Partition number.
    pub partition: i32,
    /// Offset of the first replica in [`Cluster::replicas`].
    pub start: u32,
    /// Replication factor.
    pub rf: u8,
    /// Broker index of the current leader.
    pub leader: u32,
    /// On-disk size of one replica.
    pub size_bytes: u64,
    /// Produce rate into the partition.
    pub bytes_in: f64,
    /// Consumer fetch rate from the leader.
    pub bytes_out: f64,
    /// CPU cost of leading.
    pub leader_cpu: f64,
    /// CPU cost of following.
    pub follower_cpu: f64,
}

impl Partition {
    /// Load a replica of this partition puts on its broker, per [`Resource`], when it
    /// leads (`leader == true`) or follows.
    pub fn replica_load(&self, leader: bool) -> [f64; 4] {
        if leader {
            [
                self.size_bytes as f64,
                self.bytes_in,
                self.bytes_out + (f64::from(self.rf) - 1.0) * self.bytes_in,
                self.leader_cpu,
            ]
        } else {
            [
                self.size_bytes as f64,
                self.bytes_in,
                0.0,
                self.follower_cpu,
            ]
        }
    }
}

/// A whole cluster.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Cluster {
    /// Brokers in snapshot order.
    pub brokers: Vec<Broker>,
    /// Rack names (brokers without a rack get the synthetic name `broker-<id>`).
    pub racks: Vec<String>,
    /// Topic names, in first-seen order.
    pub topics: Vec<String>,
    /// Partitions in snapshot order.
    pub partitions: Vec<Partition>,
    /// Broker indices of every partition's replicas, in preferred order.
    pub replicas: Vec<u32>,
}

impl Cluster {
    /// The replicas (broker indices) of partition `p`.
    pub fn replicas_of(&self, p: usize) -> &[u32] {
        let part = &self.partitions[p];
        let s = part.start as usize;
        &self.replicas[s..s + usize::from(part.rf)]
    }

    /// Index of the broker with Kafka id `id`.
    pub fn broker_index(&self, id: i32) -> Option<u32> {
        self.brokers
            .iter()
            .position(|b| b.id == id)
            .map(|i| i as u32)
    }

    /// `topic-partition` name of partition `p`.
    pub fn partition_name(&self, p: usize) -> String {
        let part = &self.partitions[p];
        format!("{}-{}", self.topics[part.topic as usize], part.partition)
    }

    /// Total number of replicas.
    pub fn replica_count(&self) -> usize {
        self.replicas.len()
    }

    /// Per-broker load `[disk, nw-in, nw-out, cpu]` with the current leaders.
    pub fn broker_loads(&self) -> Vec<[f64; 4]> {
        let mut loads = vec![[0.0; 4]; self.brokers.len()];
        for (p, part) in self.partitions.iter().enumerate() {
            for &b in self.replicas_of(p) {
                let l = part.replica_load(b == part.leader);
                for r in 0..4 {
                    loads[b as usize][r] += l[r];
                }
            }
        }
        loads
    }

    /// Sets every partition's leader to its preferred leader (`replicas[0]`), as a
    /// preferred-leader election does.
    pub fn elect_preferred_leaders(&mut self) {
        for part in &mut self.partitions {
            part.leader = self.replicas[part.start as usize];
        }
    }
}
