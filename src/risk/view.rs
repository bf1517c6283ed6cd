//! What risk reads from the books: [`RiskView`], implemented by the engine over the OMS.
//!
//! Every method is meant to be O(1): a map lookup or a counter the OMS keeps up to date.
//! Risk never iterates positions or orders on the pre-trade path.

use crate::model::{AccountId, Currency, Instrument, StrategyId, Symbol};
use rust_decimal::Decimal;

/// A position as risk sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PositionView {
    /// Signed quantity (positive long).
    pub qty: Decimal,
    /// Signed market value at the last mark.
    pub market_value: Decimal,
    /// Quantity still to fill on open buy orders (not reduce-only).
    pub open_buy_qty: Decimal,
    /// Quantity still to fill on open sell orders (not reduce-only).
    pub open_sell_qty: Decimal,
}

/// An account's (or the shared totals') figures in one currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountView {
    /// Cash.
    pub cash: Decimal,
    /// Cash not reserved by open orders.
    pub buying_power: Decimal,
    /// Cash plus the market value of positions.
    pub equity: Decimal,
    /// Σ |market value| of positions.
    pub gross_exposure: Decimal,
}

/// Equity and gross exposure alone: what the per-mark risk bands and the equity curve read
/// (the same values as the [`AccountView`] fields of those names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EquityView {
    /// Cash plus the market value of positions.
    pub equity: Decimal,
    /// Σ |market value| of positions.
    pub gross_exposure: Decimal,
}

impl From<AccountView> for EquityView {
    fn from(v: AccountView) -> Self {
        Self { equity: v.equity, gross_exposure: v.gross_exposure }
    }
}

/// Read access to the books, for risk.
pub trait RiskView {
    /// The configured instrument for a symbol.
    fn instrument(&self, symbol: &Symbol) -> Option<&Instrument>;
    /// The last price seen for a symbol.
    fn last_price(&self, symbol: &Symbol) -> Option<Decimal>;
    /// One account's position in a symbol (zeros when flat).
    fn position(&self, account: &AccountId, symbol: &Symbol) -> PositionView;
    /// The position in a symbol summed over every account.
    fn total_position(&self, symbol: &Symbol) -> PositionView;
    /// One account's figures in `ccy` (zeros for an unknown account).
    fn account(&self, account: &AccountId, ccy: &Currency) -> AccountView;
    /// The figures summed over every account, in `ccy`.
    fn totals(&self, ccy: &Currency) -> AccountView;
    /// Equity and gross exposure summed over every account, in `ccy`: the same values as
    /// [`RiskView::totals`] (a view may compute them without cash and buying power).
    fn equity_totals(&self, ccy: &Currency) -> EquityView {
        self.totals(ccy).into()
    }
    /// Open (non-terminal) orders, all sources.
    fn open_orders(&self) -> usize;
    /// Open orders of one strategy.
    fn open_orders_of_strategy(&self, strategy: &StrategyId) -> usize;
    /// Open orders in one symbol.
    fn open_orders_in_symbol(&self, symbol: &Symbol) -> usize;
    /// A number that changes whenever anything [`RiskView::account`] or
    /// [`RiskView::totals`] returns may have changed, or `None` when the view cannot tell.
    /// Lets [`super::RiskEngine::evaluate`] skip an unchanged portfolio.
    fn version(&self) -> Option<u64> {
        None
    }
}
