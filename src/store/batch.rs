//! One unit of durable change: everything the OMS changed since the last commit.

use super::error::StoreError;
use super::protect::{CloseReasonRecord, RiskAuditRecord, StoredMonitor};
use crate::collections::{FastIndexMap, FastSet};
use crate::model::{
    AccountId, ClientOrderId, Currency, Fill, Order, Position, PositionId, StatusChange, Timestamp, Trade, TradeId,
};
use rust_decimal::Decimal;

/// Everything to commit in one transaction, in the order it happened.
///
/// Orders, positions and balances hold their latest snapshot (one row each, upserted);
/// events, fills and trades are appended. A fill, the position change and the cash change it
/// caused are always in the same batch, so they commit together.
#[derive(Debug, Default, Clone)]
pub struct WriteBatch {
    /// Latest snapshot of each changed order.
    pub orders: FastIndexMap<ClientOrderId, Order>,
    /// Orders of `orders` whose row an earlier batch of the same journal already wrote: the
    /// store updates only the columns that can change since (status, fills, prices, …). A
    /// marked order the store does not hold fails the batch, with nothing written; an
    /// unmarked one is written whole (always correct, only slower).
    pub known_orders: FastSet<ClientOrderId>,
    /// Audit trail rows: (order, change).
    pub order_events: Vec<(ClientOrderId, StatusChange)>,
    /// New fills, with the account and strategy of their order.
    pub fills: Vec<Fill>,
    /// New trades (fills as the books see them).
    pub trades: Vec<Trade>,
    /// Latest snapshot of each changed position (open or closed).
    pub positions: FastIndexMap<PositionId, Position>,
    /// Latest cash balance of each changed (account, currency).
    pub balances: FastIndexMap<(AccountId, Currency), Decimal>,
    /// Latest state of each armed or changed position monitor (upserted).
    pub monitors: FastIndexMap<PositionId, StoredMonitor>,
    /// Monitors disarmed (their rows are deleted, after the upserts).
    pub monitors_removed: Vec<PositionId>,
    /// Limit and trading-state changes (appended).
    pub risk_audit: Vec<RiskAuditRecord>,
    /// Why positions closed (one row per position).
    pub close_reasons: Vec<CloseReasonRecord>,
}

impl WriteBatch {
    /// Whether there is nothing to write.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.orders.is_empty()
            && self.order_events.is_empty()
            && self.fills.is_empty()
            && self.trades.is_empty()
            && self.positions.is_empty()
            && self.balances.is_empty()
            && self.monitors.is_empty()
            && self.monitors_removed.is_empty()
            && self.risk_audit.is_empty()
            && self.close_reasons.is_empty()
    }

    /// Records an order's latest state and its new audit rows.
    pub fn order(&mut self, order: &Order, change: Option<&StatusChange>) {
        if let Some(c) = change {
            self.order_events.push((order.cid.clone(), c.clone()));
        }
        self.orders.insert(order.cid.clone(), order.clone());
    }

    /// Moves everything out, leaving the batch empty for reuse.
    pub fn take(&mut self) -> Self {
        std::mem::take(self)
    }

    /// The latest time any row in the batch carries (the time its balances are stamped with).
    #[must_use]
    pub fn latest_ts(&self) -> Option<Timestamp> {
        let orders = self.orders.values().map(Order::ts_last);
        let events = self.order_events.iter().map(|(_, c)| c.ts);
        let fills = self.fills.iter().map(|f| f.ts);
        let trades = self.trades.iter().map(|t| t.ts);
        let positions = self.positions.values().map(Position::ts_last);
        orders.chain(events).chain(fills).chain(trades).chain(positions).max()
    }

    /// The place (0-based) of an execution in its order's trade list: the order reads return
    /// an order's fills and trades in.
    ///
    /// # Errors
    /// [`StoreError::InvalidBatch`] when the batch does not carry the order, or the order does
    /// not list the execution: a fill always changes its order, so both commit together.
    pub fn fill_seq(&self, cid: &ClientOrderId, trade_id: &TradeId) -> Result<usize, StoreError> {
        let order = self.orders.get(cid).ok_or_else(|| {
            StoreError::InvalidBatch(format!(
                "fill {trade_id} is for order {cid}, which is not in the batch (a fill commits with its order)"
            ))
        })?;
        order.trade_ids().iter().position(|t| t == trade_id).ok_or_else(|| {
            StoreError::InvalidBatch(format!("fill {trade_id} is not among the trades of order {cid} in the batch"))
        })
    }
}
