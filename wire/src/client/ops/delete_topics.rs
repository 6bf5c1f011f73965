//! DeleteTopics, sent to the controller (topics by name: `topic_names` before v6, `topics`
//! entries from v6 on, per
//! [KIP-516](https://cwiki.apache.org/confluence/display/KAFKA/KIP-516%3A+Topic+Identifiers)).
//! Per-topic failures (`UNKNOWN_TOPIC_OR_PARTITION`, ...) are returned as outcomes;
//! `NOT_CONTROLLER` is retried.

use kafka_protocol::ResponseError;
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use crate::client::connection::Connection;
use crate::client::context::{ErrorContext, check_code};
use crate::client::kafka_client::{KafkaClient, Target};
use crate::client::ops::topics::TopicOutcome;
use crate::error::{Result, WireError};

/// The DeleteTopics request for `names` at `version`.
pub(crate) fn delete_topics_request(
    names: &[String],
    version: i16,
    timeout_ms: i32,
) -> DeleteTopicsRequest {
    let name = |n: &String| TopicName(StrBytes::from_string(n.clone()));
    let request = DeleteTopicsRequest::default().with_timeout_ms(timeout_ms);
    if version >= 6 {
        request.with_topics(
            names
                .iter()
                .map(|n| DeleteTopicState::default().with_name(Some(name(n))))
                .collect(),
        )
    } else {
        request.with_topic_names(names.iter().map(name).collect())
    }
}

/// One outcome per topic of the answer; `NOT_CONTROLLER` on any topic fails the whole call
/// (retriable: the client finds the controller again).
pub(crate) fn parse_delete_topics(
    response: DeleteTopicsResponse,
    conn: &Connection,
) -> Result<Vec<TopicOutcome>> {
    let broker = conn.node_id();
    let context = |name: &str| {
        ErrorContext {
            broker,
            ..Default::default()
        }
        .topic(name)
    };
    let mut outcomes = Vec::with_capacity(response.responses.len());
    for t in response.responses {
        let name = t.name.map(|n| n.0.to_string()).unwrap_or_default();
        if t.error_code == ResponseError::NotController.code() {
            return Err(WireError::Kafka {
                api: "DeleteTopics",
                error: ResponseError::NotController,
                context: context(&name),
                message: t.error_message.map(|m| m.to_string()),
            });
        }
        let error = check_code(
            "DeleteTopics",
            t.error_code,
            t.error_message.as_deref(),
            || context(&name),
        )
        .err();
        outcomes.push(TopicOutcome { name, error });
    }
    Ok(outcomes)
}

impl KafkaClient {
    /// Deletes topics by name. One outcome per topic: `None` error on success, else e.g.
    /// `UnknownTopicOrPartition` ([`TopicOutcome::gone`] accepts both).
    pub async fn delete_topics(&self, names: &[String]) -> Result<Vec<TopicOutcome>> {
        let timeout = i32::try_from(self.config().request_timeout.as_millis()).unwrap_or(i32::MAX);
        let outcomes = self
            .call(
                &Target::Controller,
                None,
                |version| delete_topics_request(names, version, timeout),
                |response, _, conn| parse_delete_topics(response, conn),
            )
            .await?;
        // Deleted topics change routing: the next leader lookup must not see them.
        self.invalidate_metadata();
        Ok(outcomes)
    }
}
