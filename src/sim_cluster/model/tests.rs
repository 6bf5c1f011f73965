use super::configs::{ConfigOp, ConfigTarget};
use super::faults::{Fault, ScheduledFault};
use super::*;

fn cluster(json: &str) -> ClusterState {
    let c = keel_balancer::snapshot::parse_str(json).unwrap();
    ClusterState::from_cluster(&c, 7).unwrap()
}

/// Three brokers (10 MB/s network each way), one 100 MB partition on [1, 2].
fn small() -> ClusterState {
    cluster(
        r#"{"format":"keel.cluster/v1","brokers":[
        {"id":1,"rack":"a","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}},
        {"id":2,"rack":"b","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}},
        {"id":3,"rack":"c","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}}],
        "partitions":[{"topic":"t","partition":0,"replicas":[1,2],"size_bytes":100000000},
                      {"topic":"t","partition":1,"replicas":[2,3],"size_bytes":100000000}]}"#,
    )
}

fn set(state: &mut ClusterState, target: ConfigTarget, name: &str, value: &str) {
    state
        .alter_configs(
            target,
            &[ConfigOp {
                name: name.into(),
                op: 0,
                value: Some(value.into()),
            }],
            false,
        )
        .unwrap();
}

#[test]
fn unthrottled_move_runs_at_network_capacity() {
    let mut s = small();
    s.alter_reassignment(0, Some(vec![3, 2])).unwrap();
    assert_eq!(s.partitions[0].replicas, vec![3, 2, 1]);
    s.advance_to(9_000);
    assert_eq!(s.moves.len(), 1);
    assert_eq!(s.replica_bytes(0, 3), 90_000_000);
    s.advance_to(10_000);
    assert!(s.moves.is_empty());
    assert_eq!(s.partitions[0].replicas, vec![3, 2]);
    assert_eq!(s.partitions[0].isr, vec![2, 3]);
    assert_eq!(
        s.partitions[0].leader, 3,
        "leader 1 was removed: the first target replica in the ISR leads, as in Kafka"
    );
}

#[test]
fn throttle_limits_the_rate_only_for_listed_replicas() {
    let mut s = small();
    let b2 = ConfigTarget::Broker(s.broker_idx(2));
    set(&mut s, b2, "follower.replication.throttled.rate", "1000000");
    s.alter_reassignment(0, Some(vec![1, 3])).unwrap();
    s.advance_to(10_000);
    assert!(s.moves.is_empty(), "not listed: unthrottled");
    let t = s.topic_idx("t").unwrap();
    set(
        &mut s,
        ConfigTarget::Topic(t),
        "follower.replication.throttled.replicas",
        "0:2",
    );
    s.alter_reassignment(0, Some(vec![1, 2])).unwrap();
    s.advance_to(20_000);
    assert_eq!(s.replica_bytes(0, 2), 10_000_000, "1 MB/s for 10 s");
}

#[test]
fn concurrent_copies_share_the_destination() {
    let mut s = small();
    s.alter_reassignment(0, Some(vec![1, 3])).unwrap();
    s.alter_reassignment(1, Some(vec![2, 1])).unwrap();
    // Into 3 from 1 and into 1 from 2: different destinations, full speed each.
    s.advance_to(5_000);
    assert_eq!(s.replica_bytes(0, 3), 50_000_000);
    assert_eq!(s.replica_bytes(1, 1), 50_000_000);
}

#[test]
fn cancel_restores_the_original_replicas() {
    let mut s = small();
    s.alter_reassignment(0, Some(vec![3, 2])).unwrap();
    s.advance_to(1_000);
    s.alter_reassignment(0, None).unwrap();
    assert_eq!(s.partitions[0].replicas, vec![1, 2]);
    assert_eq!(s.partitions[0].leader, 1);
    assert!(s.moves.is_empty());
    assert_eq!(s.alter_reassignment(0, None).unwrap_err().0, 85);
}

#[test]
fn bad_targets_are_refused() {
    let mut s = small();
    assert_eq!(s.alter_reassignment(0, Some(vec![])).unwrap_err().0, 39);
    assert_eq!(s.alter_reassignment(0, Some(vec![1, 1])).unwrap_err().0, 39);
    assert_eq!(s.alter_reassignment(0, Some(vec![1, 9])).unwrap_err().0, 39);
    assert!(s.moves.is_empty());
}

#[test]
fn dead_broker_stalls_its_copy_and_offlines_sole_replicas() {
    let mut s = small();
    s.alter_reassignment(0, Some(vec![1, 3])).unwrap();
    s.inject(Fault::BrokerDown { broker: 3 });
    s.advance_to(60_000);
    assert_eq!(s.moves.len(), 1, "a dead destination never catches up");
    assert_eq!(s.partitions[1].leader, 2);
    assert_eq!(s.partitions[1].isr, vec![2]);
    s.inject(Fault::BrokerDown { broker: 2 });
    assert_eq!(s.partitions[1].leader, -1, "no in-sync replica left");
    s.inject(Fault::BrokerUp { broker: 2 });
    assert_eq!(s.partitions[1].leader, 2);
    s.inject(Fault::BrokerUp { broker: 3 });
    s.advance_to(80_000);
    assert!(s.moves.is_empty());
    assert_eq!(s.partitions[0].replicas, vec![1, 3]);
}

#[test]
fn a_move_waiting_on_a_revived_target_replica_completes() {
    let mut s = small();
    // [1, 2] -> [3, 2]: 2 stays, 3 is added. 2 dies before 3 catches up.
    s.alter_reassignment(0, Some(vec![3, 2])).unwrap();
    s.inject(Fault::BrokerDown { broker: 2 });
    s.advance_to(60_000);
    assert!(
        s.partitions[0].isr.contains(&3),
        "3 caught up from leader 1"
    );
    assert_eq!(
        s.moves.len(),
        1,
        "the move waits for target replica 2 in the ISR"
    );
    s.inject(Fault::BrokerUp { broker: 2 });
    assert!(
        !s.partitions[0].isr.contains(&2) && s.moves.len() == 1,
        "a revived follower is out of the ISR until it has caught up"
    );
    s.advance_to(60_000 + catch_up::FETCH_ROUND_MS);
    assert!(
        s.moves.is_empty(),
        "2 is back in the ISR: the whole target is in sync"
    );
    assert_eq!(s.partitions[0].replicas, vec![3, 2]);
    assert!(!s.partitions[0].isr.contains(&1));
}

#[test]
fn stuck_moves_wait_until_unstuck() {
    let mut s = small();
    s.inject(Fault::StuckMove {
        topic: "t".into(),
        partition: 0,
    });
    s.alter_reassignment(0, Some(vec![3, 2])).unwrap();
    s.advance_to(1_000_000);
    assert_eq!(s.replica_bytes(0, 3), 0);
    s.inject(Fault::UnstickMove {
        topic: "t".into(),
        partition: 0,
    });
    s.advance_to(1_010_000);
    assert!(s.moves.is_empty());
}

#[test]
fn scheduled_faults_fire_at_their_time() {
    let mut s = small();
    s.schedule(ScheduledFault {
        at_ms: 5_000,
        fault: Fault::BrokerDown { broker: 1 },
    });
    s.advance_to(4_999);
    assert!(s.is_alive(1));
    s.advance_to(5_000);
    assert!(!s.is_alive(1));
    assert_eq!(s.partitions[0].leader, 2);
}

#[test]
fn request_failures_count_down() {
    let mut s = small();
    s.inject(Fault::FailRequests {
        api_key: 45,
        error_code: 7,
        count: Some(2),
        probability: 1.0,
    });
    assert_eq!(s.take_request_failure(45), Some(7));
    assert_eq!(s.take_request_failure(3), None);
    assert_eq!(s.take_request_failure(45), Some(7));
    assert_eq!(s.take_request_failure(45), None);
}

#[test]
fn probabilistic_failures_follow_the_seed() {
    let run = || {
        let mut s = small();
        s.inject(Fault::FailRequests {
            api_key: 3,
            error_code: 7,
            count: None,
            probability: 0.3,
        });
        (0..1000)
            .map(|_| s.take_request_failure(3).is_some())
            .collect::<Vec<_>>()
    };
    let a = run();
    assert_eq!(a, run());
    let failed = a.iter().filter(|&&f| f).count();
    assert!((200..400).contains(&failed), "{failed}");
}

#[test]
fn preferred_election_moves_leadership_back() {
    let mut s = small();
    s.inject(Fault::BrokerDown { broker: 1 });
    assert_eq!(s.elect_preferred(0), Err(80));
    s.inject(Fault::BrokerUp { broker: 1 });
    assert_eq!(
        s.elect_preferred(0),
        Err(80),
        "1 is not in the ISR before one fetch round"
    );
    s.advance_to(catch_up::FETCH_ROUND_MS);
    assert_eq!(s.elect_preferred(0), Ok(true));
    assert_eq!(s.partitions[0].leader, 1);
    assert_eq!(s.elect_preferred(0), Ok(false));
}

#[test]
fn configs_validate_and_append() {
    let mut s = small();
    let t = ConfigTarget::Topic(0);
    let op = |name: &str, op: i8, value: &str| ConfigOp {
        name: name.into(),
        op,
        value: Some(value.into()),
    };
    assert_eq!(
        s.alter_configs(t, &[op("no.such.config", 0, "1")], false)
            .unwrap_err()
            .0,
        40
    );
    assert_eq!(
        s.alter_configs(t, &[op("min.insync.replicas", 0, "zero")], false)
            .unwrap_err()
            .0,
        40
    );
    let key = "leader.replication.throttled.replicas";
    s.alter_configs(t, &[op(key, 2, "0:1")], false).unwrap();
    s.alter_configs(t, &[op(key, 2, "0:2,0:1")], false).unwrap();
    assert_eq!(s.topic_config("t", key), Some("0:1,0:2"));
    s.alter_configs(t, &[op(key, 3, "0:1")], false).unwrap();
    assert_eq!(s.topic_config("t", key), Some("0:2"));
    s.alter_configs(t, &[op("min.insync.replicas", 0, "2")], true)
        .unwrap();
    assert_eq!(s.min_insync_replicas(0), 1, "validate only changes nothing");
}

#[test]
fn offsets_grow_with_bytes_in() {
    let mut s = cluster(
        r#"{"format":"keel.cluster/v1","brokers":[
        {"id":1,"capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}}],
        "partitions":[{"topic":"t","partition":0,"replicas":[1],"size_bytes":1024000,"bytes_in_per_sec":2048}]}"#,
    );
    assert_eq!(s.offsets(0), (0, 1000));
    s.advance_to(10_000);
    assert_eq!(s.offsets(0), (20, 1020));
}

/// Three brokers (10 MB/s network), one partition on [1, 2] taking 1 MB/s.
fn ingesting() -> ClusterState {
    cluster(
        r#"{"format":"keel.cluster/v1","brokers":[
        {"id":1,"rack":"a","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}},
        {"id":2,"rack":"b","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}},
        {"id":3,"rack":"c","capacity":{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}}],
        "partitions":[{"topic":"t","partition":0,"replicas":[1,2],"size_bytes":100000000,"bytes_in_per_sec":1000000}]}"#,
    )
}

#[test]
fn a_revived_follower_catches_up_what_it_missed_before_rejoining_the_isr() {
    let mut s = ingesting();
    s.inject(Fault::BrokerDown { broker: 2 });
    s.advance_to(100_000);
    assert_eq!(s.partitions[0].isr, vec![1]);
    // 100 s down at 1 MB/s: 100 MB behind; it gains 10 - 1 = 9 MB/s: 11.1 s.
    s.inject(Fault::BrokerUp { broker: 2 });
    assert_eq!(s.partitions[0].isr, vec![1], "not in the ISR at once");
    s.advance_to(111_000);
    assert_eq!(s.partitions[0].isr, vec![1], "still catching up after 11 s");
    assert!(s.catching_up.contains_key(&(0, 2)));
    s.advance_to(111_200);
    assert_eq!(s.partitions[0].isr, vec![1, 2], "caught up after 11.1 s");
    assert!(s.catching_up.is_empty());
}

#[test]
fn a_throttled_follower_slower_than_its_partition_never_catches_up() {
    let mut s = ingesting();
    let b2 = ConfigTarget::Broker(s.broker_idx(2));
    set(&mut s, b2, "follower.replication.throttled.rate", "1000000");
    set(
        &mut s,
        ConfigTarget::Topic(0),
        "follower.replication.throttled.replicas",
        "0:2",
    );
    s.inject(Fault::BrokerDown { broker: 2 });
    s.advance_to(10_000);
    s.inject(Fault::BrokerUp { broker: 2 });
    s.advance_to(1_000_000);
    assert_eq!(
        s.partitions[0].isr,
        vec![1],
        "throttled to the partition's own ingest rate, it never catches up"
    );
    // Lift the throttle: 9 MB/s net, 10 MB behind: in the ISR about a second later.
    set(
        &mut s,
        b2,
        "follower.replication.throttled.rate",
        "100000000",
    );
    s.advance_to(1_002_000);
    assert_eq!(s.partitions[0].isr, vec![1, 2]);
}

#[test]
fn a_revived_follower_of_an_idle_partition_rejoins_after_one_fetch_round() {
    let mut s = small();
    s.inject(Fault::BrokerDown { broker: 2 });
    s.advance_to(30_000);
    s.inject(Fault::BrokerUp { broker: 2 });
    assert_eq!(s.partitions[0].isr, vec![1]);
    s.advance_to(30_000 + catch_up::FETCH_ROUND_MS - 1);
    assert_eq!(s.partitions[0].isr, vec![1]);
    s.advance_to(30_000 + catch_up::FETCH_ROUND_MS);
    assert_eq!(s.partitions[0].isr, vec![1, 2]);
    assert_eq!(
        s.partitions[1].isr,
        vec![3, 2],
        "and of every partition it follows"
    );
}

#[test]
fn a_fully_copied_adding_replica_that_died_catches_up_again() {
    let mut s = small();
    // [1, 2] -> [3, 2]; 2 dies, so the move waits after 3 has copied everything.
    s.alter_reassignment(0, Some(vec![3, 2])).unwrap();
    s.inject(Fault::BrokerDown { broker: 2 });
    s.advance_to(60_000);
    assert!(s.partitions[0].isr.contains(&3));
    s.inject(Fault::BrokerDown { broker: 3 });
    s.advance_to(70_000);
    assert!(!s.partitions[0].isr.contains(&3));
    s.inject(Fault::BrokerUp { broker: 3 });
    s.advance_to(70_000 + catch_up::FETCH_ROUND_MS - 1);
    assert!(
        !s.partitions[0].isr.contains(&3),
        "back in the ISR before a fetch round"
    );
    s.advance_to(70_000 + catch_up::FETCH_ROUND_MS);
    assert!(s.partitions[0].isr.contains(&3));
    assert_eq!(s.moves.len(), 1, "still waiting for 2");
}

proptest::proptest! {
    #[test]
    fn a_revived_follower_never_rejoins_before_it_could_have_copied_what_it_missed(
        bytes_in in 0.0f64..5e6,
        down_ms in 0u64..200_000,
    ) {
        let mut s = cluster(&format!(
            r#"{{"format":"keel.cluster/v1","brokers":[
            {{"id":1,"rack":"a","capacity":{{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}}}},
            {{"id":2,"rack":"b","capacity":{{"disk_bytes":1e12,"network_in_bytes_per_sec":1e7,"network_out_bytes_per_sec":1e7,"cpu_cores":4}}}}],
            "partitions":[{{"topic":"t","partition":0,"replicas":[1,2],"size_bytes":1000000,"bytes_in_per_sec":{bytes_in}}}]}}"#
        ));
        s.inject(Fault::BrokerDown { broker: 2 });
        s.advance_to(down_ms);
        s.inject(Fault::BrokerUp { broker: 2 });
        let missed = bytes_in * down_ms as f64 / 1000.0;
        // It gains network (10 MB/s) minus ingest on the leader.
        let need_ms = (missed / (1e7 - bytes_in) * 1000.0).max(catch_up::FETCH_ROUND_MS as f64);
        let mut t = down_ms;
        while !s.partitions[0].isr.contains(&2) {
            proptest::prop_assert!(t <= down_ms + need_ms as u64 + 1_000, "not back {} ms after it could be", t - down_ms);
            t += 50;
            s.advance_to(t);
        }
        let took = (t - down_ms) as f64;
        proptest::prop_assert!(took + 1.0 >= need_ms, "rejoined after {took} ms, needs {need_ms} ms");
        proptest::prop_assert!(took <= need_ms + 51.0, "rejoined after {took} ms, could after {need_ms} ms");
    }
}
