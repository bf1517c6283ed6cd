//! Price events: OHLCV bars and trade/quote ticks.

use crate::model::{Symbol, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One OHLCV bar. `ts` is the bar's stamp as the source gives it (see the data's README).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bar {
    /// Bar time.
    pub ts: Timestamp,
    /// First price.
    pub open: Decimal,
    /// Highest price.
    pub high: Decimal,
    /// Lowest price.
    pub low: Decimal,
    /// Last price.
    pub close: Decimal,
    /// Traded volume (zero when the source has none).
    pub volume: Decimal,
}

/// One trade printed on the tape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeTick {
    /// Trade time.
    pub ts: Timestamp,
    /// Trade price.
    pub price: Decimal,
    /// Trade size.
    pub size: Decimal,
}

/// Top of book.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteTick {
    /// Quote time.
    pub ts: Timestamp,
    /// Best bid.
    pub bid: Decimal,
    /// Best ask.
    pub ask: Decimal,
    /// Size at the bid.
    pub bid_size: Decimal,
    /// Size at the ask.
    pub ask_size: Decimal,
}

/// A price event for one symbol, as the engine consumes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MarketEvent {
    /// A bar closed.
    Bar(Symbol, Bar),
    /// A trade printed.
    Trade(Symbol, TradeTick),
    /// The quote changed.
    Quote(Symbol, QuoteTick),
}

impl MarketEvent {
    /// The event's symbol.
    #[must_use]
    pub fn symbol(&self) -> &Symbol {
        match self {
            Self::Bar(s, _) | Self::Trade(s, _) | Self::Quote(s, _) => s,
        }
    }

    /// The event's time.
    #[must_use]
    pub fn ts(&self) -> Timestamp {
        match self {
            Self::Bar(_, b) => b.ts,
            Self::Trade(_, t) => t.ts,
            Self::Quote(_, q) => q.ts,
        }
    }

    /// The price positions are marked at after this event (close, trade price, or mid).
    /// Inlined (read once per event on the backtest's path); the mid's division is not.
    #[must_use]
    #[inline]
    pub fn mark_price(&self) -> Decimal {
        match self {
            Self::Bar(_, b) => b.close,
            Self::Trade(_, t) => t.price,
            Self::Quote(_, q) => q.mid(),
        }
    }
}

impl QuoteTick {
    /// The mid price, (bid + ask) / 2.
    #[must_use]
    #[inline(never)]
    pub fn mid(&self) -> Decimal {
        (self.bid + self.ask) / Decimal::TWO
    }
}
