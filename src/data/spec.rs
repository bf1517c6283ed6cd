//! What to load: a `--data` argument (`[SYMBOL=]path`), its format, and the load options.

use super::error::DataError;
use crate::model::{Symbol, Timestamp};
use serde::Serialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The layout of a data file. `Auto` decides from the file (see [`super::open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataFormat {
    /// Decide from the extension and the first line.
    #[default]
    Auto,
    /// Generic OHLCV CSV, header optional.
    Ohlcv,
    /// Binance public-archive kline CSV (12 columns, no header, open time in ms or µs).
    BinanceKline,
    /// Alpaca bars JSON (`{"bars":[…]}`, `{"bars":{"SYM":[…]}}`, or one bar object per line).
    AlpacaBars,
    /// Trade ticks CSV: `ts,price,size`.
    Trades,
    /// Quote ticks CSV: `ts,bid,ask,bid_size,ask_size`.
    Quotes,
}

impl DataFormat {
    /// The name used on the command line and in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Auto => "auto",
            Self::Ohlcv => "ohlcv",
            Self::BinanceKline => "binance-kline",
            Self::AlpacaBars => "alpaca-bars",
            Self::Trades => "trades",
            Self::Quotes => "quotes",
        }
    }
}

impl fmt::Display for DataFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataFormat {
    type Err = DataError;

    /// Case-insensitive; `_` and `-` are the same; `csv`, `binance`, `alpaca` are accepted too.
    fn from_str(s: &str) -> Result<Self, DataError> {
        Ok(match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "auto" => Self::Auto,
            "ohlcv" | "csv" => Self::Ohlcv,
            "binance-kline" | "binance-klines" | "binance" | "kline" | "klines" => Self::BinanceKline,
            "alpaca-bars" | "alpaca" | "json" => Self::AlpacaBars,
            "trades" | "trade" => Self::Trades,
            "quotes" | "quote" => Self::Quotes,
            _ => {
                return Err(DataError::Spec {
                    input: s.to_owned(),
                    message: "unknown format; use auto, ohlcv, binance-kline, alpaca-bars, trades or quotes".to_owned(),
                })
            }
        })
    }
}

/// One data input: a file, the symbol its events carry, and its format.
///
/// Symbol rule: the `SYMBOL=` prefix wins; else the file stem up to the first `_` or `-`,
/// uppercased (`orcl_1d_1995-2014.csv` → `ORCL`, `BTCUSDT-1m-2024-01.csv` → `BTCUSDT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    /// The file to read.
    pub path: PathBuf,
    /// The symbol to stamp on its events; `None` derives it from the file name.
    pub symbol: Option<Symbol>,
    /// The file's layout.
    pub format: DataFormat,
}

impl DataSpec {
    /// An input for `path` with the symbol from the file name and `Auto` format.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), symbol: None, format: DataFormat::Auto }
    }

    /// The same input with an explicit symbol.
    #[must_use]
    pub fn with_symbol(mut self, symbol: Symbol) -> Self {
        self.symbol = Some(symbol);
        self
    }

    /// The same input with an explicit format.
    #[must_use]
    pub fn with_format(mut self, format: DataFormat) -> Self {
        self.format = format;
        self
    }

    /// The symbol this input's events carry (see the rule on [`DataSpec`]).
    ///
    /// # Errors
    /// [`DataError::File`] when there is no `SYMBOL=` and the file name gives no valid symbol.
    pub fn resolved_symbol(&self) -> Result<Symbol, DataError> {
        if let Some(s) = &self.symbol {
            return Ok(s.clone());
        }
        stem_symbol(&self.path).ok_or_else(|| DataError::File {
            path: self.path.clone(),
            message: "cannot take a symbol from the file name (letters and digits before the first '_' or '-'); \
                      give one as SYMBOL=path"
                .to_owned(),
        })
    }
}

fn stem_symbol(path: &Path) -> Option<Symbol> {
    let stem = path.file_stem()?.to_str()?;
    let head = stem.split(['_', '-']).next()?;
    if !head.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    Symbol::try_new(head.to_ascii_uppercase()).ok()
}

/// Text that can be a `SYMBOL=` prefix: non-empty; letters, digits, `.`, `_`, `-`, `:` (no
/// `/`, so a path holding `=` is never mistaken for one).
fn symbol_prefix(s: &str) -> Option<Symbol> {
    let ok = !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
    if ok {
        Symbol::try_new(s).ok()
    } else {
        None
    }
}

impl FromStr for DataSpec {
    type Err = DataError;

    /// `SYMBOL=path` or a bare path. The text before the first `=` is a symbol only when it
    /// could be a symbol (letters, digits, `.`, `_`, `-`, `:`); otherwise the whole text is the path.
    fn from_str(s: &str) -> Result<Self, DataError> {
        let err = |message: &str| DataError::Spec { input: s.to_owned(), message: message.to_owned() };
        if let Some((sym, path)) = s.split_once('=') {
            if let Some(symbol) = symbol_prefix(sym) {
                if path.is_empty() {
                    return Err(err("no file after 'SYMBOL='"));
                }
                return Ok(Self::new(path).with_symbol(symbol));
            }
            if sym.is_empty() {
                return Err(err("empty symbol before '='"));
            }
        }
        if s.is_empty() {
            return Err(err("empty path"));
        }
        Ok(Self::new(s))
    }
}

/// Parses a `--from`/`--to` time with the loaders' own rules: ISO-8601 date or date-time
/// (UTC when no zone is given) or epoch seconds/ms/µs/ns.
///
/// # Errors
/// [`DataError::Spec`] saying what the text should look like.
pub fn parse_time(text: &str) -> Result<Timestamp, DataError> {
    super::parse::parse_timestamp(text.trim().as_bytes())
        .map_err(|message| DataError::Spec { input: text.to_owned(), message })
}

/// What to do with a row that breaks a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BadRowPolicy {
    /// The first bad row is an error naming file and line.
    #[default]
    Reject,
    /// Bad rows are skipped and counted by reason in the report.
    Skip,
}

impl FromStr for BadRowPolicy {
    type Err = DataError;

    fn from_str(s: &str) -> Result<Self, DataError> {
        match s.to_ascii_lowercase().as_str() {
            "reject" => Ok(Self::Reject),
            "skip" => Ok(Self::Skip),
            _ => Err(DataError::Spec { input: s.to_owned(), message: "bad-row policy is reject or skip".to_owned() }),
        }
    }
}

/// How to load: bad-row policy and an optional time window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LoadOptions {
    /// Reject (default) or skip bad rows.
    pub on_bad: BadRowPolicy,
    /// First time to emit (inclusive).
    pub from: Option<Timestamp>,
    /// Time to stop at (exclusive); reading stops at the first row at or after it.
    pub to: Option<Timestamp>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_symbol_prefix_or_stem() {
        let s: DataSpec = "ORCL=examples/data/orcl.csv".parse().unwrap();
        assert_eq!((s.symbol.unwrap().as_str(), s.path), ("ORCL", PathBuf::from("examples/data/orcl.csv")));
        let s: DataSpec = "examples/data/orcl_1d_1995-2014.csv".parse().unwrap();
        assert_eq!(s.symbol, None);
        assert_eq!(s.resolved_symbol().unwrap().as_str(), "ORCL");
        let s: DataSpec = "data/BTCUSDT-1m-2024-01.csv".parse().unwrap();
        assert_eq!(s.resolved_symbol().unwrap().as_str(), "BTCUSDT");
        // A '=' inside a path that is not a symbol keeps the whole text as the path.
        let s: DataSpec = "runs/a=b/x.csv".parse().unwrap();
        assert_eq!((s.symbol, s.path), (None, PathBuf::from("runs/a=b/x.csv")));
    }

    #[test]
    fn bad_specs_are_errors() {
        for (text, want) in [("", "empty path"), ("ORCL=", "no file"), ("=x.csv", "empty symbol")] {
            let err = text.parse::<DataSpec>().unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        let err = DataSpec::new("dir/my data.csv").resolved_symbol().unwrap_err().to_string();
        assert!(err.contains("dir/my data.csv") && err.contains("SYMBOL=path"), "{err}");
    }

    #[test]
    fn time_arguments() {
        assert_eq!(parse_time("2022-01-01").unwrap(), Timestamp::from_secs(1_640_995_200));
        assert_eq!(parse_time(" 1640995200000 ").unwrap(), Timestamp::from_secs(1_640_995_200));
        let err = parse_time("last week").unwrap_err().to_string();
        assert!(err.contains("'last week'") && err.contains("ISO-8601"), "{err}");
    }

    #[test]
    fn format_and_policy_names() {
        for f in [
            DataFormat::Auto,
            DataFormat::Ohlcv,
            DataFormat::BinanceKline,
            DataFormat::AlpacaBars,
            DataFormat::Trades,
            DataFormat::Quotes,
        ] {
            assert_eq!(f.as_str().parse::<DataFormat>().unwrap(), f);
        }
        assert_eq!("Binance_Kline".parse::<DataFormat>().unwrap(), DataFormat::BinanceKline);
        assert!("parquet".parse::<DataFormat>().unwrap_err().to_string().contains("unknown format"));
        assert_eq!("Skip".parse::<BadRowPolicy>().unwrap(), BadRowPolicy::Skip);
        assert!("drop".parse::<BadRowPolicy>().is_err());
    }
}
