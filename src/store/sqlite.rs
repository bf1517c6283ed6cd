//! The SQLite side: connect options (WAL, `synchronous`), migrations, and the dialect.

use super::error::{redact_url, StoreError};
use super::jsonb::column_path;
use super::sql::{dialect_io, Column, Dialect, WriteMode};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// How hard SQLite works to make a commit durable (`PRAGMA synchronous`).
///
/// Set it with the URL parameter `synchronous=full|normal|off`
/// (`sqlite://data/luatrade.db?synchronous=normal`) or with
/// [`Store::connect_with`](super::Store::connect_with).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SqliteSync {
    /// Every commit reaches the disk before `apply` returns: a committed batch survives a
    /// power cut. The default, for real money.
    #[default]
    Full,
    /// Commits are durable across a process crash but the last ones may be lost on a power
    /// cut (WAL stays consistent). Faster; fine for backtests and paper trading.
    Normal,
    /// No syncing at all: a power cut can corrupt the file. Only for throwaway databases.
    Off,
}

impl SqliteSync {
    /// The URL parameter value (`full`, `normal`, `off`).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Normal => "normal",
            Self::Off => "off",
        }
    }

    /// Parses a URL parameter value, ignoring case.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Full, Self::Normal, Self::Off].into_iter().find(|v| v.as_str().eq_ignore_ascii_case(s))
    }

    fn pragma(self) -> SqliteSynchronous {
        match self {
            Self::Full => SqliteSynchronous::Full,
            Self::Normal => SqliteSynchronous::Normal,
            Self::Off => SqliteSynchronous::Off,
        }
    }
}

impl fmt::Display for SqliteSync {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Splits our own `synchronous` parameter off a `sqlite:` URL, leaving sqlx's parameters.
pub(crate) fn split_sync_param(url: &str) -> Result<(String, Option<SqliteSync>), StoreError> {
    let Some((base, query)) = url.split_once('?') else { return Ok((url.to_owned(), None)) };
    let mut sync = None;
    let mut rest = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("synchronous", v)) => {
                sync = Some(SqliteSync::parse(v).ok_or_else(|| StoreError::BadUrl {
                    url: redact_url(url),
                    reason: format!("synchronous={v} is not one of full, normal, off"),
                })?);
            }
            _ => rest.push(pair),
        }
    }
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{}", rest.join("&")) };
    Ok((url, sync))
}

/// Opens (creating on first use) the SQLite file in WAL mode and runs the migrations.
pub(crate) async fn connect(url: &str, sync: SqliteSync) -> Result<SqlitePool, StoreError> {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    if path.is_empty() || path.starts_with('?') {
        return Err(StoreError::BadUrl {
            url: url.to_owned(),
            reason: "no database file path after 'sqlite://'".into(),
        });
    }
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl { url: url.to_owned(), reason: e.to_string() })?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(sync.pragma())
        .foreign_keys(true)
        .busy_timeout(Duration::from_secs(10))
        .pragma("temp_store", "memory")
        .pragma("cache_size", "-65536");
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .map_err(|source| StoreError::Connect { backend: "sqlite", url: url.to_owned(), source })?;
    sqlx::migrate!("migrations/sqlite")
        .run(&pool)
        .await
        .map_err(|source| StoreError::Migrate { backend: "sqlite", source })?;
    Ok(pool)
}

impl Dialect for Sqlite {
    const BACKEND: &'static str = "sqlite";
    /// A deferred SQLite transaction in WAL mode already reads one snapshot.
    const SNAPSHOT_READ: Option<&'static str> = None;

    const WRITE: WriteMode = WriteMode::Json { insert: json_insert, update: json_update, max_rows: 10_000 };
    dialect_io!(SqliteConnection);

    /// SQLite has no array type: its write mode never binds columns. Binds the column as a
    /// JSON array so that the statement fails in the database, never here.
    fn bind_column<'args>(qb: &mut sqlx::QueryBuilder<'args, Self>, column: Column<'args>) {
        let json = match column {
            Column::Text(v) => serde_json::to_string(&v),
            Column::Int(v) => serde_json::to_string(&v),
            Column::Real(v) => serde_json::to_string(&v),
            Column::Bool(v) => serde_json::to_string(&v),
        };
        qb.push_bind(json.unwrap_or_default());
    }
}

/// The rows of the two binds (see [`super::jsonb::Encoded`]) as `r (v)`, each row cut out
/// of the first bind as one binary JSON array: the SQL before the first bind and between the
/// two (the statement closes the `json_each` call with `))`).
pub(crate) const ROWS_SQL: [&str; 2] =
    ["WITH r (v) AS MATERIALIZED (SELECT substr(", ", (value >> 32) + 1, value & 4294967295) FROM json_each("];

/// The three parts of a statement around the two binds, its text after them being `rest`.
fn around_binds(rest: String) -> [String; 3] {
    [ROWS_SQL[0].to_owned(), ROWS_SQL[1].to_owned(), rest]
}

/// `INSERT INTO <table> (<cols>) SELECT … FROM r`, around the two binds: each row of `r` is
/// one row to insert, a binary JSON array of the column values in order, read without
/// parsing any text. `->>` returns a JSON
/// string as TEXT, an integer as INTEGER (all 64 bits), a number as REAL (a double written
/// in shortest round-trip form reads back within one unit in the last place: SQLite's
/// decimal-to-double conversion is not always correctly rounded), true/false as 1/0 and null as NULL.
/// `WHERE true` keeps an `ON CONFLICT` that follows from being read as part of the SELECT.
fn json_insert(table: &str, cols: &[&str]) -> [String; 3] {
    let values: Vec<String> = (0..cols.len()).map(|i| format!("v ->> {}", column_path(cols.len(), i))).collect();
    around_binds(format!(")) INSERT INTO {table} ({}) SELECT {} FROM r WHERE true", cols.join(", "), values.join(", ")))
}

/// `UPDATE <table> SET … FROM r WHERE <keys match>`, around the two binds: each row of `r`
/// holds first the `keys` values of the key of the row to update, then the new values of
/// the other columns, read as in [`json_insert`].
fn json_update(table: &str, cols: &[&str], keys: usize) -> [String; 3] {
    let at = |i: usize| column_path(cols.len(), i);
    let set: Vec<String> = cols.iter().enumerate().skip(keys).map(|(i, c)| format!("{c} = v ->> {}", at(i))).collect();
    let on: Vec<String> =
        cols[..keys].iter().enumerate().map(|(i, c)| format!("{table}.{c} = v ->> {}", at(i))).collect();
    around_binds(format!(")) UPDATE {table} SET {} FROM r WHERE {}", set.join(", "), on.join(" AND ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_update_looks_each_row_up_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let pool = connect(&url, SqliteSync::Normal).await.unwrap();
        let t = &super::super::rows::ORDER_CHANGES;
        let [head, mid, tail] = json_update(t.name, &t.cols, t.key.len());
        let sql = format!("EXPLAIN QUERY PLAN {head}x''{mid}'[]'{tail}");
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(&sql).fetch_all(&pool).await.unwrap();
        let steps: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
        assert!(steps.iter().any(|s| s.starts_with("SEARCH orders USING") && s.ends_with("(cid=?)")), "{steps:?}");
        assert!(!steps.iter().any(|s| s.starts_with("SCAN orders")), "an update must not scan all orders: {steps:?}");
        pool.close().await;
    }

    #[test]
    fn sync_param_is_split_off_and_parsed() {
        let (url, sync) = split_sync_param("sqlite://a.db?synchronous=NORMAL&mode=rwc").unwrap();
        assert_eq!((url.as_str(), sync), ("sqlite://a.db?mode=rwc", Some(SqliteSync::Normal)));
        let (url, sync) = split_sync_param("sqlite://a.db").unwrap();
        assert_eq!((url.as_str(), sync), ("sqlite://a.db", None));
        let err = split_sync_param("sqlite://a.db?synchronous=fast").unwrap_err().to_string();
        assert_eq!(
            err,
            "bad database URL 'sqlite://a.db?synchronous=fast': synchronous=fast is not one of full, normal, off"
        );
    }
}
