//! SQL both dialects agree on, written once over the [`Dialect`] trait.
//!
//! Placeholders (`?` vs `$n`) come from sqlx's `QueryBuilder`; `INSERT … ON CONFLICT … DO
//! UPDATE SET c = excluded.c`, `IN (subquery)`, `LIMIT/OFFSET` read the same in SQLite and
//! Postgres. What differs (binds, how writes carry rows, snapshot reads, connect options,
//! migrations) lives in `sqlite.rs` and `postgres.rs`.
//!
//! Writes carry their rows either as multi-row `VALUES` (one bind per value) or, where that
//! is cheaper ([`WriteMode::Json`], SQLite), as one bind per statement: the rows as a JSON
//! array of arrays (decimals as strings, times as integers, so both stay exact) that the
//! database unpacks. That SQL text does not depend on the row count, so each connection
//! prepares it once.

use super::error::StoreError;
use super::rows::{
    self, BalanceRow, EventRow, FillRow, OrderRow, PositionRow, Table, TradeRow, BALANCES, FILLS, ORDERS, ORDER_EVENTS,
    POSITIONS, TRADES,
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
}

/// A JSON string, integer, number, boolean or null.
impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Text(Some(v)) => s.serialize_str(v),
            Val::Int(Some(v)) => s.serialize_i64(*v),
            Val::Real(Some(v)) => s.serialize_f64(*v),
            Val::Bool(v) => s.serialize_bool(*v),
            Val::Text(None) | Val::Int(None) | Val::Real(None) => s.serialize_unit(),
        }
    }
}

/// How write statements carry their rows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WriteMode {
    /// Multi-row `INSERT … VALUES`, one bind per value: at most `max_binds` binds and
    /// `max_rows` rows (smaller statements are cheaper to plan) per statement.
    Values { max_binds: usize, max_rows: usize },
    /// One bind per statement holding up to `max_rows` rows as a JSON array of arrays (the
    /// column values in table order); `insert(table, columns)` gives the SQL before and after
    /// that bind, up to where an `ON CONFLICT` clause may follow.
    Json { insert: fn(&str, &[&str]) -> (String, String), max_rows: usize },
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

/// Writes rows with multi-row INSERTs (upserts for tables that replace), chunked as the
/// dialect's [`WriteMode`] says.
async fn write_rows<'a, DB: Dialect, const N: usize>(
    conn: &mut DB::Connection,
    table: &Table<N>,
    rows: Vec<[Val<'a>; N]>,
) -> Result<(), StoreError> {
    let (per_statement, head, after_bind) = match DB::WRITE {
        WriteMode::Values { max_binds, max_rows } => {
            ((max_binds / N).clamp(1, max_rows), table.insert_head(), String::new())
        }
        WriteMode::Json { insert, max_rows } => {
            let (head, after_bind) = insert(table.name, &table.cols);
            (max_rows.max(1), head, after_bind)
        }
    };
    let tail = table.conflict_tail();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<[Val<'a>; N]> = rows.by_ref().take(per_statement).collect();
        let count = chunk.len();
        let mut qb = QueryBuilder::<DB>::new(head.as_str());
        if let WriteMode::Values { .. } = DB::WRITE {
            qb.push_values(chunk, |mut sep, row| {
                for value in row {
                    DB::bind(&mut sep, value);
                }
            });
        } else {
            let json = serde_json::to_string(&chunk.iter().map(|r| r.as_slice()).collect::<Vec<_>>())
                .map_err(|e| StoreError::InvalidBatch(format!("cannot encode {} rows as JSON: {e}", table.name)))?;
            bind(&mut qb, Val::Text(Some(Cow::Owned(json))));
            qb.push(after_bind.as_str());
        }
        qb.push(tail.as_str());
        DB::execute(conn, &mut qb).await.map_err(|source| StoreError::Write {
            backend: DB::BACKEND,
            table: table.name,
            op: if table.upsert { "upsert" } else { "insert" },
            rows: count,
            source,
        })?;
    }
    Ok(())
}

fn tx_error(backend: &'static str, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Transaction { backend, op, source }
}

/// Turns the batch into rows, refusing it before anything is written if it is inconsistent.
struct BatchRows<'a> {
    orders: Vec<[Val<'a>; 27]>,
    positions: Vec<[Val<'a>; 17]>,
    balances: Vec<[Val<'a>; 4]>,
    events: Vec<[Val<'a>; 7]>,
    fills: Vec<[Val<'a>; 11]>,
    trades: Vec<[Val<'a>; 15]>,
}

impl<'a> BatchRows<'a> {
    fn new(b: &'a WriteBatch) -> Result<Self, StoreError> {
        let balance_ts = b.latest_ts().unwrap_or_else(Timestamp::now);
        Ok(Self {
            orders: b.orders.values().map(rows::order_values).collect::<Result<_, _>>()?,
            positions: b.positions.values().map(rows::position_values).collect::<Result<_, _>>()?,
            balances: b.balances.iter().map(|((a, c), cash)| rows::balance_values(a, c, *cash, balance_ts)).collect(),
            events: b.order_events.iter().map(|(cid, c)| rows::event_values(cid, c)).collect(),
            fills: b
                .fills
                .iter()
                .map(|f| rows::fill_values(f, b.fill_seq(&f.cid, &f.trade_id)?))
                .collect::<Result<_, _>>()?,
            trades: b
                .trades
                .iter()
                .map(|t| rows::trade_values(t, b.fill_seq(&t.cid, &t.trade_id)?))
                .collect::<Result<_, _>>()?,
        })
    }
}

/// Writes the whole batch in one transaction: all of it or, on any error, none of it.
pub(crate) async fn apply<DB: Dialect>(pool: &Pool<DB>, batch: &WriteBatch) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let rows = BatchRows::new(batch)?;
    let mut tx = pool.begin().await.map_err(tx_error(DB::BACKEND, "begin"))?;
    // Parents first: audit rows, fills and trades reference their order.
    write_rows::<DB, 27>(&mut tx, &ORDERS, rows.orders).await?;
    write_rows::<DB, 17>(&mut tx, &POSITIONS, rows.positions).await?;
    write_rows::<DB, 4>(&mut tx, &BALANCES, rows.balances).await?;
    write_rows::<DB, 7>(&mut tx, &ORDER_EVENTS, rows.events).await?;
    write_rows::<DB, 11>(&mut tx, &FILLS, rows.fills).await?;
    write_rows::<DB, 15>(&mut tx, &TRADES, rows.trades).await?;
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

async fn fetch<'a, DB: Dialect, T: Decodable>(
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

fn push_status_in<'a, DB: Dialect>(qb: &mut QueryBuilder<'a, DB>, column: &str, names: &[&'static str]) {
    qb.push(format_args!(" AND {column} IN ("));
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            qb.push(", ");
        }
        bind(qb, Val::Text(Some(Cow::Borrowed(name))));
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
