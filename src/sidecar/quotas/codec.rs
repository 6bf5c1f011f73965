//! The records on the report topic (`__keel_quota_reports` by default), as JSON values with a
//! short key, so `kafka-console-consumer.sh --property print.key=true` shows them readably:
//!
//! | key | value |
//! |---|---|
//! | `report/<broker id>` | `{"v":1,"broker":1,"at_ns":…,"demand":[{"tenant":"acme","kind":"produce","observed":…,"excess":…,"throttled":false}]}` |
//! | `shares` | `{"v":1,"at_ns":…,"brokers":[0,1,2],"shares":[{"tenant":"acme","kind":"produce","quota":…,"shares":[…],"uniform":…}]}` |
//!
//! `shares[i]` is the share of the broker `brokers[i]` (the distributor indexes brokers densely).
//! Decoding never panics: a record that does not parse is reported as an error with its offset.

use keel_quotas::{BrokerReport, QuotaKind, TenantDemand, TenantShares};
use serde::{Deserialize, Serialize};

/// Format version written into every record.
pub const RECORD_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct DemandJson {
    tenant: String,
    kind: String,
    observed: f64,
    excess: f64,
    throttled: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct ReportJson {
    v: u32,
    broker: u32,
    at_ns: u64,
    demand: Vec<DemandJson>,
}

#[derive(Debug, Serialize, Deserialize)]
struct ShareJson {
    tenant: String,
    kind: String,
    quota: f64,
    shares: Vec<f64>,
    uniform: f64,
}

#[derive(Debug, Serialize, Deserialize)]
struct SharesJson {
    v: u32,
    at_ns: u64,
    brokers: Vec<i32>,
    shares: Vec<ShareJson>,
}

/// A decoded record of the report topic.
#[derive(Debug, Clone, PartialEq)]
pub enum ReportRecord {
    /// One broker's demand report.
    Report(BrokerReport),
    /// The distributor's shares: broker ids (dense index order) and per-tenant shares.
    Shares {
        /// When computed.
        at_ns: u64,
        /// Broker id of each index.
        brokers: Vec<i32>,
        /// Shares per tenant and kind.
        shares: Vec<TenantShares>,
    },
}

/// Key of a broker's report record.
pub fn report_key(broker: u32) -> String {
    format!("report/{broker}")
}

/// Key of the shares record.
pub const SHARES_KEY: &str = "shares";

fn kind_name(k: QuotaKind) -> &'static str {
    k.short_name()
}

fn parse_kind(s: &str) -> Result<QuotaKind, String> {
    match s {
        "produce" => Ok(QuotaKind::Produce),
        "fetch" => Ok(QuotaKind::Fetch),
        "request_time" => Ok(QuotaKind::RequestTime),
        "partition_mutations" => Ok(QuotaKind::PartitionMutations),
        "connection_rate" => Ok(QuotaKind::ConnectionRate),
        other => Err(format!("unknown quota kind {other:?}")),
    }
}

/// Encodes a report as `(key, value)`.
pub fn encode_report(r: &BrokerReport) -> (Vec<u8>, Vec<u8>) {
    let json = ReportJson {
        v: RECORD_VERSION,
        broker: r.broker,
        at_ns: r.at,
        demand: r
            .demand
            .iter()
            .map(|d| DemandJson {
                tenant: d.tenant.clone(),
                kind: kind_name(d.kind).to_owned(),
                observed: d.observed_rate,
                excess: d.excess_rate,
                throttled: d.throttled,
            })
            .collect(),
    };
    // Serialising plain structs of strings, numbers and bools cannot fail; NaN would become
    // null, which decode rejects.
    let value = serde_json::to_vec(&json).unwrap_or_default();
    (report_key(r.broker).into_bytes(), value)
}

/// Encodes shares as `(key, value)`.
pub fn encode_shares(at_ns: u64, brokers: &[i32], shares: &[TenantShares]) -> (Vec<u8>, Vec<u8>) {
    let json = SharesJson {
        v: RECORD_VERSION,
        at_ns,
        brokers: brokers.to_vec(),
        shares: shares
            .iter()
            .map(|s| ShareJson {
                tenant: s.tenant.clone(),
                kind: kind_name(s.kind).to_owned(),
                quota: s.quota,
                shares: s.shares.clone(),
                uniform: s.uniform,
            })
            .collect(),
    };
    let value = serde_json::to_vec(&json).unwrap_or_default();
    (SHARES_KEY.as_bytes().to_vec(), value)
}

/// Decodes one record; `Ok(None)` for keys this format does not own (ignored).
pub fn decode(key: Option<&[u8]>, value: Option<&[u8]>) -> Result<Option<ReportRecord>, String> {
    let Some(key) = key else {
        return Ok(None);
    };
    let value = value.ok_or("record without a value")?;
    if key == SHARES_KEY.as_bytes() {
        let j: SharesJson =
            serde_json::from_slice(value).map_err(|e| format!("shares record: {e}"))?;
        if j.v != RECORD_VERSION {
            return Err(format!(
                "shares record version {} (this keel reads {RECORD_VERSION})",
                j.v
            ));
        }
        let mut shares = Vec::with_capacity(j.shares.len());
        for s in j.shares {
            if s.shares.len() != j.brokers.len() {
                return Err(format!(
                    "shares record: tenant {:?} has {} shares for {} brokers",
                    s.tenant,
                    s.shares.len(),
                    j.brokers.len()
                ));
            }
            shares.push(TenantShares {
                kind: parse_kind(&s.kind)?,
                tenant: s.tenant,
                quota: s.quota,
                shares: s.shares,
                uniform: s.uniform,
            });
        }
        return Ok(Some(ReportRecord::Shares {
            at_ns: j.at_ns,
            brokers: j.brokers,
            shares,
        }));
    }
    let Some(id) = key.strip_prefix(b"report/") else {
        return Ok(None);
    };
    let j: ReportJson = serde_json::from_slice(value).map_err(|e| format!("report record: {e}"))?;
    if j.v != RECORD_VERSION {
        return Err(format!(
            "report record version {} (this keel reads {RECORD_VERSION})",
            j.v
        ));
    }
    if std::str::from_utf8(id)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        != Some(j.broker)
    {
        return Err(format!(
            "report record key {:?} does not match its broker {}",
            String::from_utf8_lossy(key),
            j.broker
        ));
    }
    let mut demand = Vec::with_capacity(j.demand.len());
    for d in j.demand {
        if !(d.observed.is_finite() && d.observed >= 0.0 && d.excess.is_finite() && d.excess >= 0.0)
        {
            return Err(format!(
                "report record: tenant {:?} has a negative or non-finite rate",
                d.tenant
            ));
        }
        demand.push(TenantDemand {
            kind: parse_kind(&d.kind)?,
            tenant: d.tenant,
            observed_rate: d.observed,
            excess_rate: d.excess,
            throttled: d.throttled,
        });
    }
    Ok(Some(ReportRecord::Report(BrokerReport {
        broker: j.broker,
        at: j.at_ns,
        demand,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn report_round_trips() {
        let r = BrokerReport {
            broker: 2,
            at: 1_700_000_000_000_000_000,
            demand: vec![TenantDemand {
                tenant: "acme".into(),
                kind: QuotaKind::Produce,
                observed_rate: 1234.5,
                excess_rate: 0.0,
                throttled: true,
            }],
        };
        let (k, v) = encode_report(&r);
        assert_eq!(k, b"report/2");
        assert_eq!(
            decode(Some(&k), Some(&v)).unwrap(),
            Some(ReportRecord::Report(r))
        );
    }

    #[test]
    fn shares_round_trip_and_mismatched_lengths_are_rejected() {
        let s = vec![TenantShares {
            tenant: "a".into(),
            kind: QuotaKind::Fetch,
            quota: 100.0,
            shares: vec![60.0, 40.0],
            uniform: 55.0,
        }];
        let (k, v) = encode_shares(7, &[1, 2], &s);
        assert_eq!(
            decode(Some(&k), Some(&v)).unwrap(),
            Some(ReportRecord::Shares {
                at_ns: 7,
                brokers: vec![1, 2],
                shares: s.clone()
            })
        );
        let (k, v) = encode_shares(7, &[1, 2, 3], &s);
        assert!(
            decode(Some(&k), Some(&v))
                .unwrap_err()
                .contains("3 brokers")
        );
    }

    #[test]
    fn bad_records_are_errors_and_foreign_keys_are_ignored() {
        assert_eq!(decode(Some(b"other"), Some(b"{}")).unwrap(), None);
        assert_eq!(decode(None, Some(b"{}")).unwrap(), None);
        assert!(decode(Some(b"report/1"), Some(b"not json")).is_err());
        assert!(decode(Some(b"report/1"), None).is_err());
        let (_, v) = encode_report(&BrokerReport {
            broker: 1,
            at: 0,
            demand: vec![],
        });
        assert!(
            decode(Some(b"report/9"), Some(&v))
                .unwrap_err()
                .contains("does not match")
        );
        let neg = br#"{"v":1,"broker":1,"at_ns":0,"demand":[{"tenant":"t","kind":"produce","observed":-1,"excess":0,"throttled":false}]}"#;
        assert!(decode(Some(b"report/1"), Some(neg)).is_err());
        let kind = br#"{"v":1,"broker":1,"at_ns":0,"demand":[{"tenant":"t","kind":"bogus","observed":1,"excess":0,"throttled":false}]}"#;
        assert!(
            decode(Some(b"report/1"), Some(kind))
                .unwrap_err()
                .contains("bogus")
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_bytes_never_panics(key in proptest::collection::vec(any::<u8>(), 0..16), value in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(Some(&key), Some(&value));
            let mut k = b"report/1".to_vec();
            k.extend_from_slice(&key[..key.len().min(2)]);
            let _ = decode(Some(&k), Some(&value));
            let _ = decode(Some(b"shares"), Some(&value));
        }

        #[test]
        fn whatever_decodes_round_trips(
            broker in 0u32..10,
            at in any::<u64>(),
            rates in proptest::collection::vec((0.0f64..1e15, 0.0f64..1e9, any::<bool>()), 0..5),
        ) {
            let r = BrokerReport {
                broker,
                at,
                demand: rates.iter().enumerate().map(|(i, (o, e, t))| TenantDemand {
                    tenant: format!("t{i}"),
                    kind: if i % 2 == 0 { QuotaKind::Produce } else { QuotaKind::Fetch },
                    observed_rate: *o,
                    excess_rate: *e,
                    throttled: *t,
                }).collect(),
            };
            let (k, v) = encode_report(&r);
            let Some(ReportRecord::Report(back)) = decode(Some(&k), Some(&v)).unwrap() else {
                panic!("not a report")
            };
            prop_assert_eq!((back.broker, back.at, back.demand.len()), (r.broker, r.at, r.demand.len()));
            // serde_json parses floats to within an ulp (no `float_roundtrip` feature).
            let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * a.abs().max(1.0);
            for (a, b) in back.demand.iter().zip(&r.demand) {
                prop_assert_eq!((&a.tenant, a.kind, a.throttled), (&b.tenant, b.kind, b.throttled));
                prop_assert!(close(a.observed_rate, b.observed_rate) && close(a.excess_rate, b.excess_rate));
            }
        }
    }
}
