//! Market data: bars, trades and quotes, and the loaders that stream recorded prices.
//!
//! [`open`] turns one [`DataSpec`] (`[SYMBOL=]path`) into an [`EventSource`]; a
//! [`MergedStream`] merges several by time. Loaders stream (memory does not grow with the
//! file; Alpaca JSON is the exception, see [`alpaca_bars`]), check every row (prices above
//! zero, high ≥ low, open/close within the range, volume ≥ 0, strictly increasing time) and
//! either reject the first bad row with its file and line or skip and count it
//! ([`BadRowPolicy`]). Gaps are reported per [`source::GAP_RULE`].
//!
//! Must not know about orders.

pub mod alpaca_bars;
pub mod bar;
pub mod csv;
pub mod error;
mod fast;
mod lines;
mod parse;
pub mod replay;
pub mod source;
pub mod spec;

pub use bar::{Bar, MarketEvent, QuoteTick, TradeTick};
pub use error::{DataError, RowProblem};
pub use replay::{DataReport, MergedStream};
pub use source::{EventSource, Gap, MemorySource, SkippedRow, SourceReport};
pub use spec::{parse_time, BadRowPolicy, DataFormat, DataSpec, LoadOptions};

/// Opens one input as a stream of events.
///
/// `Auto` format: `.json`, `.jsonl` and `.ndjson` files are Alpaca bars; anything else is CSV
/// whose layout is decided from the first line (see [`csv`]).
///
/// # Errors
/// [`DataError`] when the file cannot be read, its layout is unknown, or no symbol can be
/// derived from its name.
pub fn open(spec: &DataSpec, opts: &LoadOptions) -> Result<Box<dyn EventSource>, DataError> {
    let symbol = spec.resolved_symbol()?;
    let json = spec
        .path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| ["json", "jsonl", "ndjson"].contains(&e.to_ascii_lowercase().as_str()));
    match spec.format {
        DataFormat::AlpacaBars => Ok(Box::new(alpaca_bars::AlpacaSource::open(&spec.path, symbol, opts)?)),
        DataFormat::Auto if json => Ok(Box::new(alpaca_bars::AlpacaSource::open(&spec.path, symbol, opts)?)),
        format => Ok(Box::new(csv::CsvSource::open(&spec.path, symbol, format, opts)?)),
    }
}
