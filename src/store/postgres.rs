//! The Postgres side: connect, migrations, the dialect, and how a batch is written.
//!
//! Each [`Write`] of a batch is one statement with one array bind per column, unpacked by
//! `unnest($1::text[], $2::int8[], …)`: its text depends only on the table and operation, so
//! each connection prepares it once. (Multi-row `VALUES` with one bind per value, re-planned
//! for every row count, measured about 10% slower on the bench; rows as one JSON bind
//! through `json_to_recordset` slower still.)

use super::error::{redact_url, StoreError};
use super::sql::{self, dialect_io, Dialect, Op, Val, Write};
use super::WriteBatch;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool, Postgres, QueryBuilder};
use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

/// Connects to the server and runs the migrations.
pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let redacted = redact_url(url);
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::BadUrl { url: redacted.clone(), reason: e.to_string() })?;
    // One direct connection first: an unreachable server fails at once instead of after the
    // pool's acquire timeout.
    let probe = options.connect().await.map_err(|source| StoreError::Connect {
        backend: "postgres",
        url: redacted.clone(),
        source,
    })?;
    probe.close().await.map_err(|source| StoreError::Connect { backend: "postgres", url: redacted, source })?;
    let pool =
        PgPoolOptions::new().max_connections(8).acquire_timeout(Duration::from_secs(10)).connect_lazy_with(options);
    sqlx::migrate!("migrations/postgres")
        .run(&pool)
        .await
        .map_err(|source| StoreError::Migrate { backend: "postgres", source })?;
    Ok(pool)
}

impl Dialect for Postgres {
    const BACKEND: &'static str = "postgres";
    /// Read committed (the default) would let each statement see a newer commit.
    const SNAPSHOT_READ: Option<&'static str> = Some("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY");

    dialect_io!(PgConnection);
}

/// The values of one column across a write's rows, bound as one array.
#[derive(Debug)]
enum Column<'a> {
    /// TEXT values.
    Text(Vec<Option<Cow<'a, str>>>),
    /// BIGINT values.
    Int(Vec<Option<i64>>),
    /// DOUBLE PRECISION values.
    Real(Vec<Option<f64>>),
    /// BOOLEAN values.
    Bool(Vec<bool>),
}

impl<'a> Column<'a> {
    /// Column `i` of the rows of `w` (taking its values, leaving placeholders), typed as the
    /// first row's value; `None` if a row's value has another type (rows of one table never
    /// do) or there are no rows.
    fn take(w: &mut Write<'a>, i: usize) -> Option<Self> {
        let width = w.cols.len();
        let rows = w.len();
        let mut col = match w.values.get(i)? {
            Val::Text(_) => Column::Text(Vec::with_capacity(rows)),
            Val::Int(_) => Column::Int(Vec::with_capacity(rows)),
            Val::Real(_) => Column::Real(Vec::with_capacity(rows)),
            Val::Bool(_) => Column::Bool(Vec::with_capacity(rows)),
        };
        for v in w.values.iter_mut().skip(i).step_by(width) {
            match (&mut col, std::mem::replace(v, Val::Int(None))) {
                (Column::Text(c), Val::Text(v)) => c.push(v),
                (Column::Int(c), Val::Int(v)) => c.push(v),
                (Column::Real(c), Val::Real(v)) => c.push(v),
                (Column::Bool(c), Val::Bool(v)) => c.push(v),
                _ => return None,
            }
        }
        Some(col)
    }

    /// Appends the column as one array bind with its type (`$3::text[]`).
    fn bind(self, qb: &mut QueryBuilder<'a, Postgres>) {
        let ty = match self {
            Column::Text(v) => {
                qb.push_bind(v);
                "text[]"
            }
            Column::Int(v) => {
                qb.push_bind(v);
                "int8[]"
            }
            Column::Real(v) => {
                qb.push_bind(v);
                "float8[]"
            }
            Column::Bool(v) => {
                qb.push_bind(v);
                "bool[]"
            }
        };
        qb.push(format_args!("::{ty}"));
    }
}

/// One write as a built statement, built before it runs so that the next one is built while
/// the server runs this one (see [`apply_on`]).
struct Stmt<'q> {
    qb: QueryBuilder<'q, Postgres>,
    table: &'static str,
    op: Op,
    rows: usize,
}

/// `unnest($1::text[], $2::int8[], …)`: one array bind per column of the write's rows.
fn push_unnest<'q>(qb: &mut QueryBuilder<'q, Postgres>, w: &mut Write<'q>) -> Result<(), StoreError> {
    qb.push("unnest(");
    for i in 0..w.cols.len() {
        let column = Column::take(w, i).ok_or_else(|| {
            StoreError::InvalidBatch(format!("{}: column {} holds values of different types", w.table, w.cols[i]))
        })?;
        if i > 0 {
            qb.push(", ");
        }
        column.bind(qb);
    }
    qb.push(")");
    Ok(())
}

/// The statement of one write: `INSERT … SELECT * FROM unnest(…)` (with the write's
/// conflict clause), or `UPDATE`/`DELETE … FROM`/`USING unnest(…) AS u (<cols>)` matching
/// rows on their key.
fn statement(mut w: Write<'_>) -> Result<Stmt<'_>, StoreError> {
    let (table, op, rows) = (w.table, w.op, w.len());
    let keys = w.key.len();
    let on: Vec<String> = w.key.iter().map(|k| format!("t.{k} = u.{k}")).collect();
    let alias = format!(" AS u ({}) WHERE {}", w.cols.join(", "), on.join(" AND "));
    let qb = match op {
        Op::Insert | Op::Upsert | Op::InsertOnce => {
            let mut qb = QueryBuilder::new(w.insert_head());
            qb.push("SELECT * FROM ");
            push_unnest(&mut qb, &mut w)?;
            qb.push(w.conflict_tail());
            qb
        }
        Op::Update => {
            let set: Vec<String> = w.cols[keys..].iter().map(|c| format!("{c} = u.{c}")).collect();
            let mut qb = QueryBuilder::new(format!("UPDATE {table} AS t SET {} FROM ", set.join(", ")));
            push_unnest(&mut qb, &mut w)?;
            qb.push(&alias);
            qb
        }
        Op::Delete => {
            let mut qb = QueryBuilder::new(format!("DELETE FROM {table} AS t USING "));
            push_unnest(&mut qb, &mut w)?;
            qb.push(&alias);
            qb
        }
    };
    Ok(Stmt { qb, table, op, rows })
}

/// The statements of step `k` of writing a batch (see [`sql::step`]), `None` past the last.
fn step(k: usize, b: &WriteBatch) -> Option<Result<Vec<Stmt<'_>>, StoreError>> {
    sql::step(k, b).map(|ws| ws?.into_iter().map(statement).collect())
}

/// Runs built statements in order on the caller's transaction.
///
/// # Errors
/// The database's error, naming the table; [`StoreError::InvalidBatch`] when an update of
/// rows marked as stored finds fewer rows than it carries.
async fn run(conn: &mut PgConnection, stmts: Vec<Stmt<'_>>) -> Result<(), StoreError> {
    for mut s in stmts {
        let (table, op, rows) = (s.table, s.op, s.rows);
        let affected = <Postgres as Dialect>::execute(conn, &mut s.qb).await.map_err(|source| StoreError::Write {
            backend: "postgres",
            table,
            op: op.as_str(),
            rows,
            source,
        })?;
        if op == Op::Update && affected != rows as u64 {
            return Err(sql::not_stored(table, (rows as u64).saturating_sub(affected), rows));
        }
    }
    Ok(())
}

/// Writes the whole batch in one transaction on `conn`: all of it or, on any error, none of
/// it.
///
/// The statements of each step are built while the server runs the previous step's, so
/// building the column arrays overlaps the server's work.
pub(crate) async fn apply_on(conn: &mut PgConnection, batch: &WriteBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    sql::validate(batch)?;
    let fail = |op| sql::tx_error("postgres", op);
    // The server begins the transaction while the first statements are built.
    let (tx, first) = tokio::join!(conn.begin(), async { step(0, batch) });
    let mut tx = tx.map_err(fail("begin"))?;
    let mut ready = first.unwrap_or_else(|| Ok(Vec::new()))?;
    for k in 1.. {
        // `join!` polls the run first: it hands its statement to the server, then the next
        // step is built while the server works.
        let (ran, next) = tokio::join!(run(&mut tx, ready), async { step(k, batch) });
        ran?;
        match next {
            Some(next) => ready = next?,
            None => break,
        }
    }
    tx.commit().await.map_err(fail("commit"))
}
