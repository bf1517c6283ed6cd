//! Per-position protective monitors: stop-loss, take-profit, trailing stop, break-even and
//! time exits, evaluated on every price update.
//!
//! Owns the exit rules and their runtime state. Pure: no I/O, never touches an order; it
//! returns [`ExitIntent`] values (reduce-only exits) that the engine turns into orders, and
//! must not submit anything else. Every spec and its runtime state is serde
//! Serialize/Deserialize; [`MonitorSet::export`] / [`MonitorSet::restore`] (and
//! [`MonitorSet::take_changes`] for incremental writes) let the store persist the set.
//!
//! # Bar rules
//! For a long (shorts mirror: swap high/low and the comparisons), with effective stop `S` and
//! target `T`, on a bar `open/high/low`:
//! 1. `open <= S` → exit at the open (`at_open` when `open < S`: a gap through the stop);
//! 2. else `open >= T` → exit at the open (take-profit; `at_open` when `open > T`);
//! 3. else `low <= S` → exit at `S` — also when `high >= T` in the same bar: a bar does not
//!    say whether its low or its high came first, so **the stop goes first** (conservative);
//! 4. else `high >= T` → exit at `T`.
//!
//! A tick (trade price) is a bar with open = high = low. These are the simulated venue's stop
//! and limit rules, so a monitor exit and a venue-side bracket child agree on the price.
//!
//! The effective stop is the tightest (highest for a long) of the stop-loss, the break-even
//! stop once moved, and the trailing trigger once active; on a tie the reason is the first
//! of stop_loss, break_even, trailing_stop.
//!
//! After the bar was tested (and did not trigger), the ratchets move **for the next event**:
//! - trailing: a trail without an activation level starts at arming from the entry price
//!   (trigger = entry ∓ offset); with one, it starts once the bar's high (long) reaches the
//!   level, with that high as its best price. An active trail takes a higher high as its best
//!   and moves its trigger to `best − offset` (percent: of the best), never loosening;
//! - break-even: once the bar's high (long) reaches `after`, the stop moves to the entry
//!   (+ per-unit fees `entry_fees / qty` with `plus_fees`), never back.
//!
//! Relative levels (percent/amount) follow the average entry price when
//! [`MonitorSet::update_position`] changes it; the trailing trigger and the break-even stop,
//! once moved, are kept (they never loosen).
//!
//! # Exits
//! A trigger emits exactly one reduce-only exit for the whole open quantity and marks the
//! monitor *working* (the position is closing): no further exit is emitted for it until
//! [`MonitorSet::exit_finished`] says the exit ended with the position still open. Time exits
//! ([`MonitorSet::on_clock`]) fire at `opened_at + max_holding_nanos`.
//!
//! # Performance
//! Monitors are indexed by symbol: a price update touches only that symbol's positions, and
//! evaluation allocates nothing except the returned intents. Beside each record the set keeps
//! a compact view of its levels as exact integer keys (a `Decimal` stays the value of
//! record); one pass over these views decides which monitors an update reaches, ratchets
//! trails on keys with one stop price computed per offset, and rebuilds the nearest-level
//! watch that lets a quiet update skip the pass. Anything the keys cannot decide, and every
//! trigger, goes through the per-monitor rules on the decimals. See `benches/monitor_eval.rs`.

mod break_even;
pub mod guard;
pub mod rules;
mod set;
pub mod spec;
pub mod trailing;

pub use guard::{StopGuard, StopGuardConfig, Unprotected};
pub use set::{MonitorChanges, MonitorRecord, MonitorSet, MonitorSnapshot, MonitorState};
pub use spec::{BreakEven, Level, MonitorSpec, SpecError, Trailing};
pub use trailing::TrailState;

use crate::model::{AccountId, PositionId, Side, Symbol, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Why a position was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitReason {
    /// The stop-loss level was reached.
    StopLoss,
    /// The take-profit level was reached.
    TakeProfit,
    /// The trailing stop's trigger was reached.
    TrailingStop,
    /// The break-even stop was reached.
    BreakEven,
    /// The maximum holding time passed.
    TimeExit,
    /// The kill switch flattened it.
    KillSwitch,
    /// A user or strategy closed it by hand.
    Manual,
}

impl ExitReason {
    /// Every reason, in declaration order.
    pub const ALL: [Self; 7] = [
        Self::StopLoss,
        Self::TakeProfit,
        Self::TrailingStop,
        Self::BreakEven,
        Self::TimeExit,
        Self::KillSwitch,
        Self::Manual,
    ];

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
            Self::TrailingStop => "trailing_stop",
            Self::BreakEven => "break_even",
            Self::TimeExit => "time_exit",
            Self::KillSwitch => "kill_switch",
            Self::Manual => "manual",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The netting key of a position: one per (account, symbol).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PositionKey {
    /// The account.
    pub account: AccountId,
    /// The instrument.
    pub symbol: Symbol,
}

/// A reduce-only exit the engine should send (as a market order) for one position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitIntent {
    /// The account.
    pub account: AccountId,
    /// The instrument.
    pub symbol: Symbol,
    /// The position it closes.
    pub position_id: PositionId,
    /// The exit's side (sell for a long).
    pub side: Side,
    /// The whole open quantity (> 0).
    pub qty: Decimal,
    /// Why.
    pub reason: ExitReason,
    /// The price that decided it: the level, the open on a gap, or the last price for time,
    /// kill-switch and manual exits (the entry price when no price was seen yet).
    pub trigger_price: Decimal,
    /// True when the event's open was already beyond the level (a gap decided it).
    pub at_open: bool,
    /// The time of the event that decided it.
    pub ts: Timestamp,
}

/// Why the monitor set refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MonitorError {
    /// The position already has a monitor.
    #[error("monitor for position {position_id} is already armed")]
    AlreadyArmed {
        /// The position.
        position_id: PositionId,
    },
    /// No monitor for that position.
    #[error("no monitor armed for position {position_id}")]
    Unknown {
        /// The position.
        position_id: PositionId,
    },
    /// The spec cannot protect the position.
    #[error("monitor for position {position_id}: {source}")]
    Spec {
        /// The position.
        position_id: PositionId,
        /// What is wrong.
        source: SpecError,
    },
    /// A quantity or price that must be positive was not.
    #[error("monitor for position {position_id}: {field} must be positive, got {value}")]
    NotPositive {
        /// The position.
        position_id: PositionId,
        /// `qty` or `entry_px`.
        field: &'static str,
        /// The value given.
        value: Decimal,
    },
}
