//! # keel-wire
//!
//! Owns the Kafka wire and on-disk formats that keel reads and writes:
//! - [`batch`]: record batches (magic v2) as zero-copy views, CRC-32C validation, record
//!   decoding with every codec, batch encoding, and recognition of legacy magic 0/1 sets
//!   ([KIP-98](https://cwiki.apache.org/confluence/display/KAFKA/KIP-98+-+Exactly+Once+Delivery+and+Transactional+Messaging)
//!   defines the v2 format);
//! - [`segment`]: log-segment files as a JVM broker writes them (`.log`, `.index`,
//!   `.timeindex`, `.txnindex`, `.snapshot`, `leader-epoch-checkpoint` and the log-dir
//!   checkpoints), and the sparse index builders
//!   ([KIP-33](https://cwiki.apache.org/confluence/display/KAFKA/KIP-33+-+Add+a+time+based+log+index),
//!   [KIP-101](https://cwiki.apache.org/confluence/display/KAFKA/KIP-101+-+Alter+Replication+Protocol+to+use+Leader+Epoch+rather+than+High+Watermark+for+Truncation));
//! - [`frame`]: request/response framing on top of the `kafka-protocol` crate's generated
//!   messages, and ApiVersions negotiation
//!   ([KIP-35](https://cwiki.apache.org/confluence/display/KAFKA/KIP-35+-+Retrieving+protocol+version),
//!   [KIP-482](https://cwiki.apache.org/confluence/display/KAFKA/KIP-482%3A+The+Kafka+Protocol+should+Support+Optional+Tagged+Fields)).
//!
//! Decoders never panic on bad input: every failure is a [`WireError`] naming the position.

pub mod batch;
pub mod client;
pub mod crc;
pub mod error;
pub mod frame;
pub mod segment;

pub use error::{Result, WireError};
