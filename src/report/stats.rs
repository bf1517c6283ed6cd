//! Streaming drawdown tracking and the return statistics computed from a sampled curve.
//!
//! Definitions (also stated in `report.json` under `conventions`):
//! - periodic return `r_i = e_i / e_{i-1} − 1` between consecutive points of the sampled
//!   equity curve (see [`super::curve`]);
//! - periods per year `= 365.25 days / median spacing of those points` (calendar time, so the
//!   same rule fits 24/7 crypto and exchange-hours stock data);
//! - annualised volatility `= stdev(r) × √periods_per_year`, sample stdev (n − 1);
//! - Sharpe `= mean(r) / stdev(r) × √periods_per_year`, risk-free rate 0;
//! - Sortino `= mean(r) / downside_dev × √periods_per_year`, `downside_dev = √(Σ min(r, 0)² / n)`;
//! - each is `None` (JSON `null`) when undefined: fewer than two returns or a zero deviation.

use crate::model::dec;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

/// Nanoseconds in 365.25 days.
pub(crate) const NANOS_PER_YEAR: f64 = 365.25 * 86_400.0 * 1e9;

/// Tracks the running peak of a series and its deepest and longest drawdowns in O(1) per value.
///
/// Depth is the fraction `(peak − value) / peak` at its worst; duration is the longest time from
/// a peak to the first later value at or above it (or to the end of the run when it never
/// recovered).
#[derive(Debug, Clone)]
pub(crate) struct Drawdown {
    started: bool,
    peak: Decimal,
    peak_ts: i64,
    underwater: bool,
    /// Deepest fraction so far, and the value below which the current peak's fall is deeper
    /// (lazy, with the scale it holds for): `peak − floor_s(depth × peak)` where `s` is the
    /// larger scale of the peak and the value. A fall `f = peak − value` of scale `s` is a
    /// whole number of `10^-s`, so `f > t` exactly when `f > floor_s(t)`, that is when
    /// `value < peak − floor_s(t)`: one comparison per value instead of a subtraction and a
    /// comparison with a 28-digit product.
    depth: Decimal,
    trigger: Option<(u32, Decimal)>,
    /// The values of one scale that change nothing but the under-water flag,
    /// `trigger <= value < peak`, as integer bounds on their mantissas. Cleared whenever the
    /// peak, the depth or the trigger changes.
    quiet: Option<dec::MantissaRange>,
    depth_money: Decimal,
    depth_peak_ts: i64,
    depth_trough_ts: i64,
    longest_ns: i64,
    longest_from: i64,
}

/// The result of a [`Drawdown`] tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct DrawdownSummary {
    /// Deepest fall from a peak, as a fraction of the peak (0 when never under water).
    pub depth: f64,
    /// The money amount of that deepest fall.
    pub depth_money: Decimal,
    /// When the peak before the deepest fall was set.
    pub peak_ts: Option<i64>,
    /// When the deepest point was reached.
    pub trough_ts: Option<i64>,
    /// Longest time under water in nanoseconds.
    pub longest_ns: i64,
    /// When that longest period began.
    pub longest_from: Option<i64>,
}

impl Default for Drawdown {
    fn default() -> Self {
        Self {
            started: false,
            peak: Decimal::ZERO,
            peak_ts: 0,
            underwater: false,
            depth: Decimal::ZERO,
            trigger: Some((0, Decimal::ZERO)),
            quiet: None,
            depth_money: Decimal::ZERO,
            depth_peak_ts: 0,
            depth_trough_ts: 0,
            longest_ns: 0,
            longest_from: 0,
        }
    }
}

impl Drawdown {
    /// Feeds the next value of the series.
    #[inline(always)] // the quiet case (most values) is a couple of integer compares in the caller
    pub(crate) fn update(&mut self, ts: i64, value: Decimal) {
        if self.quiet.is_some_and(|q| q.holds(value)) {
            self.underwater = true; // under the peak, not below the trigger: nothing else moves
            return;
        }
        self.update_outside(ts, value);
    }

    /// [`Drawdown::update`] for a value outside the quiet range.
    #[inline(never)]
    fn update_outside(&mut self, ts: i64, value: Decimal) {
        if !dec::lt(value, self.peak) || !self.started {
            self.new_peak(ts, value);
            return;
        }
        self.underwater = true;
        let scale = self.peak.scale().max(value.scale());
        let trigger = match self.trigger {
            Some((s, t)) if s == scale => t,
            _ => {
                let t = self.peak
                    - (self.depth * self.peak)
                        .round_dp_with_strategy(scale, rust_decimal::RoundingStrategy::ToNegativeInfinity);
                self.trigger = Some((scale, t));
                t
            }
        };
        if dec::lt(value, trigger) && self.peak.is_sign_positive() && !self.peak.is_zero() {
            self.new_depth(ts, self.peak - value);
        } else {
            self.quiet =
                dec::MantissaRange::all(value.scale()).at_least(trigger).and_then(|r| r.below(Some(self.peak)));
        }
    }

    #[inline]
    fn new_peak(&mut self, ts: i64, value: Decimal) {
        if self.underwater {
            self.close_period(ts);
        }
        self.started = true;
        self.underwater = false;
        if dec::cmp(value, self.peak) != std::cmp::Ordering::Equal {
            self.trigger = None;
            self.quiet = None;
        }
        self.peak = value;
        self.peak_ts = ts;
    }

    #[inline(never)]
    fn new_depth(&mut self, ts: i64, fall: Decimal) {
        self.depth = fall / self.peak;
        self.trigger = None;
        self.quiet = None;
        self.depth_money = fall;
        self.depth_peak_ts = self.peak_ts;
        self.depth_trough_ts = ts;
    }

    fn close_period(&mut self, ts: i64) {
        let len = ts.saturating_sub(self.peak_ts);
        if len > self.longest_ns {
            self.longest_ns = len;
            self.longest_from = self.peak_ts;
        }
    }

    /// The figures so far, closing an unrecovered drawdown at `end`.
    pub(crate) fn summary(&self, end: i64) -> DrawdownSummary {
        let mut this = self.clone();
        if this.underwater {
            this.close_period(end);
        }
        let under = this.depth > Decimal::ZERO;
        DrawdownSummary {
            depth: this.depth.to_f64().unwrap_or(0.0),
            depth_money: this.depth_money,
            peak_ts: under.then_some(this.depth_peak_ts),
            trough_ts: under.then_some(this.depth_trough_ts),
            longest_ns: this.longest_ns,
            longest_from: (this.longest_ns > 0).then_some(this.longest_from),
        }
    }
}

/// Return statistics of a sampled series.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct ReturnStats {
    /// How many periodic returns there were.
    pub count: usize,
    /// Median spacing of the samples in nanoseconds.
    pub median_spacing_ns: Option<i64>,
    /// `365.25 days / median spacing`.
    pub periods_per_year: Option<f64>,
    /// Annualised sample standard deviation of the returns.
    pub volatility: Option<f64>,
    /// Annualised Sharpe ratio (risk-free 0).
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio (target 0).
    pub sortino: Option<f64>,
}

/// Keeps a float only when it is finite, so JSON never holds NaN or infinity.
pub(crate) fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Computes [`ReturnStats`] over `(ts, value)` samples, oldest first.
pub(crate) fn return_stats(samples: &[(i64, f64)]) -> ReturnStats {
    let mut spacings: Vec<i64> = samples.windows(2).map(|w| w[1].0 - w[0].0).filter(|&d| d > 0).collect();
    spacings.sort_unstable();
    let median_spacing_ns = if spacings.is_empty() {
        None
    } else if spacings.len() % 2 == 1 {
        Some(spacings[spacings.len() / 2])
    } else {
        let m = spacings.len() / 2;
        Some((spacings[m - 1] + spacings[m]) / 2)
    };
    let periods_per_year = median_spacing_ns.and_then(|s| finite(NANOS_PER_YEAR / s as f64));
    let returns: Vec<f64> =
        samples.windows(2).filter(|w| w[0].1 > 0.0).map(|w| w[1].1 / w[0].1 - 1.0).filter(|r| r.is_finite()).collect();
    let n = returns.len();
    let mut stats = ReturnStats { count: n, median_spacing_ns, periods_per_year, ..ReturnStats::default() };
    let Some(ppy) = periods_per_year else { return stats };
    if n < 2 {
        return stats;
    }
    let mean = returns.iter().sum::<f64>() / n as f64;
    let var = returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let sd = var.sqrt();
    let down = (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n as f64).sqrt();
    let ann = ppy.sqrt();
    stats.volatility = finite(sd * ann);
    if sd > 0.0 {
        stats.sharpe = finite(mean / sd * ann);
    }
    if down > 0.0 {
        stats.sortino = finite(mean / down * ann);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    /// The tracker as first written: every comparison on exact `Decimal`s, the threshold the
    /// exact 28-digit `depth × peak`. The fast tracker must agree with it on every series.
    #[derive(Default)]
    struct Reference {
        started: bool,
        peak: Decimal,
        peak_ts: i64,
        depth: Decimal,
        money: Decimal,
        trough_ts: i64,
        depth_peak_ts: i64,
    }

    impl Reference {
        fn update(&mut self, ts: i64, value: Decimal) {
            if value >= self.peak || !self.started {
                (self.started, self.peak, self.peak_ts) = (true, value, ts);
                return;
            }
            let fall = self.peak - value;
            if fall > self.depth * self.peak && self.peak > Decimal::ZERO {
                self.depth = fall / self.peak;
                (self.money, self.trough_ts, self.depth_peak_ts) = (fall, ts, self.peak_ts);
            }
        }
    }

    proptest! {
        #[test]
        fn the_fast_drawdown_finds_the_same_deepest_fall_as_exact_comparisons(
            // Values at mixed scales, as equity has once fees at 4–6 places come in.
            series in proptest::collection::vec((1i64..5_000_000, 0u32..7), 1..200),
        ) {
            let (mut fast, mut exact) = (Drawdown::default(), Reference::default());
            for (t, (m, scale)) in series.into_iter().enumerate() {
                let (t, v) = (t as i64, Decimal::new(m, scale));
                fast.update(t, v);
                exact.update(t, v);
            }
            let s = fast.summary(1_000);
            prop_assert_eq!(s.depth_money, exact.money);
            prop_assert_eq!(s.depth, exact.depth.to_f64().unwrap_or(0.0));
            if exact.depth > Decimal::ZERO {
                prop_assert_eq!((s.peak_ts, s.trough_ts), (Some(exact.depth_peak_ts), Some(exact.trough_ts)));
            }
        }
    }

    proptest! {
        /// A random walk at one scale (as bar closes are) mostly stays inside the quiet
        /// interval: the integer path must find what exact comparisons find.
        #[test]
        fn a_same_scale_walk_finds_the_same_deepest_fall(
            start in 1_000i64..1_000_000,
            steps in proptest::collection::vec(-500i64..500, 1..300),
        ) {
            let (mut fast, mut exact) = (Drawdown::default(), Reference::default());
            let mut m = start;
            for (t, step) in (0i64..).zip(steps) {
                m = (m + step).max(1);
                let v = Decimal::new(m, 2);
                fast.update(t, v);
                exact.update(t, v);
            }
            let s = fast.summary(1_000);
            prop_assert_eq!(s.depth_money, exact.money);
            prop_assert_eq!(s.depth, exact.depth.to_f64().unwrap_or(0.0));
        }
    }

    #[test]
    fn drawdown_depth_and_duration_by_hand() {
        // 100 → 120 (peak, t=1) → 90 (−25 %, t=2) → 110 (t=3) → 125 (recovered, t=4) → 115 (t=5, end 6)
        // deepest: (120 − 90) / 120 = 0.25, money 30; longest under water: 1 → 4 = 3 (the 125
        // peak's dip from t=4 lasts to the end at 6: 2).
        let mut d = Drawdown::default();
        for (t, v) in [(0, dec!(100)), (1, dec!(120)), (2, dec!(90)), (3, dec!(110)), (4, dec!(125)), (5, dec!(115))] {
            d.update(t, v);
        }
        let s = d.summary(6);
        assert_eq!(s.depth, 0.25);
        assert_eq!(s.depth_money, dec!(30));
        assert_eq!((s.peak_ts, s.trough_ts), (Some(1), Some(2)));
        assert_eq!((s.longest_ns, s.longest_from), (3, Some(1)));
    }

    #[test]
    fn unrecovered_drawdown_runs_to_the_end() {
        let mut d = Drawdown::default();
        for (t, v) in [(0, dec!(100)), (1, dec!(95)), (2, dec!(99))] {
            d.update(t, v);
        }
        let s = d.summary(10);
        assert_eq!((s.longest_ns, s.depth), (10, 0.05));
    }

    #[test]
    fn fraction_not_money_decides_the_deepest() {
        // Fall of 10 from 20 (50 %) beats a later fall of 15 from 100 (15 %).
        let mut d = Drawdown::default();
        for (t, v) in [(0, dec!(20)), (1, dec!(10)), (2, dec!(100)), (3, dec!(85))] {
            d.update(t, v);
        }
        let s = d.summary(3);
        assert_eq!((s.depth, s.depth_money), (0.5, dec!(10)));
    }

    proptest::proptest! {
        /// The streaming tracker agrees with a brute-force scan over every (peak, later) pair.
        #[test]
        fn prop_streaming_drawdown_matches_brute_force(values in proptest::collection::vec(1i64..1000, 1..60)) {
            let mut d = Drawdown::default();
            for (t, v) in (0i64..).zip(&values) {
                d.update(t, Decimal::from(*v));
            }
            let end = values.len() as i64;
            let s = d.summary(end);
            let mut depth = 0.0f64;
            let mut longest = 0i64;
            for (i, &p) in values.iter().enumerate() {
                // Only running peaks start a drawdown period.
                if values[..i].iter().any(|&q| q > p) {
                    continue;
                }
                for &v in &values[i..] {
                    depth = depth.max((p - v) as f64 / p as f64);
                }
                let recovered = values[i + 1..].iter().position(|&v| v >= p).map_or(end, |k| (i + 1 + k) as i64);
                if values[i + 1..].first().is_some_and(|&v| v < p) {
                    longest = longest.max(recovered - i as i64);
                }
            }
            proptest::prop_assert!((s.depth - depth).abs() < 1e-12, "{} vs {}", s.depth, depth);
            proptest::prop_assert_eq!(s.longest_ns, longest);
        }
    }

    #[test]
    fn flat_series_has_no_drawdown_and_no_ratios() {
        let mut d = Drawdown::default();
        d.update(0, dec!(5));
        d.update(1, dec!(5));
        assert_eq!(d.summary(1).depth, 0.0);
        assert_eq!(d.summary(1).peak_ts, None);
        let r = return_stats(&[(0, 5.0), (1, 5.0), (2, 5.0)]);
        assert_eq!((r.count, r.volatility, r.sharpe, r.sortino), (2, Some(0.0), None, None));
        assert_eq!(return_stats(&[(0, 5.0)]).periods_per_year, None);
    }
}
