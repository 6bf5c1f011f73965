//! Produce-rate estimation from log-end-offset growth (pure).
//!
//! Kafka's admin protocol has no byte rates, so `keel snapshot` samples each partition's log
//! end offset (ListOffsets `latest`) at the start and the end of a window, and converts the
//! growth in offsets to bytes with the partition's average bytes per offset:
//!
//! ```text
//! bytes_per_offset = size_bytes / (end_after − log_start)
//! bytes_in_per_sec = (end_after − end_before) × bytes_per_offset / elapsed_secs
//! ```
//!
//! `size_bytes` comes from DescribeLogDirs. On compacted or transactional topics offsets are
//! sparse, so bytes per offset (and the rate) is underestimated; on a partition whose data was
//! just deleted by retention it is overestimated until new segments fill in.

/// One partition's offsets around the sample window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OffsetSample {
    /// Log start offset (ListOffsets `earliest`).
    pub log_start: i64,
    /// Log end offset when the window opened.
    pub end_before: i64,
    /// Log end offset when the window closed.
    pub end_after: i64,
    /// Seconds between the two end-offset readings.
    pub elapsed_secs: f64,
}

/// Why no rate could be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateProblem {
    /// The window had no length (or a negative one).
    NoWindow,
    /// The log end offset went backwards (truncation, topic recreated).
    EndWentBack,
    /// Offsets grew but the partition's size is unknown (no DescribeLogDirs).
    NoSize,
}

/// Estimated produce rate in bytes per second (see the module docs).
pub fn bytes_in_per_sec(size_bytes: u64, s: &OffsetSample) -> Result<f64, RateProblem> {
    if !(s.elapsed_secs.is_finite() && s.elapsed_secs > 0.0) {
        return Err(RateProblem::NoWindow);
    }
    let growth = s.end_after.checked_sub(s.end_before).unwrap_or(-1);
    if growth < 0 {
        return Err(RateProblem::EndWentBack);
    }
    if growth == 0 {
        return Ok(0.0);
    }
    let offsets_on_disk = s.end_after.saturating_sub(s.log_start.max(0));
    if size_bytes == 0 || offsets_on_disk <= 0 {
        return Err(RateProblem::NoSize);
    }
    let per_offset = size_bytes as f64 / offsets_on_disk as f64;
    let rate = growth as f64 * per_offset / s.elapsed_secs;
    if rate.is_finite() {
        Ok(rate)
    } else {
        Err(RateProblem::NoWindow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(log_start: i64, before: i64, after: i64, secs: f64) -> OffsetSample {
        OffsetSample {
            log_start,
            end_before: before,
            end_after: after,
            elapsed_secs: secs,
        }
    }

    #[test]
    fn uniform_records_give_the_exact_rate() {
        // 1000 records of 100 bytes on disk, 200 of them written in the last 2 s.
        let r = bytes_in_per_sec(100_000, &sample(0, 800, 1000, 2.0)).unwrap();
        assert!((r - 10_000.0).abs() < 1e-9, "{r}");
        // Retention moved the start: only 500 offsets (50 kB) remain on disk.
        let r = bytes_in_per_sec(50_000, &sample(500, 800, 1000, 2.0)).unwrap();
        assert!((r - 10_000.0).abs() < 1e-9, "{r}");
    }

    #[test]
    fn idle_partition_has_zero_rate_even_without_size() {
        assert_eq!(bytes_in_per_sec(0, &sample(0, 5, 5, 1.0)), Ok(0.0));
    }

    #[test]
    fn problems_are_reported_not_guessed() {
        assert_eq!(
            bytes_in_per_sec(10, &sample(0, 5, 9, 0.0)),
            Err(RateProblem::NoWindow)
        );
        assert_eq!(
            bytes_in_per_sec(10, &sample(0, 9, 5, 1.0)),
            Err(RateProblem::EndWentBack)
        );
        assert_eq!(
            bytes_in_per_sec(0, &sample(0, 5, 9, 1.0)),
            Err(RateProblem::NoSize)
        );
    }

    proptest! {
        #[test]
        fn rate_is_finite_non_negative_and_at_most_size_per_window(
            size in 0u64..u64::MAX / 4,
            start in -1i64..1_000_000,
            before in 0i64..1_000_000_000,
            growth in 0i64..1_000_000,
            secs in 0.001f64..1000.0,
        ) {
            let s = sample(start.min(before), before, before + growth, secs);
            if let Ok(r) = bytes_in_per_sec(size, &s) {
                prop_assert!(r.is_finite() && r >= 0.0);
                // What was written in the window is at most what is on disk.
                prop_assert!(r * secs <= size as f64 * (1.0 + 1e-9));
            }
        }
    }
}
