//! One account's books: cash per currency, open positions, realised P&L, fees, reservations.

use crate::collections::{index_with_hint, FastIndexMap, SmallMap};
use crate::model::dec;
use crate::model::position::MarkRange;
use crate::model::{
    AccountId, Currency, Fill, Instrument, Position, PositionId, StrategyId, Symbol, Timestamp, Trade, TradeKind,
};

impl Booked {
    /// The fill as a trade row, linked to its order, strategy and position(s).
    #[must_use]
    pub fn trade(&self, fill: &Fill, strategy_id: &StrategyId, account: &AccountId) -> Trade {
        Trade {
            trade_id: fill.trade_id.clone(),
            cid: fill.cid.clone(),
            strategy_id: strategy_id.clone(),
            account: account.clone(),
            symbol: fill.symbol.clone(),
            side: fill.side,
            qty: fill.qty,
            price: fill.price,
            fee: fill.fee,
            kind: self.kind,
            position_id: self.position_id,
            opened_position_id: self.opened_position_id,
            realized_pnl: self.realized_pnl,
            ts: fill.ts,
        }
    }
}
use rust_decimal::Decimal;
use serde::Serialize;

/// What booking one fill changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booked {
    /// What the fill did to the position.
    pub kind: TradeKind,
    /// Gross P&L the fill realised.
    pub realized_pnl: Decimal,
    /// The position it changed (for a reversal: the one it closed).
    pub position_id: PositionId,
    /// For a reversal: the position it opened.
    pub opened_position_id: Option<PositionId>,
    /// Positions whose rows changed: the one the fill touched, and for a reversal the new one
    /// (empty unless rows were asked for).
    pub positions: Vec<Position>,
    /// The cash balances that changed, with their new values (empty unless rows were asked
    /// for).
    pub balances: Vec<(Currency, Decimal)>,
}

/// A point-in-time summary of one account in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortfolioSummary {
    /// Currency of every figure.
    pub currency: Currency,
    /// Cash.
    pub cash: Decimal,
    /// Cash plus the market value of open positions.
    pub equity: Decimal,
    /// Cash not reserved by open orders.
    pub buying_power: Decimal,
    /// Σ |market value|.
    pub gross_exposure: Decimal,
    /// Σ market value (signed).
    pub net_exposure: Decimal,
    /// Realised P&L (gross of fees).
    pub realized_pnl: Decimal,
    /// Unrealised P&L at the marks.
    pub unrealized_pnl: Decimal,
    /// Fees paid.
    pub fees: Decimal,
}

/// One account's books.
///
/// Cash moves with every fill: a buy pays `qty × price`, a sell receives it, and the fee is
/// paid in its own currency. So at any time, per currency,
/// `equity = deposits − fees + realised + unrealised = cash + Σ market value`.
#[derive(Debug, Clone, Default)]
pub struct Portfolio {
    account: Option<AccountId>,
    cash: SmallMap<Currency, Decimal>,
    deposits: SmallMap<Currency, Decimal>,
    realized: SmallMap<Currency, Decimal>,
    fees: SmallMap<Currency, Decimal>,
    reserved: SmallMap<Currency, Decimal>,
    positions: FastIndexMap<Symbol, Held>,
    /// Where the last marked position sat in `positions` (checked by symbol before use: a
    /// closed position's removal moves the others).
    mark_hint: usize,
    /// Σ market value and Σ |market value| of open positions per quote currency, kept up to
    /// date on every mark and fill so equity and exposure are O(1) on the pre-trade path (one
    /// entry for both: a mark finds them with one lookup).
    exposure: SmallMap<Currency, Exposure>,
}

/// The running exposure sums of one quote currency.
#[derive(Debug, Clone, Copy, Default)]
struct Exposure {
    /// Σ market value (signed).
    net: Decimal,
    /// Σ |market value|.
    gross: Decimal,
}

/// An open position with the range of prices it was marked to since its quantity or average
/// price last changed (marks inside it skip the excursion arithmetic).
#[derive(Debug, Clone)]
struct Held {
    position: Position,
    marks: MarkRange,
}

impl Held {
    fn new(position: Position) -> Self {
        Self { position, marks: MarkRange::default() }
    }

    /// The position to change in any way: the mark range starts again.
    fn changed(&mut self) -> &mut Position {
        self.marks = MarkRange::default();
        &mut self.position
    }
}

// `a = a + b`, not `a += b`: `Decimal`'s `+` inlines its fast paths where `+=` is a call (the
// same sum: `add_assign` is `add`).
#[allow(clippy::assign_op_pattern)]
fn add(map: &mut SmallMap<Currency, Decimal>, ccy: &Currency, delta: Decimal) -> Decimal {
    // Looked up before inserting: the per-mark path clones no currency.
    if let Some(v) = map.get_mut(ccy) {
        *v = *v + delta;
        return *v;
    }
    map.insert(ccy.clone(), delta);
    delta
}

fn get(map: &SmallMap<Currency, Decimal>, ccy: &Currency) -> Decimal {
    map.get(ccy).copied().unwrap_or_default()
}

/// Moves the running market value and gross exposure of `ccy` by `net` and `gross`.
#[allow(clippy::assign_op_pattern)] // `+` inlines, `+=` is a call (see `add`)
fn add_exposure(map: &mut SmallMap<Currency, Exposure>, ccy: &Currency, net: Decimal, gross: Decimal) {
    // Looked up before inserting: the per-mark path clones no currency.
    if let Some(e) = map.get_mut(ccy) {
        e.net = e.net + net;
        e.gross = e.gross + gross;
        return;
    }
    map.insert(ccy.clone(), Exposure { net, gross });
}

/// Moves the running market value and gross exposure of `ccy` from `old_mv` to `new_mv`.
fn track_exposure(map: &mut SmallMap<Currency, Exposure>, ccy: &Currency, old_mv: Decimal, new_mv: Decimal) {
    if dec::cmp(old_mv, new_mv) != std::cmp::Ordering::Equal {
        add_exposure(map, ccy, new_mv - old_mv, new_mv.abs() - old_mv.abs());
    }
}

impl Portfolio {
    /// An empty account.
    #[must_use]
    pub fn new(account: AccountId) -> Self {
        Self { account: Some(account), ..Self::default() }
    }

    /// The account id.
    ///
    /// # Panics
    /// Never for a portfolio built with [`Portfolio::new`].
    #[must_use]
    pub fn account(&self) -> &AccountId {
        self.account.as_ref().expect("portfolio built with an account")
    }

    /// Adds (or with a negative amount withdraws) cash; returns the new balance.
    pub fn deposit(&mut self, ccy: &Currency, amount: Decimal) -> Decimal {
        add(&mut self.deposits, ccy, amount);
        add(&mut self.cash, ccy, amount)
    }

    /// Restores a cash balance after a restart (the balance counts as deposited).
    pub fn restore_cash(&mut self, ccy: &Currency, cash: Decimal) {
        self.cash.insert(ccy.clone(), cash);
        self.deposits.insert(ccy.clone(), cash);
    }

    /// Restores an open position after a restart.
    pub fn restore_position(&mut self, position: Position) {
        self.track_exposure(&position.currency, Decimal::ZERO, position.market_value());
        self.positions.insert(position.symbol.clone(), Held::new(position));
    }

    /// Moves the running exposure sums from a position's old market value to its new one.
    fn track_exposure(&mut self, ccy: &Currency, old_mv: Decimal, new_mv: Decimal) {
        track_exposure(&mut self.exposure, ccy, old_mv, new_mv);
    }

    /// Cash in `ccy`.
    #[must_use]
    pub fn cash(&self, ccy: &Currency) -> Decimal {
        get(&self.cash, ccy)
    }

    /// Every cash balance.
    pub fn balances(&self) -> impl Iterator<Item = (&Currency, &Decimal)> {
        self.cash.iter()
    }

    /// The open position in `symbol`, if any.
    #[must_use]
    pub fn position(&self, symbol: &Symbol) -> Option<&Position> {
        self.positions.get(symbol).map(|h| &h.position)
    }

    /// Mutable access to an open position (for status flags such as closing).
    pub fn position_mut(&mut self, symbol: &Symbol) -> Option<&mut Position> {
        self.positions.get_mut(symbol).map(Held::changed)
    }

    /// Every open position.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.values().map(|h| &h.position)
    }

    /// Signed quantity held in `symbol` (zero when flat).
    #[must_use]
    pub fn qty(&self, symbol: &Symbol) -> Decimal {
        self.positions.get(symbol).map_or(Decimal::ZERO, |h| h.position.qty())
    }

    /// Changes the amount reserved by open orders in `ccy`.
    pub fn reserve(&mut self, ccy: &Currency, delta: Decimal) {
        add(&mut self.reserved, ccy, delta);
    }

    /// Amount reserved by open orders in `ccy`.
    #[must_use]
    pub fn reserved(&self, ccy: &Currency) -> Decimal {
        get(&self.reserved, ccy)
    }

    /// Marks the open position in `symbol` to `price`; returns it when one exists.
    pub fn mark(&mut self, symbol: &Symbol, price: Decimal, ts: Timestamp) -> Option<&Position> {
        let i = index_with_hint(&self.positions, &mut self.mark_hint, symbol)?;
        let (_, held) = self.positions.get_index_mut(i)?;
        let p = &mut held.position;
        let old_mark = p.mark;
        p.mark_within(price, ts, &mut held.marks);
        // The market value moves by `(price − old mark) × qty`: one product instead of two
        // (`price × qty − old × qty` is the same value at the same scale). With both marks at
        // or above zero the value keeps the sign of `qty`, so gross exposure moves by the same
        // amount, signed by the side.
        let delta = (price - old_mark) * p.qty;
        if delta.is_zero() {
            return Some(p);
        }
        if old_mark.is_sign_negative() || price.is_sign_negative() {
            track_exposure(&mut self.exposure, &p.currency, old_mark * p.qty, price * p.qty);
        } else {
            add_exposure(&mut self.exposure, &p.currency, delta, if p.qty.is_sign_negative() { -delta } else { delta });
        }
        Some(p)
    }

    /// Books a fill: moves cash, nets the position (splitting a reversal into a close and a
    /// new position), and returns the trade and changed rows.
    ///
    /// `next_id` hands out position ids; `liquidation` marks a close by the kill switch;
    /// `rows` asks for snapshots of the changed positions and balances (for the journal).
    pub fn apply_fill(
        &mut self,
        fill: &Fill,
        instrument: &Instrument,
        next_id: &mut u64,
        liquidation: bool,
        rows: bool,
    ) -> Booked {
        let quote = &instrument.quote;
        let mut balances = Vec::new();
        let cash_delta = -fill.side.sign() * fill.qty * fill.price;
        if fill.fee_currency == *quote {
            let cash = add(&mut self.cash, quote, cash_delta - fill.fee);
            if rows {
                balances.push((quote.clone(), cash));
            }
        } else {
            let cash = add(&mut self.cash, quote, cash_delta);
            let fee_cash = add(&mut self.cash, &fill.fee_currency, -fill.fee);
            if rows {
                balances.push((quote.clone(), cash));
                balances.push((fill.fee_currency.clone(), fee_cash));
            }
        }
        add(&mut self.fees, &fill.fee_currency, fill.fee);
        let old_mv = self.positions.get(&fill.symbol).map_or(Decimal::ZERO, |h| h.position.market_value());

        let mut new_id = || {
            *next_id += 1;
            PositionId(*next_id)
        };
        let account = self.account.as_ref().expect("portfolio built with an account");
        let open_new = |id, qty, fee| {
            Position::open(
                id,
                account.clone(),
                fill.symbol.clone(),
                quote.clone(),
                fill.side,
                qty,
                fill.price,
                fee,
                fill.ts,
            )
        };
        let mut positions = Vec::new();
        let mut keep = |p: &Position| {
            if rows {
                positions.push(p.clone());
            }
        };
        let (kind, realized, position_id, opened) = match self.positions.get_mut(&fill.symbol).map(Held::changed) {
            None => {
                let p = open_new(new_id(), fill.qty, fill.fee);
                let id = p.id;
                keep(&p);
                self.positions.insert(fill.symbol.clone(), Held::new(p));
                (TradeKind::Entry, Decimal::ZERO, id, None)
            }
            Some(p) => {
                let closing = p.closing_part(fill.side, fill.qty);
                if closing.is_zero() || closing == fill.qty {
                    let a = p.apply(fill.side, fill.qty, fill.price, fill.fee, fill.ts, liquidation);
                    keep(p);
                    let (id, open) = (p.id, p.is_open());
                    if !open {
                        self.positions.shift_remove(&fill.symbol);
                    }
                    (a.kind, a.realized, id, None)
                } else {
                    // Through zero: close this one with its share of the fee, open the rest.
                    let close_fee = fill.fee * closing / fill.qty;
                    let a = p.apply(fill.side, closing, fill.price, close_fee, fill.ts, liquidation);
                    keep(p);
                    let closed_id = p.id;
                    let opened = open_new(new_id(), fill.qty - closing, fill.fee - close_fee);
                    let opened_id = opened.id;
                    keep(&opened);
                    *p = opened;
                    (TradeKind::Reversal, a.realized, closed_id, Some(opened_id))
                }
            }
        };
        add(&mut self.realized, quote, realized);
        let new_mv = self.positions.get(&fill.symbol).map_or(Decimal::ZERO, |h| h.position.market_value());
        self.track_exposure(quote, old_mv, new_mv);
        Booked { kind, realized_pnl: realized, position_id, opened_position_id: opened, positions, balances }
    }

    /// Realised P&L (gross) in `ccy` since start.
    #[must_use]
    pub fn realized_pnl(&self, ccy: &Currency) -> Decimal {
        get(&self.realized, ccy)
    }

    /// Fees paid in `ccy` since start.
    #[must_use]
    pub fn fees(&self, ccy: &Currency) -> Decimal {
        get(&self.fees, ccy)
    }

    /// Net cash deposited in `ccy` (starting cash).
    #[must_use]
    pub fn deposits(&self, ccy: &Currency) -> Decimal {
        get(&self.deposits, ccy)
    }

    fn in_ccy<'a>(&'a self, ccy: &'a Currency) -> impl Iterator<Item = &'a Position> + 'a {
        self.positions().filter(move |p| p.currency == *ccy)
    }

    /// Unrealised P&L of open positions quoted in `ccy`.
    #[must_use]
    pub fn unrealized_pnl(&self, ccy: &Currency) -> Decimal {
        self.in_ccy(ccy).map(Position::unrealized_pnl).sum()
    }

    /// Cash plus the market value of positions quoted in `ccy`. O(1).
    #[must_use]
    pub fn equity(&self, ccy: &Currency) -> Decimal {
        self.cash(ccy) + self.net_exposure(ccy)
    }

    /// Σ |market value| of positions quoted in `ccy`. O(1).
    #[must_use]
    pub fn gross_exposure(&self, ccy: &Currency) -> Decimal {
        self.exposure.get(ccy).map_or(Decimal::ZERO, |e| e.gross)
    }

    /// Σ market value (signed) of positions quoted in `ccy`. O(1).
    #[must_use]
    pub fn net_exposure(&self, ccy: &Currency) -> Decimal {
        self.exposure.get(ccy).map_or(Decimal::ZERO, |e| e.net)
    }

    /// Cash in `ccy` not reserved by open orders (a cash account: no margin).
    #[must_use]
    pub fn buying_power(&self, ccy: &Currency) -> Decimal {
        self.cash(ccy) - self.reserved(ccy)
    }

    /// Cash, buying power, equity and gross exposure in `ccy`, each map read once (what
    /// risk reads on every mark).
    #[must_use]
    pub fn figures(&self, ccy: &Currency) -> (Decimal, Decimal, Decimal, Decimal) {
        let cash = self.cash(ccy);
        let e = self.exposure.get(ccy).copied().unwrap_or_default();
        (cash, cash - self.reserved(ccy), cash + e.net, e.gross)
    }

    /// Equity and gross exposure in `ccy` (the `figures` of those names, without the others).
    #[must_use]
    pub fn equity_and_gross(&self, ccy: &Currency) -> (Decimal, Decimal) {
        let e = self.exposure.get(ccy).copied().unwrap_or_default();
        (self.cash(ccy) + e.net, e.gross)
    }

    /// All figures for `ccy` at once.
    #[must_use]
    pub fn summary(&self, ccy: &Currency) -> PortfolioSummary {
        PortfolioSummary {
            currency: ccy.clone(),
            cash: self.cash(ccy),
            equity: self.equity(ccy),
            buying_power: self.buying_power(ccy),
            gross_exposure: self.gross_exposure(ccy),
            net_exposure: self.net_exposure(ccy),
            realized_pnl: self.realized_pnl(ccy),
            unrealized_pnl: self.unrealized_pnl(ccy),
            fees: self.fees(ccy),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ClientOrderId, Liquidity, PositionStatus, Side, TradeId};
    use rust_decimal_macros::dec;

    fn usd() -> Currency {
        Currency::try_new("USD").unwrap()
    }
    fn inst() -> Instrument {
        Instrument::us_stock("AAPL")
    }
    fn fill(n: u32, side: Side, qty: Decimal, price: Decimal, fee: Decimal) -> Fill {
        Fill {
            trade_id: TradeId::try_new(format!("t{n}")).unwrap(),
            cid: ClientOrderId::try_new(format!("c{n}")).unwrap(),
            symbol: Symbol::try_new("AAPL").unwrap(),
            side,
            qty,
            price,
            fee,
            fee_currency: usd(),
            liquidity: Liquidity::Taker,
            ts: Timestamp(i64::from(n)),
        }
    }
    fn book() -> (Portfolio, u64) {
        let mut p = Portfolio::new(AccountId::try_new("main").unwrap());
        p.deposit(&usd(), dec!(10000));
        (p, 0)
    }

    #[test]
    fn marks_reach_the_right_position_after_another_one_closes() {
        let (mut p, mut id) = book();
        let on = |sym: &str, f: Fill| Fill { symbol: Symbol::try_new(sym).unwrap(), ..f };
        let inst_of = |sym: &str| Instrument::us_stock(sym);
        for (n, sym) in [(1, "AAA"), (2, "BBB"), (3, "CCC")] {
            p.apply_fill(&on(sym, fill(n, Side::Buy, dec!(1), dec!(10), dec!(0))), &inst_of(sym), &mut id, false, true);
        }
        let ccc = Symbol::try_new("CCC").unwrap();
        p.mark(&ccc, dec!(12), Timestamp(10)); // remembers where CCC sits (third)
                                               // Closing BBB moves CCC up one place: the remembered place now holds nothing.
        p.apply_fill(
            &on("BBB", fill(4, Side::Sell, dec!(1), dec!(10), dec!(0))),
            &inst_of("BBB"),
            &mut id,
            false,
            true,
        );
        assert_eq!(p.mark(&ccc, dec!(13), Timestamp(11)).map(Position::unrealized_pnl), Some(dec!(3)));
        // Now CCC is remembered second; after AAA closes a new DDD takes the second place.
        p.apply_fill(
            &on("AAA", fill(5, Side::Sell, dec!(1), dec!(10), dec!(0))),
            &inst_of("AAA"),
            &mut id,
            false,
            true,
        );
        p.apply_fill(&on("DDD", fill(6, Side::Buy, dec!(2), dec!(10), dec!(0))), &inst_of("DDD"), &mut id, false, true);
        let ddd = Symbol::try_new("DDD").unwrap();
        assert_eq!(p.mark(&ddd, dec!(11), Timestamp(12)).map(Position::unrealized_pnl), Some(dec!(2)));
        assert_eq!(p.mark(&ccc, dec!(14), Timestamp(13)).map(Position::unrealized_pnl), Some(dec!(4)));
        assert!(p.mark(&Symbol::try_new("AAA").unwrap(), dec!(50), Timestamp(14)).is_none(), "AAA is flat");
        assert_eq!(p.net_exposure(&usd()), dec!(14) + dec!(22));
    }

    #[test]
    fn reversal_closes_and_reopens_with_split_fee() {
        let (mut p, mut id) = book();
        p.apply_fill(&fill(1, Side::Buy, dec!(10), dec!(100), dec!(1)), &inst(), &mut id, false, true);
        let b = p.apply_fill(&fill(2, Side::Sell, dec!(15), dec!(110), dec!(3)), &inst(), &mut id, false, true);
        assert_eq!(b.kind, TradeKind::Reversal);
        assert_eq!(b.realized_pnl, dec!(100)); // (110-100)*10
        assert_eq!((b.position_id, b.opened_position_id), (PositionId(1), Some(PositionId(2))));
        assert_eq!(b.positions[0].status(), PositionStatus::Closed);
        assert_eq!(b.positions[0].fees(), dec!(3)); // 1 at entry + 2 of the 3
        assert_eq!(b.positions[1].qty(), dec!(-5));
        assert_eq!(b.positions[1].fees(), dec!(1));
        // cash: 10000 - 1000 - 1 + 1650 - 3
        assert_eq!(p.cash(&usd()), dec!(10646));
        assert_eq!(b.balances, vec![(usd(), dec!(10646))]);
        p.mark(&Symbol::try_new("AAPL").unwrap(), dec!(120), Timestamp(9));
        // short 5 from 110 marked at 120: -50
        assert_eq!(p.unrealized_pnl(&usd()), dec!(-50));
        assert_eq!(p.equity(&usd()), dec!(10046)); // 10646 - 5*120
        assert_eq!(p.equity(&usd()), dec!(10000) - dec!(4) + dec!(100) - dec!(50));
        assert_eq!((p.gross_exposure(&usd()), p.net_exposure(&usd())), (dec!(600), dec!(-600)));
    }

    #[test]
    fn exit_removes_the_open_position_and_buying_power_nets_reservations() {
        let (mut p, mut id) = book();
        p.apply_fill(&fill(1, Side::Buy, dec!(10), dec!(100), dec!(0)), &inst(), &mut id, false, true);
        let b = p.apply_fill(&fill(2, Side::Sell, dec!(10), dec!(90), dec!(0)), &inst(), &mut id, false, true);
        assert_eq!(b.kind, TradeKind::Exit);
        assert!(p.position(&Symbol::try_new("AAPL").unwrap()).is_none());
        assert_eq!(p.realized_pnl(&usd()), dec!(-100));
        p.reserve(&usd(), dec!(2500));
        assert_eq!(p.buying_power(&usd()), dec!(9900) - dec!(2500));
    }

    #[test]
    fn fee_in_another_currency_is_paid_from_that_balance() {
        let (mut p, mut id) = book();
        let mut f = fill(1, Side::Buy, dec!(1), dec!(100), dec!(0.5));
        f.fee_currency = Currency::try_new("BNB").unwrap();
        let b = p.apply_fill(&f, &inst(), &mut id, false, true);
        assert_eq!(b.balances.len(), 2);
        assert_eq!(p.cash(&usd()), dec!(9900));
        assert_eq!(p.cash(&Currency::try_new("BNB").unwrap()), dec!(-0.5));
    }

    mod property_tests {
        use super::*;
        use proptest::prelude::*;

        fn fills() -> impl Strategy<Value = Vec<(bool, u32, u32, u32)>> {
            // (buy?, qty 1..50, price in cents 1..20000, fee in cents 0..300)
            proptest::collection::vec((any::<bool>(), 1u32..50, 100u32..20000, 0u32..300), 1..60)
        }

        proptest! {
            #[test]
            fn prop_position_qty_is_signed_sum_and_equity_is_conserved(seq in fills(), mark_cents in 100u32..20000) {
                let (mut p, mut id) = book();
                let sym = Symbol::try_new("AAPL").unwrap();
                let mut signed = Decimal::ZERO;
                let mut realized_from_trades = Decimal::ZERO;
                for (n, (buy, q, px, fee)) in seq.into_iter().enumerate() {
                    let side = if buy { Side::Buy } else { Side::Sell };
                    let f = fill(n as u32, side, Decimal::from(q), Decimal::new(i64::from(px), 2), Decimal::new(i64::from(fee), 2));
                    let b = p.apply_fill(&f, &inst(), &mut id, false, true);
                    realized_from_trades += b.realized_pnl;
                    signed += side.sign() * Decimal::from(q);
                    prop_assert_eq!(p.qty(&sym), signed);
                }
                let mark = Decimal::new(i64::from(mark_cents), 2);
                p.mark(&sym, mark, Timestamp(1_000));
                let ccy = usd();
                prop_assert_eq!(p.realized_pnl(&ccy), realized_from_trades);
                // The running exposure sums equal a full recomputation.
                let mv: Decimal = p.positions().map(Position::market_value).sum();
                let gross: Decimal = p.positions().map(|x| x.market_value().abs()).sum();
                prop_assert_eq!(p.net_exposure(&ccy), mv);
                prop_assert_eq!(p.gross_exposure(&ccy), gross);
                prop_assert_eq!(p.equity(&ccy), p.cash(&ccy) + mv);
                // Average prices are divisions (28 significant digits), so the two sides may
                // differ in the ~20th decimal; far below a cent.
                let books = p.deposits(&ccy) - p.fees(&ccy) + p.realized_pnl(&ccy) + p.unrealized_pnl(&ccy);
                prop_assert!((p.equity(&ccy) - books).abs() < Decimal::new(1, 12), "equity {} vs books {}", p.equity(&ccy), books);
            }
        }
    }
}
