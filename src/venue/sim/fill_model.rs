//! How much can fill and at what executed price: slippage, tick rounding and the per-event
//! volume budget. Pure values; no order state. Fees live in `fees`.

use crate::data::MarketEvent;
use crate::model::Side;
use rust_decimal::Decimal;

/// Basis points in one whole.
pub(crate) const BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

/// Rounds `price` to the tick grid in the direction that is worse for `side` (up for a buy,
/// down for a sell). A zero tick leaves the price as it is.
#[must_use]
pub(crate) fn round_adverse(price: Decimal, side: Side, tick: Decimal) -> Decimal {
    if tick <= Decimal::ZERO {
        return price;
    }
    let steps = price / tick;
    let steps = match side {
        Side::Buy => steps.ceil(),
        Side::Sell => steps.floor(),
    };
    steps * tick
}

/// Moves `price` against `side` by `bps` basis points and rounds it adversely to the tick.
///
/// Zero slippage returns the price untouched. A sell is never slipped below one tick (or below
/// its own price when there is no tick), so a fill price stays positive.
#[must_use]
pub(crate) fn slip(price: Decimal, side: Side, bps: Decimal, tick: Decimal) -> Decimal {
    if bps.is_zero() {
        return price;
    }
    let factor = bps / BPS;
    let raw = match side {
        Side::Buy => price * (Decimal::ONE + factor),
        Side::Sell => price * (Decimal::ONE - factor),
    };
    let rounded = round_adverse(raw, side, tick);
    if rounded > Decimal::ZERO {
        rounded
    } else if tick > Decimal::ZERO {
        tick
    } else {
        price
    }
}

/// What may still fill during one market event, shared by every order on the symbol in
/// arrival order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Budget {
    /// No volume cap configured.
    Unlimited,
    /// One pool for both sides (a bar's or a trade's volume × share).
    Shared(Decimal),
    /// A quote: buys take from the ask size, sells from the bid size (each × share).
    PerSide {
        /// Left for buys.
        buy: Decimal,
        /// Left for sells.
        sell: Decimal,
    },
}

impl Budget {
    /// The budget of `event` under the configured share (`None` = unlimited).
    #[must_use]
    pub(crate) fn for_event(share: Option<Decimal>, event: &MarketEvent) -> Self {
        let Some(share) = share else { return Self::Unlimited };
        let share = share.max(Decimal::ZERO);
        match event {
            MarketEvent::Bar(_, b) => Self::Shared(share * b.volume.max(Decimal::ZERO)),
            MarketEvent::Trade(_, t) => Self::Shared(share * t.size.max(Decimal::ZERO)),
            MarketEvent::Quote(_, q) => Self::PerSide {
                buy: share * q.ask_size.max(Decimal::ZERO),
                sell: share * q.bid_size.max(Decimal::ZERO),
            },
        }
    }

    /// How much `side` may still fill (`None` = unlimited).
    #[must_use]
    pub(crate) fn available(self, side: Side) -> Option<Decimal> {
        match self {
            Self::Unlimited => None,
            Self::Shared(left) => Some(left),
            Self::PerSide { buy, .. } if side == Side::Buy => Some(buy),
            Self::PerSide { sell, .. } => Some(sell),
        }
    }

    /// Records that `qty` filled on `side`.
    pub(crate) fn take(&mut self, side: Side, qty: Decimal) {
        match self {
            Self::Unlimited => {}
            Self::Shared(left) => *left -= qty,
            Self::PerSide { buy, .. } if side == Side::Buy => *buy -= qty,
            Self::PerSide { sell, .. } => *sell -= qty,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Bar, QuoteTick, TradeTick};
    use crate::model::{Symbol, Timestamp};
    use rust_decimal_macros::dec;

    #[test]
    fn slippage_cases() {
        // (price, side, bps, tick, expected): 100 × 1.0005 = 100.05; 100 × 0.9995 = 99.95;
        // 101.23 × 1.001 = 101.33123 -> ceil 101.34; 101.23 × 0.999 = 101.12877 -> floor 101.12.
        let cases = [
            (dec!(100), Side::Buy, dec!(5), dec!(0.01), dec!(100.05)),
            (dec!(100), Side::Sell, dec!(5), dec!(0.01), dec!(99.95)),
            (dec!(101.23), Side::Buy, dec!(10), dec!(0.01), dec!(101.34)),
            (dec!(101.23), Side::Sell, dec!(10), dec!(0.01), dec!(101.12)),
            (dec!(101.23), Side::Buy, dec!(0), dec!(0.01), dec!(101.23)),
            (dec!(50), Side::Buy, dec!(10), dec!(0), dec!(50.05)),
            (dec!(50), Side::Sell, dec!(20000), dec!(0.01), dec!(0.01)),
        ];
        for (price, side, bps, tick, want) in cases {
            assert_eq!(slip(price, side, bps, tick), want, "{price} {side} {bps}");
        }
    }

    #[test]
    fn budgets_per_event_kind() {
        let s = Symbol::try_new("X").unwrap();
        let bar = MarketEvent::Bar(
            s.clone(),
            Bar { ts: Timestamp(0), open: dec!(1), high: dec!(1), low: dec!(1), close: dec!(1), volume: dec!(1000) },
        );
        let trade = MarketEvent::Trade(s.clone(), TradeTick { ts: Timestamp(0), price: dec!(1), size: dec!(30) });
        let quote = MarketEvent::Quote(
            s,
            QuoteTick { ts: Timestamp(0), bid: dec!(1), ask: dec!(2), bid_size: dec!(40), ask_size: dec!(60) },
        );
        assert_eq!(Budget::for_event(None, &bar), Budget::Unlimited);
        let mut b = Budget::for_event(Some(dec!(0.1)), &bar);
        assert_eq!(b.available(Side::Buy), Some(dec!(100)));
        b.take(Side::Sell, dec!(30));
        assert_eq!(b.available(Side::Buy), Some(dec!(70)));
        assert_eq!(Budget::for_event(Some(dec!(0.5)), &trade), Budget::Shared(dec!(15)));
        let mut q = Budget::for_event(Some(dec!(0.5)), &quote);
        assert_eq!((q.available(Side::Buy), q.available(Side::Sell)), (Some(dec!(30)), Some(dec!(20))));
        q.take(Side::Buy, dec!(10));
        assert_eq!((q.available(Side::Buy), q.available(Side::Sell)), (Some(dec!(20)), Some(dec!(20))));
    }
}
