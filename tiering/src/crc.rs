//! CRC-32C arithmetic the `crc32c` crate does not offer fast: moving a CRC over `n` zero
//! bytes in at most four small multiplications, whatever `n`.
//!
//! The upload needs the CRC-32C of every object it stores, and the verifier has already
//! checked each batch's own CRC-32C, which Kafka computes over the batch from its
//! attributes field to its end (all but the first 21 bytes; the v2 format of
//! [KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging)).
//! CRCs of concatenations follow from CRCs of the pieces:
//!
//! `crc(A ‖ B) = shift(crc(A), |B|) ⊕ crc(B)`, where `shift(c, n) = c · x^(8n) mod P`
//!
//! (the identity zlib's `crc32_combine` rests on), so the object CRC is the CRC of each
//! batch's 21 uncovered header bytes combined with the batch CRC the walk verified: the data
//! is read once instead of twice. The same identity gives the CRC of a piece from the CRCs
//! of the prefixes ending before and after it ([`crc_of_suffix`]), which is how a part's
//! CRC (recorded for resumable multipart uploads) follows from the walk.
//!
//! `x^(8n) mod P` comes from four 256-entry tables of `x^(8·d·256^j)` (one per byte `d` of
//! `n`), built at compile time. Values are in the reflected bit order CRC-32C uses (bit 31
//! is the coefficient of `x^0`). Pure functions.

/// CRC-32C's polynomial (Castagnoli), reflected, without its `x^32` term.
const POLY: u32 = 0x82F6_3B78;
/// The polynomial `1` (`x^0`) in the reflected order.
const ONE: u32 = 1 << 31;

/// `a · b mod P` (carry-less, reflected). Branch-free: 32 steps whatever the inputs.
const fn mul_mod_p(a: u32, mut b: u32) -> u32 {
    let mut product = 0u32;
    let mut i = 0;
    while i < 32 {
        // Coefficient of x^i in `a` (bit 31 - i) selects `b · x^i`.
        let bit = (a >> (31 - i)) & 1;
        product ^= b & 0u32.wrapping_sub(bit);
        // b ← b · x mod P.
        b = (b >> 1) ^ (POLY & 0u32.wrapping_sub(b & 1));
        i += 1;
    }
    product
}

/// `TABLES[j][d] = x^(8 · d · 256^j) mod P`.
static TABLES: [[u32; 256]; 4] = build_tables();

const fn build_tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    // x^8: one zero byte.
    let mut unit = ONE >> 8;
    let mut j = 0;
    while j < 4 {
        t[j][0] = ONE;
        let mut d = 1;
        while d < 256 {
            t[j][d] = mul_mod_p(t[j][d - 1], unit);
            d += 1;
        }
        // x^(8 · 256^(j+1)) = x^(8 · 255 · 256^j) · x^(8 · 256^j).
        unit = mul_mod_p(t[j][255], unit);
        j += 1;
    }
    t
}

/// `x^(8n) mod P` for `n < 2^32`.
fn zeros_operator(n: u32) -> u32 {
    let mut op = ONE;
    for (j, table) in TABLES.iter().enumerate() {
        let d = (n >> (8 * j)) & 0xff;
        if d != 0 {
            op = if op == ONE {
                table[d as usize]
            } else {
                mul_mod_p(op, table[d as usize])
            };
        }
    }
    op
}

/// Moves `crc` over `n` zero bytes in the unconditioned sense of the combine identity:
/// `crc(A ‖ B) = shift(crc(A), |B|) ⊕ crc(B)`.
pub fn shift(mut crc: u32, mut n: usize) -> u32 {
    while n > 0 {
        let step = u32::try_from(n).unwrap_or(u32::MAX);
        crc = mul_mod_p(crc, zeros_operator(step));
        n -= step as usize;
    }
    crc
}

/// The CRC-32C of `A ‖ B` from `crc(A)`, `crc(B)` and `|B|` (what
/// `crc32c::crc32c_combine` computes, in at most four multiplications instead of about
/// `log2 |B|` 32×32 matrix squarings).
pub fn combine(crc_a: u32, crc_b: u32, len_b: usize) -> u32 {
    shift(crc_a, len_b) ^ crc_b
}

/// The CRC-32C of `B` from `crc(A ‖ B)`, `crc(A)` and `|B|`.
pub fn crc_of_suffix(crc_whole: u32, crc_prefix: u32, len_suffix: usize) -> u32 {
    crc_whole ^ shift(crc_prefix, len_suffix)
}

/// [`shift`] by a fixed length, precomputed: one multiplication per use (for the part
/// size, which every part but the last has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedShift {
    len: usize,
    op: u32,
}

impl FixedShift {
    /// The shift over `len` zero bytes.
    pub fn new(len: usize) -> Self {
        FixedShift {
            len,
            op: shift(ONE, len),
        }
    }

    /// `shift(crc, n)`, using the precomputed operator when `n` is its length.
    pub fn apply(&self, crc: u32, n: usize) -> u32 {
        if n == self.len {
            mul_mod_p(crc, self.op)
        } else {
            shift(crc, n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tables_hold_powers_of_x() {
        // x^8 · x^8 = x^16, and the j+1 table starts where the j table's 256th entry is.
        assert_eq!(TABLES[0][2], mul_mod_p(ONE >> 8, ONE >> 8));
        assert_eq!(TABLES[1][1], mul_mod_p(TABLES[0][255], TABLES[0][1]));
        assert_eq!(shift(ONE, 0), ONE);
        assert_eq!(zeros_operator(0), ONE);
    }

    #[test]
    fn combine_agrees_with_the_crate_on_lengths_across_every_table() {
        for len in [
            1usize,
            21,
            255,
            256,
            257,
            65_535,
            65_536,
            1 << 23,
            (1 << 24) + 7,
            u32::MAX as usize,
        ] {
            for (a, b) in [(0u32, 0u32), (0xdead_beef, 0x1234_5678), (u32::MAX, 1)] {
                assert_eq!(
                    combine(a, b, len),
                    crc32c::crc32c_combine(a, b, len),
                    "len {len}"
                );
            }
        }
        let past_u32 = u32::MAX as usize + 12_345;
        assert_eq!(
            combine(7, 9, past_u32),
            crc32c::crc32c_combine(7, 9, past_u32)
        );
    }

    proptest! {
        #[test]
        fn combined_crc_equals_crc_of_concatenation(
            a in proptest::collection::vec(any::<u8>(), 0..3000),
            b in proptest::collection::vec(any::<u8>(), 0..3000),
        ) {
            let whole = crc32c::crc32c(&[a.as_slice(), b.as_slice()].concat());
            let (ca, cb) = (crc32c::crc32c(&a), crc32c::crc32c(&b));
            prop_assert_eq!(combine(ca, cb, b.len()), whole);
            prop_assert_eq!(crc_of_suffix(whole, ca, b.len()), cb);
            prop_assert_eq!(FixedShift::new(b.len()).apply(ca, b.len()) ^ cb, whole);
            prop_assert_eq!(FixedShift::new(7).apply(ca, b.len()) ^ cb, whole);
        }
    }
}
