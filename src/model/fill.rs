//! Fills: one execution of (part of) an order at the venue.

use super::ids::{ClientOrderId, Currency, Symbol, TradeId};
use super::order::Side;
use super::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Whether a fill added liquidity (resting order hit) or took it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    /// Our resting order was hit.
    Maker,
    /// Our order crossed the spread.
    Taker,
}

impl Liquidity {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Maker => "maker",
            Self::Taker => "taker",
        }
    }
}

/// One execution reported by a venue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    /// The venue's execution id; unique per venue, used to refuse duplicates.
    pub trade_id: TradeId,
    /// The order it belongs to.
    pub cid: ClientOrderId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Quantity executed (`last_qty`), > 0.
    pub qty: Decimal,
    /// Execution price (`last_px`), > 0.
    pub price: Decimal,
    /// Fee charged for this execution (may be negative for a maker rebate).
    pub fee: Decimal,
    /// The currency the fee was charged in.
    pub fee_currency: Currency,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// When the venue executed it.
    pub ts: Timestamp,
}

impl Fill {
    /// Price × quantity.
    #[must_use]
    pub fn notional(&self) -> Decimal {
        self.price * self.qty
    }
}
