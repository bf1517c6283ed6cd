//! The evaluation hot path's compact view of a monitor: its levels as exact integer keys,
//! oriented so that one comparison rule serves longs and shorts.
//!
//! A [`key`] maps a `Decimal` `d` to `2 × floor(d × 10^18) + e`, where `e` is 1 when the
//! product is not an integer (or out of range). The map never reverses order, and a strict
//! inequality between keys is a strict inequality between the decimals; equal even keys are
//! equal decimals, equal odd keys say nothing (the caller falls back to the `Decimal`s, the
//! values of record). Keys of a short's levels are negated, so for both sides an adverse
//! price *reaches* a stop when `adverse <= stop`, a favourable price reaches a level when
//! `favourable >= level`, and a stop `a` is tighter than `b` when `a > b`.

use super::Monitor;
use crate::model::Side;
use crate::monitor::rules::Px;
use crate::monitor::ExitReason;
use rust_decimal::Decimal;
use std::cmp::Ordering;

/// Fractional digits a key keeps exactly.
const KEY_SCALE: u32 = 18;
/// `floor(d × 10^18)` at or beyond this magnitude saturates (an odd key, never decisive
/// against another saturated key).
const LIMIT: i128 = 1 << 120;

/// Below every key: "no level" for a stop (nothing reaches it) and for a trigger.
pub(super) const NONE_LOW: i128 = i128::MIN;
/// Above every key: "no level" for a target, a break-even trigger or a trail.
pub(super) const NONE_HIGH: i128 = i128::MAX;

/// The key of `d` (see the module docs).
pub(super) fn key(d: Decimal) -> i128 {
    let (m, s) = (d.mantissa(), d.scale());
    let (floor, inexact) = if s <= KEY_SCALE {
        match 10i128.checked_pow(KEY_SCALE - s).and_then(|p| m.checked_mul(p)) {
            Some(v) if v.abs() < LIMIT => (v, false),
            _ if m < 0 => (-LIMIT - 1, true),
            _ => (LIMIT, true),
        }
    } else {
        // |m| < 2^96, so the quotient is far inside the limit.
        let p = 10i128.pow(s - KEY_SCALE);
        (m.div_euclid(p), m.rem_euclid(p) != 0)
    };
    2 * floor + i128::from(inexact)
}

/// The key of `d` as seen by a position on `side` (negated for a short).
pub(super) fn oriented(side: Side, d: Decimal) -> i128 {
    match side {
        Side::Buy => key(d),
        Side::Sell => -key(d),
    }
}

/// How two keys compare, or `None` when only the decimals can tell (equal odd keys).
pub(super) fn compare(a: i128, b: i128) -> Option<Ordering> {
    if a != b {
        Some(a.cmp(&b))
    } else if a & 1 == 0 {
        Some(Ordering::Equal)
    } else {
        None
    }
}

/// One event's prices as keys, per side: the adverse and the favourable extreme.
#[derive(Debug, Clone, Copy)]
pub(super) struct EventKeys {
    /// (adverse, favourable) for a long: (low, high).
    pub long: (i128, i128),
    /// (adverse, favourable) for a short: (−high, −low).
    pub short: (i128, i128),
}

impl EventKeys {
    pub(super) fn of(px: Px) -> Self {
        let (high, low) = (key(px.high), key(px.low));
        Self { long: (low, high), short: (-high, -low) }
    }

    pub(super) fn side(&self, long: bool) -> (i128, i128) {
        if long {
            self.long
        } else {
            self.short
        }
    }
}

/// A monitor's levels and flags as the fused evaluation pass reads them (oriented keys).
#[derive(Debug, Clone, Copy)]
pub(super) struct Hot {
    /// The effective stop ([`NONE_LOW`] when none).
    pub stop: i128,
    /// The take-profit ([`NONE_HIGH`] when none).
    pub target: i128,
    /// The break-even trigger while the stop has not moved ([`NONE_HIGH`] otherwise).
    pub be_at: i128,
    /// The trail's best price when active, its activation level when not ([`NONE_LOW`]
    /// when it has none: any event starts it), [`NONE_HIGH`] without a trail.
    pub trail: i128,
    /// The trail's trigger ([`NONE_LOW`] when none).
    pub trigger: i128,
    /// The trail's offset group in the book (for the per-event stop memo).
    pub group: u32,
    /// The reason the effective stop carries.
    pub reason: ExitReason,
    /// A long position.
    pub long: bool,
    /// An exit is working.
    pub working: bool,
    /// The trail is active (`trail` is its best price).
    pub trail_active: bool,
    /// Listed in `MonitorSet::changed`.
    pub dirty: bool,
}

impl Hot {
    /// The view of `m`, in trail offset group `group`, not dirty.
    pub(super) fn of(m: &Monitor, group: u32) -> Self {
        let mut h = Self {
            stop: NONE_LOW,
            target: NONE_HIGH,
            be_at: NONE_HIGH,
            trail: NONE_HIGH,
            trigger: NONE_LOW,
            group,
            reason: ExitReason::StopLoss,
            long: m.rec.side == Side::Buy,
            working: false,
            trail_active: false,
            dirty: false,
        };
        h.sync(m);
        h
    }

    /// Recomputes every level and flag from the monitor (its values of record); the group
    /// and the dirty flag stay.
    pub(super) fn sync(&mut self, m: &Monitor) {
        let side = m.rec.side;
        let o = |d: Decimal| oriented(side, d);
        let st = &m.rec.state;
        self.long = side == Side::Buy;
        (self.stop, self.reason) = m.stop.map_or((NONE_LOW, ExitReason::StopLoss), |(p, r)| (o(p), r));
        self.target = m.levels.take_profit.map_or(NONE_HIGH, o);
        self.be_at = match (st.break_even_stop, m.levels.break_even_at, m.rec.spec.break_even) {
            (None, Some(at), Some(_)) => o(at),
            _ => NONE_HIGH,
        };
        (self.trail, self.trail_active) = match (m.rec.spec.trailing, st.trail.best) {
            (None, _) => (NONE_HIGH, false),
            (Some(_), Some(best)) => (o(best), true),
            (Some(_), None) => (m.levels.activation.map_or(NONE_LOW, o), false),
        };
        self.trigger = st.trail.trigger.map_or(NONE_LOW, o);
        self.working = st.working.is_some();
    }
}

/// The nearest levels over one book's monitors, as keys: an event that reaches none of them
/// can neither trigger nor move anything, so the scan is skipped.
#[derive(Debug, Clone, Copy)]
pub(super) struct Watch {
    /// Per side (long, short): the tightest stop of an idle monitor.
    stop: [i128; 2],
    /// Per side: the nearest favourable level — target (idle only), break-even trigger,
    /// trail best or activation.
    fav: [i128; 2],
}

impl Default for Watch {
    fn default() -> Self {
        Self { stop: [NONE_LOW; 2], fav: [NONE_HIGH; 2] }
    }
}

impl Watch {
    pub(super) fn add(&mut self, h: &Hot) {
        let s = usize::from(!h.long);
        if !h.working {
            self.stop[s] = self.stop[s].max(h.stop);
            self.fav[s] = self.fav[s].min(h.target);
        }
        // A trail with neither best nor activation is left out, as it always was: only a
        // scan starts it.
        let trail = if h.trail == NONE_LOW { NONE_HIGH } else { h.trail };
        self.fav[s] = self.fav[s].min(h.be_at).min(trail);
    }

    /// Whether the event stays strictly inside every level (nothing to do). Keys that
    /// cannot tell count as reached (a scan is never wrong).
    pub(super) fn quiet(&self, ev: &EventKeys) -> bool {
        let (la, lf) = ev.long;
        let (sa, sf) = ev.short;
        la > self.stop[0] && lf < self.fav[0] && sa > self.stop[1] && sf < self.fav[1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn keys_are_exact_for_short_scales_and_flag_the_rest() {
        assert_eq!(key(dec!(1)), 2 * 10i128.pow(18));
        assert_eq!(key(dec!(-0.5)), -(10i128.pow(18)));
        assert_eq!(key(dec!(1.000)), key(dec!(1)));
        // 1/3 needs 28 digits: odd (inexact), between its neighbours at 18 digits.
        let third = dec!(1) / dec!(3);
        assert_eq!(key(third) & 1, 1);
        assert!(key(dec!(0.333333333333333333)) < key(third));
        assert!(key(third) < key(dec!(0.333333333333333334)));
        assert_eq!(compare(key(third), key(third)), None);
        assert_eq!(compare(key(dec!(2.50)), key(dec!(2.5))), Some(Ordering::Equal));
        assert_eq!(key(Decimal::MAX) & 1, 1, "saturated");
        assert_eq!(key(Decimal::MIN), -key(Decimal::MAX));
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Decimal::new(m, s)),
            (any::<i128>(), 0u32..=28).prop_map(|(m, s)| Decimal::from_i128_with_scale(m >> 32, s)),
            (-1_000_000i64..1_000_000, 0u32..6).prop_map(|(m, s)| Decimal::new(m, s)),
        ]
    }

    proptest! {
        /// Keys never contradict the decimals: a strict key order is the decimal order, equal
        /// even keys are equal decimals, and negation mirrors both.
        #[test]
        fn keys_agree_with_decimal_order(a in decimal(), b in decimal()) {
            let (ka, kb) = (key(a), key(b));
            match compare(ka, kb) {
                Some(o) => prop_assert_eq!(o, a.cmp(&b), "{} {} keys {} {}", a, b, ka, kb),
                None => prop_assert_eq!(ka & 1, 1),
            }
            if a < b {
                prop_assert!(ka <= kb);
            }
            prop_assert_eq!(oriented(Side::Sell, a), -ka);
            prop_assert_eq!(key(-a), -ka);
        }
    }
}
