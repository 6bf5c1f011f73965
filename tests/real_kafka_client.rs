//! keel's Kafka admin client against the real 3-broker Apache Kafka KRaft cluster that
//! `./test.sh` starts (`tests/servers/kafka-start.sh` writes `KEEL_KAFKA_BOOTSTRAP`).
//! Without it these tests fail and say how to start it.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use keel_wire::WireError;
use keel_wire::batch::RecordBatchBuilder;
use keel_wire::client::{
    ConfigChange, ConfigResource, ConfigSource, FetchOptions, KafkaClient, NewTopic, OffsetSpec,
    QuotaAlteration, QuotaFilter, QuotaMatch, first_error,
};

#[path = "common/real_servers.rs"]
mod real_servers;

async fn client() -> KafkaClient {
    real_servers::kafka_client("keel-real-kafka-test").await
}

fn unique(prefix: &str) -> String {
    real_servers::unique(&format!("keel-client-{prefix}"))
}

/// Polls `check` until it returns `Some`, failing after `secs` seconds.
async fn eventually<T, F, Fut>(what: &str, secs: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn create(client: &KafkaClient, topic: NewTopic) {
    let name = topic.name.clone();
    let outcomes = client.create_topics(&[topic], false).await.unwrap();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    eventually("topic leaders", 30, || async {
        let meta = client.refresh_metadata().await.ok()?;
        let t = meta.topics.get(&name)?;
        t.partitions
            .iter()
            .all(|p| p.leader.is_some())
            .then_some(())
    })
    .await;
}

/// Deletes `topic` (the tests' clean-up) and waits until Metadata no longer lists it.
async fn delete(client: &KafkaClient, topic: &str) {
    let outcomes = client.delete_topics(&[topic.to_owned()]).await.unwrap();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    eventually("topic gone from metadata", 30, || async {
        let meta = client.refresh_metadata().await.ok()?;
        (!meta.topics.contains_key(topic)).then_some(())
    })
    .await;
}

#[tokio::test]
async fn real_topic_is_deleted_and_a_second_delete_says_unknown() {
    let client = client().await;
    let topic = unique("delete");
    create(&client, NewTopic::new(topic.clone(), 2, 2)).await;
    delete(&client, &topic).await;
    // The routing cache forgot it too: a leader lookup fails instead of using stale routes.
    let err = client
        .list_offsets(&[(topic.clone(), 0, OffsetSpec::Latest)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            WireError::Kafka {
                error: ResponseError::UnknownTopicOrPartition,
                ..
            }
        ),
        "{err}"
    );
    let again = client
        .delete_topics(std::slice::from_ref(&topic))
        .await
        .unwrap();
    assert_eq!(again.len(), 1);
    assert!(again[0].gone(), "{again:?}");
    match &again[0].error {
        Some(e @ WireError::Kafka { error, .. }) => {
            assert_eq!(*error, ResponseError::UnknownTopicOrPartition);
            assert!(e.to_string().contains(&topic), "{e}");
        }
        other => panic!("expected UnknownTopicOrPartition, got {other:?}"),
    }
}

#[tokio::test]
async fn real_cluster_describes_three_brokers_with_racks() {
    let client = client().await;
    let description = client.describe_cluster().await.unwrap();
    let ids: Vec<i32> = description.brokers.iter().map(|b| b.id).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    let racks: BTreeSet<&str> = description
        .brokers
        .iter()
        .map(|b| b.rack.as_deref().unwrap())
        .collect();
    assert_eq!(racks, BTreeSet::from(["r0", "r1", "r2"]));
    let controller = description.controller_id.unwrap();
    assert!(
        ids.contains(&controller),
        "controller {controller} is a broker"
    );
    let meta = client.metadata(None).await.unwrap();
    assert_eq!(meta.brokers.len(), 3);
    assert_eq!(meta.brokers[&1].rack.as_deref(), Some("r1"));
    assert_eq!(
        meta.cluster_id.as_deref(),
        Some(description.cluster_id.as_str())
    );
}

#[tokio::test]
async fn real_produce_then_fetch_returns_the_same_batch_and_log_dirs_see_it() {
    let client = client().await;
    let topic = unique("records");
    create(&client, NewTopic::new(topic.clone(), 1, 3)).await;

    let mut builder = RecordBatchBuilder::new(0);
    for i in 0..3u8 {
        builder
            .append(
                1_700_000_000_000 + i64::from(i),
                Some(&[b'k', i]),
                Some(&[b'v'; 100]),
                &[],
            )
            .unwrap();
    }
    let sent = builder.build().unwrap();
    let ack = client
        .produce(&topic, 0, Bytes::from(sent.clone()))
        .await
        .unwrap();
    assert_eq!(ack.base_offset, 0);

    let fetched = client
        .fetch(&topic, 0, 0, FetchOptions::default())
        .await
        .unwrap();
    let got = fetched.records.to_vec();
    assert_eq!(fetched.high_watermark, 3);
    assert_eq!(got.len(), sent.len(), "one batch back, same length");
    // The broker assigns the base offset (bytes 0..8) and stamps its leader epoch (12..16);
    // everything else, from the batch length through CRC, attributes and records, is ours.
    assert_eq!(&got[0..8], &ack.base_offset.to_be_bytes());
    assert_eq!(&got[8..12], &sent[8..12]);
    assert_eq!(&got[16..], &sent[16..], "records and CRC byte-identical");

    let offsets = client
        .list_offsets(&[
            (topic.clone(), 0, OffsetSpec::Earliest),
            (topic.clone(), 0, OffsetSpec::Latest),
        ])
        .await
        .unwrap();
    assert_eq!(offsets[0].offset, 0);
    assert_eq!(offsets[1].offset, 3);

    // Every replica (RF 3, one per broker) shows up in DescribeLogDirs with a size.
    for broker in 0..3 {
        let size = eventually("replica size in log dirs", 30, || async {
            let dirs = client.describe_log_dirs(broker, None).await.ok()?;
            let size = dirs
                .iter()
                .flat_map(|d| d.replicas.iter())
                .find(|r| r.topic == topic && r.partition == 0)?
                .size_bytes;
            (size >= sent.len() as i64).then_some(size)
        })
        .await;
        assert!(size >= sent.len() as i64);
        let dirs = client.describe_log_dirs(broker, None).await.unwrap();
        assert!(dirs.iter().all(|d| d.broker == broker && d.error.is_none()));
        assert!(
            dirs.iter().any(|d| d.total_bytes.unwrap_or(0) > 0),
            "{dirs:?}"
        );
    }
    delete(&client, &topic).await;
}

#[tokio::test]
async fn real_broker_throttle_config_is_set_read_back_and_removed() {
    let client = client().await;
    let broker = ConfigResource::Broker(2);
    let key = "follower.replication.throttled.rate".to_string();
    client
        .incremental_alter_configs(&broker, &[ConfigChange::set(&key, "7340032")], false)
        .await
        .unwrap();
    // Brokers apply dynamic configs when the controller's metadata record reaches them.
    let entry = eventually("throttle visible on broker 2", 30, || async {
        let entries = client
            .describe_configs(&broker, Some(std::slice::from_ref(&key)))
            .await
            .ok()?;
        entries
            .into_iter()
            .find(|e| e.name == key && e.source == ConfigSource::DynamicBroker)
    })
    .await;
    assert_eq!(entry.value.as_deref(), Some("7340032"));

    client
        .incremental_alter_configs(&broker, &[ConfigChange::delete(&key)], false)
        .await
        .unwrap();
    // Once removed, the broker either omits the key or reports a non-dynamic source.
    eventually("throttle removed on broker 2", 30, || async {
        let entries = client
            .describe_configs(&broker, Some(std::slice::from_ref(&key)))
            .await
            .ok()?;
        entries
            .iter()
            .all(|e| e.name != key || e.source != ConfigSource::DynamicBroker)
            .then_some(())
    })
    .await;

    // A bad value is refused with the resource in the error.
    let err = client
        .incremental_alter_configs(&broker, &[ConfigChange::set(&key, "not-a-number")], false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("broker 2 config"), "{err}");
}

#[tokio::test]
async fn real_client_quotas_are_set_read_back_and_removed() {
    let client = client().await;
    let user = unique("user");
    let entity = vec![("user".to_string(), Some(user.clone()))];
    let filter = [QuotaFilter {
        entity_type: "user".into(),
        matching: QuotaMatch::Exact(user.clone()),
    }];
    client
        .alter_client_quotas(
            &[QuotaAlteration {
                entity: entity.clone(),
                ops: vec![("producer_byte_rate".into(), Some(1_048_576.0))],
            }],
            false,
        )
        .await
        .unwrap();
    let entries = eventually("quota visible", 15, || async {
        let e = client.describe_client_quotas(&filter, false).await.ok()?;
        (!e.is_empty()).then_some(e)
    })
    .await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].entity, entity);
    assert_eq!(
        entries[0].values.get("producer_byte_rate"),
        Some(&1_048_576.0)
    );

    client
        .alter_client_quotas(
            &[QuotaAlteration {
                entity: entity.clone(),
                ops: vec![("producer_byte_rate".into(), None)],
            }],
            false,
        )
        .await
        .unwrap();
    eventually("quota removed", 15, || async {
        let e = client.describe_client_quotas(&filter, false).await.ok()?;
        e.is_empty().then_some(())
    })
    .await;
}

#[tokio::test]
async fn real_reassignment_completes_and_preferred_leader_is_elected() {
    let client = client().await;
    let topic = unique("reassign");
    let mut new_topic = NewTopic::new(topic.clone(), 1, 2);
    new_topic.assignments = Some(vec![vec![0, 1]]);
    create(&client, new_topic).await;

    // Cancelling a reassignment that is not running: a null target, and a per-partition error.
    let outcomes = client
        .alter_partition_reassignments(&[(topic.clone(), 0, None)])
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    match &outcomes[0].error {
        Some(WireError::Kafka { error, .. }) => {
            assert_eq!(*error, ResponseError::NoReassignmentInProgress)
        }
        other => panic!("expected NoReassignmentInProgress, got {other:?}"),
    }

    // Move the replicas from {0,1} to {2,1}, with 2 as the preferred leader.
    first_error(
        client
            .alter_partition_reassignments(&[(topic.clone(), 0, Some(vec![2, 1]))])
            .await
            .unwrap(),
    )
    .unwrap();
    let partitions = [(topic.clone(), vec![0])];
    eventually("reassignment to finish", 60, || async {
        let ongoing = client
            .list_partition_reassignments(Some(&partitions))
            .await
            .ok()?;
        ongoing.is_empty().then_some(())
    })
    .await;
    let replicas = eventually("new replica set in metadata", 30, || async {
        let meta = client.refresh_metadata().await.ok()?;
        let p = meta.partition(&topic, 0).ok()?.clone();
        (p.replicas == vec![2, 1]).then_some(p)
    })
    .await;
    assert_eq!(replicas.replicas, vec![2, 1]);

    // Preferred leader election makes broker 2 the leader (or it already is).
    let outcomes = client
        .elect_preferred_leaders(Some(&partitions))
        .await
        .unwrap();
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    eventually("broker 2 leads", 30, || async {
        let meta = client.refresh_metadata().await.ok()?;
        (meta.leader_of(&topic, 0).ok()? == 2).then_some(())
    })
    .await;
    delete(&client, &topic).await;
}
