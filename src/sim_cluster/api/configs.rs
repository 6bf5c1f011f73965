//! DescribeConfigs and IncrementalAlterConfigs for broker (type 4) and topic (type 2) resources.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult,
};
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};

use super::{Ctx, INVALID_REQUEST, UNKNOWN_TOPIC_OR_PARTITION, sb};
use crate::sim_cluster::model::ClusterState;
use crate::sim_cluster::model::configs::{ConfigOp, ConfigTarget};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// BROKER_NOT_AVAILABLE... Kafka answers an unknown broker resource with INVALID_REQUEST.
const UNKNOWN_BROKER: i16 = INVALID_REQUEST;

/// Resolves a config resource, or the error code and message to answer.
fn target(state: &ClusterState, kind: i8, name: &str) -> Result<ConfigTarget, (i16, String)> {
    match kind {
        TOPIC => state.topic_idx(name).map(ConfigTarget::Topic).ok_or((
            UNKNOWN_TOPIC_OR_PARTITION,
            format!("unknown topic {name:?}"),
        )),
        BROKER if name.is_empty() => Ok(ConfigTarget::Broker(None)),
        BROKER => name
            .parse::<i32>()
            .ok()
            .and_then(|id| state.broker_idx(id))
            .map(|b| ConfigTarget::Broker(Some(b)))
            .ok_or((UNKNOWN_BROKER, format!("unknown broker {name:?}"))),
        other => Err((
            INVALID_REQUEST,
            format!("resource type {other} is not simulated"),
        )),
    }
}

/// DescribeConfigs.
pub(in crate::sim_cluster) fn describe_configs(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.as_str().to_owned();
            let base = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            if let Some(code) = ctx.fail {
                return base.with_error_code(code);
            }
            let t = match target(state, r.resource_type, &name) {
                Ok(t) => t,
                Err((code, message)) => {
                    return base
                        .with_error_code(code)
                        .with_error_message(Some(sb(&message)));
                }
            };
            let keys: Option<Vec<String>> = r
                .configuration_keys
                .map(|k| k.iter().map(|s| s.as_str().to_owned()).collect());
            let configs = state
                .describe_configs(t, keys.as_deref())
                .into_iter()
                .map(|c| {
                    DescribeConfigsResourceResult::default()
                        .with_name(sb(&c.name))
                        .with_value(c.value.as_deref().map(sb))
                        .with_config_source(c.source)
                        .with_read_only(c.name == "broker.id" || c.name == "broker.rack")
                })
                .collect();
            base.with_configs(configs)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

/// IncrementalAlterConfigs: each resource all or nothing.
pub(in crate::sim_cluster) fn incremental_alter_configs(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let responses = req
        .resources
        .into_iter()
        .map(|r| {
            let name = r.resource_name.as_str().to_owned();
            let base = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            if let Some(code) = ctx.fail {
                return base.with_error_code(code);
            }
            let ops: Vec<ConfigOp> = r
                .configs
                .iter()
                .map(|c| ConfigOp {
                    name: c.name.as_str().to_owned(),
                    op: c.config_operation,
                    value: c.value.as_ref().map(|v| v.as_str().to_owned()),
                })
                .collect();
            let result = target(state, r.resource_type, &name)
                .and_then(|t| state.alter_configs(t, &ops, req.validate_only));
            match result {
                Ok(()) => base,
                Err((code, message)) => base
                    .with_error_code(code)
                    .with_error_message(Some(sb(&message))),
            }
        })
        .collect();
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}
