//! One request frame in, one response frame out: header, version check, allocation guard,
//! decode, injected failures, handler, encode. Any malformed input is an `Err` with a reason
//! and the connection is closed; nothing here panics.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterPartitionReassignmentsRequest, ApiKey, ApiVersionsRequest,
    CreateTopicsRequest, DescribeClientQuotasRequest, DescribeClusterRequest,
    DescribeConfigsRequest, DescribeLogDirsRequest, ElectLeadersRequest, FetchRequest,
    IncrementalAlterConfigsRequest, ListOffsetsRequest, ListPartitionReassignmentsRequest,
    MetadataRequest, ProduceRequest,
};
use keel_wire::frame::{DecodedRequest, Frame, decode_request_frame, encode_response_frame};

use super::api::{self, Ctx};
use super::guard::{advertised, check_request};
use super::server::Shared;

/// UNSUPPORTED_VERSION.
const UNSUPPORTED_VERSION: i16 = 35;
/// The longest a Fetch with nothing to return waits for data.
const MAX_FETCH_WAIT: Duration = Duration::from_millis(500);

/// Splits and checks a request frame: the header, then the body through the allocation
/// guard. Returns the decoded header and body, or why the frame is refused.
pub fn check_frame(frame: &Frame) -> Result<DecodedRequest, String> {
    let request = decode_request_frame(frame).map_err(|e| e.to_string())?;
    let key = request.header.request_api_key;
    let version = request.header.request_api_version;
    let unsupported_api_versions = key == ApiKey::ApiVersions as i16
        && advertised(ApiKey::ApiVersions).is_some_and(|r| !r.contains(&version));
    if !unsupported_api_versions {
        check_request(key, version, &request.body).map_err(|e| {
            let head: String = request
                .body
                .iter()
                .take(32)
                .map(|b| format!("{b:02x}"))
                .collect();
            format!(
                "{} v{version}: {e}; body starts {head}",
                keel_wire::frame::api_name(key)
            )
        })?;
    }
    Ok(request)
}

/// Decodes a request body that passed [`check_frame`] as `R`. Bytes after the body are
/// ignored, as Kafka does.
fn body<R: kafka_protocol::protocol::Request>(request: &DecodedRequest) -> Result<R, String> {
    let version = request.header.request_api_version;
    let mut cursor = request.body.clone();
    R::decode(&mut cursor, version).map_err(|e| {
        format!(
            "cannot decode {} v{version} body at stream byte {}: {e}",
            keel_wire::frame::api_name(R::KEY),
            request.body_position
        )
    })
}

/// Checks and fully decodes a request frame of any served API, without handling it: the
/// decode path the server runs on untrusted bytes (for fuzzing and property tests).
pub fn decode_request(frame: &Frame) -> Result<ApiKey, String> {
    let request = check_frame(frame)?;
    let key = request.header.request_api_key;
    let api = ApiKey::try_from(key).map_err(|()| format!("unknown API key {key}"))?;
    if api == ApiKey::ApiVersions
        && !advertised(api).is_some_and(|r| r.contains(&request.header.request_api_version))
    {
        return Ok(api);
    }
    match api {
        ApiKey::ApiVersions => body::<ApiVersionsRequest>(&request).map(drop),
        ApiKey::Metadata => body::<MetadataRequest>(&request).map(drop),
        ApiKey::DescribeCluster => body::<DescribeClusterRequest>(&request).map(drop),
        ApiKey::DescribeConfigs => body::<DescribeConfigsRequest>(&request).map(drop),
        ApiKey::IncrementalAlterConfigs => {
            body::<IncrementalAlterConfigsRequest>(&request).map(drop)
        }
        ApiKey::DescribeLogDirs => body::<DescribeLogDirsRequest>(&request).map(drop),
        ApiKey::ListOffsets => body::<ListOffsetsRequest>(&request).map(drop),
        ApiKey::AlterPartitionReassignments => {
            body::<AlterPartitionReassignmentsRequest>(&request).map(drop)
        }
        ApiKey::ListPartitionReassignments => {
            body::<ListPartitionReassignmentsRequest>(&request).map(drop)
        }
        ApiKey::ElectLeaders => body::<ElectLeadersRequest>(&request).map(drop),
        ApiKey::DescribeClientQuotas => body::<DescribeClientQuotasRequest>(&request).map(drop),
        ApiKey::AlterClientQuotas => body::<AlterClientQuotasRequest>(&request).map(drop),
        ApiKey::CreateTopics => body::<CreateTopicsRequest>(&request).map(drop),
        ApiKey::Produce => body::<ProduceRequest>(&request).map(drop),
        ApiKey::Fetch => body::<FetchRequest>(&request).map(drop),
        other => Err(format!("{other:?} is not served")),
    }?;
    Ok(api)
}

/// Handles one frame from a connection to broker index `index`. `Ok(None)`: no answer is due
/// (Produce with `acks=0`).
pub(super) async fn handle(
    shared: &Shared,
    index: usize,
    frame: Frame,
) -> Result<Option<Bytes>, String> {
    let request = check_frame(&frame)?;
    let key = request.header.request_api_key;
    let version = request.header.request_api_version;
    let correlation = request.header.correlation_id;
    let api = ApiKey::try_from(key).map_err(|()| format!("unknown API key {key}"))?;
    let encoded = |r: keel_wire::Result<Bytes>| r.map(Some).map_err(|e| e.to_string());

    if api == ApiKey::ApiVersions {
        let in_range = advertised(api).is_some_and(|r| r.contains(&version));
        if !in_range {
            // KIP-511: answer an unknown ApiVersions version with v0 and UNSUPPORTED_VERSION.
            let answer = api::cluster::api_versions(UNSUPPORTED_VERSION);
            return encoded(encode_response_frame::<ApiVersionsRequest>(
                correlation,
                0,
                &answer,
            ));
        }
        let _: ApiVersionsRequest = body(&request)?;
        let answer = api::cluster::api_versions(0);
        return encoded(encode_response_frame::<ApiVersionsRequest>(
            correlation,
            version,
            &answer,
        ));
    }

    macro_rules! serve {
        ($req:ty, $handler:path) => {{
            let req: $req = body(&request)?;
            let answer = {
                let mut state = shared.state();
                let broker = state.brokers.get(index).map_or(-1, |b| b.id);
                let fail = state.take_request_failure(key);
                let ctx = Ctx {
                    broker,
                    addrs: &shared.addrs,
                    version,
                    fail,
                };
                $handler(&mut state, &ctx, req)
            };
            encoded(encode_response_frame::<$req>(correlation, version, &answer))
        }};
    }

    match api {
        ApiKey::Metadata => serve!(MetadataRequest, api::cluster::metadata),
        ApiKey::DescribeCluster => serve!(DescribeClusterRequest, api::cluster::describe_cluster),
        ApiKey::DescribeConfigs => serve!(DescribeConfigsRequest, api::configs::describe_configs),
        ApiKey::IncrementalAlterConfigs => serve!(
            IncrementalAlterConfigsRequest,
            api::configs::incremental_alter_configs
        ),
        ApiKey::DescribeLogDirs => serve!(DescribeLogDirsRequest, api::logs::describe_log_dirs),
        ApiKey::ListOffsets => serve!(ListOffsetsRequest, api::logs::list_offsets),
        ApiKey::AlterPartitionReassignments => {
            serve!(AlterPartitionReassignmentsRequest, api::reassign::alter)
        }
        ApiKey::ListPartitionReassignments => {
            serve!(ListPartitionReassignmentsRequest, api::reassign::list)
        }
        ApiKey::ElectLeaders => serve!(ElectLeadersRequest, api::reassign::elect),
        ApiKey::DescribeClientQuotas => serve!(DescribeClientQuotasRequest, api::quotas::describe),
        ApiKey::AlterClientQuotas => serve!(AlterClientQuotasRequest, api::quotas::alter),
        ApiKey::CreateTopics => serve!(CreateTopicsRequest, api::records::create_topics),
        ApiKey::Produce => {
            let req: ProduceRequest = body(&request)?;
            let acks = req.acks;
            let answer = {
                let mut state = shared.state();
                let broker = state.brokers.get(index).map_or(-1, |b| b.id);
                let fail = state.take_request_failure(key);
                let ctx = Ctx {
                    broker,
                    addrs: &shared.addrs,
                    version,
                    fail,
                };
                api::records::produce(&mut state, &ctx, req)
            };
            if acks == 0 {
                return Ok(None);
            }
            encoded(encode_response_frame::<ProduceRequest>(
                correlation,
                version,
                &answer,
            ))
        }
        ApiKey::Fetch => {
            let req: FetchRequest = body(&request)?;
            let wait = Duration::from_millis(u64::try_from(req.max_wait_ms).unwrap_or(0))
                .min(MAX_FETCH_WAIT);
            let run = || {
                let mut state = shared.state();
                let broker = state.brokers.get(index).map_or(-1, |b| b.id);
                let fail = state.take_request_failure(key);
                let ctx = Ctx {
                    broker,
                    addrs: &shared.addrs,
                    version,
                    fail,
                };
                api::records::fetch(&mut state, &ctx, &req)
            };
            let (mut answer, bytes) = run();
            if bytes == 0 && !wait.is_zero() {
                tokio::time::sleep(wait).await;
                answer = run().0;
            }
            encoded(encode_response_frame::<FetchRequest>(
                correlation,
                version,
                &answer,
            ))
        }
        other => Err(format!("{other:?} is not served")),
    }
}
