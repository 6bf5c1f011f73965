//! The rebalance policy (`off | propose | auto`), maintenance windows, and the pure decision
//! of what one rebalance pass may do at `now`.
//!
//! A window is written `DAYS HH:MM-HH:MM` in UTC: `DAYS` is `daily`, a day (`Sat`), a range
//! (`Mon-Fri`) or a list (`Sat,Sun`). A window whose end is not after its start crosses
//! midnight (`Fri 23:00-02:00` runs Friday 23:00 to Saturday 02:00). The start is inside the
//! window, the end is not. `auto` executes only inside a window; everywhere else it proposes.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// What the rebalance loop may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Detect and report imbalance only (metrics, logs); never plan files, never execute.
    Off,
    /// Plan and write the plan (file + log); never execute.
    #[default]
    Propose,
    /// Plan and execute inside a maintenance window; propose outside.
    Auto,
}

const MINUTES_PER_DAY: u32 = 24 * 60;
const MINUTES_PER_WEEK: u32 = 7 * MINUTES_PER_DAY;
const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One maintenance window (UTC), on one or more weekdays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Weekdays it starts on (bit 0 = Monday).
    days: u8,
    /// Start, minutes after midnight.
    start: u32,
    /// Length in minutes (1..=1440).
    length: u32,
    text: String,
}

/// Minutes since Monday 00:00 UTC of the week holding `unix_secs`.
pub fn minute_of_week(unix_secs: i64) -> u32 {
    let minutes = unix_secs.div_euclid(60);
    // 1970-01-01 was a Thursday: Monday-based minute of week is shifted by 3 days.
    (minutes + 3 * i64::from(MINUTES_PER_DAY)).rem_euclid(i64::from(MINUTES_PER_WEEK)) as u32
}

impl MaintenanceWindow {
    /// Whether `unix_secs` lies inside the window.
    pub fn contains(&self, unix_secs: i64) -> bool {
        self.remaining_secs(unix_secs).is_some()
    }

    /// Seconds left in the window at `unix_secs`, `None` when outside.
    pub fn remaining_secs(&self, unix_secs: i64) -> Option<i64> {
        let now_m = minute_of_week(unix_secs);
        let sec_in_min = unix_secs.rem_euclid(60);
        for d in 0..7u32 {
            if self.days & (1 << d) == 0 {
                continue;
            }
            let start = d * MINUTES_PER_DAY + self.start;
            let since = (now_m + MINUTES_PER_WEEK - start) % MINUTES_PER_WEEK;
            if since < self.length {
                return Some(i64::from(self.length - since) * 60 - sec_in_min);
            }
        }
        None
    }

    /// Seconds until the next window start after `unix_secs` (0 when inside one).
    pub fn secs_until_open(&self, unix_secs: i64) -> i64 {
        if self.contains(unix_secs) {
            return 0;
        }
        let now_m = minute_of_week(unix_secs);
        let sec_in_min = unix_secs.rem_euclid(60);
        (0..7u32)
            .filter(|d| self.days & (1 << d) != 0)
            .map(|d| {
                let start = d * MINUTES_PER_DAY + self.start;
                let ahead = (start + MINUTES_PER_WEEK - now_m) % MINUTES_PER_WEEK;
                i64::from(ahead) * 60 - sec_in_min
            })
            .min()
            .unwrap_or(i64::MAX)
    }
}

impl fmt::Display for MaintenanceWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn parse_day(s: &str) -> Option<u32> {
    let s = s.trim().to_ascii_lowercase();
    DAY_NAMES
        .iter()
        .position(|d| {
            s.len() >= 3 && d.starts_with(&s[..3]) && {
                // Accept "sat" and "saturday", not "satx".
                let full = [
                    "monday",
                    "tuesday",
                    "wednesday",
                    "thursday",
                    "friday",
                    "saturday",
                    "sunday",
                ];
                s.len() == 3 || full.iter().any(|f| *f == s)
            }
        })
        .map(|i| i as u32)
}

fn parse_time(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    if (h < 24 && m < 60) || (h == 24 && m == 0) {
        Some(h * 60 + m)
    } else {
        None
    }
}

impl FromStr for MaintenanceWindow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "{text:?}: {why} (expected e.g. \"Sat 01:00-05:00\", \"Mon-Fri 22:00-02:00\" or \"daily 03:00-04:00\", UTC)"
            )
        };
        let (days_s, times) = text
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| bad("missing the time range"))?;
        let mut days = 0u8;
        if days_s.eq_ignore_ascii_case("daily") {
            days = 0x7f;
        } else {
            for part in days_s.split(',') {
                if let Some((a, b)) = part.split_once('-') {
                    let a = parse_day(a).ok_or_else(|| bad(&format!("unknown day {a:?}")))?;
                    let b = parse_day(b).ok_or_else(|| bad(&format!("unknown day {b:?}")))?;
                    let mut d = a;
                    loop {
                        days |= 1 << d;
                        if d == b {
                            break;
                        }
                        d = (d + 1) % 7;
                    }
                } else {
                    let d = parse_day(part).ok_or_else(|| bad(&format!("unknown day {part:?}")))?;
                    days |= 1 << d;
                }
            }
        }
        let (a, b) = times
            .trim()
            .split_once('-')
            .ok_or_else(|| bad("the time range needs a '-'"))?;
        let start = parse_time(a)
            .filter(|t| *t < MINUTES_PER_DAY)
            .ok_or_else(|| bad(&format!("bad start time {a:?}")))?;
        let end = parse_time(b).ok_or_else(|| bad(&format!("bad end time {b:?}")))?;
        let length = if end > start {
            end - start
        } else {
            end + MINUTES_PER_DAY - start
        };
        Ok(MaintenanceWindow {
            days,
            start,
            length,
            text: text.trim().to_owned(),
        })
    }
}

impl<'de> Deserialize<'de> for MaintenanceWindow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a pass does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idle {
    /// Policy `off`: only detection is reported.
    PolicyOff,
    /// Every goal within its band and no hard violation.
    Balanced,
}

/// What one rebalance pass may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    Idle(Idle),
    /// Write the plan; `outside_window` when the policy is `auto` but no window is open.
    Propose {
        /// `auto` held back because no window is open.
        outside_window: bool,
    },
    /// Execute the plan; the window closes in `window_left_secs`.
    Execute {
        /// Seconds until the window closes (the runner starts no new batch after).
        window_left_secs: i64,
    },
}

/// The open window with the most time left at `now`, as seconds left.
pub fn open_window(windows: &[MaintenanceWindow], unix_secs: i64) -> Option<i64> {
    windows
        .iter()
        .filter_map(|w| w.remaining_secs(unix_secs))
        .max()
}

/// Pure decision for one pass: the policy, the windows, the time and whether the cluster is
/// out of balance.
pub fn decide(
    policy: Policy,
    windows: &[MaintenanceWindow],
    unix_secs: i64,
    imbalanced: bool,
) -> Decision {
    match policy {
        Policy::Off => Decision::Idle(Idle::PolicyOff),
        _ if !imbalanced => Decision::Idle(Idle::Balanced),
        Policy::Propose => Decision::Propose {
            outside_window: false,
        },
        Policy::Auto => match open_window(windows, unix_secs) {
            Some(left) => Decision::Execute {
                window_left_secs: left,
            },
            None => Decision::Propose {
                outside_window: true,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // 2026-11-21 is a Saturday.
    const SAT_0000: i64 = 1_795_219_200;

    fn w(s: &str) -> MaintenanceWindow {
        s.parse().unwrap()
    }

    #[test]
    fn the_reference_saturday_is_a_saturday() {
        // Mon=0 .. Sat=5.
        assert_eq!(minute_of_week(SAT_0000), 5 * MINUTES_PER_DAY);
        assert_eq!(
            minute_of_week(0),
            3 * MINUTES_PER_DAY,
            "1970-01-01 was a Thursday"
        );
    }

    #[test]
    fn saturday_window_opens_and_closes_on_the_minute() {
        let win = w("Sat 01:00-05:00");
        assert!(!win.contains(SAT_0000 + 3600 - 1));
        assert!(win.contains(SAT_0000 + 3600));
        assert_eq!(win.remaining_secs(SAT_0000 + 3600), Some(4 * 3600));
        assert!(win.contains(SAT_0000 + 5 * 3600 - 1));
        assert!(!win.contains(SAT_0000 + 5 * 3600));
        assert!(!win.contains(SAT_0000 + 3600 + 86_400), "not on Sunday");
        assert_eq!(win.secs_until_open(SAT_0000), 3600);
    }

    #[test]
    fn windows_crossing_midnight_and_the_week_end() {
        let win = w("Sun 23:00-02:00");
        let sun_2330 = SAT_0000 + 86_400 + 23 * 3600 + 1800;
        assert!(win.contains(sun_2330));
        assert!(win.contains(sun_2330 + 2 * 3600), "Monday 01:30");
        assert!(!win.contains(sun_2330 + 3 * 3600));
        let d = w("Mon-Fri 22:00-06:00");
        assert!(!d.contains(SAT_0000 + 7 * 3600), "Sat 07:00");
        assert!(
            d.contains(SAT_0000 + 5 * 3600),
            "Sat 05:00 (Friday's window)"
        );
        assert!(w("daily 00:00-24:00").contains(SAT_0000 + 12_345));
        assert!(w("Sat,Sun 10:00-11:00").contains(SAT_0000 + 86_400 + 10 * 3600));
    }

    #[test]
    fn bad_windows_are_rejected_with_the_text() {
        for bad in [
            "Sat",
            "Sat 01:00",
            "Xyz 01:00-02:00",
            "Sat 25:00-02:00",
            "Sat 01:60-02:00",
            "Satx 01:00-02:00",
            "Sat 1-2",
        ] {
            let e = bad.parse::<MaintenanceWindow>().unwrap_err();
            assert!(e.contains(bad), "{e}");
        }
    }

    #[test]
    fn decisions_follow_the_policy() {
        let wins = [w("Sat 01:00-05:00")];
        assert_eq!(
            decide(Policy::Off, &wins, SAT_0000 + 7200, true),
            Decision::Idle(Idle::PolicyOff)
        );
        assert_eq!(
            decide(Policy::Auto, &wins, SAT_0000 + 7200, false),
            Decision::Idle(Idle::Balanced)
        );
        assert_eq!(
            decide(Policy::Propose, &wins, SAT_0000 + 7200, true),
            Decision::Propose {
                outside_window: false
            }
        );
        assert_eq!(
            decide(Policy::Auto, &wins, SAT_0000 + 7200, true),
            Decision::Execute {
                window_left_secs: 3 * 3600
            }
        );
        assert_eq!(
            decide(Policy::Auto, &wins, SAT_0000, true),
            Decision::Propose {
                outside_window: true
            }
        );
    }

    fn arb_window() -> impl Strategy<Value = MaintenanceWindow> {
        (1u8..0x80, 0u32..24, 0u32..60, 0u32..24, 0u32..60).prop_map(|(days, h1, m1, h2, m2)| {
            let names: Vec<&str> = (0..7)
                .filter(|d| days & (1 << d) != 0)
                .map(|d| ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d])
                .collect();
            format!("{} {h1:02}:{m1:02}-{h2:02}:{m2:02}", names.join(","))
                .parse()
                .unwrap()
        })
    }

    proptest! {
        #[test]
        fn auto_never_executes_outside_a_window(
            wins in proptest::collection::vec(arb_window(), 0..4),
            now in 0i64..4_000_000_000,
            imbalanced: bool,
        ) {
            let d = decide(Policy::Auto, &wins, now, imbalanced);
            if let Decision::Execute { window_left_secs } = d {
                prop_assert!(wins.iter().any(|w| w.contains(now)));
                prop_assert!(window_left_secs > 0);
                // The window really is open for that long (the last second still inside).
                prop_assert!(wins.iter().any(|w| w.contains(now + window_left_secs - 1)));
            } else {
                prop_assert!(!imbalanced || !wins.iter().any(|w| w.contains(now)));
            }
        }

        #[test]
        fn propose_and_off_never_execute(
            wins in proptest::collection::vec(arb_window(), 0..4),
            now in 0i64..4_000_000_000,
            imbalanced: bool,
        ) {
            for p in [Policy::Off, Policy::Propose] {
                let d = decide(p, &wins, now, imbalanced);
                let executes = matches!(d, Decision::Execute { .. });
                prop_assert!(!executes, "{:?} executed", p);
            }
            prop_assert_eq!(decide(Policy::Off, &wins, now, imbalanced), Decision::Idle(Idle::PolicyOff));
        }

        #[test]
        fn a_window_is_open_exactly_its_length_each_time_it_starts(win in arb_window(), week in 0i64..3000) {
            // Count open minutes over one week: days × length (windows on different days
            // may overlap when long, so count at most the week).
            let base = SAT_0000 + week * 7 * 86_400;
            let open = (0..i64::from(MINUTES_PER_WEEK)).filter(|m| win.contains(base + m * 60)).count() as u32;
            let expected = (win.days.count_ones() * win.length).min(MINUTES_PER_WEEK);
            prop_assert!(open <= expected);
            prop_assert!(open >= win.length.min(MINUTES_PER_WEEK));
            if win.days.count_ones() == 1 { prop_assert_eq!(open, win.length); }
        }

        #[test]
        fn secs_until_open_lands_inside_the_window(win in arb_window(), now in 0i64..4_000_000_000) {
            let wait = win.secs_until_open(now);
            prop_assert!((0..=7 * 86_400).contains(&wait));
            prop_assert!(win.contains(now + wait));
            if wait > 0 { prop_assert!(!win.contains(now + wait - 1)); }
        }
    }
}
