//! "Never propose a move that no goal needs": after the goals have run, every replica that
//! left a broker goes back to it, and every leadership back to the actual leader, wherever
//! that keeps every hard goal and every soft goal's band at least as good on every broker
//! involved. Goals run one after another, so a later goal can make an earlier goal's move
//! unnecessary (a broker filled by one goal is relieved by another); this pass finds those.

use crate::state::{State, UNDO};

/// Moves back what no goal needs moved; returns how many moves it undid.
pub(crate) fn undo_unneeded(st: &mut State<'_>) -> u64 {
    let saved = (st.locked, st.topic_locked);
    for k in 0..st.locked.len() {
        st.locked[k] = st.bands[k].is_some();
    }
    st.topic_locked = !st.topic_band.is_empty();
    let c = st.c;
    let mut undone = 0;
    for p in 0..c.partitions.len() {
        if !st.movable[p] {
            continue;
        }
        let old = c.replicas_of(p);
        let start = c.partitions[p].start as usize;
        let rf = usize::from(c.partitions[p].rf);
        for pos in 0..rf {
            let slot = start + pos;
            if old.contains(&st.assign[slot]) {
                continue;
            }
            // A broker this partition left and does not use now.
            let back = old
                .iter()
                .copied()
                .find(|&b| !st.hosts(p, b) && st.replica_move_ok(slot, b));
            if let Some(b) = back {
                st.move_replica(slot, b, UNDO);
                undone += 1;
            }
        }
        let actual = c.partitions[p].leader;
        if st.leader_of(p) != actual
            && let Some(pos) = (1..rf).find(|&i| st.assign[start + i] == actual)
            && st.leadership_ok(p, pos)
        {
            st.move_leadership(p, pos, UNDO);
            undone += 1;
        }
    }
    (st.locked, st.topic_locked) = saved;
    undone
}
