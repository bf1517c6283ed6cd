//! SQL both dialects agree on, written once over the [`Dialect`] trait.
//!
//! Placeholders (`?` vs `$n`) come from sqlx's `QueryBuilder`; `INSERT … ON CONFLICT … DO
//! UPDATE SET c = excluded.c`, `IN (subquery)`, `LIMIT/OFFSET` read the same in SQLite and
//! Postgres. What differs (binds, how writes carry rows, snapshot reads, connect options,
//! migrations) lives in `sqlite.rs` and `postgres.rs`.
//!
//! Writes carry a table's rows in a statement whose text does not depend on the row count,
//! so each connection prepares it once: on SQLite ([`WriteMode::Json`]) one bind holding the
//! rows as a binary JSON array of arrays (decimals as strings, times as integers, so both stay
//! exact); on Postgres ([`WriteMode::Unnest`]) one array bind per column. Multi-row `VALUES`
//! with one bind per value measured slower on both.

use super::error::StoreError;
use super::rows::{
    self, BalanceRow, EventRow, FillRow, OrderRow, PositionRow, Table, TradeRow, BALANCES, FILLS, ORDERS,
    ORDER_CHANGES, ORDER_EVENTS, POSITIONS, TRADES,
};
use super::{OrderFilter, Snapshot, WriteBatch};
use crate::model::status::ALL_STATUSES;
use crate::model::{
    AccountId, ClientOrderId, Currency, Fill, Order, OrderStatus, Position, PositionStatus, StatusChange, Symbol,
    Timestamp, Trade,
};
use rust_decimal::Decimal;
use serde::ser::{Serialize, Serializer};
use sqlx::postgres::PgRow;
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, FromRow, Pool, QueryBuilder, Transaction};
use std::borrow::Cow;
use std::collections::HashMap;

/// One bind value; `None` binds a typed NULL.
#[derive(Debug, Clone)]
pub(crate) enum Val<'a> {
    /// TEXT (decimals, ids, enum names, JSON).
    Text(Option<Cow<'a, str>>),
    /// BIGINT (times, sequence numbers, position ids).
    Int(Option<i64>),
    /// REAL / DOUBLE PRECISION (LLM confidence).
    Real(Option<f64>),
    /// BOOLEAN (0/1 in SQLite).
    Bool(bool),
    /// BLOB: only the rows of a SQLite write statement, as one binary JSON array (no column
    /// stores a blob).
    Blob(Vec<u8>),
}

/// A JSON string, integer, number, boolean or null.
impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Text(Some(v)) => s.serialize_str(v),
            Val::Int(Some(v)) => s.serialize_i64(*v),
            Val::Real(Some(v)) => s.serialize_f64(*v),
            Val::Bool(v) => s.serialize_bool(*v),
            Val::Blob(v) => s.serialize_bytes(v),
            Val::Text(None) | Val::Int(None) | Val::Real(None) => s.serialize_unit(),
        }
    }
}

/// How write statements carry their rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteMode {
    /// Two binds per statement carrying up to `max_rows` rows in SQLite's binary JSON (see
    /// [`super::jsonb::Encoded`]: the rows, then where each sits); `insert(table, columns)`
    /// gives the SQL before the rows bind, between the two binds and after the second, up to
    /// where an `ON CONFLICT` clause may follow; `update(table, columns, keys)` the same
    /// three parts of an UPDATE that sets each row's non-key columns on the row its key
    /// columns (the first `keys` columns) name.
    Json { insert: fn(&str, &[&str]) -> [String; 3], update: fn(&str, &[&str], usize) -> [String; 3], max_rows: usize },
    /// One statement per table, one array bind per column, unpacked by
    /// `SELECT * FROM unnest($1::text[], $2::int8[], …)` (Postgres). The SQL text depends only
    /// on the table, so each connection prepares it once.
    Unnest,
}

/// The values of one column across a statement's rows, bound as one array.
#[derive(Debug)]
pub(crate) enum Column<'a> {
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
    /// Moves column `i` out of `rows` (leaving placeholders), typed as the first row's value;
    /// `None` if a row's value has another type (rows of one table never do) or there are no
    /// rows.
    fn take<const N: usize>(rows: &mut [[Val<'a>; N]], i: usize) -> Option<Self> {
        let mut col = match rows.first()?.get(i)? {
            Val::Text(_) => Column::Text(Vec::with_capacity(rows.len())),
            Val::Int(_) => Column::Int(Vec::with_capacity(rows.len())),
            Val::Real(_) => Column::Real(Vec::with_capacity(rows.len())),
            Val::Bool(_) => Column::Bool(Vec::with_capacity(rows.len())),
            Val::Blob(_) => return None,
        };
        for row in rows {
            match (&mut col, std::mem::replace(&mut row[i], Val::Int(None))) {
                (Column::Text(c), Val::Text(v)) => c.push(v),
                (Column::Int(c), Val::Int(v)) => c.push(v),
                (Column::Real(c), Val::Real(v)) => c.push(v),
                (Column::Bool(c), Val::Bool(v)) => c.push(v),
                _ => return None,
            }
        }
        Some(col)
    }

    /// The Postgres array type the column binds as.
    fn pg_array_type(&self) -> &'static str {
        match self {
            Column::Text(_) => "text[]",
            Column::Int(_) => "int8[]",
            Column::Real(_) => "float8[]",
            Column::Bool(_) => "bool[]",
        }
    }
}

/// A row type both backends can decode.
pub(crate) trait Decodable: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<T> Decodable for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// What differs between the backends, behind one interface so the SQL above is written once.
pub(crate) trait Dialect: Database {
    /// `sqlite` or `postgres`, for error messages.
    const BACKEND: &'static str;
    /// A statement that makes the current transaction read one consistent snapshot.
    const SNAPSHOT_READ: Option<&'static str>;

    /// How write statements carry their rows.
    const WRITE: WriteMode;

    /// Appends one bind value.
    fn bind<'args>(sep: &mut Separated<'_, 'args, Self, &'static str>, value: Val<'args>);

    /// Appends one column of values as one array bind (only [`WriteMode::Unnest`] asks).
    fn bind_column<'args>(qb: &mut QueryBuilder<'args, Self>, column: Column<'args>);

    /// Runs a built statement, returning the rows affected.
    async fn execute(conn: &mut Self::Connection, qb: &mut QueryBuilder<'_, Self>) -> Result<u64, sqlx::Error>;

    /// Runs a built query, decoding every row.
    async fn fetch<T: Decodable>(
        conn: &mut Self::Connection,
        qb: &mut QueryBuilder<'_, Self>,
    ) -> Result<Vec<T>, sqlx::Error>;
}

/// The bind/execute/fetch methods of a [`Dialect`] impl: the same code for both backends,
/// compiled against each one's concrete connection type.
macro_rules! dialect_io {
    ($conn:ty) => {
        fn bind<'args>(
            sep: &mut sqlx::query_builder::Separated<'_, 'args, Self, &'static str>,
            value: $crate::store::sql::Val<'args>,
        ) {
            use $crate::store::sql::Val;
            match value {
                Val::Text(v) => sep.push_bind(v),
                Val::Int(v) => sep.push_bind(v),
                Val::Real(v) => sep.push_bind(v),
                Val::Bool(v) => sep.push_bind(v),
                Val::Blob(v) => sep.push_bind(v),
            };
        }

        async fn execute(conn: &mut $conn, qb: &mut sqlx::QueryBuilder<'_, Self>) -> Result<u64, sqlx::Error> {
            Ok(sqlx::Executor::execute(conn, qb.build()).await?.rows_affected())
        }

        async fn fetch<T: $crate::store::sql::Decodable>(
            conn: &mut $conn,
            qb: &mut sqlx::QueryBuilder<'_, Self>,
        ) -> Result<Vec<T>, sqlx::Error> {
            qb.build_query_as::<T>().fetch_all(conn).await
        }
    };
}
pub(crate) use dialect_io;

fn bind<'args, DB: Dialect>(qb: &mut QueryBuilder<'args, DB>, value: Val<'args>) {
    DB::bind(&mut qb.separated(""), value);
}

impl<const N: usize> Table<N> {
    fn select_list(&self) -> String {
        self.cols.join(", ")
    }

    fn insert_head(&self) -> String {
        format!("INSERT INTO {} ({}) ", self.name, self.select_list())
    }

    fn conflict_tail(&self) -> String {
        if !self.upsert {
            return String::new();
        }
        let set: Vec<String> = self
            .cols
            .iter()
            .filter(|c| !self.key.contains(c) && !self.fixed.contains(c))
            .map(|c| format!("{c} = excluded.{c}"))
            .collect();
        format!(" ON CONFLICT ({}) DO UPDATE SET {}", self.key.join(", "), set.join(", "))
    }
}

/// One write statement of a batch, built before it runs, so that the next one is built while
/// the database runs this one (see [`apply`]).
pub(crate) struct Stmt<'q, DB: Dialect> {
    qb: QueryBuilder<'q, DB>,
    table: &'static str,
    op: &'static str,
    rows: usize,
    /// An update of rows the batch says are stored: each must be found.
    all_found: bool,
}

impl<'q, DB: Dialect> Stmt<'q, DB> {
    /// A built statement that writes `rows` rows of `table` (`op`: insert, upsert, delete…,
    /// for error messages).
    pub(crate) fn new(qb: QueryBuilder<'q, DB>, table: &'static str, op: &'static str, rows: usize) -> Self {
        Self { qb, table, op, rows, all_found: false }
    }
}

/// Runs built statements in order on the caller's transaction.
///
/// # Errors
/// The database's error, naming the table; [`StoreError::InvalidBatch`] when an update of
/// rows marked as stored finds fewer rows than it carries.
pub(crate) async fn run<DB: Dialect>(conn: &mut DB::Connection, stmts: Vec<Stmt<'_, DB>>) -> Result<(), StoreError> {
    for mut s in stmts {
        let (backend, table, op, rows) = (DB::BACKEND, s.table, s.op, s.rows);
        let affected = DB::execute(conn, &mut s.qb).await.map_err(|source| StoreError::Write {
            backend,
            table,
            op,
            rows,
            source,
        })?;
        if s.all_found && affected != rows as u64 {
            return Err(StoreError::InvalidBatch(format!(
                "{table}: {} of {rows} rows marked as already stored are not in the store (nothing of the batch is written)",
                (rows as u64).saturating_sub(affected)
            )));
        }
    }
    Ok(())
}

/// The statements that insert rows (upsert, for tables that replace), carrying them as the
/// dialect's [`WriteMode`] says.
///
/// # Errors
/// [`StoreError::InvalidBatch`] when the rows cannot be encoded.
pub(crate) fn insert_stmts<'q, DB: Dialect, const N: usize>(
    table: &Table<N>,
    rows: Vec<[Val<'q>; N]>,
) -> Result<Vec<Stmt<'q, DB>>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let op = if table.upsert { "upsert" } else { "insert" };
    let tail = table.conflict_tail();
    match DB::WRITE {
        WriteMode::Json { insert, max_rows, .. } => {
            let [head, mid, after_binds] = insert(table.name, &table.cols);
            json_stmts(table, op, &rows, max_rows, [&head, &mid, &format!("{after_binds}{tail}")])
        }
        WriteMode::Unnest => {
            let n = rows.len();
            let mut qb = QueryBuilder::<DB>::new(table.insert_head());
            qb.push("SELECT * FROM ");
            push_unnest(&mut qb, table, rows)?;
            qb.push(tail.as_str());
            Ok(vec![Stmt::new(qb, table.name, op, n)])
        }
    }
}

/// The statements that update the non-key columns of stored rows, each named by its key (the
/// table's first `key.len()` columns); running them fails the batch when a row is not found.
///
/// # Errors
/// [`StoreError::InvalidBatch`] when the rows cannot be encoded.
pub(crate) fn update_stmts<'q, DB: Dialect, const N: usize>(
    table: &Table<N>,
    rows: Vec<[Val<'q>; N]>,
) -> Result<Vec<Stmt<'q, DB>>, StoreError> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let keys = table.key.len();
    debug_assert_eq!(table.cols[..keys], *table.key, "{}: key columns come first", table.name);
    let mut stmts = match DB::WRITE {
        WriteMode::Json { update, max_rows, .. } => {
            let [head, mid, tail] = update(table.name, &table.cols, keys);
            json_stmts(table, "update", &rows, max_rows, [&head, &mid, &tail])?
        }
        WriteMode::Unnest => {
            let n = rows.len();
            let set: Vec<String> = table.cols[keys..].iter().map(|c| format!("{c} = u.{c}")).collect();
            let on: Vec<String> = table.key.iter().map(|k| format!("t.{k} = u.{k}")).collect();
            let mut qb = QueryBuilder::<DB>::new(format!("UPDATE {} AS t SET {} FROM ", table.name, set.join(", ")));
            push_unnest(&mut qb, table, rows)?;
            qb.push(format_args!(" AS u ({}) WHERE {}", table.select_list(), on.join(" AND ")));
            vec![Stmt::new(qb, table.name, "update", n)]
        }
    };
    for s in &mut stmts {
        s.all_found = true;
    }
    Ok(stmts)
}

/// `head <rows> mid <spans> tail` once per chunk of `max_rows` rows, each chunk bound as
/// SQLite's binary JSON (see [`super::jsonb`]).
fn json_stmts<'q, DB: Dialect, const N: usize>(
    table: &Table<N>,
    op: &'static str,
    rows: &[[Val<'_>; N]],
    max_rows: usize,
    [head, mid, tail]: [&str; 3],
) -> Result<Vec<Stmt<'q, DB>>, StoreError> {
    rows.chunks(max_rows.max(1))
        .map(|chunk| {
            let encoded = super::jsonb::rows(table.name, chunk)?;
            let mut qb = QueryBuilder::<DB>::new(head);
            bind(&mut qb, Val::Blob(encoded.rows));
            qb.push(mid);
            bind(&mut qb, Val::Blob(encoded.spans));
            qb.push(tail);
            Ok(Stmt::new(qb, table.name, op, chunk.len()))
        })
        .collect()
}

/// `unnest($1::text[], $2::int8[], …)`: one array bind per column of `rows`.
fn push_unnest<'q, DB: Dialect, const N: usize>(
    qb: &mut QueryBuilder<'q, DB>,
    table: &Table<N>,
    mut rows: Vec<[Val<'q>; N]>,
) -> Result<(), StoreError> {
    qb.push("unnest(");
    for i in 0..N {
        let column = Column::take(&mut rows, i).ok_or_else(|| {
            StoreError::InvalidBatch(format!(
                "{}: column {} holds values of different types",
                table.name, table.cols[i]
            ))
        })?;
        let ty = column.pg_array_type();
        if i > 0 {
            qb.push(", ");
        }
        DB::bind_column(qb, column);
        qb.push(format_args!("::{ty}"));
    }
    qb.push(")");
    Ok(())
}

fn tx_error(backend: &'static str, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Transaction { backend, op, source }
}

/// Refuses an inconsistent batch before anything is written: the store is what keeps the
/// audit trail, fills and trades from pointing at no order (Postgres has no foreign keys on
/// them, see migration 0005).
fn validate(b: &WriteBatch) -> Result<(), StoreError> {
    if let Some((cid, c)) = b.order_events.iter().find(|(cid, _)| !b.orders.contains_key(cid)) {
        return Err(StoreError::InvalidBatch(format!(
            "audit row '{}' ({} -> {}) is for order {cid}, which is not in the batch (an audit row commits with its order)",
            c.event.as_str(),
            c.from.as_str(),
            c.to.as_str()
        )));
    }
    for f in &b.fills {
        b.fill_seq(&f.cid, &f.trade_id)?;
    }
    for t in &b.trades {
        b.fill_seq(&t.cid, &t.trade_id)?;
    }
    Ok(())
}

/// The statements of step `k` of writing a batch, `None` past the last step. Parents first:
/// audit rows, fills and trades reference their order.
fn step<'q, DB: Dialect>(k: usize, b: &'q WriteBatch) -> Option<Result<Vec<Stmt<'q, DB>>, StoreError>> {
    fn rows_of<'q, T: 'q, R>(
        items: impl Iterator<Item = T>,
        f: impl FnMut(T) -> Result<R, StoreError>,
    ) -> Result<Vec<R>, StoreError> {
        items.map(f).collect()
    }
    let is_known = |o: &&Order| b.known_orders.contains(&o.cid);
    Some(match k {
        0 => rows_of(b.orders.values().filter(|o| !is_known(o)), rows::order_values)
            .and_then(|r| insert_stmts::<DB, 27>(&ORDERS, r)),
        1 => rows_of(b.orders.values().filter(is_known), rows::order_change_values)
            .and_then(|r| update_stmts::<DB, 13>(&ORDER_CHANGES, r)),
        2 => super::strategy::provenance_stmts::<DB>(b),
        3 => rows_of(b.positions.values(), rows::position_values).and_then(|r| insert_stmts::<DB, 17>(&POSITIONS, r)),
        4 => {
            let ts = b.latest_ts().unwrap_or_else(Timestamp::now);
            let r = b.balances.iter().map(|((a, c), cash)| rows::balance_values(a, c, *cash, ts)).collect();
            insert_stmts::<DB, 4>(&BALANCES, r)
        }
        5 => {
            let r = b.order_events.iter().map(|(cid, c)| rows::event_values(cid, c)).collect();
            insert_stmts::<DB, 7>(&ORDER_EVENTS, r)
        }
        6 => rows_of(b.fills.iter(), |f| rows::fill_values(f, b.fill_seq(&f.cid, &f.trade_id)?))
            .and_then(|r| insert_stmts::<DB, 11>(&FILLS, r)),
        7 => rows_of(b.trades.iter(), |t| rows::trade_values(t, b.fill_seq(&t.cid, &t.trade_id)?))
            .and_then(|r| insert_stmts::<DB, 15>(&TRADES, r)),
        8 => super::protect::stmts::<DB>(b),
        _ => return None,
    })
}

/// Writes the whole batch in one transaction on a connection of the pool: all of it or, on
/// any error, none of it (see [`apply_on`]).
pub(crate) async fn apply<DB: Dialect>(pool: &Pool<DB>, batch: &WriteBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut conn = pool.acquire().await.map_err(tx_error(DB::BACKEND, "begin"))?;
    apply_on::<DB>(&mut conn, batch).await
}

/// A connection of the pool's, taken out of it for good: the one connection a single writer
/// commits every batch on.
pub(crate) async fn detached<DB: Dialect>(pool: &Pool<DB>) -> Result<DB::Connection, StoreError> {
    Ok(pool.acquire().await.map_err(tx_error(DB::BACKEND, "begin"))?.detach())
}

/// Writes the whole batch in one transaction on `conn`: all of it or, on any error, none of
/// it.
///
/// The statements of each step are built while the database runs the previous step's, so
/// encoding rows (JSON on SQLite, column arrays on Postgres) overlaps the database's work.
pub(crate) async fn apply_on<DB: Dialect>(conn: &mut DB::Connection, batch: &WriteBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    validate(batch)?;
    // The database begins the transaction while the first statements are built.
    let (tx, first) = tokio::join!(sqlx::Connection::begin(conn), async { step::<DB>(0, batch) });
    let mut tx = tx.map_err(tx_error(DB::BACKEND, "begin"))?;
    let mut ready = first.unwrap_or_else(|| Ok(Vec::new()))?;
    for k in 1.. {
        // `join!` polls the run first: it hands its statement to the database, then the next
        // step is built while the database works.
        let (ran, next) = tokio::join!(run::<DB>(&mut tx, ready), async { step::<DB>(k, batch) });
        ran?;
        match next {
            Some(next) => ready = next?,
            None => break,
        }
    }
    tx.commit().await.map_err(tx_error(DB::BACKEND, "commit"))
}

/// A read transaction that sees one consistent snapshot across its queries.
async fn begin_read<DB: Dialect>(pool: &Pool<DB>) -> Result<Transaction<'static, DB>, StoreError> {
    let mut tx = pool.begin().await.map_err(tx_error(DB::BACKEND, "begin"))?;
    if let Some(sql) = DB::SNAPSHOT_READ {
        let mut qb = QueryBuilder::<DB>::new(sql);
        DB::execute(&mut tx, &mut qb).await.map_err(tx_error(DB::BACKEND, "set snapshot isolation on"))?;
    }
    Ok(tx)
}

async fn end_read<DB: Dialect>(tx: Transaction<'static, DB>) -> Result<(), StoreError> {
    tx.commit().await.map_err(tx_error(DB::BACKEND, "commit"))
}

pub(crate) async fn fetch<'a, DB: Dialect, T: Decodable>(
    conn: &mut DB::Connection,
    what: &'static str,
    qb: &mut QueryBuilder<'a, DB>,
) -> Result<Vec<T>, StoreError> {
    DB::fetch(conn, qb).await.map_err(|source| StoreError::Read { backend: DB::BACKEND, what, source })
}

/// Which orders a read selects.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Select<'a> {
    /// Those matching a filter.
    Filter(&'a OrderFilter),
    /// One order.
    One(&'a ClientOrderId),
}

/// ` AND <column> IN ('a', 'b', …)`. The names are the model's own enum names, written as
/// literals rather than binds so that the planners can match the partial index over open
/// orders (its predicate lists the same names in the same order).
fn push_status_in<DB: Dialect>(qb: &mut QueryBuilder<'_, DB>, column: &str, names: &[&'static str]) {
    qb.push(format_args!(" AND {column} IN ("));
    for (i, name) in names.iter().enumerate() {
        debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "status name {name}");
        if i > 0 {
            qb.push(", ");
        }
        qb.push(format_args!("'{name}'"));
    }
    qb.push(")");
}

/// Appends ` WHERE … ORDER BY ts_init, cid [LIMIT … OFFSET …]` for the selection.
fn push_order_selection<'a, DB: Dialect>(qb: &mut QueryBuilder<'a, DB>, sel: Select<'a>) {
    qb.push(" WHERE 1 = 1");
    match sel {
        Select::One(cid) => {
            qb.push(" AND cid = ");
            bind(qb, Val::Text(Some(Cow::Borrowed(cid.as_str()))));
        }
        Select::Filter(f) => {
            if let Some(statuses) = &f.status {
                let names: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
                push_status_in(qb, "status", &names);
            }
            if let Some(symbol) = &f.symbol {
                qb.push(" AND symbol = ");
                bind(qb, Val::Text(Some(Cow::Borrowed(symbol.as_str()))));
            }
            if let Some(strategy) = &f.strategy_id {
                qb.push(" AND strategy_id = ");
                bind(qb, Val::Text(Some(Cow::Borrowed(strategy.as_str()))));
            }
            if let Some(from) = f.from {
                qb.push(" AND ts_init >= ");
                bind(qb, Val::Int(Some(from.nanos())));
            }
            if let Some(to) = f.to {
                qb.push(" AND ts_init < ");
                bind(qb, Val::Int(Some(to.nanos())));
            }
        }
    }
    qb.push(" ORDER BY ts_init, cid");
    if let Select::Filter(f) = sel {
        if f.limit.is_some() || f.offset.is_some() {
            // Both dialects need a LIMIT before an OFFSET; i64::MAX stands for "all".
            qb.push(" LIMIT ");
            bind(qb, Val::Int(Some(f.limit.map_or(i64::MAX, i64::from))));
            qb.push(" OFFSET ");
            bind(qb, Val::Int(Some(f.offset.map_or(0, i64::from))));
        }
    }
}

/// `SELECT <cols> FROM <table> WHERE cid IN (SELECT cid FROM orders <selection>) ORDER BY cid, seq`.
fn children_of<'a, DB: Dialect, const N: usize>(table: &Table<N>, sel: Select<'a>) -> QueryBuilder<'a, DB> {
    let mut qb = QueryBuilder::new(format!(
        "SELECT {} FROM {} WHERE cid IN (SELECT cid FROM orders",
        table.select_list(),
        table.name
    ));
    push_order_selection(&mut qb, sel);
    qb.push(") ORDER BY cid, seq");
    qb
}

async fn select_orders_in<DB: Dialect>(conn: &mut DB::Connection, sel: Select<'_>) -> Result<Vec<Order>, StoreError> {
    if let Select::Filter(OrderFilter { status: Some(s), .. }) = sel {
        if s.is_empty() {
            return Ok(Vec::new());
        }
    }
    let mut qb = QueryBuilder::<DB>::new(format!("SELECT {} FROM orders", ORDERS.select_list()));
    push_order_selection(&mut qb, sel);
    let orders: Vec<OrderRow> = fetch(conn, "orders", &mut qb).await?;
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let events: Vec<EventRow> = fetch(conn, "order_events", &mut children_of::<DB, _>(&ORDER_EVENTS, sel)).await?;
    let fills: Vec<FillRow> = fetch(conn, "fills", &mut children_of::<DB, _>(&FILLS, sel)).await?;
    let mut history: HashMap<String, Vec<StatusChange>> = HashMap::new();
    for e in events {
        let cid = e.cid().to_owned();
        history.entry(cid).or_default().push(e.into_change()?);
    }
    let mut trade_ids: HashMap<String, Vec<_>> = HashMap::new();
    for f in fills {
        let fill = f.into_fill()?;
        trade_ids.entry(fill.cid.as_str().to_owned()).or_default().push(fill.trade_id);
    }
    orders
        .into_iter()
        .map(|row| {
            let h = history.remove(row.cid()).unwrap_or_default();
            let t = trade_ids.remove(row.cid()).unwrap_or_default();
            row.into_order(h, t)
        })
        .collect()
}

/// Orders of a selection with their audit trail and trade ids, read from one snapshot.
pub(crate) async fn select_orders<DB: Dialect>(pool: &Pool<DB>, sel: Select<'_>) -> Result<Vec<Order>, StoreError> {
    let mut tx = begin_read(pool).await?;
    let orders = select_orders_in::<DB>(&mut tx, sel).await?;
    end_read(tx).await?;
    Ok(orders)
}

/// The statuses an order can still change from (everything not terminal).
pub(crate) fn open_statuses() -> Vec<OrderStatus> {
    ALL_STATUSES.into_iter().filter(|s| !s.is_terminal()).collect()
}

/// The audit trail of one order, oldest first.
pub(crate) async fn audit_trail<DB: Dialect>(
    pool: &Pool<DB>,
    cid: &ClientOrderId,
) -> Result<Vec<StatusChange>, StoreError> {
    let mut tx = begin_read(pool).await?;
    let rows: Vec<EventRow> =
        fetch(&mut *tx, "order_events", &mut children_of::<DB, _>(&ORDER_EVENTS, Select::One(cid))).await?;
    end_read(tx).await?;
    rows.into_iter().map(EventRow::into_change).collect()
}

/// The fills of one order, in the order they were applied.
pub(crate) async fn fills<DB: Dialect>(pool: &Pool<DB>, cid: &ClientOrderId) -> Result<Vec<Fill>, StoreError> {
    let mut tx = begin_read(pool).await?;
    let rows: Vec<FillRow> = fetch(&mut *tx, "fills", &mut children_of::<DB, _>(&FILLS, Select::One(cid))).await?;
    end_read(tx).await?;
    rows.into_iter().map(FillRow::into_fill).collect()
}

/// Which positions to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PositionSet {
    /// Every position.
    All,
    /// Open and closing positions.
    Open,
    /// Closed and liquidated positions.
    Closed,
}

async fn positions_in<DB: Dialect>(conn: &mut DB::Connection, set: PositionSet) -> Result<Vec<Position>, StoreError> {
    let mut qb = QueryBuilder::<DB>::new(format!("SELECT {} FROM positions WHERE 1 = 1", POSITIONS.select_list()));
    let statuses = match set {
        PositionSet::All => None,
        PositionSet::Open => Some([PositionStatus::Open, PositionStatus::Closing]),
        PositionSet::Closed => Some([PositionStatus::Closed, PositionStatus::Liquidated]),
    };
    if let Some(s) = statuses {
        push_status_in(&mut qb, "status", &s.map(PositionStatus::as_str));
    }
    qb.push(" ORDER BY id");
    let rows: Vec<PositionRow> = fetch(conn, "positions", &mut qb).await?;
    rows.into_iter().map(PositionRow::into_position).collect()
}

/// Positions of a set, ordered by id.
pub(crate) async fn positions<DB: Dialect>(pool: &Pool<DB>, set: PositionSet) -> Result<Vec<Position>, StoreError> {
    let mut tx = begin_read(pool).await?;
    let out = positions_in::<DB>(&mut tx, set).await?;
    end_read(tx).await?;
    Ok(out)
}

async fn balances_in<DB: Dialect>(
    conn: &mut DB::Connection,
) -> Result<Vec<(AccountId, Currency, Decimal)>, StoreError> {
    let mut qb =
        QueryBuilder::<DB>::new(format!("SELECT {} FROM balances ORDER BY account, currency", BALANCES.select_list()));
    let rows: Vec<BalanceRow> = fetch(conn, "balances", &mut qb).await?;
    rows.into_iter().map(BalanceRow::into_balance).collect()
}

/// Every cash balance, ordered by account then currency.
pub(crate) async fn balances<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<(AccountId, Currency, Decimal)>, StoreError> {
    let mut tx = begin_read(pool).await?;
    let out = balances_in::<DB>(&mut tx).await?;
    end_read(tx).await?;
    Ok(out)
}

/// Trades, oldest first; with a limit, the most recent `limit` of them.
pub(crate) async fn trades<DB: Dialect>(
    pool: &Pool<DB>,
    symbol: Option<&Symbol>,
    limit: Option<u32>,
) -> Result<Vec<Trade>, StoreError> {
    let cols = TRADES.select_list();
    let mut qb = QueryBuilder::<DB>::new(format!("SELECT {cols} FROM (SELECT {cols} FROM trades WHERE 1 = 1"));
    if let Some(s) = symbol {
        qb.push(" AND symbol = ");
        bind(&mut qb, Val::Text(Some(Cow::Borrowed(s.as_str()))));
    }
    qb.push(" ORDER BY ts DESC, cid DESC, seq DESC LIMIT ");
    bind(&mut qb, Val::Int(Some(limit.map_or(i64::MAX, i64::from))));
    qb.push(") AS t ORDER BY ts, cid, seq");
    let mut tx = begin_read(pool).await?;
    let rows: Vec<TradeRow> = fetch(&mut *tx, "trades", &mut qb).await?;
    end_read(tx).await?;
    rows.into_iter().map(TradeRow::into_trade).collect()
}

/// Everything a restart needs, read from one snapshot.
pub(crate) async fn load_snapshot<DB: Dialect>(pool: &Pool<DB>) -> Result<Snapshot, StoreError> {
    let open = OrderFilter { status: Some(open_statuses()), ..OrderFilter::default() };
    let mut tx = begin_read(pool).await?;
    let open_orders = select_orders_in::<DB>(&mut tx, Select::Filter(&open)).await?;
    let open_positions = positions_in::<DB>(&mut tx, PositionSet::Open).await?;
    let balances = balances_in::<DB>(&mut tx).await?;
    end_read(tx).await?;
    Ok(Snapshot { open_orders, open_positions, balances })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{self, SqliteSync};

    #[tokio::test]
    async fn open_orders_are_read_through_the_partial_index() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("plan.db").display());
        let pool = sqlite::connect(&url, SqliteSync::Normal).await.unwrap();
        let open = OrderFilter { status: Some(open_statuses()), ..OrderFilter::default() };
        let mut qb = QueryBuilder::<sqlx::Sqlite>::new("EXPLAIN QUERY PLAN SELECT cid FROM orders");
        push_order_selection(&mut qb, Select::Filter(&open));
        let plan: Vec<(i64, i64, i64, String)> = qb.build_query_as().fetch_all(&pool).await.unwrap();
        let steps: Vec<&str> = plan.iter().map(|r| r.3.as_str()).collect();
        assert_eq!(steps, ["SCAN orders USING INDEX idx_orders_open"], "a restart must not scan all orders");
        pool.close().await;
    }
}
