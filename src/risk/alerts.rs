//! Portfolio alerts as values, and the equity tracking (start of day, peak) they rest on.
//!
//! Risk tracks start-of-day and peak equity itself, from what it observes in
//! [`super::RiskEngine::evaluate`] and [`super::RiskEngine::check`]: the first observation in
//! a trading day is that day's start, the largest observation ever is the peak. An alert
//! fires once when its condition starts to hold and again only after it stopped holding.

use super::limits::{DayBoundary, LimitField, Scope};
use super::state::StateChange;
use crate::model::Timestamp;
use rust_decimal::Decimal;
use serde::Serialize;

/// Something the user should know about the portfolio, returned by `evaluate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Alert {
    /// Drawdown from peak equity crossed a configured threshold.
    DrawdownCrossed {
        /// Where (global totals or a strategy's sub-ledger).
        scope: Scope,
        /// The threshold crossed, percent.
        threshold_pct: Decimal,
        /// The drawdown now, percent.
        drawdown_pct: Decimal,
    },
    /// A limit is at or above the near-breach share of its value.
    NearBreach {
        /// Where.
        scope: Scope,
        /// Which limit.
        field: LimitField,
        /// Share of the limit used, percent.
        used_pct: Decimal,
        /// The value now.
        value: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// A limit is breached (daily loss or drawdown; trading state changes follow).
    Breached {
        /// Where.
        scope: Scope,
        /// Which limit.
        field: LimitField,
        /// The value now.
        value: Decimal,
        /// The limit.
        limit: Decimal,
    },
    /// Trading state changed (halted or reducing-only after a breach, or by a user).
    TradingState(StateChange),
}

/// Start-of-day and peak equity of one scope, plus which alerts are currently raised.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EquityTracker {
    started: bool,
    day_end: Timestamp,
    start_of_day: Decimal,
    peak: Decimal,
    raised: u64,
}

// Bits of [`EquityTracker`]'s raised set: near breach and breach per limit field (fewer
// than 16 fields), then up to 32 drawdown thresholds.
const NEAR_BIT0: u32 = 0;
const BREACH_BIT0: u32 = 16;
const DRAWDOWN_BIT0: u32 = 32;

impl EquityTracker {
    /// Takes an equity observation: starts a new day when `now` is past the day's end.
    pub fn observe(&mut self, equity: Decimal, now: Timestamp, boundary: DayBoundary) {
        if !self.started || now >= self.day_end {
            self.day_end = boundary.day_end(now);
            self.start_of_day = equity;
            if !self.started {
                self.peak = equity;
            }
            self.started = true;
        }
        self.raise_peak(equity);
    }

    /// Records `equity` as the peak when above it: an observation within the day that
    /// [`super::band::Band`] found changes nothing else.
    pub(super) fn raise_peak(&mut self, equity: Decimal) {
        self.peak = self.peak.max(equity);
    }

    /// When the current trading day ends (the next observation at or after it starts a new
    /// day).
    #[must_use]
    pub fn day_end(&self) -> Timestamp {
        self.day_end
    }

    /// Equity at the start of the current trading day.
    #[must_use]
    pub fn start_of_day(&self) -> Decimal {
        self.start_of_day
    }

    /// Largest equity observed.
    #[must_use]
    pub fn peak(&self) -> Decimal {
        self.peak
    }

    /// Loss since the start of the day at `equity` (negative for a gain).
    #[must_use]
    pub fn daily_loss(&self, equity: Decimal) -> Decimal {
        self.start_of_day - equity
    }

    /// Drawdown from the peak at `equity`, in percent (zero at or above the peak, or with
    /// no positive peak).
    #[must_use]
    pub fn drawdown_pct(&self, equity: Decimal) -> Decimal {
        if self.peak <= Decimal::ZERO || equity >= self.peak {
            return Decimal::ZERO;
        }
        (self.peak - equity) / self.peak * Decimal::ONE_HUNDRED
    }

    /// Whether the condition numbered `bit` has just started to hold (and records it).
    pub fn rising(&mut self, bit: u32, holds: bool) -> bool {
        let mask = 1u64 << bit;
        let was = self.raised & mask != 0;
        if holds {
            self.raised |= mask;
        } else {
            self.raised &= !mask;
        }
        holds && !was
    }

    /// Pushes an alert for each drawdown threshold crossed since the last call.
    pub fn drawdown_alerts(
        &mut self,
        scope: &Scope,
        drawdown_pct: Decimal,
        thresholds: &[Decimal],
        out: &mut Vec<Alert>,
    ) {
        for (i, &t) in thresholds.iter().enumerate().take(32) {
            if self.rising(DRAWDOWN_BIT0 + i as u32, drawdown_pct >= t) {
                out.push(Alert::DrawdownCrossed { scope: scope.clone(), threshold_pct: t, drawdown_pct });
            }
        }
    }

    /// Pushes an alert when `value` has just reached `near_pct` percent of `limit` (without
    /// exceeding it), and a breach alert when it has just exceeded it. Returns whether the
    /// limit is exceeded.
    pub fn limit_alerts(
        &mut self,
        scope: &Scope,
        field: LimitField,
        value: Decimal,
        limit: Decimal,
        near_pct: Decimal,
        out: &mut Vec<Alert>,
    ) -> bool {
        let (near, breached) = limit_conditions(value, limit, near_pct);
        if self.rising(NEAR_BIT0 + field as u32, near && !breached) {
            let used_pct = used_pct(value, limit).round_dp(2);
            out.push(Alert::NearBreach { scope: scope.clone(), field, used_pct, value, limit });
        }
        if self.rising(BREACH_BIT0 + field as u32, breached) {
            out.push(Alert::Breached { scope: scope.clone(), field, value, limit });
        }
        breached
    }
}

/// Whether `value` is at or above `near_pct` percent of `limit`, and whether it exceeds
/// `limit`: the two conditions [`EquityTracker::limit_alerts`] raises alerts on.
#[must_use]
pub fn limit_conditions(value: Decimal, limit: Decimal, near_pct: Decimal) -> (bool, bool) {
    let breached = value > limit;
    // `value / limit × 100 >= near_pct`, without the division for a positive limit (the
    // per-event path).
    let near = match (limit > Decimal::ZERO, value.checked_mul(Decimal::ONE_HUNDRED), near_pct.checked_mul(limit)) {
        (true, Some(v), Some(n)) => v >= n,
        _ => used_pct(value, limit) >= near_pct,
    };
    (near, breached)
}

/// The share of `limit` that `value` uses, in percent (100 for a zero limit).
fn used_pct(value: Decimal, limit: Decimal) -> Decimal {
    if limit.is_zero() {
        Decimal::ONE_HUNDRED
    } else {
        value / limit * Decimal::ONE_HUNDRED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn start_of_day_resets_at_the_boundary_and_peak_only_grows() {
        let mut e = EquityTracker::default();
        // (instant, equity, start of day, peak); 2024-03-08 is a Friday, close 21:00 UTC.
        let cases = [
            ("2024-03-08T15:00:00Z", dec!(1000), dec!(1000), dec!(1000)),
            ("2024-03-08T16:00:00Z", dec!(1200), dec!(1000), dec!(1200)),
            ("2024-03-08T20:59:59Z", dec!(900), dec!(1000), dec!(1200)),
            ("2024-03-08T21:00:00Z", dec!(950), dec!(950), dec!(1200)),
            ("2024-03-09T12:00:00Z", dec!(940), dec!(950), dec!(1200)), // Saturday belongs to Monday
        ];
        for (at, eq, sod, peak) in cases {
            e.observe(eq, t(at), DayBoundary::NewYorkClose);
            assert_eq!((e.start_of_day(), e.peak()), (sod, peak), "{at}");
        }
        assert_eq!(e.daily_loss(dec!(900)), dec!(50));
        assert_eq!(e.drawdown_pct(dec!(900)), dec!(25));
        assert_eq!(e.drawdown_pct(dec!(1300)), dec!(0));
    }

    #[test]
    fn alerts_fire_once_per_crossing() {
        let mut e = EquityTracker::default();
        let mut out = Vec::new();
        let th = [dec!(5), dec!(8)];
        let field = LimitField::DailyLossLimit;
        e.drawdown_alerts(&Scope::Global, dec!(6), &th, &mut out);
        assert!(!e.limit_alerts(&Scope::Global, field, dec!(91), dec!(100), dec!(90), &mut out));
        assert_eq!(
            out,
            vec![
                Alert::DrawdownCrossed { scope: Scope::Global, threshold_pct: dec!(5), drawdown_pct: dec!(6) },
                Alert::NearBreach {
                    scope: Scope::Global,
                    field,
                    used_pct: dec!(91),
                    value: dec!(91),
                    limit: dec!(100)
                },
            ]
        );
        out.clear();
        // Still above the same thresholds: nothing new.
        e.drawdown_alerts(&Scope::Global, dec!(7), &th, &mut out);
        assert!(!e.limit_alerts(&Scope::Global, field, dec!(95), dec!(100), dec!(90), &mut out));
        assert!(out.is_empty(), "{out:?}");
        // Breach, then recovery and a new crossing of 8 % after falling back below 5 %.
        assert!(e.limit_alerts(&Scope::Global, field, dec!(101), dec!(100), dec!(90), &mut out));
        assert_eq!(out, vec![Alert::Breached { scope: Scope::Global, field, value: dec!(101), limit: dec!(100) }]);
        out.clear();
        e.drawdown_alerts(&Scope::Global, dec!(2), &th, &mut out);
        e.drawdown_alerts(&Scope::Global, dec!(9), &th, &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
        assert!(matches!(out[1], Alert::DrawdownCrossed { threshold_pct, .. } if threshold_pct == dec!(8)));
    }
}
