//! What keel's executor keeps in the state topic, by key:
//!
//! - `executor/plan/<plan id>`: the plan record (`keel.executor-plan/v1`), written once per
//!   plan, in the same batch as its first control record;
//! - `executor/lease/<epoch>`: control records (`keel.executor-control/v1`: lease, phase,
//!   progress), one key per epoch so compaction keeps the last of each;
//! - `executor/command`: operator commands (`keel.executor-command/v1`), applied by the
//!   running executor once each, by offset.
//!
//! [`replay`] folds a full read of the topic into what a starting executor or `status` needs.

use keel_balancer::executor::record::{decode_plan, encode_plan};
use keel_balancer::executor::{Command, ControlRecord, DesiredState};
use serde::{Deserialize, Serialize};

use super::state_topic::StateRecord;

/// Key prefix of plan records.
pub const PLAN_KEY_PREFIX: &str = "executor/plan/";
/// Key prefix of control records.
pub const CONTROL_KEY_PREFIX: &str = "executor/lease/";
/// Key of operator commands.
pub const COMMAND_KEY: &str = "executor/command";
/// Format tag of command records.
pub const COMMAND_FORMAT: &str = "keel.executor-command/v1";

/// An operator command as written to the state topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandRecord {
    /// Always [`COMMAND_FORMAT`].
    pub format: String,
    /// What to do.
    pub command: Command,
    /// The plan it is meant for; `None` means whichever plan is running.
    pub plan_id: Option<String>,
    /// Who asked (host and pid), for the log.
    pub issued_by: String,
    /// When, ms since the epoch.
    pub issued_at_ms: u64,
}

impl CommandRecord {
    /// Deterministic JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Decodes and checks the format tag.
    pub fn decode(bytes: &[u8]) -> Result<CommandRecord, String> {
        let c: CommandRecord = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if c.format != COMMAND_FORMAT {
            return Err(format!(
                "format {:?}, expected {COMMAND_FORMAT:?}",
                c.format
            ));
        }
        Ok(c)
    }
}

/// The key of `d`'s plan record.
pub fn plan_key(plan_id: &str) -> String {
    format!("{PLAN_KEY_PREFIX}{plan_id}")
}

/// The records of one [`keel_balancer::executor::Action::PersistDesiredState`]: the plan
/// record first when present, then the control record.
pub fn persist_records(
    plan: Option<&DesiredState>,
    control: &ControlRecord,
) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(2);
    if let Some(d) = plan {
        out.push((plan_key(&control.plan_id), encode_plan(d).into_bytes()));
    }
    out.push((control.key(), control.encode().into_bytes()));
    out
}

/// One decoded state-topic record.
#[derive(Debug, Clone)]
pub enum StateEvent {
    /// A plan record.
    Plan {
        /// Offset.
        offset: i64,
        /// Plan id.
        plan_id: String,
        /// The desired state.
        desired: Box<DesiredState>,
    },
    /// A control record.
    Control {
        /// Offset.
        offset: i64,
        /// The record.
        control: Box<ControlRecord>,
    },
    /// An operator command.
    Command {
        /// Offset.
        offset: i64,
        /// The record.
        command: CommandRecord,
    },
}

/// Decodes `r` by its key. `Ok(None)` for keys that are not the executor's (other keel
/// records share the topic) and tombstones; `Err` names the offset, key and problem.
pub fn decode_event(r: &StateRecord) -> Result<Option<StateEvent>, String> {
    let Some(value) = &r.value else {
        return Ok(None);
    };
    let at = |e: String| format!("state record at offset {} (key {}): {e}", r.offset, r.key);
    if let Some(id) = r.key.strip_prefix(PLAN_KEY_PREFIX) {
        let desired = decode_plan(value).map_err(|e| at(e.to_string()))?;
        let plan_id = keel_balancer::executor::record::plan_id(&desired);
        if plan_id != id {
            return Err(at(format!(
                "key names plan {id}, the record is plan {plan_id}"
            )));
        }
        return Ok(Some(StateEvent::Plan {
            offset: r.offset,
            plan_id,
            desired: Box::new(desired),
        }));
    }
    if r.key.starts_with(CONTROL_KEY_PREFIX) {
        let control = ControlRecord::decode(value).map_err(|e| at(e.to_string()))?;
        return Ok(Some(StateEvent::Control {
            offset: r.offset,
            control: Box::new(control),
        }));
    }
    if r.key == COMMAND_KEY {
        let command = CommandRecord::decode(value).map_err(at)?;
        return Ok(Some(StateEvent::Command {
            offset: r.offset,
            command,
        }));
    }
    Ok(None)
}

/// What a full read of the state topic says.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    /// Every decoded event, in offset order.
    pub events: Vec<StateEvent>,
    /// Records that did not decode (offset, key, problem): reported, never fatal.
    pub bad: Vec<String>,
}

impl Replay {
    /// Decodes every record.
    pub fn of(records: &[StateRecord]) -> Replay {
        let mut out = Replay::default();
        for r in records {
            match decode_event(r) {
                Ok(Some(e)) => out.events.push(e),
                Ok(None) => {}
                Err(e) => out.bad.push(e),
            }
        }
        out
    }

    /// The last control record (any plan) and its offset.
    pub fn last_control(&self) -> Option<(i64, &ControlRecord)> {
        self.events.iter().rev().find_map(|e| match e {
            StateEvent::Control { offset, control } => Some((*offset, control.as_ref())),
            _ => None,
        })
    }

    /// The last control record of `plan_id`.
    pub fn last_control_of(&self, plan_id: &str) -> Option<&ControlRecord> {
        self.events.iter().rev().find_map(|e| match e {
            StateEvent::Control { control, .. } if control.plan_id == plan_id => {
                Some(control.as_ref())
            }
            _ => None,
        })
    }

    /// The plan record of `plan_id`.
    pub fn plan(&self, plan_id: &str) -> Option<&DesiredState> {
        self.events.iter().rev().find_map(|e| match e {
            StateEvent::Plan {
                plan_id: id,
                desired,
                ..
            } if id == plan_id => Some(desired.as_ref()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_balancer::executor::record::CONTROL_FORMAT;
    use keel_balancer::executor::{Limits, Phase, TargetPartition};
    use proptest::prelude::*;

    fn desired() -> DesiredState {
        DesiredState::new(
            vec![TargetPartition {
                topic: "t".into(),
                partition: 0,
                replicas: vec![1, 2],
                size_bytes: 10,
            }],
            Limits::default(),
        )
        .unwrap()
    }

    fn control(plan_id: &str, epoch: u64) -> ControlRecord {
        ControlRecord {
            format: CONTROL_FORMAT.into(),
            plan_id: plan_id.into(),
            holder: "h".into(),
            epoch,
            seq: 1,
            claimed_at_ms: 1,
            expires_at_ms: 2,
            phase: Phase::Running,
            baseline_unhealthy: vec![],
            alerts: 0,
            last_alert: String::new(),
            moves: vec![],
            next_command: 0,
        }
    }

    fn rec(offset: i64, key: &str, value: &[u8]) -> StateRecord {
        StateRecord {
            offset,
            key: key.into(),
            value: Some(value.to_vec()),
            timestamp_ms: 0,
        }
    }

    #[test]
    fn persisted_records_replay_to_the_same_plan_and_control() {
        let d = desired();
        let id = keel_balancer::executor::record::plan_id(&d);
        let c = control(&id, 3);
        let recs: Vec<StateRecord> = persist_records(Some(&d), &c)
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| rec(i as i64, &k, &v))
            .collect();
        assert!(recs[0].key.starts_with(PLAN_KEY_PREFIX));
        let r = Replay::of(&recs);
        assert!(r.bad.is_empty(), "{:?}", r.bad);
        assert_eq!(r.plan(&id), Some(&d));
        assert_eq!(r.last_control_of(&id), Some(&c));
        assert_eq!(r.last_control().map(|x| x.0), Some(1));
    }

    #[test]
    fn bad_records_are_reported_with_offset_and_key_and_others_kept() {
        let cmd = CommandRecord {
            format: COMMAND_FORMAT.into(),
            command: Command::Pause,
            plan_id: None,
            issued_by: "me".into(),
            issued_at_ms: 5,
        };
        let recs = vec![
            rec(7, "executor/lease/00000000000000000001", b"{not json"),
            rec(8, COMMAND_KEY, cmd.encode().as_bytes()),
            rec(9, "executor/plan/abc", b"{\"format\":\"x\"}"),
            rec(10, "someone-else", b"whatever"),
        ];
        let r = Replay::of(&recs);
        assert_eq!(r.bad.len(), 2);
        assert!(r.bad[0].contains("offset 7"), "{}", r.bad[0]);
        assert!(r.bad[1].contains("executor/plan/abc"), "{}", r.bad[1]);
        assert_eq!(r.events.len(), 1);
        assert!(
            matches!(&r.events[0], StateEvent::Command { offset: 8, command } if *command == cmd)
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_state_records_never_panics(
            key in prop_oneof![Just("executor/plan/x".to_string()), Just("executor/lease/1".to_string()), Just(COMMAND_KEY.to_string()), ".{0,10}"],
            value in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let _ = decode_event(&rec(0, &key, &value));
        }
    }
}
