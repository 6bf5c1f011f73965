//! The joint phase's actions: what each one changes, carrying it out, and the goal it is
//! booked to.

use super::Joint;
use crate::goals::{GoalKind, M_LEADERS};
use crate::state::{add, contrib, leadership_delta};

/// An action the phase may take.
#[derive(Debug, Clone, Copy)]
pub(super) enum Action {
    /// Replica in slot `.0` moves to broker `.1`.
    Move(usize, usize),
    /// Replicas in slots `.0` and `.1` trade brokers.
    Swap(usize, usize),
    /// Partition `.0`: the replica at position `.1` becomes the leader.
    Lead(usize, usize),
    /// Two leadership moves at once (partition, position of its new leader): the broker
    /// being fixed hands over a hot leadership and takes a cold one, keeping its leader
    /// count (taken when it lowers the resource distance).
    Trade(usize, usize, usize, usize),
}

impl Joint<'_, '_> {
    /// The brokers whose metrics `action` changes.
    pub(super) fn touched(&self, action: Action) -> [usize; 4] {
        let st = &*self.st;
        let none = usize::MAX;
        match action {
            Action::Move(s, b) => [st.assign[s] as usize, b, none, none],
            Action::Swap(s1, s2) => [st.assign[s1] as usize, st.assign[s2] as usize, none, none],
            Action::Lead(p, pos) => {
                let start = st.c.partitions[p].start as usize;
                [
                    st.assign[start] as usize,
                    st.assign[start + pos] as usize,
                    none,
                    none,
                ]
            }
            Action::Trade(p, pos_p, q, pos_q) => {
                let (sp, sq) = (
                    st.c.partitions[p].start as usize,
                    st.c.partitions[q].start as usize,
                );
                [
                    st.assign[sp] as usize,
                    st.assign[sp + pos_p] as usize,
                    st.assign[sq] as usize,
                    st.assign[sq + pos_q] as usize,
                ]
            }
        }
    }

    /// Carries out `action` and refreshes the scores of the brokers it touched.
    pub(super) fn take(&mut self, action: Action) -> u64 {
        let touched = self.touched(action);
        let n = self.apply(action);
        for b in touched {
            if b != usize::MAX {
                self.refresh(b);
            }
        }
        n
    }

    /// Carries out `action`, booking it to the resource goal it helps most.
    pub(super) fn apply(&mut self, action: Action) -> u64 {
        let goal = self.goal_of(action);
        match action {
            Action::Move(s, b) => {
                self.st.move_replica(s, b as u32, goal);
                1
            }
            Action::Swap(s1, s2) => {
                let (a, b) = (self.st.assign[s1], self.st.assign[s2]);
                self.st.move_replica(s1, b, goal);
                self.st.move_replica(s2, a, goal);
                self.st.swaps.push((s1 as u32, s2 as u32));
                2
            }
            Action::Lead(p, pos) => {
                self.st.move_leadership(p, pos, goal);
                1
            }
            Action::Trade(p, pos_p, q, pos_q) => {
                self.st.move_leadership(p, pos_p, goal);
                self.st.move_leadership(q, pos_q, goal);
                2
            }
        }
    }

    /// The goal whose distance the action lowers most (leader count if no resource's).
    pub(super) fn goal_of(&self, action: Action) -> u8 {
        let st = &*self.st;
        let (a, b, d) = match action {
            Action::Move(s, b) => {
                let p = st.slot_part[s] as usize;
                (
                    st.assign[s] as usize,
                    b,
                    contrib(st.c, p, st.is_leader_slot(s)),
                )
            }
            Action::Swap(s1, s2) => {
                let (p, q) = (st.slot_part[s1] as usize, st.slot_part[s2] as usize);
                let mut d = contrib(st.c, p, st.is_leader_slot(s1));
                add(&mut d, &contrib(st.c, q, st.is_leader_slot(s2)), -1.0);
                (st.assign[s1] as usize, st.assign[s2] as usize, d)
            }
            Action::Lead(p, pos) => {
                let start = st.c.partitions[p].start as usize;
                (
                    st.assign[start] as usize,
                    st.assign[start + pos] as usize,
                    leadership_delta(st.c, p),
                )
            }
            Action::Trade(..) => return crate::planner::goal_id(GoalKind::LeaderCount),
        };
        let mut best = (0.0, M_LEADERS);
        for &m in &self.goals.resources {
            let Some(band) = &st.bands[m] else { continue };
            let (va, vb) = (st.metric[a][m], st.metric[b][m]);
            let gain = band.viol(a, va) - band.viol(a, va - d[m]) + band.viol(b, vb)
                - band.viol(b, vb + d[m]);
            let gain = gain / self.centre(m, a).map_or(1.0, |x| x.0);
            if gain > best.0 {
                best = (gain, m);
            }
        }
        let kind = GoalKind::ALL
            .into_iter()
            .find(|g| g.metric() == Some(best.1))
            .unwrap_or(GoalKind::LeaderCount);
        crate::planner::goal_id(kind)
    }
}
