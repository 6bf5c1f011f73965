//! Allocation guard for ApiVersions responses.
//!
//! `kafka-protocol` 0.18 decodes an array by calling `Vec::with_capacity(claimed length)` before
//! reading any element, so a few hostile bytes claiming 2^31 elements make it try to allocate
//! gigabytes (found by the `request_frame` fuzz target). ApiVersions is the first response a
//! client reads from any peer, so keel walks that response's layout first, allocation-free, and
//! refuses an array whose claimed length cannot fit in the bytes that are left. Anything else
//! wrong with the body is left for the decoder to report.

use crate::{Result, WireError};

/// Smallest encodings of one element: `ApiVersion` is three i16 (+ a tagged-field count in
/// flexible versions); a supported/finalized feature is a compact string, two i16 and a
/// tagged-field count.
const API_VERSION_MIN_LEN: usize = 6;
const API_VERSION_MIN_LEN_FLEXIBLE: usize = 7;
const FEATURE_MIN_LEN: usize = 6;

struct Walker<'a> {
    bytes: &'a [u8],
    at: usize,
    position: u64,
}

/// Why the walk stopped early without finding an impossible array.
struct Stop;

impl Walker<'_> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        if self.remaining() < n {
            return Err(Stop);
        }
        self.at += n;
        Ok(())
    }

    fn i32(&mut self) -> Result<i32, Stop> {
        let b = self.bytes.get(self.at..self.at + 4).ok_or(Stop)?;
        self.at += 4;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn uvarint(&mut self) -> Result<u32, Stop> {
        // The same reading as kafka-protocol: at most 5 bytes, 7 bits each.
        let mut value = 0u32;
        for i in 0..5 {
            let b = *self.bytes.get(self.at).ok_or(Stop)?;
            self.at += 1;
            value |= u32::from(b & 0x7f).wrapping_shl(i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    fn tagged_fields(&mut self) -> Result<(), Stop> {
        let count = self.uvarint()?;
        for _ in 0..count {
            self.uvarint()?;
            let size = self.uvarint()? as usize;
            self.skip(size)?;
        }
        Ok(())
    }

    /// Checks that `count` elements of at least `min_len` bytes fit in what is left.
    fn check_count(&self, count: u64, min_len: usize, what: &str) -> Result<()> {
        let room = (self.remaining() / min_len) as u64;
        if count > room {
            return Err(WireError::Frame {
                position: self.position + self.at as u64,
                reason: format!(
                    "ApiVersions response claims {count} {what} but only {} bytes are left (room for {room})",
                    self.remaining()
                ),
            });
        }
        Ok(())
    }

    fn compact_count(&mut self, min_len: usize, what: &str) -> Result<Option<u64>> {
        let Ok(n) = self.uvarint() else {
            return Ok(None);
        };
        let count = u64::from(n.saturating_sub(1));
        self.check_count(count, min_len, what)?;
        Ok(Some(count))
    }

    fn features(&mut self) -> Result<Option<()>> {
        let Some(count) = self.compact_count(FEATURE_MIN_LEN, "features")? else {
            return Ok(None);
        };
        for _ in 0..count {
            let walked = (|| {
                let name_len = self.uvarint()?.saturating_sub(1) as usize;
                self.skip(name_len + 4)?;
                self.tagged_fields()
            })();
            if walked.is_err() {
                return Ok(None);
            }
        }
        Ok(Some(()))
    }
}

/// Refuses an ApiVersions response body (at `version`, starting at stream `position`) whose
/// arrays claim more elements than its bytes could hold.
pub(crate) fn check_api_versions_response(body: &[u8], version: i16, position: u64) -> Result<()> {
    let mut w = Walker {
        bytes: body,
        at: 0,
        position,
    };
    if w.skip(2).is_err() {
        return Ok(());
    }
    let flexible = version >= 3;
    let api_keys = if flexible {
        match w.compact_count(API_VERSION_MIN_LEN_FLEXIBLE, "API versions")? {
            Some(count) => count,
            None => return Ok(()),
        }
    } else {
        let Ok(n) = w.i32() else { return Ok(()) };
        let count = u64::try_from(n).unwrap_or(0);
        w.check_count(count, API_VERSION_MIN_LEN, "API versions")?;
        count
    };
    if !flexible {
        return Ok(());
    }
    for _ in 0..api_keys {
        if w.skip(6).is_err() || w.tagged_fields().is_err() {
            return Ok(());
        }
    }
    if w.skip(4).is_err() {
        return Ok(());
    }
    let Ok(tags) = w.uvarint() else { return Ok(()) };
    for _ in 0..tags {
        let (Ok(tag), Ok(size)) = (w.uvarint(), w.uvarint()) else {
            return Ok(());
        };
        let walked = match tag {
            0 | 2 => w.features()?,
            1 => w.skip(8).ok(),
            3 => w.skip(1).ok(),
            _ => w.skip(size as usize).ok(),
        };
        if walked.is_none() {
            return Ok(());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_v0_api_keys_count_is_refused() {
        let body = [0, 0, 0x7f, 0xff, 0xff, 0xff, 0, 18, 0, 0, 0, 3];
        let err = check_api_versions_response(&body, 0, 100)
            .unwrap_err()
            .to_string();
        assert!(err.contains("claims 2147483647 API versions"), "{err}");
        assert!(err.contains("byte 106"), "{err}");
    }

    #[test]
    fn huge_supported_features_count_is_refused() {
        // v3: error 0, no api keys, throttle 0, one tagged field (tag 0) claiming 2^28 features.
        let body = [0, 0, 1, 0, 0, 0, 0, 1, 0, 5, 0x80, 0x80, 0x80, 0x80, 0x01];
        let err = check_api_versions_response(&body, 3, 0)
            .unwrap_err()
            .to_string();
        assert!(err.contains("features"), "{err}");
    }

    #[test]
    fn plausible_counts_pass() {
        let body = [0, 0, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3];
        assert!(check_api_versions_response(&body, 0, 0).is_ok());
        let body = [0, 0, 2, 0, 18, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0];
        assert!(check_api_versions_response(&body, 3, 0).is_ok());
    }
}
