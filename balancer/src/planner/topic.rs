//! Topic replica distribution: no broker holds far more (or fewer) replicas of one topic
//! than the topic's average, within the clamped band `avg ± [2, 40]`.

use crate::state::State;

fn topic_partitions(st: &State<'_>) -> (Vec<u32>, Vec<u32>) {
    let nt = st.c.topics.len();
    let mut offsets = vec![0u32; nt + 1];
    for part in &st.c.partitions {
        offsets[part.topic as usize + 1] += 1;
    }
    for t in 0..nt {
        offsets[t + 1] += offsets[t];
    }
    let mut fill = offsets.clone();
    let mut parts = vec![0u32; st.c.partitions.len()];
    for (p, part) in st.c.partitions.iter().enumerate() {
        let t = part.topic as usize;
        parts[fill[t] as usize] = p as u32;
        fill[t] += 1;
    }
    (offsets, parts)
}

/// Moves (or swaps) replicas so every topic's per-broker count sits in its band.
pub(crate) fn balance_topics(st: &mut State<'_>, goal: u8) -> u64 {
    let nb = st.nb();
    let (offsets, parts) = topic_partitions(st);
    let mut moves = 0;
    for t in 0..st.c.topics.len() {
        let (lo, hi) = st.topic_band[t];
        let count = |st: &State<'_>, b: usize| f64::from(st.topic_count[t * nb + b]);
        let tp = &parts[offsets[t] as usize..offsets[t + 1] as usize];
        for a in 0..nb {
            if !st.topic_participates[a] {
                continue;
            }
            let mut guard = 0;
            while count(st, a) > hi && guard < 1000 && !st.out_of_work() {
                guard += 1;
                // Slots of topic t on broker a, smallest first.
                let mut slots: Vec<(u64, usize)> = Vec::new();
                for &p in tp {
                    let p = p as usize;
                    let start = st.c.partitions[p].start as usize;
                    for (i, &b) in st.part_slots(p).iter().enumerate() {
                        if b as usize == a {
                            slots.push((st.c.partitions[p].size_bytes, start + i));
                        }
                    }
                }
                slots.sort_unstable();
                let mut dests: Vec<usize> = (0..nb)
                    .filter(|&b| {
                        st.dest_ok[b] && st.topic_participates[b] && count(st, b) + 1.0 <= hi
                    })
                    .collect();
                dests.sort_by(|&x, &y| {
                    count(st, x)
                        .total_cmp(&count(st, y))
                        .then(st.load_key(x).0.total_cmp(&st.load_key(y).0))
                        .then(x.cmp(&y))
                });
                let mut done = false;
                'outer: for &(_, s) in &slots {
                    for &b in &dests {
                        if st.replica_move_ok(s, b as u32) {
                            st.move_replica(s, b as u32, goal);
                            moves += 1;
                            done = true;
                            break 'outer;
                        }
                    }
                }
                if !done {
                    // Swap with a replica of another topic on a destination so counts stay put.
                    'swap: for &(_, s) in slots.iter().take(8) {
                        for &b in dests.iter().take(16) {
                            if st.out_of_work() {
                                break 'swap;
                            }
                            let theirs: Vec<u32> = st.slots_on[b].clone();
                            st.charge(theirs.len() as u64);
                            for s2 in theirs {
                                let s2 = s2 as usize;
                                let q = st.slot_part[s2] as usize;
                                let tq = st.c.partitions[q].topic as usize;
                                if tq == t
                                    || f64::from(st.topic_count[tq * nb + a]) + 1.0
                                        > st.topic_band[tq].1
                                {
                                    continue;
                                }
                                if st.swap_ok(s, s2) {
                                    st.move_replica(s, b as u32, goal);
                                    st.move_replica(s2, a as u32, goal);
                                    st.swaps.push((s as u32, s2 as u32));
                                    moves += 2;
                                    done = true;
                                    break 'swap;
                                }
                            }
                        }
                    }
                }
                if !done {
                    break;
                }
            }
        }
        if lo > 0.0 {
            for b in 0..nb {
                if !st.topic_participates[b] || !st.dest_ok[b] {
                    continue;
                }
                let mut guard = 0;
                while count(st, b) < lo && guard < 1000 && !st.out_of_work() {
                    guard += 1;
                    let mut done = false;
                    'fill: for &p in tp {
                        let p = p as usize;
                        let start = st.c.partitions[p].start as usize;
                        let rf = usize::from(st.c.partitions[p].rf);
                        for i in 0..rf {
                            let a = st.assign[start + i] as usize;
                            if count(st, a) - 1.0 >= lo
                                && count(st, a) > count(st, b) + 1.0
                                && st.replica_move_ok(start + i, b as u32)
                            {
                                st.move_replica(start + i, b as u32, goal);
                                moves += 1;
                                done = true;
                                break 'fill;
                            }
                        }
                    }
                    if !done {
                        break;
                    }
                }
            }
        }
    }
    moves
}
