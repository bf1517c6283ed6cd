//! Why risk refused an order: a closed set of stable codes and a readable message.
//!
//! Codes are part of the stored record and of the API: never rename one, only add. The
//! message is rendered `CODE: key=value, key=value` so that a user sees the limit and the
//! value that broke it (`MAX_POSITION_NOTIONAL: limit=10000 USD, would_be=12500 USD`).

use std::fmt;

macro_rules! reject_codes {
    ($($(#[$doc:meta])* $variant:ident => $text:literal,)+) => {
        /// The stable code of a risk refusal.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RejectCode {
            $($(#[$doc])* $variant,)+
        }

        impl RejectCode {
            /// Every code, in declaration order (the order of [`RejectCode::index`]).
            pub const ALL: &'static [RejectCode] = &[$(RejectCode::$variant,)+];

            /// The stable SCREAMING_SNAKE text of the code.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// Parses the stable text back into a code.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

reject_codes! {
    /// Trading is halted at some level; only cancels and the kill switch's flattening pass.
    TradingHalted => "TRADING_HALTED",
    /// Trading is reducing-only at some level and the order is not a reducing exit.
    TradingReducingOnly => "TRADING_REDUCING_ONLY",
    /// A reduce-only order (or a flattening or monitor exit) would open or grow a position.
    ReduceOnlyWouldIncrease => "REDUCE_ONLY_WOULD_INCREASE",
    /// The symbol is not a configured instrument.
    UnknownInstrument => "UNKNOWN_INSTRUMENT",
    /// The instrument is configured but not tradable.
    InstrumentNotTradable => "INSTRUMENT_NOT_TRADABLE",
    /// The order's strategy trades a capital allocation and the order names another account.
    WrongAccount => "WRONG_ACCOUNT",
    /// A US stock order outside the regular session (or on a weekend).
    MarketClosed => "MARKET_CLOSED",
    /// Quantity zero or negative.
    InvalidQuantity => "INVALID_QUANTITY",
    /// Quantity not a multiple of the lot size.
    OffLot => "OFF_LOT",
    /// A price not a multiple of the tick size, or not positive.
    OffTick => "OFF_TICK",
    /// Quantity below the instrument's minimum.
    BelowMinQty => "BELOW_MIN_QTY",
    /// Notional below the instrument's minimum.
    BelowMinNotional => "BELOW_MIN_NOTIONAL",
    /// A market order without a last price: notional and collar cannot be computed.
    NoReferencePrice => "NO_REFERENCE_PRICE",
    /// Quantity above the per-asset-class maximum.
    MaxOrderQty => "MAX_ORDER_QTY",
    /// Order notional above the maximum.
    MaxOrderNotional => "MAX_ORDER_NOTIONAL",
    /// The position after the order would be worth more than the per-symbol maximum.
    MaxPositionNotional => "MAX_POSITION_NOTIONAL",
    /// Gross exposure after the order would be above the maximum.
    MaxGrossExposure => "MAX_GROSS_EXPOSURE",
    /// Not enough cash net of open-order reservations.
    InsufficientBuyingPower => "INSUFFICIENT_BUYING_POWER",
    /// Too many open orders.
    MaxOpenOrders => "MAX_OPEN_ORDERS",
    /// Too many orders from one strategy in the last minute.
    MaxOrdersPerMinute => "MAX_ORDERS_PER_MINUTE",
    /// Limit price too far from the last price.
    PriceCollar => "PRICE_COLLAR",
    /// The day's loss (after the order) would exceed the daily loss limit.
    DailyLossLimit => "DAILY_LOSS_LIMIT",
    /// The drawdown from peak equity (after the order) would exceed the maximum.
    MaxDrawdown => "MAX_DRAWDOWN",
    /// LLM-suggested order with a confidence below the minimum.
    MinLlmConfidence => "MIN_LLM_CONFIDENCE",
    /// The order would be a fourth day trade in five business days for an account under the
    /// pattern-day-trader equity minimum.
    PatternDayTrader => "PATTERN_DAY_TRADER",
}

impl RejectCode {
    /// The code's position in [`RejectCode::ALL`] (for counters).
    #[must_use]
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A code plus the facts that explain it, rendered `CODE: key=value, …`.
#[derive(Clone, PartialEq, Eq)]
pub struct RejectReason {
    code: RejectCode,
    /// Each fact's key and where its value sits in `text` (a refusal copies no value apart).
    fields: Vec<(&'static str, std::ops::Range<usize>)>,
    /// The message as rendered so far (`CODE: key=value, …`), kept beside the fields so
    /// that reading it formats nothing again.
    text: String,
}

impl RejectReason {
    /// A reason with no facts yet.
    #[must_use]
    pub fn new(code: RejectCode) -> Self {
        // Room for the code and a couple of facts: a refusal's text grows without moving.
        let mut text = String::with_capacity(96);
        text.push_str(code.as_str());
        Self { code, fields: Vec::new(), text }
    }

    /// Adds one `key=value` fact (in the order they are added).
    #[must_use]
    pub fn with(mut self, key: &'static str, value: impl fmt::Display) -> Self {
        use fmt::Write as _;
        self.text.push_str(if self.fields.is_empty() { ": " } else { ", " });
        self.text.push_str(key);
        self.text.push('=');
        let start = self.text.len();
        // Writing into a String cannot fail.
        let _ = write!(self.text, "{value}");
        self.fields.push((key, start..self.text.len()));
        self
    }

    /// The stable code.
    #[must_use]
    pub fn code(&self) -> RejectCode {
        self.code
    }

    /// The facts (key and value), in order.
    pub fn fields(&self) -> impl ExactSizeIterator<Item = (&'static str, &str)> + '_ {
        self.fields.iter().map(|(k, range)| (*k, self.text.get(range.clone()).unwrap_or_default()))
    }

    /// The rendered message (same as `to_string()`).
    #[must_use]
    pub fn message(&self) -> String {
        self.text.clone()
    }

    /// The rendered message, borrowed.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for RejectReason {
    /// The code and the facts (the rendered text is derived from them).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fields: Vec<(&str, &str)> = self.fields().collect();
        f.debug_struct("RejectReason").field("code", &self.code).field("fields", &fields).finish()
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_is_screaming_snake() {
        for (i, code) in RejectCode::ALL.iter().enumerate() {
            assert_eq!(code.index(), i);
            assert_eq!(RejectCode::parse(code.as_str()), Some(*code));
            assert!(code.as_str().chars().all(|c| c.is_ascii_uppercase() || c == '_'), "{code}");
        }
        assert_eq!(RejectCode::parse("max_order_qty"), None);
        assert_eq!(RejectCode::ALL.len(), 25);
    }

    #[test]
    fn stable_code_texts() {
        let cases = [
            (RejectCode::TradingHalted, "TRADING_HALTED"),
            (RejectCode::MaxPositionNotional, "MAX_POSITION_NOTIONAL"),
            (RejectCode::InsufficientBuyingPower, "INSUFFICIENT_BUYING_POWER"),
            (RejectCode::MaxOrdersPerMinute, "MAX_ORDERS_PER_MINUTE"),
            (RejectCode::PatternDayTrader, "PATTERN_DAY_TRADER"),
        ];
        for (code, text) in cases {
            assert_eq!(code.as_str(), text);
        }
    }

    #[test]
    fn message_renders_code_and_facts_in_order() {
        let cases = [
            (RejectReason::new(RejectCode::TradingHalted), "TRADING_HALTED"),
            (
                RejectReason::new(RejectCode::MaxPositionNotional)
                    .with("limit", "10000 USD")
                    .with("would_be", "12500 USD"),
                "MAX_POSITION_NOTIONAL: limit=10000 USD, would_be=12500 USD",
            ),
            (RejectReason::new(RejectCode::OffLot).with("qty", 1.5), "OFF_LOT: qty=1.5"),
        ];
        for (reason, want) in cases {
            assert_eq!(reason.message(), want);
            assert_eq!(reason.to_string(), want);
            assert_eq!(reason.as_str(), want);
            // The text is the code and the facts, as the facts read back.
            let mut from_fields = reason.code().as_str().to_owned();
            for (i, (k, v)) in reason.fields().enumerate() {
                from_fields.push_str(&format!("{}{k}={v}", if i == 0 { ": " } else { ", " }));
            }
            assert_eq!(from_fields, want);
        }
    }
}
