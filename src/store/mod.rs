//! Durable persistence with sqlx: SQLite (default) or Postgres. No business rules here.
//!
//! [`Store::connect`] opens the database named by a URL and runs the embedded migrations
//! (`migrations/sqlite`, `migrations/postgres`: the same schema in each dialect).
//! [`Store::apply`] commits one [`WriteBatch`] in one transaction; the query methods read
//! orders (with their audit trail), fills, trades, positions and balances back into the
//! model types, and [`Store::load_snapshot`] returns what a restart needs.
//!
//! A batch becomes one write per table and operation (`sql.rs`); SQLite binds each row
//! straight into a prepared statement through its C API on the connection sqlx opened
//! (`sqlite_stmt.rs`, the store's only `unsafe`), Postgres sends one `unnest` statement per
//! write (`postgres.rs`).
//!
//! Storage conventions: money and quantities are TEXT holding the exact decimal, times are
//! BIGINT nanoseconds since the Unix epoch, enums are their snake_case names.
//!
//! SQLite URLs: `sqlite://path/to/file.db` (relative or absolute; the file is created on first
//! connect), optionally `?synchronous=full|normal|off` (see [`SqliteSync`]; FULL by default).
//! Postgres URLs: `postgres://user:password@host:port/database` (or `postgresql://`).

pub mod batch;
mod error;
pub mod export;
mod postgres;
pub mod protect;
mod rows;
pub mod runs;
mod sql;
mod sqlite;
mod sqlite_stmt;
mod strategy;

pub use batch::WriteBatch;
pub use error::{redact_url, StoreError};
pub use protect::{CloseReasonRecord, RiskAuditRecord, StoredMonitor};
pub use sqlite::SqliteSync;
pub use strategy::{OrderWhy, StrategyState};

use crate::model::{
    AccountId, ClientOrderId, Currency, Fill, Order, OrderStatus, Position, StatusChange, StrategyId, Symbol,
    Timestamp, Trade,
};
use rust_decimal::Decimal;
use sql::{PositionSet, Select};
use sqlx::{PgConnection, PgPool, SqliteConnection, SqlitePool};

/// The database of record: a pool over SQLite or Postgres.
///
/// Cloning is cheap (the pool is shared).
#[derive(Debug, Clone)]
pub enum Store {
    /// An SQLite file in WAL mode.
    Sqlite(SqlitePool),
    /// A Postgres server.
    Postgres(PgPool),
}

/// The connection a journal's single writer commits every batch on (see [`Store::writer`]).
pub struct StoreWriter(WriterConnection);

/// The writer's connection, by backend.
enum WriterConnection {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl std::fmt::Debug for StoreWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let backend = match self.0 {
            WriterConnection::Sqlite(_) => "sqlite",
            WriterConnection::Postgres(_) => "postgres",
        };
        f.debug_tuple("StoreWriter").field(&backend).finish()
    }
}

impl StoreWriter {
    /// Writes the whole batch in one transaction, as [`Store::apply`] does.
    ///
    /// # Errors
    /// As [`Store::apply`].
    pub async fn apply(&mut self, batch: &WriteBatch) -> Result<(), StoreError> {
        match &mut self.0 {
            WriterConnection::Sqlite(conn) => sqlite::apply_on(conn, batch).await,
            WriterConnection::Postgres(conn) => postgres::apply_on(conn, batch).await,
        }
    }
}

/// Which orders [`Store::orders`] returns. Every `None` field matches everything.
///
/// Results are ordered by `ts_init`, then client order id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only orders in one of these statuses (an empty list matches nothing).
    pub status: Option<Vec<OrderStatus>>,
    /// Only orders for this symbol.
    pub symbol: Option<Symbol>,
    /// Only orders of this strategy.
    pub strategy_id: Option<StrategyId>,
    /// Only orders created at or after this time (`ts_init >= from`).
    pub from: Option<Timestamp>,
    /// Only orders created before this time (`ts_init < to`).
    pub to: Option<Timestamp>,
    /// At most this many orders.
    pub limit: Option<u32>,
    /// Skip this many orders first.
    pub offset: Option<u32>,
}

/// What a restart needs to rebuild the books.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Every order that is not terminal, with history and trade ids, by `ts_init`.
    pub open_orders: Vec<Order>,
    /// Every open or closing position, by id.
    pub open_positions: Vec<Position>,
    /// Every cash balance: (account, currency, cash), by account then currency.
    pub balances: Vec<(AccountId, Currency, Decimal)>,
}

/// Runs the same generic code on whichever pool the store holds.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match $store {
            Store::Sqlite($pool) => $body,
            Store::Postgres($pool) => $body,
        }
    };
}

impl Store {
    /// Opens the database named by `url` and brings its schema up to date.
    ///
    /// `sqlite://path` creates the file if needed, turns on WAL and applies the URL's
    /// `synchronous` parameter (FULL when absent); `postgres://…` connects to a server.
    ///
    /// # Errors
    /// [`StoreError::BadUrl`] for an unknown scheme or malformed URL,
    /// [`StoreError::Connect`] when the database cannot be opened or reached,
    /// [`StoreError::Migrate`] when the schema cannot be brought up to date.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let (url, sync) = sqlite::split_sync_param(url)?;
            return Ok(Store::Sqlite(sqlite::connect(&url, sync.unwrap_or_default()).await?));
        }
        Self::connect_with(url, SqliteSync::default()).await
    }

    /// Like [`Store::connect`], with the SQLite `synchronous` level given here (it replaces a
    /// `synchronous` URL parameter; Postgres ignores it).
    ///
    /// # Errors
    /// As [`Store::connect`].
    pub async fn connect_with(url: &str, sync: SqliteSync) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let (url, _) = sqlite::split_sync_param(url)?;
            Ok(Store::Sqlite(sqlite::connect(&url, sync).await?))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Store::Postgres(postgres::connect(url).await?))
        } else {
            Err(StoreError::BadUrl {
                url: redact_url(url),
                reason: "expected a URL starting with sqlite://, postgres:// or postgresql://".into(),
            })
        }
    }

    /// `sqlite` or `postgres`.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// Writes the whole batch in one transaction: orders, positions and balances are upserted,
    /// audit rows, fills and trades appended. On any error nothing of the batch is stored.
    ///
    /// # Errors
    /// [`StoreError::InvalidBatch`] before writing when a fill's order is missing from the
    /// batch; [`StoreError::Write`] naming the table when a statement fails (for example a
    /// duplicate audit row); [`StoreError::Transaction`] when begin/commit fails.
    pub async fn apply(&self, batch: &WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        match self {
            Store::Sqlite(pool) => sqlite::apply_on(&mut *sql::acquire(pool).await?, batch).await,
            Store::Postgres(pool) => postgres::apply_on(&mut *sql::acquire(pool).await?, batch).await,
        }
    }

    /// A connection of the store's own (with the pool's settings, outside the pool) for the
    /// one task that writes batches in order: every batch then runs on the same connection.
    /// SQLite keeps its page cache between batches (a connection drops it whenever another
    /// one wrote since its last transaction, and pooled batches alternated between two
    /// connections); Postgres keeps its prepared statements. Reads go on using the pool.
    ///
    /// # Errors
    /// [`StoreError::Transaction`] when no connection can be opened.
    pub async fn writer(&self) -> Result<StoreWriter, StoreError> {
        Ok(StoreWriter(match self {
            Store::Sqlite(pool) => WriterConnection::Sqlite(sqlite::writer_connection(pool).await?),
            Store::Postgres(pool) => WriterConnection::Postgres(sql::acquire(pool).await?.detach()),
        }))
    }

    /// Orders matching `filter`, with history and trade ids, by `ts_init` then client order id.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        on_pool!(self, pool => sql::select_orders(pool, Select::Filter(filter)).await)
    }

    /// Every order that is not in a terminal status.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn open_orders(&self) -> Result<Vec<Order>, StoreError> {
        self.orders(&OrderFilter { status: Some(sql::open_statuses()), ..OrderFilter::default() }).await
    }

    /// One order by client order id.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn order(&self, cid: &ClientOrderId) -> Result<Option<Order>, StoreError> {
        let mut found = on_pool!(self, pool => sql::select_orders(pool, Select::One(cid)).await)?;
        Ok(found.pop())
    }

    /// An order's audit trail, oldest first (empty for an unknown order).
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn audit_trail(&self, cid: &ClientOrderId) -> Result<Vec<StatusChange>, StoreError> {
        on_pool!(self, pool => sql::audit_trail(pool, cid).await)
    }

    /// An order's fills, in the order they were applied.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn fills(&self, cid: &ClientOrderId) -> Result<Vec<Fill>, StoreError> {
        on_pool!(self, pool => sql::fills(pool, cid).await)
    }

    /// Positions by id: only open and closing ones when `open_only`, else all.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn positions(&self, open_only: bool) -> Result<Vec<Position>, StoreError> {
        let set = if open_only { PositionSet::Open } else { PositionSet::All };
        on_pool!(self, pool => sql::positions(pool, set).await)
    }

    /// Closed and liquidated positions, by id.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn closed_positions(&self) -> Result<Vec<Position>, StoreError> {
        on_pool!(self, pool => sql::positions(pool, PositionSet::Closed).await)
    }

    /// Trades (optionally of one symbol), oldest first; with `limit`, the most recent
    /// `limit` trades.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn trades(&self, symbol: Option<&Symbol>, limit: Option<u32>) -> Result<Vec<Trade>, StoreError> {
        on_pool!(self, pool => sql::trades(pool, symbol, limit).await)
    }

    /// Every cash balance as (account, currency, cash), by account then currency.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn balances(&self) -> Result<Vec<(AccountId, Currency, Decimal)>, StoreError> {
        on_pool!(self, pool => sql::balances(pool).await)
    }

    /// Open orders, open positions and balances, read from one consistent snapshot.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn load_snapshot(&self) -> Result<Snapshot, StoreError> {
        on_pool!(self, pool => sql::load_snapshot(pool).await)
    }

    /// The monitors of open and closing positions (spec, levels, trail and break-even state),
    /// by position id: what a restart re-arms.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn monitors(&self) -> Result<Vec<StoredMonitor>, StoreError> {
        on_pool!(self, pool => protect::monitors(pool).await)
    }

    /// The risk audit trail (limit and trading-state changes), oldest first; with `limit`, the
    /// most recent `limit` rows.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn risk_audit(&self, limit: Option<u32>) -> Result<Vec<RiskAuditRecord>, StoreError> {
        on_pool!(self, pool => protect::risk_audit(pool, limit).await)
    }

    /// Why positions closed (monitor exits, kill switch, manual closes), by position id.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn close_reasons(&self) -> Result<Vec<CloseReasonRecord>, StoreError> {
        on_pool!(self, pool => protect::close_reasons(pool).await)
    }

    /// Closed and liquidated positions, by id, each with why it closed when that was recorded.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn closed_positions_with_reasons(
        &self,
    ) -> Result<Vec<(Position, Option<CloseReasonRecord>)>, StoreError> {
        let mut reasons: std::collections::HashMap<_, _> =
            self.close_reasons().await?.into_iter().map(|r| (r.position_id, r)).collect();
        Ok(self.closed_positions().await?.into_iter().map(|p| (p.clone(), reasons.remove(&p.id))).collect())
    }

    /// The provenance of a strategy order (script hash, generation, callback, signal);
    /// `None` for an unknown order or one not placed by a Lua strategy.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn provenance(&self, cid: &ClientOrderId) -> Result<Option<crate::model::Provenance>, StoreError> {
        on_pool!(self, pool => strategy::provenance(pool, cid).await)
    }

    /// Why an order exists: the order with its status history and LLM metadata, its
    /// provenance and its trades; `None` for an unknown order.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn why(&self, cid: &ClientOrderId) -> Result<Option<OrderWhy>, StoreError> {
        let Some(order) = self.order(cid).await? else { return Ok(None) };
        let provenance = self.provenance(cid).await?;
        let trades = on_pool!(self, pool => strategy::trades_of(pool, cid).await)?;
        Ok(Some(OrderWhy { order, provenance, trades }))
    }

    /// Saves (replaces) a strategy's `ctx.state`.
    ///
    /// # Errors
    /// [`StoreError::Write`] when the upsert fails.
    pub async fn save_strategy_state(&self, state: &StrategyState) -> Result<(), StoreError> {
        on_pool!(self, pool => strategy::save_state(pool, state).await)
    }

    /// A strategy's saved `ctx.state`, if one was saved.
    ///
    /// # Errors
    /// [`StoreError::Read`] or [`StoreError::Corrupt`].
    pub async fn load_strategy_state(&self, strategy: &StrategyId) -> Result<Option<StrategyState>, StoreError> {
        on_pool!(self, pool => strategy::load_state(pool, strategy).await)
    }

    /// Records the start of a backtest run with its inputs.
    ///
    /// # Errors
    /// [`StoreError::InvalidBatch`] when a run with this id is already stored (give the run
    /// another id), [`StoreError::Write`] when the insert fails.
    pub async fn begin_run(&self, run_id: &str, inputs: &serde_json::Value) -> Result<(), StoreError> {
        if self.run(run_id).await?.is_some() {
            return Err(StoreError::InvalidBatch(format!(
                "run '{run_id}' is already stored in this database; name this run with --run-id"
            )));
        }
        on_pool!(self, pool => runs::begin(pool, run_id, inputs).await)
    }

    /// Records the end of a run: its fingerprint and report (JSON text).
    ///
    /// # Errors
    /// [`StoreError::Write`] when the update fails.
    pub async fn finish_run(&self, run_id: &str, fingerprint: &str, report: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => runs::finish(pool, run_id, fingerprint, report).await)
    }

    /// One stored run.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub async fn run(&self, run_id: &str) -> Result<Option<runs::RunRow>, StoreError> {
        Ok(self.runs().await?.into_iter().find(|r| r.run_id == run_id))
    }

    /// Every stored run, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub async fn runs(&self) -> Result<Vec<runs::RunRow>, StoreError> {
        on_pool!(self, pool => runs::all(pool).await)
    }

    /// Waits for connections to finish and closes the pool (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        on_pool!(self, pool => pool.close().await);
    }
}
