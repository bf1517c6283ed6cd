//! The one error type of the store: every variant says what failed and where.

use thiserror::Error;

/// Why a store operation failed.
///
/// Messages name the backend, table and operation; URLs in messages have their password
/// replaced by `***`.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database URL cannot be used.
    #[error("bad database URL '{url}': {reason}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The database could not be opened or reached.
    #[error("cannot connect to {backend} database '{url}': {source}")]
    Connect {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The URL, password redacted.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A connection setting (pragma) could not be applied or read.
    #[error("{backend}: cannot {what}: {source}")]
    Setup {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// The migrations could not be applied.
    #[error("cannot run {backend} migrations: {source}")]
    Migrate {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The migrator's error.
        source: sqlx::migrate::MigrateError,
    },
    /// Beginning or committing a transaction failed.
    #[error("{backend}: cannot {op} transaction: {source}")]
    Transaction {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// `begin` or `commit`.
        op: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Writing rows failed; the whole batch was rolled back.
    #[error("{backend}: {op} of {rows} row(s) into '{table}' failed, batch rolled back: {source}")]
    Write {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// The table.
        table: &'static str,
        /// `insert`, `upsert`, `update` or `delete`.
        op: &'static str,
        /// How many rows the failing write carried (on SQLite the message also names the
        /// refused row by its key).
        rows: usize,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Reading rows failed.
    #[error("{backend}: reading {what} failed: {source}")]
    Read {
        /// `sqlite` or `postgres`.
        backend: &'static str,
        /// What was being read.
        what: &'static str,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// A stored value cannot be turned back into the model.
    #[error("corrupt row in '{table}' (key {key}): column {column} = '{value}': {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// The column.
        column: &'static str,
        /// The stored value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The async runtime the store runs on could not start.
    #[error("cannot start the store's async runtime: {0}")]
    Runtime(String),
    /// A batch was refused because one queued before it failed to commit: the journal's
    /// writer stops at its first failure, so nothing after it is written.
    #[error("not written: an earlier batch failed to commit ({0}); the journal writes nothing after a failure")]
    EarlierCommitFailed(String),
    /// The journal's writer is gone (its runtime shut down), so the batch was not written.
    #[error("the journal's writer stopped before the batch was committed")]
    WriterGone,
    /// A batch that cannot be written as it is (nothing was written).
    #[error("invalid write batch: {0}")]
    InvalidBatch(String),
    /// Writing an export failed.
    #[error("exporting {what} as {format} failed: {reason}")]
    Export {
        /// `orders` or `trades`.
        what: &'static str,
        /// `csv` or `json`.
        format: &'static str,
        /// The writer's or encoder's error.
        reason: String,
    },
}

/// The URL with any password replaced by `***`, safe to log and to put in an error.
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_owned() };
    let auth_start = scheme_end + 3;
    let rest = &url[auth_start..];
    let auth_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..auth_end];
    let Some(at) = authority.rfind('@') else { return url.to_owned() };
    let userinfo = &authority[..at];
    match userinfo.find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..auth_start], &userinfo[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_a_message() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db?x=1"), "postgres://u:***@h:5432/db?x=1");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact_url("sqlite://data/lt.db"), "sqlite://data/lt.db");
        assert_eq!(redact_url("postgres://u:p@ss@h/db"), "postgres://u:***@h/db");
    }
}
