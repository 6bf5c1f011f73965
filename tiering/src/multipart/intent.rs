//! The multipart *intent* object (`<base>-<attempt>.mpu`, see [`crate::multipart`]): what
//! it records and its text codec. Pure; decoding never panics.
//!
//! The format is text, one record per line, tokens percent-escaped (version 1,
//! written before session 3, lacks `object` and `zstd`, and always has `upload`; both
//! versions are read):
//! ```text
//! keel-multipart-intent 2
//! object <object key>
//! upload <upload id>                 (absent until the upload is created)
//! part-size <bytes>
//! size <segment bytes>
//! resumable <0|1>
//! zstd <level> <raw chunk bytes>     (compressed objects only)
//! part <index> <crc32c, 8 hex digits> <etag>
//! ```

use std::collections::BTreeMap;

use crate::error::{Result, TieringError};

const MAGIC_V1: &str = "keel-multipart-intent 1";
const MAGIC_V2: &str = "keel-multipart-intent 2";

/// One finished part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonePart {
    /// CRC-32C of the part's stored bytes.
    pub crc: u32,
    /// The store's id for the part (S3: its ETag).
    pub etag: String,
}

/// How a compressed object is laid out ([`crate::chunks`]): a resumed upload recompresses
/// with the same settings, so its parts come out the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZstdLayout {
    pub level: i32,
    /// Raw bytes per independently compressed chunk.
    pub chunk_size: u32,
}

/// What an intent object records.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Intent {
    /// Key of the object being uploaded (empty in version 1 intents; it is also the
    /// intent's own key with `.log` for `.mpu`).
    pub object: String,
    /// The store's id of the multipart upload; `None` between writing the intent and
    /// recording the upload just created (see the module docs' "one window").
    pub upload_id: Option<String>,
    pub part_size: u64,
    /// Size of the segment (`.log`) being uploaded.
    pub size: u64,
    /// Whether a retry may skip the parts it finds here when its own part has the same
    /// CRC-32C (false only for version 1 intents of compressed uploads, whose layout was
    /// not recorded).
    pub resumable: bool,
    /// Set when the object is zstd-chunked.
    pub zstd: Option<ZstdLayout>,
    pub parts: BTreeMap<usize, DonePart>,
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_graphic() && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn unescape(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

impl Intent {
    /// The intent's bytes (always version 2).
    pub fn encode(&self) -> Vec<u8> {
        let mut s = format!("{MAGIC_V2}\nobject {}\n", escape(&self.object));
        if let Some(id) = &self.upload_id {
            s.push_str(&format!("upload {}\n", escape(id)));
        }
        s.push_str(&format!(
            "part-size {}\nsize {}\nresumable {}\n",
            self.part_size,
            self.size,
            u8::from(self.resumable)
        ));
        if let Some(z) = &self.zstd {
            s.push_str(&format!("zstd {} {}\n", z.level, z.chunk_size));
        }
        for (i, p) in &self.parts {
            s.push_str(&format!("part {i} {:08x} {}\n", p.crc, escape(&p.etag)));
        }
        s.into_bytes()
    }

    /// Parses an intent; `key` names the object in errors. Never panics.
    pub fn decode(bytes: &[u8], key: &str) -> Result<Self> {
        let bad = |line: usize, reason: String| TieringError::RemoteFormat {
            key: key.to_string(),
            reason: format!("multipart intent line {}: {reason}", line + 1),
        };
        let text = std::str::from_utf8(bytes).map_err(|e| bad(0, format!("not UTF-8: {e}")))?;
        let mut lines = text.lines().enumerate();
        match lines.next() {
            Some((_, MAGIC_V1 | MAGIC_V2)) => {}
            other => {
                return Err(bad(
                    0,
                    format!("expected {MAGIC_V2:?}, found {:?}", other.map(|l| l.1)),
                ));
            }
        }
        let mut intent = Intent::default();
        let mut seen = [false; 3];
        for (n, line) in lines {
            let fields: Vec<&str> = line.split(' ').collect();
            let num = |s: &str| s.parse::<u64>().map_err(|e| bad(n, format!("{s:?}: {e}")));
            match fields.as_slice() {
                ["object", k] => {
                    intent.object =
                        unescape(k).ok_or_else(|| bad(n, "bad escape in object key".into()))?;
                }
                ["upload", id] => {
                    intent.upload_id =
                        Some(unescape(id).ok_or_else(|| bad(n, "bad escape in upload id".into()))?);
                }
                ["part-size", v] => {
                    intent.part_size = num(v)?;
                    seen[0] = true;
                }
                ["size", v] => {
                    intent.size = num(v)?;
                    seen[1] = true;
                }
                ["resumable", v] => {
                    intent.resumable = match *v {
                        "0" => false,
                        "1" => true,
                        other => return Err(bad(n, format!("resumable {other:?}"))),
                    };
                    seen[2] = true;
                }
                ["zstd", level, chunk] => {
                    let level = level
                        .parse::<i32>()
                        .map_err(|e| bad(n, format!("zstd level {level:?}: {e}")))?;
                    let chunk_size = chunk
                        .parse::<u32>()
                        .ok()
                        .filter(|c| *c > 0)
                        .ok_or_else(|| bad(n, format!("zstd chunk size {chunk:?}")))?;
                    intent.zstd = Some(ZstdLayout { level, chunk_size });
                }
                ["part", idx, crc, etag] => {
                    let idx = usize::try_from(num(idx)?)
                        .map_err(|_| bad(n, "part index too large".into()))?;
                    let crc = u32::from_str_radix(crc, 16)
                        .map_err(|e| bad(n, format!("crc {crc:?}: {e}")))?;
                    let etag = unescape(etag).ok_or_else(|| bad(n, "bad escape in etag".into()))?;
                    intent.parts.insert(idx, DonePart { crc, etag });
                }
                _ => return Err(bad(n, format!("unknown record {line:?}"))),
            }
        }
        if seen.contains(&false) {
            return Err(bad(0, "missing part-size, size or resumable".into()));
        }
        if intent.part_size == 0 {
            return Err(bad(0, "part size 0".into()));
        }
        // A compressed stream can outgrow the raw segment by its frame headers and chunk
        // table: at most one more part.
        let parts = intent.size.div_ceil(intent.part_size) + u64::from(intent.zstd.is_some());
        if let Some((&last, _)) = intent.parts.last_key_value()
            && intent.resumable
            && last as u64 >= parts
        {
            return Err(bad(
                0,
                format!(
                    "part {last} beyond the {parts} parts of {} bytes",
                    intent.size
                ),
            ));
        }
        Ok(intent)
    }

    /// Whether a retry uploading `size` bytes, compressed or not, may continue this
    /// intent's upload (with the intent's part size and compression layout).
    pub fn resumable_for(&self, size: u64, compressed: bool) -> bool {
        self.resumable
            && self.size == size
            && self.zstd.is_some() == compressed
            // Raw parts must hold whole chunks (a hand-edited intent could say otherwise).
            && self
                .zstd
                .is_none_or(|z| self.part_size.is_multiple_of(u64::from(z.chunk_size)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample() -> Intent {
        let mut parts = BTreeMap::new();
        parts.insert(
            0,
            DonePart {
                crc: 0xdead_beef,
                etag: "\"0a1b\"".into(),
            },
        );
        parts.insert(
            2,
            DonePart {
                crc: 7,
                etag: "with space%".into(),
            },
        );
        Intent {
            object: "t/x-0/00000000000000000000-00000000000000ab.log".into(),
            upload_id: Some("VXBsb2FkIElE/x+y==".into()),
            part_size: 8 << 20,
            size: 20 << 20,
            resumable: true,
            zstd: None,
            parts,
        }
    }

    #[test]
    fn pending_and_compressed_intents_roundtrip() {
        let pending = Intent {
            upload_id: None,
            parts: BTreeMap::new(),
            ..sample()
        };
        let text = String::from_utf8(pending.encode()).unwrap();
        assert!(!text.contains("upload"), "{text}");
        assert_eq!(Intent::decode(&pending.encode(), "k").unwrap(), pending);
        let zstd = Intent {
            zstd: Some(ZstdLayout {
                level: -3,
                chunk_size: 1 << 20,
            }),
            ..sample()
        };
        assert_eq!(Intent::decode(&zstd.encode(), "k").unwrap(), zstd);
        assert!(zstd.resumable_for(20 << 20, true));
        assert!(!zstd.resumable_for(20 << 20, false), "compression differs");
        assert!(!sample().resumable_for(20 << 20, true));
        assert!(!sample().resumable_for(21 << 20, false), "size differs");
        // A compressed stream may need one part more than the raw segment has.
        let mut over = zstd.clone();
        over.parts.insert(
            3,
            DonePart {
                crc: 1,
                etag: "e".into(),
            },
        );
        assert!(Intent::decode(&over.encode(), "k").is_ok());
        over.zstd = None;
        assert!(Intent::decode(&over.encode(), "k").is_err());
    }

    #[test]
    fn version_1_intents_still_decode() {
        let v1 = "keel-multipart-intent 1\nupload abc%20d\npart-size 10\nsize 25\nresumable 1\npart 2 0000000a e\n";
        let i = Intent::decode(v1.as_bytes(), "k").unwrap();
        assert_eq!(i.upload_id.as_deref(), Some("abc d"));
        assert_eq!(
            (i.part_size, i.size, i.resumable, i.zstd),
            (10, 25, true, None)
        );
        assert_eq!(i.object, "");
        assert_eq!(Intent::decode(&i.encode(), "k").unwrap(), i);
    }

    #[test]
    fn intent_roundtrips() {
        let i = sample();
        assert_eq!(Intent::decode(&i.encode(), "k").unwrap(), i);
    }

    #[test]
    fn intent_errors_name_the_line() {
        let mut bytes = sample().encode();
        bytes.extend_from_slice(b"part x 0 e\n");
        let e = Intent::decode(&bytes, "t-0/x.mpu").unwrap_err().to_string();
        assert!(e.contains("t-0/x.mpu") && e.contains("line 9"), "{e}");
        let e = Intent::decode(b"keel-multipart-intent 1\nsize 3\n", "k").unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
        let mut far = sample();
        far.parts.insert(
            9,
            DonePart {
                crc: 1,
                etag: "e".into(),
            },
        );
        assert!(
            Intent::decode(&far.encode(), "k").is_err(),
            "part beyond the segment"
        );
    }

    proptest! {
        #[test]
        fn intent_decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Intent::decode(&bytes, "k");
        }

        #[test]
        fn intent_decode_of_mutated_intents_never_panics(flip in 0usize..200, to in any::<u8>()) {
            let mut bytes = sample().encode();
            let i = flip % bytes.len();
            bytes[i] = to;
            let _ = Intent::decode(&bytes, "k");
        }

        #[test]
        fn intent_roundtrips_any_tokens(id in ".{0,40}", etag in ".{0,40}", crc in any::<u32>(), idx in 0usize..3) {
            let mut i = sample();
            i.upload_id = Some(id);
            i.parts.insert(idx, DonePart { crc, etag });
            prop_assert_eq!(Intent::decode(&i.encode(), "k").unwrap(), i);
        }
    }
}
