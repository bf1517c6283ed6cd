//! The SQLite side: connect options (WAL, `synchronous`), migrations, the dialect, and how a
//! batch is written: each row bound straight into a prepared statement through SQLite's C
//! API ([`super::sqlite_stmt`]) on the connection sqlx opened, in one transaction.

use super::error::{redact_url, StoreError};
use super::sql::{self, dialect_io, Dialect, Op, Write};
use super::sqlite_stmt::RawDb;
use super::WriteBatch;
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

    dialect_io!(SqliteConnection);
}

/// The SQL that writes one row of `w`, its values bound to `?1` … `?N` in column order:
/// `INSERT … VALUES (…)` with the write's conflict clause, `UPDATE … SET <other columns>
/// WHERE <key columns>` (the key first in the row), or `DELETE … WHERE <key columns>`.
fn row_sql(w: &Write<'_>) -> String {
    let param = |i: usize| format!("?{}", i + 1);
    let matching = |cols: &[&str], from: usize| -> Vec<String> {
        cols.iter().enumerate().map(|(i, c)| format!("{c} = {}", param(from + i))).collect()
    };
    match w.op {
        Op::Insert | Op::Upsert | Op::InsertOnce => {
            let params: Vec<String> = (0..w.cols.len()).map(param).collect();
            format!("{}VALUES ({}){}", w.insert_head(), params.join(", "), w.conflict_tail())
        }
        Op::Update => {
            let keys = w.key.len();
            let set = matching(&w.cols[keys..], keys);
            format!("UPDATE {} SET {} WHERE {}", w.table, set.join(", "), matching(&w.cols[..keys], 0).join(" AND "))
        }
        Op::Delete => format!("DELETE FROM {} WHERE {}", w.table, matching(w.cols, 0).join(" AND ")),
    }
}

/// Runs one write, row by row, through one prepared statement.
///
/// # Errors
/// [`StoreError::Write`] naming the table, operation and row when SQLite refuses a row;
/// [`StoreError::InvalidBatch`] when an update does not find rows the batch marked stored.
fn run_write(db: &RawDb<'_>, w: &Write<'_>) -> Result<(), StoreError> {
    let failed = |source: sqlx::Error| StoreError::Write {
        backend: "sqlite",
        table: w.table,
        op: w.op.as_str(),
        rows: w.len(),
        source,
    };
    let mut stmt = db.prepare(&row_sql(w)).map_err(|e| failed(e.into()))?;
    let mut missing = 0;
    for (i, row) in w.rows().enumerate() {
        let changed = stmt.run(row).map_err(|e| failed(e.context(&w.describe_row(i)).into()))?;
        if w.op == Op::Update && changed == 0 {
            missing += 1;
        }
    }
    if missing > 0 {
        return Err(sql::not_stored(w.table, missing, w.len()));
    }
    Ok(())
}

/// A new connection with the pool's settings, for the journal's writer. Not one of the
/// pool's: on the connection that ran the migrations, every row took more `malloc`/`free`
/// calls (callgrind, bench writer per 10,000 orders: 1.96 G instructions there, 1.78 G on a
/// new connection). sqlx keeps the last migration's statements prepared on it, which most
/// likely hold SQLite's per-connection small-allocation memory (lookaside).
pub(crate) async fn writer_connection(pool: &SqlitePool) -> Result<SqliteConnection, StoreError> {
    let options = pool.connect_options();
    sqlx::ConnectOptions::connect(&*options).await.map_err(sql::tx_error("sqlite", "begin"))
}

/// Writes the whole batch in one transaction on `conn`: all of it or, on any error, none of
/// it.
///
/// The rows are built first; then the connection is locked away from sqlx's worker thread
/// and every row is bound and stepped on this thread, with no `.await` until the
/// transaction has ended (committed, or rolled back on an error).
pub(crate) async fn apply_on(conn: &mut SqliteConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    sql::validate(batch)?;
    let writes = sql::writes(batch)?;
    let mut handle = conn.lock_handle().await.map_err(sql::tx_error("sqlite", "begin"))?;
    let db = RawDb::new(&mut handle);
    db.transaction(|db| writes.iter().try_for_each(|w| run_write(db, w)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_update_looks_each_row_up_by_its_key() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let pool = connect(&url, SqliteSync::Normal).await.unwrap();
        let row: Vec<_> = super::super::rows::ORDER_CHANGES.cols.iter().map(|_| sql::Val::Int(None)).collect();
        let update = super::super::rows::ORDER_CHANGES.write(vec![row.try_into().unwrap()]).unwrap();
        let sql = format!("EXPLAIN QUERY PLAN {}", row_sql(&update));
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
