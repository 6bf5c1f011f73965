//! Reading a segment file in parts for upload: part buffers recycled across parts
//! ([`BufferPool`]), one blocking read per part straight into its buffer ([`read_full`]),
//! and the check that the file did not change size while it was read.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{Result, TieringError};

/// Part buffers recycled across parts: the upload allocates at most `concurrency + 2`
/// part-sized buffers for a whole segment instead of one per part. Freeing 8 MiB buffers on
/// other threads makes glibc malloc keep them in per-thread arenas, which roughly doubled
/// the peak RSS before buffers were pooled.
#[derive(Debug, Clone, Default)]
pub(crate) struct BufferPool {
    free: Arc<parking_lot::Mutex<Vec<Vec<u8>>>>,
}

impl BufferPool {
    pub(crate) fn take(&self) -> Vec<u8> {
        self.free.lock().pop().unwrap_or_default()
    }

    /// Wraps a filled buffer; it comes back to the pool when the store is done with it.
    pub(crate) fn bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(PooledBuf {
            buf,
            pool: self.clone(),
        })
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
        let buf = std::mem::take(&mut self.buf);
        let mut free = self.pool.free.lock();
        if free.len() < 16 {
            free.push(buf);
        }
    }
}

/// Reads up to `want` bytes into `buf` (exactly sized: no capacity doubling, which would
/// double the memory held per in-flight part). One blocking read per part, straight into
/// the part buffer (no intermediate copy).
pub(crate) async fn read_full(
    file: &mut std::fs::File,
    path: &Path,
    buf: &mut Vec<u8>,
    want: usize,
) -> Result<()> {
    let mut owned = std::mem::take(buf);
    let mut f = file
        .try_clone()
        .map_err(|e| TieringError::io("read", path, e))?;
    let joined = tokio::task::spawn_blocking(move || {
        use std::io::Read;
        // No clear(): a recycled buffer already has `want` bytes that the read overwrites,
        // so only a new buffer is zero-filled (a memset pass per part otherwise).
        owned.resize(want, 0);
        let mut filled = 0;
        while filled < want {
            match f.read(&mut owned[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err((e, owned)),
            }
        }
        owned.truncate(filled);
        Ok(owned)
    })
    .await;
    match joined {
        Ok(Ok(filled)) => {
            *buf = filled;
            Ok(())
        }
        Ok(Err((e, _))) => Err(TieringError::io("read", path, e)),
        Err(e) => Err(TieringError::io("read", path, std::io::Error::other(e))),
    }
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
