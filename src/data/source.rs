//! The event-source interface every loader implements, the per-input report, and the row
//! rules shared by all loaders (price checks, time order, time window, gap detection).

use super::bar::{Bar, MarketEvent, QuoteTick, TradeTick};
use super::error::{DataError, RowProblem};
use super::spec::{BadRowPolicy, DataFormat, LoadOptions};
use crate::model::{Symbol, Timestamp};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// A stream of one input's events in time order: strictly increasing for bars; trade and
/// quote ticks may share a time (several prints in one millisecond), in file order.
pub trait EventSource: Send {
    /// Next event in time order, or None at end of input.
    ///
    /// # Errors
    /// [`DataError`] for an unreadable file or (under [`BadRowPolicy::Reject`]) a bad row.
    fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError>;
    /// The symbol this input's events carry.
    fn symbol(&self) -> &Symbol;
    /// What was read so far: rows, skips by reason, gaps, first/last time.
    fn report(&self) -> SourceReport;
}

/// How many skipped rows a report keeps as examples.
pub const SKIP_EXAMPLES: usize = 5;
/// How many of the largest gaps a report keeps.
pub const LARGEST_GAPS: usize = 5;

/// One skipped row, kept as an example in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedRow {
    /// 1-based line number.
    pub line: usize,
    /// The kind of problem.
    pub problem: RowProblem,
    /// What was wrong.
    pub message: String,
}

/// A stretch with no rows, much longer than the input's typical spacing (see [`GAP_RULE`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Gap {
    /// The last row before the gap.
    pub start: Timestamp,
    /// The first row after it.
    pub end: Timestamp,
    /// Its length in whole seconds.
    pub seconds: i64,
}

/// The gap rule, for reports and docs.
pub const GAP_RULE: &str = "typical spacing = median of the first 64 time deltas; a gap is a delta above 3x \
    that, except when the spacing is 20 hours or more (daily bars), where a gap is a delta above 4 days \
    (weekends and one-day holidays are not gaps)";

/// What one input held, for the run report (`report.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceReport {
    /// The file.
    pub path: String,
    /// The symbol its events carry.
    pub symbol: String,
    /// The layout it was read as.
    pub format: DataFormat,
    /// Data rows read (header and blank lines not counted).
    pub rows_read: u64,
    /// Events emitted.
    pub events: u64,
    /// Rows before the `from` time (not emitted, only their time order checked).
    pub before_window: u64,
    /// Skipped rows by reason.
    pub skipped: BTreeMap<RowProblem, u64>,
    /// The first few skipped rows.
    pub skipped_examples: Vec<SkippedRow>,
    /// Typical spacing between events, in nanoseconds (see [`GAP_RULE`]).
    pub typical_spacing_ns: Option<i64>,
    /// Number of gaps found among the emitted events.
    pub gaps: u64,
    /// The largest few gaps, largest first.
    pub largest_gaps: Vec<Gap>,
    /// First emitted time.
    pub first_ts: Option<Timestamp>,
    /// Last emitted time.
    pub last_ts: Option<Timestamp>,
}

impl SourceReport {
    /// An empty report for an input.
    #[must_use]
    pub fn new(path: &Path, symbol: &Symbol, format: DataFormat) -> Self {
        Self {
            path: path.display().to_string(),
            symbol: symbol.to_string(),
            format,
            rows_read: 0,
            events: 0,
            before_window: 0,
            skipped: BTreeMap::new(),
            skipped_examples: Vec::new(),
            typical_spacing_ns: None,
            gaps: 0,
            largest_gaps: Vec::new(),
            first_ts: None,
            last_ts: None,
        }
    }

    /// Total skipped rows over all reasons.
    #[must_use]
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }
}

const SAMPLE: usize = 64;
const DAILY_NS: i64 = 20 * 3600 * 1_000_000_000;
const FOUR_DAYS_NS: i64 = 4 * 86_400 * 1_000_000_000;

/// Finds gaps per [`GAP_RULE`]. The first deltas are held until the typical spacing is known.
#[derive(Debug, Clone, Default)]
struct GapTracker {
    last: Option<Timestamp>,
    early: Vec<(Timestamp, Timestamp)>,
    threshold: Option<i64>,
    median: Option<i64>,
    count: u64,
    largest: Vec<Gap>,
}

impl GapTracker {
    #[inline]
    fn observe(&mut self, ts: Timestamp) {
        // Ticks sharing a time are one instant: no delta, so they neither set the typical
        // spacing to 0 (which would make every later delta a gap) nor count as a gap.
        if self.last == Some(ts) {
            return;
        }
        if let Some(last) = self.last {
            match self.threshold {
                Some(limit) => self.check(last, ts, limit),
                None => self.hold(last, ts),
            }
        }
        self.last = Some(ts);
    }

    /// Keeps an early delta until the typical spacing is known (the first [`SAMPLE`] only).
    #[inline(never)]
    fn hold(&mut self, last: Timestamp, ts: Timestamp) {
        self.early.push((last, ts));
        if self.early.len() == SAMPLE {
            self.settle();
        }
    }

    #[cold]
    fn settle(&mut self) {
        if self.early.is_empty() {
            return;
        }
        let mut deltas: Vec<i64> = self.early.iter().map(|(a, b)| b.0 - a.0).collect();
        deltas.sort_unstable();
        let median = deltas[deltas.len() / 2];
        let limit = if median >= DAILY_NS { FOUR_DAYS_NS } else { median.saturating_mul(3) };
        self.median = Some(median);
        self.threshold = Some(limit);
        for (a, b) in std::mem::take(&mut self.early) {
            self.check(a, b, limit);
        }
    }

    #[inline]
    fn check(&mut self, a: Timestamp, b: Timestamp, limit: i64) {
        if b.0 - a.0 > limit {
            self.record(a, b);
        }
    }

    /// Counts a gap and keeps it if it is among the largest (out of line: gaps are rare).
    #[cold]
    #[inline(never)]
    fn record(&mut self, a: Timestamp, b: Timestamp) {
        self.count += 1;
        let gap = Gap { start: a, end: b, seconds: (b.0 - a.0) / 1_000_000_000 };
        let pos = self.largest.iter().position(|g| (g.end.0 - g.start.0) < (b.0 - a.0));
        match pos {
            Some(i) => self.largest.insert(i, gap),
            None => self.largest.push(gap),
        }
        self.largest.truncate(LARGEST_GAPS);
    }

    fn fill(&self, report: &mut SourceReport) {
        let mut settled = self.clone();
        settled.settle();
        report.typical_spacing_ns = settled.median;
        report.gaps = settled.count;
        report.largest_gaps = settled.largest;
    }
}

/// What a loader does with a row after its time is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Parse and emit it.
    Go,
    /// Drop it (skipped or before the window) and read on.
    Skip,
    /// At or past the window's end: stop reading.
    End,
}

/// The row rules every loader applies: time order, window, bad-row policy, counts, gaps.
#[derive(Debug)]
pub(crate) struct RowGate {
    path: PathBuf,
    opts: LoadOptions,
    /// Whether rows may repeat the previous row's time (trade and quote ticks).
    ties_ok: bool,
    prev: Option<(Timestamp, usize)>,
    gaps: GapTracker,
    report: SourceReport,
}

impl RowGate {
    pub(crate) fn new(path: &Path, symbol: &Symbol, format: DataFormat, opts: &LoadOptions) -> Self {
        Self {
            path: path.to_owned(),
            opts: *opts,
            ties_ok: matches!(format, DataFormat::Trades | DataFormat::Quotes),
            prev: None,
            gaps: GapTracker::default(),
            report: SourceReport::new(path, symbol, format),
        }
    }

    /// Counts one data row read.
    #[inline]
    pub(crate) fn row(&mut self) {
        self.report.rows_read += 1;
    }

    /// Checks the row's time against the previous row's and the window.
    ///
    /// # Errors
    /// An unsorted or duplicate time under [`BadRowPolicy::Reject`].
    #[inline]
    pub(crate) fn time(&mut self, line: usize, ts: Timestamp) -> Result<Admit, DataError> {
        if let Some((prev, prev_line)) = self.prev {
            if ts < prev || (ts == prev && !self.ties_ok) {
                return self.out_of_order(line, ts, prev, prev_line);
            }
        }
        if self.opts.from.is_some_and(|from| ts < from) {
            self.report.before_window += 1;
            self.prev = Some((ts, line));
            return Ok(Admit::Skip);
        }
        if self.opts.to.is_some_and(|to| ts >= to) {
            return Ok(Admit::End);
        }
        Ok(Admit::Go)
    }

    /// A row whose time is before the previous row's, or repeats it where that is not allowed:
    /// a bad row, skipped under Skip (out of line: rows are almost always in order).
    #[cold]
    #[inline(never)]
    fn out_of_order(
        &mut self,
        line: usize,
        ts: Timestamp,
        prev: Timestamp,
        prev_line: usize,
    ) -> Result<Admit, DataError> {
        let (problem, message) = if ts == prev {
            (RowProblem::Duplicate, format!("timestamp {ts} repeats line {prev_line}'s"))
        } else {
            (
                RowProblem::Unsorted,
                format!("timestamp {ts} is before line {prev_line}'s {prev}; rows must be in time order"),
            )
        };
        self.bad(line, problem, message)?;
        Ok(Admit::Skip)
    }

    /// A bad row: an error under Reject, counted (and maybe kept as an example) under Skip.
    ///
    /// # Errors
    /// [`DataError::Row`] under [`BadRowPolicy::Reject`].
    pub(crate) fn bad(&mut self, line: usize, problem: RowProblem, message: String) -> Result<(), DataError> {
        match self.opts.on_bad {
            BadRowPolicy::Reject => Err(DataError::Row { path: self.path.clone(), line, problem, message }),
            BadRowPolicy::Skip => {
                *self.report.skipped.entry(problem).or_default() += 1;
                if self.report.skipped_examples.len() < SKIP_EXAMPLES {
                    self.report.skipped_examples.push(SkippedRow { line, problem, message });
                }
                Ok(())
            }
        }
    }

    /// Time check, then the row's own check, then acceptance, for a row parsed whole:
    /// `Go` means emit it.
    ///
    /// # Errors
    /// A bad row under [`BadRowPolicy::Reject`].
    pub(crate) fn admit(
        &mut self,
        line: usize,
        ts: Timestamp,
        checked: Result<(), Broken>,
    ) -> Result<Admit, DataError> {
        match self.time(line, ts)? {
            Admit::Go => {}
            other => return Ok(other),
        }
        if let Err((problem, message)) = checked {
            self.bad(line, problem, message)?;
            return Ok(Admit::Skip);
        }
        self.accept(line, ts);
        Ok(Admit::Go)
    }

    /// Records an emitted row.
    #[inline]
    pub(crate) fn accept(&mut self, line: usize, ts: Timestamp) {
        self.prev = Some((ts, line));
        self.report.events += 1;
        if self.report.first_ts.is_none() {
            self.report.first_ts = Some(ts);
        }
        self.report.last_ts = Some(ts);
        self.gaps.observe(ts);
    }

    /// The report so far, gaps included.
    pub(crate) fn report(&self) -> SourceReport {
        let mut report = self.report.clone();
        self.gaps.fill(&mut report);
        report
    }

    /// The file this gate reports on.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

/// A row rule broken: the kind and a message naming field and value.
pub(crate) type Broken = (RowProblem, String);

fn positive(name: &str, v: Decimal) -> Result<(), Broken> {
    if v > Decimal::ZERO {
        Ok(())
    } else {
        Err((RowProblem::NonPositivePrice, format!("{name} {v} is not above 0")))
    }
}

fn not_negative(name: &str, v: Decimal) -> Result<(), Broken> {
    if v < Decimal::ZERO {
        Err((RowProblem::NegativeSize, format!("{name} {v} is negative")))
    } else {
        Ok(())
    }
}

/// Checks a bar: prices above 0, high ≥ low, open and close within [low, high], volume ≥ 0.
pub(crate) fn check_bar(b: &Bar) -> Result<(), Broken> {
    positive("open", b.open)?;
    positive("high", b.high)?;
    positive("low", b.low)?;
    positive("close", b.close)?;
    if b.high < b.low {
        return Err((RowProblem::HighBelowLow, format!("high {} is below low {}", b.high, b.low)));
    }
    for (name, v) in [("open", b.open), ("close", b.close)] {
        if v < b.low || v > b.high {
            return Err((RowProblem::OutsideRange, format!("{name} {v} is outside [low {}, high {}]", b.low, b.high)));
        }
    }
    not_negative("volume", b.volume)
}

/// Checks a trade: price above 0, size ≥ 0.
pub(crate) fn check_trade(t: &TradeTick) -> Result<(), Broken> {
    positive("price", t.price)?;
    not_negative("size", t.size)
}

/// Checks a quote: bid and ask above 0, bid ≤ ask, sizes ≥ 0.
pub(crate) fn check_quote(q: &QuoteTick) -> Result<(), Broken> {
    positive("bid", q.bid)?;
    positive("ask", q.ask)?;
    if q.bid > q.ask {
        return Err((RowProblem::CrossedQuote, format!("bid {} is above ask {}", q.bid, q.ask)));
    }
    not_negative("bid_size", q.bid_size)?;
    not_negative("ask_size", q.ask_size)
}

/// Events held in memory (tests, generated data, other feeds), checked like a file's rows:
/// the "line" of an event is its 1-based position.
#[derive(Debug)]
pub struct MemorySource {
    symbol: Symbol,
    events: VecDeque<MarketEvent>,
    position: usize,
    gate: RowGate,
}

impl MemorySource {
    /// A source over `events` (which must be in strictly increasing time), named `name` in
    /// reports and errors.
    #[must_use]
    pub fn new(name: &str, symbol: Symbol, events: Vec<MarketEvent>, opts: &LoadOptions) -> Self {
        let gate = RowGate::new(Path::new(name), &symbol, DataFormat::Auto, opts);
        Self { symbol, events: events.into(), position: 0, gate }
    }
}

impl EventSource for MemorySource {
    fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        while let Some(event) = self.events.pop_front() {
            self.position += 1;
            self.gate.row();
            let checked = match &event {
                MarketEvent::Bar(_, b) => check_bar(b),
                MarketEvent::Trade(_, t) => check_trade(t),
                MarketEvent::Quote(_, q) => check_quote(q),
            };
            match self.gate.admit(self.position, event.ts(), checked)? {
                Admit::Go => {}
                Admit::Skip => continue,
                Admit::End => {
                    self.events.clear();
                    return Ok(None);
                }
            }
            return Ok(Some(event));
        }
        Ok(None)
    }

    fn symbol(&self) -> &Symbol {
        &self.symbol
    }

    fn report(&self) -> SourceReport {
        self.gate.report()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(n: i64) -> Timestamp {
        Timestamp::from_secs(n * 86_400)
    }

    #[test]
    fn gaps_follow_the_median_rule() {
        let mut g = GapTracker::default();
        // 1-minute spacing with one 10-minute hole and one 3-minute step (not a gap).
        let mut t = 0;
        for i in 0..100 {
            t += match i {
                30 => 600,
                70 => 180,
                _ => 60,
            };
            g.observe(Timestamp::from_secs(t));
        }
        let mut r = SourceReport::new(Path::new("x"), &Symbol::try_new("X").unwrap(), DataFormat::Ohlcv);
        g.fill(&mut r);
        assert_eq!(r.typical_spacing_ns, Some(60_000_000_000));
        assert_eq!(r.gaps, 1);
        assert_eq!(r.largest_gaps[0].seconds, 600);
    }

    #[test]
    fn daily_bars_flag_only_holes_over_four_days() {
        let mut g = GapTracker::default();
        // Mon-Fri weeks: weekend = 3 days (not a gap); one Friday to the next Wednesday = 5 days.
        let mut d = 0;
        for week in 0..20 {
            for _ in 0..5 {
                g.observe(day(d));
                d += 1;
            }
            d += if week == 10 { 4 } else { 2 };
        }
        let mut r = SourceReport::new(Path::new("x"), &Symbol::try_new("X").unwrap(), DataFormat::Ohlcv);
        g.fill(&mut r);
        assert_eq!(r.gaps, 1, "{r:?}");
        assert_eq!(r.largest_gaps[0].seconds, 5 * 86_400);
    }

    #[test]
    fn largest_gaps_are_sorted_and_capped() {
        let mut g = GapTracker::default();
        let mut t = 0;
        for i in 0..200i64 {
            t += if i % 20 == 19 { 1000 + i } else { 1 };
            g.observe(Timestamp::from_secs(t));
        }
        let mut r = SourceReport::new(Path::new("x"), &Symbol::try_new("X").unwrap(), DataFormat::Ohlcv);
        g.fill(&mut r);
        assert_eq!(r.gaps, 10);
        assert_eq!(r.largest_gaps.len(), LARGEST_GAPS);
        let secs: Vec<i64> = r.largest_gaps.iter().map(|g| g.seconds).collect();
        assert_eq!(secs, [1199, 1179, 1159, 1139, 1119]);
    }
}
