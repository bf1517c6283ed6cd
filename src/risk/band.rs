//! Where one scope's equity and gross exposure may move without changing any alert or limit
//! condition, as found by its last full evaluation, so that marks inside it skip the
//! evaluation (see [`super::RiskEngine::evaluate`]).
//!
//! Every condition evaluation checks is monotone in one figure: drawdown thresholds and the
//! drawdown limit in equity (at a fixed peak), the daily loss limit in equity, the gross
//! exposure limit in gross exposure. Each one's flip point becomes a bound on that figure,
//! on the side that keeps its current value. Bounds are strict, and drawdown bounds keep a
//! margin of [`DD_MARGIN_PCT`] for the rounding evaluation applies, so a figure inside the
//! band gives the same conditions (and so no alert edge and no state change) as the full
//! evaluation would. Anything else (a new day, a limit or state change, a breach held)
//! evaluates in full.

use super::alerts::EquityTracker;
use super::view::EquityView;
use crate::model::dec;
use rust_decimal::Decimal;

/// Margin, in percent of drawdown, kept around each drawdown level: evaluation rounds the
/// drawdown to 4 places (at most 0.00005 % off).
const DD_MARGIN_PCT: Decimal = Decimal::from_parts(1, 0, 0, false, 3);

/// How equity is bounded by the drawdown conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DdBound {
    /// No drawdown level is reached: equity must stay above `peak × factor` (the peak rising
    /// with it); `None` when there are no levels.
    Below { factor: Option<Decimal>, floor: Option<Decimal> },
    /// Some level is reached: the peak cannot move; equity stays in `(lo, hi)`.
    Between { lo: Option<Decimal>, hi: Decimal },
}

/// The quiet band of one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Band {
    dd: DdBound,
    /// Equity bounds from the daily loss limit (exclusive).
    eq_lo: Option<Decimal>,
    eq_hi: Option<Decimal>,
    /// Gross exposure bounds from the gross exposure limit (exclusive).
    gross_lo: Option<Decimal>,
    gross_hi: Option<Decimal>,
    /// The figures last admitted with nothing to record, as integer intervals at their
    /// scales (see [`Fast`]); cleared when a new peak moves the floor.
    fast: Option<Fast>,
}

/// Equity and gross exposure that [`Band::admit`] admits without recording anything, each as
/// a half-open interval `[lo, hi)` of mantissas at one scale: figures of those scales are
/// checked with integer compares. Only ever narrower than the band (peaks only rise while a
/// band lives; a limit or state change or a new day builds a new one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fast {
    equity: dec::MantissaRange,
    gross: dec::MantissaRange,
}

/// One drawdown level (percent) and whether the drawdown reaches it now.
#[derive(Debug, Clone, Copy)]
pub(super) struct DdLevel {
    pub pct: Decimal,
    pub holds: bool,
}

/// One limit's near-breach and breach conditions as evaluation found them.
#[derive(Debug, Clone, Copy)]
pub(super) struct LimitLevels {
    pub limit: Decimal,
    pub near_pct: Decimal,
    pub near: bool,
    pub breached: bool,
}

impl LimitLevels {
    /// The near-breach value (`near_pct` percent of the limit).
    fn near_value(self) -> Decimal {
        self.near_pct * self.limit / Decimal::ONE_HUNDRED
    }
}

#[inline]
fn above(x: Decimal, lo: Option<Decimal>) -> bool {
    lo.is_none_or(|l| dec::gt(x, l))
}

#[inline]
fn below(x: Decimal, hi: Option<Decimal>) -> bool {
    hi.is_none_or(|h| dec::lt(x, h))
}

fn max_opt(a: Option<Decimal>, b: Decimal) -> Option<Decimal> {
    Some(a.map_or(b, |a| a.max(b)))
}

fn min_opt(a: Option<Decimal>, b: Decimal) -> Option<Decimal> {
    Some(a.map_or(b, |a| a.min(b)))
}

impl Band {
    /// The band after a full evaluation of a scope whose tracker has `peak` and
    /// `start_of_day`, at the drawdown `levels` (alert thresholds and the drawdown limit's
    /// levels), the daily loss limit's and the gross exposure limit's conditions. `None`
    /// when no safe band exists (no positive peak, a level too close to zero, a
    /// non-positive limit).
    pub(super) fn new(
        tracker: &EquityTracker,
        levels: &[DdLevel],
        daily_loss: Option<LimitLevels>,
        gross: Option<LimitLevels>,
    ) -> Option<Self> {
        let peak = tracker.peak();
        if peak <= Decimal::ZERO {
            return None;
        }
        let at = |pct: Decimal| peak * (Decimal::ONE - pct / Decimal::ONE_HUNDRED);
        let dd = if levels.iter().all(|l| !l.holds) {
            let smallest = levels.iter().map(|l| l.pct).min();
            let factor = match smallest {
                Some(t) if t - DD_MARGIN_PCT <= Decimal::ZERO => return None,
                Some(t) => Some(Decimal::ONE - (t - DD_MARGIN_PCT) / Decimal::ONE_HUNDRED),
                None => None,
            };
            DdBound::Below { factor, floor: factor.map(|f| peak * f) }
        } else {
            let (mut lo, mut hi) = (None, None);
            for l in levels {
                if l.holds {
                    hi = min_opt(hi, at(l.pct + DD_MARGIN_PCT));
                } else if l.pct - DD_MARGIN_PCT <= Decimal::ZERO {
                    return None;
                } else {
                    lo = max_opt(lo, at(l.pct - DD_MARGIN_PCT));
                }
            }
            DdBound::Between { lo, hi: hi? }
        };
        let (mut eq_lo, mut eq_hi) = (None, None);
        if let Some(l) = daily_loss {
            if l.limit <= Decimal::ZERO || l.near_pct <= Decimal::ZERO {
                return None;
            }
            // loss = start − equity: a loss over a level is equity under `start − level`.
            let sod = tracker.start_of_day();
            for (level, holds) in [(l.limit, l.breached), (l.near_value(), l.near)] {
                let flip = sod - level;
                if holds {
                    eq_hi = min_opt(eq_hi, flip);
                } else {
                    eq_lo = max_opt(eq_lo, flip);
                }
            }
        }
        let (mut gross_lo, mut gross_hi) = (None, None);
        if let Some(l) = gross {
            if l.limit <= Decimal::ZERO || l.near_pct <= Decimal::ZERO {
                return None;
            }
            for (level, holds) in [(l.limit, l.breached), (l.near_value(), l.near)] {
                if holds {
                    gross_lo = max_opt(gross_lo, level);
                } else {
                    gross_hi = min_opt(gross_hi, level);
                }
            }
        }
        Some(Self { dd, eq_lo, eq_hi, gross_lo, gross_hi, fast: None })
    }

    /// Whether `figures` are inside the band; if so, records a new peak in `tracker` (what
    /// evaluation would have done, and all it would have done).
    #[inline(always)] // the fast intervals hold most figures: a few integer compares in the caller
    pub(super) fn admit(&mut self, figures: EquityView, tracker: &mut EquityTracker) -> bool {
        let (e, g) = (figures.equity, figures.gross_exposure);
        if self.fast.is_some_and(|f| f.equity.holds(e) && f.gross.holds(g)) {
            return true;
        }
        self.admit_outside(e, g, tracker)
    }

    /// [`Band::admit`] for figures outside the fast intervals.
    #[inline(never)]
    fn admit_outside(&mut self, e: Decimal, g: Decimal, tracker: &mut EquityTracker) -> bool {
        if !(above(e, self.eq_lo) && below(e, self.eq_hi) && above(g, self.gross_lo) && below(g, self.gross_hi)) {
            return false;
        }
        let admitted = match &mut self.dd {
            DdBound::Between { lo, hi } => above(e, *lo) && dec::lt(e, *hi),
            DdBound::Below { factor, floor } => {
                if dec::gt(e, tracker.peak()) {
                    tracker.raise_peak(e);
                    *floor = factor.map(|f| e * f);
                    self.fast = None;
                    return true;
                }
                above(e, *floor)
            }
        };
        if admitted {
            self.fast = self.fast_at(e.scale(), g.scale(), tracker.peak());
        }
        admitted
    }

    /// The figures of these scales this band admits with nothing to record: inside every
    /// bound, and for a band under no drawdown level, at or below the peak.
    fn fast_at(&self, equity_scale: u32, gross_scale: u32, peak: Decimal) -> Option<Fast> {
        let mut equity = dec::MantissaRange::all(equity_scale).above(self.eq_lo)?.below(self.eq_hi)?;
        equity = match self.dd {
            DdBound::Between { lo, hi } => equity.above(lo)?.below(Some(hi))?,
            DdBound::Below { floor, .. } => equity.above(floor)?.at_most(peak)?,
        };
        let gross = dec::MantissaRange::all(gross_scale).above(self.gross_lo)?.below(self.gross_hi)?;
        Some(Fast { equity, gross })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Timestamp;
    use crate::risk::limits::DayBoundary;
    use rust_decimal_macros::dec;

    fn tracker(peak: Decimal, now: Decimal) -> EquityTracker {
        let mut t = EquityTracker::default();
        t.observe(peak, Timestamp(0), DayBoundary::UtcMidnight);
        t.observe(now, Timestamp(1), DayBoundary::UtcMidnight);
        t
    }

    fn view(equity: Decimal, gross: Decimal) -> EquityView {
        EquityView { equity, gross_exposure: gross }
    }

    #[test]
    fn below_every_level_the_floor_follows_a_rising_peak() {
        let mut t = tracker(dec!(1000), dec!(1000));
        let levels = [DdLevel { pct: dec!(5), holds: false }, DdLevel { pct: dec!(8), holds: false }];
        let mut b = Band::new(&t, &levels, None, None).unwrap();
        // Floor at 1000 × (1 − 4.999 %) = 950.01.
        assert!(b.admit(view(dec!(950.02), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(950.01), dec!(0)), &mut t));
        assert!(b.admit(view(dec!(1100), dec!(0)), &mut t));
        assert_eq!(t.peak(), dec!(1100));
        // The floor moved with the peak: 1100 × 0.95001 = 1045.011.
        assert!(!b.admit(view(dec!(1045.01), dec!(0)), &mut t));
        assert!(b.admit(view(dec!(1045.02), dec!(0)), &mut t));
    }

    #[test]
    fn a_reached_level_pins_the_peak_and_bounds_both_ways() {
        let mut t = tracker(dec!(1000), dec!(940));
        let levels = [DdLevel { pct: dec!(5), holds: true }, DdLevel { pct: dec!(8), holds: false }];
        let mut b = Band::new(&t, &levels, None, None).unwrap();
        // Stays in (1000 × 0.92001, 1000 × 0.94999) = (920.01, 949.99).
        assert!(b.admit(view(dec!(949.98), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(949.99), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(920.01), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(1200), dec!(0)), &mut t));
        assert_eq!(t.peak(), dec!(1000), "a refused figure changes nothing");
    }

    #[test]
    fn daily_loss_and_gross_limits_bound_their_figures() {
        let mut t = tracker(dec!(1000), dec!(1000));
        // Loss limit 100, near at 90 % (90): quiet while equity > 910; gross limit 5000, near 4500.
        let loss = LimitLevels { limit: dec!(100), near_pct: dec!(90), near: false, breached: false };
        let gross = LimitLevels { limit: dec!(5000), near_pct: dec!(90), near: false, breached: false };
        let mut b = Band::new(&t, &[], Some(loss), Some(gross)).unwrap();
        assert!(b.admit(view(dec!(910.01), dec!(4499.99)), &mut t));
        assert!(!b.admit(view(dec!(910), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(1000), dec!(4500)), &mut t));
        // Near already raised: quiet between the near level and the breach.
        let loss = LimitLevels { near: true, ..loss };
        let mut b = Band::new(&t, &[], Some(loss), None).unwrap();
        assert!(b.admit(view(dec!(905), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(900), dec!(0)), &mut t));
        assert!(!b.admit(view(dec!(910), dec!(0)), &mut t));
    }

    proptest::proptest! {
        /// The integer intervals admit exactly what the bounds admit and record the same
        /// peaks: a band that forgets them after every figure is the reference.
        #[test]
        fn the_fast_intervals_admit_as_the_bounds_do(
            holds in proptest::bool::ANY,
            with_limits in proptest::bool::ANY,
            figures in proptest::collection::vec((90_000i64..110_000, 0u32..3, 0i64..600_000), 1..200),
        ) {
            let mut t = tracker(dec!(1000), dec!(1000));
            let levels = [DdLevel { pct: dec!(5), holds }, DdLevel { pct: dec!(8), holds: false }];
            let loss = LimitLevels { limit: dec!(100), near_pct: dec!(90), near: false, breached: false };
            let gross = LimitLevels { limit: dec!(5000), near_pct: dec!(90), near: false, breached: false };
            let (loss, gross) = if with_limits { (Some(loss), Some(gross)) } else { (None, None) };
            let Some(mut fast) = Band::new(&t, &levels, loss, gross) else { return Ok(()) };
            let (mut reference, mut t_ref) = (fast, t.clone());
            for (e, extra, g) in figures {
                // Mostly cents, sometimes finer: the scale changes now and then.
                let equity = Decimal::new(e * 10i64.pow(extra), 2 + extra);
                let figures = view(equity, Decimal::new(g, 2));
                let got = fast.admit(figures, &mut t);
                reference.fast = None;
                let want = reference.admit(figures, &mut t_ref);
                proptest::prop_assert_eq!(got, want);
                proptest::prop_assert_eq!(t.peak(), t_ref.peak());
            }
        }
    }

    #[test]
    fn no_band_without_a_positive_peak_or_with_a_level_at_zero() {
        let t = tracker(dec!(0), dec!(0));
        assert!(Band::new(&t, &[], None, None).is_none());
        let t = tracker(dec!(1000), dec!(1000));
        assert!(Band::new(&t, &[DdLevel { pct: dec!(0.0005), holds: false }], None, None).is_none());
        let bad = LimitLevels { limit: dec!(0), near_pct: dec!(90), near: false, breached: false };
        assert!(Band::new(&t, &[], Some(bad), None).is_none());
    }
}
