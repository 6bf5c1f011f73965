//! Look-ahead scoring of a [`Balancer`]: how much a move also helps the soft goals not
//! optimised yet, so a goal picks, among acceptable moves, the one later goals need least
//! undone.

use super::Balancer;
use crate::goals::METRICS;
use crate::state::{Band, contrib, tol};

/// A soft goal's band on one broker, with the tolerances of [`Band::viol`] applied.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Edges {
    participates: bool,
    lo: f64,
    hi: f64,
}

impl Edges {
    pub(super) fn of(band: &Band, b: usize) -> Edges {
        let (lo, hi) = (band.lo[b], band.hi[b]);
        Edges {
            participates: band.participates[b],
            lo,
            hi,
        }
    }

    /// Same as [`Band::viol`].
    pub(super) fn viol(&self, v: f64) -> f64 {
        if !self.participates {
            0.0
        } else if v > self.hi + tol(self.hi) {
            v - self.hi
        } else if v < self.lo - tol(self.lo) {
            self.lo - v
        } else {
            0.0
        }
    }
}

/// One later goal's band on the two brokers of a move (see [`Balancer::later_bands`]).
#[derive(Debug, Clone, Copy, Default)]
struct LaterBand {
    metric: usize,
    va: f64,
    vb: f64,
    a: Edges,
    b: Edges,
    base: f64,
    scale: f64,
}

/// The later goals' bands on the two brokers of a move.
pub(super) struct LaterBands {
    n: usize,
    m: [LaterBand; METRICS],
}

impl Balancer<'_, '_> {
    /// How much moving replica `s` from `a` to `b` lowers the violations of the soft goals
    /// not optimised yet, each relative to its band, summed.
    pub(super) fn later_gain(&self, s: usize, a: usize, b: usize) -> f64 {
        let st = &*self.st;
        let con = contrib(st.c, st.slot_part[s] as usize, st.is_leader_slot(s));
        self.later_gain_of(&con, a, b)
    }

    /// The bands of the soft goals not optimised yet on brokers `a` and `b`, to score many
    /// moves from `a` to `b` quickly ([`Self::later_gain_on`]).
    pub(super) fn later_bands(&self, a: usize, b: usize) -> LaterBands {
        let st = &*self.st;
        let mut out = LaterBands {
            n: 0,
            m: [LaterBand::default(); METRICS],
        };
        for m in 0..METRICS {
            if m == self.k || st.locked[m] {
                continue;
            }
            let Some(band) = &st.bands[m] else { continue };
            let (va, vb) = (st.metric[a][m], st.metric[b][m]);
            out.m[out.n] = LaterBand {
                metric: m,
                va,
                vb,
                a: Edges::of(band, a),
                b: Edges::of(band, b),
                base: band.viol(a, va) + band.viol(b, vb),
                scale: (band.hi[a] + band.hi[b]).max(f64::MIN_POSITIVE),
            };
            out.n += 1;
        }
        out
    }

    /// [`Self::later_gain`] of moving replica `s` between the brokers of `bands`.
    pub(super) fn later_gain_on(&self, bands: &LaterBands, s: usize) -> f64 {
        let st = &*self.st;
        let con = contrib(st.c, st.slot_part[s] as usize, st.is_leader_slot(s));
        bands.m[..bands.n]
            .iter()
            .map(|x| {
                let c = con[x.metric];
                (x.base - x.a.viol(x.va - c) - x.b.viol(x.vb + c)) / x.scale
            })
            .sum()
    }

    /// [`Self::later_gain`] of a metric change `con` leaving `a` for `b`.
    pub(super) fn later_gain_of(&self, con: &[f64; METRICS], a: usize, b: usize) -> f64 {
        let st = &*self.st;
        let mut g = 0.0;
        for m in 0..METRICS {
            if m == self.k || st.locked[m] {
                continue;
            }
            let Some(band) = &st.bands[m] else { continue };
            let scale = (band.hi[a] + band.hi[b]).max(f64::MIN_POSITIVE);
            let (va, vb) = (st.metric[a][m], st.metric[b][m]);
            g += (band.viol(a, va) + band.viol(b, vb)
                - band.viol(a, va - con[m])
                - band.viol(b, vb + con[m]))
                / scale;
        }
        g
    }
}
