//! Request layouts for the allocation guard ([`super::guard`]): one walk per API, following
//! Kafka's message definitions (`clients/src/main/resources/common/message/*Request.json`) for
//! the versions [`super::guard::advertised`] lists. Field order and version conditions mirror
//! `kafka-protocol` 0.18's generated decoders.

use kafka_protocol::messages::ApiKey;

use super::guard::{GuardError, Walker};

type Walked = Result<(), GuardError>;

/// Walks a whole request body of `key` at `version`.
pub(super) fn walk(key: ApiKey, v: i16, w: &mut Walker<'_>) -> Walked {
    w.flexible = key.request_header_version(v) >= 2;
    match key {
        ApiKey::ApiVersions => api_versions(v, w),
        ApiKey::Metadata => metadata(v, w),
        ApiKey::Produce => produce(v, w),
        ApiKey::Fetch => fetch(v, w),
        ApiKey::ListOffsets => list_offsets(v, w),
        ApiKey::CreateTopics => create_topics(w),
        ApiKey::DescribeConfigs => describe_configs(v, w),
        ApiKey::IncrementalAlterConfigs => incremental_alter_configs(w),
        ApiKey::AlterPartitionReassignments => alter_reassignments(v, w),
        ApiKey::ListPartitionReassignments => list_reassignments(w),
        ApiKey::ElectLeaders => elect_leaders(v, w),
        ApiKey::DescribeLogDirs => describe_log_dirs(w),
        ApiKey::DescribeClientQuotas => describe_client_quotas(w),
        ApiKey::AlterClientQuotas => alter_client_quotas(w),
        ApiKey::DescribeCluster => describe_cluster(v, w),
        other => Err(w.fail(format!("no layout for {other:?}"))),
    }
}

/// A `{ name, partitions: [i32] }` element (ElectLeaders, DescribeLogDirs, ...).
fn topic_with_partition_ids(w: &mut Walker<'_>) -> Walked {
    w.string()?;
    w.fixed_array(4)?;
    w.tags()
}

fn api_versions(v: i16, w: &mut Walker<'_>) -> Walked {
    if v >= 3 {
        w.string()?;
        w.string()?;
    }
    w.tags()
}

fn metadata(v: i16, w: &mut Walker<'_>) -> Walked {
    let min = if v >= 10 { 16 } else { 0 } + w.str_len() + w.tag_len();
    w.array(min, |w| {
        if v >= 10 {
            w.fixed(16)?;
        }
        w.string()?;
        w.tags()
    })?;
    if v >= 4 {
        w.fixed(1)?;
    }
    if (8..=10).contains(&v) {
        w.fixed(1)?;
    }
    if v >= 8 {
        w.fixed(1)?;
    }
    w.tags()
}

fn produce(_v: i16, w: &mut Walker<'_>) -> Walked {
    w.string()?; // transactional id
    w.fixed(2 + 4)?; // acks, timeout
    let partition_min = 4 + w.len_len() + w.tag_len();
    let topic_min = w.str_len() + w.len_len() + w.tag_len();
    w.array(topic_min, |w| {
        w.string()?;
        w.array(partition_min, |w| {
            w.fixed(4)?;
            w.bytes()?;
            w.tags()
        })?;
        w.tags()
    })?;
    w.tags()
}

fn fetch(v: i16, w: &mut Walker<'_>) -> Walked {
    w.fixed(4 + 4 + 4 + 4 + 1)?; // replica id, max wait, min bytes, max bytes, isolation
    if v >= 7 {
        w.fixed(4 + 4)?; // session id, epoch
    }
    let partition_fixed = 4
        + if v >= 9 { 4 } else { 0 }
        + 8
        + if v >= 12 { 4 } else { 0 }
        + if v >= 5 { 8 } else { 0 }
        + 4;
    let partition_min = partition_fixed + w.tag_len();
    w.array(w.str_len() + w.len_len() + w.tag_len(), |w| {
        w.string()?;
        w.array(partition_min, |w| {
            w.fixed(partition_fixed)?;
            w.tags()
        })?;
        w.tags()
    })?;
    if v >= 7 {
        w.array(w.str_len() + w.len_len() + w.tag_len(), |w| {
            w.string()?;
            w.fixed_array(4)?;
            w.tags()
        })?;
    }
    if v >= 11 {
        w.string()?;
    }
    w.tags()
}

fn list_offsets(v: i16, w: &mut Walker<'_>) -> Walked {
    w.fixed(4)?; // replica id
    if v >= 2 {
        w.fixed(1)?;
    }
    let partition_fixed = 4 + if v >= 4 { 4 } else { 0 } + 8;
    let partition_min = partition_fixed + w.tag_len();
    w.array(w.str_len() + w.len_len() + w.tag_len(), |w| {
        w.string()?;
        w.array(partition_min, |w| {
            w.fixed(partition_fixed)?;
            w.tags()
        })?;
        w.tags()
    })?;
    w.tags()
}

fn create_topics(w: &mut Walker<'_>) -> Walked {
    let topic_min = w.str_len() + 4 + 2 + 2 * w.len_len() + w.tag_len();
    w.array(topic_min, |w| {
        w.string()?;
        w.fixed(4 + 2)?;
        w.array(4 + w.len_len() + w.tag_len(), |w| {
            w.fixed(4)?;
            w.fixed_array(4)?;
            w.tags()
        })?;
        w.array(2 * w.str_len() + w.tag_len(), |w| {
            w.string()?;
            w.string()?;
            w.tags()
        })?;
        w.tags()
    })?;
    w.fixed(4 + 1)?; // timeout, validate only
    w.tags()
}

fn describe_configs(v: i16, w: &mut Walker<'_>) -> Walked {
    w.array(1 + w.str_len() + w.len_len() + w.tag_len(), |w| {
        w.fixed(1)?;
        w.string()?;
        let str_len = w.str_len();
        w.array(str_len, |w| w.string())?;
        w.tags()
    })?;
    w.fixed(1)?; // include synonyms
    if v >= 3 {
        w.fixed(1)?;
    }
    w.tags()
}

fn incremental_alter_configs(w: &mut Walker<'_>) -> Walked {
    w.array(1 + w.str_len() + w.len_len() + w.tag_len(), |w| {
        w.fixed(1)?;
        w.string()?;
        w.array(2 * w.str_len() + 1 + w.tag_len(), |w| {
            w.string()?;
            w.fixed(1)?;
            w.string()?;
            w.tags()
        })?;
        w.tags()
    })?;
    w.fixed(1)?; // validate only
    w.tags()
}

fn alter_reassignments(v: i16, w: &mut Walker<'_>) -> Walked {
    w.fixed(4)?; // timeout
    if v >= 1 {
        w.fixed(1)?;
    }
    w.array(3, |w| {
        w.string()?;
        w.array(6, |w| {
            w.fixed(4)?;
            w.fixed_array(4)?;
            w.tags()
        })?;
        w.tags()
    })?;
    w.tags()
}

fn list_reassignments(w: &mut Walker<'_>) -> Walked {
    w.fixed(4)?; // timeout
    w.array(3, topic_with_partition_ids)?;
    w.tags()
}

fn elect_leaders(v: i16, w: &mut Walker<'_>) -> Walked {
    if v >= 1 {
        w.fixed(1)?;
    }
    w.array(
        w.str_len() + w.len_len() + w.tag_len(),
        topic_with_partition_ids,
    )?;
    w.fixed(4)?; // timeout
    w.tags()
}

fn describe_log_dirs(w: &mut Walker<'_>) -> Walked {
    w.array(
        w.str_len() + w.len_len() + w.tag_len(),
        topic_with_partition_ids,
    )?;
    w.tags()
}

fn describe_client_quotas(w: &mut Walker<'_>) -> Walked {
    w.array(2 * w.str_len() + 1 + w.tag_len(), |w| {
        w.string()?;
        w.fixed(1)?;
        w.string()?;
        w.tags()
    })?;
    w.fixed(1)?; // strict
    w.tags()
}

fn alter_client_quotas(w: &mut Walker<'_>) -> Walked {
    w.array(2 * w.len_len() + w.tag_len(), |w| {
        w.array(2 * w.str_len() + w.tag_len(), |w| {
            w.string()?;
            w.string()?;
            w.tags()
        })?;
        w.array(w.str_len() + 8 + 1 + w.tag_len(), |w| {
            w.string()?;
            w.fixed(8 + 1)?;
            w.tags()
        })?;
        w.tags()
    })?;
    w.fixed(1)?; // validate only
    w.tags()
}

fn describe_cluster(v: i16, w: &mut Walker<'_>) -> Walked {
    w.fixed(1)?;
    if v >= 1 {
        w.fixed(1)?;
    }
    w.tags()
}
