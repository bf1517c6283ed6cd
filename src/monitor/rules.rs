//! Pure price rules for one position against one price event: whether its stop or its
//! target is hit, at which price, and whether the event's open already decided it.
//!
//! The position's side is its entry side (`Buy` = long). A bar gives open/high/low; a tick is
//! a bar with all three equal. The rules match the simulated venue's stop and limit rules
//! (`venue::sim::matching`): a stop gapped through fills at the open, else at the stop; a
//! target gapped through fills at the open, else at the target.

use super::ExitReason;
use crate::model::Side;
use rust_decimal::Decimal;

/// What one price event showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Px {
    /// First price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
}

impl Px {
    /// A tick: one price as open, high and low.
    #[must_use]
    pub fn flat(price: Decimal) -> Self {
        Self { open: price, high: price, low: price }
    }

    /// The extreme that hurts a position on `side` most (the low for a long).
    #[must_use]
    pub fn adverse(self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.low,
            Side::Sell => self.high,
        }
    }

    /// The extreme that helps a position on `side` most (the high for a long).
    #[must_use]
    pub fn favourable(self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.high,
            Side::Sell => self.low,
        }
    }
}

/// Whether `price` has reached the adverse `level` of a position on `side` (at or below for
/// a long).
#[must_use]
pub fn reached_adverse(side: Side, price: Decimal, level: Decimal) -> bool {
    match side {
        Side::Buy => price <= level,
        Side::Sell => price >= level,
    }
}

/// Whether `price` has reached the favourable `level` of a position on `side` (at or above
/// for a long).
#[must_use]
pub fn reached_favourable(side: Side, price: Decimal, level: Decimal) -> bool {
    match side {
        Side::Buy => price >= level,
        Side::Sell => price <= level,
    }
}

/// Whether stop `a` protects a position on `side` strictly more than stop `b` (higher for a
/// long).
#[must_use]
pub fn tighter(side: Side, a: Decimal, b: Decimal) -> bool {
    match side {
        Side::Buy => a > b,
        Side::Sell => a < b,
    }
}

/// A decided exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Why.
    pub reason: ExitReason,
    /// The price the exit is expected at: the level, or the open when the open was already
    /// beyond it (a gap).
    pub price: Decimal,
    /// True when the open was strictly beyond the level (a gap decided it).
    pub at_open: bool,
}

/// The stop rule: a long stop `stop` exits at the open when `open <= stop`, else at `stop`
/// when `low <= stop`; shorts mirror.
#[must_use]
pub fn stop_hit(side: Side, stop: Decimal, px: Px) -> Option<(Decimal, bool)> {
    if reached_adverse(side, px.open, stop) {
        Some((px.open, px.open != stop))
    } else if reached_adverse(side, px.adverse(side), stop) {
        Some((stop, false))
    } else {
        None
    }
}

/// The target rule: a long target `target` exits at the open when `open >= target`, else at
/// `target` when `high >= target`; shorts mirror.
#[must_use]
pub fn target_hit(side: Side, target: Decimal, px: Px) -> Option<(Decimal, bool)> {
    if reached_favourable(side, px.open, target) {
        Some((px.open, px.open != target))
    } else if reached_favourable(side, px.favourable(side), target) {
        Some((target, false))
    } else {
        None
    }
}

/// Decides one event for a position with an effective stop (and the reason it carries) and
/// a target.
///
/// Order: the open first (stop gapped through → stop at the open; target gapped through →
/// target at the open; the open cannot be beyond both because the stop lies below the target
/// for a long); then, when both lie inside the bar's range, **the stop first** (conservative:
/// a bar does not say whether its low or its high came first); then the target.
#[must_use]
pub fn decide(side: Side, stop: Option<(Decimal, ExitReason)>, target: Option<Decimal>, px: Px) -> Option<Hit> {
    // Fast path: the open lies within [low, high], so an event whose extremes reach neither
    // level decides nothing.
    if stop.is_none_or(|(s, _)| !reached_adverse(side, px.adverse(side), s))
        && target.is_none_or(|t| !reached_favourable(side, px.favourable(side), t))
    {
        return None;
    }
    if let Some((s, reason)) = stop {
        if reached_adverse(side, px.open, s) {
            return Some(Hit { reason, price: px.open, at_open: px.open != s });
        }
    }
    if let Some(t) = target {
        if reached_favourable(side, px.open, t) {
            return Some(Hit { reason: ExitReason::TakeProfit, price: px.open, at_open: px.open != t });
        }
    }
    if let Some((s, reason)) = stop {
        if let Some((price, at_open)) = stop_hit(side, s, px) {
            return Some(Hit { reason, price, at_open });
        }
    }
    let t = target?;
    target_hit(side, t, px).map(|(price, at_open)| Hit { reason: ExitReason::TakeProfit, price, at_open })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use ExitReason::{StopLoss, TakeProfit};

    fn bar(open: Decimal, high: Decimal, low: Decimal) -> Px {
        Px { open, high, low }
    }

    fn hit(reason: ExitReason, price: Decimal, at_open: bool) -> Option<Hit> {
        Some(Hit { reason, price, at_open })
    }

    #[test]
    fn bar_rules_long_stop_95_target_110() {
        let stop = Some((dec!(95), StopLoss));
        let target = Some(dec!(110));
        // (bar o/h/l, expected)
        let cases = [
            // Quiet bar: nothing.
            (bar(dec!(100), dec!(109.99), dec!(95.01)), None),
            // Low touches the stop exactly → 95.
            (bar(dec!(100), dec!(101), dec!(95)), hit(StopLoss, dec!(95), false)),
            // Gap down through the stop → the open 92, worse than the stop.
            (bar(dec!(92), dec!(96), dec!(90)), hit(StopLoss, dec!(92), true)),
            // Open exactly at the stop → 95, not a gap.
            (bar(dec!(95), dec!(96), dec!(94)), hit(StopLoss, dec!(95), false)),
            // High reaches the target → 110.
            (bar(dec!(100), dec!(111), dec!(99)), hit(TakeProfit, dec!(110), false)),
            // Gap up through the target → the open 113, better than the target.
            (bar(dec!(113), dec!(115), dec!(112)), hit(TakeProfit, dec!(113), true)),
            // Both inside one bar, open decides neither → stop first at 95.
            (bar(dec!(100), dec!(112), dec!(94)), hit(StopLoss, dec!(95), false)),
            // Both inside, but the open gapped above the target → target at the open 111.
            (bar(dec!(111), dec!(112), dec!(94)), hit(TakeProfit, dec!(111), true)),
            // Both inside, open gapped below the stop → stop at the open 94.5.
            (bar(dec!(94.5), dec!(112), dec!(94)), hit(StopLoss, dec!(94.5), true)),
        ];
        for (px, want) in cases {
            assert_eq!(decide(Side::Buy, stop, target, px), want, "{px:?}");
        }
    }

    #[test]
    fn bar_rules_short_stop_105_target_90() {
        let stop = Some((dec!(105), StopLoss));
        let target = Some(dec!(90));
        let cases = [
            (bar(dec!(100), dec!(104.99), dec!(90.01)), None),
            (bar(dec!(100), dec!(105), dec!(99)), hit(StopLoss, dec!(105), false)),
            // Gap up through a short's stop → the open 108.
            (bar(dec!(108), dec!(110), dec!(104)), hit(StopLoss, dec!(108), true)),
            (bar(dec!(100), dec!(101), dec!(89)), hit(TakeProfit, dec!(90), false)),
            // Gap down through a short's target → the open 87.
            (bar(dec!(87), dec!(88), dec!(85)), hit(TakeProfit, dec!(87), true)),
            // Both inside → stop first.
            (bar(dec!(100), dec!(106), dec!(88)), hit(StopLoss, dec!(105), false)),
            (bar(dec!(89), dec!(106), dec!(88)), hit(TakeProfit, dec!(89), true)),
        ];
        for (px, want) in cases {
            assert_eq!(decide(Side::Sell, stop, target, px), want, "{px:?}");
        }
    }

    #[test]
    fn ticks_are_flat_bars_and_only_one_side_may_be_absent() {
        assert_eq!(decide(Side::Buy, None, Some(dec!(110)), Px::flat(dec!(110))), hit(TakeProfit, dec!(110), false));
        assert_eq!(decide(Side::Buy, None, Some(dec!(110)), Px::flat(dec!(111))), hit(TakeProfit, dec!(111), true));
        assert_eq!(
            decide(Side::Sell, Some((dec!(105), ExitReason::TrailingStop)), None, Px::flat(dec!(105.5))),
            hit(ExitReason::TrailingStop, dec!(105.5), true)
        );
        assert_eq!(decide(Side::Sell, None, None, Px::flat(dec!(1))), None);
    }
}
