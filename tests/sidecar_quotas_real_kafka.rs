//! The sidecar's quota distribution against the real 3-broker Apache Kafka cluster
//! (`./test.sh` starts it; `KEEL_KAFKA_BOOTSTRAP` names it): reports travel over a real
//! topic, the lowest live sidecar distributes, the uniform per-broker value lands through
//! AlterClientQuotas and reads back with DescribeClientQuotas, and it stays when reports stop.

// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::Duration;

use keel::sidecar::config::{QuotasSection, TenantSection};
use keel::sidecar::quotas::QuotaLoop;
use keel::sidecar::quotas::demand::{DemandSource, LogDirGrowth, TenantTraffic};
use keel_quotas::{QuotaKind, TenantDemand};
use keel_wire::client::{KafkaClient, NewTopic, QuotaAlteration, QuotaFilter, QuotaMatch};

#[path = "common/real_servers.rs"]
mod real_servers;

async fn client() -> KafkaClient {
    real_servers::kafka_client("keel-sidecar-quotas-test").await
}

fn suffix() -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{:x}{}", n & 0xffff_ffff, std::process::id())
}

/// Demand fixed by the test, per broker; can be told to fail.
struct Scripted {
    demand: Vec<TenantDemand>,
    fail: bool,
}

impl DemandSource for Scripted {
    async fn measure(
        &mut self,
        _: &BTreeMap<(String, QuotaKind), f64>,
    ) -> anyhow::Result<Vec<TenantDemand>> {
        if self.fail {
            anyhow::bail!("demand source down");
        }
        Ok(self.demand.clone())
    }
}

fn produce(tenant: &str, rate: f64) -> Scripted {
    Scripted {
        demand: vec![TenantDemand {
            tenant: tenant.into(),
            kind: QuotaKind::Produce,
            observed_rate: rate,
            excess_rate: 0.0,
            throttled: false,
        }],
        fail: false,
    }
}

fn section(topic: &str, tenant: &str, user: &str, quota: f64) -> QuotasSection {
    QuotasSection {
        enabled: true,
        topic: topic.into(),
        interval: Duration::from_secs(1),
        report_timeout: Duration::from_secs(4),
        tenants: vec![TenantSection {
            name: tenant.into(),
            user: Some(user.into()),
            client_id: None,
            topic_prefixes: vec![format!("{tenant}.")],
            producer_byte_rate: Some(quota),
            consumer_byte_rate: None,
        }],
        ..QuotasSection::default()
    }
}

async fn quota_of(c: &KafkaClient, user: &str) -> Option<f64> {
    let f = [QuotaFilter {
        entity_type: "user".into(),
        matching: QuotaMatch::Exact(user.into()),
    }];
    let entries = c.describe_client_quotas(&f, true).await.unwrap();
    entries
        .into_iter()
        .find_map(|e| e.values.get("producer_byte_rate").copied())
}

struct RemoveQuota(KafkaClient, String);
impl Drop for RemoveQuota {
    fn drop(&mut self) {
        let (c, user) = (self.0.clone(), self.1.clone());
        // Best effort, on a fresh runtime (the test's runtime may be gone).
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let alt = QuotaAlteration {
                    entity: vec![("user".into(), Some(user))],
                    ops: vec![("producer_byte_rate".into(), None)],
                };
                let _ = c.alter_client_quotas(&[alt], false).await;
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lowest_live_sidecar_writes_the_uniform_value_and_it_reads_back() {
    let c = client().await;
    let s = suffix();
    let (topic, tenant, user) = (
        format!("__keel_quota_reports_test_{s}"),
        format!("sidecartest-{s}"),
        format!("keel-sidecar-test-{s}"),
    );
    let _cleanup = RemoveQuota(c.clone(), user.clone());
    let brokers: Vec<i32> = c
        .refresh_metadata()
        .await
        .unwrap()
        .brokers
        .keys()
        .copied()
        .collect();
    assert_eq!(brokers.len(), 3, "the test cluster has 3 brokers");
    // Cluster quota 500 kB/s; demand 600k / 300k / 100k. Water level u with
    // min(600k,u) + min(300k,u) + min(100k,u) = 500k: 100k + 2u = 500k, u = 200k.
    let demand = [600_000.0, 300_000.0, 100_000.0];
    let mut loops: Vec<QuotaLoop<Scripted>> = brokers
        .iter()
        .zip(demand)
        .map(|(b, d)| {
            QuotaLoop::new(
                c.clone(),
                *b,
                section(&topic, &tenant, &user, 500_000.0),
                produce(&tenant, d),
            )
        })
        .collect();
    // Round 1 lets every sidecar see every report; round 2 distributes with all three.
    for _ in 0..2 {
        for l in loops.iter_mut() {
            l.pass().await.unwrap();
        }
    }
    let last = loops[0].pass().await.unwrap();
    assert_eq!(
        last.distributor,
        Some(brokers[0]),
        "lowest live sidecar: {last:?}"
    );
    assert!(last.distributed);
    for l in loops[1..].iter_mut() {
        let p = l.pass().await.unwrap();
        assert!(!p.distributed, "only one writer: {p:?}");
        assert!(p.written.is_empty());
    }
    assert_eq!(
        quota_of(&c, &user).await,
        Some(200_000.0),
        "the uniform per-broker value, read back with DescribeClientQuotas"
    );

    // Static stability: the other sidecars stop reporting. Past the report timeout the
    // distributor keeps their last demand, so the value in force does not move.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let p = loops[0].pass().await.unwrap();
    assert!(p.distributed && p.written.is_empty(), "{p:?}");
    assert_eq!(quota_of(&c, &user).await, Some(200_000.0));

    // The demand source fails: the pass fails and writes nothing; the value stays.
    let mut broken = QuotaLoop::new(
        c.clone(),
        brokers[0],
        section(&topic, &tenant, &user, 500_000.0),
        Scripted {
            demand: vec![],
            fail: true,
        },
    );
    assert!(
        broken
            .pass()
            .await
            .unwrap_err()
            .to_string()
            .contains("demand source down")
    );
    assert_eq!(quota_of(&c, &user).await, Some(200_000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_lowest_sidecar_the_next_one_distributes() {
    let c = client().await;
    let s = suffix();
    let (topic, tenant, user) = (
        format!("__keel_quota_reports_test_{s}"),
        format!("sidecartest-{s}"),
        format!("keel-sidecar-test-{s}"),
    );
    let _cleanup = RemoveQuota(c.clone(), user.clone());
    let brokers: Vec<i32> = c
        .refresh_metadata()
        .await
        .unwrap()
        .brokers
        .keys()
        .copied()
        .collect();
    // The lowest broker's sidecar is down (its broker is up): brokers[1] must write.
    // Quota 300k, demand 100k and 50k (total below the quota): the hottest broker's demand
    // plus the unused quota = 100k + 150k = 250k.
    let mut loops: Vec<QuotaLoop<Scripted>> = brokers[1..]
        .iter()
        .zip([100_000.0, 50_000.0])
        .map(|(b, d)| {
            QuotaLoop::new(
                c.clone(),
                *b,
                section(&topic, &tenant, &user, 300_000.0),
                produce(&tenant, d),
            )
        })
        .collect();
    for _ in 0..2 {
        for l in loops.iter_mut() {
            l.pass().await.unwrap();
        }
    }
    let p = loops[0].pass().await.unwrap();
    assert_eq!(p.distributor, Some(brokers[1]), "{p:?}");
    assert_eq!(quota_of(&c, &user).await, Some(250_000.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_dir_growth_sees_produced_bytes_on_the_leader_only() {
    let c = client().await;
    let s = suffix();
    let tenant = format!("sidecartest-{s}");
    let topic = format!("{tenant}.events");
    let brokers: Vec<i32> = c
        .refresh_metadata()
        .await
        .unwrap()
        .brokers
        .keys()
        .copied()
        .collect();
    let leader = brokers[1];
    let mut t = NewTopic::new(topic.clone(), 1, 1).config("retention.ms", "3600000");
    t.assignments = Some(vec![vec![leader]]);
    let out = c.create_topics(&[t], false).await.unwrap();
    assert!(out.iter().all(|o| o.exists()), "{out:?}");
    let traffic = vec![TenantTraffic {
        name: tenant.clone(),
        topic_prefixes: vec![format!("{tenant}.")],
    }];
    let mut sources: Vec<LogDirGrowth> = brokers
        .iter()
        .map(|b| LogDirGrowth::new(c.clone(), *b, traffic.clone()))
        .collect();
    // Wait for the leader to be known, then take the baseline sample.
    for _ in 0..50 {
        let m = c.refresh_metadata().await.unwrap();
        if m.topics
            .get(&topic)
            .is_some_and(|t| t.partitions.iter().all(|p| p.leader == Some(leader)))
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let none = BTreeMap::new();
    let t0 = std::time::Instant::now();
    for src in sources.iter_mut() {
        src.measure(&none).await.unwrap();
    }
    let value = vec![b'x'; 64 * 1024];
    let mut produced = 0;
    for i in 0..16 {
        let mut b = keel_wire::batch::RecordBatchBuilder::new(0);
        b.append(1_700_000_000_000 + i, None, Some(&value), &[])
            .unwrap();
        let bytes = b.build().unwrap();
        produced += bytes.len();
        c.produce(&topic, 0, bytes.into()).await.unwrap();
    }
    let mut rates = Vec::new();
    for src in sources.iter_mut() {
        let d = src.measure(&none).await.unwrap();
        assert_eq!(d.len(), 1);
        rates.push(d[0].observed_rate);
    }
    // Each source's interval lies within [t0, now].
    let elapsed_bound = t0.elapsed().as_secs_f64();
    for (b, r) in brokers.iter().zip(&rates) {
        if *b == leader {
            // Bytes appended over the interval between the samples: at least what we
            // produced divided by an upper bound of the interval.
            assert!(
                *r >= produced as f64 / elapsed_bound,
                "leader {b}: {r} B/s for {produced} bytes"
            );
            assert!(*r > 0.0);
        } else {
            assert_eq!(*r, 0.0, "broker {b} leads nothing of the tenant");
        }
    }
}
