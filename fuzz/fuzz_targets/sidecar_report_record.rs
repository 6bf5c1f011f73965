//! Arbitrary bytes as a record of the sidecar's quota report topic (key split from value by
//! the first byte): decoding never panics, and whatever decodes re-encodes into a record that
//! decodes again to the same broker, tenants and kinds.
#![no_main]

use keel::sidecar::quotas::codec::{self, ReportRecord};
use libfuzzer_sys::fuzz_target;

fn shape(r: &ReportRecord) -> (Option<u32>, Vec<(String, &'static str)>) {
    match r {
        ReportRecord::Report(r) => (
            Some(r.broker),
            r.demand.iter().map(|d| (d.tenant.clone(), d.kind.short_name())).collect(),
        ),
        ReportRecord::Shares { shares, .. } => (
            None,
            shares.iter().map(|s| (s.tenant.clone(), s.kind.short_name())).collect(),
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&k, rest)) = data.split_first() else { return };
    let (key, value) = rest.split_at((k as usize).min(rest.len()));
    for key in [key, b"report/1".as_slice(), b"shares".as_slice()] {
        if let Ok(Some(rec)) = codec::decode(Some(key), Some(value)) {
            let (k2, v2) = match &rec {
                ReportRecord::Report(r) => codec::encode_report(r),
                ReportRecord::Shares { at_ns, brokers, shares } => {
                    codec::encode_shares(*at_ns, brokers, shares)
                }
            };
            let again = codec::decode(Some(&k2), Some(&v2)).ok().flatten();
            assert_eq!(again.as_ref().map(shape), Some(shape(&rec)));
        }
    }
});
