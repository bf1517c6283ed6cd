//! Alpaca bars JSON: `{"bars":[…]}` (one symbol), `{"bars":{"SYM":[…]}}` (several; the
//! input's symbol picks one), a top-level array of bars, or one bar object per line.
//!
//! A bar is `{"t": RFC 3339 start time, "o","h","l","c": number, "v": number, …}`; other keys
//! (`n`, `vw`) are ignored. Numbers are read from their JSON text exactly (no float), and may
//! also be strings. The whole file is read into memory once (JSON documents are not
//! line-oriented); each bar is parsed only when it is reached, so memory is the file's size
//! plus 16 bytes per bar.

use super::bar::{Bar, MarketEvent};
use super::error::{DataError, RowProblem};
use super::parse::{parse_decimal, parse_timestamp};
use super::source::{check_bar, Admit, Broken, EventSource, RowGate, SourceReport};
use super::spec::{DataFormat, LoadOptions};
use crate::model::Symbol;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::Path;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    bars: &'a RawValue,
    /// Set (not null) when the response is one page of a longer one.
    #[serde(default, borrow)]
    next_page_token: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireBar<'a> {
    t: &'a str,
    #[serde(borrow)]
    o: &'a RawValue,
    #[serde(borrow)]
    h: &'a RawValue,
    #[serde(borrow)]
    l: &'a RawValue,
    #[serde(borrow)]
    c: &'a RawValue,
    #[serde(borrow, default)]
    v: Option<&'a RawValue>,
}

/// A source over one Alpaca bars JSON file.
#[derive(Debug)]
pub struct AlpacaSource {
    text: String,
    items: Vec<Range<usize>>,
    next: usize,
    line: usize,
    line_at: usize,
    symbol: Symbol,
    gate: RowGate,
}

fn offset(text: &str, part: &str) -> Range<usize> {
    let start = part.as_ptr() as usize - text.as_ptr() as usize;
    start..start + part.len()
}

fn line_of(text: &str, at: usize) -> usize {
    1 + text.as_bytes()[..at].iter().filter(|&&b| b == b'\n').count()
}

/// The byte ranges of every bar object in the document, in file order.
fn locate(text: &str, symbol: &Symbol) -> Result<Vec<Range<usize>>, String> {
    let body = text.trim_start();
    let json_err = |e: serde_json::Error| format!("line {}: not Alpaca bars JSON: {e}", e.line());
    if body.starts_with('[') {
        let list: Vec<&RawValue> = serde_json::from_str(body).map_err(json_err)?;
        return Ok(list.iter().map(|r| offset(text, r.get())).collect());
    }
    // One bar object per line: the first line is a whole object with a "t" key.
    let first = body.lines().next().unwrap_or("");
    if serde_json::from_str::<WireBar<'_>>(first).is_ok() {
        return Ok(text.lines().filter(|l| !l.trim().is_empty()).map(|l| offset(text, l)).collect());
    }
    let envelope: Envelope<'_> = serde_json::from_str(body).map_err(json_err)?;
    if let Some(token) = envelope.next_page_token {
        return Err(format!(
            "is one page of a longer response (next_page_token {} is set): the bars after it are \
             missing; fetch every page and merge them into one file, or set the token to null to \
             use this page alone",
            token.get()
        ));
    }
    let bars = envelope.bars.get();
    if bars.starts_with('[') {
        let list: Vec<&RawValue> = serde_json::from_str(bars).map_err(json_err)?;
        return Ok(list.iter().map(|r| offset(text, r.get())).collect());
    }
    let map: BTreeMap<&str, Vec<&RawValue>> = serde_json::from_str(bars).map_err(json_err)?;
    match map.get(symbol.as_str()) {
        Some(list) => Ok(list.iter().map(|r| offset(text, r.get())).collect()),
        None if map.len() == 1 => Ok(map.values().flatten().map(|r| offset(text, r.get())).collect()),
        None => Err(format!(
            "holds bars for {} but not {symbol}; pick one with SYMBOL=path",
            map.keys().copied().collect::<Vec<_>>().join(", ")
        )),
    }
}

fn number(raw: &RawValue, name: &str) -> Result<Decimal, Broken> {
    let text = raw.get().trim_matches('"');
    parse_decimal(text.as_bytes())
        .or_else(
            |why| {
                if text.contains(['e', 'E']) {
                    Decimal::from_scientific(text).map_err(|_| why)
                } else {
                    Err(why)
                }
            },
        )
        .map_err(|why| (RowProblem::Malformed, format!("{name} '{text}' is not a decimal number: {why}")))
}

impl AlpacaSource {
    /// Reads the file and finds its bars (see the module docs for the shapes accepted).
    ///
    /// # Errors
    /// [`DataError::Io`] when unreadable, [`DataError::File`] when not Alpaca bars JSON.
    pub fn open(path: &Path, symbol: Symbol, opts: &LoadOptions) -> Result<Self, DataError> {
        let text = std::fs::read_to_string(path).map_err(|source| DataError::Io { path: path.to_owned(), source })?;
        let items = if text.trim().is_empty() {
            Vec::new()
        } else {
            locate(&text, &symbol).map_err(|message| DataError::File { path: path.to_owned(), message })?
        };
        let gate = RowGate::new(path, &symbol, DataFormat::AlpacaBars, opts);
        Ok(Self { text, items, next: 0, line: 1, line_at: 0, symbol, gate })
    }

    fn bar(&self, raw: &str) -> Result<Bar, Broken> {
        let w: WireBar<'_> =
            serde_json::from_str(raw).map_err(|e| (RowProblem::Malformed, format!("bar object: {e}")))?;
        let ts = parse_timestamp(w.t.as_bytes()).map_err(|m| (RowProblem::Malformed, m))?;
        let volume = match w.v {
            Some(v) => number(v, "v")?,
            None => Decimal::ZERO,
        };
        Ok(Bar {
            ts,
            open: number(w.o, "o")?,
            high: number(w.h, "h")?,
            low: number(w.l, "l")?,
            close: number(w.c, "c")?,
            volume,
        })
    }
}

impl EventSource for AlpacaSource {
    fn next_event(&mut self) -> Result<Option<MarketEvent>, DataError> {
        while let Some(range) = self.items.get(self.next).cloned() {
            self.next += 1;
            self.line += line_of(&self.text[self.line_at..], range.start - self.line_at) - 1;
            self.line_at = range.start;
            self.gate.row();
            let line = self.line;
            let bar = match self.bar(&self.text[range]) {
                Ok(bar) => bar,
                Err((problem, message)) => {
                    self.gate.bad(line, problem, message)?;
                    continue;
                }
            };
            match self.gate.admit(line, bar.ts, check_bar(&bar))? {
                Admit::Go => {}
                Admit::Skip => continue,
                Admit::End => {
                    self.next = self.items.len();
                    break;
                }
            }
            return Ok(Some(MarketEvent::Bar(self.symbol.clone(), bar)));
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
    use crate::data::spec::BadRowPolicy;
    use crate::model::Timestamp;
    use rust_decimal_macros::dec;
    use std::io::Write;

    fn load(text: &str, symbol: &str, opts: &LoadOptions) -> Result<(Vec<Bar>, SourceReport), DataError> {
        let mut f = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let mut src = AlpacaSource::open(f.path(), Symbol::try_new(symbol).unwrap(), opts)?;
        let mut out = Vec::new();
        while let Some(e) = src.next_event()? {
            let MarketEvent::Bar(s, b) = e else { panic!("not a bar") };
            assert_eq!(s.as_str(), symbol);
            out.push(b);
        }
        Ok((out, src.report()))
    }

    const ONE: &str = r#"{"bars":[
{"t":"2024-07-29T13:30:00Z","o":190.1,"h":190.4,"l":189.9,"c":190.2,"v":120345,"n":1502,"vw":190.18},
{"t":"2024-07-29T13:31:00Z","o":"190.2","h":190.5,"l":190.0,"c":190.45,"v":9876}
],"symbol":"AAPL","next_page_token":null}"#;

    #[test]
    fn single_symbol_shape_reads_numbers_exactly() {
        let (bars, rep) = load(ONE, "AAPL", &LoadOptions::default()).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[0].ts, Timestamp::parse_rfc3339("2024-07-29T13:30:00Z").unwrap());
        assert_eq!(
            (bars[0].open, bars[0].high, bars[0].low, bars[0].close),
            (dec!(190.1), dec!(190.4), dec!(189.9), dec!(190.2))
        );
        assert_eq!((bars[1].open, bars[1].close, bars[1].volume), (dec!(190.2), dec!(190.45), dec!(9876)));
        assert_eq!((rep.rows_read, rep.format), (2, DataFormat::AlpacaBars));
    }

    #[test]
    fn multi_symbol_shape_picks_the_symbol() {
        let text = r#"{"bars":{"AAPL":[{"t":"2024-07-29T13:30:00Z","o":1,"h":2,"l":1,"c":2,"v":1}],
"MSFT":[{"t":"2024-07-29T13:30:00Z","o":5,"h":6,"l":4,"c":5,"v":3},{"t":"2024-07-29T13:31:00Z","o":5,"h":6,"l":4,"c":6,"v":3}]},"next_page_token":null}"#;
        let (bars, _) = load(text, "MSFT", &LoadOptions::default()).unwrap();
        assert_eq!(bars.iter().map(|b| b.close).collect::<Vec<_>>(), [dec!(5), dec!(6)]);
        let err = load(text, "TSLA", &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("holds bars for AAPL, MSFT but not TSLA"), "{err}");
        // A single-key map serves whatever symbol the input names.
        let single = r#"{"bars":{"BTC/USD":[{"t":"2024-07-29T13:30:00Z","o":1,"h":2,"l":1,"c":2,"v":1}]}}"#;
        assert_eq!(load(single, "BTCUSD", &LoadOptions::default()).unwrap().0.len(), 1);
    }

    #[test]
    fn one_object_per_line_and_bad_rows_have_lines() {
        let text = "{\"t\":\"2024-01-02T00:00:00Z\",\"o\":1,\"h\":2,\"l\":1,\"c\":2}\n\n\
                    {\"t\":\"2024-01-03T00:00:00Z\",\"o\":1,\"h\":2,\"l\":3,\"c\":2}\n\
                    {\"t\":\"2024-01-04T00:00:00Z\",\"o\":1.5e0,\"h\":2,\"l\":1,\"c\":2}\n";
        let err = load(text, "X", &LoadOptions::default()).unwrap_err();
        assert!(err.to_string().contains(":3: high 2 is below low 3"), "{err}");
        let skip = LoadOptions { on_bad: BadRowPolicy::Skip, ..LoadOptions::default() };
        let (bars, rep) = load(text, "X", &skip).unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars[1].open, dec!(1.5));
        assert_eq!(rep.skipped_examples[0].line, 3);
        assert_eq!(bars[0].volume, dec!(0));
    }

    #[test]
    fn broken_json_names_the_line() {
        let err = load("{\"bars\":[\n{\"t\":\"2024-01-02T00:00:00Z\",\"o\":1,,}\n]}", "X", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2: not Alpaca bars JSON"), "{err}");
        let err =
            load(ONE.replace("190.45", "\"abc\"").as_str(), "X", &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains(":3: c 'abc' is not a decimal number"), "{err}");
        let err = load(ONE.replace("\"t\":\"2024-07-29T13:31:00Z\",", "").as_str(), "X", &LoadOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(":3: bar object: missing field `t`"), "{err}");
    }

    #[test]
    fn a_page_with_more_to_come_is_refused_naming_the_token() {
        // Before: the page loaded and the backtest silently ended where the page did.
        let paged = ONE.replace("\"next_page_token\":null", "\"next_page_token\":\"QUFQTHxNfDIwMjQ\"");
        let err = load(&paged, "AAPL", &LoadOptions::default()).unwrap_err().to_string();
        assert!(err.contains("is one page of a longer response (next_page_token \"QUFQTHxNfDIwMjQ\" is set)"), "{err}");
        assert!(err.contains(".json: "), "names the file: {err}");
        // Null or absent: the whole response.
        assert_eq!(load(ONE, "AAPL", &LoadOptions::default()).unwrap().0.len(), 2);
        let absent = ONE.replace(",\"next_page_token\":null", "");
        assert_eq!(load(&absent, "AAPL", &LoadOptions::default()).unwrap().0.len(), 2);
    }
}
