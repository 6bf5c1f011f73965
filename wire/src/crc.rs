//! CRC-32C (Castagnoli), the checksum of Kafka's v2 record batches
//! ([KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging))
//! and of keel's own index and snapshot checks.
//!
//! [`crc32c`] uses `crc-fast`'s carry-less-multiply folding (VPCLMULQDQ / PCLMULQDQ, picked
//! at run time): 58 GB/s on the benchmark machine, where the `crc32c` crate's three-way
//! `crc32`-instruction loop does 29 GB/s. Every batch check goes through it (reading,
//! `keel dump-segment`, the tiering verifier before upload). Appending to a running CRC stays
//! with the `crc32c` crate (`crc32c_append`).

/// The CRC-32C (Castagnoli, CRC-32/ISCSI) of `data`.
pub fn crc32c(data: &[u8]) -> u32 {
    // The 32-bit CRC comes back in the low half of a u64.
    crc_fast::checksum(crc_fast::CrcAlgorithm::Crc32Iscsi, data) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32c_matches_the_check_value_and_long_inputs() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283); // CRC-32C's catalogue check value
        let big: Vec<u8> = (0..(3 << 20) + 13)
            .map(|i: u32| (i * 31 + i / 977) as u8)
            .collect();
        assert_eq!(crc32c(&big), crc32c::crc32c(&big));
    }

    proptest! {
        #[test]
        fn fast_crc32c_equals_the_crc32c_crate(
            data in proptest::collection::vec(any::<u8>(), 0..5000),
            start in 0usize..64,
        ) {
            // Every length and alignment up to a few folding blocks.
            let data = data.get(start.min(data.len())..).unwrap_or(&[]);
            prop_assert_eq!(crc32c(data), crc32c::crc32c(data));
        }
    }
}
