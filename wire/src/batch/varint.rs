//! Kafka's variable-length integers: unsigned LEB128 of the zig-zag encoded value, as in
//! protobuf (`ByteUtils.readVarint` / `readVarlong` in Kafka). A varint (i32) takes at most
//! 5 bytes and a varlong (i64) at most 10; longer encodings are rejected, as Kafka does.
//! Like Kafka, the bits of a fifth (tenth) byte that do not fit the type are dropped.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarintError {
    /// The buffer ended inside the varint.
    Truncated,
    /// More continuation bytes than the type allows.
    TooLong,
}

impl VarintError {
    /// A short description for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            VarintError::Truncated => "buffer ends inside a varint",
            VarintError::TooLong => "varint longer than its type allows",
        }
    }
}

#[inline]
fn read_unsigned(buf: &[u8], pos: &mut usize, max_bytes: usize) -> Result<u64, VarintError> {
    let mut value: u64 = 0;
    let mut shift: u32 = 0;
    let start = *pos;
    for i in 0..max_bytes {
        let Some(&b) = buf.get(start + i) else {
            return Err(VarintError::Truncated);
        };
        value |= u64::from(b & 0x7f).wrapping_shl(shift);
        if b & 0x80 == 0 {
            *pos = start + i + 1;
            return Ok(value);
        }
        shift += 7;
    }
    Err(VarintError::TooLong)
}

/// Reads a zig-zag varint (i32) at `*pos`, advancing `*pos` past it.
#[inline]
pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<i32, VarintError> {
    // Fast path: one byte holds -64..=63, the common case for lengths and deltas.
    if let Some(&b) = buf.get(*pos)
        && b & 0x80 == 0
    {
        *pos += 1;
        let u = u32::from(b);
        return Ok(((u >> 1) as i32) ^ -((u & 1) as i32));
    }
    let u = read_unsigned(buf, pos, 5)? as u32;
    Ok(((u >> 1) as i32) ^ -((u & 1) as i32))
}

/// Reads a zig-zag varlong (i64) at `*pos`, advancing `*pos` past it.
#[inline]
pub fn read_varlong(buf: &[u8], pos: &mut usize) -> Result<i64, VarintError> {
    let u = read_unsigned(buf, pos, 10)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[inline]
fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

#[inline]
fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
fn write_unsigned(mut u: u64, out: &mut Vec<u8>) {
    while u >= 0x80 {
        out.push((u as u8) | 0x80);
        u >>= 7;
    }
    out.push(u as u8);
}

/// Appends `v` as a zig-zag varint.
#[inline]
pub fn write_varint(v: i32, out: &mut Vec<u8>) {
    write_unsigned(u64::from(zigzag32(v)), out);
}

/// Appends `v` as a zig-zag varlong.
#[inline]
pub fn write_varlong(v: i64, out: &mut Vec<u8>) {
    write_unsigned(zigzag64(v), out);
}

#[inline]
fn unsigned_len(u: u64) -> usize {
    // 1 byte per 7 significant bits, at least one byte.
    let bits = 64 - (u | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes `v` takes as a varint.
#[inline]
pub fn varint_len(v: i32) -> usize {
    unsigned_len(u64::from(zigzag32(v)))
}

/// Bytes `v` takes as a varlong.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    unsigned_len(zigzag64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_encodings_match_kafka() {
        // Values and bytes from the protobuf / Kafka ByteUtils documentation.
        let cases: &[(i32, &[u8])] = &[
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (-64, &[0x7f]),
            (64, &[0x80, 0x01]),
            (150, &[0xac, 0x02]),
            (i32::MAX, &[0xfe, 0xff, 0xff, 0xff, 0x0f]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, bytes) in cases {
            let mut out = Vec::new();
            write_varint(*v, &mut out);
            assert_eq!(&out[..], *bytes, "encoding {v}");
            assert_eq!(varint_len(*v), bytes.len());
            let mut pos = 0;
            assert_eq!(read_varint(bytes, &mut pos), Ok(*v));
            assert_eq!(pos, bytes.len());
        }
    }

    #[test]
    fn varlong_extremes_round_trip() {
        for v in [0, -1, 1, i64::MAX, i64::MIN, 1 << 40, -(1 << 50)] {
            let mut out = Vec::new();
            write_varlong(v, &mut out);
            assert_eq!(out.len(), varlong_len(v));
            let mut pos = 0;
            assert_eq!(read_varlong(&out, &mut pos), Ok(v));
            assert_eq!(pos, out.len());
        }
    }

    #[test]
    fn overlong_and_truncated_are_errors() {
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00], &mut pos),
            Err(VarintError::TooLong)
        );
        let mut pos = 0;
        assert_eq!(
            read_varint(&[0x80, 0x80], &mut pos),
            Err(VarintError::Truncated)
        );
        let mut pos = 0;
        assert_eq!(
            read_varlong(&[0xff; 11], &mut pos),
            Err(VarintError::TooLong)
        );
        let mut pos = 3;
        assert_eq!(
            read_varint(&[0, 0, 0], &mut pos),
            Err(VarintError::Truncated)
        );
    }
}
