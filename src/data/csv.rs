//! Generic OHLCV CSV: `timestamp,open,high,low,close[,volume]` with an optional header.
//!
//! Timestamps are ISO-8601 (`2022-01-01T00:00:00Z`, `2022-01-01 00:00:00`, `2022-01-01`) or
//! epoch seconds/milliseconds/microseconds/nanoseconds (told apart by magnitude). Every row is
//! checked; the first bad row stops the read with its file and line.

use super::bar::Bar;
use crate::model::Timestamp;
use rust_decimal::Decimal;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// A CSV file that cannot be read as bars. Names the file and line.
#[derive(Debug, Error)]
pub enum DataError {
    /// The file cannot be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A row is malformed or breaks a bar rule.
    #[error("{path}:{line}: {message}")]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Parses a timestamp cell (ISO-8601 or epoch s/ms/µs/ns).
///
/// # Errors
/// A message saying what the cell held.
pub fn parse_timestamp(cell: &str) -> Result<Timestamp, String> {
    let cell = cell.trim();
    if let Ok(n) = cell.parse::<i64>() {
        let abs = n.unsigned_abs();
        let nanos = if abs < 100_000_000_000 {
            n.checked_mul(1_000_000_000)
        } else if abs < 100_000_000_000_000 {
            n.checked_mul(1_000_000)
        } else if abs < 100_000_000_000_000_000 {
            n.checked_mul(1_000)
        } else {
            Some(n)
        };
        return nanos.map(Timestamp).ok_or_else(|| format!("epoch timestamp {cell} is out of range"));
    }
    if let Ok(t) = Timestamp::parse_rfc3339(cell) {
        return Ok(t);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(cell, "%Y-%m-%dT%H:%M:%S%.f"))
        .or_else(|_| chrono::NaiveDate::parse_from_str(cell, "%Y-%m-%d").map(|d| d.and_time(chrono::NaiveTime::MIN)));
    match naive {
        Ok(dt) => dt
            .and_utc()
            .timestamp_nanos_opt()
            .map(Timestamp)
            .ok_or_else(|| format!("timestamp '{cell}' is out of range")),
        Err(_) => Err(format!("'{cell}' is not a timestamp (ISO-8601 or epoch s/ms/us/ns)")),
    }
}

fn number(cell: &str, field: &str) -> Result<Decimal, String> {
    let cell = cell.trim();
    Decimal::from_str(cell)
        .or_else(|_| Decimal::from_scientific(cell))
        .map_err(|_| format!("{field} '{cell}' is not a number"))
}

/// Reads every bar of a CSV file, checking each row.
///
/// # Errors
/// [`DataError`] naming the file and line of the first bad row: wrong column count, a cell
/// that is not a number or timestamp, a negative or zero price, high below low, open/close
/// outside [low, high], negative volume, or a timestamp not after the previous one.
pub fn read_bars(path: &Path) -> Result<Vec<Bar>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io { path: path.to_owned(), source })?;
    let reader = std::io::BufReader::new(file);
    let mut bars = Vec::new();
    let mut prev: Option<Timestamp> = None;
    for (idx, line) in reader.lines().enumerate() {
        let line_no = idx + 1;
        let line = line.map_err(|source| DataError::Io { path: path.to_owned(), source })?;
        let row = |message: String| DataError::Row { path: path.to_owned(), line: line_no, message };
        if line.trim().is_empty() {
            continue;
        }
        let cells: Vec<&str> = line.split(',').collect();
        if idx == 0 && parse_timestamp(cells[0]).is_err() {
            continue; // header
        }
        if cells.len() < 5 || cells.len() > 6 {
            return Err(row(format!(
                "expected 5 or 6 columns (timestamp,open,high,low,close[,volume]), found {}",
                cells.len()
            )));
        }
        let ts = parse_timestamp(cells[0]).map_err(row)?;
        let open = number(cells[1], "open").map_err(row)?;
        let high = number(cells[2], "high").map_err(row)?;
        let low = number(cells[3], "low").map_err(row)?;
        let close = number(cells[4], "close").map_err(row)?;
        let volume = match cells.get(5) {
            Some(v) => number(v, "volume").map_err(row)?,
            None => Decimal::ZERO,
        };
        if [open, high, low, close].iter().any(|p| *p <= Decimal::ZERO) {
            return Err(row("prices must be greater than 0".to_owned()));
        }
        if high < low {
            return Err(row(format!("high {high} is below low {low}")));
        }
        if open > high || open < low || close > high || close < low {
            return Err(row(format!("open {open} / close {close} outside [low {low}, high {high}]")));
        }
        if volume < Decimal::ZERO {
            return Err(row(format!("volume {volume} is negative")));
        }
        if let Some(p) = prev {
            if ts <= p {
                return Err(row(format!("timestamp {ts} is not after the previous row's {p}")));
            }
        }
        prev = Some(ts);
        bars.push(Bar { ts, open, high, low, close, volume });
    }
    Ok(bars)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use std::io::Write;

    fn write(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn reads_header_iso_and_epoch_rows() {
        let f = write("timestamp,open,high,low,close,volume\n2022-01-01T00:00:00Z,1,2,0.5,1.5,10\n1640995260,1.5,1.6,1.4,1.5,0\n1640995320000,1.5,1.6,1.4,1.55\n");
        let bars = read_bars(f.path()).unwrap();
        assert_eq!(bars.len(), 3);
        assert_eq!(bars[0].ts, Timestamp::from_secs(1_640_995_200));
        assert_eq!(bars[1].ts, Timestamp::from_secs(1_640_995_260));
        assert_eq!(bars[2].ts, Timestamp::from_secs(1_640_995_320));
        assert_eq!((bars[0].high, bars[2].close, bars[2].volume), (dec!(2), dec!(1.55), dec!(0)));
    }

    #[test]
    fn bad_rows_name_file_and_line() {
        let cases = [
            ("t,o,h,l,c\n2022-01-01,1,2,0.5,x\n", ":2: close 'x' is not a number"),
            ("2022-01-01,1,2,3,1\n", ":1: high 2 is below low 3"),
            ("2022-01-01,1,2,0.5,1\n2022-01-01,1,2,0.5,1\n", ":2: timestamp"),
            ("2022-01-01,-1,2,0.5,1\n", "prices must be greater than 0"),
            ("2022-01-01,1,2\n", "expected 5 or 6 columns"),
            ("2022-01-01,1,2,0.5,1,-3\n", "volume -3 is negative"),
            ("2022-01-01,3,2,0.5,1\n", "outside [low 0.5, high 2]"),
        ];
        for (text, want) in cases {
            let f = write(text);
            let err = read_bars(f.path()).unwrap_err().to_string();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.starts_with(&f.path().display().to_string()), "{err}");
        }
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let err = read_bars(Path::new("/nonexistent/bars.csv")).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/bars.csv: "), "{err}");
    }
}
