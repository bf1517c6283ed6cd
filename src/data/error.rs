//! What can go wrong reading recorded prices, with the file and line to look at.

use serde::Serialize;
use std::fmt;
use std::path::PathBuf;
use thiserror::Error;

/// Why a row was refused. Stable names: they are the keys of the skip counts in reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowProblem {
    /// Wrong column count, or a cell that is not a number/timestamp.
    Malformed,
    /// A price at or below zero.
    NonPositivePrice,
    /// `high` below `low`.
    HighBelowLow,
    /// `open` or `close` outside `[low, high]`.
    OutsideRange,
    /// A negative volume or size.
    NegativeSize,
    /// A bid above the ask.
    CrossedQuote,
    /// A timestamp before the previous row's.
    Unsorted,
    /// The same timestamp as the previous row.
    Duplicate,
}

impl RowProblem {
    /// The stable snake_case name used in reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NonPositivePrice => "non_positive_price",
            Self::HighBelowLow => "high_below_low",
            Self::OutsideRange => "outside_range",
            Self::NegativeSize => "negative_size",
            Self::CrossedQuote => "crossed_quote",
            Self::Unsorted => "unsorted",
            Self::Duplicate => "duplicate",
        }
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A data input that cannot be read. Every variant names the file (and line, for rows).
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
    /// A row is malformed or breaks a price rule (and bad rows are not being skipped).
    #[error("{path}:{line}: {message}", path = path.display())]
    Row {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The kind of problem.
        problem: RowProblem,
        /// What is wrong, with the field and value.
        message: String,
    },
    /// The file as a whole cannot be used: unknown layout, missing columns, no symbol.
    #[error("{path}: {message}", path = path.display())]
    File {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A `--data` argument or format name that cannot be understood.
    #[error("data input '{input}': {message}")]
    Spec {
        /// The text given.
        input: String,
        /// What is wrong.
        message: String,
    },
}
