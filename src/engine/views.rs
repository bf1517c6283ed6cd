//! The OMS as risk sees it: every read is O(1) (running counters kept by the OMS and its
//! portfolios), so the pre-trade check never iterates positions or orders.

use crate::model::{AccountId, Currency, Instrument, StrategyId, Symbol};
use crate::oms::{Oms, Portfolio};
use crate::risk::{AccountView, EquityView, PositionView, RiskView};
use rust_decimal::Decimal;

fn position_of(oms: &Oms, p: &Portfolio, symbol: &Symbol) -> PositionView {
    let (open_buy_qty, open_sell_qty) = oms.open_counts().leaves(p.account(), symbol);
    let (qty, market_value) =
        p.position(symbol).map_or((Decimal::ZERO, Decimal::ZERO), |x| (x.qty(), x.market_value()));
    PositionView { qty, market_value, open_buy_qty, open_sell_qty }
}

fn account_of(p: &Portfolio, ccy: &Currency) -> AccountView {
    let (cash, buying_power, equity, gross_exposure) = p.figures(ccy);
    AccountView { cash, buying_power, equity, gross_exposure }
}

impl RiskView for Oms {
    fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.instruments().get(symbol).ok()
    }

    fn last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        Oms::last_price(self, symbol)
    }

    fn position(&self, account: &AccountId, symbol: &Symbol) -> PositionView {
        self.portfolio(account).map(|p| position_of(self, p, symbol)).unwrap_or_default()
    }

    fn total_position(&self, symbol: &Symbol) -> PositionView {
        self.portfolios().map(|p| position_of(self, p, symbol)).fold(PositionView::default(), |a, b| PositionView {
            qty: a.qty + b.qty,
            market_value: a.market_value + b.market_value,
            open_buy_qty: a.open_buy_qty + b.open_buy_qty,
            open_sell_qty: a.open_sell_qty + b.open_sell_qty,
        })
    }

    fn account(&self, account: &AccountId, ccy: &Currency) -> AccountView {
        self.portfolio(account).map(|p| account_of(p, ccy)).unwrap_or_default()
    }

    fn totals(&self, ccy: &Currency) -> AccountView {
        // The first account's figures start the sum (no additions for a single account).
        let mut books = self.portfolios();
        let Some(first) = books.next() else { return AccountView::default() };
        let mut sum = account_of(first, ccy);
        for p in books {
            let b = account_of(p, ccy);
            sum.cash += b.cash;
            sum.buying_power += b.buying_power;
            sum.equity += b.equity;
            sum.gross_exposure += b.gross_exposure;
        }
        sum
    }

    fn equity_totals(&self, ccy: &Currency) -> EquityView {
        // As `totals`, summed in the same order, without cash and buying power (per mark).
        let mut books = self.portfolios();
        let Some(first) = books.next() else { return EquityView::default() };
        let (mut equity, mut gross_exposure) = first.equity_and_gross(ccy);
        for p in books {
            let (e, g) = p.equity_and_gross(ccy);
            equity += e;
            gross_exposure += g;
        }
        EquityView { equity, gross_exposure }
    }

    fn open_orders(&self) -> usize {
        self.open_counts().total()
    }

    fn open_orders_of_strategy(&self, strategy: &StrategyId) -> usize {
        self.open_counts().of_strategy(strategy)
    }

    fn open_orders_in_symbol(&self, symbol: &Symbol) -> usize {
        self.open_counts().in_symbol(symbol)
    }

    fn version(&self) -> Option<u64> {
        Some(self.books_version())
    }
}
