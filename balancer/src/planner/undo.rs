//! "Never propose a move that no goal needs": after the goals have run, every replica that
//! left a broker goes back to it, and every leadership back to the actual leader, wherever
//! that keeps every hard goal and every soft goal's band at least as good on every broker
//! involved. Goals run one after another, so a later goal can make an earlier goal's move
//! unnecessary (a broker filled by one goal is relieved by another); this pass finds those.
//! Where a broker's bands leave no room for a replica to come back alone, a moved replica
//! goes home in exchange for a moved replica of its home broker (`undo_pairs`).

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
    undone += undo_pairs(st);
    (st.locked, st.topic_locked) = saved;
    undone
}

/// Swap partners tried per moved replica and home broker when the partner does not go home
/// itself (bounds the pass: on a 2.8M-replica cluster a wider search cost seconds).
const PAIR_TRIES: usize = 8;

/// Swap partners that go home too (two moves undone) tried per moved replica and home.
const BOTH_TRIES: usize = 32;

/// Sends a moved replica home by swapping it with a moved replica of its home broker: r1
/// went A->B and r2 B->A (both undone), or r1 A->B and r2 A->C (r2 then goes B->C), one
/// exchange either way, and the plan's net moves drop by two or one. Taken when
/// [`State::swap_ok`] accepts it with every band locked (no band gets worse on either
/// broker, hard goals hold), the swaps that undo two moves first. Goals ran one after
/// another (replica count first, then the resources by swaps), so one replica often went
/// out for one goal and another came in for a later one; this pass finds those pairs.
/// Returns the replicas it sent home. Work: one index of the moved replicas (sorted by
/// where they are and where they came from), then at most [`BOTH_TRIES`] +
/// [`PAIR_TRIES`] checks per moved replica, each charged to the plan's search budget.
fn undo_pairs(st: &mut State<'_>) -> u64 {
    if st.out_of_work() {
        return 0;
    }
    let c = st.c;
    let nb = st.nb();
    // Moved replicas: per broker, and as (broker now, an input broker of the partition it
    // left) pairs, sorted. Kept lazily: an entry is checked before use.
    let mut moved_on: Vec<Vec<u32>> = vec![Vec::new(); nb];
    let mut from_to: Vec<(u32, u32, u32)> = Vec::new();
    for s in 0..st.assign.len() {
        let p = st.slot_part[s] as usize;
        let b = st.assign[s];
        if st.movable[p] && st.off_input(p, b) {
            moved_on[b as usize].push(s as u32);
            for &h in c.replicas_of(p) {
                if !st.hosts(p, h) {
                    from_to.push((b, h, s as u32));
                }
            }
        }
    }
    from_to.sort_unstable();
    let mut undone = 0;
    for p in 0..c.partitions.len() {
        if !st.movable[p] {
            continue;
        }
        let start = c.partitions[p].start as usize;
        for s1 in start..start + usize::from(c.partitions[p].rf) {
            if st.out_of_work() {
                return undone;
            }
            let x = st.assign[s1];
            if !st.off_input(p, x) {
                continue;
            }
            for &home in c.replicas_of(p) {
                if st.hosts(p, home) || !st.dest_ok[home as usize] {
                    continue;
                }
                // Partners on `home` that came from `x` (both go home) first.
                let lo = from_to.partition_point(|e| (e.0, e.1) < (home, x));
                let both = from_to[lo..]
                    .iter()
                    .take_while(|e| (e.0, e.1) == (home, x))
                    .map(|e| e.2 as usize)
                    .filter(|&s2| st.assign[s2] == home)
                    .take(BOTH_TRIES);
                let any = moved_on[home as usize]
                    .iter()
                    .map(|&s2| s2 as usize)
                    .filter(|&s2| {
                        st.assign[s2] == home && st.off_input(st.slot_part[s2] as usize, home)
                    })
                    .take(PAIR_TRIES);
                let Some(s2) = both.chain(any).find(|&s2| st.swap_ok(s1, s2)) else {
                    continue;
                };
                st.move_replica(s1, home, UNDO);
                st.move_replica(s2, x, UNDO);
                let q = st.slot_part[s2] as usize;
                undone += 1;
                if st.off_input(q, x) {
                    moved_on[x as usize].push(s2 as u32);
                } else {
                    undone += 1;
                }
                break;
            }
        }
    }
    undone
}
