//! Big-endian reads from fixed-size chunks (no bounds to get wrong at the call sites).

#[inline]
pub(crate) fn i16_at(b: &[u8; 2]) -> i16 {
    i16::from_be_bytes(*b)
}

#[inline]
pub(crate) fn i32_from(b: &[u8], o: usize) -> Option<i32> {
    let c = b.get(o..o + 4)?;
    Some(i32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

#[inline]
pub(crate) fn i64_from(b: &[u8], o: usize) -> Option<i64> {
    let c = b.get(o..o + 8)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(c);
    Some(i64::from_be_bytes(a))
}

#[inline]
pub(crate) fn i16_from(b: &[u8], o: usize) -> Option<i16> {
    let c = b.get(o..o + 2)?;
    Some(i16_at(&[c[0], c[1]]))
}

/// Length in bytes of the written part of a fixed-entry index file that Kafka may have
/// preallocated (`segment.index.bytes`) and not yet trimmed: the active segment's index
/// is a zero-filled file whose first entries are written. The written part ends at the
/// first all-zero entry at or after `first_zero_allowed_from`; everything after it must
/// be zero too, or the file is reported as malformed at the first stray byte.
///
/// A file whose length is not a multiple of `entry_size` is malformed at the start of the
/// partial entry (Kafka's `sanityCheck` rejects it the same way).
pub(crate) fn written_len(
    bytes: &[u8],
    entry_size: usize,
    first_zero_allowed_from: usize,
    file_kind: &'static str,
) -> crate::Result<usize> {
    let partial = bytes.len() % entry_size;
    if partial != 0 {
        return Err(crate::WireError::FileFormat {
            file_kind,
            position: (bytes.len() - partial) as u64,
            reason: format!(
                "file length {} is not a multiple of the {entry_size}-byte entry size ({partial} trailing bytes)",
                bytes.len()
            ),
        });
    }
    let first_zero = bytes
        .chunks_exact(entry_size)
        .enumerate()
        .skip(first_zero_allowed_from)
        .find(|(_, e)| e.iter().all(|&b| b == 0))
        .map(|(i, _)| i * entry_size);
    let Some(end) = first_zero else {
        return Ok(bytes.len());
    };
    let tail = bytes.get(end..).unwrap_or(&[]);
    if let Some(stray) = tail.iter().position(|&b| b != 0) {
        return Err(crate::WireError::FileFormat {
            file_kind,
            position: (end + stray) as u64,
            reason: format!(
                "non-zero byte after the zero entry at byte {end} that ends the written entries \
                 (Kafka never leaves a gap: stale or corrupt index)"
            ),
        });
    }
    Ok(end)
}
