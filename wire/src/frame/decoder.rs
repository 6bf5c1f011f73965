//! Size-prefixed frames: a big-endian `i32` length followed by that many bytes, the unit of
//! every Kafka request and response on a connection.
//!
//! [`FrameDecoder`] is sans-IO: feed it whatever a socket read returned with
//! [`FrameDecoder::push`], then take whole frames with [`FrameDecoder::next_frame`]. It never
//! buffers more than one frame plus what was pushed, refuses frames above its size limit before
//! buffering them, and reports errors with the stream position of the bad length prefix.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::{Result, WireError};

/// Bytes of the length prefix in front of every frame.
pub const SIZE_PREFIX_LEN: usize = 4;

/// The default frame size limit: 100 MiB, Kafka's `socket.request.max.bytes` default.
pub const DEFAULT_MAX_FRAME_SIZE: usize = 100 * 1024 * 1024;

/// How far ahead of the received bytes the decoder reserves buffer space for a partial frame.
const RESERVE_STEP: usize = 1 << 20;

/// One whole frame: the bytes after the length prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Stream position of the frame's length prefix (0 for a frame not read from a stream).
    pub position: u64,
    /// The frame's bytes, without the length prefix.
    pub payload: Bytes,
}

impl Frame {
    /// A frame that did not come from a stream (position 0).
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Frame {
            position: 0,
            payload: payload.into(),
        }
    }

    /// Stream position of the first payload byte.
    pub fn payload_position(&self) -> u64 {
        self.position + SIZE_PREFIX_LEN as u64
    }

    /// The frame as it goes on the wire: the length prefix, then the payload.
    pub fn to_wire(&self, max_frame_size: usize) -> Result<Bytes> {
        let mut buf = BytesMut::with_capacity(SIZE_PREFIX_LEN + self.payload.len());
        buf.put_i32(0);
        buf.put_slice(&self.payload);
        seal_frame(buf, max_frame_size)
    }
}

/// Writes the length prefix into `buf`, which starts with [`SIZE_PREFIX_LEN`] placeholder bytes
/// followed by the payload, and returns the finished frame. Fails when the payload is larger
/// than `max_frame_size` or than `i32::MAX`.
pub(crate) fn seal_frame(mut buf: BytesMut, max_frame_size: usize) -> Result<Bytes> {
    let payload_len = buf.len().saturating_sub(SIZE_PREFIX_LEN);
    if buf.len() < SIZE_PREFIX_LEN {
        return Err(WireError::Frame {
            position: 0,
            reason: "frame buffer has no room for the length prefix".into(),
        });
    }
    let size = i32::try_from(payload_len)
        .ok()
        .filter(|_| payload_len <= max_frame_size)
        .ok_or_else(|| WireError::Frame {
            position: 0,
            reason: format!(
                "frame of {payload_len} bytes exceeds the limit of {} bytes",
                max_frame_size.min(i32::MAX as usize)
            ),
        })?;
    buf[..SIZE_PREFIX_LEN].copy_from_slice(&size.to_be_bytes());
    Ok(buf.freeze())
}

/// Splits whole frames out of a byte stream delivered in arbitrary pieces.
#[derive(Debug)]
pub struct FrameDecoder {
    buffer: BytesMut,
    /// Stream position of `buffer[0]`.
    buffer_position: u64,
    max_frame_size: usize,
    /// Set after a bad length prefix: the stream cannot be resynchronised.
    failure: Option<(u64, String)>,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameDecoder {
    /// A decoder with the [`DEFAULT_MAX_FRAME_SIZE`] limit.
    pub fn new() -> Self {
        Self::with_max_frame_size(DEFAULT_MAX_FRAME_SIZE)
    }

    /// A decoder refusing frames whose payload is larger than `max_frame_size` bytes.
    pub fn with_max_frame_size(max_frame_size: usize) -> Self {
        FrameDecoder {
            buffer: BytesMut::new(),
            buffer_position: 0,
            max_frame_size,
            failure: None,
        }
    }

    /// The frame size limit.
    pub fn max_frame_size(&self) -> usize {
        self.max_frame_size
    }

    /// Appends bytes read from the stream.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Bytes pushed but not yet returned as frames.
    pub fn buffered_len(&self) -> usize {
        self.buffer.len()
    }

    /// Stream position of the next byte a frame would start at.
    pub fn position(&self) -> u64 {
        self.buffer_position
    }

    /// The next whole frame, `Ok(None)` when more bytes are needed, or an error for a length
    /// prefix that is negative or above the limit. After an error every call returns it again.
    pub fn next_frame(&mut self) -> Result<Option<Frame>> {
        if let Some((position, reason)) = &self.failure {
            return Err(WireError::Frame {
                position: *position,
                reason: reason.clone(),
            });
        }
        if self.buffer.len() < SIZE_PREFIX_LEN {
            return Ok(None);
        }
        let mut prefix = [0u8; SIZE_PREFIX_LEN];
        prefix.copy_from_slice(&self.buffer[..SIZE_PREFIX_LEN]);
        let size = i32::from_be_bytes(prefix);
        let payload_len = match usize::try_from(size) {
            Ok(len) if len <= self.max_frame_size => len,
            Ok(len) => {
                return Err(self.fail(format!(
                    "frame size {len} exceeds the limit of {} bytes",
                    self.max_frame_size
                )));
            }
            Err(_) => return Err(self.fail(format!("negative frame size {size}"))),
        };
        let total = SIZE_PREFIX_LEN + payload_len;
        if self.buffer.len() < total {
            // Make room for the rest of the frame, but never more than RESERVE_STEP ahead of
            // the bytes that arrived: a 4-byte prefix alone must not cost a 100 MiB allocation.
            self.buffer
                .reserve((total - self.buffer.len()).min(RESERVE_STEP));
            return Ok(None);
        }
        let position = self.buffer_position;
        let mut whole = self.buffer.split_to(total);
        whole.advance(SIZE_PREFIX_LEN);
        self.buffer_position += total as u64;
        Ok(Some(Frame {
            position,
            payload: whole.freeze(),
        }))
    }

    /// Call at the end of the stream: fails when a partial frame is left over.
    pub fn finish(&self) -> Result<()> {
        if let Some((position, reason)) = &self.failure {
            return Err(WireError::Frame {
                position: *position,
                reason: reason.clone(),
            });
        }
        if self.buffer.is_empty() {
            return Ok(());
        }
        let needed = if self.buffer.len() < SIZE_PREFIX_LEN {
            SIZE_PREFIX_LEN as u64
        } else {
            let mut prefix = [0u8; SIZE_PREFIX_LEN];
            prefix.copy_from_slice(&self.buffer[..SIZE_PREFIX_LEN]);
            SIZE_PREFIX_LEN as u64 + u64::from(i32::from_be_bytes(prefix).unsigned_abs())
        };
        Err(WireError::Truncated {
            what: "frame",
            position: self.buffer_position,
            needed,
            available: self.buffer.len() as u64,
        })
    }

    fn fail(&mut self, reason: String) -> WireError {
        self.failure = Some((self.buffer_position, reason.clone()));
        WireError::Frame {
            position: self.buffer_position,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(payload: &[u8]) -> Vec<u8> {
        let mut v = (payload.len() as i32).to_be_bytes().to_vec();
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn frames_come_out_whole_across_one_byte_pushes() {
        let mut stream = wire(b"hello");
        stream.extend(wire(b""));
        stream.extend(wire(b"world!"));
        let mut decoder = FrameDecoder::new();
        let mut frames = Vec::new();
        for byte in &stream {
            decoder.push(std::slice::from_ref(byte));
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        decoder.finish().unwrap();
        assert_eq!(
            frames,
            vec![
                Frame {
                    position: 0,
                    payload: Bytes::from_static(b"hello")
                },
                Frame {
                    position: 9,
                    payload: Bytes::new()
                },
                Frame {
                    position: 13,
                    payload: Bytes::from_static(b"world!")
                },
            ]
        );
    }

    #[test]
    fn oversized_frame_is_refused_with_its_position() {
        let mut decoder = FrameDecoder::with_max_frame_size(8);
        decoder.push(&wire(b"12345678"));
        decoder.push(&wire(b"123456789"));
        assert_eq!(decoder.next_frame().unwrap().unwrap().payload.len(), 8);
        let err = decoder.next_frame().unwrap_err();
        match &err {
            WireError::Frame { position, reason } => {
                assert_eq!(*position, 12);
                assert!(reason.contains("exceeds the limit of 8"), "{reason}");
            }
            other => panic!("unexpected {other:?}"),
        }
        // The stream stays failed.
        assert!(matches!(
            decoder.next_frame(),
            Err(WireError::Frame { position: 12, .. })
        ));
    }

    #[test]
    fn a_size_prefix_alone_does_not_reserve_the_whole_frame() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&(90 * 1024 * 1024i32).to_be_bytes());
        assert!(decoder.next_frame().unwrap().is_none());
        assert!(
            decoder.buffer.capacity() <= RESERVE_STEP + 64,
            "{}",
            decoder.buffer.capacity()
        );
    }

    #[test]
    fn negative_size_is_an_error() {
        let mut decoder = FrameDecoder::new();
        decoder.push(&(-1i32).to_be_bytes());
        let err = decoder.next_frame().unwrap_err().to_string();
        assert!(err.contains("negative frame size -1"), "{err}");
        assert!(err.contains("byte 0"), "{err}");
    }

    #[test]
    fn truncated_tail_is_reported_by_finish() {
        let mut decoder = FrameDecoder::new();
        let mut stream = wire(b"abc");
        stream.extend_from_slice(&wire(b"defgh")[..6]);
        decoder.push(&stream);
        assert!(decoder.next_frame().unwrap().is_some());
        assert!(decoder.next_frame().unwrap().is_none());
        match decoder.finish().unwrap_err() {
            WireError::Truncated {
                position,
                needed,
                available,
                ..
            } => {
                assert_eq!((position, needed, available), (7, 9, 6));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn seal_refuses_payload_above_limit() {
        let frame = Frame::new(vec![0u8; 10]);
        assert!(frame.to_wire(9).is_err());
        assert_eq!(frame.to_wire(10).unwrap().len(), 14);
    }
}
