//! Several inputs merged into one stream by time: a k-way merge holding one head per input.

use super::bar::MarketEvent;
use super::error::{DataError, RowProblem};
use super::source::{EventSource, SourceReport};
use crate::model::{Symbol, Timestamp};
use serde::Serialize;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fmt;

/// Events from several sources in time order; equal times come out in input order.
///
/// Memory is one pending event per input, whatever the files' lengths.
pub struct MergedStream {
    sources: Vec<Box<dyn EventSource>>,
    heads: Vec<Option<MarketEvent>>,
    heap: BinaryHeap<Reverse<(Timestamp, usize)>>,
    /// The input whose head was just handed out; refilled at the next call so an error
    /// reading it never swallows the event already taken.
    refill: Option<usize>,
    /// One input only: no heap, its events pass straight through; set once it has ended
    /// (or failed, as the heap path also stops reading an input after its error).
    single_ended: bool,
    /// Per symbol, the time of its last bar and the input that gave it: two inputs of one
    /// symbol (monthly files, say) must not give it two bars for one time.
    last_bar: BTreeMap<Symbol, (Timestamp, usize)>,
}

impl fmt::Debug for MergedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MergedStream").field("inputs", &self.sources.len()).field("pending", &self.heap.len()).finish()
    }
}

impl MergedStream {
    /// Starts the merge by reading the first event of every source.
    ///
    /// # Errors
    /// The first error any source gives on its first event.
    pub fn new(mut sources: Vec<Box<dyn EventSource>>) -> Result<Self, DataError> {
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            let head = source.next_event()?;
            if let Some(e) = &head {
                heap.push(Reverse((e.ts(), i)));
            }
            heads.push(head);
        }
        let single_ended = heads.iter().all(Option::is_none);
        Ok(Self { sources, heads, heap, refill: None, single_ended, last_bar: BTreeMap::new() })
    }

    /// The next event over all inputs, or None when all are exhausted.
    ///
    /// # Errors
    /// A source's error (unreadable file, or a bad row under Reject).
    pub fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        if self.sources.len() == 1 {
            return self.next_single();
        }
        if let Some(i) = self.refill.take() {
            let head = self.sources[i].next_event()?;
            if let Some(e) = &head {
                self.heap.push(Reverse((e.ts(), i)));
            }
            self.heads[i] = head;
        }
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        self.refill = Some(i);
        let event = self.heads[i].take();
        if let Some(MarketEvent::Bar(symbol, bar)) = &event {
            self.check_overlap(symbol, bar.ts, i)?;
        }
        Ok(event)
    }

    /// A bar for a symbol at or before its last bar from another input: the inputs overlap
    /// (the same file given twice, or a CSV and its JSON copy), and every bar would reach the
    /// strategies twice. An input's own order is its loader's check.
    fn check_overlap(&mut self, symbol: &Symbol, ts: Timestamp, input: usize) -> Result<(), DataError> {
        match self.last_bar.get_mut(symbol) {
            Some((last, from)) if ts <= *last && *from != input => {
                let path = |i: usize| self.sources[i].report().path;
                Err(DataError::File {
                    path: path(input).into(),
                    message: format!(
                        "its {symbol} bar at {ts} overlaps {}, which already gave {symbol} a bar at {last}; \
                         the inputs of one symbol must cover separate times (or give one another \
                         name with SYMBOL=path)",
                        path(*from)
                    ),
                })
            }
            Some(seen) => {
                *seen = (ts, input);
                Ok(())
            }
            None => {
                self.last_bar.insert(symbol.clone(), (ts, input));
                Ok(())
            }
        }
    }

    /// The one-input case: the head read at the start, then the source's events as they come.
    #[inline]
    fn next_single(&mut self) -> Result<Option<MarketEvent>, DataError> {
        if let Some(head) = self.heads[0].take() {
            self.heap.clear();
            return Ok(Some(head));
        }
        if self.single_ended {
            return Ok(None);
        }
        // Handed back as the source gives it (no unwrap and re-wrap, so no copy of the
        // event); ended after an error or the end, as the heap path stops reading then.
        let next = self.sources[0].next_event();
        self.single_ended = !matches!(next, Ok(Some(_)));
        next
    }

    /// Per-input reports and totals so far.
    #[must_use]
    pub fn report(&self) -> DataReport {
        DataReport::new(self.sources.iter().map(|s| s.report()).collect())
    }
}

/// What all inputs held: each input's report plus totals. Goes into `report.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataReport {
    /// One report per input, in input order.
    pub inputs: Vec<SourceReport>,
    /// Data rows read over all inputs.
    pub rows_read: u64,
    /// Events emitted over all inputs.
    pub events: u64,
    /// Skipped rows by reason over all inputs.
    pub skipped: BTreeMap<RowProblem, u64>,
    /// Gaps found over all inputs.
    pub gaps: u64,
    /// Earliest emitted time.
    pub first_ts: Option<Timestamp>,
    /// Latest emitted time.
    pub last_ts: Option<Timestamp>,
}

impl DataReport {
    /// Totals over the given per-input reports.
    #[must_use]
    pub fn new(inputs: Vec<SourceReport>) -> Self {
        let mut skipped = BTreeMap::new();
        for r in &inputs {
            for (k, v) in &r.skipped {
                *skipped.entry(*k).or_default() += v;
            }
        }
        Self {
            rows_read: inputs.iter().map(|r| r.rows_read).sum(),
            events: inputs.iter().map(|r| r.events).sum(),
            gaps: inputs.iter().map(|r| r.gaps).sum(),
            first_ts: inputs.iter().filter_map(|r| r.first_ts).min(),
            last_ts: inputs.iter().filter_map(|r| r.last_ts).max(),
            skipped,
            inputs,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::bar::Bar;
    use crate::data::source::MemorySource;
    use crate::data::spec::LoadOptions;
    use crate::model::Symbol;
    use proptest::prelude::*;
    use rust_decimal::Decimal;

    fn bar(sym: &Symbol, secs: i64, close: i64) -> MarketEvent {
        let p = Decimal::new(close, 0);
        MarketEvent::Bar(
            sym.clone(),
            Bar { ts: Timestamp::from_secs(secs), open: p, high: p, low: p, close: p, volume: Decimal::ZERO },
        )
    }

    fn source(name: &str, times: &[i64]) -> Box<dyn EventSource> {
        let sym = Symbol::try_new(name).unwrap();
        let events = times.iter().enumerate().map(|(i, t)| bar(&sym, *t, i as i64 + 1)).collect();
        Box::new(MemorySource::new(name, sym, events, &LoadOptions::default()))
    }

    fn drain(m: &mut MergedStream) -> Vec<(i64, String)> {
        let mut out = Vec::new();
        while let Some(e) = m.next_event().unwrap() {
            out.push((e.ts().0 / 1_000_000_000, e.symbol().to_string()));
        }
        out
    }

    #[test]
    fn three_inputs_merge_by_time_then_input_order() {
        let mut m =
            MergedStream::new(vec![source("C", &[2, 4, 6]), source("A", &[1, 2, 6, 7]), source("B", &[2, 3])]).unwrap();
        let got = drain(&mut m);
        let want: Vec<(i64, String)> =
            [(1, "A"), (2, "C"), (2, "A"), (2, "B"), (3, "B"), (4, "C"), (6, "C"), (6, "A"), (7, "A")]
                .into_iter()
                .map(|(t, s)| (t, s.to_owned()))
                .collect();
        assert_eq!(got, want);
        let rep = m.report();
        assert_eq!((rep.events, rep.rows_read, rep.inputs.len()), (9, 9, 3));
        assert_eq!((rep.first_ts, rep.last_ts), (Some(Timestamp::from_secs(1)), Some(Timestamp::from_secs(7))));
        assert_eq!(rep.inputs[1].symbol, "A");
        let json = serde_json::to_value(&rep).unwrap();
        assert_eq!(json["inputs"][2]["events"], 2);
    }

    #[test]
    fn an_error_does_not_swallow_the_event_already_read() {
        // B's second event is out of order: the merge hands out B's first event, then fails.
        let mut m = MergedStream::new(vec![source("A", &[10]), source("B", &[1, 0])]).unwrap();
        assert_eq!(m.next_event().unwrap().unwrap().ts(), Timestamp::from_secs(1));
        let err = m.next_event().unwrap_err().to_string();
        assert!(err.starts_with("B:2: timestamp"), "{err}");
    }

    #[test]
    fn one_input_passes_through_and_stops_after_an_error() {
        let mut m = MergedStream::new(vec![source("A", &[1, 2, 3])]).unwrap();
        assert_eq!(drain(&mut m), [(1, "A".to_owned()), (2, "A".to_owned()), (3, "A".to_owned())]);
        assert!(m.next_event().unwrap().is_none(), "an ended input stays ended");
        assert_eq!(m.report().events, 3);
        // The third event is out of order: the first two come out, then the error, then the end
        // (as with several inputs: a failed input is not read again).
        let mut m = MergedStream::new(vec![source("B", &[1, 5, 4, 6])]).unwrap();
        assert_eq!(m.next_event().unwrap().unwrap().ts(), Timestamp::from_secs(1));
        assert_eq!(m.next_event().unwrap().unwrap().ts(), Timestamp::from_secs(5));
        let err = m.next_event().unwrap_err().to_string();
        assert!(err.starts_with("B:3: timestamp"), "{err}");
        assert!(m.next_event().unwrap().is_none());
        let mut m = MergedStream::new(vec![source("C", &[])]).unwrap();
        assert!(m.next_event().unwrap().is_none());
    }

    fn named(name: &str, symbol: &str, times: &[i64]) -> Box<dyn EventSource> {
        let sym = Symbol::try_new(symbol).unwrap();
        let events = times.iter().map(|t| bar(&sym, *t, 1)).collect();
        Box::new(MemorySource::new(name, sym, events, &LoadOptions::default()))
    }

    #[test]
    fn two_inputs_of_one_symbol_may_follow_each_other_but_not_overlap() {
        // Monthly files of one symbol: fine, in any input order.
        let mut m = MergedStream::new(vec![named("feb.csv", "X", &[4, 5]), named("jan.csv", "X", &[1, 2, 3])]).unwrap();
        assert_eq!(drain(&mut m).iter().map(|(t, _)| *t).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        // Before: the same bars given twice (a CSV and its JSON copy) reached the strategies
        // twice, with no error.
        let mut m = MergedStream::new(vec![named("x.csv", "X", &[1, 2, 3]), named("x.json", "X", &[1, 2, 3])]).unwrap();
        assert_eq!(m.next_event().unwrap().unwrap().ts(), Timestamp::from_secs(1));
        let err = m.next_event().unwrap_err().to_string();
        assert!(err.starts_with("x.json: its X bar at 1970-01-01T00:00:01Z overlaps x.csv"), "{err}");
        // Other symbols at the same times are no overlap.
        let mut m = MergedStream::new(vec![named("x.csv", "X", &[1, 2]), named("y.csv", "Y", &[1, 2])]).unwrap();
        assert_eq!(drain(&mut m).len(), 4);
    }

    #[test]
    fn no_inputs_and_empty_inputs_end_at_once() {
        assert!(MergedStream::new(Vec::new()).unwrap().next_event().unwrap().is_none());
        let mut m = MergedStream::new(vec![source("A", &[]), source("B", &[5])]).unwrap();
        assert_eq!(drain(&mut m), [(5, "B".to_owned())]);
    }

    proptest! {
        #[test]
        fn merge_is_sorted_and_a_permutation(
            inputs in prop::collection::vec(prop::collection::btree_set(0i64..200, 0..40), 1..6)
        ) {
            let names = ["A", "B", "C", "D", "E", "F"];
            let sources = inputs.iter().enumerate().map(|(i, s)| source(names[i], &s.iter().copied().collect::<Vec<_>>())).collect();
            let mut m = MergedStream::new(sources).unwrap();
            let got = drain(&mut m);
            // Sorted by (time, input order).
            let key = |(t, s): &(i64, String)| (*t, names.iter().position(|n| n == s).unwrap());
            prop_assert!(got.windows(2).all(|w| key(&w[0]) < key(&w[1])));
            // Same multiset as the inputs.
            let mut want: Vec<(i64, String)> = inputs.iter().enumerate()
                .flat_map(|(i, s)| s.iter().map(move |t| (*t, names[i].to_owned()))).collect();
            let mut sorted = got.clone();
            want.sort();
            sorted.sort();
            prop_assert_eq!(sorted, want);
        }
    }
}
