//! keel-wire's framing against real Apache Kafka brokers (started by `./test.sh` through
//! `tests/servers/kafka-start.sh`): every broker gets an ApiVersions request framed by keel
//! (first at a version newer than the broker knows, to exercise the v0 fallback answer), keel
//! negotiates the Metadata version from the answer, and a Metadata request must show the three
//! brokers with racks r0/r1/r2. Requests are pipelined on one connection so correlation-id
//! matching is exercised too. Plain blocking `std::net`, the decoder is fed whatever each read
//! returns.

// Test helpers outside #[test] fns unwrap and panic too: a failure there is a test failure.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
};
use kafka_protocol::protocol::{Message, StrBytes};
use keel_wire::frame::{
    DecodedResponse, FrameDecoder, InFlightRequests, decode_api_versions_response, negotiate,
    negotiate_version, retry_version,
};

const CLIENT_ID: Option<&str> = Some("keel-real-kafka-frames");

fn bootstrap() -> Vec<String> {
    let Ok(list) = std::env::var("KEEL_KAFKA_BOOTSTRAP") else {
        panic!(
            "KEEL_KAFKA_BOOTSTRAP is not set. These tests need the real Apache Kafka cluster: run \
             ./test.sh (it starts it with tests/servers/kafka-start.sh and exports the variable), \
             or start it yourself and `set -a; . .keel-test/kafka.env; set +a`."
        )
    };
    let brokers: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    assert!(!brokers.is_empty(), "KEEL_KAFKA_BOOTSTRAP is empty");
    brokers
}

/// One blocking connection: keel frames out, keel's decoder in.
struct Connection {
    address: String,
    stream: TcpStream,
    decoder: FrameDecoder,
    in_flight: InFlightRequests,
}

impl Connection {
    fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).unwrap_or_else(|e| {
            panic!("connect to {address}: {e} (is the cluster up? run ./test.sh)")
        });
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Connection {
            address: address.to_owned(),
            stream,
            decoder: FrameDecoder::new(),
            in_flight: InFlightRequests::starting_at(1000),
        }
    }

    fn send<R: kafka_protocol::protocol::Request>(&mut self, version: i16, body: &R) {
        let frame = self.in_flight.encode(version, CLIENT_ID, body).unwrap();
        self.stream.write_all(&frame).unwrap();
    }

    fn receive(&mut self) -> DecodedResponse {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(frame) = self.decoder.next_frame().unwrap() {
                return self
                    .in_flight
                    .complete(&frame)
                    .unwrap_or_else(|e| panic!("response from {}: {e}", self.address));
            }
            let n = self
                .stream
                .read(&mut buf)
                .unwrap_or_else(|e| panic!("read from {}: {e}", self.address));
            assert!(
                n > 0,
                "{} closed the connection ({} bytes buffered)",
                self.address,
                self.decoder.buffered_len()
            );
            self.decoder.push(&buf[..n]);
        }
    }

    /// ApiVersions at the newest version kafka-protocol has; on UNSUPPORTED_VERSION (35) retry
    /// at the version the broker's v0 answer lists.
    fn api_versions(&mut self) -> (i16, ApiVersionsResponse) {
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("keel"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        let newest = ApiVersionsRequest::VERSIONS.max;
        self.send(newest, &request);
        let response = decode_api_versions_response(&self.receive()).unwrap();
        if response.error_code == 0 {
            return (newest, response);
        }
        assert_eq!(
            response.error_code, 35,
            "ApiVersions v{newest} to {}: unexpected error",
            self.address
        );
        let version =
            retry_version(&response).expect("the broker lists an ApiVersions range we share");
        self.send(version, &request);
        let response = decode_api_versions_response(&self.receive()).unwrap();
        assert_eq!(
            response.error_code, 0,
            "ApiVersions v{version} to {}",
            self.address
        );
        (version, response)
    }
}

#[test]
fn every_real_broker_answers_keel_framed_api_versions_and_metadata() {
    let brokers = bootstrap();
    for address in &brokers {
        let mut conn = Connection::open(address);
        let (api_versions_version, versions) = conn.api_versions();
        assert!(
            api_versions_version >= 3,
            "{address}: ApiVersions v{api_versions_version}, a 3.x+ broker has v3"
        );
        assert!(
            versions.api_keys.len() > 20,
            "{address} lists only {} APIs",
            versions.api_keys.len()
        );

        let metadata_version = negotiate::<MetadataRequest>(&versions).unwrap();
        assert!(
            metadata_version >= 9,
            "{address}: Metadata v{metadata_version} is not a flexible version"
        );
        assert_eq!(
            negotiate_version(ApiKey::Metadata, 0..=metadata_version, &versions).unwrap(),
            metadata_version
        );

        // Pipeline two requests (a flexible and a non-flexible Metadata version) before reading:
        // responses must come back in order and match their correlation ids and header versions.
        conn.send(
            metadata_version,
            &MetadataRequest::default().with_topics(None),
        );
        conn.send(1, &MetadataRequest::default().with_topics(None));
        assert_eq!(conn.in_flight.len(), 2);
        for expected_version in [metadata_version, 1] {
            let response = conn.receive();
            assert_eq!(response.api_version, expected_version);
            let metadata: MetadataResponse = response.body_as::<MetadataRequest>().unwrap();
            let seen: BTreeSet<(i32, String, i32, Option<String>)> = metadata
                .brokers
                .iter()
                .map(|b| {
                    (
                        b.node_id.0,
                        b.host.to_string(),
                        b.port,
                        b.rack.as_ref().map(|r| r.to_string()),
                    )
                })
                .collect();
            let racks: BTreeSet<Option<String>> = seen.iter().map(|b| b.3.clone()).collect();
            assert_eq!(
                seen.len(),
                3,
                "{address} (Metadata v{expected_version}) sees brokers {seen:?}"
            );
            assert_eq!(
                racks,
                ["r0", "r1", "r2"]
                    .iter()
                    .map(|r| Some(r.to_string()))
                    .collect(),
                "{address}: racks of {seen:?}"
            );
            for (_, host, port, _) in &seen {
                assert!(
                    brokers.contains(&format!("{host}:{port}")),
                    "{host}:{port} is not in KEEL_KAFKA_BOOTSTRAP {brokers:?}"
                );
            }
        }
        assert!(conn.in_flight.is_empty());
        conn.decoder.finish().unwrap();
    }
}

#[test]
fn every_api_versions_version_the_broker_lists_round_trips_through_keel_frames() {
    // Every ApiVersions version the broker lists round-trips through keel's framing, including
    // v0-v2 (header v1, non-flexible) and v3 (header v2, flexible request, response header v0).
    let address = bootstrap().remove(0);
    let mut conn = Connection::open(&address);
    let (_, versions) = conn.api_versions();
    let theirs = keel_wire::frame::supported_range(ApiKey::ApiVersions as i16, &versions).unwrap();
    for version in theirs.clone() {
        if version > ApiVersionsRequest::VERSIONS.max {
            continue;
        }
        let request = ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("keel"))
            .with_client_software_version(StrBytes::from_static_str("0.1.0"));
        conn.send(version, &request);
        let response = decode_api_versions_response(&conn.receive()).unwrap();
        assert_eq!(response.error_code, 0, "ApiVersions v{version}");
        assert_eq!(
            keel_wire::frame::supported_range(ApiKey::ApiVersions as i16, &response),
            Some(theirs.clone())
        );
    }
}
