//! Arbitrary bytes as a Metadata response body at any version: `MetadataReader` (keel's
//! allocation-free, topic-by-topic reader of the answer the client and `keel snapshot` fold
//! into their compact models) must return an error or a value, never panic or allocate from
//! a claimed length. The first byte picks the version and which topics' partitions are
//! skipped unread.
//!
//!     cargo +nightly fuzz run metadata_reader -- -max_total_time=120 -rss_limit_mb=512
#![no_main]

use keel_wire::client::MetadataReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let version = i16::from(control % 15);
    let Ok((mut reader, _head)) = MetadataReader::new(body, version, 0) else {
        return;
    };
    let mut topic = 0u32;
    loop {
        match reader.next_topic() {
            Ok(Some(t)) => {
                if (u32::from(control) >> 4) & (1 << (topic % 4)) == 0 {
                    let mut read = 0usize;
                    loop {
                        match reader.next_partition() {
                            Ok(Some(p)) => {
                                read += 1;
                                let _ = p.replicas.iter().chain(p.isr.iter()).count();
                            }
                            Ok(None) => {
                                assert_eq!(read, t.partitions, "partitions as announced");
                                break;
                            }
                            Err(_) => return,
                        }
                    }
                }
                topic += 1;
            }
            Ok(None) => break,
            Err(_) => return,
        }
    }
    let _ = reader.finish();
});
