//! One function per pre-trade check. Each is pure: it reads what it is given and returns
//! `Ok(())` or the [`RejectReason`] naming the limit and the value. The order in which they
//! run, and which ones a [`CheckKind`] skips, is decided by [`super::RiskEngine::check`].

use super::alerts::EquityTracker;
use super::limits::{Allocation, LimitField, Scope};
use super::reason::{RejectCode, RejectReason};
use super::state::TradingState;
use super::view::{AccountView, PositionView};
use super::CheckKind;
use crate::model::calendar::is_regular_session;
use crate::model::instrument::is_multiple as is_multiple_of;
use crate::model::{dec, Currency, Instrument, OrderRequest, Side, Timestamp};
use rust_decimal::Decimal;
use std::fmt;

/// A money amount with its currency, for messages (`12500 USD`).
#[derive(Debug, Clone, Copy)]
pub struct Money<'a>(pub Decimal, pub &'a Currency);

impl fmt::Display for Money<'_> {
    /// `{normalized amount} {currency}`; the amount is written digit by digit (a refusal
    /// formats two of these).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        dec::write_normalized(f, self.0)?;
        f.write_str(" ")?;
        f.write_str(self.1.as_str())
    }
}

fn reject(code: RejectCode) -> RejectReason {
    RejectReason::new(code)
}

fn n(d: Decimal) -> Decimal {
    d.normalize()
}

/// The instrument accepts new orders.
///
/// # Errors
/// `INSTRUMENT_NOT_TRADABLE`.
pub fn tradable(inst: &Instrument) -> Result<(), RejectReason> {
    if inst.tradable {
        Ok(())
    } else {
        Err(reject(RejectCode::InstrumentNotTradable).with("symbol", &inst.symbol))
    }
}

/// Quantity positive, on the lot grid and at least the minimum; prices positive and on the
/// tick grid.
///
/// # Errors
/// `INVALID_QUANTITY`, `OFF_LOT`, `BELOW_MIN_QTY` or `OFF_TICK`.
pub fn increments(req: &OrderRequest, inst: &Instrument) -> Result<(), RejectReason> {
    if req.qty <= Decimal::ZERO {
        return Err(reject(RejectCode::InvalidQuantity).with("qty", n(req.qty)));
    }
    if !is_multiple_of(req.qty, inst.lot_size) {
        return Err(reject(RejectCode::OffLot).with("qty", n(req.qty)).with("lot", n(inst.lot_size)));
    }
    if req.qty < inst.min_qty {
        return Err(reject(RejectCode::BelowMinQty).with("min", n(inst.min_qty)).with("qty", n(req.qty)));
    }
    for (field, px) in [("limit_price", req.limit_price), ("stop_price", req.stop_price)] {
        if let Some(px) = px {
            if px <= Decimal::ZERO || !is_multiple_of(px, inst.tick_size) {
                return Err(reject(RejectCode::OffTick).with(field, n(px)).with("tick", n(inst.tick_size)));
            }
        }
    }
    Ok(())
}

/// Whether an order of `side` and `qty` reduces a position of `position` without going
/// through zero.
#[must_use]
pub fn reduces(position: Decimal, side: Side, qty: Decimal) -> bool {
    position * side.sign() < Decimal::ZERO && qty <= position.abs()
}

/// A reduce-only order, a monitor exit and a flattening must reduce the position.
///
/// # Errors
/// `REDUCE_ONLY_WOULD_INCREASE`.
pub fn reduce_only(req: &OrderRequest, kind: CheckKind, position: Decimal) -> Result<(), RejectReason> {
    if (req.reduce_only || kind != CheckKind::Normal) && !reduces(position, req.side, req.qty) {
        return Err(reject(RejectCode::ReduceOnlyWouldIncrease)
            .with("side", req.side)
            .with("qty", n(req.qty))
            .with("position", n(position)));
    }
    Ok(())
}

/// Halted lets only the kill switch's flattening through; reducing-only lets reduce-only
/// orders and exits through (that they reduce is checked by [`reduce_only`]).
///
/// # Errors
/// `TRADING_HALTED` or `TRADING_REDUCING_ONLY`, naming the scope that set the state.
pub fn trading_state(
    state: TradingState,
    scope: &Scope,
    kind: CheckKind,
    reduce_only: bool,
) -> Result<(), RejectReason> {
    let ok = match state {
        TradingState::Active => true,
        TradingState::ReducingOnly => reduce_only || kind != CheckKind::Normal,
        TradingState::Halted => kind == CheckKind::KillSwitchFlatten,
    };
    if ok {
        return Ok(());
    }
    let code = if state == TradingState::Halted { RejectCode::TradingHalted } else { RejectCode::TradingReducingOnly };
    Err(reject(code).with("scope", scope))
}

/// A strategy with a capital allocation trades only its sub-ledger account.
///
/// # Errors
/// `WRONG_ACCOUNT`.
pub fn account(req: &OrderRequest, allocation: Option<&Allocation>) -> Result<(), RejectReason> {
    match allocation {
        Some(a) if a.account != req.account => Err(reject(RejectCode::WrongAccount)
            .with("strategy", &req.strategy_id)
            .with("expected", &a.account)
            .with("account", &req.account)),
        _ => Ok(()),
    }
}

/// Stocks (and FX) trade only in their regular session; crypto always.
///
/// # Errors
/// `MARKET_CLOSED`.
pub fn market_hours(enabled: bool, inst: &Instrument, now: Timestamp) -> Result<(), RejectReason> {
    if !enabled || is_regular_session(inst.asset_class, now) {
        return Ok(());
    }
    Err(reject(RejectCode::MarketClosed).with("asset_class", inst.asset_class.as_str()).with("at", now))
}

/// The price an order's notional is computed at: its limit price, else its stop price, else
/// the last price.
///
/// # Errors
/// `NO_REFERENCE_PRICE` for an order without prices when no last price is known.
pub fn reference_price(req: &OrderRequest, last: Option<Decimal>) -> Result<Decimal, RejectReason> {
    req.limit_price.or(req.stop_price).or(last).ok_or_else(|| {
        reject(RejectCode::NoReferencePrice).with("symbol", &req.symbol).with("order_type", req.order_type)
    })
}

/// Notional at least the instrument's minimum.
///
/// # Errors
/// `BELOW_MIN_NOTIONAL`.
pub fn min_notional(inst: &Instrument, notional: Decimal) -> Result<(), RejectReason> {
    if notional < inst.min_notional {
        return Err(reject(RejectCode::BelowMinNotional)
            .with("min", Money(inst.min_notional, &inst.quote))
            .with("notional", Money(notional, &inst.quote)));
    }
    Ok(())
}

/// An order carrying LLM metadata states at least the minimum confidence.
///
/// # Errors
/// `MIN_LLM_CONFIDENCE`.
pub fn llm_confidence(req: &OrderRequest, min: Option<Decimal>) -> Result<(), RejectReason> {
    let (Some(meta), Some(min)) = (&req.llm, min) else { return Ok(()) };
    // Confidence is validated into [0, 1]; a conversion failure cannot happen, and would
    // count as zero confidence.
    let confidence = Decimal::try_from(meta.confidence()).unwrap_or_default();
    if confidence < min {
        return Err(reject(RejectCode::MinLlmConfidence)
            .with("min", n(min))
            .with("confidence", meta.confidence())
            .with("model", meta.model()));
    }
    Ok(())
}

/// A limit price within `collar_pct` percent of the last price.
///
/// # Errors
/// `PRICE_COLLAR`, or `NO_REFERENCE_PRICE` when a collar is set and no last price is known.
pub fn price_collar(
    req: &OrderRequest,
    last: Option<Decimal>,
    collar_pct: Option<Decimal>,
) -> Result<(), RejectReason> {
    let (Some(limit), Some(pct)) = (req.limit_price, collar_pct) else { return Ok(()) };
    let Some(last) = last else {
        return Err(reject(RejectCode::NoReferencePrice).with("symbol", &req.symbol).with("check", "price_collar"));
    };
    let distance = (limit - last).abs();
    if distance * Decimal::ONE_HUNDRED > pct * last {
        let off = (distance / last * Decimal::ONE_HUNDRED).round_dp(2);
        return Err(reject(RejectCode::PriceCollar)
            .with("limit_pct", n(pct))
            .with("deviation_pct", n(off))
            .with("limit_price", n(limit))
            .with("last", n(last)));
    }
    Ok(())
}

/// Quantity at most the asset class's maximum.
///
/// # Errors
/// `MAX_ORDER_QTY`.
pub fn max_order_qty(req: &OrderRequest, inst: &Instrument, max: Option<Decimal>) -> Result<(), RejectReason> {
    match max {
        Some(max) if req.qty > max => Err(reject(RejectCode::MaxOrderQty)
            .with("limit", n(max))
            .with("qty", n(req.qty))
            .with("asset_class", inst.asset_class.as_str())),
        _ => Ok(()),
    }
}

/// Notional at most the maximum.
///
/// # Errors
/// `MAX_ORDER_NOTIONAL`.
pub fn max_order_notional(notional: Decimal, max: Option<Decimal>, ccy: &Currency) -> Result<(), RejectReason> {
    match max {
        Some(max) if notional > max => Err(reject(RejectCode::MaxOrderNotional)
            .with("limit", Money(max, ccy))
            .with("notional", Money(notional, ccy))),
        _ => Ok(()),
    }
}

/// Accepted orders of the strategy in the last minute below the maximum.
///
/// # Errors
/// `MAX_ORDERS_PER_MINUTE`.
pub fn orders_per_minute(in_window: usize, max: Option<Decimal>, req: &OrderRequest) -> Result<(), RejectReason> {
    match max {
        Some(max) if Decimal::from(in_window) >= max => Err(reject(RejectCode::MaxOrdersPerMinute)
            .with("limit", n(max))
            .with("in_last_minute", in_window)
            .with("strategy", &req.strategy_id)),
        _ => Ok(()),
    }
}

/// Open orders in a scope below its maximum.
///
/// # Errors
/// `MAX_OPEN_ORDERS`.
pub fn open_orders(scope: &Scope, open: usize, max: Option<Decimal>) -> Result<(), RejectReason> {
    match max {
        Some(max) if Decimal::from(open) >= max => {
            Err(reject(RejectCode::MaxOpenOrders).with("limit", n(max)).with("open", open).with("scope", scope))
        }
        _ => Ok(()),
    }
}

/// The position after the order, with every open order on the same side filled too, valued at
/// `price`, within the maximum.
///
/// # Errors
/// `MAX_POSITION_NOTIONAL`.
pub fn position_notional(
    what: &'static str,
    pos: &PositionView,
    req: &OrderRequest,
    price: Decimal,
    max: Option<Decimal>,
    ccy: &Currency,
) -> Result<(), RejectReason> {
    let Some(max) = max else { return Ok(()) };
    let worst = match req.side {
        Side::Buy => pos.qty + pos.open_buy_qty + req.qty,
        Side::Sell => pos.qty - pos.open_sell_qty - req.qty,
    };
    let would_be = worst.abs() * price;
    if would_be > max {
        return Err(reject(RejectCode::MaxPositionNotional)
            .with("limit", Money(max, ccy))
            .with("would_be", Money(would_be, ccy))
            .with("symbol", &req.symbol)
            .with("of", what));
    }
    Ok(())
}

/// Gross exposure after the order (this symbol revalued at `price`) within the maximum.
///
/// # Errors
/// `MAX_GROSS_EXPOSURE`.
pub fn gross_exposure(
    scope: &Scope,
    figures: &AccountView,
    pos: &PositionView,
    req: &OrderRequest,
    price: Decimal,
    max: Option<Decimal>,
    ccy: &Currency,
) -> Result<(), RejectReason> {
    let Some(max) = max else { return Ok(()) };
    let new_qty = pos.qty + req.side.sign() * req.qty;
    let would_be = figures.gross_exposure - pos.market_value.abs() + new_qty.abs() * price;
    if would_be > max {
        return Err(reject(RejectCode::MaxGrossExposure)
            .with("limit", Money(max, ccy))
            .with("would_be", Money(would_be, ccy))
            .with("scope", scope));
    }
    Ok(())
}

/// Cash an order needs: a buy its whole notional, a sell the part that opens or grows a short
/// (beyond the long not already being sold by open orders).
#[must_use]
pub fn cash_needed(req: &OrderRequest, pos: &PositionView, price: Decimal) -> Decimal {
    let opening = match req.side {
        Side::Buy => req.qty,
        Side::Sell => (req.qty - (pos.qty - pos.open_sell_qty).max(Decimal::ZERO)).max(Decimal::ZERO),
    };
    opening * price
}

/// Buying power (cash net of open-order reservations) covers the cash needed.
///
/// # Errors
/// `INSUFFICIENT_BUYING_POWER`.
pub fn buying_power(
    what: &'static str,
    figures: &AccountView,
    needed: Decimal,
    ccy: &Currency,
) -> Result<(), RejectReason> {
    if needed > figures.buying_power {
        return Err(reject(RejectCode::InsufficientBuyingPower)
            .with("buying_power", Money(figures.buying_power, ccy))
            .with("needed", Money(needed, ccy))
            .with("of", what));
    }
    Ok(())
}

/// Equity right after the order fills at its reference price and is marked at `last`: the
/// fill's difference to the mark is an immediate gain or loss.
#[must_use]
pub fn equity_after(equity: Decimal, req: &OrderRequest, ref_px: Decimal, last: Option<Decimal>) -> Decimal {
    last.map_or(equity, |last| equity - req.side.sign() * req.qty * (ref_px - last))
}

/// Daily loss and drawdown after the order within their limits. An order that neither grows
/// a position nor lowers equity always passes, so exits stay possible after a breach.
///
/// # Errors
/// `DAILY_LOSS_LIMIT` or `MAX_DRAWDOWN`.
#[allow(clippy::too_many_arguments, reason = "one check over one scope's figures and two limits")]
pub fn loss_limits(
    scope: &Scope,
    tracker: &EquityTracker,
    equity: Decimal,
    would_be: Decimal,
    grows: bool,
    daily_limit: Option<Decimal>,
    max_drawdown_pct: Option<Decimal>,
    ccy: &Currency,
) -> Result<(), RejectReason> {
    if !grows && would_be >= equity {
        return Ok(());
    }
    if let Some(limit) = daily_limit {
        let loss = tracker.daily_loss(would_be);
        if loss > limit {
            return Err(reject(RejectCode::DailyLossLimit)
                .with("limit", Money(limit, ccy))
                .with("would_be", Money(loss, ccy))
                .with("scope", scope));
        }
    }
    if let Some(max) = max_drawdown_pct {
        let peak = tracker.peak();
        // `(peak − would_be) / peak × 100 > max` without the division on the per-order path
        // (peak > 0); the drawdown itself is computed only for the message.
        let exceeds = match ((peak - would_be).checked_mul(Decimal::ONE_HUNDRED), max.checked_mul(peak)) {
            _ if peak <= Decimal::ZERO || would_be >= peak => Decimal::ZERO > max,
            (Some(lhs), Some(rhs)) => lhs > rhs,
            _ => tracker.drawdown_pct(would_be) > max,
        };
        if exceeds {
            let dd = tracker.drawdown_pct(would_be);
            return Err(reject(RejectCode::MaxDrawdown)
                .with("limit_pct", n(max))
                .with("would_be_pct", n(dd.round_dp(2)))
                .with("peak", Money(tracker.peak(), ccy))
                .with("scope", scope));
        }
    }
    Ok(())
}

/// The pattern-day-trader rule: refuses a day trade beyond the allowance for an account under
/// the equity minimum.
///
/// # Errors
/// `PATTERN_DAY_TRADER`.
pub fn pattern_day_trader(
    equity: Decimal,
    min_equity: Decimal,
    day_trades: usize,
    max_day_trades: u32,
    ccy: &Currency,
) -> Result<(), RejectReason> {
    if equity < min_equity && day_trades >= max_day_trades as usize {
        return Err(reject(RejectCode::PatternDayTrader)
            .with("day_trades", day_trades)
            .with("limit", max_day_trades)
            .with("equity", Money(equity, ccy))
            .with("min_equity", Money(min_equity, ccy)));
    }
    Ok(())
}

/// The field limiting an order's quantity for its instrument.
#[must_use]
pub fn qty_field(inst: &Instrument) -> LimitField {
    LimitField::max_order_qty(inst.asset_class)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{AccountId, LlmMeta, StrategyId, Symbol};
    use rust_decimal_macros::dec;

    fn usd() -> Currency {
        Currency::try_new("USD").unwrap()
    }

    proptest::proptest! {
        /// Money reads as the normalized amount's `Display` and the currency.
        #[test]
        fn money_reads_as_the_normalized_display(m in proptest::num::i64::ANY, scale in 0u32..=28) {
            let (d, usd) = (Decimal::new(m, scale), usd());
            proptest::prop_assert_eq!(Money(d, &usd).to_string(), format!("{} {}", d.normalize(), usd));
        }
    }
    fn req(side: Side, qty: Decimal, limit: Option<Decimal>) -> OrderRequest {
        let mut r = OrderRequest::market(
            AccountId::try_new("a").unwrap(),
            StrategyId::try_new("s").unwrap(),
            Symbol::try_new("AAPL").unwrap(),
            side,
            qty,
        );
        if let Some(p) = limit {
            r.order_type = crate::model::OrderType::Limit;
            r.limit_price = Some(p);
        }
        r
    }
    fn code<T>(r: Result<T, RejectReason>) -> Option<&'static str> {
        r.err().map(|e| e.code().as_str())
    }

    #[test]
    fn increment_cases() {
        let aapl = Instrument::us_stock("AAPL");
        let cases = [
            (dec!(10), None, None),
            (dec!(0), None, Some("INVALID_QUANTITY: qty=0")),
            (dec!(1.5), None, Some("OFF_LOT: qty=1.5, lot=1")),
            (dec!(10), Some(dec!(100.005)), Some("OFF_TICK: limit_price=100.005, tick=0.01")),
            (dec!(10), Some(dec!(-1)), Some("OFF_TICK: limit_price=-1, tick=0.01")),
            (dec!(10), Some(dec!(100.05)), None),
        ];
        for (qty, limit, want) in cases {
            let got = increments(&req(Side::Buy, qty, limit), &aapl).err().map(|e| e.message());
            assert_eq!(got.as_deref(), want, "{qty} {limit:?}");
        }
        let mut btc = Instrument::crypto("BTCUSDT", "BTC", "USDT", dec!(0.01), dec!(0.001));
        btc.min_qty = dec!(0.01);
        let got = increments(&req(Side::Buy, dec!(0.005), None), &btc).unwrap_err().message();
        assert_eq!(got, "BELOW_MIN_QTY: min=0.01, qty=0.005");
    }

    #[test]
    fn trading_state_table() {
        use CheckKind::{KillSwitchFlatten as K, Normal as N, ReduceExit as R};
        use TradingState::{Active, Halted, ReducingOnly};
        // (state, kind, reduce_only flag, expected code)
        let cases = [
            (Active, N, false, None),
            (ReducingOnly, N, false, Some("TRADING_REDUCING_ONLY")),
            (ReducingOnly, N, true, None),
            (ReducingOnly, R, false, None),
            (ReducingOnly, K, false, None),
            (Halted, N, true, Some("TRADING_HALTED")),
            (Halted, R, false, Some("TRADING_HALTED")),
            (Halted, K, false, None),
        ];
        for (state, kind, ro, want) in cases {
            assert_eq!(code(trading_state(state, &Scope::Global, kind, ro)), want, "{state:?} {kind:?} {ro}");
        }
        let msg = trading_state(Halted, &Scope::Symbol(Symbol::try_new("X").unwrap()), N, false).unwrap_err();
        assert_eq!(msg.message(), "TRADING_HALTED: scope=symbol:X");
    }

    #[test]
    fn reduce_cases() {
        // (position, side, qty, reduces)
        let cases = [
            (dec!(10), Side::Sell, dec!(10), true),
            (dec!(10), Side::Sell, dec!(11), false), // through zero
            (dec!(10), Side::Buy, dec!(1), false),
            (dec!(-5), Side::Buy, dec!(5), true),
            (dec!(0), Side::Sell, dec!(1), false),
        ];
        for (pos, side, qty, want) in cases {
            assert_eq!(reduces(pos, side, qty), want, "{pos} {side} {qty}");
            let r = OrderRequest { reduce_only: true, ..req(side, qty, None) };
            assert_eq!(reduce_only(&r, CheckKind::Normal, pos).is_ok(), want);
            assert_eq!(reduce_only(&req(side, qty, None), CheckKind::ReduceExit, pos).is_ok(), want);
            assert!(reduce_only(&req(side, qty, None), CheckKind::Normal, pos).is_ok());
        }
    }

    #[test]
    fn collar_cases() {
        // (limit price, last, collar %, expected message)
        let cases = [
            (dec!(105), Some(dec!(100)), Some(dec!(5)), None),
            (dec!(95), Some(dec!(100)), Some(dec!(5)), None),
            (
                dec!(105.01),
                Some(dec!(100)),
                Some(dec!(5)),
                Some("PRICE_COLLAR: limit_pct=5, deviation_pct=5.01, limit_price=105.01, last=100"),
            ),
            (dec!(150), Some(dec!(100)), None, None),
            (dec!(150), None, Some(dec!(5)), Some("NO_REFERENCE_PRICE: symbol=AAPL, check=price_collar")),
        ];
        for (limit, last, pct, want) in cases {
            let got = price_collar(&req(Side::Buy, dec!(1), Some(limit)), last, pct).err().map(|e| e.message());
            assert_eq!(got.as_deref(), want, "{limit} {last:?} {pct:?}");
        }
    }

    #[test]
    fn size_and_notional_messages() {
        let aapl = Instrument::us_stock("AAPL");
        let r = req(Side::Buy, dec!(101), None);
        assert_eq!(
            max_order_qty(&r, &aapl, Some(dec!(100))).unwrap_err().message(),
            "MAX_ORDER_QTY: limit=100, qty=101, asset_class=stock"
        );
        assert!(max_order_qty(&req(Side::Buy, dec!(100), None), &aapl, Some(dec!(100))).is_ok());
        assert!(max_order_qty(&r, &aapl, None).is_ok());
        assert_eq!(
            max_order_notional(dec!(10000.50), Some(dec!(10000)), &usd()).unwrap_err().message(),
            "MAX_ORDER_NOTIONAL: limit=10000 USD, notional=10000.5 USD"
        );
        assert!(max_order_notional(dec!(10000), Some(dec!(10000)), &usd()).is_ok());
    }

    #[test]
    fn position_notional_counts_open_orders_on_the_same_side() {
        let pos =
            PositionView { qty: dec!(50), market_value: dec!(5000), open_buy_qty: dec!(25), open_sell_qty: dec!(10) };
        // (side, qty, expected would-be or None when accepted); limit 10000 at price 100.
        let cases = [
            (Side::Buy, dec!(25), None),                // 50+25+25 = 100 -> 10000
            (Side::Buy, dec!(26), Some("10100 USD")),   // 101
            (Side::Sell, dec!(140), None),              // 50-10-140 = -100
            (Side::Sell, dec!(141), Some("10100 USD")), // -101
        ];
        for (side, qty, want) in cases {
            let got = position_notional("account", &pos, &req(side, qty, None), dec!(100), Some(dec!(10000)), &usd());
            let got = got.err().and_then(|e| e.fields().nth(1).map(|(_, v)| v.to_owned()));
            assert_eq!(got.as_deref(), want, "{side} {qty}");
        }
        let msg =
            position_notional("account", &pos, &req(Side::Buy, dec!(26), None), dec!(100), Some(dec!(10000)), &usd());
        assert_eq!(
            msg.unwrap_err().message(),
            "MAX_POSITION_NOTIONAL: limit=10000 USD, would_be=10100 USD, symbol=AAPL, of=account"
        );
    }

    #[test]
    fn gross_exposure_and_buying_power_cases() {
        let figures =
            AccountView { cash: dec!(1000), buying_power: dec!(800), equity: dec!(3000), gross_exposure: dec!(2000) };
        let pos = PositionView { qty: dec!(-10), market_value: dec!(-1000), ..PositionView::default() };
        // Buying 30 at 100 flips -10 to +20: gross 2000 - 1000 + 2000 = 3000.
        let r = req(Side::Buy, dec!(30), None);
        assert!(gross_exposure(&Scope::Global, &figures, &pos, &r, dec!(100), Some(dec!(3000)), &usd()).is_ok());
        let e = gross_exposure(&Scope::Global, &figures, &pos, &r, dec!(100), Some(dec!(2999)), &usd()).unwrap_err();
        assert_eq!(e.message(), "MAX_GROSS_EXPOSURE: limit=2999 USD, would_be=3000 USD, scope=global");
        // (side, qty, position, open sells, cash needed at 10)
        let cases = [
            (Side::Buy, dec!(5), dec!(0), dec!(0), dec!(50)),
            (Side::Sell, dec!(5), dec!(10), dec!(0), dec!(0)),
            (Side::Sell, dec!(5), dec!(10), dec!(8), dec!(30)),
            (Side::Sell, dec!(5), dec!(-10), dec!(0), dec!(50)),
        ];
        for (side, qty, p, open_sell, want) in cases {
            let pv = PositionView { qty: p, open_sell_qty: open_sell, ..PositionView::default() };
            assert_eq!(cash_needed(&req(side, qty, None), &pv, dec!(10)), want, "{side} {qty} {p} {open_sell}");
        }
        assert!(buying_power("account", &figures, dec!(800), &usd()).is_ok());
        assert_eq!(
            buying_power("account", &figures, dec!(800.01), &usd()).unwrap_err().message(),
            "INSUFFICIENT_BUYING_POWER: buying_power=800 USD, needed=800.01 USD, of=account"
        );
    }

    #[test]
    fn loss_limit_cases() {
        let mut t = EquityTracker::default();
        t.observe(dec!(10000), Timestamp(0), super::super::limits::DayBoundary::UtcMidnight);
        // (equity now, would be, grows, expected code)
        let cases = [
            (dec!(9500), dec!(9500), true, None),
            (dec!(9390), dec!(9390), true, Some("DAILY_LOSS_LIMIT")),
            (dec!(9390), dec!(9390), false, None), // an exit at the mark passes after a breach
            (dec!(9400), dec!(9390), false, Some("DAILY_LOSS_LIMIT")),
            (dec!(9600), dec!(9450), true, Some("MAX_DRAWDOWN")), // loss 550 ok, drawdown 5.5 %
        ];
        for (eq, wb, grows, want) in cases {
            let got = loss_limits(&Scope::Global, &t, eq, wb, grows, Some(dec!(600)), Some(dec!(5)), &usd());
            assert_eq!(code(got), want, "{eq} {wb} {grows}");
        }
        let e = loss_limits(&Scope::Global, &t, dec!(9600), dec!(9450), true, None, Some(dec!(5)), &usd());
        assert_eq!(
            e.unwrap_err().message(),
            "MAX_DRAWDOWN: limit_pct=5, would_be_pct=5.5, peak=10000 USD, scope=global"
        );
        let r = req(Side::Buy, dec!(10), Some(dec!(101)));
        assert_eq!(equity_after(dec!(1000), &r, dec!(101), Some(dec!(100))), dec!(990));
        assert_eq!(equity_after(dec!(1000), &r, dec!(101), None), dec!(1000));
    }

    #[test]
    fn llm_confidence_and_pdt_cases() {
        let mut r = req(Side::Buy, dec!(1), None);
        assert!(llm_confidence(&r, Some(dec!(0.6))).is_ok()); // no metadata
        r.llm = Some(LlmMeta::try_new("p", "m1", "why", 0.55).unwrap());
        assert_eq!(
            llm_confidence(&r, Some(dec!(0.6))).unwrap_err().message(),
            "MIN_LLM_CONFIDENCE: min=0.6, confidence=0.55, model=m1"
        );
        assert!(llm_confidence(&r, Some(dec!(0.55))).is_ok());
        assert!(llm_confidence(&r, None).is_ok());
        // (equity, day trades so far, rejected)
        let cases = [(dec!(24999), 3, true), (dec!(24999), 2, false), (dec!(25000), 3, false)];
        for (eq, trades, rejected) in cases {
            assert_eq!(pattern_day_trader(eq, dec!(25000), trades, 3, &usd()).is_err(), rejected, "{eq} {trades}");
        }
    }
}
