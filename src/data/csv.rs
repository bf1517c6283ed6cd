//! CSV loaders: generic OHLCV, Binance klines, trade ticks and quote ticks.
//!
//! One streaming reader serves all four: lines found in 256 KiB chunks read from the file,
//! each row read in one pass by the fast path for the common shapes (plain decimals, epoch or
//! ISO times; see `fast`), and by the general path (cells split by bytes, then
//! [`super::parse`]) for anything else or any row that breaks a rule. Nothing is allocated
//! per row. Memory does not grow with the file.
//!
//! Layout rules:
//! - A first line whose first cell is not a timestamp is a header. Header names are matched
//!   case-insensitively in any order: time `time|timestamp|date|datetime|ts|t|open_time` (or an
//!   empty first name, as pandas writes), `open|o`, `high|h`, `low|l`, `close|c`,
//!   `volume|vol|v`; trades `price|p|last`, `size|qty|quantity|amount|s|volume|v`; quotes
//!   `bid|bid_price|bp`, `ask|ask_price|ap`, `bid_size|bs|bid_qty`, `ask_size|as|ask_qty`.
//!   Other columns (a `symbol`, `Adj Close`, ...) are ignored.
//! - Without a header, columns are positional: OHLCV `ts,open,high,low,close[,volume]`,
//!   Binance klines `open_time,open,high,low,close,volume,close_time,...` (12 columns), trades
//!   `ts,price,size`, quotes `ts,bid,ask,bid_size,ask_size`.
//! - `Auto`: with a header, OHLCV if it names open/high/low/close, quotes if bid/ask, trades if
//!   price; without one, Binance klines when the row has 7 or more cells, else OHLCV (a
//!   headerless quotes file needs `--format quotes`).
//! - Every row must have as many cells as the first line.

use super::bar::{Bar, MarketEvent, QuoteTick, TradeTick};
pub use super::error::DataError;
use super::error::RowProblem;
use super::fast;
use super::lines::{Lines, CHUNK};
use super::parse::{parse_decimal, parse_timestamp, show, split_cells};
use super::source::{check_bar, check_quote, check_trade, Admit, Broken, EventSource, RowGate, SourceReport};
use super::spec::{DataFormat, DataSpec, LoadOptions};
use crate::model::{Symbol, Timestamp};
use rust_decimal::Decimal;
use std::fs::File;
use std::ops::Range;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Bar,
    Trade,
    Quote,
}

const NONE: usize = usize::MAX;

/// Where each field sits in a row.
#[derive(Debug, Clone)]
struct Layout {
    kind: Kind,
    ts: usize,
    /// Bar: open, high, low, close, volume. Trade: price, size. Quote: bid, ask, bid_size, ask_size.
    cols: [usize; 5],
    width: usize,
}

const TS_NAMES: &[&str] = &["time", "timestamp", "date", "datetime", "ts", "t", "open_time", "opentime", "date_time"];
const BAR_NAMES: [&[&str]; 5] =
    [&["open", "o"], &["high", "h"], &["low", "l"], &["close", "c"], &["volume", "vol", "v"]];
const TRADE_NAMES: [&[&str]; 2] = [&["price", "p", "last"], &["size", "qty", "quantity", "amount", "s", "volume", "v"]];
const QUOTE_NAMES: [&[&str]; 4] = [
    &["bid", "bid_price", "bp", "bidprice"],
    &["ask", "ask_price", "ap", "askprice"],
    &["bid_size", "bs", "bid_qty", "bidsize", "bid_volume"],
    &["ask_size", "as", "ask_qty", "asksize", "ask_volume"],
];
const FIELD_NAMES: [[&str; 5]; 3] = [
    ["open", "high", "low", "close", "volume"],
    ["price", "size", "", "", ""],
    ["bid", "ask", "bid_size", "ask_size", ""],
];

fn kind_of(format: DataFormat) -> Kind {
    match format {
        DataFormat::Trades => Kind::Trade,
        DataFormat::Quotes => Kind::Quote,
        _ => Kind::Bar,
    }
}

fn find(names: &[String], aliases: &[&str]) -> Option<usize> {
    names.iter().position(|n| aliases.contains(&n.as_str()))
}

/// Maps header names to columns; `format` may be `Auto` (decided from the names).
fn from_header(names: &[String], format: DataFormat) -> Result<(Layout, DataFormat), String> {
    let has = |aliases: &[&str]| find(names, aliases).is_some();
    let format = match format {
        DataFormat::Auto if BAR_NAMES[..4].iter().all(|a| has(a)) => DataFormat::Ohlcv,
        DataFormat::Auto if has(QUOTE_NAMES[0]) && has(QUOTE_NAMES[1]) => DataFormat::Quotes,
        DataFormat::Auto if has(TRADE_NAMES[0]) => DataFormat::Trades,
        DataFormat::Auto => {
            return Err(format!(
            "header '{}' names no known layout: need open,high,low,close (bars), bid,ask (quotes) or price (trades)",
            names.join(",")
        ))
        }
        f => f,
    };
    let kind = kind_of(format);
    let ts = find(names, TS_NAMES).or_else(|| names.iter().position(String::is_empty));
    let Some(ts) = ts else {
        return Err(format!("header '{}' has no time column (time, timestamp, date, datetime)", names.join(",")));
    };
    let aliases: &[&[&str]] = match kind {
        Kind::Bar => &BAR_NAMES,
        Kind::Trade => &TRADE_NAMES,
        Kind::Quote => &QUOTE_NAMES,
    };
    let mut cols = [NONE; 5];
    for (i, a) in aliases.iter().enumerate() {
        let optional = kind == Kind::Bar && i == 4;
        match find(names, a) {
            Some(c) => cols[i] = c,
            None if optional => {}
            None => return Err(format!("header '{}' has no {} column", names.join(","), a[0])),
        }
    }
    Ok((Layout { kind, ts, cols, width: names.len() }, format))
}

/// Positional columns for a file without a header.
fn positional(format: DataFormat, width: usize) -> Result<(Layout, DataFormat), String> {
    let format = match format {
        DataFormat::Auto if width >= 7 => DataFormat::BinanceKline,
        DataFormat::Auto => DataFormat::Ohlcv,
        f => f,
    };
    let (need, cols, what) = match format {
        DataFormat::Trades => (3, [1, 2, NONE, NONE, NONE], "ts,price,size"),
        DataFormat::Quotes => (5, [1, 2, 3, 4, NONE], "ts,bid,ask,bid_size,ask_size"),
        DataFormat::BinanceKline => (6, [1, 2, 3, 4, 5], "open_time,open,high,low,close,volume,..."),
        _ => {
            if !(5..=6).contains(&width) {
                return Err(format!(
                    "a file without a header needs timestamp,open,high,low,close[,volume]; found {width} columns \
                     (add a header, or use format binance-kline)"
                ));
            }
            (5, [1, 2, 3, 4, if width == 6 { 5 } else { NONE }], "")
        }
    };
    if width < need {
        return Err(format!("a {format} file needs {what}; found {width} columns"));
    }
    Ok((Layout { kind: kind_of(format), ts: 0, cols, width }, format))
}

/// A streaming CSV source (any of the four CSV layouts).
#[derive(Debug)]
pub struct CsvSource {
    lines: Lines<File>,
    /// The current line (without its line ending) in `lines`' buffer.
    cur: Range<usize>,
    cells: Vec<Range<usize>>,
    line: usize,
    first_line: usize,
    held: bool,
    done: bool,
    layout: Layout,
    /// Each column's role for the fast path; empty when the layout has none.
    roles: Vec<fast::Role>,
    dates: fast::DateCache,
    /// The values the fast path read from the current row, by slot.
    vals: [fast::Num; 5],
    symbol: Symbol,
    gate: RowGate,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io { path: path.to_owned(), source }
}

/// Finds the next non-blank line, its line ending (`\n` and any `\r` before it) left out;
/// `None` at end of file.
#[inline]
fn next_line(lines: &mut Lines<File>, line: &mut usize) -> std::io::Result<Option<Range<usize>>> {
    while let Some(mut r) = lines.next_line()? {
        *line += 1;
        let buf = lines.buf();
        while r.end > r.start && buf[r.end - 1] == b'\r' {
            r.end -= 1;
        }
        if !buf[r.clone()].iter().all(u8::is_ascii_whitespace) {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

/// Column roles for [`fast::row`]; empty (no fast path) if two fields share a column.
fn roles(layout: &Layout) -> Vec<fast::Role> {
    let mut roles = vec![fast::SKIP; layout.width];
    let mut set = |col: usize, role: fast::Role| match roles.get_mut(col) {
        Some(r) if *r == fast::SKIP => {
            *r = role;
            true
        }
        _ => false,
    };
    let mut ok = set(layout.ts, fast::TIME);
    for (slot, &col) in (0u8..).zip(&layout.cols) {
        if col != NONE {
            ok &= set(col, slot);
        }
    }
    if ok {
        roles
    } else {
        Vec::new()
    }
}

impl CsvSource {
    /// Opens a CSV file and works out its layout from the first line.
    ///
    /// # Errors
    /// [`DataError::Io`] when unreadable, [`DataError::File`] when the layout cannot be used.
    pub fn open(path: &Path, symbol: Symbol, format: DataFormat, opts: &LoadOptions) -> Result<Self, DataError> {
        let file = File::open(path).map_err(io(path))?;
        let mut lines = Lines::new(file, CHUNK);
        let (mut cells, mut line) = (Vec::with_capacity(16), 0);
        let file_err = |message: String| DataError::File { path: path.to_owned(), message };
        let Some(mut cur) = next_line(&mut lines, &mut line).map_err(io(path))? else {
            let gate = RowGate::new(path, &symbol, format, opts);
            let layout = Layout { kind: kind_of(format), ts: 0, cols: [NONE; 5], width: 0 };
            return Ok(Self {
                lines,
                cur: 0..0,
                cells,
                line,
                first_line: 0,
                held: false,
                done: true,
                layout,
                roles: Vec::new(),
                dates: fast::DateCache::default(),
                vals: [fast::Num::default(); 5],
                symbol,
                gate,
            });
        };
        if lines.buf()[cur.clone()].starts_with(b"\xEF\xBB\xBF") {
            cur.start += 3;
        }
        let buf = &lines.buf()[cur.clone()];
        split_cells(buf, &mut cells);
        let first = &buf[cells[0].clone()];
        let header = parse_timestamp(first).is_err();
        let (layout, format) = if header && format != DataFormat::BinanceKline {
            let names: Vec<String> = cells.iter().map(|r| show(&buf[r.clone()]).to_ascii_lowercase()).collect();
            from_header(&names, format)
        } else {
            positional(format, cells.len())
        }
        .map_err(|m| file_err(format!("line {line}: {m}")))?;
        let gate = RowGate::new(path, &symbol, format, opts);
        let roles = roles(&layout);
        Ok(Self {
            lines,
            cur,
            cells,
            first_line: line,
            line,
            held: !header,
            done: false,
            layout,
            roles,
            dates: fast::DateCache::default(),
            vals: [fast::Num::default(); 5],
            symbol,
            gate,
        })
    }

    /// The same source with the fast path off: every row through the general path (tests
    /// compare the two).
    #[cfg(test)]
    fn general_only(mut self) -> Self {
        self.roles.clear();
        self
    }

    /// The current line.
    #[inline]
    fn text(&self) -> &[u8] {
        &self.lines.buf()[self.cur.clone()]
    }

    fn decimal(&self, slot: usize, name: &str) -> Result<Decimal, Broken> {
        let col = self.layout.cols[slot];
        if col == NONE {
            return Ok(Decimal::ZERO);
        }
        let cell = &self.text()[self.cells[col].clone()];
        parse_decimal(cell)
            .map_err(|why| (RowProblem::Malformed, format!("{name} '{}' is not a decimal number: {why}", show(cell))))
    }

    /// Builds the event from the values the fast path read and checked.
    #[inline]
    fn make(&self, ts: Timestamp) -> MarketEvent {
        // The checks passed only values at or above zero.
        let v = |slot: usize| self.vals[slot].unsigned_decimal();
        match self.layout.kind {
            Kind::Bar => MarketEvent::Bar(
                self.symbol.clone(),
                Bar { ts, open: v(0), high: v(1), low: v(2), close: v(3), volume: v(4) },
            ),
            Kind::Trade => MarketEvent::Trade(self.symbol.clone(), TradeTick { ts, price: v(0), size: v(1) }),
            Kind::Quote => MarketEvent::Quote(
                self.symbol.clone(),
                QuoteTick { ts, bid: v(0), ask: v(1), bid_size: v(2), ask_size: v(3) },
            ),
        }
    }

    fn event(&self, ts: Timestamp) -> Result<MarketEvent, Broken> {
        let kind = self.layout.kind as usize;
        let f = |slot: usize| self.decimal(slot, FIELD_NAMES[kind][slot]);
        Ok(match self.layout.kind {
            Kind::Bar => {
                let bar = Bar { ts, open: f(0)?, high: f(1)?, low: f(2)?, close: f(3)?, volume: f(4)? };
                check_bar(&bar)?;
                MarketEvent::Bar(self.symbol.clone(), bar)
            }
            Kind::Trade => {
                let t = TradeTick { ts, price: f(0)?, size: f(1)? };
                check_trade(&t)?;
                MarketEvent::Trade(self.symbol.clone(), t)
            }
            Kind::Quote => {
                let q = QuoteTick { ts, bid: f(0)?, ask: f(1)?, bid_size: f(2)?, ask_size: f(3)? };
                check_quote(&q)?;
                MarketEvent::Quote(self.symbol.clone(), q)
            }
        })
    }

    /// The current row through the fast path: its time (values in `vals`) when every cell
    /// has a common shape and the row passes its kind's checks, else `None`.
    #[inline]
    fn fast_row(&mut self) -> Option<Timestamp> {
        if self.roles.is_empty() {
            return None;
        }
        let line = &self.lines.buf()[self.cur.clone()];
        let (ts, used) = fast::row(line, &self.roles, &mut self.dates, &mut self.vals)?;
        (used == line.len() && self.fast_ok()).then_some(Timestamp(ts))
    }

    /// The next line read in place by the fast path, when it is whole in the buffer, has a
    /// common shape and passes its kind's checks: it becomes the current line and its time
    /// is returned (values in `vals`). Otherwise nothing is taken and `None` returned, and
    /// [`next_line`] reads on (blank lines, odd shapes, a row cut by the buffer's end).
    #[inline]
    fn fast_next(&mut self) -> Option<Timestamp> {
        if self.roles.is_empty() {
            return None;
        }
        let (rest, at, eof) = self.lines.unread();
        let (ts, used) = fast::row(rest, &self.roles, &mut self.dates, &mut self.vals)?;
        let mut end = used;
        while rest.get(end) == Some(&b'\r') {
            end += 1;
        }
        let taken = match rest.get(end) {
            Some(b'\n') => end + 1,
            None if eof => end,
            _ => return None,
        };
        if !self.fast_ok() {
            return None;
        }
        self.cur = at..at + used;
        self.lines.consume(taken);
        self.line += 1;
        Some(Timestamp(ts))
    }

    /// Whether the values the fast path read pass the row's kind's checks.
    #[inline(always)]
    fn fast_ok(&self) -> bool {
        match self.layout.kind {
            Kind::Bar => fast::bar_ok(&self.vals),
            Kind::Trade => fast::trade_ok(&self.vals),
            Kind::Quote => fast::quote_ok(&self.vals),
        }
    }

    /// Splits the current line, checks its cell count and parses its time.
    fn row_time(&mut self) -> Result<Timestamp, Broken> {
        split_cells(&self.lines.buf()[self.cur.clone()], &mut self.cells);
        if self.cells.len() != self.layout.width {
            return Err((
                RowProblem::Malformed,
                format!(
                    "expected {} columns like line {}, found {}",
                    self.layout.width,
                    self.first_line,
                    self.cells.len()
                ),
            ));
        }
        let cell = &self.text()[self.cells[self.layout.ts].clone()];
        parse_timestamp(cell).map_err(|m| (RowProblem::Malformed, m))
    }
}

impl EventSource for CsvSource {
    fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        while !self.done {
            // The fast path's values (the next line read in place, or the current line
            // split out by `next_line`), or else the general path's time (values parsed
            // after the time checks, as before).
            let fast = if self.held {
                self.held = false;
                self.fast_row()
            } else if let Some(ts) = self.fast_next() {
                Some(ts)
            } else {
                match next_line(&mut self.lines, &mut self.line).map_err(io(self.gate.path()))? {
                    Some(r) => self.cur = r,
                    None => {
                        self.done = true;
                        break;
                    }
                }
                self.fast_row()
            };
            self.gate.row();
            let line = self.line;
            let (ts, fast) = match fast {
                Some(ts) => (ts, true),
                None => match self.row_time() {
                    Ok(ts) => (ts, false),
                    Err((problem, message)) => {
                        self.gate.bad(line, problem, message)?;
                        continue;
                    }
                },
            };
            match self.gate.time(line, ts)? {
                Admit::Go => {}
                Admit::Skip => continue,
                Admit::End => {
                    self.done = true;
                    break;
                }
            }
            if fast {
                self.gate.accept(line, ts);
                return Ok(Some(self.make(ts)));
            }
            match self.event(ts) {
                Ok(event) => {
                    self.gate.accept(line, ts);
                    return Ok(Some(event));
                }
                Err((problem, message)) => self.gate.bad(line, problem, message)?,
            }
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

/// Reads every bar of a file (any bar layout; see [`super::open`]), rejecting the first bad
/// row. Kept for the demo and tests; the backtest streams through [`super::open`] instead.
///
/// # Errors
/// [`DataError`] naming the file and line of the first bad row, or a file holding ticks.
pub fn read_bars(path: &Path) -> Result<Vec<Bar>, DataError> {
    let symbol =
        Symbol::try_new("BARS").map_err(|e| DataError::File { path: path.to_owned(), message: e.to_string() })?;
    let mut source = super::open(&DataSpec::new(path).with_symbol(symbol), &LoadOptions::default())?;
    let mut bars = Vec::new();
    while let Some(event) = source.next_event()? {
        match event {
            MarketEvent::Bar(_, bar) => bars.push(bar),
            _ => {
                return Err(DataError::File {
                    path: path.to_owned(),
                    message: "holds trades or quotes, not bars".to_owned(),
                })
            }
        }
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::spec::BadRowPolicy;
    use crate::data::{open, RowProblem};
    use proptest::prelude::*;
    use rust_decimal_macros::dec;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().prefix("test_").suffix(".csv").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    fn load(text: &str, format: DataFormat, opts: LoadOptions) -> Result<(Vec<MarketEvent>, SourceReport), DataError> {
        let f = write(text);
        let spec = DataSpec::new(f.path()).with_symbol(Symbol::try_new("X").unwrap()).with_format(format);
        let mut src = open(&spec, &opts)?;
        let mut out = Vec::new();
        while let Some(e) = src.next_event()? {
            out.push(e);
        }
        Ok((out, src.report()))
    }

    fn bars(text: &str) -> Result<Vec<Bar>, DataError> {
        let (events, _) = load(text, DataFormat::Auto, LoadOptions::default())?;
        Ok(events.into_iter().map(|e| if let MarketEvent::Bar(_, b) = e { b } else { panic!("{e:?}") }).collect())
    }

    fn skip() -> LoadOptions {
        LoadOptions { on_bad: BadRowPolicy::Skip, ..LoadOptions::default() }
    }

    #[test]
    fn reads_header_iso_and_epoch_rows() {
        let bars = bars("timestamp,open,high,low,close,volume\n2022-01-01T00:00:00Z,1,2,0.5,1.5,10\n1640995260,1.5,1.6,1.4,1.5,0\n1640995320000,1.5,1.6,1.4,1.55,7\n").unwrap();
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].ts, Timestamp::from_secs(1_640_995_200));
        assert_eq!(bars[1].ts, Timestamp::from_secs(1_640_995_260));
        assert_eq!(bars[2].ts, Timestamp::from_secs(1_640_995_320));
        assert_eq!((bars[0].high, bars[2].close, bars[2].volume), (dec!(2), dec!(1.55), dec!(7)));
    }

    #[test]
    fn header_in_any_order_and_case_with_extra_columns() {
        let b = bars("Symbol,CLOSE,Low,Date,High,Open,Adj Close\r\nAAA,1.5,1,2022-01-03,2,1.2,1.4\r\n\r\nAAA,1.6,1,2022-01-04,2,1.2,1.4\r\n")
            .unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(
            (b[0].open, b[0].high, b[0].low, b[0].close, b[0].volume),
            (dec!(1.2), dec!(2), dec!(1), dec!(1.5), dec!(0))
        );
        assert_eq!(b[1].ts, Timestamp::from_secs(1_641_254_400));
        // pandas writes an empty name over the index column.
        let b = bars(",Open,High,Low,Close,Volume\n2017-04-19 09:00:00,1.07,1.08,1.06,1.07,1500\n").unwrap();
        assert_eq!((b[0].ts, b[0].volume), (Timestamp::from_secs(1_492_592_400), dec!(1500)));
    }

    #[test]
    fn headerless_five_and_six_columns() {
        let b = bars("2022-01-01,1,2,0.5,1\n2022-01-02,1,2,0.5,1\n").unwrap();
        assert_eq!((b.len(), b[1].volume), (2, dec!(0)));
        let b = bars("2022-01-01 00:00:00.250,1,2,0.5,1,3\n").unwrap();
        assert_eq!((b[0].ts, b[0].volume), (Timestamp::from_secs(1_640_995_200).plus_nanos(250_000_000), dec!(3)));
    }

    #[test]
    fn binance_klines_in_ms_and_us() {
        let ms = "1640995200000,46216.93,46271.08,46208.37,46250.00,40.57574000,1640995259999,1876883.5,1136,19.4,898808.5,0\n\
                  1640995260000,46250.00,46300.00,46240.00,46280.00,1.5,1640995319999,69400.0,60,0.7,32400.0,0\n";
        let (ev, rep) = load(ms, DataFormat::Auto, LoadOptions::default()).unwrap();
        assert_eq!(rep.format, DataFormat::BinanceKline);
        assert_eq!(ev.len(), 2);
        let MarketEvent::Bar(_, b) = &ev[0] else { panic!() };
        assert_eq!((b.ts, b.open, b.volume), (Timestamp::from_secs(1_640_995_200), dec!(46216.93), dec!(40.57574000)));
        let us = ms.replace("1640995200000,", "1640995200000000,").replace("1640995260000,", "1640995260000000,");
        let (ev2, _) = load(&us, DataFormat::BinanceKline, LoadOptions::default()).unwrap();
        assert_eq!(ev, ev2);
        // A kline file with a header line still reads positionally.
        let (ev3, _) = load(
            &format!("open_time,open,high,low,close,volume,close_time,qv,n,tb,tq,ignore\n{ms}"),
            DataFormat::BinanceKline,
            LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(ev, ev3);
    }

    #[test]
    fn ticks_may_share_a_time_bars_may_not() {
        // Several prints in one millisecond are normal for trades and quotes: all kept, in
        // file order, and a shared time neither counts as a gap nor sets the spacing to 0.
        let mut trades = String::from("time,price,size\n");
        for i in 0..100 {
            trades.push_str(&format!("2022-01-01T00:00:{:02}Z,{}.5,1\n", i / 2, 100 + i));
        }
        let (ev, rep) = load(&trades, DataFormat::Auto, LoadOptions::default()).unwrap();
        assert_eq!(rep.format, DataFormat::Trades);
        assert_eq!(ev.len(), 100);
        assert_eq!(ev[0].ts(), ev[1].ts());
        let MarketEvent::Trade(_, second) = &ev[1] else { panic!("{:?}", ev[1]) };
        assert_eq!(second.price, dec!(101.5));
        assert_eq!((rep.gaps, rep.typical_spacing_ns, rep.skipped_total()), (0, Some(1_000_000_000), 0));
        let quotes = "2022-01-01T00:00:00Z,1,2,1,1\n2022-01-01T00:00:00Z,1.5,2,1,1\n";
        let (ev, _) = load(quotes, DataFormat::Quotes, LoadOptions::default()).unwrap();
        assert_eq!(ev.len(), 2);
        // A time before the previous one is still out of order for ticks.
        let err = load("2022-01-01,1,1\n2022-01-02,1,1\n2022-01-01,1,1\n", DataFormat::Trades, LoadOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains(":3: timestamp"), "{err}");
        // Bars: one bar per time.
        let err = load("2022-01-01,1,2,0.5,1\n2022-01-01,1,2,0.5,1\n", DataFormat::Ohlcv, LoadOptions::default())
            .unwrap_err();
        assert!(err.to_string().contains("repeats line 1's"), "{err}");
    }

    #[test]
    fn trades_and_quotes() {
        let (ev, rep) = load(
            "ts,price,size\n2022-01-01T00:00:00.1Z,100.5,2\n2022-01-01T00:00:00.2Z,100.6,0.5\n",
            DataFormat::Auto,
            LoadOptions::default(),
        )
        .unwrap();
        assert_eq!(rep.format, DataFormat::Trades);
        assert_eq!(
            ev[1],
            MarketEvent::Trade(
                Symbol::try_new("X").unwrap(),
                TradeTick {
                    ts: Timestamp::from_secs(1_640_995_200).plus_nanos(200_000_000),
                    price: dec!(100.6),
                    size: dec!(0.5)
                }
            )
        );
        let (ev, _) = load("1640995200000,99.5,100.5,3,4\n", DataFormat::Quotes, LoadOptions::default()).unwrap();
        let MarketEvent::Quote(_, q) = &ev[0] else { panic!("{ev:?}") };
        assert_eq!((q.bid, q.ask, q.bid_size, q.ask_size), (dec!(99.5), dec!(100.5), dec!(3), dec!(4)));
        let (ev, rep) =
            load("time,ask,bid,ask_size,bid_size\n2022-01-01,2,1,5,6\n", DataFormat::Auto, LoadOptions::default())
                .unwrap();
        assert_eq!(rep.format, DataFormat::Quotes);
        let MarketEvent::Quote(_, q) = &ev[0] else { panic!("{ev:?}") };
        assert_eq!((q.bid, q.ask, q.bid_size, q.ask_size), (dec!(1), dec!(2), dec!(6), dec!(5)));
        let err = load("2022-01-01,2,1,1,1\n", DataFormat::Quotes, LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains(":1: bid 2 is above ask 1"), "{err}");
        let err = load("2022-01-01,0,1\n", DataFormat::Trades, LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("price 0 is not above 0"), "{err}");
    }

    #[test]
    fn bad_rows_name_file_line_and_kind() {
        let cases = [
            ("t,o,h,l,c\n2022-01-01,1,2,0.5,x\n", ":2: close 'x' is not a decimal number", RowProblem::Malformed),
            ("2022-01-01,1,2,0.5,1e5\n", "exponent", RowProblem::Malformed),
            ("2022-01-01,1,2,0.5,nan\n", "close 'nan'", RowProblem::Malformed),
            ("2022-01-01,1,,0.5,1\n", "high '' is not a decimal number: the cell is empty", RowProblem::Malformed),
            ("2022-01-01,1.0.0,2,0.5,1\n", "two decimal points", RowProblem::Malformed),
            ("2022-01-01,1,2,3,1\n", ":1: high 2 is below low 3", RowProblem::HighBelowLow),
            (
                "2022-01-01,1,2,0.5,1\n2022-01-01,1,2,0.5,1\n",
                ":2: timestamp 2022-01-01T00:00:00Z repeats line 1's",
                RowProblem::Duplicate,
            ),
            (
                "2022-01-02,1,2,0.5,1\n2022-01-01,1,2,0.5,1\n",
                ":2: timestamp 2022-01-01T00:00:00Z is before line 1's",
                RowProblem::Unsorted,
            ),
            ("2022-01-01,-1,2,0.5,1\n", "open -1 is not above 0", RowProblem::NonPositivePrice),
            ("2022-01-01,1,2,0,1\n", "low 0 is not above 0", RowProblem::NonPositivePrice),
            (
                "2022-01-01,1,2,0.5,1\n2022-01-02,1,2\n",
                ":2: expected 5 columns like line 1, found 3",
                RowProblem::Malformed,
            ),
            ("2022-01-01,1,2,0.5,1,-3\n", "volume -3 is negative", RowProblem::NegativeSize),
            ("2022-01-01,3,2,0.5,1\n", "open 3 is outside [low 0.5, high 2]", RowProblem::OutsideRange),
            ("2022-01-01,1,2,0.5,2.5\n", "close 2.5 is outside", RowProblem::OutsideRange),
            (
                "time,open,high,low,close\n2022-02-30,1,2,0.5,1\n",
                ":2: timestamp '2022-02-30' is not a calendar date",
                RowProblem::Malformed,
            ),
        ];
        for (text, want, kind) in cases {
            let f = write(text);
            let err = crate::data::csv::read_bars(f.path()).unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains(want), "{text:?}: {msg}");
            assert!(msg.starts_with(&f.path().display().to_string()), "{msg}");
            assert!(matches!(err, DataError::Row { problem, .. } if problem == kind), "{text:?}: {err:?}");
        }
    }

    #[test]
    fn skip_counts_each_reason_and_keeps_examples() {
        let text = "time,open,high,low,close,volume\n\
                    2022-01-01,1,2,0.5,1,1\n\
                    2022-01-02,1,2,3,1,1\n\
                    2022-01-02,x,2,0.5,1,1\n\
                    2022-01-01,1,2,0.5,1,1\n\
                    2022-01-01,1,2,0.5,1,1\n\
                    2022-01-03,1,2,0.5,1,-1\n\
                    2022-01-03,1,2\n\
                    2022-01-04,1,2,0.5,1,1\n\
                    2022-01-04,1,2,0.5,1,1\n\
                    2022-01-05,0,2,0.5,1,1\n\
                    2022-01-06,1,2,0.5,1,1\n";
        let (ev, rep) = load(text, DataFormat::Auto, skip()).unwrap();
        let days: Vec<i64> = ev.iter().map(|e| e.ts().0 / 86_400_000_000_000).collect();
        assert_eq!(days, [18993, 18996, 18998]);
        assert_eq!(rep.rows_read, 11);
        assert_eq!(rep.events, 3);
        let counts: Vec<(RowProblem, u64)> = rep.skipped.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(
            counts,
            [
                (RowProblem::Malformed, 2),
                (RowProblem::NonPositivePrice, 1),
                (RowProblem::HighBelowLow, 1),
                (RowProblem::NegativeSize, 1),
                (RowProblem::Duplicate, 3),
            ]
        );
        assert_eq!(rep.skipped_total(), 8);
        let lines: Vec<usize> = rep.skipped_examples.iter().map(|s| s.line).collect();
        assert_eq!(lines, [3, 4, 5, 6, 7]);
        assert_eq!(rep.skipped_examples[2].problem, RowProblem::Duplicate);
        assert_eq!((rep.first_ts, rep.last_ts), (Some(ev[0].ts()), Some(ev[2].ts())));
    }

    #[test]
    fn from_is_inclusive_to_is_exclusive() {
        let text: String = (1..=9).map(|d| format!("2022-01-0{d},1,2,0.5,1,1\n")).collect();
        let day = |d: i64| Timestamp::from_secs(1_640_995_200 + (d - 1) * 86_400);
        let opts = LoadOptions { from: Some(day(3)), to: Some(day(6)), ..LoadOptions::default() };
        let (ev, rep) = load(&text, DataFormat::Auto, opts).unwrap();
        assert_eq!(ev.iter().map(MarketEvent::ts).collect::<Vec<_>>(), [day(3), day(4), day(5)]);
        assert_eq!(rep.before_window, 2);
        // Reading stopped at the first row at or after `to`.
        assert_eq!(rep.rows_read, 6);
        // Rows before `from` are not emitted but still must be in order.
        let err = load("2022-01-02,1,2,0.5,1\n2022-01-01,1,2,0.5,1\n2022-01-05,1,2,0.5,1\n", DataFormat::Auto, opts)
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2:") && err.contains("before line 1"), "{err}");
    }

    /// Events and report (or the error) reading `text` with the fast path on and off.
    fn both_paths(
        text: &[u8],
        format: DataFormat,
        opts: LoadOptions,
    ) -> [Result<(Vec<MarketEvent>, SourceReport), String>; 2] {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text).unwrap();
        let sym = Symbol::try_new("X").unwrap();
        [false, true].map(|general| {
            let mut src = CsvSource::open(f.path(), sym.clone(), format, &opts).map_err(|e| e.to_string())?;
            if general {
                src = src.general_only();
            }
            let mut out = Vec::new();
            while let Some(e) = src.next_event().map_err(|e| e.to_string())? {
                out.push(e);
            }
            Ok((out, src.report()))
        })
    }

    #[test]
    fn odd_cells_read_the_same_by_both_paths() {
        let text = "time,open,high,low,close,volume\r\n\
                    2022-01-01T00:00:00Z, 1 ,2,0.5,1,1\r\n\
                    2022-01-01T00:01:00Z,+1,2,0.5,1,1\r\n\
                    2022-01-01T00:02:00Z,1e0,2,0.5,1,1\r\n\
                    2022-01-01T00:03:00Z,1.000000000000000000001,2,0.5,1,1\r\n\
                    \"2022-01-01T00:04:00Z\",\"1\",2,0.5,1,1\r\n\
                    2022-01-01T01:05:00+01:00,1,2,0.5,1,1\r\n\
                    2022-01-01T00:06:00.250Z,1,2,0.5,1,1\r\n\
                    2022-01-01T00:07:00Z,1,2,0.5,1,1,extra\r\n\
                    2022-01-01T00:08:00Z,1,2,3,1,1\r\n\
                    2022-01-01T00:09:00Z,-1,2,0.5,1,1\r\n\
                    2022-01-01T00:09:00Z,1,2,0.5,1,1\r\n\
                    2022-01-01T00:10,1.50,2.0,0.500,1.5,0\r\n\
                    2022-01-01T00:11:00Z,1,2,0.5,1,1";
        for on_bad in [BadRowPolicy::Skip, BadRowPolicy::Reject] {
            let opts = LoadOptions { on_bad, ..LoadOptions::default() };
            let [fast, general] = both_paths(text.as_bytes(), DataFormat::Auto, opts);
            assert_eq!(fast, general, "{on_bad:?}");
            if on_bad == BadRowPolicy::Skip {
                let (ev, rep) = fast.unwrap();
                // Spaces, '+', quotes, 22 digits, offsets and fractions parse (general path);
                // 1e0, an extra column, high < low and a negative price are skipped (the next
                // row repeats the skipped row's time, which is no duplicate).
                assert_eq!((ev.len(), rep.skipped_total()), (9, 4), "{rep:?}");
                assert_eq!(ev.last().unwrap().ts(), Timestamp::from_secs(1_640_995_200 + 11 * 60));
            }
        }
    }

    #[test]
    fn rows_across_chunk_boundaries() {
        // Lines of 35-45 bytes over several chunks: many rows straddle a boundary; a row with
        // a bad value sits far past the first chunk and is named by its line.
        let mut text = String::from("timestamp,open,high,low,close,volume\n");
        let rows = 3 * CHUNK / 40;
        for i in 0..rows {
            let vol = if i == rows - 7 { "-1".to_owned() } else { format!("{}.{}", i, i % 97) };
            text.push_str(&format!("{},100.{:02},101,99.5,100,{vol}\n", 1_600_000_000 + i * 60, i % 100));
        }
        let bad_line = rows - 7 + 2;
        let [fast, general] = both_paths(text.as_bytes(), DataFormat::Auto, skip());
        assert_eq!(fast, general);
        let (ev, rep) = fast.unwrap();
        assert_eq!((ev.len(), rep.rows_read), (rows - 1, rows as u64));
        assert_eq!(rep.skipped_examples[0].line, bad_line);
        let MarketEvent::Bar(_, b) = &ev[rows / 2] else { panic!() };
        assert_eq!(b.volume, format!("{}.{}", rows / 2, (rows / 2) % 97).parse::<Decimal>().unwrap());
        let err = load(&text, DataFormat::Auto, LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains(&format!(":{bad_line}: volume -1 is negative")), "{err}");
    }

    #[test]
    fn a_file_an_exact_multiple_of_the_chunk() {
        // Rows padded (with leading zeros in the volume) to fill exactly two chunks, with and
        // without a final newline.
        for final_newline in [true, false] {
            let mut text = String::from("ts,open,high,low,close,volume\n");
            let mut i = 0;
            while text.len() + 80 < 2 * CHUNK {
                text.push_str(&format!("{},1,2,0.5,1,{i}\n", 1_600_000_000 + i * 60));
                i += 1;
            }
            let last = format!("{},1,2,0.5,1,", 1_600_000_000 + i * 60);
            let pad = 2 * CHUNK - text.len() - last.len() - usize::from(final_newline);
            text.push_str(&last);
            text.push_str(&"0".repeat(pad - 1));
            text.push('7');
            if final_newline {
                text.push('\n');
            }
            assert_eq!(text.len(), 2 * CHUNK);
            let [fast, general] = both_paths(text.as_bytes(), DataFormat::Auto, LoadOptions::default());
            assert_eq!(fast, general);
            let (ev, rep) = fast.unwrap();
            assert_eq!(rep.events, i as u64 + 1);
            let MarketEvent::Bar(_, b) = ev.last().unwrap() else { panic!() };
            assert_eq!(b.volume, dec!(7));
        }
    }

    fn arb_cell() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => (1u32..100_000, 0u32..4).prop_map(|(m, s)| Decimal::new(i64::from(m), s).to_string()),
            1 => Just(String::new()),
            1 => Just("-1".to_owned()),
            1 => Just("0".to_owned()),
            1 => Just(" 5 ".to_owned()),
            1 => Just("+5".to_owned()),
            1 => Just("5e0".to_owned()),
            1 => Just("5.00000000000000000000001".to_owned()),
            1 => Just("\"5\"".to_owned()),
        ]
    }

    fn arb_time(minute: i64) -> impl Strategy<Value = String> {
        let t = chrono::DateTime::from_timestamp(1_640_995_200 + minute * 60, 0).unwrap();
        prop_oneof![
            Just(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            Just(t.format("%Y-%m-%d %H:%M:%S.%3f").to_string()),
            Just(t.timestamp().to_string()),
            Just((t.timestamp() * 1000).to_string()),
            Just(t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()),
            Just(t.format("%Y-%m-%dT%H:%M").to_string()),
            Just("2022-02-30T00:00:00Z".to_owned()),
        ]
    }

    fn arb_row() -> impl Strategy<Value = String> {
        (0i64..50, prop::collection::vec(arb_cell(), 4..=6), prop::sample::select(vec!["\n", "\r\n", "\n\n"]))
            .prop_flat_map(|(minute, cells, end)| {
                arb_time(minute).prop_map(move |t| format!("{t},{}{end}", cells.join(",")))
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn both_paths_agree_on_any_rows(rows in prop::collection::vec(arb_row(), 1..40), header in any::<bool>(), skip_bad in any::<bool>(), cut in any::<bool>()) {
            let mut text = if header { "time,open,high,low,close,volume\n".to_owned() } else { String::new() };
            text.push_str(&rows.concat());
            if cut {
                text.truncate(text.trim_end().len());
            }
            let on_bad = if skip_bad { BadRowPolicy::Skip } else { BadRowPolicy::Reject };
            let opts = LoadOptions { on_bad, ..LoadOptions::default() };
            let [fast, general] = both_paths(text.as_bytes(), DataFormat::Auto, opts);
            prop_assert_eq!(fast, general);
        }
    }

    #[test]
    fn layout_errors_say_what_to_do() {
        let cases = [
            ("when,price_x\n1,2\n", DataFormat::Auto, "names no known layout"),
            ("foo,open,high,low,close\n", DataFormat::Auto, "no time column"),
            ("time,open,high,close\n", DataFormat::Ohlcv, "no low column"),
            ("2022-01-01,1,2\n", DataFormat::Auto, "found 3 columns"),
            ("2022-01-01,1\n", DataFormat::Trades, "needs ts,price,size"),
        ];
        for (text, format, want) in cases {
            let err = load(text, format, LoadOptions::default()).unwrap_err().to_string();
            assert!(err.contains(":") && err.contains(want), "{text:?}: {err}");
        }
        let err = crate::data::csv::read_bars(Path::new("/nonexistent/bars.csv")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/bars.csv: "), "{err}");
    }

    #[test]
    fn empty_and_header_only_files_give_no_events() {
        for text in ["", "\n\n", "timestamp,open,high,low,close,volume\n"] {
            let (ev, rep) = load(text, DataFormat::Auto, LoadOptions::default()).unwrap();
            assert!(ev.is_empty() && rep.rows_read == 0, "{text:?}");
        }
    }

    #[test]
    fn garbage_bytes_never_panic() {
        let junk =
            b"time,open,high,low,close\n\xff\xfe,\x00,1,2\n2022-01-01,\xff,2,1,1\n\"\",,,,\n2022-01-02,1,1,1,1\n";
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(junk).unwrap();
        let spec = DataSpec::new(f.path()).with_symbol(Symbol::try_new("X").unwrap()).with_format(DataFormat::Ohlcv);
        let opts = skip();
        let mut src = open(&spec, &opts).unwrap();
        let mut n = 0;
        while src.next_event().unwrap().is_some() {
            n += 1;
        }
        assert_eq!((n, src.report().skipped_total()), (1, 3));
        // The same first line as a header is refused with the file named, not a panic.
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&junk[25..]).unwrap();
        let Err(err) = open(&DataSpec::new(f.path()).with_symbol(Symbol::try_new("X").unwrap()), &opts) else {
            panic!("a garbage header opened");
        };
        assert!(err.to_string().contains("names no known layout"), "{err}");
    }
}
