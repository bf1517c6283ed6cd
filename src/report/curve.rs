//! A bounded, deterministic sample of a time series (equity, a symbol's price) for charts,
//! `equity.csv` and periodic returns.
//!
//! Rule: time is cut into buckets of `interval` nanoseconds counted from the first point; the
//! first point that falls into a bucket is kept, later ones in the same bucket are skipped.
//! The interval starts at 1 ns (every distinct timestamp is kept). When more than
//! `max_points` points are held, the interval doubles and the kept points are filtered again
//! with the same rule (which drops about every other point), until at most `max_points`
//! remain. The result depends only on the input timestamps, never on wall-clock time.
//! Memory is bounded by `max_points`; a push is one integer comparison unless it starts a new
//! bucket.

/// A bounded sample of `(timestamp ns, value)` points.
#[derive(Debug, Clone)]
pub(crate) struct Curve<P> {
    points: Vec<(i64, P)>,
    origin: i64,
    interval: i64,
    next_bucket: i64,
    max_points: usize,
}

/// The fewest points a curve may be limited to (a smaller limit is raised to this).
pub(crate) const MIN_CURVE_POINTS: usize = 16;

impl<P: Copy> Curve<P> {
    /// An empty curve holding at most `max_points` points (at least [`MIN_CURVE_POINTS`]).
    pub(crate) fn new(max_points: usize) -> Self {
        Self {
            points: Vec::new(),
            origin: 0,
            interval: 1,
            next_bucket: i64::MIN,
            max_points: max_points.max(MIN_CURVE_POINTS),
        }
    }

    /// Offers a point; kept only when it opens a new bucket.
    #[inline]
    pub(crate) fn push(&mut self, ts: i64, value: P) {
        if ts >= self.next_bucket {
            self.keep(ts, value);
        }
    }

    #[inline(never)]
    fn keep(&mut self, ts: i64, value: P) {
        if self.points.is_empty() {
            self.origin = ts;
        }
        self.points.push((ts, value));
        self.next_bucket = self.bucket_end(ts);
        if self.points.len() > self.max_points {
            self.compact();
        }
    }

    fn bucket_of(&self, ts: i64) -> i64 {
        (ts.saturating_sub(self.origin)) / self.interval
    }

    fn bucket_end(&self, ts: i64) -> i64 {
        self.origin.saturating_add((self.bucket_of(ts).saturating_add(1)).saturating_mul(self.interval))
    }

    fn compact(&mut self) {
        let gap = self.closest_gap();
        while self.points.len() > self.max_points && self.interval < i64::MAX / 4 {
            self.interval *= 2;
            if gap.is_some_and(|g| self.interval <= g) {
                continue; // buckets no wider than the closest two points: the pass keeps them all
            }
            let mut last_bucket = None;
            let (origin, interval) = (self.origin, self.interval);
            self.points.retain(|&(ts, _)| {
                let b = ts.saturating_sub(origin) / interval;
                let keep = last_bucket != Some(b);
                last_bucket = Some(b);
                keep
            });
        }
        if let Some(&(ts, _)) = self.points.last() {
            self.next_bucket = self.bucket_end(ts);
        }
    }

    /// The smallest distance between two consecutive kept points, when every point is at or
    /// after the origin. A bucket of `interval <= gap` then never holds two consecutive points
    /// (the bucket of a point is its distance from the origin, divided down), so filtering at
    /// that interval keeps every point; removing points only widens the gaps. A series of
    /// one-minute bars starts at 1 ns buckets: this skips the thirty-odd doublings that
    /// change nothing before buckets reach a minute.
    fn closest_gap(&self) -> Option<i64> {
        let mut gap = i64::MAX;
        let mut prev = None;
        for &(ts, _) in &self.points {
            let offset = ts.saturating_sub(self.origin);
            if offset < 0 {
                return None;
            }
            if let Some(p) = prev {
                gap = gap.min(offset.abs_diff(p).try_into().unwrap_or(i64::MAX));
            }
            prev = Some(offset);
        }
        Some(gap)
    }

    /// Appends the final state of the series when it is later than the last kept point, so a
    /// chart and the returns end where the run ended.
    pub(crate) fn close_with(&mut self, ts: i64, value: P) {
        match self.points.last() {
            Some(&(last, _)) if last >= ts => {}
            _ => self.points.push((ts, value)),
        }
    }

    /// The kept points, oldest first.
    pub(crate) fn points(&self) -> &[(i64, P)] {
        &self.points
    }

    /// The current bucket width in nanoseconds.
    pub(crate) fn interval(&self) -> i64 {
        self.interval
    }

    /// Takes the kept points out.
    pub(crate) fn into_points(self) -> Vec<(i64, P)> {
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keeps_everything_until_full_then_halves_deterministically() {
        let mut c = Curve::new(16);
        for i in 0..16 {
            c.push(i * 60, i);
        }
        assert_eq!(c.points().len(), 16);
        c.push(16 * 60, 16);
        // 17 points > 16: the interval doubles (2, 4, …, 64 ns keep every point at a 60 ns
        // spacing) until one point per bucket leaves at most 16; at 128 ns that is 9 points.
        let kept: Vec<i64> = c.points().iter().map(|p| p.0).collect();
        assert!(kept.len() <= 16 && kept.len() >= 8, "{kept:?}");
        assert_eq!(kept[0], 0);
        assert!(kept.windows(2).all(|w| w[1] / c.interval() > w[0] / c.interval()), "one point per bucket: {kept:?}");
        // Same input, same output.
        let mut d = Curve::new(16);
        for i in 0..17 {
            d.push(i * 60, i);
        }
        assert_eq!(c.points(), d.points());
    }

    #[test]
    fn close_with_appends_only_a_later_point() {
        let mut c = Curve::new(16);
        c.push(10, 1);
        c.close_with(10, 2);
        assert_eq!(c.points(), &[(10, 1)]);
        c.close_with(20, 3);
        assert_eq!(c.points(), &[(10, 1), (20, 3)]);
    }

    /// The sampling rule as first written: every doubling filters the points again.
    fn reference(series: &[(i64, usize)], max: usize) -> (Vec<(i64, usize)>, i64) {
        let (mut points, mut origin, mut interval, mut next) = (Vec::new(), 0i64, 1i64, i64::MIN);
        let bucket_end = |ts: i64, origin: i64, interval: i64| {
            origin.saturating_add(((ts.saturating_sub(origin)) / interval).saturating_add(1).saturating_mul(interval))
        };
        for &(ts, v) in series {
            if ts < next {
                continue;
            }
            if points.is_empty() {
                origin = ts;
            }
            points.push((ts, v));
            next = bucket_end(ts, origin, interval);
            if points.len() > max {
                while points.len() > max && interval < i64::MAX / 4 {
                    interval *= 2;
                    let mut last = None;
                    points.retain(|&(ts, _): &(i64, usize)| {
                        let b = ts.saturating_sub(origin) / interval;
                        let keep = last != Some(b);
                        last = Some(b);
                        keep
                    });
                }
                if let Some(&(ts, _)) = points.last() {
                    next = bucket_end(ts, origin, interval);
                }
            }
        }
        (points, interval)
    }

    proptest! {
        /// Skipping the filter passes that keep every point changes nothing, also for series
        /// that step back in time (before the origin, too).
        #[test]
        fn prop_skipped_passes_change_nothing(
            steps in proptest::collection::vec(-20_000i64..100_000, 1..1500),
            start in -1_000i64..1_000,
            max in 16usize..64,
        ) {
            let mut ts = start;
            let series: Vec<(i64, usize)> = steps.iter().enumerate().map(|(i, s)| { ts += s; (ts, i) }).collect();
            let mut c = Curve::new(max);
            for &(ts, v) in &series {
                c.push(ts, v);
            }
            let (points, interval) = reference(&series, max);
            prop_assert_eq!(c.points(), &points[..]);
            prop_assert_eq!(c.interval(), interval);
        }

        #[test]
        fn prop_bounded_and_ordered(gaps in proptest::collection::vec(0i64..1_000_000, 1..3000), max in 16usize..200) {
            let mut c = Curve::new(max);
            let mut ts = 0i64;
            for (i, g) in gaps.iter().enumerate() {
                ts += g;
                c.push(ts, i);
            }
            prop_assert!(c.points().len() <= max);
            prop_assert!(!c.points().is_empty());
            prop_assert!(c.points().windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1));
            prop_assert_eq!(c.points()[0].1, 0, "the first point is always kept");
        }
    }
}
