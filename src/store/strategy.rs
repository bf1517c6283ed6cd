//! Lua strategy records (migration 0003): order provenance, written with an order's first
//! row, and each strategy's saved `ctx.state`. Both dialects share this SQL.

use super::error::StoreError;
use super::rows::{Table, TradeRow, TRADES};
use super::sql::{Dialect, Op, Val, Write};
use super::WriteBatch;
use crate::model::{Callback, ClientOrderId, Order, Provenance, SignalRef, StrategyId, Timestamp, Trade};
use rustc_hash::FxHashMap;
use sqlx::{Pool, QueryBuilder};
use std::borrow::Cow;
use std::sync::Arc;

/// A strategy's `ctx.state` as saved: the JSON, and the script version that held it.
#[derive(Debug, Clone, PartialEq)]
pub struct StrategyState {
    /// The strategy.
    pub strategy_id: StrategyId,
    /// `ctx.state` as JSON (plain data only).
    pub state: serde_json::Value,
    /// SHA-256 (hex) of the script that held it.
    pub script_hash: String,
    /// That script's reload generation.
    pub generation: u32,
    /// Engine time of the save.
    pub updated_at: Timestamp,
}

/// Everything the store knows about why an order exists: the answer to "why did it buy?".
#[derive(Debug, Clone, PartialEq)]
pub struct OrderWhy {
    /// The order with its status history (LLM reasoning and confidence in `order.llm`).
    pub order: Order,
    /// The script version, generation, callback and signal that placed it; `None` for
    /// orders that did not come from a Lua strategy.
    pub provenance: Option<Provenance>,
    /// Its executions as the books saw them (each links to a position).
    pub trades: Vec<Trade>,
}

impl std::fmt::Display for OrderWhy {
    /// The order, who placed it and why (strategy, script hash, generation, callback,
    /// signal, LLM reasoning and confidence), its status history and its trades.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.order;
        writeln!(f, "order      {}  {} {} {} {} ({})", o.cid, o.side, o.qty(), o.symbol, o.order_type, o.status())?;
        writeln!(f, "strategy   {}  account {}", o.strategy_id, o.account)?;
        match &self.provenance {
            Some(p) => {
                writeln!(f, "script     sha256 {}  generation {}", p.script_hash, p.generation)?;
                writeln!(f, "callback   {}", p.callback)?;
                if let Some(s) = &p.signal {
                    writeln!(f, "signal     {} from {}", s.id, if s.provider.is_empty() { "?" } else { &s.provider })?;
                }
            }
            None => writeln!(f, "script     (no provenance: not placed by a Lua strategy)")?,
        }
        if let Some(llm) = &o.llm {
            writeln!(f, "llm        {} / {}  confidence {}", llm.provider(), llm.model(), llm.confidence())?;
            writeln!(f, "reasoning  {}", llm.reasoning())?;
        }
        if let Some(parent) = &o.parent {
            writeln!(f, "parent     {parent} ({})", o.role.map_or("child", |r| r.as_str()))?;
        }
        writeln!(f, "history")?;
        writeln!(f, "  {}  create -> pending", o.ts_init)?;
        for c in o.history() {
            write!(f, "  {}  {} {} -> {}", c.ts, c.event.as_str(), c.from.as_str(), c.to.as_str())?;
            match &c.reason {
                Some(r) => writeln!(f, "  ({r})")?,
                None => writeln!(f)?,
            }
        }
        if !self.trades.is_empty() {
            writeln!(f, "trades")?;
            for t in &self.trades {
                writeln!(
                    f,
                    "  {}  {} {} {} @ {}  fee {}  position {}  realized {}",
                    t.ts, t.trade_id, t.side, t.qty, t.price, t.fee, t.position_id.0, t.realized_pnl
                )?;
            }
        }
        Ok(())
    }
}

/// The `order_provenance` table: written with an order's first row, never changed after.
const PROVENANCE: Table<7> = Table {
    name: "order_provenance",
    cols: ["cid", "strategy_id", "script_hash", "generation", "callback", "signal_id", "signal_provider"],
    key: &["cid"],
    fixed: &[],
    op: Op::InsertOnce,
};

/// Orders in the batch that carry provenance and whose first row this batch writes: every
/// status change the order has is in this batch (a new order has none, or only the
/// rejection it was created with).
fn new_provenance(batch: &WriteBatch) -> Vec<(&Order, &Provenance)> {
    let mut with: Vec<(&Order, &Provenance)> =
        batch.orders.values().filter_map(|o| o.provenance.as_deref().map(|p| (o, p))).collect();
    if with.is_empty() {
        return with;
    }
    let mut events: FxHashMap<&ClientOrderId, usize> = FxHashMap::default();
    for (cid, _) in &batch.order_events {
        *events.entry(cid).or_default() += 1;
    }
    with.retain(|(o, _)| o.history().len() <= events.get(&o.cid).copied().unwrap_or(0));
    with
}

/// The write of the provenance of the batch's new strategy orders (run in the batch's
/// transaction, after the orders). A row that exists already is left as it is: provenance
/// never changes.
pub(crate) fn provenance_writes(batch: &WriteBatch) -> Result<Vec<Write<'_>>, StoreError> {
    let rows = new_provenance(batch)
        .into_iter()
        .map(|(o, p)| {
            let signal = p.signal.as_ref();
            [
                Val::Text(Some(Cow::Borrowed(o.cid.as_str()))),
                Val::Text(Some(Cow::Borrowed(o.strategy_id.as_str()))),
                Val::Text(Some(Cow::Borrowed(&*p.script_hash))),
                Val::Int(Some(i64::from(p.generation))),
                Val::Text(Some(Cow::Borrowed(p.callback.as_str()))),
                Val::Text(signal.map(|s| Cow::Borrowed(s.id.as_str()))),
                Val::Text(signal.map(|s| Cow::Borrowed(s.provider.as_str()))),
            ]
        })
        .collect();
    Ok(PROVENANCE.write(rows).into_iter().collect())
}

#[derive(Debug, sqlx::FromRow)]
struct ProvenanceRow {
    cid: String,
    script_hash: String,
    generation: i64,
    callback: String,
    signal_id: Option<String>,
    signal_provider: Option<String>,
}

impl ProvenanceRow {
    fn into_provenance(self) -> Result<Provenance, StoreError> {
        let bad = |column: &'static str, value: String, reason: String| StoreError::Corrupt {
            table: "order_provenance",
            key: self.cid.clone(),
            column,
            value,
            reason,
        };
        let generation = u32::try_from(self.generation)
            .map_err(|_| bad("generation", self.generation.to_string(), "not a generation (0..2^32)".into()))?;
        let callback =
            Callback::parse(&self.callback).map_err(|e| bad("callback", self.callback.clone(), e.to_string()))?;
        let signal = match (self.signal_id, self.signal_provider) {
            (Some(id), provider) => Some(SignalRef { id, provider: provider.unwrap_or_default() }),
            (None, Some(p)) => return Err(bad("signal_id", String::new(), format!("missing for provider '{p}'"))),
            (None, None) => None,
        };
        Ok(Provenance { script_hash: Arc::from(self.script_hash), generation, callback, signal })
    }
}

#[derive(Debug, sqlx::FromRow)]
struct StateRow {
    strategy_id: String,
    state_json: String,
    script_hash: String,
    generation: i64,
    updated_at: i64,
}

impl StateRow {
    fn into_state(self) -> Result<StrategyState, StoreError> {
        let bad = |column: &'static str, value: String, reason: String| StoreError::Corrupt {
            table: "strategy_state",
            key: self.strategy_id.clone(),
            column,
            value,
            reason,
        };
        let strategy_id = StrategyId::try_new(self.strategy_id.clone())
            .map_err(|e| bad("strategy_id", self.strategy_id.clone(), e.to_string()))?;
        let state = serde_json::from_str(&self.state_json)
            .map_err(|e| bad("state_json", self.state_json.chars().take(80).collect(), format!("not JSON: {e}")))?;
        let generation = u32::try_from(self.generation)
            .map_err(|_| bad("generation", self.generation.to_string(), "not a generation (0..2^32)".into()))?;
        Ok(StrategyState {
            strategy_id,
            state,
            script_hash: self.script_hash.clone(),
            generation,
            updated_at: Timestamp(self.updated_at),
        })
    }
}

fn read_error<DB: Dialect>(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Read { backend: DB::BACKEND, what, source }
}

/// The provenance of one order, if it has any.
pub(crate) async fn provenance<DB: Dialect>(
    pool: &Pool<DB>,
    cid: &ClientOrderId,
) -> Result<Option<Provenance>, StoreError> {
    let mut conn = pool.acquire().await.map_err(read_error::<DB>("order_provenance"))?;
    let mut qb = QueryBuilder::<DB>::new(
        "SELECT cid, script_hash, generation, callback, signal_id, signal_provider FROM order_provenance WHERE cid = ",
    );
    DB::bind(&mut qb.separated(""), Val::Text(Some(Cow::Borrowed(cid.as_str()))));
    let rows: Vec<ProvenanceRow> = DB::fetch(&mut conn, &mut qb).await.map_err(read_error::<DB>("order_provenance"))?;
    rows.into_iter().next().map(ProvenanceRow::into_provenance).transpose()
}

/// The trades of one order, in the order they were booked.
pub(crate) async fn trades_of<DB: Dialect>(pool: &Pool<DB>, cid: &ClientOrderId) -> Result<Vec<Trade>, StoreError> {
    let mut conn = pool.acquire().await.map_err(read_error::<DB>("trades"))?;
    let mut qb = QueryBuilder::<DB>::new(format!("SELECT {} FROM trades WHERE cid = ", TRADES.cols.join(", ")));
    DB::bind(&mut qb.separated(""), Val::Text(Some(Cow::Borrowed(cid.as_str()))));
    qb.push(" ORDER BY seq");
    let rows: Vec<TradeRow> = DB::fetch(&mut conn, &mut qb).await.map_err(read_error::<DB>("trades"))?;
    rows.into_iter().map(TradeRow::into_trade).collect()
}

/// Upserts a strategy's saved state.
pub(crate) async fn save_state<DB: Dialect>(pool: &Pool<DB>, s: &StrategyState) -> Result<(), StoreError> {
    let json = serde_json::to_string(&s.state)
        .map_err(|e| StoreError::InvalidBatch(format!("state of strategy '{}' is not JSON: {e}", s.strategy_id)))?;
    let failed =
        |source| StoreError::Write { backend: DB::BACKEND, table: "strategy_state", op: "upsert", rows: 1, source };
    let mut conn = pool.acquire().await.map_err(failed)?;
    let mut qb = QueryBuilder::<DB>::new(
        "INSERT INTO strategy_state (strategy_id, state_json, script_hash, generation, updated_at) ",
    );
    qb.push_values(std::iter::once(s), |mut sep, s| {
        DB::bind(&mut sep, Val::Text(Some(Cow::Borrowed(s.strategy_id.as_str()))));
        DB::bind(&mut sep, Val::Text(Some(Cow::Borrowed(json.as_str()))));
        DB::bind(&mut sep, Val::Text(Some(Cow::Borrowed(s.script_hash.as_str()))));
        DB::bind(&mut sep, Val::Int(Some(i64::from(s.generation))));
        DB::bind(&mut sep, Val::Int(Some(s.updated_at.nanos())));
    });
    qb.push(
        " ON CONFLICT (strategy_id) DO UPDATE SET state_json = excluded.state_json, script_hash = \
         excluded.script_hash, generation = excluded.generation, updated_at = excluded.updated_at",
    );
    DB::execute(&mut conn, &mut qb).await.map_err(failed)?;
    Ok(())
}

/// A strategy's saved state, if any.
pub(crate) async fn load_state<DB: Dialect>(
    pool: &Pool<DB>,
    strategy: &StrategyId,
) -> Result<Option<StrategyState>, StoreError> {
    let mut conn = pool.acquire().await.map_err(read_error::<DB>("strategy_state"))?;
    let mut qb = QueryBuilder::<DB>::new(
        "SELECT strategy_id, state_json, script_hash, generation, updated_at FROM strategy_state WHERE strategy_id = ",
    );
    DB::bind(&mut qb.separated(""), Val::Text(Some(Cow::Borrowed(strategy.as_str()))));
    let rows: Vec<StateRow> = DB::fetch(&mut conn, &mut qb).await.map_err(read_error::<DB>("strategy_state"))?;
    rows.into_iter().next().map(StateRow::into_state).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, OrderEvent, OrderRequest, Side, Symbol};
    use rust_decimal::Decimal;

    fn order(cid: &str, provenance: bool) -> Order {
        let mut req = OrderRequest::market(
            AccountId::try_new("a").unwrap(),
            StrategyId::try_new("s").unwrap(),
            Symbol::try_new("X").unwrap(),
            Side::Buy,
            Decimal::ONE,
        );
        if provenance {
            req.provenance = Some(Arc::new(Provenance {
                script_hash: Arc::from("ab"),
                generation: 2,
                callback: Callback::Bar,
                signal: None,
            }));
        }
        Order::new(ClientOrderId::try_new(cid).unwrap(), &req, Timestamp(1))
    }

    #[test]
    fn provenance_is_written_only_with_an_orders_first_row() {
        let mut batch = WriteBatch::default();
        batch.order(&order("new", true), None);
        batch.order(&order("plain", false), None);
        let mut rejected = order("rejected", true);
        let change = rejected.apply(OrderEvent::Rejected { reason: "limit".into(), ts: Timestamp(2) }).unwrap();
        batch.order(&rejected, Some(&change));
        let mut later = order("later", true);
        let change = later.apply(OrderEvent::Submitted { ts: Timestamp(2) }).unwrap();
        let _ = change; // its submit row went out in an earlier batch
        batch.order(&later, None);
        let cids: Vec<&str> = new_provenance(&batch).iter().map(|(o, _)| o.cid.as_str()).collect();
        assert_eq!(cids, vec!["new", "rejected"]);
    }
}
