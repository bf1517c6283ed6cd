//! Positions: netting math for one (account, symbol), and the trades that change them.

use super::dec;
use super::ids::{AccountId, ClientOrderId, Currency, StrategyId, Symbol, TradeId};
use super::order::Side;
use super::time::Timestamp;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A position's id. A reversal through zero closes one position and opens a new one with a
/// new id, so every position row has one direction and one life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PositionId(pub u64);

impl fmt::Display for PositionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A position's life stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionStatus {
    /// Holding a quantity.
    Open,
    /// An exit order is working against it.
    Closing,
    /// Back to flat.
    Closed,
    /// Flattened by the kill switch or a forced liquidation.
    Liquidated,
}

impl PositionStatus {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closing => "closing",
            Self::Closed => "closed",
            Self::Liquidated => "liquidated",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Open, Self::Closing, Self::Closed, Self::Liquidated].into_iter().find(|t| t.as_str() == s)
    }
}

/// What a fill did to a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradeKind {
    /// Opened a position from flat.
    Entry,
    /// Increased it in the same direction.
    Add,
    /// Reduced it without reaching zero.
    PartialExit,
    /// Reduced it exactly to zero.
    Exit,
    /// Went through zero: closed it and opened the other way.
    Reversal,
}

impl TradeKind {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Entry => "entry",
            Self::Add => "add",
            Self::PartialExit => "partial_exit",
            Self::Exit => "exit",
            Self::Reversal => "reversal",
        }
    }

    /// Parses the stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Entry, Self::Add, Self::PartialExit, Self::Exit, Self::Reversal].into_iter().find(|t| t.as_str() == s)
    }
}

/// One fill as the books see it: linked to its order and position, with the P&L it realised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    /// The venue's execution id (the fill's).
    pub trade_id: TradeId,
    /// The order it came from.
    pub cid: ClientOrderId,
    /// The strategy that placed the order.
    pub strategy_id: StrategyId,
    /// The account.
    pub account: AccountId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Quantity.
    pub qty: Decimal,
    /// Price.
    pub price: Decimal,
    /// Fee.
    pub fee: Decimal,
    /// What it did to the position.
    pub kind: TradeKind,
    /// The position it changed (for a reversal: the one it closed).
    pub position_id: PositionId,
    /// For a reversal: the position it opened.
    pub opened_position_id: Option<PositionId>,
    /// Gross P&L realised by the closing part (before fees).
    pub realized_pnl: Decimal,
    /// When.
    pub ts: Timestamp,
}

/// A net position in one symbol for one account.
///
/// `qty` is signed: positive long, negative short. `avg_px` is the average entry price of the
/// open quantity. Realised P&L is gross; fees are tracked beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Id of this position's life.
    pub id: PositionId,
    /// The account.
    pub account: AccountId,
    /// The instrument.
    pub symbol: Symbol,
    /// The quote currency P&L is in.
    pub currency: Currency,
    pub(crate) qty: Decimal,
    pub(crate) avg_px: Decimal,
    pub(crate) realized_pnl: Decimal,
    pub(crate) fees: Decimal,
    pub(crate) mark: Decimal,
    pub(crate) high_water: Decimal,
    pub(crate) low_water: Decimal,
    pub(crate) max_favorable: Decimal,
    pub(crate) max_adverse: Decimal,
    pub(crate) status: PositionStatus,
    pub(crate) opened_at: Timestamp,
    pub(crate) closed_at: Option<Timestamp>,
    pub(crate) ts_last: Timestamp,
}

/// The lowest and highest prices a position was marked to since its quantity or average
/// price last changed (see [`Position::mark_within`]); empty after a change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MarkRange(Option<(Decimal, Decimal)>);

/// The effect of [`Position::apply`] for a fill that does not go through zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    /// What the fill did.
    pub kind: TradeKind,
    /// Gross P&L realised.
    pub realized: Decimal,
}

impl Position {
    /// Opens a position from a first fill.
    #[must_use]
    #[allow(clippy::too_many_arguments, reason = "one constructor taking every fact of an opening fill")]
    pub fn open(
        id: PositionId,
        account: AccountId,
        symbol: Symbol,
        currency: Currency,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        ts: Timestamp,
    ) -> Self {
        Self {
            id,
            account,
            symbol,
            currency,
            qty: side.sign() * qty,
            avg_px: price,
            realized_pnl: Decimal::ZERO,
            fees: fee,
            mark: price,
            high_water: price,
            low_water: price,
            max_favorable: Decimal::ZERO,
            max_adverse: Decimal::ZERO,
            status: PositionStatus::Open,
            opened_at: ts,
            closed_at: None,
            ts_last: ts,
        }
    }

    /// Signed quantity: positive long, negative short, zero once closed.
    #[must_use]
    pub fn qty(&self) -> Decimal {
        self.qty
    }
    /// Average entry price of the open quantity.
    #[must_use]
    pub fn avg_px(&self) -> Decimal {
        self.avg_px
    }
    /// Gross realised P&L over this position's life.
    #[must_use]
    pub fn realized_pnl(&self) -> Decimal {
        self.realized_pnl
    }
    /// Fees paid on this position's fills.
    #[must_use]
    pub fn fees(&self) -> Decimal {
        self.fees
    }
    /// The last price it was marked at.
    #[must_use]
    pub fn mark(&self) -> Decimal {
        self.mark
    }
    /// Highest mark since opened.
    #[must_use]
    pub fn high_water(&self) -> Decimal {
        self.high_water
    }
    /// Lowest mark since opened.
    #[must_use]
    pub fn low_water(&self) -> Decimal {
        self.low_water
    }
    /// Largest unrealised profit seen (≥ 0).
    #[must_use]
    pub fn max_favorable_excursion(&self) -> Decimal {
        self.max_favorable
    }
    /// Largest unrealised loss seen (≤ 0).
    #[must_use]
    pub fn max_adverse_excursion(&self) -> Decimal {
        self.max_adverse
    }
    /// Life stage.
    #[must_use]
    pub fn status(&self) -> PositionStatus {
        self.status
    }
    /// When it opened.
    #[must_use]
    pub fn opened_at(&self) -> Timestamp {
        self.opened_at
    }
    /// When it closed.
    #[must_use]
    pub fn closed_at(&self) -> Option<Timestamp> {
        self.closed_at
    }
    /// Time of the last change.
    #[must_use]
    pub fn ts_last(&self) -> Timestamp {
        self.ts_last
    }
    /// Long, short, or `None` when flat.
    #[must_use]
    pub fn side(&self) -> Option<Side> {
        if self.qty > Decimal::ZERO {
            Some(Side::Buy)
        } else if self.qty < Decimal::ZERO {
            Some(Side::Sell)
        } else {
            None
        }
    }
    /// Whether it still holds a quantity.
    #[must_use]
    pub fn is_open(&self) -> bool {
        matches!(self.status, PositionStatus::Open | PositionStatus::Closing)
    }
    /// Unrealised P&L at the mark.
    #[must_use]
    pub fn unrealized_pnl(&self) -> Decimal {
        (self.mark - self.avg_px) * self.qty
    }
    /// Signed market value at the mark.
    #[must_use]
    pub fn market_value(&self) -> Decimal {
        self.mark * self.qty
    }
    /// How long it has been (or was) held, in nanoseconds.
    #[must_use]
    pub fn held_nanos(&self, now: Timestamp) -> i64 {
        self.closed_at.unwrap_or(now).0 - self.opened_at.0
    }

    /// Marks the position to `price`, updating water marks and excursions.
    pub fn mark_to(&mut self, price: Decimal, ts: Timestamp) {
        self.mark = price;
        if self.is_open() {
            // Runs on every price update: the integer fast paths of `dec`.
            self.high_water = dec::max(self.high_water, price);
            self.low_water = dec::min(self.low_water, price);
            let u = self.unrealized_pnl();
            self.max_favorable = dec::max(self.max_favorable, u);
            self.max_adverse = dec::min(self.max_adverse, u);
            self.ts_last = ts;
        }
    }

    /// As [`Position::mark_to`], but a price inside `range` (the marks applied since the
    /// quantity and average price last changed) only moves the mark: the unrealised P&L is
    /// monotone in the price at a fixed quantity and average, so a price between two marks
    /// already applied can raise neither water mark nor excursion. The caller resets `range`
    /// whenever the quantity or the average price changes.
    #[inline]
    pub(crate) fn mark_within(&mut self, price: Decimal, ts: Timestamp, range: &mut MarkRange) {
        if let Some((lo, hi)) = range.0 {
            if !dec::lt(price, lo) && !dec::gt(price, hi) {
                self.mark = price;
                if self.is_open() {
                    self.ts_last = ts;
                }
                return;
            }
        }
        self.mark_to(price, ts);
        range.0 = Some(match range.0 {
            Some((lo, hi)) => (dec::min(lo, price), dec::max(hi, price)),
            None => (price, price),
        });
    }

    /// Marks an exit order as working against it (open → closing).
    pub fn set_closing(&mut self, closing: bool) {
        match (self.status, closing) {
            (PositionStatus::Open, true) => self.status = PositionStatus::Closing,
            (PositionStatus::Closing, false) => self.status = PositionStatus::Open,
            _ => {}
        }
    }

    /// The part of a `qty` fill on `side` that closes this position (the rest would open the
    /// other way).
    #[must_use]
    pub fn closing_part(&self, side: Side, qty: Decimal) -> Decimal {
        if self.side() == Some(side.opposite()) {
            qty.min(self.qty.abs())
        } else {
            Decimal::ZERO
        }
    }

    /// Applies a fill that does not go through zero (the caller splits reversals with
    /// [`Position::closing_part`]).
    ///
    /// `liquidation` marks a close by the kill switch as `liquidated` instead of `closed`.
    pub fn apply(
        &mut self,
        side: Side,
        qty: Decimal,
        price: Decimal,
        fee: Decimal,
        ts: Timestamp,
        liquidation: bool,
    ) -> Applied {
        debug_assert!(qty > Decimal::ZERO);
        self.fees += fee;
        self.ts_last = ts;
        let same_direction = self.side() == Some(side);
        let applied = if same_direction {
            let abs = self.qty.abs();
            self.avg_px = (self.avg_px * abs + price * qty) / (abs + qty);
            self.qty += side.sign() * qty;
            Applied { kind: TradeKind::Add, realized: Decimal::ZERO }
        } else {
            let closing = qty.min(self.qty.abs());
            debug_assert_eq!(closing, qty, "reversals must be split by the caller");
            let realized = (price - self.avg_px)
                * closing
                * if self.qty.is_sign_negative() { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
            self.realized_pnl += realized;
            self.qty += side.sign() * closing;
            if self.qty.is_zero() {
                self.status = if liquidation { PositionStatus::Liquidated } else { PositionStatus::Closed };
                self.closed_at = Some(ts);
                Applied { kind: TradeKind::Exit, realized }
            } else {
                Applied { kind: TradeKind::PartialExit, realized }
            }
        };
        self.mark_to(price, ts);
        applied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn pos(side: Side, qty: Decimal, px: Decimal) -> Position {
        Position::open(
            PositionId(1),
            AccountId::try_new("a").unwrap(),
            Symbol::try_new("AAPL").unwrap(),
            Currency::try_new("USD").unwrap(),
            side,
            qty,
            px,
            dec!(0),
            Timestamp(0),
        )
    }

    #[test]
    fn long_add_average_then_partial_and_full_exit() {
        let mut p = pos(Side::Buy, dec!(10), dec!(100));
        let a = p.apply(Side::Buy, dec!(10), dec!(110), dec!(1), Timestamp(1), false);
        assert_eq!(a.kind, TradeKind::Add);
        assert_eq!(p.avg_px(), dec!(105));
        assert_eq!(p.qty(), dec!(20));
        let a = p.apply(Side::Sell, dec!(5), dec!(120), dec!(1), Timestamp(2), false);
        assert_eq!((a.kind, a.realized), (TradeKind::PartialExit, dec!(75))); // (120-105)*5
        assert_eq!(p.avg_px(), dec!(105), "reducing keeps the entry average");
        let a = p.apply(Side::Sell, dec!(15), dec!(100), dec!(1), Timestamp(3), false);
        assert_eq!((a.kind, a.realized), (TradeKind::Exit, dec!(-75))); // (100-105)*15
        assert_eq!(p.realized_pnl(), dec!(0));
        assert_eq!(p.fees(), dec!(3));
        assert_eq!(p.status(), PositionStatus::Closed);
        assert_eq!(p.closed_at(), Some(Timestamp(3)));
        assert_eq!(p.held_nanos(Timestamp(100)), 3);
    }

    #[test]
    fn short_profits_when_price_falls() {
        let mut p = pos(Side::Sell, dec!(4), dec!(50));
        p.mark_to(dec!(45), Timestamp(1));
        assert_eq!(p.unrealized_pnl(), dec!(20));
        p.mark_to(dec!(53), Timestamp(2));
        assert_eq!(p.unrealized_pnl(), dec!(-12));
        assert_eq!((p.max_favorable_excursion(), p.max_adverse_excursion()), (dec!(20), dec!(-12)));
        assert_eq!((p.high_water(), p.low_water()), (dec!(53), dec!(45)));
        let a = p.apply(Side::Buy, dec!(4), dec!(40), dec!(0), Timestamp(3), true);
        assert_eq!((a.kind, a.realized), (TradeKind::Exit, dec!(40)));
        assert_eq!(p.status(), PositionStatus::Liquidated);
    }

    proptest::proptest! {
        /// Marking through a mark range gives the same position as marking every price in
        /// full, across adds and partial exits (which reset the range), long or short.
        #[test]
        fn marks_within_the_range_match_full_marks(
            short in proptest::bool::ANY,
            steps in proptest::collection::vec((0u8..8, 1i64..40_000, 0u32..4), 1..120),
        ) {
            let side = if short { Side::Sell } else { Side::Buy };
            let mut full = pos(side, dec!(10), dec!(100));
            let mut fast = full.clone();
            let mut range = MarkRange::default();
            for (t, (op, m, scale)) in (1i64..).zip(steps) {
                let price = Decimal::new(m, scale);
                let ts = Timestamp(t);
                if op == 0 && full.is_open() {
                    // An add or a partial exit of one unit: quantity and average change.
                    let (s, q) = if t % 2 == 0 { (side, dec!(1)) } else { (side.opposite(), dec!(1)) };
                    if full.qty().abs() > q || s == side {
                        full.apply(s, q, price, dec!(0.01), ts, false);
                        fast.apply(s, q, price, dec!(0.01), ts, false);
                        range = MarkRange::default();
                    }
                } else {
                    full.mark_to(price, ts);
                    fast.mark_within(price, ts, &mut range);
                }
                proptest::prop_assert_eq!(&fast, &full);
            }
        }
    }

    #[test]
    fn closing_part_splits_a_reversal() {
        let p = pos(Side::Buy, dec!(3), dec!(10));
        assert_eq!(p.closing_part(Side::Sell, dec!(5)), dec!(3));
        assert_eq!(p.closing_part(Side::Sell, dec!(2)), dec!(2));
        assert_eq!(p.closing_part(Side::Buy, dec!(5)), dec!(0));
    }

    #[test]
    fn closing_flag_toggles_only_while_open() {
        let mut p = pos(Side::Buy, dec!(3), dec!(10));
        p.set_closing(true);
        assert_eq!(p.status(), PositionStatus::Closing);
        p.set_closing(false);
        assert_eq!(p.status(), PositionStatus::Open);
        p.apply(Side::Sell, dec!(3), dec!(10), dec!(0), Timestamp(1), false);
        p.set_closing(true);
        assert_eq!(p.status(), PositionStatus::Closed);
    }
}
