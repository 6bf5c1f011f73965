//! Operator side: `keel execute pause | resume | cancel` append a command record to the
//! state topic (the running executor applies it on its next poll, or a restarted one on
//! startup); `keel execute status` reads the state topic and reports the execution.

use keel_balancer::executor::{Command, ControlRecord, Phase};
use keel_wire::client::KafkaClient;
use serde::Serialize;

use super::host::phase_text;
use super::records::{COMMAND_FORMAT, COMMAND_KEY, CommandRecord, Replay};
use super::state_topic::{StateTopic, now_ms};

/// Appends `command` for `plan_id` (or whichever plan runs) and returns its offset.
pub async fn send_command(
    client: &KafkaClient,
    state_topic: &str,
    command: Command,
    plan_id: Option<String>,
) -> anyhow::Result<i64> {
    let state = StateTopic::open(client, state_topic).await?;
    let rec = CommandRecord {
        format: COMMAND_FORMAT.into(),
        command,
        plan_id,
        issued_by: super::host::default_holder_id(),
        issued_at_ms: now_ms(),
    };
    let value = rec.encode();
    state.append(&[(COMMAND_KEY, Some(value.as_bytes()))]).await
}

/// The state of the latest execution, as the state topic tells it.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionStatus {
    /// Plan id.
    pub plan_id: String,
    /// Phase text (`running`, `paused: ...`, `done: converged`).
    pub phase: String,
    /// Whether the phase is final.
    pub finished: bool,
    /// Partitions in the plan (when its plan record is there).
    pub partitions: Option<usize>,
    /// Lease holder.
    pub holder: String,
    /// Lease epoch.
    pub epoch: u64,
    /// Whether the lease is still live (by this host's clock).
    pub lease_live: bool,
    /// Moves of the plan in flight when the record was written.
    pub moves_in_flight: Vec<String>,
    /// Transient alerts since the last resume, and the last.
    pub alerts: u32,
    /// The last alert.
    pub last_alert: String,
    /// Commands written after the executor's last record (not yet applied).
    pub pending_commands: Vec<String>,
}

/// Reads the state topic and summarises the latest execution; `None` when there is none.
pub async fn read_status(
    client: &KafkaClient,
    state_topic: &str,
) -> anyhow::Result<Option<ExecutionStatus>> {
    let mut state = StateTopic::open(client, state_topic).await?;
    let records = state.read_all().await?;
    let replay = Replay::of(&records);
    Ok(status_of(&replay, now_ms()))
}

/// The status a replay describes at `now`.
pub fn status_of(replay: &Replay, now: u64) -> Option<ExecutionStatus> {
    let (_, c): (i64, &ControlRecord) = replay.last_control()?;
    let pending_commands = replay
        .events
        .iter()
        .filter_map(|e| match e {
            super::records::StateEvent::Command { offset, command }
                if *offset >= 0
                    && *offset as u64 >= c.next_command
                    && command.plan_id.as_deref().is_none_or(|p| p == c.plan_id) =>
            {
                Some(format!("{:?} at offset {offset}", command.command))
            }
            _ => None,
        })
        .collect();
    Some(ExecutionStatus {
        plan_id: c.plan_id.clone(),
        phase: phase_text(&c.phase),
        finished: matches!(c.phase, Phase::Done { .. }),
        partitions: replay.plan(&c.plan_id).map(|d| d.len()),
        holder: c.holder.clone(),
        epoch: c.epoch,
        lease_live: now < c.expires_at_ms,
        moves_in_flight: c
            .moves
            .iter()
            .map(|m| format!("{}-{}", m.topic, m.partition))
            .collect(),
        alerts: c.alerts,
        last_alert: c.last_alert.clone(),
        pending_commands,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execute::records::persist_records;
    use crate::execute::state_topic::StateRecord;
    use keel_balancer::executor::record::{CONTROL_FORMAT, plan_id};
    use keel_balancer::executor::{
        DesiredState, Limits, MoveProgress, PauseReason, TargetPartition,
    };

    #[test]
    fn status_reports_phase_lease_moves_and_unapplied_commands() {
        let d = DesiredState::new(
            vec![TargetPartition {
                topic: "t".into(),
                partition: 0,
                replicas: vec![1],
                size_bytes: 1,
            }],
            Limits::default(),
        )
        .unwrap();
        let id = plan_id(&d);
        let c = ControlRecord {
            format: CONTROL_FORMAT.into(),
            plan_id: id.clone(),
            holder: "h/1/2".into(),
            epoch: 4,
            seq: 2,
            claimed_at_ms: 100,
            expires_at_ms: 200,
            phase: Phase::Paused {
                reason: PauseReason::Command,
            },
            baseline_unhealthy: vec![],
            alerts: 1,
            last_alert: "x failed".into(),
            moves: vec![MoveProgress {
                topic: "t".into(),
                partition: 0,
                since_ms: 1,
                stuck_alerted: false,
            }],
            next_command: 3,
        };
        let mut recs: Vec<StateRecord> = persist_records(Some(&d), &c)
            .into_iter()
            .enumerate()
            .map(|(i, (k, v))| StateRecord {
                offset: i as i64,
                key: k,
                value: Some(v),
                timestamp_ms: 0,
            })
            .collect();
        for (offset, cmd) in [(2, Command::Pause), (3, Command::Resume)] {
            let r = CommandRecord {
                format: COMMAND_FORMAT.into(),
                command: cmd,
                plan_id: None,
                issued_by: "op".into(),
                issued_at_ms: 0,
            };
            recs.push(StateRecord {
                offset,
                key: COMMAND_KEY.into(),
                value: Some(r.encode().into_bytes()),
                timestamp_ms: 0,
            });
        }
        let s = status_of(&Replay::of(&recs), 150).unwrap();
        assert_eq!(s.plan_id, id);
        assert_eq!(s.phase, "paused: paused by command");
        assert!(!s.finished);
        assert!(s.lease_live);
        assert_eq!(s.partitions, Some(1));
        assert_eq!(s.moves_in_flight, vec!["t-0"]);
        assert_eq!(s.pending_commands, vec!["Resume at offset 3"]);
        assert!(!status_of(&Replay::of(&recs), 250).unwrap().lease_live);
        assert!(status_of(&Replay::default(), 0).is_none());
    }
}
