//! Reading a segment file in parts for upload, each part checked as it is read.
//!
//! - [`PartReader`] reads one part at a time on a blocking thread, in pieces of
//!   [`PIECE`] bytes straight into the part buffer, and walks each piece's whole batches
//!   ([`SegmentVerifier::feed_whole_batches`]) right after reading it, while the piece is
//!   still in the core's L2 cache: the batch CRC-32C check then reads from cache instead
//!   of memory, and the async threads only hand finished parts to the store. The first
//!   part can be started early ([`PartReader::prefetch`]), so its read and check overlap
//!   the round trips that open the upload.
//! - [`BufferPool`]: part buffers recycled across parts *and* uploads (up to
//!   [`POOL_KEEP_BYTES`]), so a process uploading segment after segment does not
//!   page-fault and zero fresh 8 MiB buffers for each one.
//! - [`check_size`]: the file did not change size while it was read.
//! - [`ramp_part_len`]: the part sizes of a *ramped* reader ([`PartReader::open_ramped`]):
//!   a small first part, doubling up to the full part size, for stores that take parts of
//!   any size (see [`crate::upload_log`]).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::error::{Result, TieringError};
use crate::upload::{DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE};
use crate::verify::{SegmentSummary, SegmentVerifier};

/// Bytes read and checked at a time: small enough that a piece stays in L2 (1 MiB per core
/// on the benchmark machine) between its read and its check, big enough that the read is
/// one cheap syscall per piece.
pub const PIECE: usize = 256 << 10;

/// Part buffer bytes the shared pool keeps between uploads: what one upload at the
/// default part size and concurrency holds at its peak (`concurrency + 2` parts), so the
/// pool never raises the peak of such an upload, only keeps it.
pub const POOL_KEEP_BYTES: usize = (DEFAULT_CONCURRENCY + 2) * DEFAULT_PART_SIZE;

/// Part buffers recycled across parts and uploads: freeing 8 MiB buffers on other threads
/// makes glibc malloc keep them in per-thread arenas (which roughly doubled the peak RSS
/// before buffers were pooled), and a fresh buffer costs a page fault and a zero fill per
/// 4 KiB page the first time it is touched.
#[derive(Debug, Clone)]
pub(crate) struct BufferPool {
    free: Arc<parking_lot::Mutex<Free>>,
    keep_bytes: usize,
}

#[derive(Debug, Default)]
struct Free {
    bufs: Vec<Vec<u8>>,
    /// Sum of the capacities in `bufs`.
    bytes: usize,
}

impl BufferPool {
    /// A pool of its own keeping at most `keep_bytes` of free buffers.
    pub(crate) fn new(keep_bytes: usize) -> Self {
        BufferPool {
            free: Arc::default(),
            keep_bytes,
        }
    }

    /// The process-wide pool every upload shares.
    pub(crate) fn shared() -> Self {
        static SHARED: OnceLock<BufferPool> = OnceLock::new();
        SHARED
            .get_or_init(|| BufferPool::new(POOL_KEEP_BYTES))
            .clone()
    }

    /// A free buffer (empty when the pool has none); its length is whatever it held last.
    pub(crate) fn take(&self) -> Vec<u8> {
        let mut free = self.free.lock();
        match free.bufs.pop() {
            Some(buf) => {
                free.bytes -= buf.capacity();
                buf
            }
            None => Vec::new(),
        }
    }

    /// Returns a buffer, kept when the pool has room for it.
    pub(crate) fn put_back(&self, buf: Vec<u8>) {
        let mut free = self.free.lock();
        if buf.capacity() > 0 && free.bytes + buf.capacity() <= self.keep_bytes {
            free.bytes += buf.capacity();
            free.bufs.push(buf);
        }
    }

    /// Wraps a filled buffer; it comes back to the pool when the store is done with it.
    pub(crate) fn bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(PooledBuf {
            buf,
            pool: self.clone(),
        })
    }

    #[cfg(test)]
    fn free_bytes(&self) -> usize {
        self.free.lock().bytes
    }
}

struct PooledBuf {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        self.pool.put_back(std::mem::take(&mut self.buf));
    }
}

/// The file and the walk, moved to the blocking thread for each part and back.
#[derive(Debug)]
struct Walk {
    file: std::fs::File,
    verifier: SegmentVerifier,
}

/// Length of part `index` (from 0) of a ramp that starts at `first` bytes and doubles up to
/// `full`: `first, 2·first, 4·first, ..., full, full, ...`. A `first` of 0 or of at least
/// `full` means no ramp (every part `full`). Never 0 for a `full` of at least 1.
pub fn ramp_part_len(index: usize, first: usize, full: usize) -> usize {
    let full = full.max(1);
    if first == 0 || first >= full {
        return full;
    }
    let shift = u32::try_from(index).unwrap_or(u32::MAX);
    match 1usize.checked_shl(shift).and_then(|m| first.checked_mul(m)) {
        Some(len) if len < full => len,
        _ => full, // past `full`, or past what a usize holds
    }
}

/// A part read and checked on the blocking thread, with the state to continue from.
type PartRead = (Walk, Result<Vec<u8>>);

/// Reads a segment file part by part, checking every batch before the part is returned
/// (see the module docs). A corrupt batch fails the part it ends in.
#[derive(Debug)]
pub(crate) struct PartReader {
    path: PathBuf,
    part_len: usize,
    /// Length of the first part ([`ramp_part_len`]); `part_len` when not ramped.
    first_len: usize,
    /// Parts started so far (the next part's index in the ramp).
    started: usize,
    pool: BufferPool,
    /// The walk between parts; `None` while a part is being read, or after a failure.
    walk: Option<Walk>,
    reading: Option<JoinHandle<PartRead>>,
}

impl PartReader {
    /// Opens `path` for reading in parts of `part_len` bytes (at least 1).
    pub(crate) fn open(path: &Path, part_len: usize) -> Result<Self> {
        Self::open_ramped(path, part_len, part_len)
    }

    /// Opens `path` for reading in parts that ramp up from `first_len` bytes to `part_len`
    /// ([`ramp_part_len`]). Every part buffer is still allocated with room for `part_len`
    /// bytes, so the pool's buffers stay interchangeable and the memory bound is the same.
    pub(crate) fn open_ramped(path: &Path, part_len: usize, first_len: usize) -> Result<Self> {
        let file = std::fs::File::open(path).map_err(|e| TieringError::io("open", path, e))?;
        let part_len = part_len.max(1);
        Ok(PartReader {
            path: path.to_path_buf(),
            part_len,
            first_len: ramp_part_len(0, first_len, part_len),
            started: 0,
            pool: BufferPool::shared(),
            walk: Some(Walk {
                file,
                verifier: SegmentVerifier::new(path),
            }),
            reading: None,
        })
    }

    /// The (full) part size this reader reads.
    pub(crate) fn part_len(&self) -> usize {
        self.part_len
    }

    /// Whether the first parts are smaller than [`PartReader::part_len`].
    pub(crate) fn ramped(&self) -> bool {
        self.first_len < self.part_len
    }

    /// The file being read.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The pool the part buffers come from (hand a part to the store with
    /// [`BufferPool::bytes`] to recycle it).
    pub(crate) fn pool(&self) -> &BufferPool {
        &self.pool
    }

    /// Starts reading the next part on a blocking thread, unless one is already being read.
    pub(crate) fn prefetch(&mut self) {
        if self.reading.is_some() {
            return;
        }
        let Some(mut walk) = self.walk.take() else {
            return;
        };
        let mut buf = self.pool.take();
        buf.reserve_exact(self.part_len.saturating_sub(buf.len()));
        let want = ramp_part_len(self.started, self.first_len, self.part_len);
        self.started += 1;
        let path = self.path.clone();
        self.reading = Some(tokio::task::spawn_blocking(move || {
            let read = read_and_check(&mut walk.file, &mut walk.verifier, &mut buf, want)
                .map_err(|e| e.into_error(&path));
            (walk, read.map(|()| buf))
        }));
    }

    /// The next part, every batch in it checked (a batch cut off by the part's end is
    /// checked with the next part). Empty at the end of the file.
    pub(crate) async fn next_part(&mut self) -> Result<Vec<u8>> {
        self.prefetch();
        let Some(reading) = self.reading.take() else {
            return Err(self.failed_earlier());
        };
        let (walk, read) = reading
            .await
            .map_err(|e| TieringError::io("read", &self.path, std::io::Error::other(e)))?;
        if read.is_ok() {
            self.walk = Some(walk);
        }
        read
    }

    /// CRC-32C of the file's bytes up to the end of the last part returned.
    pub(crate) fn crc_read(&self) -> Result<u32> {
        match &self.walk {
            Some(w) => Ok(w.verifier.crc_fed()),
            None => Err(self.failed_earlier()),
        }
    }

    /// Ends the walk after the last part (see [`SegmentVerifier::finish`]).
    pub(crate) fn finish(&mut self) -> Result<SegmentSummary> {
        match self.walk.take() {
            Some(w) if self.reading.is_none() => w.verifier.finish(),
            _ => Err(self.failed_earlier()),
        }
    }

    fn failed_earlier(&self) -> TieringError {
        TieringError::io(
            "read",
            &self.path,
            std::io::Error::other("the part reader failed earlier or is still reading"),
        )
    }
}

/// Why [`read_and_check`] stopped.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(std::io::Error),
    Corrupt(TieringError),
}

impl ReadError {
    fn into_error(self, path: &Path) -> TieringError {
        match self {
            ReadError::Io(e) => TieringError::io("read", path, e),
            ReadError::Corrupt(e) => e,
        }
    }
}

/// Fills `buf` with up to `want` bytes from `file` in [`PIECE`]-sized reads, walking the
/// whole batches read so far after each piece; the batch the part's end cuts off goes to
/// the verifier's carry-over. `buf` ends with the bytes read (fewer than `want` only at the
/// end of the file). A recycled `buf` is not zeroed first, only grown.
pub(crate) fn read_and_check(
    file: &mut impl Read,
    verifier: &mut SegmentVerifier,
    buf: &mut Vec<u8>,
    want: usize,
) -> std::result::Result<(), ReadError> {
    buf.resize(want, 0);
    let mut filled = 0;
    let mut checked = 0;
    while filled < want {
        let end = filled.saturating_add(PIECE).min(want);
        let n = match file.read(&mut buf[filled..end]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ReadError::Io(e)),
        };
        filled += n;
        checked += verifier
            .feed_whole_batches(&buf[checked..filled])
            .map_err(ReadError::Corrupt)?;
    }
    verifier
        .feed(&buf[checked..filled])
        .map_err(ReadError::Corrupt)?;
    buf.truncate(filled);
    Ok(())
}

pub(crate) fn check_size(path: &Path, expected: u64, read: u64) -> Result<()> {
    if expected != read {
        return Err(TieringError::CorruptSegment {
            path: path.to_path_buf(),
            position: read.min(expected),
            reason: format!("file changed during upload: {expected} bytes expected, {read} read"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{SegmentSpec, mixed_segment_bytes};
    use crate::verify::verify_bytes;
    use proptest::prelude::*;

    /// Batches smaller and larger than a piece, so pieces cut batches every way.
    fn segment() -> Vec<u8> {
        mixed_segment_bytes(
            &[
                SegmentSpec {
                    batches: 5,
                    records_per_batch: 2,
                    value_len: 3000,
                },
                SegmentSpec {
                    batches: 3,
                    records_per_batch: 5,
                    value_len: 90_000,
                },
                SegmentSpec {
                    batches: 40,
                    records_per_batch: 1,
                    value_len: 700,
                },
            ],
            1000,
        )
        .unwrap()
    }

    /// A reader returning at most `max` bytes per read (files may return short reads).
    struct Trickle<'a> {
        data: &'a [u8],
        max: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = out.len().min(self.max).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Reads `seg` in parts of `part_len` the way an upload does; returns the parts'
    /// concatenation, the running CRC after each part and the summary (or the first error).
    fn read_in_parts(
        seg: &[u8],
        part_len: usize,
        max_read: usize,
    ) -> std::result::Result<(Vec<u8>, Vec<u32>, SegmentSummary), String> {
        let mut file = Trickle {
            data: seg,
            max: max_read,
        };
        let mut v = SegmentVerifier::new("t.log");
        let mut out = Vec::new();
        let mut crcs = Vec::new();
        let mut buf = vec![0xAA; part_len / 2]; // a recycled buffer holding stale bytes
        loop {
            read_and_check(&mut file, &mut v, &mut buf, part_len).map_err(|e| match e {
                ReadError::Io(e) => e.to_string(),
                ReadError::Corrupt(e) => e.to_string(),
            })?;
            if buf.is_empty() {
                break;
            }
            out.extend_from_slice(&buf);
            crcs.push(v.crc_fed());
        }
        let summary = v.finish().map_err(|e| e.to_string())?;
        Ok((out, crcs, summary))
    }

    proptest! {
        #[test]
        fn parts_read_in_pieces_walk_like_the_whole_file(
            part_len in 1usize..700_000,
            max_read in prop_oneof![Just(usize::MAX), 1usize..100_000],
        ) {
            let seg = segment();
            let (read, crcs, summary) = read_in_parts(&seg, part_len, max_read).unwrap();
            prop_assert_eq!(&read, &seg);
            prop_assert_eq!(summary, verify_bytes("t.log", &seg).unwrap());
            for (i, crc) in crcs.iter().enumerate() {
                let end = ((i + 1) * part_len).min(seg.len());
                prop_assert_eq!(*crc, crc32c::crc32c(&seg[..end]), "part {}", i);
            }
        }

        #[test]
        fn a_corrupt_byte_fails_reading_in_parts_exactly_as_the_whole_file_walk(
            at in any::<prop::sample::Index>(),
            part_len in 1usize..700_000,
        ) {
            let mut seg = segment();
            let i = at.index(seg.len());
            seg[i] ^= 0x10;
            let whole = verify_bytes("t.log", &seg).map_err(|e| e.to_string());
            let parts = read_in_parts(&seg, part_len, usize::MAX).map(|(_, _, s)| s);
            prop_assert_eq!(parts, whole);
        }

        #[test]
        fn a_truncated_file_fails_reading_in_parts(cut in any::<prop::sample::Index>(), part_len in 1usize..700_000) {
            let seg = segment();
            let cut = cut.index(seg.len());
            let whole = verify_bytes("t.log", &seg[..cut]).map_err(|e| e.to_string());
            let parts = read_in_parts(&seg[..cut], part_len, usize::MAX).map(|(_, _, s)| s);
            prop_assert_eq!(parts, whole);
        }
    }

    proptest! {
        #[test]
        fn ramp_parts_double_from_the_first_up_to_the_full_part_size(
            first in 0usize..5000,
            full in 1usize..100_000,
        ) {
            let lens: Vec<usize> = (0..40).map(|i| ramp_part_len(i, first, full)).collect();
            prop_assert!(lens.iter().all(|&l| l >= 1 && l <= full));
            if first == 0 || first >= full {
                prop_assert!(lens.iter().all(|&l| l == full), "no ramp: {:?}", lens);
            } else {
                prop_assert_eq!(lens[0], first);
                for w in lens.windows(2) {
                    prop_assert!(w[1] == full || w[1] == 2 * w[0], "{:?}", lens);
                    prop_assert!(w[1] >= w[0]);
                }
                // Full parts within ~log2(full / first) + 1 steps, and from then on.
                let k = lens.iter().position(|&l| l == full).unwrap();
                prop_assert!(first << k >= full && (k == 0 || first << (k - 1) < full));
                prop_assert!(lens[k..].iter().all(|&l| l == full));
            }
        }
    }

    #[test]
    fn ramp_lengths_far_out_stay_full() {
        assert_eq!(ramp_part_len(usize::MAX, 3, 1 << 20), 1 << 20);
        assert_eq!(ramp_part_len(63, 3, 1 << 20), 1 << 20);
        assert_eq!(ramp_part_len(64, 1, usize::MAX), usize::MAX);
        assert_eq!(ramp_part_len(0, 1 << 20, 8 << 20), 1 << 20);
        assert_eq!(ramp_part_len(3, 1 << 20, 8 << 20), 8 << 20);
    }

    #[tokio::test]
    async fn a_ramped_reader_reads_the_ramp_lengths_into_full_size_buffers() {
        let seg = segment();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        std::fs::write(&path, &seg).unwrap();
        let (part, first) = (200_000, 30_000);
        let mut r = PartReader::open_ramped(&path, part, first).unwrap();
        assert!(r.ramped() && r.part_len() == part);
        let mut read = Vec::new();
        let mut i = 0;
        loop {
            let buf = r.next_part().await.unwrap();
            if buf.is_empty() {
                break;
            }
            let want = ramp_part_len(i, first, part).min(seg.len() - read.len());
            assert_eq!(buf.len(), want, "part {i}");
            assert!(buf.capacity() >= part, "pooled buffers stay full-size");
            assert_eq!(
                r.crc_read().unwrap(),
                crc32c::crc32c(&seg[..read.len() + buf.len()])
            );
            read.extend_from_slice(&buf);
            r.pool().put_back(buf);
            i += 1;
        }
        assert!(i > 4, "the ramp and some full parts");
        assert_eq!(read, seg);
        assert_eq!(r.finish().unwrap(), verify_bytes(&path, &seg).unwrap());
        assert!(!PartReader::open_ramped(&path, part, part).unwrap().ramped());
    }

    #[test]
    fn the_pool_keeps_buffers_up_to_its_byte_budget() {
        let pool = BufferPool::new(3 << 10);
        for _ in 0..5 {
            pool.put_back(vec![0u8; 1 << 10]);
        }
        assert_eq!(pool.free_bytes(), 3 << 10);
        let b = pool.bytes(pool.take());
        assert_eq!(pool.free_bytes(), 2 << 10);
        drop(b);
        assert_eq!(pool.free_bytes(), 3 << 10);
        pool.put_back(Vec::new()); // nothing to keep
        assert_eq!(pool.free_bytes(), 3 << 10);
    }

    #[tokio::test]
    async fn a_prefetched_first_part_is_the_first_part() {
        let seg = segment();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        std::fs::write(&path, &seg).unwrap();
        let mut r = PartReader::open(&path, 100_000).unwrap();
        r.prefetch();
        r.prefetch(); // a second call while reading is a no-op
        let mut read = Vec::new();
        loop {
            let part = r.next_part().await.unwrap();
            if part.is_empty() {
                break;
            }
            assert_eq!(
                r.crc_read().unwrap(),
                crc32c::crc32c(&seg[..read.len() + part.len()])
            );
            read.extend_from_slice(&part);
            r.pool().put_back(part);
        }
        assert_eq!(read, seg);
        assert_eq!(r.finish().unwrap(), verify_bytes(&path, &seg).unwrap());
    }

    #[tokio::test]
    async fn a_corrupt_part_names_the_file_and_position_and_stops_the_reader() {
        let mut seg = segment();
        let bad = seg.len() / 2;
        seg[bad] ^= 1;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        std::fs::write(&path, &seg).unwrap();
        let Err(expected) = verify_bytes(&path, &seg) else {
            panic!("the flipped byte must fail the walk")
        };
        let mut r = PartReader::open(&path, 64 << 10).unwrap();
        let err = loop {
            match r.next_part().await {
                Ok(part) => assert!(!part.is_empty(), "the corrupt batch was never reported"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.to_string(), expected.to_string());
        assert!(r.next_part().await.is_err());
        assert!(r.finish().is_err());
    }
}
