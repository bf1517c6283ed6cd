//! The Lua strategy host: sandbox, the `ctx` API, loader, hot reload, indicator helpers and
//! LLM signals.
//!
//! One file is one strategy (its id is the file stem), run in its own sandboxed Luau state
//! with a memory limit and a per-callback instruction budget. Strategies never touch orders:
//! `ctx:buy{..}` appends an intent, and each callback returns its [`Command`]s for the engine
//! to send through risk and the OMS. The host reads the world only through
//! [`StrategyView`], which the engine implements. Must not hold orders or positions of its
//! own.
//!
//! Flow per event: the engine calls [`StrategyHost::on_bar`] (or `on_tick`, `on_signal`,
//! `on_fill`, `on_order`) with a view; each running strategy's callback runs to completion
//! in its state; the intents come back as [`Intent`]s; errors become [`HostEvent`]s.
//! [`StrategyHost::poll_reload`] applies file changes between callbacks.

mod convert;
mod error;
mod host;
mod lua_strategy;
mod luau;
mod meter;
mod reload;
mod signal;
mod state;

#[cfg(test)]
mod tests;

pub use crate::model::{Callback, Provenance, SignalRef};
pub use error::{ErrorKind, StrategyError};
pub use host::{Halt, HostEvent, StrategyHost, StrategyInfo, StrategyStatus};
pub use lua_strategy::{check_file, CheckReport, LuaStrategy};
pub use reload::ReloadEvent;
pub use signal::{load_signals_jsonl, Signal, SignalAction, SignalLineError};

use crate::model::{
    AccountId, ClientOrderId, Instrument, Modification, Order, OrderRequest, OrderStatus, OrderType, Side, StrategyId,
    Symbol, Timestamp,
};
use rust_decimal::Decimal;

/// What a strategy asks the engine to do. Intents only: risk and the OMS decide.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant, reason = "Submit is the common variant; commands are moved once, not stored")]
pub enum Command {
    /// Submit a new order (already quantized to the instrument and shape-validated); its
    /// `provenance` names the script version and callback that emitted it.
    Submit {
        /// The order request.
        request: OrderRequest,
    },
    /// Cancel one of the strategy's working orders.
    Cancel(ClientOrderId),
    /// Change one of the strategy's working orders (quantized to the instrument).
    Modify(ClientOrderId, Modification),
    /// Flatten the strategy's position in a symbol (the engine cancels and closes).
    Close(Symbol),
}

/// A command together with the strategy that emitted it.
#[derive(Debug, Clone, PartialEq)]
pub struct Intent {
    /// The emitting strategy.
    pub strategy: StrategyId,
    /// What it asks for.
    pub command: Command,
}

/// A working order as a strategy sees it (`ctx:orders()`).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenOrder {
    /// Client order id (what `ctx:cancel` / `ctx:modify` take).
    pub cid: ClientOrderId,
    /// Instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Order type.
    pub order_type: OrderType,
    /// Total quantity.
    pub qty: Decimal,
    /// Quantity filled so far.
    pub filled_qty: Decimal,
    /// Limit price, if any.
    pub limit_price: Option<Decimal>,
    /// Stop price, if any.
    pub stop_price: Option<Decimal>,
    /// Current status.
    pub status: OrderStatus,
}

impl From<&Order> for OpenOrder {
    fn from(o: &Order) -> Self {
        Self {
            cid: o.cid.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            order_type: o.order_type,
            qty: o.qty(),
            filled_qty: o.filled_qty(),
            limit_price: o.limit_price(),
            stop_price: o.stop_price(),
            status: o.status(),
        }
    }
}

/// A risk refusal as `ctx:check` reports it: a stable code and a readable message.
pub type CheckRefusal = (String, String);

/// The world as a strategy may read it. Implemented by the engine (and by test fakes).
///
/// Every method is a read; nothing here changes orders or positions.
pub trait StrategyView {
    /// The strategy's net position in `symbol`: (signed quantity, average entry price);
    /// `(0, 0)` when flat.
    fn position(&self, strategy: &StrategyId, symbol: &Symbol) -> (Decimal, Decimal);
    /// Cash available to the strategy in its quote currency.
    fn cash(&self, strategy: &StrategyId) -> Decimal;
    /// Equity (cash + marked positions) of the strategy's account.
    fn equity(&self, strategy: &StrategyId) -> Decimal;
    /// The strategy's working orders.
    fn open_orders(&self, strategy: &StrategyId) -> Vec<OpenOrder>;
    /// The instrument's increments, or `None` when it is not configured.
    fn instrument(&self, symbol: &Symbol) -> Option<Instrument>;
    /// The engine's clock.
    fn now(&self) -> Timestamp;
    /// What the risk engine would say to this order, without sending it.
    ///
    /// # Errors
    /// The refusal's `(code, message)`.
    fn check(&self, request: &OrderRequest) -> Result<(), CheckRefusal>;
}

/// Limits and defaults for every strategy state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostConfig {
    /// The account orders are placed for.
    pub account: AccountId,
    /// Memory limit per strategy state, bytes.
    pub memory_limit: usize,
    /// Interrupts (Luau: function calls and loop back-edges) one callback may use.
    pub instruction_budget: u64,
    /// Consecutive failing callbacks after which a strategy is disabled.
    pub max_consecutive_errors: u32,
    /// Quiet time after the last change to a file before it is reloaded.
    pub reload_debounce: std::time::Duration,
    /// Values that replace the same-named entries of every strategy's `params` table (a
    /// parameter sweep's grid point, a config file); names a strategy does not declare are
    /// left alone for that strategy.
    pub params: std::collections::BTreeMap<String, serde_json::Value>,
    /// What happens to a strategy's open orders when it is stopped (file deleted), paused
    /// (budget or memory) or disabled (too many errors).
    pub on_stop_orders: OnStopOrders,
    /// How often (wall-clock time) the runner saves every strategy's `ctx.state` besides the
    /// saves on reload and on stop; `None` (the default, for backtests) saves only then.
    /// Paper/live runs set e.g. 60 s so a crash loses at most that much state.
    pub state_save_every: Option<std::time::Duration>,
}

/// What the runner does with a halted strategy's open orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnStopOrders {
    /// Cancel them through the engine, audited with the strategy and the reason (default).
    #[default]
    Cancel,
    /// Leave them working (they stay attached to the strategy; a reloaded or resumed
    /// version sees them in `ctx:orders()`).
    Leave,
}

impl OnStopOrders {
    /// Parses `cancel` or `leave`.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "cancel" => Some(Self::Cancel),
            "leave" => Some(Self::Leave),
            _ => None,
        }
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            account: AccountId::try_new("default").expect("a non-empty literal is a valid id"),
            memory_limit: 64 * 1024 * 1024,
            instruction_budget: 1_000_000,
            max_consecutive_errors: 5,
            reload_debounce: std::time::Duration::from_millis(100),
            params: std::collections::BTreeMap::new(),
            on_stop_orders: OnStopOrders::Cancel,
            state_save_every: None,
        }
    }
}

/// SHA-256 of a script file's bytes as 64 lowercase hex digits: what order provenance and
/// saved state record, so a stored order names the exact file version that placed it
/// (`sha256sum strategies/x.lua` prints the same digits).
#[must_use]
pub fn script_hash(source: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::fmt::Write;
    let digest = Sha256::digest(source);
    let mut out = String::with_capacity(64);
    for b in digest {
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    out
}
