//! Streaming `keel.cluster/v1` writer (`/work/shared/formats/cluster-snapshot.md`).
//!
//! Writes partition by partition into any [`std::io::Write`], so printing a 100k-partition
//! snapshot needs no whole-document string. The output reads back with
//! `keel_balancer::snapshot::parse_slice` into the same [`Cluster`]. Warnings go in an extra
//! top-level `warnings` array of strings, which readers of the format ignore (unknown fields
//! are ignored by contract).

use std::io::Write;

use keel_balancer::Cluster;
use keel_balancer::snapshot::FORMAT;

use super::error::{Result, SnapshotError};
use super::warning::Warning;

fn string(out: &mut impl Write, s: &str) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, s).map_err(std::io::Error::other)
}

/// Writes a JSON number: integral values without a fraction, others in shortest form;
/// non-finite values (never produced by a capture) as 0.
fn number(out: &mut impl Write, v: f64) -> std::io::Result<()> {
    if !v.is_finite() {
        out.write_all(b"0")
    } else if v.fract() == 0.0 && v.abs() < 9.0e15 {
        write!(out, "{}", v as i64)
    } else {
        write!(out, "{v}")
    }
}

fn write_all(cluster: &Cluster, warnings: &[Warning], out: &mut impl Write) -> std::io::Result<()> {
    write!(out, "{{\"format\":\"{FORMAT}\",\"warnings\":[")?;
    for (i, w) in warnings.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        string(out, &w.message)?;
    }
    out.write_all(b"],\"brokers\":[")?;
    for (i, b) in cluster.brokers.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        write!(out, "{{\"id\":{},\"rack\":", b.id)?;
        match &b.rack {
            Some(r) => string(out, r)?,
            None => out.write_all(b"null")?,
        }
        write!(
            out,
            ",\"state\":\"{}\",\"capacity\":{{\"disk_bytes\":",
            b.state.name()
        )?;
        number(out, b.capacity[0])?;
        out.write_all(b",\"network_in_bytes_per_sec\":")?;
        number(out, b.capacity[1])?;
        out.write_all(b",\"network_out_bytes_per_sec\":")?;
        number(out, b.capacity[2])?;
        out.write_all(b",\"cpu_cores\":")?;
        number(out, b.capacity[3])?;
        out.write_all(b"}}")?;
    }
    out.write_all(b"\n],\"partitions\":[")?;
    for (i, p) in cluster.partitions.iter().enumerate() {
        out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
        out.write_all(b"{\"topic\":")?;
        string(out, &cluster.topics[p.topic as usize])?;
        write!(out, ",\"partition\":{},\"replicas\":[", p.partition)?;
        for (j, r) in cluster.replicas_of(i).iter().enumerate() {
            if j > 0 {
                out.write_all(b",")?;
            }
            write!(out, "{}", cluster.brokers[*r as usize].id)?;
        }
        write!(
            out,
            "],\"leader\":{},\"size_bytes\":{},\"bytes_in_per_sec\":",
            cluster.brokers[p.leader as usize].id, p.size_bytes
        )?;
        number(out, p.bytes_in)?;
        out.write_all(b",\"bytes_out_per_sec\":")?;
        number(out, p.bytes_out)?;
        out.write_all(b",\"leader_cpu_cores\":")?;
        number(out, p.leader_cpu)?;
        out.write_all(b",\"follower_cpu_cores\":")?;
        number(out, p.follower_cpu)?;
        out.write_all(b"}")?;
    }
    out.write_all(b"\n]}\n")?;
    out.flush()
}

/// Writes `cluster` and `warnings` as a `keel.cluster/v1` snapshot.
pub fn write_snapshot(cluster: &Cluster, warnings: &[Warning], out: &mut impl Write) -> Result<()> {
    write_all(cluster, warnings, out).map_err(|source| SnapshotError::Write { source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_balancer::generate::{GenOptions, generate};
    use proptest::prelude::*;

    fn generated(brokers: u32, replicas: u64, seed: u64) -> Cluster {
        let opts = GenOptions {
            brokers,
            racks: 3,
            replicas,
            replication_factor: 3,
            skew: 0.5,
            new_brokers: 1,
            dead_brokers: 1,
            hetero: true,
            seed,
        };
        let mut text = String::new();
        generate(&opts, &mut |chunk| {
            text.push_str(chunk);
            Ok(())
        })
        .unwrap();
        keel_balancer::snapshot::parse_str(&text).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        #[test]
        fn written_snapshot_reads_back_as_the_same_cluster(
            brokers in 4u32..12, replicas in 0u64..300, seed in 0u64..1000,
        ) {
            let cluster = generated(brokers, replicas, seed);
            let mut bytes = Vec::new();
            let warnings = [Warning::other("a \"quoted\" warning\n")];
            write_snapshot(&cluster, &warnings, &mut bytes).unwrap();
            let back = keel_balancer::snapshot::parse_slice(&bytes).unwrap();
            prop_assert_eq!(back, cluster);
            let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(&value["warnings"][0], "a \"quoted\" warning\n");
        }
    }

    #[test]
    fn empty_cluster_is_valid_json() {
        let mut bytes = Vec::new();
        write_snapshot(&Cluster::default(), &[], &mut bytes).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(value["format"], FORMAT);
        assert_eq!(value["partitions"].as_array().unwrap().len(), 0);
    }
}
