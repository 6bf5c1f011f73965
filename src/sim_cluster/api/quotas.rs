//! DescribeClientQuotas and AlterClientQuotas.

use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterClientQuotasResponse, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, alter_client_quotas_response, describe_client_quotas_response,
};

use super::{Ctx, sb};
use crate::sim_cluster::model::ClusterState;
use crate::sim_cluster::model::quotas::{QuotaComponent, QuotaOp};

/// DescribeClientQuotas.
pub(in crate::sim_cluster) fn describe(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    if let Some(code) = ctx.fail {
        return DescribeClientQuotasResponse::default().with_error_code(code);
    }
    let components: Vec<QuotaComponent> = req
        .components
        .iter()
        .map(|c| QuotaComponent {
            entity_type: c.entity_type.as_str().to_owned(),
            match_type: c.match_type,
            name: c._match.as_ref().map(|m| m.as_str().to_owned()),
        })
        .collect();
    match state.quotas.describe(&components, req.strict) {
        Err((code, message)) => DescribeClientQuotasResponse::default()
            .with_error_code(code)
            .with_error_message(Some(sb(&message))),
        Ok(found) => {
            let entries = found
                .into_iter()
                .map(|(entity, values)| {
                    describe_client_quotas_response::EntryData::default()
                        .with_entity(
                            entity
                                .iter()
                                .map(|(t, n)| {
                                    describe_client_quotas_response::EntityData::default()
                                        .with_entity_type(sb(t))
                                        .with_entity_name(n.as_deref().map(sb))
                                })
                                .collect(),
                        )
                        .with_values(
                            values
                                .iter()
                                .map(|(k, v)| {
                                    describe_client_quotas_response::ValueData::default()
                                        .with_key(sb(k))
                                        .with_value(*v)
                                })
                                .collect(),
                        )
                })
                .collect();
            DescribeClientQuotasResponse::default().with_entries(Some(entries))
        }
    }
}

/// AlterClientQuotas: each entity all or nothing.
pub(in crate::sim_cluster) fn alter(
    state: &mut ClusterState,
    ctx: &Ctx<'_>,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let entries = req
        .entries
        .into_iter()
        .map(|e| {
            let entity: Vec<(String, Option<String>)> = e
                .entity
                .iter()
                .map(|d| {
                    (
                        d.entity_type.as_str().to_owned(),
                        d.entity_name.as_ref().map(|n| n.as_str().to_owned()),
                    )
                })
                .collect();
            let answer_entity = e
                .entity
                .iter()
                .map(|d| {
                    alter_client_quotas_response::EntityData::default()
                        .with_entity_type(d.entity_type.clone())
                        .with_entity_name(d.entity_name.clone())
                })
                .collect();
            let base =
                alter_client_quotas_response::EntryData::default().with_entity(answer_entity);
            if let Some(code) = ctx.fail {
                return base.with_error_code(code);
            }
            let ops: Vec<QuotaOp> = e
                .ops
                .iter()
                .map(|o| QuotaOp {
                    key: o.key.as_str().to_owned(),
                    value: o.value,
                    remove: o.remove,
                })
                .collect();
            match state.quotas.alter(entity, &ops, req.validate_only) {
                Ok(()) => base,
                Err((code, message)) => base
                    .with_error_code(code)
                    .with_error_message(Some(sb(&message))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}
