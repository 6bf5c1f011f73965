//! The IO shell of a capture: asks the cluster, feeds the answers to [`Draft`].
//!
//! Requests are batched so the capture scales with brokers, not partitions: one Metadata,
//! one DescribeCluster, one DescribeLogDirs per broker, and per round one ListOffsets per
//! leader (chunks of [`SnapshotOptions::partitions_per_request`]), at most
//! [`SnapshotOptions::concurrency`] in flight. Order: end offsets, the sample window, end
//! offsets together with DescribeLogDirs, log start offsets; a capture takes `sample` plus a
//! few round trips.

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use kafka_protocol::ResponseError;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterPartitionReassignmentsRequest, BrokerId, CreateTopicsRequest,
    DescribeClientQuotasRequest, DescribeClusterRequest, DescribeConfigsRequest,
    DescribeLogDirsRequest, DescribeLogDirsResponse, ElectLeadersRequest, FetchRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, ListOffsetsResponse,
    ListPartitionReassignmentsRequest, MetadataRequest, ProduceRequest, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use keel_balancer::{BrokerState, Cluster};
use keel_wire::WireError;
use keel_wire::client::connection::Connection;
use keel_wire::client::{ErrorContext, KafkaClient, Target, check_code};
use parking_lot::Mutex;

use super::assemble::{Draft, OffsetAnswer, OffsetGroup, Round};
use super::capacity::CapacityFile;
use super::error::{Result, SnapshotError};
use super::layout::Layout;
use super::warning::{Capabilities, Capability, Warning, ids};

/// How to capture.
#[derive(Debug, Clone)]
pub struct SnapshotOptions {
    /// Length of the window over which log-end-offset growth is measured.
    pub sample: Duration,
    /// Broker capacities.
    pub capacity: CapacityFile,
    /// Consumer fan-out: bytes out of a partition's leader = bytes in × this.
    pub fan_out: f64,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Most partitions in one ListOffsets request.
    pub partitions_per_request: usize,
}

impl Default for SnapshotOptions {
    fn default() -> Self {
        SnapshotOptions {
            sample: Duration::from_secs(10),
            capacity: CapacityFile::default(),
            fan_out: 1.0,
            concurrency: 16,
            partitions_per_request: 5000,
        }
    }
}

/// A captured snapshot.
#[derive(Debug, Clone)]
pub struct Captured {
    /// The cluster, in the balancer's model (write it with [`super::write_snapshot`]).
    pub cluster: Cluster,
    /// What could not be measured; the snapshot is complete but those fields are defaults.
    pub warnings: Vec<Warning>,
    /// Which of the APIs keel uses each broker offers.
    pub capabilities: Capabilities,
    /// Wall time of the capture.
    pub elapsed: Duration,
}

/// The APIs the sidecar uses, probed on every broker.
const PROBED: [&str; 14] = [
    "Metadata",
    "DescribeCluster",
    "DescribeLogDirs",
    "ListOffsets",
    "DescribeConfigs",
    "IncrementalAlterConfigs",
    "AlterPartitionReassignments",
    "ListPartitionReassignments",
    "ElectLeaders",
    "DescribeClientQuotas",
    "AlterClientQuotas",
    "CreateTopics",
    "Produce",
    "Fetch",
];

fn offered(conn: &Connection) -> [bool; 14] {
    [
        conn.version_for::<MetadataRequest>(None).is_ok(),
        conn.version_for::<DescribeClusterRequest>(None).is_ok(),
        conn.version_for::<DescribeLogDirsRequest>(None).is_ok(),
        conn.version_for::<ListOffsetsRequest>(None).is_ok(),
        conn.version_for::<DescribeConfigsRequest>(None).is_ok(),
        conn.version_for::<IncrementalAlterConfigsRequest>(None)
            .is_ok(),
        conn.version_for::<AlterPartitionReassignmentsRequest>(None)
            .is_ok(),
        conn.version_for::<ListPartitionReassignmentsRequest>(None)
            .is_ok(),
        conn.version_for::<ElectLeadersRequest>(None).is_ok(),
        conn.version_for::<DescribeClientQuotasRequest>(None)
            .is_ok(),
        conn.version_for::<AlterClientQuotasRequest>(None).is_ok(),
        conn.version_for::<CreateTopicsRequest>(None).is_ok(),
        conn.version_for::<ProduceRequest>(Some(12)).is_ok(),
        conn.version_for::<FetchRequest>(Some(12)).is_ok(),
    ]
}

/// ApiVersions of every live broker: which of [`PROBED`] each offers. Unreachable brokers
/// become warnings.
async fn probe_capabilities(
    client: &KafkaClient,
    brokers: &[i32],
    concurrency: usize,
) -> (Capabilities, Vec<Warning>) {
    let answers: Vec<(i32, std::result::Result<[bool; 14], WireError>)> =
        futures::stream::iter(brokers.iter().copied())
            .map(|id| async move {
                let result = client
                    .connection_for(&Target::Broker(id))
                    .await
                    .map(|conn| offered(&conn));
                (id, result)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let mut caps = Capabilities {
        apis: PROBED
            .iter()
            .map(|api| Capability {
                api,
                missing_on: Vec::new(),
                asked: 0,
            })
            .collect(),
    };
    let mut unreachable = Vec::new();
    let mut last_error = String::new();
    for (id, result) in answers {
        match result {
            Ok(flags) => {
                for (cap, ok) in caps.apis.iter_mut().zip(flags) {
                    cap.asked += 1;
                    if !ok {
                        cap.missing_on.push(id);
                    }
                }
            }
            Err(e) => {
                unreachable.push(id);
                last_error = e.to_string();
            }
        }
    }
    for cap in &mut caps.apis {
        cap.missing_on.sort_unstable();
    }
    let mut warnings = Vec::new();
    if !unreachable.is_empty() {
        unreachable.sort_unstable();
        warnings.push(Warning::other(format!(
            "brokers {} unreachable ({last_error}): their replicas are not sized",
            ids(&unreachable)
        )));
    }
    (caps, warnings)
}

/// Runs one ListOffsets round over `groups`, folding answers into `draft`. Groups whose
/// window did not open (first round failed) are skipped in later rounds.
async fn offsets_round(
    client: &KafkaClient,
    draft: &Mutex<Draft>,
    groups: Vec<OffsetGroup>,
    round: Round,
    origin: Instant,
    concurrency: usize,
) -> Vec<OffsetGroup> {
    futures::stream::iter(groups)
        .map(|mut group| async move {
            if round != Round::EndBefore && group.opened_at.is_none() {
                return group;
            }
            let sent = origin.elapsed().as_secs_f64();
            let result = client
                .call(
                    &Target::Broker(group.leader),
                    None,
                    |_| list_offsets_request(&draft.lock(), &group, round),
                    |response: ListOffsetsResponse, _, _| Ok(response),
                )
                .await;
            let at = (sent + origin.elapsed().as_secs_f64()) / 2.0;
            let mut draft = draft.lock();
            match result {
                Ok(response) => {
                    let answers = response.topics.iter().flat_map(|t| {
                        t.partitions.iter().map(|p| OffsetAnswer {
                            topic: t.name.0.as_str(),
                            partition: p.partition_index,
                            offset: match ResponseError::try_from_code(p.error_code) {
                                None => Ok(p.offset),
                                Some(e) => Err(e),
                            },
                        })
                    });
                    draft.record_offsets(&mut group, round, answers, at);
                }
                Err(e) => {
                    draft.record_offsets_failed(&group, round, &e);
                    if round == Round::EndBefore {
                        group.opened_at = None;
                    }
                }
            }
            group
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}

/// One ListOffsets request for every partition of `group` (topics in runs, one entry each).
fn list_offsets_request(draft: &Draft, group: &OffsetGroup, round: Round) -> ListOffsetsRequest {
    let mut topics: Vec<ListOffsetsTopic> = Vec::new();
    for (topic, partition) in draft.group_keys(group) {
        let entry = ListOffsetsPartition::default()
            .with_partition_index(partition)
            .with_current_leader_epoch(-1)
            .with_timestamp(round.spec_code());
        match topics.last_mut() {
            Some(t) if t.name.0.as_str() == topic => t.partitions.push(entry),
            _ => topics.push(
                ListOffsetsTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
                    .with_partitions(vec![entry]),
            ),
        }
    }
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(topics)
}

/// DescribeLogDirs on every broker in `brokers`, folded into `draft` straight from the
/// decoded answer (no per-replica copies).
async fn log_dirs(client: &KafkaClient, draft: &Mutex<Draft>, brokers: &[i32], concurrency: usize) {
    let failures: Vec<(i32, WireError)> = futures::stream::iter(brokers.iter().copied())
        .map(|id| async move {
            let result = client
                .call(
                    &Target::Broker(id),
                    None,
                    |_| DescribeLogDirsRequest::default().with_topics(None),
                    |response: DescribeLogDirsResponse, version, _| {
                        check_code("DescribeLogDirs", response.error_code, None, || {
                            ErrorContext::broker(id)
                        })?;
                        let mut draft = draft.lock();
                        for dir in &response.results {
                            let usable = draft.record_log_dir(
                                id,
                                dir.log_dir.as_str(),
                                ResponseError::try_from_code(dir.error_code),
                                (version >= 4 && dir.total_bytes >= 0).then_some(dir.total_bytes),
                            );
                            if !usable {
                                continue;
                            }
                            for t in &dir.topics {
                                for p in &t.partitions {
                                    draft.record_replica_size(
                                        t.name.0.as_str(),
                                        p.partition_index,
                                        p.partition_size,
                                        p.is_future_key,
                                    );
                                }
                            }
                        }
                        Ok(())
                    },
                )
                .await;
            result.err().map(|e| (id, e))
        })
        .buffer_unordered(concurrency.max(1))
        .filter_map(|x| async move { x })
        .collect()
        .await;
    let mut unsupported = Vec::new();
    let mut draft = draft.lock();
    for (id, e) in failures {
        match e {
            WireError::Unsupported { .. } => unsupported.push(id),
            e => draft.warn(Warning::api(
                "DescribeLogDirs",
                format!("DescribeLogDirs on broker {id} failed: {e}; its replicas are not sized"),
            )),
        }
    }
    if !unsupported.is_empty() {
        unsupported.sort_unstable();
        draft.warn(Warning::unsupported(
            "DescribeLogDirs",
            format!(
                "DescribeLogDirs not supported by brokers {}: sizes of replicas only they hold are 0",
                ids(&unsupported)
            ),
        ));
    }
}

/// Captures a snapshot of the cluster `client` is connected to (or will connect to: a
/// client from [`KafkaClient::new`] is enough, and saves the Metadata fetch `connect` makes).
///
/// Reads one fresh Metadata answer with [`KafkaClient::walk_metadata`], straight into the
/// snapshot's layout (which also refreshes the client's compact routing cache).
///
/// Fails only when cluster metadata cannot be read; everything else a broker cannot answer
/// becomes a [`Warning`] and leaves the field at its default.
pub async fn capture(client: &KafkaClient, opts: &SnapshotOptions) -> Result<Captured> {
    let origin = Instant::now();
    // Metadata goes straight from the answer's bytes into the layout: no decoded response
    // and no full `ClusterMetadata` is alive next to the snapshot.
    let mut layout = Layout::new();
    let head = client
        .walk_metadata(&mut layout)
        .await
        .map_err(|source| SnapshotError::Metadata { source })?;
    let mut early_warnings = Vec::new();
    let described = match client.describe_cluster().await {
        Ok(d) => Some(d.brokers),
        // A capability: reported once by the probe below.
        Err(WireError::Unsupported { .. }) => None,
        Err(e) => {
            early_warnings.push(Warning::api(
                "DescribeCluster",
                format!("DescribeCluster failed ({e}): brokers and racks from Metadata"),
            ));
            None
        }
    };
    let laid = layout.finish(&head.brokers, described.as_deref());
    drop(described);
    let mut draft = Draft::from_layout(laid, opts.fan_out);
    if draft.cluster().brokers.is_empty() {
        return Err(SnapshotError::Cluster {
            reason: "the cluster reports no brokers".into(),
        });
    }
    for w in early_warnings {
        draft.warn(w);
    }
    let alive: Vec<i32> = draft
        .cluster()
        .brokers
        .iter()
        .filter(|b| b.state == BrokerState::Alive)
        .map(|b| b.id)
        .collect();
    let (capabilities, probe_warnings) = probe_capabilities(client, &alive, opts.concurrency).await;
    for w in probe_warnings.into_iter().chain(capabilities.warnings()) {
        draft.warn(w);
    }
    let lacks = |api: &str, id: i32| {
        capabilities
            .apis
            .iter()
            .any(|c| c.api == api && (c.missing_on.contains(&id) || c.asked == 0))
    };
    let sizable: Vec<i32> = alive
        .iter()
        .copied()
        .filter(|id| !lacks("DescribeLogDirs", *id))
        .collect();

    let groups = draft.offset_groups(opts.partitions_per_request);
    let draft = Mutex::new(draft);
    let conc = opts.concurrency;
    let groups = offsets_round(client, &draft, groups, Round::EndBefore, origin, conc).await;
    tokio::time::sleep(opts.sample).await;
    // Sizes are read right when the window closes, so bytes per offset matches the offsets
    // counted at the close (a young, fast-growing partition would otherwise be underrated).
    let (groups, ()) = tokio::join!(
        offsets_round(client, &draft, groups, Round::EndAfter, origin, conc),
        log_dirs(client, &draft, &sizable, conc),
    );
    let groups = offsets_round(client, &draft, groups, Round::LogStart, origin, conc).await;
    drop(groups);
    let (cluster, warnings) = draft.into_inner().finish(&opts.capacity);
    Ok(Captured {
        cluster,
        warnings,
        capabilities,
        elapsed: origin.elapsed(),
    })
}
