//! SQL both dialects agree on, written once over the [`Dialect`] trait.
//!
//! Placeholders (`?` vs `$n`) come from sqlx's `QueryBuilder`; `INSERT … ON CONFLICT … DO
//! UPDATE SET c = excluded.c`, `IN (subquery)`, `LIMIT/OFFSET` read the same in SQLite and
//! Postgres. What differs (binds, how writes carry rows, snapshot reads, connect options,
//! migrations) lives in `sqlite.rs` and `postgres.rs`.
//!
//! A batch becomes one [`Write`] per table and operation ([`writes`], [`step`]): the rows as
//! values, in the order the tables must be written. Each backend carries them its own way:
//! SQLite binds each row straight into a prepared statement through its C API
//! (`sqlite_stmt.rs`), Postgres sends one statement per write with one array bind per column
//! (`postgres.rs`).

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
use sqlx::postgres::PgRow;
use sqlx::query_builder::Separated;
use sqlx::sqlite::SqliteRow;
use sqlx::{Database, FromRow, Pool, QueryBuilder, Transaction};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

/// One bind value; `None` binds a typed NULL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Val<'a> {
    /// TEXT (decimals, ids, enum names, JSON).
    Text(Option<Cow<'a, str>>),
    /// BIGINT (times, sequence numbers, position ids).
    Int(Option<i64>),
    /// REAL / DOUBLE PRECISION (LLM confidence).
    Real(Option<f64>),
    /// BOOLEAN (0/1 in SQLite).
    Bool(bool),
}

/// The value as an error message shows it: text quoted, NULL as `NULL`.
impl fmt::Display for Val<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Val::Text(Some(s)) => write!(f, "'{s}'"),
            Val::Int(Some(n)) => write!(f, "{n}"),
            Val::Real(Some(x)) => write!(f, "{x}"),
            Val::Bool(b) => write!(f, "{b}"),
            Val::Text(None) | Val::Int(None) | Val::Real(None) => f.write_str("NULL"),
        }
    }
}

/// What a [`Write`] does with each of its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    /// Adds the row; one whose key is stored already fails the batch.
    Insert,
    /// Adds the row or replaces the stored one with its key (except the `fixed` columns).
    Upsert,
    /// Adds the row unless one with its key is stored (then nothing changes).
    InsertOnce,
    /// Sets the non-key columns of the stored row its key columns (the first ones) name; a
    /// row that is not stored fails the batch.
    Update,
    /// Removes the stored row its key (the row's only columns) names, if any.
    Delete,
}

impl Op {
    /// `insert`, `upsert`, `update` or `delete`, for error messages.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Insert | Op::InsertOnce => "insert",
            Op::Upsert => "upsert",
            Op::Update => "update",
            Op::Delete => "delete",
        }
    }
}

/// The rows of one table a batch writes, and what to do with them: what each backend turns
/// into its own statements.
#[derive(Debug, Clone)]
pub(crate) struct Write<'q> {
    /// The table.
    pub table: &'static str,
    /// The columns each row holds, in order (an update's key columns first).
    pub cols: &'static [&'static str],
    /// The key columns.
    pub key: &'static [&'static str],
    /// Columns an upsert leaves as first written.
    pub fixed: &'static [&'static str],
    /// What to do with each row.
    pub op: Op,
    /// The rows back to back, `cols.len()` values each.
    pub values: Vec<Val<'q>>,
}

impl<'q> Write<'q> {
    /// The rows, each its values in column order.
    pub(crate) fn rows(&self) -> std::slice::ChunksExact<'_, Val<'q>> {
        self.values.chunks_exact(self.cols.len().max(1))
    }

    /// How many rows.
    pub(crate) fn len(&self) -> usize {
        self.values.len() / self.cols.len().max(1)
    }

    /// `INSERT INTO <table> (<cols>) `.
    pub(crate) fn insert_head(&self) -> String {
        format!("INSERT INTO {} ({}) ", self.table, self.cols.join(", "))
    }

    /// What follows an insert's rows: ` ON CONFLICT (<key>) DO UPDATE SET c = excluded.c, …`
    /// for an upsert (every column but the key and the fixed ones), ` ON CONFLICT (<key>) DO
    /// NOTHING` for an insert-once, nothing otherwise.
    pub(crate) fn conflict_tail(&self) -> String {
        match self.op {
            Op::Upsert => {
                let set: Vec<String> = self
                    .cols
                    .iter()
                    .filter(|c| !self.key.contains(c) && !self.fixed.contains(c))
                    .map(|c| format!("{c} = excluded.{c}"))
                    .collect();
                format!(" ON CONFLICT ({}) DO UPDATE SET {}", self.key.join(", "), set.join(", "))
            }
            Op::InsertOnce => format!(" ON CONFLICT ({}) DO NOTHING", self.key.join(", ")),
            Op::Insert | Op::Update | Op::Delete => String::new(),
        }
    }

    /// Which row of the write, by its key values (`cid = 'a', seq = 2`), for error messages.
    pub(crate) fn describe_row(&self, i: usize) -> String {
        let Some(row) = self.rows().nth(i) else { return format!("row {i}") };
        let key: Vec<String> = self
            .cols
            .iter()
            .zip(row)
            .filter(|(c, _)| self.key.contains(c))
            .map(|(c, v)| format!("{c} = {v}"))
            .collect();
        format!("row {} of {}, {}", i + 1, self.len(), key.join(", "))
    }
}

impl<const N: usize> Table<N> {
    fn select_list(&self) -> String {
        self.cols.join(", ")
    }

    /// The write of `rows` to this table, as the table says (insert, upsert…); `None` for no
    /// rows.
    pub(crate) fn write<'q>(&'static self, rows: Vec<[Val<'q>; N]>) -> Option<Write<'q>> {
        if rows.is_empty() {
            return None;
        }
        debug_assert!(
            self.op != Op::Update || self.cols[..self.key.len()] == *self.key,
            "{}: key columns come first",
            self.name
        );
        Some(Write {
            table: self.name,
            cols: &self.cols,
            key: self.key,
            fixed: self.fixed,
            op: self.op,
            values: rows.into_iter().flatten().collect(),
        })
    }
}

/// A row type both backends can decode.
pub(crate) trait Decodable: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

impl<T> Decodable for T where T: for<'r> FromRow<'r, SqliteRow> + for<'r> FromRow<'r, PgRow> + Send + Unpin {}

/// What differs between the backends' reads, behind one interface so the SQL above is
/// written once.
pub(crate) trait Dialect: Database {
    /// `sqlite` or `postgres`, for error messages.
    const BACKEND: &'static str;
    /// A statement that makes the current transaction read one consistent snapshot.
    const SNAPSHOT_READ: Option<&'static str>;

    /// Appends one bind value.
    fn bind<'args>(sep: &mut Separated<'_, 'args, Self, &'static str>, value: Val<'args>);

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

/// The error of an update that did not find `missing` of its `rows` rows, which the batch
/// marked as already stored.
pub(crate) fn not_stored(table: &str, missing: u64, rows: usize) -> StoreError {
    StoreError::InvalidBatch(format!(
        "{table}: {missing} of {rows} rows marked as already stored are not in the store (nothing of the batch is written)"
    ))
}

pub(crate) fn tx_error(backend: &'static str, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Transaction { backend, op, source }
}

/// Refuses an inconsistent batch before anything is written: the store is what keeps the
/// audit trail, fills and trades from pointing at no order (Postgres has no foreign keys on
/// them, see migration 0005).
pub(crate) fn validate(b: &WriteBatch) -> Result<(), StoreError> {
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

/// The writes of step `k` of a batch, `None` past the last step. Parents first: audit rows,
/// fills and trades reference their order.
pub(crate) fn step(k: usize, b: &WriteBatch) -> Option<Result<Vec<Write<'_>>, StoreError>> {
    fn rows_of<T, R>(
        items: impl Iterator<Item = T>,
        f: impl FnMut(T) -> Result<R, StoreError>,
    ) -> Result<Vec<R>, StoreError> {
        items.map(f).collect()
    }
    let is_known = |o: &&Order| b.known_orders.contains(&o.cid);
    fn one(rows: Result<Option<Write<'_>>, StoreError>) -> Result<Vec<Write<'_>>, StoreError> {
        rows.map(|w| w.into_iter().collect())
    }
    Some(match k {
        0 => one(rows_of(b.orders.values().filter(|o| !is_known(o)), rows::order_values).map(|r| ORDERS.write(r))),
        1 => {
            one(rows_of(b.orders.values().filter(is_known), rows::order_change_values).map(|r| ORDER_CHANGES.write(r)))
        }
        2 => super::strategy::provenance_writes(b),
        3 => one(rows_of(b.positions.values(), rows::position_values).map(|r| POSITIONS.write(r))),
        4 => {
            let ts = b.latest_ts().unwrap_or_else(Timestamp::now);
            let r = b.balances.iter().map(|((a, c), cash)| rows::balance_values(a, c, *cash, ts)).collect();
            one(Ok(BALANCES.write(r)))
        }
        5 => one(Ok(ORDER_EVENTS.write(b.order_events.iter().map(|(cid, c)| rows::event_values(cid, c)).collect()))),
        6 => {
            one(rows_of(b.fills.iter(), |f| rows::fill_values(f, b.fill_seq(&f.cid, &f.trade_id)?))
                .map(|r| FILLS.write(r)))
        }
        7 => one(rows_of(b.trades.iter(), |t| rows::trade_values(t, b.fill_seq(&t.cid, &t.trade_id)?))
            .map(|r| TRADES.write(r))),
        8 => super::protect::writes(b),
        _ => return None,
    })
}

/// A connection of the pool, for a batch (the writer takes one out of the pool for good).
pub(crate) async fn acquire<DB: Dialect>(pool: &Pool<DB>) -> Result<sqlx::pool::PoolConnection<DB>, StoreError> {
    pool.acquire().await.map_err(tx_error(DB::BACKEND, "begin"))
}

/// Every write of a batch, in the order [`step`] gives them.
///
/// # Errors
/// [`StoreError::InvalidBatch`] when a row cannot be encoded.
pub(crate) fn writes(b: &WriteBatch) -> Result<Vec<Write<'_>>, StoreError> {
    let mut out = Vec::new();
    let mut k = 0;
    while let Some(ws) = step(k, b) {
        out.extend(ws?);
        k += 1;
    }
    Ok(out)
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

/// ` AND (<column> = 'a' OR <column> = 'b' …)`. The names are the model's own enum names,
/// written as literals rather than binds so that the planners can match the partial index
/// over open orders: SQLite's predicate (migration 0006) is this very expression, the same
/// names in the same order; Postgres proves its `IN` predicate from it.
fn push_status_in<DB: Dialect>(qb: &mut QueryBuilder<'_, DB>, column: &str, names: &[&'static str]) {
    qb.push(" AND (");
    for (i, name) in names.iter().enumerate() {
        debug_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "status name {name}");
        if i > 0 {
            qb.push(" OR ");
        }
        qb.push(format_args!("{column} = '{name}'"));
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
