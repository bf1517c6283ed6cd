//! Exports of orders and trades as CSV (one row per record, flat columns) and JSON (an
//! array of the model types as serde writes them).
//!
//! CSV conventions: decimals exactly as stored, times as RFC 3339 UTC, empty cells for
//! absent values, bracket children joined by `;`.

use super::{OrderFilter, Store, StoreError};
use crate::model::{ClientOrderId, LlmMeta, Order, Symbol, Trade, TrailingOffset};
use rust_decimal::Decimal;
use serde::Serialize;
use std::io::Write;

/// Columns of the orders CSV, in order.
pub const ORDER_CSV_HEADER: [&str; 27] = [
    "cid",
    "account",
    "strategy_id",
    "symbol",
    "side",
    "order_type",
    "tif",
    "qty",
    "limit_price",
    "stop_price",
    "trailing_kind",
    "trailing_value",
    "reduce_only",
    "status",
    "filled_qty",
    "avg_px",
    "fees",
    "venue_order_id",
    "parent",
    "role",
    "children",
    "llm_provider",
    "llm_model",
    "llm_confidence",
    "llm_reasoning",
    "ts_init",
    "ts_last",
];

/// Columns of the trades CSV, in order.
pub const TRADE_CSV_HEADER: [&str; 14] = [
    "ts",
    "trade_id",
    "cid",
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
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn order_record(o: &Order) -> [String; 27] {
    let (trailing_kind, trailing_value) = match o.trailing() {
        Some(TrailingOffset::Amount(v)) => (Some("amount"), Some(v)),
        Some(TrailingOffset::Percent(v)) => (Some("percent"), Some(v)),
        None => (None, None),
    };
    let llm = o.llm.as_ref();
    let children: Vec<&str> = o.children.iter().map(ClientOrderId::as_str).collect();
    [
        o.cid.to_string(),
        o.account.to_string(),
        o.strategy_id.to_string(),
        o.symbol.to_string(),
        o.side.to_string(),
        o.order_type.to_string(),
        o.tif.to_string(),
        o.qty().to_string(),
        opt(o.limit_price()),
        opt(o.stop_price()),
        opt(trailing_kind),
        opt(trailing_value),
        o.reduce_only.to_string(),
        o.status().to_string(),
        o.filled_qty().to_string(),
        opt(o.avg_px()),
        o.fees().to_string(),
        opt(o.venue_order_id()),
        opt(o.parent.as_ref()),
        opt(o.role.map(|r| r.as_str())),
        children.join(";"),
        opt(llm.map(LlmMeta::provider)),
        opt(llm.map(LlmMeta::model)),
        opt(llm.map(LlmMeta::confidence)),
        opt(llm.map(LlmMeta::reasoning)),
        o.ts_init.to_string(),
        o.ts_last().to_string(),
    ]
}

fn trade_record(t: &Trade) -> [String; 14] {
    let dec = Decimal::to_string;
    [
        t.ts.to_string(),
        t.trade_id.to_string(),
        t.cid.to_string(),
        t.strategy_id.to_string(),
        t.account.to_string(),
        t.symbol.to_string(),
        t.side.to_string(),
        dec(&t.qty),
        dec(&t.price),
        dec(&t.fee),
        t.kind.as_str().to_owned(),
        t.position_id.to_string(),
        opt(t.opened_position_id),
        dec(&t.realized_pnl),
    ]
}

fn write_csv<T, const N: usize>(
    what: &'static str,
    header: &[&str; N],
    items: &[T],
    record: fn(&T) -> [String; N],
    out: impl Write,
) -> Result<usize, StoreError> {
    let fail = |e: csv::Error| StoreError::Export { what, format: "csv", reason: e.to_string() };
    let mut w = csv::Writer::from_writer(out);
    w.write_record(header).map_err(fail)?;
    for item in items {
        w.write_record(record(item)).map_err(fail)?;
    }
    w.flush().map_err(|e| StoreError::Export { what, format: "csv", reason: e.to_string() })?;
    Ok(items.len())
}

fn write_json<T: Serialize>(what: &'static str, items: &[T], out: impl Write) -> Result<usize, StoreError> {
    serde_json::to_writer_pretty(out, items).map_err(|e| StoreError::Export {
        what,
        format: "json",
        reason: e.to_string(),
    })?;
    Ok(items.len())
}

impl Store {
    /// Writes the orders matching `filter` as CSV (header [`ORDER_CSV_HEADER`]); returns how
    /// many orders were written.
    ///
    /// # Errors
    /// A read error, or [`StoreError::Export`] when writing fails.
    pub async fn export_orders_csv(&self, filter: &OrderFilter, out: impl Write) -> Result<usize, StoreError> {
        write_csv("orders", &ORDER_CSV_HEADER, &self.orders(filter).await?, order_record, out)
    }

    /// Writes the orders matching `filter` as a JSON array of [`Order`] (with history and
    /// trade ids); returns how many orders were written.
    ///
    /// # Errors
    /// A read error, or [`StoreError::Export`] when writing fails.
    pub async fn export_orders_json(&self, filter: &OrderFilter, out: impl Write) -> Result<usize, StoreError> {
        write_json("orders", &self.orders(filter).await?, out)
    }

    /// Writes every trade (optionally of one symbol), oldest first, as CSV (header
    /// [`TRADE_CSV_HEADER`]); returns how many trades were written.
    ///
    /// # Errors
    /// A read error, or [`StoreError::Export`] when writing fails.
    pub async fn export_trades_csv(&self, symbol: Option<&Symbol>, out: impl Write) -> Result<usize, StoreError> {
        write_csv("trades", &TRADE_CSV_HEADER, &self.trades(symbol, None).await?, trade_record, out)
    }

    /// Writes every trade (optionally of one symbol), oldest first, as a JSON array of
    /// [`Trade`]; returns how many trades were written.
    ///
    /// # Errors
    /// A read error, or [`StoreError::Export`] when writing fails.
    pub async fn export_trades_json(&self, symbol: Option<&Symbol>, out: impl Write) -> Result<usize, StoreError> {
        write_json("trades", &self.trades(symbol, None).await?, out)
    }
}
