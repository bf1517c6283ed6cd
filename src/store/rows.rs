//! Row ↔ model mapping, once for both backends.
//!
//! Each table has a [`Table`] (name, columns in bind order, key) and a `*Row` struct whose
//! fields are the same columns; writes turn a model value into one `[Val; N]`, reads turn a
//! `*Row` back into the model and refuse any stored value the model would not accept.

use super::error::StoreError;
use super::sql::{Op, Val};
use crate::model::{
    AccountId, BracketRole, ClientOrderId, Currency, Fill, IdError, Liquidity, LlmMeta, Order, OrderEventKind,
    OrderStatus, OrderType, Position, PositionId, PositionStatus, Side, StatusChange, StrategyId, Symbol, TimeInForce,
    Timestamp, Trade, TradeId, TradeKind, TrailingOffset, VenueOrderId,
};
use rust_decimal::Decimal;
use std::borrow::Cow;
use std::str::FromStr;

/// A table: its name, its columns in bind order, and the columns of its key.
#[derive(Debug)]
pub(crate) struct Table<const N: usize> {
    /// Table name.
    pub name: &'static str,
    /// Every column, in the order rows bind them and `*Row` structs name them.
    pub cols: [&'static str; N],
    /// The key columns (the conflict target of an upsert).
    pub key: &'static [&'static str],
    /// Columns an upsert leaves as first written: indexed columns that never change for a
    /// key (rewriting them would cost index maintenance for nothing).
    pub fixed: &'static [&'static str],
    /// What a write does with each row (insert, upsert, update by key…).
    pub op: Op,
}

/// The `orders` table.
pub(crate) const ORDERS: Table<27> = Table {
    name: "orders",
    cols: [
        "cid",
        "account",
        "strategy_id",
        "symbol",
        "side",
        "order_type",
        "tif",
        "reduce_only",
        "llm_provider",
        "llm_model",
        "llm_reasoning",
        "llm_confidence",
        "parent",
        "role",
        "children",
        "ts_init",
        "qty",
        "limit_price",
        "stop_price",
        "trailing_kind",
        "trailing_value",
        "venue_order_id",
        "status",
        "filled_qty",
        "avg_px",
        "fees",
        "ts_last",
    ],
    key: &["cid"],
    // An order's symbol, strategy and creation time never change (all three are indexed).
    fixed: &["symbol", "strategy_id", "ts_init"],
    op: Op::Upsert,
};

/// Where the columns that can change after an order's row is first written sit in
/// [`ORDERS`], its key first: children (a bracket entry's list shrinks when one is
/// cancelled), the terms a modify changes, the venue id, status, fills and times. Everything
/// else is fixed at creation.
const ORDER_CHANGING: [usize; 13] = [0, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26];

const fn pick<const N: usize, const M: usize>(cols: &[&'static str; N], at: &[usize; M]) -> [&'static str; M] {
    let mut out = [""; M];
    let mut i = 0;
    while i < M {
        out[i] = cols[at[i]];
        i += 1;
    }
    out
}

/// The changing columns of `orders` (see [`ORDER_CHANGING`]): what a later write of an order
/// the store already holds updates, keyed by `cid`.
pub(crate) const ORDER_CHANGES: Table<13> =
    Table { name: "orders", cols: pick(&ORDERS.cols, &ORDER_CHANGING), key: &["cid"], fixed: &[], op: Op::Update };

/// The `order_events` table (audit trail).
pub(crate) const ORDER_EVENTS: Table<7> = Table {
    name: "order_events",
    cols: ["cid", "seq", "event", "from_status", "to_status", "ts", "reason"],
    key: &["cid", "seq"],
    fixed: &[],
    op: Op::Insert,
};

/// The `fills` table.
pub(crate) const FILLS: Table<11> = Table {
    name: "fills",
    cols: ["cid", "trade_id", "seq", "symbol", "side", "qty", "price", "fee", "fee_currency", "liquidity", "ts"],
    key: &["cid", "trade_id"],
    fixed: &[],
    op: Op::Insert,
};

/// The `trades` table.
pub(crate) const TRADES: Table<15> = Table {
    name: "trades",
    cols: [
        "cid",
        "trade_id",
        "seq",
        "strategy_id",
        "account",
        "symbol",
        "side",
        "qty",
        "price",
        "fee",
        "kind",
        "position_id",
        "opened_position_id",
        "realized_pnl",
        "ts",
    ],
    key: &["cid", "trade_id"],
    fixed: &[],
    op: Op::Insert,
};

/// The `positions` table.
pub(crate) const POSITIONS: Table<17> = Table {
    name: "positions",
    cols: [
        "id",
        "account",
        "symbol",
        "currency",
        "qty",
        "avg_px",
        "realized_pnl",
        "fees",
        "mark",
        "high_water",
        "low_water",
        "max_favorable",
        "max_adverse",
        "status",
        "opened_at",
        "closed_at",
        "ts_last",
    ],
    key: &["id"],
    // A position life belongs to one account and symbol (both indexed).
    fixed: &["account", "symbol"],
    op: Op::Upsert,
};

/// The `balances` table.
pub(crate) const BALANCES: Table<4> = Table {
    name: "balances",
    cols: ["account", "currency", "cash", "ts_last"],
    key: &["account", "currency"],
    fixed: &[],
    op: Op::Upsert,
};

fn dec(d: Decimal) -> Val<'static> {
    Val::Text(Some(Cow::Owned(d.to_string())))
}

fn opt_dec(d: Option<Decimal>) -> Val<'static> {
    Val::Text(d.map(|d| Cow::Owned(d.to_string())))
}

fn text(s: &str) -> Val<'_> {
    Val::Text(Some(Cow::Borrowed(s)))
}

fn opt_text(s: Option<&str>) -> Val<'_> {
    Val::Text(s.map(Cow::Borrowed))
}

fn ts(t: Timestamp) -> Val<'static> {
    Val::Int(Some(t.nanos()))
}

fn position_id(id: PositionId) -> Result<i64, StoreError> {
    i64::try_from(id.0)
        .map_err(|_| StoreError::InvalidBatch(format!("position id {id} does not fit a signed 64-bit column")))
}

fn seq_val(trade_id: &TradeId, seq: usize) -> Result<Val<'static>, StoreError> {
    let seq = i64::try_from(seq).map_err(|_| StoreError::InvalidBatch(format!("fill {trade_id}: seq overflow")))?;
    Ok(Val::Int(Some(seq)))
}

/// The `orders` row of an order.
///
/// # Errors
/// [`StoreError::InvalidBatch`] if the children list cannot be encoded.
pub(crate) fn order_values(o: &Order) -> Result<[Val<'_>; 27], StoreError> {
    let children = serde_json::to_string(&o.children)
        .map_err(|e| StoreError::InvalidBatch(format!("order {}: cannot encode children: {e}", o.cid)))?;
    let llm = o.llm.as_ref();
    let (trailing_kind, trailing_value) = match o.trailing {
        Some(TrailingOffset::Amount(v)) => (Some("amount"), Some(v)),
        Some(TrailingOffset::Percent(v)) => (Some("percent"), Some(v)),
        None => (None, None),
    };
    Ok([
        text(o.cid.as_str()),
        text(o.account.as_str()),
        text(o.strategy_id.as_str()),
        text(o.symbol.as_str()),
        text(o.side.as_str()),
        text(o.order_type.as_str()),
        text(o.tif.as_str()),
        Val::Bool(o.reduce_only),
        opt_text(llm.map(LlmMeta::provider)),
        opt_text(llm.map(LlmMeta::model)),
        opt_text(llm.map(LlmMeta::reasoning)),
        Val::Real(llm.map(LlmMeta::confidence)),
        opt_text(o.parent.as_ref().map(ClientOrderId::as_str)),
        opt_text(o.role.map(BracketRole::as_str)),
        Val::Text(Some(Cow::Owned(children))),
        ts(o.ts_init),
        dec(o.qty),
        opt_dec(o.limit_price),
        opt_dec(o.stop_price),
        opt_text(trailing_kind),
        opt_dec(trailing_value),
        opt_text(o.venue_order_id.as_ref().map(VenueOrderId::as_str)),
        text(o.status.as_str()),
        dec(o.filled_qty),
        opt_dec(o.avg_px),
        dec(o.fees),
        ts(o.ts_last),
    ])
}

/// The [`ORDER_CHANGES`] row of an order: its key and the columns that can change.
///
/// # Errors
/// As [`order_values`].
pub(crate) fn order_change_values(o: &Order) -> Result<[Val<'_>; 13], StoreError> {
    let mut full = order_values(o)?;
    Ok(ORDER_CHANGING.map(|i| std::mem::replace(&mut full[i], Val::Bool(false))))
}

/// The `order_events` row of one audit record.
pub(crate) fn event_values<'a>(cid: &'a ClientOrderId, c: &'a StatusChange) -> [Val<'a>; 7] {
    [
        text(cid.as_str()),
        Val::Int(Some(i64::from(c.seq))),
        text(c.event.as_str()),
        text(c.from.as_str()),
        text(c.to.as_str()),
        ts(c.ts),
        opt_text(c.reason.as_deref()),
    ]
}

/// The `fills` row of a fill that is the `seq`-th (0-based) of its order.
pub(crate) fn fill_values(f: &Fill, seq: usize) -> Result<[Val<'_>; 11], StoreError> {
    Ok([
        text(f.cid.as_str()),
        text(f.trade_id.as_str()),
        seq_val(&f.trade_id, seq)?,
        text(f.symbol.as_str()),
        text(f.side.as_str()),
        dec(f.qty),
        dec(f.price),
        dec(f.fee),
        text(f.fee_currency.as_str()),
        text(f.liquidity.as_str()),
        ts(f.ts),
    ])
}

/// The `trades` row of a trade that is the `seq`-th (0-based) execution of its order.
///
/// # Errors
/// [`StoreError::InvalidBatch`] for a position id above `i64::MAX`.
pub(crate) fn trade_values(t: &Trade, seq: usize) -> Result<[Val<'_>; 15], StoreError> {
    Ok([
        text(t.cid.as_str()),
        text(t.trade_id.as_str()),
        seq_val(&t.trade_id, seq)?,
        text(t.strategy_id.as_str()),
        text(t.account.as_str()),
        text(t.symbol.as_str()),
        text(t.side.as_str()),
        dec(t.qty),
        dec(t.price),
        dec(t.fee),
        text(t.kind.as_str()),
        Val::Int(Some(position_id(t.position_id)?)),
        Val::Int(t.opened_position_id.map(position_id).transpose()?),
        dec(t.realized_pnl),
        ts(t.ts),
    ])
}

/// The `positions` row of a position.
///
/// # Errors
/// [`StoreError::InvalidBatch`] for a position id above `i64::MAX`.
pub(crate) fn position_values(p: &Position) -> Result<[Val<'_>; 17], StoreError> {
    Ok([
        Val::Int(Some(position_id(p.id)?)),
        text(p.account.as_str()),
        text(p.symbol.as_str()),
        text(p.currency.as_str()),
        dec(p.qty),
        dec(p.avg_px),
        dec(p.realized_pnl),
        dec(p.fees),
        dec(p.mark),
        dec(p.high_water),
        dec(p.low_water),
        dec(p.max_favorable),
        dec(p.max_adverse),
        text(p.status.as_str()),
        ts(p.opened_at),
        Val::Int(p.closed_at.map(Timestamp::nanos)),
        ts(p.ts_last),
    ])
}

/// The `balances` row of one cash balance.
pub(crate) fn balance_values<'a>(
    account: &'a AccountId,
    currency: &'a Currency,
    cash: Decimal,
    at: Timestamp,
) -> [Val<'a>; 4] {
    [text(account.as_str()), text(currency.as_str()), dec(cash), ts(at)]
}

/// Reads columns of one row, naming the table and key in every error.
struct Cols<'r> {
    table: &'static str,
    key: &'r str,
}

impl Cols<'_> {
    fn bad(&self, column: &'static str, value: impl Into<String>, reason: impl Into<String>) -> StoreError {
        StoreError::Corrupt {
            table: self.table,
            key: self.key.to_owned(),
            column,
            value: value.into(),
            reason: reason.into(),
        }
    }

    fn dec(&self, column: &'static str, v: &str) -> Result<Decimal, StoreError> {
        Decimal::from_str(v).map_err(|e| self.bad(column, v, format!("not a decimal: {e}")))
    }

    fn opt_dec(&self, column: &'static str, v: Option<&str>) -> Result<Option<Decimal>, StoreError> {
        v.map(|v| self.dec(column, v)).transpose()
    }

    fn id<T>(
        &self,
        column: &'static str,
        v: &str,
        f: impl FnOnce(String) -> Result<T, IdError>,
    ) -> Result<T, StoreError> {
        f(v.to_owned()).map_err(|e| self.bad(column, v, e.to_string()))
    }

    fn name<T>(&self, column: &'static str, v: &str, parse: impl FnOnce(&str) -> Option<T>) -> Result<T, StoreError> {
        parse(v).ok_or_else(|| self.bad(column, v, "unknown name"))
    }

    fn position_id(&self, column: &'static str, v: i64) -> Result<PositionId, StoreError> {
        u64::try_from(v).map(PositionId).map_err(|_| self.bad(column, v.to_string(), "negative position id"))
    }
}

fn parse_liquidity(s: &str) -> Option<Liquidity> {
    [Liquidity::Maker, Liquidity::Taker].into_iter().find(|l| l.as_str() == s)
}

/// One `orders` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct OrderRow {
    cid: String,
    account: String,
    strategy_id: String,
    symbol: String,
    side: String,
    order_type: String,
    tif: String,
    reduce_only: bool,
    llm_provider: Option<String>,
    llm_model: Option<String>,
    llm_reasoning: Option<String>,
    llm_confidence: Option<f64>,
    parent: Option<String>,
    role: Option<String>,
    children: String,
    ts_init: i64,
    qty: String,
    limit_price: Option<String>,
    stop_price: Option<String>,
    trailing_kind: Option<String>,
    trailing_value: Option<String>,
    venue_order_id: Option<String>,
    status: String,
    filled_qty: String,
    avg_px: Option<String>,
    fees: String,
    ts_last: i64,
}

impl OrderRow {
    /// The row's client order id, as stored.
    pub(crate) fn cid(&self) -> &str {
        &self.cid
    }

    /// The order, with its audit trail and trade ids (read from their own tables).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the column whose value the model refuses.
    pub(crate) fn into_order(self, history: Vec<StatusChange>, trade_ids: Vec<TradeId>) -> Result<Order, StoreError> {
        let c = Cols { table: ORDERS.name, key: &self.cid };
        let llm = match (self.llm_provider, self.llm_model, self.llm_reasoning, self.llm_confidence) {
            (None, None, None, None) => None,
            (Some(p), Some(m), Some(r), Some(conf)) => Some(
                LlmMeta::try_new(p, m, r, conf)
                    .map_err(|e| c.bad("llm_confidence", conf.to_string(), e.to_string()))?,
            ),
            _ => return Err(c.bad("llm_provider", "", "LLM columns must be all set or all empty")),
        };
        let trailing = match (self.trailing_kind.as_deref(), self.trailing_value.as_deref()) {
            (None, None) => None,
            (Some("amount"), Some(v)) => Some(TrailingOffset::Amount(c.dec("trailing_value", v)?)),
            (Some("percent"), Some(v)) => Some(TrailingOffset::Percent(c.dec("trailing_value", v)?)),
            (kind, _) => {
                return Err(c.bad("trailing_kind", kind.unwrap_or(""), "needs kind amount|percent with a value"))
            }
        };
        let children: Vec<ClientOrderId> = serde_json::from_str(&self.children)
            .map_err(|e| c.bad("children", self.children.as_str(), format!("not a JSON list of order ids: {e}")))?;
        Ok(Order {
            account: c.id("account", &self.account, AccountId::try_new)?,
            strategy_id: c.id("strategy_id", &self.strategy_id, StrategyId::try_new)?,
            symbol: c.id("symbol", &self.symbol, Symbol::try_new)?,
            side: c.name("side", &self.side, Side::parse)?,
            order_type: c.name("order_type", &self.order_type, OrderType::parse)?,
            tif: c.name("tif", &self.tif, TimeInForce::parse)?,
            reduce_only: self.reduce_only,
            llm,
            provenance: None,
            parent: self.parent.as_deref().map(|p| c.id("parent", p, ClientOrderId::try_new)).transpose()?,
            role: self.role.as_deref().map(|r| c.name("role", r, BracketRole::parse)).transpose()?,
            children,
            ts_init: Timestamp(self.ts_init),
            qty: c.dec("qty", &self.qty)?,
            limit_price: c.opt_dec("limit_price", self.limit_price.as_deref())?,
            stop_price: c.opt_dec("stop_price", self.stop_price.as_deref())?,
            trailing,
            venue_order_id: self
                .venue_order_id
                .as_deref()
                .map(|v| c.id("venue_order_id", v, VenueOrderId::try_new))
                .transpose()?,
            status: c.name("status", &self.status, OrderStatus::parse)?,
            filled_qty: c.dec("filled_qty", &self.filled_qty)?,
            avg_px: c.opt_dec("avg_px", self.avg_px.as_deref())?,
            fees: c.dec("fees", &self.fees)?,
            trade_ids,
            history,
            ts_last: Timestamp(self.ts_last),
            cid: c.id("cid", &self.cid, ClientOrderId::try_new)?,
        })
    }
}

/// One `order_events` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EventRow {
    cid: String,
    seq: i64,
    event: String,
    from_status: String,
    to_status: String,
    ts: i64,
    reason: Option<String>,
}

impl EventRow {
    /// The client order id the event belongs to, as stored.
    pub(crate) fn cid(&self) -> &str {
        &self.cid
    }

    /// The audit record.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the refused column.
    pub(crate) fn into_change(self) -> Result<StatusChange, StoreError> {
        let key = format!("{}#{}", self.cid, self.seq);
        let c = Cols { table: ORDER_EVENTS.name, key: &key };
        Ok(StatusChange {
            seq: u32::try_from(self.seq).map_err(|_| c.bad("seq", self.seq.to_string(), "out of range"))?,
            event: c.name("event", &self.event, OrderEventKind::parse)?,
            from: c.name("from_status", &self.from_status, OrderStatus::parse)?,
            to: c.name("to_status", &self.to_status, OrderStatus::parse)?,
            ts: Timestamp(self.ts),
            reason: self.reason,
        })
    }
}

/// One `fills` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct FillRow {
    cid: String,
    trade_id: String,
    #[allow(dead_code, reason = "selected with every column; the order comes from ORDER BY")]
    seq: i64,
    symbol: String,
    side: String,
    qty: String,
    price: String,
    fee: String,
    fee_currency: String,
    liquidity: String,
    ts: i64,
}

impl FillRow {
    /// The fill.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the refused column.
    pub(crate) fn into_fill(self) -> Result<Fill, StoreError> {
        let key = format!("{}/{}", self.cid, self.trade_id);
        let c = Cols { table: FILLS.name, key: &key };
        Ok(Fill {
            trade_id: c.id("trade_id", &self.trade_id, TradeId::try_new)?,
            cid: c.id("cid", &self.cid, ClientOrderId::try_new)?,
            symbol: c.id("symbol", &self.symbol, Symbol::try_new)?,
            side: c.name("side", &self.side, Side::parse)?,
            qty: c.dec("qty", &self.qty)?,
            price: c.dec("price", &self.price)?,
            fee: c.dec("fee", &self.fee)?,
            fee_currency: c.id("fee_currency", &self.fee_currency, Currency::try_new)?,
            liquidity: c.name("liquidity", &self.liquidity, parse_liquidity)?,
            ts: Timestamp(self.ts),
        })
    }
}

/// One `trades` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TradeRow {
    cid: String,
    trade_id: String,
    #[allow(dead_code, reason = "selected with every column; the order comes from ORDER BY")]
    seq: i64,
    strategy_id: String,
    account: String,
    symbol: String,
    side: String,
    qty: String,
    price: String,
    fee: String,
    kind: String,
    position_id: i64,
    opened_position_id: Option<i64>,
    realized_pnl: String,
    ts: i64,
}

impl TradeRow {
    /// The trade.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the refused column.
    pub(crate) fn into_trade(self) -> Result<Trade, StoreError> {
        let key = format!("{}/{}", self.cid, self.trade_id);
        let c = Cols { table: TRADES.name, key: &key };
        Ok(Trade {
            trade_id: c.id("trade_id", &self.trade_id, TradeId::try_new)?,
            cid: c.id("cid", &self.cid, ClientOrderId::try_new)?,
            strategy_id: c.id("strategy_id", &self.strategy_id, StrategyId::try_new)?,
            account: c.id("account", &self.account, AccountId::try_new)?,
            symbol: c.id("symbol", &self.symbol, Symbol::try_new)?,
            side: c.name("side", &self.side, Side::parse)?,
            qty: c.dec("qty", &self.qty)?,
            price: c.dec("price", &self.price)?,
            fee: c.dec("fee", &self.fee)?,
            kind: c.name("kind", &self.kind, TradeKind::parse)?,
            position_id: c.position_id("position_id", self.position_id)?,
            opened_position_id: self.opened_position_id.map(|v| c.position_id("opened_position_id", v)).transpose()?,
            realized_pnl: c.dec("realized_pnl", &self.realized_pnl)?,
            ts: Timestamp(self.ts),
        })
    }
}

/// One `positions` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct PositionRow {
    id: i64,
    account: String,
    symbol: String,
    currency: String,
    qty: String,
    avg_px: String,
    realized_pnl: String,
    fees: String,
    mark: String,
    high_water: String,
    low_water: String,
    max_favorable: String,
    max_adverse: String,
    status: String,
    opened_at: i64,
    closed_at: Option<i64>,
    ts_last: i64,
}

impl PositionRow {
    /// The position.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the refused column.
    pub(crate) fn into_position(self) -> Result<Position, StoreError> {
        let key = self.id.to_string();
        let c = Cols { table: POSITIONS.name, key: &key };
        Ok(Position {
            id: c.position_id("id", self.id)?,
            account: c.id("account", &self.account, AccountId::try_new)?,
            symbol: c.id("symbol", &self.symbol, Symbol::try_new)?,
            currency: c.id("currency", &self.currency, Currency::try_new)?,
            qty: c.dec("qty", &self.qty)?,
            avg_px: c.dec("avg_px", &self.avg_px)?,
            realized_pnl: c.dec("realized_pnl", &self.realized_pnl)?,
            fees: c.dec("fees", &self.fees)?,
            mark: c.dec("mark", &self.mark)?,
            high_water: c.dec("high_water", &self.high_water)?,
            low_water: c.dec("low_water", &self.low_water)?,
            max_favorable: c.dec("max_favorable", &self.max_favorable)?,
            max_adverse: c.dec("max_adverse", &self.max_adverse)?,
            status: c.name("status", &self.status, PositionStatus::parse)?,
            opened_at: Timestamp(self.opened_at),
            closed_at: self.closed_at.map(Timestamp),
            ts_last: Timestamp(self.ts_last),
        })
    }
}

/// One `balances` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct BalanceRow {
    account: String,
    currency: String,
    cash: String,
    #[allow(dead_code, reason = "selected with every column; not part of the returned tuple")]
    ts_last: i64,
}

impl BalanceRow {
    /// `(account, currency, cash)`.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] naming the refused column.
    pub(crate) fn into_balance(self) -> Result<(AccountId, Currency, Decimal), StoreError> {
        let key = format!("{}/{}", self.account, self.currency);
        let c = Cols { table: BALANCES.name, key: &key };
        Ok((
            c.id("account", &self.account, AccountId::try_new)?,
            c.id("currency", &self.currency, Currency::try_new)?,
            c.dec("cash", &self.cash)?,
        ))
    }
}
