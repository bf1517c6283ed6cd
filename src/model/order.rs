//! Orders: the request a strategy or user makes, its validation, and the order of record
//! that changes only through [`Order::apply`] and the transition table.

use super::fill::Fill;
use super::ids::{AccountId, ClientOrderId, StrategyId, Symbol, TradeId, VenueOrderId};
use super::instrument::{IncrementError, Instrument};
use super::llm::LlmMeta;
use super::provenance::Provenance;
use super::status::{OrderEventKind, OrderStatus, TransitionError};
use super::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// Buy or sell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Buy.
    Buy,
    /// Sell.
    Sell,
}

impl Side {
    /// +1 for buy, −1 for sell: the sign a fill adds to a position.
    #[must_use]
    pub fn sign(self) -> Decimal {
        match self {
            Self::Buy => Decimal::ONE,
            Self::Sell => Decimal::NEGATIVE_ONE,
        }
    }

    /// The other side.
    #[must_use]
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "buy" => Some(Self::Buy),
            "sell" => Some(Self::Sell),
            _ => None,
        }
    }
}

impl fmt::Display for OrderType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for TimeInForce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// How an order executes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderType {
    /// At the next available price.
    Market,
    /// At the limit price or better.
    Limit,
    /// A market order once the stop price trades.
    Stop,
    /// A limit order once the stop price trades.
    StopLimit,
    /// A stop whose price follows the market by an offset, moving only favourably.
    TrailingStop,
}

impl OrderType {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Market => "market",
            Self::Limit => "limit",
            Self::Stop => "stop",
            Self::StopLimit => "stop_limit",
            Self::TrailingStop => "trailing_stop",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Market, Self::Limit, Self::Stop, Self::StopLimit, Self::TrailingStop]
            .into_iter()
            .find(|t| t.as_str() == s)
    }

    /// Whether the type takes a limit price.
    #[must_use]
    pub fn has_limit(self) -> bool {
        matches!(self, Self::Limit | Self::StopLimit)
    }

    /// Whether the type takes a stop (trigger) price.
    #[must_use]
    pub fn has_stop(self) -> bool {
        matches!(self, Self::Stop | Self::StopLimit)
    }
}

/// How far a trailing stop follows the best price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum TrailingOffset {
    /// A fixed price distance.
    Amount(Decimal),
    /// A percentage of the best price (`2.5` means 2.5 %).
    Percent(Decimal),
}

impl TrailingOffset {
    /// The offset's value (amount or percent).
    #[must_use]
    pub fn value(self) -> Decimal {
        match self {
            Self::Amount(v) | Self::Percent(v) => v,
        }
    }

    /// The stop price for a trailing stop on `side` given the best price seen so far
    /// (the highest for a sell stop, the lowest for a buy stop).
    #[must_use]
    pub fn stop_from(self, side: Side, best: Decimal) -> Decimal {
        let dist = match self {
            Self::Amount(a) => a,
            Self::Percent(p) => best * p / Decimal::ONE_HUNDRED,
        };
        match side {
            Side::Sell => best - dist,
            Side::Buy => best + dist,
        }
    }
}

/// How long an order works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeInForce {
    /// Good till cancelled.
    Gtc,
    /// Until the end of the trading day.
    Day,
    /// Immediate or cancel: fill what can be filled now, cancel the rest.
    Ioc,
    /// Fill or kill: fill all now or nothing.
    Fok,
}

impl TimeInForce {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gtc => "gtc",
            Self::Day => "day",
            Self::Ioc => "ioc",
            Self::Fok => "fok",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Gtc, Self::Day, Self::Ioc, Self::Fok].into_iter().find(|t| t.as_str() == s)
    }
}

/// An order's place in a bracket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BracketRole {
    /// The entry; its fills release the children.
    Entry,
    /// The protective stop child.
    StopLoss,
    /// The profit-taking limit child.
    TakeProfit,
}

impl BracketRole {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::StopLoss => "stop_loss",
            Self::TakeProfit => "take_profit",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Entry, Self::StopLoss, Self::TakeProfit].into_iter().find(|t| t.as_str() == s)
    }
}

/// The exits attached to an entry order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BracketSpec {
    /// Stop price of the stop-loss child.
    pub stop_loss: Option<Decimal>,
    /// Limit price of the take-profit child.
    pub take_profit: Option<Decimal>,
}

/// What a strategy, the API or a monitor asks for: an order before it exists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The account (or strategy sub-ledger) it trades for.
    pub account: AccountId,
    /// Who asked.
    pub strategy_id: StrategyId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// How it executes.
    pub order_type: OrderType,
    /// Quantity, > 0.
    pub qty: Decimal,
    /// Limit price (limit and stop-limit only).
    pub limit_price: Option<Decimal>,
    /// Stop price (stop and stop-limit only).
    pub stop_price: Option<Decimal>,
    /// Trailing offset (trailing stop only).
    pub trailing: Option<TrailingOffset>,
    /// Time in force.
    pub tif: TimeInForce,
    /// Only ever reduces a position; never opens or flips one.
    pub reduce_only: bool,
    /// Attached stop-loss / take-profit children.
    pub bracket: Option<BracketSpec>,
    /// LLM provenance, when an LLM suggested it.
    pub llm: Option<LlmMeta>,
    /// Which strategy script version and callback emitted it (Lua strategies only).
    #[serde(skip)]
    pub provenance: Option<Arc<Provenance>>,
}

impl OrderRequest {
    /// A GTC market order with nothing attached.
    #[must_use]
    pub fn market(account: AccountId, strategy_id: StrategyId, symbol: Symbol, side: Side, qty: Decimal) -> Self {
        Self {
            account,
            strategy_id,
            symbol,
            side,
            order_type: OrderType::Market,
            qty,
            limit_price: None,
            stop_price: None,
            trailing: None,
            tif: TimeInForce::Gtc,
            reduce_only: false,
            bracket: None,
            llm: None,
            provenance: None,
        }
    }

    /// A GTC limit order.
    #[must_use]
    pub fn limit(
        account: AccountId,
        strategy_id: StrategyId,
        symbol: Symbol,
        side: Side,
        qty: Decimal,
        price: Decimal,
    ) -> Self {
        Self {
            order_type: OrderType::Limit,
            limit_price: Some(price),
            ..Self::market(account, strategy_id, symbol, side, qty)
        }
    }

    /// A GTC stop (stop-market) order.
    #[must_use]
    pub fn stop(
        account: AccountId,
        strategy_id: StrategyId,
        symbol: Symbol,
        side: Side,
        qty: Decimal,
        stop: Decimal,
    ) -> Self {
        Self {
            order_type: OrderType::Stop,
            stop_price: Some(stop),
            ..Self::market(account, strategy_id, symbol, side, qty)
        }
    }

    /// Checks the request against the instrument: every rule an order must meet to exist.
    ///
    /// # Errors
    /// The first [`OrderError`] found, naming the field and value.
    pub fn validate(&self, instrument: &Instrument) -> Result<(), OrderError> {
        if self.symbol != instrument.symbol {
            return Err(OrderError::WrongInstrument {
                order: self.symbol.clone(),
                instrument: instrument.symbol.clone(),
            });
        }
        validate_shape(self.order_type, self.side, self.qty, self.limit_price, self.stop_price, self.trailing)?;
        if matches!(self.tif, TimeInForce::Ioc | TimeInForce::Fok)
            && matches!(self.order_type, OrderType::Stop | OrderType::StopLimit | OrderType::TrailingStop)
        {
            return Err(OrderError::TifNotAllowed { tif: self.tif, order_type: self.order_type });
        }
        check_increments(instrument, self.qty, self.limit_price, self.stop_price)?;
        if let Some(TrailingOffset::Amount(a)) = self.trailing {
            instrument.check_price(a)?;
        }
        if let Some(b) = &self.bracket {
            if self.reduce_only {
                return Err(OrderError::ReduceOnlyBracket);
            }
            if b.stop_loss.is_none() && b.take_profit.is_none() {
                return Err(OrderError::EmptyBracket);
            }
            for p in [b.stop_loss, b.take_profit].into_iter().flatten() {
                if p <= Decimal::ZERO {
                    return Err(OrderError::NonPositivePrice { field: "bracket price", value: p });
                }
                instrument.check_price(p)?;
            }
            // For a long entry the stop sits below the target (and below a limit entry),
            // for a short entry above.
            let sign = self.side.sign();
            if let (Some(sl), Some(tp)) = (b.stop_loss, b.take_profit) {
                if (tp - sl) * sign <= Decimal::ZERO {
                    return Err(OrderError::BracketPrices { side: self.side, stop_loss: sl, take_profit: tp });
                }
            }
            if let Some(entry) = self.limit_price.or(self.stop_price) {
                if let Some(sl) = b.stop_loss {
                    if (entry - sl) * sign <= Decimal::ZERO {
                        return Err(OrderError::BracketEntry { side: self.side, entry, exit: sl, which: "stop_loss" });
                    }
                }
                if let Some(tp) = b.take_profit {
                    if (tp - entry) * sign <= Decimal::ZERO {
                        return Err(OrderError::BracketEntry {
                            side: self.side,
                            entry,
                            exit: tp,
                            which: "take_profit",
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

fn validate_shape(
    order_type: OrderType,
    side: Side,
    qty: Decimal,
    limit: Option<Decimal>,
    stop: Option<Decimal>,
    trailing: Option<TrailingOffset>,
) -> Result<(), OrderError> {
    if qty <= Decimal::ZERO {
        return Err(OrderError::NonPositiveQty(qty));
    }
    match (order_type.has_limit(), limit) {
        (true, None) => return Err(OrderError::MissingLimitPrice(order_type)),
        (false, Some(_)) => return Err(OrderError::UnexpectedField { field: "limit_price", order_type }),
        (true, Some(p)) if p <= Decimal::ZERO => {
            return Err(OrderError::NonPositivePrice { field: "limit_price", value: p })
        }
        _ => {}
    }
    match (order_type.has_stop(), stop) {
        (true, None) => return Err(OrderError::MissingStopPrice(order_type)),
        (false, Some(_)) if order_type != OrderType::TrailingStop => {
            return Err(OrderError::UnexpectedField { field: "stop_price", order_type })
        }
        (true, Some(p)) if p <= Decimal::ZERO => {
            return Err(OrderError::NonPositivePrice { field: "stop_price", value: p })
        }
        _ => {}
    }
    if let (OrderType::StopLimit, Some(l), Some(s)) = (order_type, limit, stop) {
        // A buy stop-limit triggers as price rises through the stop and buys up to the limit;
        // a limit below the stop could never fill at trigger. Mirror for sells.
        let ok = match side {
            Side::Buy => l >= s,
            Side::Sell => l <= s,
        };
        if !ok {
            return Err(OrderError::StopLimitRelation { side, stop: s, limit: l });
        }
    }
    match (order_type, trailing) {
        (OrderType::TrailingStop, None) => return Err(OrderError::MissingTrailingOffset),
        (OrderType::TrailingStop, Some(t)) => {
            if t.value() <= Decimal::ZERO {
                return Err(OrderError::NonPositiveTrailingOffset(t.value()));
            }
            if let TrailingOffset::Percent(p) = t {
                if p >= Decimal::ONE_HUNDRED {
                    return Err(OrderError::TrailingPercentTooLarge(p));
                }
            }
        }
        (_, Some(_)) => return Err(OrderError::UnexpectedField { field: "trailing", order_type }),
        (_, None) => {}
    }
    Ok(())
}

fn check_increments(
    instrument: &Instrument,
    qty: Decimal,
    limit: Option<Decimal>,
    stop: Option<Decimal>,
) -> Result<(), OrderError> {
    instrument.check_qty(qty)?;
    if qty < instrument.min_qty {
        return Err(OrderError::BelowMinQty { qty, min: instrument.min_qty });
    }
    for p in [limit, stop].into_iter().flatten() {
        instrument.check_price(p)?;
    }
    Ok(())
}

/// A change to a working order: any of quantity, limit price and stop price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Modification {
    /// New total quantity (must stay above what is already filled).
    pub qty: Option<Decimal>,
    /// New limit price (limit and stop-limit only).
    pub limit_price: Option<Decimal>,
    /// New stop price (stop, stop-limit, and a trailing stop's current trigger).
    pub stop_price: Option<Decimal>,
}

/// Why an order request, a modification or an event was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OrderError {
    /// The status table does not allow the event.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Price or quantity off the instrument's grid.
    #[error(transparent)]
    Increment(#[from] IncrementError),
    /// The request names a different instrument than the one it was checked against.
    #[error("order is for {order} but was checked against instrument {instrument}")]
    WrongInstrument {
        /// The order's symbol.
        order: Symbol,
        /// The instrument's symbol.
        instrument: Symbol,
    },
    /// Quantity is zero or negative.
    #[error("quantity must be greater than 0, got {0}")]
    NonPositiveQty(Decimal),
    /// Quantity below the instrument's minimum.
    #[error("quantity {qty} is below the instrument minimum {min}")]
    BelowMinQty {
        /// Requested quantity.
        qty: Decimal,
        /// The minimum.
        min: Decimal,
    },
    /// A price is zero or negative.
    #[error("{field} must be greater than 0, got {value}")]
    NonPositivePrice {
        /// Which price.
        field: &'static str,
        /// Its value.
        value: Decimal,
    },
    /// A limit or stop-limit order without a limit price.
    #[error("a {0} order needs a limit price")]
    MissingLimitPrice(OrderType),
    /// A stop or stop-limit order without a stop price.
    #[error("a {0} order needs a stop price")]
    MissingStopPrice(OrderType),
    /// A field the order type does not take.
    #[error("a {order_type} order does not take {field}")]
    UnexpectedField {
        /// The field.
        field: &'static str,
        /// The order type.
        order_type: OrderType,
    },
    /// Stop-limit prices on the wrong sides of each other.
    #[error("a {side} stop-limit needs the limit {} the stop: stop={stop}, limit={limit}", if *side == Side::Buy { "at or above" } else { "at or below" })]
    StopLimitRelation {
        /// The side.
        side: Side,
        /// Stop price.
        stop: Decimal,
        /// Limit price.
        limit: Decimal,
    },
    /// A trailing stop without an offset.
    #[error("a trailing_stop order needs a trailing offset (amount or percent)")]
    MissingTrailingOffset,
    /// A trailing offset of zero or less.
    #[error("trailing offset must be greater than 0, got {0}")]
    NonPositiveTrailingOffset(Decimal),
    /// A trailing percent of 100 or more.
    #[error("trailing percent must be below 100, got {0}")]
    TrailingPercentTooLarge(Decimal),
    /// IOC/FOK on an order type that waits for a trigger.
    #[error("time in force {tif} is only for market and limit orders, not {order_type}")]
    TifNotAllowed {
        /// The time in force.
        tif: TimeInForce,
        /// The order type.
        order_type: OrderType,
    },
    /// A bracket attached to a reduce-only order.
    #[error("a reduce-only order cannot carry a bracket")]
    ReduceOnlyBracket,
    /// A bracket with neither exit.
    #[error("a bracket needs a stop_loss, a take_profit, or both")]
    EmptyBracket,
    /// Stop-loss and take-profit on the wrong sides of each other.
    #[error("bracket for a {side} entry has stop_loss={stop_loss} and take_profit={take_profit} on the wrong sides")]
    BracketPrices {
        /// Entry side.
        side: Side,
        /// Stop-loss price.
        stop_loss: Decimal,
        /// Take-profit price.
        take_profit: Decimal,
    },
    /// An exit on the wrong side of the entry price.
    #[error("bracket {which}={exit} is on the wrong side of the {side} entry price {entry}")]
    BracketEntry {
        /// Entry side.
        side: Side,
        /// Entry price.
        entry: Decimal,
        /// The exit's price.
        exit: Decimal,
        /// `stop_loss` or `take_profit`.
        which: &'static str,
    },
    /// A fill for a different order, symbol or side.
    #[error("fill {trade_id} does not match order {cid}: {what}")]
    FillMismatch {
        /// The order.
        cid: ClientOrderId,
        /// The fill.
        trade_id: TradeId,
        /// What differs.
        what: &'static str,
    },
    /// A fill whose quantity or price is zero or negative.
    #[error("fill {trade_id} has a non-positive quantity or price (qty={qty}, price={price})")]
    BadFill {
        /// The fill.
        trade_id: TradeId,
        /// Its quantity.
        qty: Decimal,
        /// Its price.
        price: Decimal,
    },
    /// A fill with a trade id the order already has.
    #[error("duplicate fill: order {cid} already has trade {trade_id}")]
    DuplicateFill {
        /// The order.
        cid: ClientOrderId,
        /// The repeated trade id.
        trade_id: TradeId,
    },
    /// A fill that would take the filled quantity above the order quantity.
    #[error("overfill: order {cid} has {leaves} left but fill {trade_id} is for {qty}")]
    Overfill {
        /// The order.
        cid: ClientOrderId,
        /// The fill.
        trade_id: TradeId,
        /// The fill's quantity.
        qty: Decimal,
        /// What was left.
        leaves: Decimal,
    },
    /// A modification that would put the quantity at or below the filled quantity.
    #[error("new quantity {qty} must stay above the filled quantity {filled}")]
    QtyNotAboveFilled {
        /// Requested quantity.
        qty: Decimal,
        /// Already filled.
        filled: Decimal,
    },
    /// A modification that changes nothing.
    #[error("modification changes nothing")]
    EmptyModification,
}

/// One applied status change: the audit record of an order event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusChange {
    /// Position in the order's history, from 0.
    pub seq: u32,
    /// What happened.
    pub event: OrderEventKind,
    /// Status before.
    pub from: OrderStatus,
    /// Status after.
    pub to: OrderStatus,
    /// When it happened.
    pub ts: Timestamp,
    /// Why, in words (reject reason, cancel cause, fill summary).
    pub reason: Option<String>,
}

/// What happens to an order, with the data each event brings.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderEvent {
    /// Handed to the venue.
    Submitted {
        /// When.
        ts: Timestamp,
    },
    /// Acknowledged by the venue.
    Accepted {
        /// The venue's id, if it gives one.
        venue_order_id: Option<VenueOrderId>,
        /// When.
        ts: Timestamp,
    },
    /// Refused.
    Rejected {
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// An execution.
    Filled(Fill),
    /// We asked for a cancel.
    CancelRequested {
        /// Why we cancel (`user`, `oco`, `kill_switch`, …).
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// The venue refused our cancel.
    CancelRejected {
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// Cancelled.
    Cancelled {
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// Ended by time in force.
    Expired {
        /// When.
        ts: Timestamp,
    },
    /// Submission failed.
    Failed {
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// Price/quantity/stop changed (confirmed).
    Modified {
        /// What changed.
        change: Modification,
        /// When.
        ts: Timestamp,
    },
}

/// The order of record.
///
/// Immutable facts are public fields; everything that changes over the order's life is
/// private and changes only through [`Order::apply`], which validates first and mutates only
/// when the whole event is acceptable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    /// Our id (unique).
    pub cid: ClientOrderId,
    /// Account or sub-ledger.
    pub account: AccountId,
    /// Who asked.
    pub strategy_id: StrategyId,
    /// Instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Execution type.
    pub order_type: OrderType,
    /// Time in force.
    pub tif: TimeInForce,
    /// Only reduces a position.
    pub reduce_only: bool,
    /// LLM provenance.
    pub llm: Option<LlmMeta>,
    /// Which strategy script version and callback emitted it (Lua strategies only; not
    /// read back by the order queries: see `Store::provenance`).
    #[serde(skip)]
    pub provenance: Option<Arc<Provenance>>,
    /// The bracket entry this order belongs to (children only).
    pub parent: Option<ClientOrderId>,
    /// Role in a bracket, if any.
    pub role: Option<BracketRole>,
    /// The entry's children (entries only).
    pub children: Vec<ClientOrderId>,
    /// When it was created.
    pub ts_init: Timestamp,
    pub(crate) qty: Decimal,
    pub(crate) limit_price: Option<Decimal>,
    pub(crate) stop_price: Option<Decimal>,
    pub(crate) trailing: Option<TrailingOffset>,
    pub(crate) venue_order_id: Option<VenueOrderId>,
    pub(crate) status: OrderStatus,
    pub(crate) filled_qty: Decimal,
    pub(crate) avg_px: Option<Decimal>,
    pub(crate) fees: Decimal,
    pub(crate) trade_ids: Vec<TradeId>,
    pub(crate) history: Vec<StatusChange>,
    pub(crate) ts_last: Timestamp,
}

impl Order {
    /// Creates a pending order from a request that passed [`OrderRequest::validate`].
    ///
    /// The history starts with no entries; the creation itself is the `pending` row the store
    /// writes first.
    #[must_use]
    pub fn new(cid: ClientOrderId, req: &OrderRequest, ts: Timestamp) -> Self {
        Self {
            cid,
            account: req.account.clone(),
            strategy_id: req.strategy_id.clone(),
            symbol: req.symbol.clone(),
            side: req.side,
            order_type: req.order_type,
            tif: req.tif,
            reduce_only: req.reduce_only,
            llm: req.llm.clone(),
            provenance: req.provenance.clone(),
            parent: None,
            role: None,
            children: Vec::new(),
            ts_init: ts,
            qty: req.qty,
            limit_price: req.limit_price,
            stop_price: req.stop_price,
            trailing: req.trailing,
            venue_order_id: None,
            status: OrderStatus::Pending,
            filled_qty: Decimal::ZERO,
            avg_px: None,
            fees: Decimal::ZERO,
            trade_ids: Vec::new(),
            // submit, accept, fill: the common life fits without reallocating
            history: Vec::with_capacity(4),
            ts_last: ts,
        }
    }

    /// Total quantity.
    #[must_use]
    pub fn qty(&self) -> Decimal {
        self.qty
    }
    /// Quantity filled so far.
    #[must_use]
    pub fn filled_qty(&self) -> Decimal {
        self.filled_qty
    }
    /// Quantity still to fill (zero once terminal).
    #[must_use]
    pub fn leaves_qty(&self) -> Decimal {
        if self.status.is_terminal() {
            Decimal::ZERO
        } else {
            self.qty - self.filled_qty
        }
    }
    /// Volume-weighted average fill price, once anything filled.
    #[must_use]
    pub fn avg_px(&self) -> Option<Decimal> {
        self.avg_px
    }
    /// Sum of fees over all fills.
    #[must_use]
    pub fn fees(&self) -> Decimal {
        self.fees
    }
    /// Limit price.
    #[must_use]
    pub fn limit_price(&self) -> Option<Decimal> {
        self.limit_price
    }
    /// Stop (trigger) price; for a trailing stop, its current trigger once known.
    #[must_use]
    pub fn stop_price(&self) -> Option<Decimal> {
        self.stop_price
    }
    /// Trailing offset.
    #[must_use]
    pub fn trailing(&self) -> Option<TrailingOffset> {
        self.trailing
    }
    /// The venue's id.
    #[must_use]
    pub fn venue_order_id(&self) -> Option<&VenueOrderId> {
        self.venue_order_id.as_ref()
    }
    /// Current status.
    #[must_use]
    pub fn status(&self) -> OrderStatus {
        self.status
    }
    /// Every applied status change, oldest first.
    #[must_use]
    pub fn history(&self) -> &[StatusChange] {
        &self.history
    }
    /// Trade ids of the applied fills.
    #[must_use]
    pub fn trade_ids(&self) -> &[TradeId] {
        &self.trade_ids
    }
    /// Time of the last change.
    #[must_use]
    pub fn ts_last(&self) -> Timestamp {
        self.ts_last
    }

    /// Checks a modification against venue rules without applying it.
    ///
    /// # Errors
    /// A terminal or cancelling order ([`OrderError::Transition`]), a quantity at or below
    /// the filled quantity, a price the order type does not take, or an off-grid value.
    pub fn check_modification(&self, m: &Modification, instrument: &Instrument) -> Result<(), OrderError> {
        self.status.on(OrderEventKind::Modify)?;
        if m.qty.is_none() && m.limit_price.is_none() && m.stop_price.is_none() {
            return Err(OrderError::EmptyModification);
        }
        let qty = m.qty.unwrap_or(self.qty);
        if qty <= self.filled_qty {
            return Err(OrderError::QtyNotAboveFilled { qty, filled: self.filled_qty });
        }
        if m.limit_price.is_some() && !self.order_type.has_limit() {
            return Err(OrderError::UnexpectedField { field: "limit_price", order_type: self.order_type });
        }
        if m.stop_price.is_some() && !self.order_type.has_stop() && self.order_type != OrderType::TrailingStop {
            return Err(OrderError::UnexpectedField { field: "stop_price", order_type: self.order_type });
        }
        let limit = m.limit_price.or(self.limit_price);
        let stop = if self.order_type == OrderType::TrailingStop { None } else { m.stop_price.or(self.stop_price) };
        validate_shape(self.order_type, self.side, qty, limit, stop, self.trailing)?;
        check_increments(instrument, qty, limit, stop)?;
        Ok(())
    }

    /// Applies an event: validates it completely, then changes the order and returns the
    /// audit record. On error nothing changes.
    ///
    /// # Errors
    /// [`OrderError`] for an event the status table refuses, a fill for another order, a
    /// duplicate trade id, an overfill, or a non-positive fill.
    pub fn apply(&mut self, event: OrderEvent) -> Result<StatusChange, OrderError> {
        let (kind, ts, reason) = match &event {
            OrderEvent::Filled(f) => return self.apply_fill(f),
            OrderEvent::Submitted { ts } => (OrderEventKind::Submit, *ts, None),
            OrderEvent::Accepted { ts, .. } => (OrderEventKind::Accept, *ts, None),
            OrderEvent::Rejected { reason, ts } => (OrderEventKind::Reject, *ts, Some(reason.clone())),
            OrderEvent::CancelRequested { reason, ts } => (OrderEventKind::CancelRequest, *ts, Some(reason.clone())),
            OrderEvent::CancelRejected { reason, ts } => {
                let kind = if self.filled_qty.is_zero() {
                    OrderEventKind::CancelRejectUnfilled
                } else {
                    OrderEventKind::CancelRejectPartial
                };
                (kind, *ts, Some(reason.clone()))
            }
            OrderEvent::Cancelled { reason, ts } => (OrderEventKind::Cancel, *ts, Some(reason.clone())),
            OrderEvent::Expired { ts } => (OrderEventKind::Expire, *ts, None),
            OrderEvent::Failed { reason, ts } => (OrderEventKind::Fail, *ts, Some(reason.clone())),
            OrderEvent::Modified { change, ts } => {
                if let Some(q) = change.qty {
                    if q <= self.filled_qty {
                        return Err(OrderError::QtyNotAboveFilled { qty: q, filled: self.filled_qty });
                    }
                }
                (OrderEventKind::Modify, *ts, Some(describe_modification(change)))
            }
        };
        let next = self.status.on(kind)?;
        // Everything is validated: commit.
        match event {
            OrderEvent::Accepted { venue_order_id: Some(id), .. } => self.venue_order_id = Some(id),
            OrderEvent::Modified { change, .. } => {
                if let Some(q) = change.qty {
                    self.qty = q;
                }
                if let Some(p) = change.limit_price {
                    self.limit_price = Some(p);
                }
                if let Some(p) = change.stop_price {
                    self.stop_price = Some(p);
                }
            }
            _ => {}
        }
        Ok(self.record(kind, next, ts, reason))
    }

    /// Applies an execution (the same as `apply(OrderEvent::Filled(..))`, without taking the
    /// fill by value).
    ///
    /// # Errors
    /// As [`Order::apply`] for fills: a mismatched, non-positive, duplicate or over-filling
    /// fill, or a status that takes no fill. Nothing changes then.
    pub fn apply_fill(&mut self, f: &Fill) -> Result<StatusChange, OrderError> {
        self.check_fill(f)?;
        let new_filled = self.filled_qty + f.qty;
        let kind = if new_filled == self.qty { OrderEventKind::Fill } else { OrderEventKind::PartialFill };
        let next = self.status.on(kind)?;
        let prev_notional = self.avg_px.unwrap_or_default() * self.filled_qty;
        self.avg_px = Some((prev_notional + f.price * f.qty) / new_filled);
        self.filled_qty = new_filled;
        self.fees += f.fee;
        self.trade_ids.push(f.trade_id.clone());
        Ok(self.record(kind, next, f.ts, Some(f.trade_id.as_str().to_owned())))
    }

    fn record(
        &mut self,
        event: OrderEventKind,
        to: OrderStatus,
        ts: Timestamp,
        reason: Option<String>,
    ) -> StatusChange {
        let change = StatusChange {
            seq: u32::try_from(self.history.len()).unwrap_or(u32::MAX),
            event,
            from: self.status,
            to,
            ts,
            reason,
        };
        self.status = to;
        self.ts_last = ts;
        self.history.push(change.clone());
        change
    }

    fn check_fill(&self, f: &Fill) -> Result<(), OrderError> {
        let mismatch = |what| OrderError::FillMismatch { cid: self.cid.clone(), trade_id: f.trade_id.clone(), what };
        if f.cid != self.cid {
            return Err(mismatch("client order id"));
        }
        if f.symbol != self.symbol {
            return Err(mismatch("symbol"));
        }
        if f.side != self.side {
            return Err(mismatch("side"));
        }
        if f.qty <= Decimal::ZERO || f.price <= Decimal::ZERO {
            return Err(OrderError::BadFill { trade_id: f.trade_id.clone(), qty: f.qty, price: f.price });
        }
        if self.trade_ids.contains(&f.trade_id) {
            return Err(OrderError::DuplicateFill { cid: self.cid.clone(), trade_id: f.trade_id.clone() });
        }
        let leaves = self.qty - self.filled_qty;
        if f.qty > leaves {
            return Err(OrderError::Overfill {
                cid: self.cid.clone(),
                trade_id: f.trade_id.clone(),
                qty: f.qty,
                leaves,
            });
        }
        Ok(())
    }
}

fn describe_modification(m: &Modification) -> String {
    let mut parts = Vec::new();
    if let Some(q) = m.qty {
        parts.push(format!("qty={q}"));
    }
    if let Some(p) = m.limit_price {
        parts.push(format!("limit_price={p}"));
    }
    if let Some(p) = m.stop_price {
        parts.push(format!("stop_price={p}"));
    }
    parts.join(" ")
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::fill::Liquidity;
    use crate::model::ids::Currency;
    use rust_decimal_macros::dec;

    pub(crate) fn acct() -> AccountId {
        AccountId::try_new("main").unwrap()
    }
    pub(crate) fn sid() -> StrategyId {
        StrategyId::try_new("test").unwrap()
    }
    pub(crate) fn sym(s: &str) -> Symbol {
        Symbol::try_new(s).unwrap()
    }
    fn aapl() -> Instrument {
        Instrument::us_stock("AAPL")
    }
    fn req(side: Side, qty: Decimal) -> OrderRequest {
        OrderRequest::market(acct(), sid(), sym("AAPL"), side, qty)
    }
    pub(crate) fn fill_for(o: &Order, id: &str, qty: Decimal, price: Decimal) -> Fill {
        Fill {
            trade_id: TradeId::try_new(id).unwrap(),
            cid: o.cid.clone(),
            symbol: o.symbol.clone(),
            side: o.side,
            qty,
            price,
            fee: dec!(0.01),
            fee_currency: Currency::try_new("USD").unwrap(),
            liquidity: Liquidity::Taker,
            ts: Timestamp(10),
        }
    }
    fn live_order(qty: Decimal) -> Order {
        let mut o = Order::new(ClientOrderId::try_new("c1").unwrap(), &req(Side::Buy, qty), Timestamp(1));
        o.apply(OrderEvent::Submitted { ts: Timestamp(2) }).unwrap();
        o.apply(OrderEvent::Accepted { venue_order_id: Some(VenueOrderId::try_new("v1").unwrap()), ts: Timestamp(3) })
            .unwrap();
        o
    }

    #[test]
    fn validation_errors_are_specific() {
        let i = aapl();
        let e = |r: OrderRequest| r.validate(&i).unwrap_err();
        assert_eq!(e(req(Side::Buy, dec!(0))), OrderError::NonPositiveQty(dec!(0)));
        assert!(matches!(e(req(Side::Buy, dec!(1.5))), OrderError::Increment(IncrementError::OffLot { .. })));
        let mut r = req(Side::Buy, dec!(1));
        r.order_type = OrderType::Limit;
        assert_eq!(e(r.clone()), OrderError::MissingLimitPrice(OrderType::Limit));
        r.limit_price = Some(dec!(10.001));
        assert!(matches!(e(r.clone()), OrderError::Increment(IncrementError::OffTick { .. })));
        r.order_type = OrderType::StopLimit;
        r.limit_price = Some(dec!(10));
        assert_eq!(e(r.clone()), OrderError::MissingStopPrice(OrderType::StopLimit));
        r.stop_price = Some(dec!(11));
        assert_eq!(e(r.clone()), OrderError::StopLimitRelation { side: Side::Buy, stop: dec!(11), limit: dec!(10) });
        r.side = Side::Sell;
        assert!(r.validate(&i).is_ok(), "sell stop-limit with limit below stop is fine");
        let mut t = req(Side::Sell, dec!(1));
        t.order_type = OrderType::TrailingStop;
        assert_eq!(e(t.clone()), OrderError::MissingTrailingOffset);
        t.trailing = Some(TrailingOffset::Percent(dec!(0)));
        assert_eq!(e(t.clone()), OrderError::NonPositiveTrailingOffset(dec!(0)));
        t.trailing = Some(TrailingOffset::Percent(dec!(2.5)));
        assert!(t.validate(&i).is_ok());
        t.tif = TimeInForce::Ioc;
        assert!(matches!(e(t), OrderError::TifNotAllowed { .. }));
        let mut m = req(Side::Buy, dec!(1));
        m.limit_price = Some(dec!(1));
        assert!(matches!(e(m), OrderError::UnexpectedField { field: "limit_price", .. }));
        let other = OrderRequest::market(acct(), sid(), sym("MSFT"), Side::Buy, dec!(1));
        assert!(matches!(e(other), OrderError::WrongInstrument { .. }));
    }

    #[test]
    fn bracket_prices_must_straddle_the_entry() {
        let i = aapl();
        let mut r = OrderRequest::limit(acct(), sid(), sym("AAPL"), Side::Buy, dec!(10), dec!(100));
        r.bracket = Some(BracketSpec { stop_loss: Some(dec!(95)), take_profit: Some(dec!(110)) });
        assert!(r.validate(&i).is_ok());
        r.bracket = Some(BracketSpec { stop_loss: Some(dec!(110)), take_profit: Some(dec!(95)) });
        assert!(matches!(r.validate(&i), Err(OrderError::BracketPrices { .. })));
        r.bracket = Some(BracketSpec { stop_loss: Some(dec!(101)), take_profit: None });
        assert!(matches!(r.validate(&i), Err(OrderError::BracketEntry { which: "stop_loss", .. })));
        r.side = Side::Sell;
        r.bracket = Some(BracketSpec { stop_loss: Some(dec!(105)), take_profit: Some(dec!(90)) });
        assert!(r.validate(&i).is_ok(), "short bracket: stop above, target below");
        r.bracket = Some(BracketSpec::default());
        assert_eq!(r.validate(&i), Err(OrderError::EmptyBracket));
    }

    #[test]
    fn partial_fills_aggregate_to_weighted_average() {
        let mut o = live_order(dec!(10));
        let f1 = fill_for(&o, "t1", dec!(4), dec!(100));
        let c = o.apply(OrderEvent::Filled(f1)).unwrap();
        assert_eq!((c.from, c.to), (OrderStatus::Open, OrderStatus::PartiallyFilled));
        let f2 = fill_for(&o, "t2", dec!(6), dec!(105));
        o.apply(OrderEvent::Filled(f2)).unwrap();
        assert_eq!(o.status(), OrderStatus::Filled);
        assert_eq!(o.filled_qty(), dec!(10));
        assert_eq!(o.avg_px(), Some(dec!(103))); // (4*100 + 6*105) / 10
        assert_eq!(o.fees(), dec!(0.02));
        assert_eq!(o.leaves_qty(), dec!(0));
        assert_eq!(o.history().len(), 4);
    }

    #[test]
    fn duplicate_and_over_fills_are_refused_without_change() {
        let mut o = live_order(dec!(10));
        o.apply(OrderEvent::Filled(fill_for(&o, "t1", dec!(4), dec!(100)))).unwrap();
        let before = o.clone();
        let dup = o.apply(OrderEvent::Filled(fill_for(&o, "t1", dec!(1), dec!(100))));
        assert!(matches!(dup, Err(OrderError::DuplicateFill { .. })));
        let over = o.apply(OrderEvent::Filled(fill_for(&o, "t9", dec!(7), dec!(100))));
        assert!(matches!(over, Err(OrderError::Overfill { leaves, .. }) if leaves == dec!(6)));
        let mut wrong = fill_for(&o, "t8", dec!(1), dec!(100));
        wrong.side = Side::Sell;
        assert!(matches!(o.apply(OrderEvent::Filled(wrong)), Err(OrderError::FillMismatch { what: "side", .. })));
        assert_eq!(o, before);
    }

    #[test]
    fn illegal_transition_leaves_order_unchanged() {
        let mut o = live_order(dec!(1));
        o.apply(OrderEvent::Filled(fill_for(&o, "t1", dec!(1), dec!(100)))).unwrap();
        let before = o.clone();
        let err = o.apply(OrderEvent::Cancelled { reason: "user".into(), ts: Timestamp(99) }).unwrap_err();
        assert!(matches!(err, OrderError::Transition(TransitionError { from: OrderStatus::Filled, .. })));
        assert_eq!(o, before);
    }

    #[test]
    fn modification_follows_venue_rules() {
        let i = aapl();
        let mut o = Order::new(
            ClientOrderId::try_new("c2").unwrap(),
            &OrderRequest::limit(acct(), sid(), sym("AAPL"), Side::Buy, dec!(10), dec!(100)),
            Timestamp(1),
        );
        o.apply(OrderEvent::Submitted { ts: Timestamp(2) }).unwrap();
        o.apply(OrderEvent::Accepted { venue_order_id: None, ts: Timestamp(3) }).unwrap();
        o.apply(OrderEvent::Filled(fill_for(&o, "t1", dec!(4), dec!(100)))).unwrap();
        let m = |qty, limit, stop| Modification { qty, limit_price: limit, stop_price: stop };
        assert_eq!(
            o.check_modification(&m(Some(dec!(4)), None, None), &i),
            Err(OrderError::QtyNotAboveFilled { qty: dec!(4), filled: dec!(4) })
        );
        assert!(o.check_modification(&m(Some(dec!(5)), Some(dec!(99.5)), None), &i).is_ok());
        assert!(matches!(
            o.check_modification(&m(None, None, Some(dec!(1))), &i),
            Err(OrderError::UnexpectedField { field: "stop_price", .. })
        ));
        assert_eq!(o.check_modification(&m(None, None, None), &i), Err(OrderError::EmptyModification));
        o.apply(OrderEvent::Modified { change: m(Some(dec!(5)), Some(dec!(99.5)), None), ts: Timestamp(5) }).unwrap();
        assert_eq!((o.qty(), o.limit_price()), (dec!(5), Some(dec!(99.5))));
        o.apply(OrderEvent::Filled(fill_for(&o, "t2", dec!(1), dec!(99.5)))).unwrap();
        assert_eq!(o.status(), OrderStatus::Filled);
        assert!(matches!(o.check_modification(&m(Some(dec!(9)), None, None), &i), Err(OrderError::Transition(_))));
    }

    #[test]
    fn cancel_reject_returns_to_the_right_working_status() {
        let mut o = live_order(dec!(10));
        o.apply(OrderEvent::CancelRequested { reason: "user".into(), ts: Timestamp(4) }).unwrap();
        o.apply(OrderEvent::CancelRejected { reason: "too late".into(), ts: Timestamp(5) }).unwrap();
        assert_eq!(o.status(), OrderStatus::Open);
        o.apply(OrderEvent::Filled(fill_for(&o, "t1", dec!(3), dec!(100)))).unwrap();
        o.apply(OrderEvent::CancelRequested { reason: "user".into(), ts: Timestamp(6) }).unwrap();
        o.apply(OrderEvent::Filled(fill_for(&o, "t2", dec!(3), dec!(100)))).unwrap();
        assert_eq!(o.status(), OrderStatus::Cancelling, "fills racing a cancel keep it cancelling");
        o.apply(OrderEvent::CancelRejected { reason: "too late".into(), ts: Timestamp(7) }).unwrap();
        assert_eq!(o.status(), OrderStatus::PartiallyFilled);
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Ev {
            Submit,
            Accept,
            Reject,
            Fill(u8, u16),
            CancelReq,
            CancelRej,
            Cancel,
            Expire,
            Fail,
            Modify(u8),
        }

        fn ev() -> impl Strategy<Value = Ev> {
            prop_oneof![
                Just(Ev::Submit),
                Just(Ev::Accept),
                Just(Ev::Reject),
                (0u8..12, 0u16..6).prop_map(|(q, id)| Ev::Fill(q, id)),
                Just(Ev::CancelReq),
                Just(Ev::CancelRej),
                Just(Ev::Cancel),
                Just(Ev::Expire),
                Just(Ev::Fail),
                (0u8..15).prop_map(Ev::Modify),
            ]
        }

        proptest! {
            #[test]
            fn prop_random_events_never_break_order_invariants(events in proptest::collection::vec(ev(), 0..40)) {
                let mut o = Order::new(ClientOrderId::try_new("p").unwrap(), &req(Side::Buy, dec!(10)), Timestamp(0));
                let mut fill_sum = Decimal::ZERO;
                for (i, e) in events.into_iter().enumerate() {
                    let ts = Timestamp(i as i64);
                    let event = match e {
                        Ev::Submit => OrderEvent::Submitted { ts },
                        Ev::Accept => OrderEvent::Accepted { venue_order_id: None, ts },
                        Ev::Reject => OrderEvent::Rejected { reason: "r".into(), ts },
                        Ev::Fill(q, id) => OrderEvent::Filled(fill_for(&o, &format!("t{id}"), Decimal::from(q), dec!(100))),
                        Ev::CancelReq => OrderEvent::CancelRequested { reason: "r".into(), ts },
                        Ev::CancelRej => OrderEvent::CancelRejected { reason: "r".into(), ts },
                        Ev::Cancel => OrderEvent::Cancelled { reason: "r".into(), ts },
                        Ev::Expire => OrderEvent::Expired { ts },
                        Ev::Fail => OrderEvent::Failed { reason: "r".into(), ts },
                        Ev::Modify(q) => OrderEvent::Modified { change: Modification { qty: Some(Decimal::from(q)), ..Default::default() }, ts },
                    };
                    let before = o.clone();
                    let fill_qty = if let OrderEvent::Filled(f) = &event { Some(f.qty) } else { None };
                    match o.apply(event) {
                        Ok(change) => {
                            // The applied change is exactly what the table says.
                            prop_assert_eq!(before.status.on(change.event), Ok(change.to));
                            prop_assert_eq!(o.status(), change.to);
                            if let Some(q) = fill_qty { fill_sum += q; }
                        }
                        Err(_) => prop_assert_eq!(&o, &before, "a refused event changed the order"),
                    }
                    prop_assert!(o.filled_qty() <= o.qty());
                    prop_assert_eq!(o.filled_qty(), fill_sum);
                    prop_assert_eq!(o.status() == OrderStatus::Filled, o.filled_qty() == o.qty(), "filled status iff fully filled");
                    prop_assert_eq!(o.history().len(), o.trade_ids().len() + o.history().iter().filter(|c| !matches!(c.event, OrderEventKind::Fill | OrderEventKind::PartialFill)).count());
                }
            }
        }
    }
}
