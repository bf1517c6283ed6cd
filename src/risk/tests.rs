//! Engine-level tests over a fake [`RiskView`], and the compliance property test.

use super::*;
use crate::model::{Instrument, Instruments, LlmMeta, OrderType, Side};
use rust_decimal_macros::dec;

/// A small book implementing [`RiskView`] by brute force (tests only).
#[derive(Debug, Clone, Default)]
pub(super) struct FakeView {
    pub instruments: Instruments,
    pub marks: BTreeMap<Symbol, Decimal>,
    pub cash: BTreeMap<AccountId, Decimal>,
    pub reserved: BTreeMap<AccountId, Decimal>,
    pub positions: BTreeMap<(AccountId, Symbol), Decimal>,
    pub open: Vec<(StrategyId, Symbol)>,
}

impl FakeView {
    fn mark(&self, s: &Symbol) -> Decimal {
        self.marks.get(s).copied().unwrap_or_default()
    }
    fn figures<'a>(&self, accounts: impl Iterator<Item = &'a AccountId> + Clone) -> AccountView {
        let cash: Decimal = accounts.clone().map(|a| self.cash.get(a).copied().unwrap_or_default()).sum();
        let reserved: Decimal = accounts.clone().map(|a| self.reserved.get(a).copied().unwrap_or_default()).sum();
        let list: Vec<&AccountId> = accounts.collect();
        let mvs: Vec<Decimal> = self
            .positions
            .iter()
            .filter(|((a, _), _)| list.contains(&a))
            .map(|((_, s), q)| *q * self.mark(s))
            .collect();
        AccountView {
            cash,
            buying_power: cash - reserved,
            equity: cash + mvs.iter().copied().sum::<Decimal>(),
            gross_exposure: mvs.iter().map(|v| v.abs()).sum(),
        }
    }
}

impl RiskView for FakeView {
    fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.instruments.get(symbol).ok()
    }
    fn last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        self.marks.get(symbol).copied()
    }
    fn position(&self, account: &AccountId, symbol: &Symbol) -> PositionView {
        let qty = self.positions.get(&(account.clone(), symbol.clone())).copied().unwrap_or_default();
        PositionView { qty, market_value: qty * self.mark(symbol), ..PositionView::default() }
    }
    fn total_position(&self, symbol: &Symbol) -> PositionView {
        let qty = self.positions.iter().filter(|((_, s), _)| s == symbol).map(|(_, q)| *q).sum::<Decimal>();
        PositionView { qty, market_value: qty * self.mark(symbol), ..PositionView::default() }
    }
    fn account(&self, account: &AccountId, _ccy: &Currency) -> AccountView {
        self.figures(std::iter::once(account))
    }
    fn totals(&self, _ccy: &Currency) -> AccountView {
        self.figures(self.cash.keys())
    }
    fn open_orders(&self) -> usize {
        self.open.len()
    }
    fn open_orders_of_strategy(&self, strategy: &StrategyId) -> usize {
        self.open.iter().filter(|(s, _)| s == strategy).count()
    }
    fn open_orders_in_symbol(&self, symbol: &Symbol) -> usize {
        self.open.iter().filter(|(_, s)| s == symbol).count()
    }
}

fn acct(s: &str) -> AccountId {
    AccountId::try_new(s).unwrap()
}
fn sid(s: &str) -> StrategyId {
    StrategyId::try_new(s).unwrap()
}
fn sym(s: &str) -> Symbol {
    Symbol::try_new(s).unwrap()
}
/// Friday 2024-03-08 11:00 New York (EST): inside the regular session.
fn open_ts() -> Timestamp {
    Timestamp::parse_rfc3339("2024-03-08T16:00:00Z").unwrap()
}

fn view() -> FakeView {
    let btc = Instrument::crypto("BTCUSD", "BTC", "USD", dec!(0.01), dec!(0.001));
    let mut halted = Instrument::us_stock("HALT");
    halted.tradable = false;
    let mut v = FakeView {
        instruments: [Instrument::us_stock("AAPL"), btc, halted].into_iter().collect(),
        ..FakeView::default()
    };
    v.marks.insert(sym("AAPL"), dec!(100));
    v.marks.insert(sym("BTCUSD"), dec!(50000));
    v.cash.insert(acct("main"), dec!(50000));
    v
}

fn buy(symbol: &str, qty: Decimal) -> OrderRequest {
    OrderRequest::market(acct("main"), sid("s1"), sym(symbol), Side::Buy, qty)
}

fn engine() -> RiskEngine {
    RiskEngine::new(RiskConfig::default()).unwrap()
}

fn code_of(r: &Result<Approved<'_>, Rejection>) -> Option<&'static str> {
    r.as_ref().err().map(|e| e.reason.code().as_str())
}

#[test]
fn each_check_rejects_with_its_code_and_message() {
    type Setup = fn(&mut RiskEngine, &mut FakeView, &mut OrderRequest, &mut Timestamp);
    let cases: Vec<(&str, Setup, Option<&str>)> = vec![
        ("accepted", |_, _, _, _| {}, None),
        ("unknown", |_, _, r, _| r.symbol = sym("MSFT"), Some("UNKNOWN_INSTRUMENT: symbol=MSFT")),
        ("not tradable", |_, _, r, _| r.symbol = sym("HALT"), Some("INSTRUMENT_NOT_TRADABLE: symbol=HALT")),
        (
            "weekend",
            |_, _, _, t| *t = Timestamp::parse_rfc3339("2024-03-09T16:00:00Z").unwrap(),
            Some("MARKET_CLOSED: asset_class=stock, at=2024-03-09T16:00:00Z"),
        ),
        ("qty", |_, _, r, _| r.qty = dec!(101), Some("MAX_ORDER_QTY: limit=100, qty=101, asset_class=stock")),
        (
            "order notional",
            |_, v, r, _| {
                v.marks.insert(sym("AAPL"), dec!(150));
                r.qty = dec!(70);
            },
            Some("MAX_ORDER_NOTIONAL: limit=10000 USD, notional=10500 USD"),
        ),
        (
            "position notional",
            |_, v, r, _| {
                v.positions.insert((acct("main"), sym("AAPL")), dec!(60));
                r.qty = dec!(41);
            },
            Some("MAX_POSITION_NOTIONAL: limit=10000 USD, would_be=10100 USD, symbol=AAPL, of=account"),
        ),
        (
            "buying power",
            |_, v, r, _| {
                v.cash.insert(acct("main"), dec!(5000));
                v.reserved.insert(acct("main"), dec!(1000));
                r.qty = dec!(41);
            },
            Some("INSUFFICIENT_BUYING_POWER: buying_power=4000 USD, needed=4100 USD, of=account"),
        ),
        (
            "no price",
            |_, v, _, _| {
                v.marks.remove(&sym("AAPL"));
            },
            Some("NO_REFERENCE_PRICE: symbol=AAPL, order_type=market"),
        ),
        (
            "collar",
            |_, _, r, _| {
                r.order_type = OrderType::Limit;
                r.limit_price = Some(dec!(94));
            },
            Some("PRICE_COLLAR: limit_pct=5, deviation_pct=6, limit_price=94, last=100"),
        ),
        (
            "llm",
            |_, _, r, _| r.llm = Some(LlmMeta::try_new("p", "m", "r", 0.5).unwrap()),
            Some("MIN_LLM_CONFIDENCE: min=0.6, confidence=0.5, model=m"),
        ),
        (
            "open orders",
            |_, v, _, _| v.open = vec![(sid("x"), sym("BTCUSD")); 50],
            Some("MAX_OPEN_ORDERS: limit=50, open=50, scope=global"),
        ),
        (
            "gross",
            |e, v, _, _| {
                v.positions.insert((acct("main"), sym("BTCUSD")), dec!(0.1)); // 5000
                e.set_limit(Scope::Global, LimitField::MaxGrossExposure, Some(dec!(5500)), "t", Timestamp(0)).unwrap();
            },
            Some("MAX_GROSS_EXPOSURE: limit=5500 USD, would_be=6000 USD, scope=global"),
        ),
        (
            "halted",
            |e, _, _, _| {
                e.set_trading_state(Scope::Global, TradingState::Halted, "kill", "ops", Timestamp(0));
            },
            Some("TRADING_HALTED: scope=global"),
        ),
        (
            "wrong account",
            |e, _, _, _| {
                e.strategies.entry(sid("s1")).or_default().allocation =
                    Some(Allocation { account: acct("s1"), capital: dec!(1000) });
            },
            Some("WRONG_ACCOUNT: strategy=s1, expected=s1, account=main"),
        ),
        (
            "reduce only",
            |_, _, r, _| r.reduce_only = true,
            Some("REDUCE_ONLY_WOULD_INCREASE: side=buy, qty=10, position=0"),
        ),
        (
            "min notional",
            |_, _, r, _| {
                r.symbol = sym("BTCUSD");
                r.qty = dec!(0.001);
                r.order_type = OrderType::Limit;
                r.limit_price = Some(dec!(4000));
            },
            Some("BELOW_MIN_NOTIONAL: min=5 USD, notional=4 USD"),
        ),
    ];
    for (name, setup, want) in cases {
        let mut e = engine();
        let mut v = view();
        let mut r = buy("AAPL", dec!(10));
        let mut now = open_ts();
        setup(&mut e, &mut v, &mut r, &mut now);
        let got = e.check(&r, CheckKind::Normal, &v, now).err().map(|j| j.reason.message());
        assert_eq!(got.as_deref(), want, "{name}");
    }
}

#[test]
fn crypto_trades_on_weekends_and_stocks_do_not() {
    let mut e = engine();
    let v = view();
    let saturday = Timestamp::parse_rfc3339("2024-03-09T16:00:00Z").unwrap();
    assert!(e.check(&buy("BTCUSD", dec!(0.1)), CheckKind::Normal, &v, saturday).is_ok());
    assert_eq!(code_of(&e.check(&buy("AAPL", dec!(1)), CheckKind::Normal, &v, saturday)), Some("MARKET_CLOSED"));
}

#[test]
fn trading_state_and_check_kinds() {
    let mut v = view();
    v.positions.insert((acct("main"), sym("AAPL")), dec!(150)); // above max order qty
    let exit = OrderRequest::market(acct("main"), sid("s1"), sym("AAPL"), Side::Sell, dec!(150));
    let reduce = OrderRequest { reduce_only: true, qty: dec!(50), ..exit.clone() };
    let grow = buy("AAPL", dec!(1));
    // (state, request, kind, expected code)
    let cases = [
        (TradingState::ReducingOnly, &grow, CheckKind::Normal, Some("TRADING_REDUCING_ONLY")),
        (TradingState::ReducingOnly, &reduce, CheckKind::Normal, None),
        // A monitor exit bigger than the max order quantity still passes.
        (TradingState::ReducingOnly, &exit, CheckKind::ReduceExit, None),
        (TradingState::Active, &exit, CheckKind::Normal, Some("MAX_ORDER_QTY")),
        (TradingState::Halted, &reduce, CheckKind::Normal, Some("TRADING_HALTED")),
        (TradingState::Halted, &exit, CheckKind::ReduceExit, Some("TRADING_HALTED")),
        (TradingState::Halted, &exit, CheckKind::KillSwitchFlatten, None),
        (TradingState::Halted, &grow, CheckKind::KillSwitchFlatten, Some("REDUCE_ONLY_WOULD_INCREASE")),
    ];
    for (state, req, kind, want) in cases {
        let mut e = engine();
        e.set_trading_state(Scope::Strategy(sid("s1")), state, "test", "ops", Timestamp(0));
        assert_eq!(code_of(&e.check(req, kind, &v, open_ts())), want, "{state:?} {kind:?} qty={}", req.qty);
    }
    // Kill-switch flattening passes even outside market hours.
    let mut e = engine();
    let saturday = Timestamp::parse_rfc3339("2024-03-09T16:00:00Z").unwrap();
    assert!(e.check(&exit, CheckKind::KillSwitchFlatten, &v, saturday).is_ok());
}

#[test]
fn tightest_level_applies_and_changes_are_audited() {
    let mut e = engine();
    let v = view();
    let t = Timestamp(7);
    let f = LimitField::MaxOrderQtyStock;
    e.set_limit(Scope::Strategy(sid("s1")), f, Some(dec!(50)), "alice", t).unwrap();
    e.set_limit(Scope::Symbol(sym("AAPL")), f, Some(dec!(20)), "bob", t).unwrap();
    // (qty, strategy, expected code)
    let cases = [
        (dec!(20), "s1", None),
        (dec!(21), "s1", Some("MAX_ORDER_QTY")), // symbol level is tightest
        (dec!(21), "s2", Some("MAX_ORDER_QTY")), // symbol level applies to every strategy
    ];
    for (qty, strategy, want) in cases {
        let r = OrderRequest { strategy_id: sid(strategy), ..buy("AAPL", qty) };
        assert_eq!(code_of(&e.check(&r, CheckKind::Normal, &v, open_ts())), want, "{qty} {strategy}");
    }
    // A looser symbol limit does not loosen the global 100.
    e.set_limit(Scope::Symbol(sym("AAPL")), f, Some(dec!(500)), "bob", t).unwrap();
    let r = OrderRequest { strategy_id: sid("s2"), ..buy("AAPL", dec!(101)) };
    assert_eq!(code_of(&e.check(&r, CheckKind::Normal, &v, open_ts())), Some("MAX_ORDER_QTY"));
    // An invalid value changes nothing and is not audited.
    assert!(e.set_limit(Scope::Global, LimitField::PriceCollarPct, Some(dec!(0)), "eve", t).is_err());
    assert_eq!(e.limit(&Scope::Global, LimitField::PriceCollarPct), Some(dec!(5)));
    let log = e.take_limit_changes();
    assert_eq!(log.len(), 3);
    assert_eq!(
        log[2],
        LimitChange {
            scope: Scope::Symbol(sym("AAPL")),
            field: f,
            old: Some(dec!(20)),
            new: Some(dec!(500)),
            ts: t,
            who: "bob".into(),
            why: None
        }
    );
    assert!(e.take_limit_changes().is_empty());
    e.set_limit_because(Scope::Global, LimitField::PriceCollarPct, Some(dec!(3)), "bob", "earnings week", t).unwrap();
    let log = e.take_limit_changes();
    assert_eq!((log.len(), log[0].why.as_deref(), log[0].new), (1, Some("earnings week"), Some(dec!(3))));
    assert_eq!(e.config().symbols[&sym("AAPL")].max_order_qty_stock, Some(dec!(500)));
}

#[test]
fn orders_per_minute_is_a_sliding_window_per_strategy() {
    let mut e = engine();
    e.set_limit(Scope::Global, LimitField::MaxOrdersPerMinute, Some(dec!(2)), "t", Timestamp(0)).unwrap();
    let v = view();
    let t0 = open_ts();
    // (seconds after t0, strategy, expected code)
    let cases = [
        (0, "s1", None),
        (10, "s1", None),
        (20, "s1", Some("MAX_ORDERS_PER_MINUTE")),
        (20, "s2", None),
        (59, "s1", Some("MAX_ORDERS_PER_MINUTE")),
        (60, "s1", None), // the order at t0 left the window
        (61, "s1", Some("MAX_ORDERS_PER_MINUTE")),
    ];
    for (secs, strategy, want) in cases {
        let r = OrderRequest { strategy_id: sid(strategy), ..buy("AAPL", dec!(1)) };
        assert_eq!(code_of(&e.check(&r, CheckKind::Normal, &v, t0.plus_secs(secs))), want, "+{secs}s {strategy}");
    }
    assert_eq!(e.rejection_counts(), vec![(RejectCode::MaxOrdersPerMinute, 3)]);
    assert_eq!(e.rejection_count(RejectCode::TradingHalted), 0);
}

#[test]
fn evaluate_alerts_and_halts_on_daily_loss_breach() {
    let mut config = RiskConfig::default();
    config.global.daily_loss_limit = Some(dec!(1000));
    let mut e = RiskEngine::new(config).unwrap();
    let mut v = view();
    v.positions.insert((acct("main"), sym("AAPL")), dec!(100)); // equity 50000 + 10000
    assert!(e.evaluate(&v, open_ts()).is_empty());
    v.marks.insert(sym("AAPL"), dec!(91)); // loss 900 = 90 % of the limit, drawdown 1.5 %
    let alerts = e.evaluate(&v, open_ts().plus_secs(1));
    assert_eq!(
        alerts,
        vec![Alert::NearBreach {
            scope: Scope::Global,
            field: LimitField::DailyLossLimit,
            used_pct: dec!(90),
            value: dec!(900),
            limit: dec!(1000)
        }]
    );
    v.marks.insert(sym("AAPL"), dec!(89)); // loss 1100
    let alerts = e.evaluate(&v, open_ts().plus_secs(2));
    assert!(
        matches!(&alerts[0], Alert::Breached { field: LimitField::DailyLossLimit, value, .. } if *value == dec!(1100))
    );
    assert!(matches!(&alerts[1], Alert::TradingState(c) if c.current == TradingState::Halted && c.who == "risk"));
    assert_eq!(alerts.len(), 2);
    assert_eq!(e.trading_state(&Scope::Global), TradingState::Halted);
    assert_eq!(e.take_state_changes().len(), 1);
    let one = buy("AAPL", dec!(1));
    let r = e.check(&one, CheckKind::Normal, &v, open_ts().plus_secs(3));
    assert_eq!(code_of(&r), Some("TRADING_HALTED"));
    // The next trading day starts from the day's closing equity; trading stays halted until
    // someone resumes it.
    let monday = Timestamp::parse_rfc3339("2024-03-11T14:00:00Z").unwrap();
    assert!(e.evaluate(&v, monday).is_empty());
    assert_eq!(e.trading_state(&Scope::Global), TradingState::Halted);
}

#[test]
fn breach_can_switch_to_reducing_only_for_a_strategy_sub_ledger() {
    let mut config = RiskConfig { on_breach: BreachAction::ReduceOnly, ..RiskConfig::default() };
    config.strategies.insert(
        sid("s1"),
        StrategyRisk {
            allocation: Some(Allocation { account: acct("s1"), capital: dec!(10000) }),
            limits: Limits { max_drawdown_pct: Some(dec!(10)), ..Limits::default() },
        },
    );
    let mut e = RiskEngine::new(config).unwrap();
    let mut v = view();
    v.cash.insert(acct("s1"), dec!(5000));
    v.positions.insert((acct("s1"), sym("AAPL")), dec!(50)); // equity 10000
    e.evaluate(&v, open_ts());
    v.marks.insert(sym("AAPL"), dec!(70)); // 8500: drawdown 15 % on the sub-ledger
    let alerts = e.evaluate(&v, open_ts().plus_secs(1));
    let kinds: Vec<_> = alerts
        .iter()
        .map(|a| match a {
            Alert::DrawdownCrossed { scope, threshold_pct, .. } => format!("dd {scope} {threshold_pct}"),
            Alert::NearBreach { scope, field, .. } => format!("near {scope} {}", field.as_str()),
            Alert::Breached { scope, field, .. } => format!("breach {scope} {}", field.as_str()),
            Alert::TradingState(c) => format!("state {} {}", c.scope, c.current.as_str()),
        })
        .collect();
    // Global totals: 55000 -> 53500 is 2.7 %, below every threshold.
    assert_eq!(
        kinds,
        [
            "dd strategy:s1 5",
            "dd strategy:s1 8",
            "breach strategy:s1 max_drawdown_pct",
            "state strategy:s1 reducing_only"
        ]
    );
    let sell = OrderRequest {
        reduce_only: true,
        ..OrderRequest::market(acct("s1"), sid("s1"), sym("AAPL"), Side::Sell, dec!(10))
    };
    assert!(e.check(&sell, CheckKind::Normal, &v, open_ts().plus_secs(2)).is_ok());
    let more = OrderRequest { account: acct("s1"), ..buy("AAPL", dec!(1)) };
    assert_eq!(code_of(&e.check(&more, CheckKind::Normal, &v, open_ts().plus_secs(2))), Some("TRADING_REDUCING_ONLY"));
}

#[test]
fn pattern_day_trader_blocks_the_fourth_day_trade_of_a_small_account() {
    let mut config = RiskConfig::default();
    config.pdt.enabled = true;
    let mut e = RiskEngine::new(config).unwrap();
    let mut v = view();
    v.cash.insert(acct("main"), dec!(20000));
    let t = open_ts();
    let fill = |n: u32, side, ts| Fill {
        trade_id: crate::model::TradeId::try_new(format!("t{n}")).unwrap(),
        cid: crate::model::ClientOrderId::try_new(format!("c{n}")).unwrap(),
        symbol: sym("AAPL"),
        side,
        qty: dec!(1),
        price: dec!(100),
        fee: Decimal::ZERO,
        fee_currency: Currency::try_new("USD").unwrap(),
        liquidity: crate::model::Liquidity::Taker,
        ts,
    };
    for n in 0..3 {
        e.on_fill(&acct("main"), &fill(2 * n, Side::Buy, t), AssetClass::Stock, Decimal::ZERO);
        e.on_fill(&acct("main"), &fill(2 * n + 1, Side::Sell, t), AssetClass::Stock, Decimal::ONE);
    }
    e.on_fill(&acct("main"), &fill(9, Side::Buy, t), AssetClass::Stock, Decimal::ZERO);
    v.positions.insert((acct("main"), sym("AAPL")), dec!(1));
    let sell = OrderRequest::market(acct("main"), sid("s1"), sym("AAPL"), Side::Sell, dec!(1));
    let r = e.check(&sell, CheckKind::Normal, &v, t.plus_secs(5));
    assert_eq!(
        r.err().map(|j| j.reason.message()).as_deref(),
        Some("PATTERN_DAY_TRADER: day_trades=3, limit=3, equity=20100 USD, min_equity=25000 USD")
    );
    // A monitor's protective exit is not blocked; neither is the same sale the next day.
    assert!(e.check(&sell, CheckKind::ReduceExit, &v, t.plus_secs(5)).is_ok());
    let monday = Timestamp::parse_rfc3339("2024-03-11T15:00:00Z").unwrap();
    assert!(e.check(&sell, CheckKind::Normal, &v, monday).is_ok());
}

mod property_tests {
    use super::*;
    use proptest::prelude::*;

    /// (buy?, symbol 0/1, lots 1..200, limit offset in tenths of a percent or market, secs)
    type Step = (bool, usize, u32, Option<i32>, u32);

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            (any::<bool>(), 0usize..2, 1u32..200, proptest::option::of(-80i32..80), 0u32..20),
            1..120,
        )
    }

    /// Random limits: (order qty stock, order qty crypto lots, order notional, position notional,
    /// gross, per minute, collar %, daily loss, drawdown %).
    fn limits() -> impl Strategy<Value = (u32, u32, u32, u32, u32, u32, u32, u32, u32)> {
        (1u32..150, 1u32..2000, 500u32..20000, 1000u32..20000, 2000u32..40000, 1u32..30, 1u32..8, 50u32..3000, 1u32..20)
    }

    proptest! {
        #[test]
        fn prop_accepted_orders_never_breach_a_limit(
            seq in steps(),
            l in limits(),
            marks in (5000u32..40000, 1000u32..90000),
            cash in 1000u32..60000,
        ) {
            let d = Decimal::from;
            let global = Limits {
                max_order_qty_stock: Some(d(l.0)),
                max_order_qty_crypto: Some(Decimal::new(i64::from(l.1), 3)),
                max_order_qty_fx: None,
                max_order_notional: Some(d(l.2)),
                max_position_notional: Some(d(l.3)),
                max_gross_exposure: Some(d(l.4)),
                max_open_orders: Some(d(10)),
                max_orders_per_minute: Some(d(l.5)),
                price_collar_pct: Some(d(l.6)),
                daily_loss_limit: Some(d(l.7)),
                max_drawdown_pct: Some(d(l.8)),
                min_llm_confidence: None,
            };
            let config = RiskConfig { global, ..RiskConfig::default() };
            let mut e = RiskEngine::new(config.clone()).unwrap();
            let mut v = view();
            v.marks.insert(sym("AAPL"), Decimal::new(i64::from(marks.0), 2));
            v.marks.insert(sym("BTCUSD"), Decimal::new(i64::from(marks.1), 2));
            v.cash.insert(acct("main"), d(cash));
            let symbols = [sym("AAPL"), sym("BTCUSD")];
            let start_equity = v.totals(&config.currency).equity;
            let mut peak = start_equity;
            let mut accepted: Vec<Timestamp> = Vec::new();
            let mut now = open_ts();
            e.evaluate(&v, now);
            for (is_buy, s, lots, offset, secs) in seq {
                now = now.plus_secs(i64::from(secs));
                let symbol = &symbols[s];
                let inst = v.instrument(symbol).unwrap().clone();
                let side = if is_buy { Side::Buy } else { Side::Sell };
                let qty = d(lots) * inst.lot_size * if s == 0 { Decimal::ONE } else { d(10) };
                let last = v.mark(symbol);
                let mut req = OrderRequest::market(acct("main"), sid("s1"), symbol.clone(), side, qty);
                if let Some(off) = offset {
                    req.order_type = OrderType::Limit;
                    req.limit_price = Some(inst.round_price(last * (Decimal::ONE + Decimal::new(i64::from(off), 3))));
                }
                if e.check(&req, CheckKind::Normal, &v, now).is_err() {
                    continue;
                }
                // Fill at the reference price, as the model book assumes.
                let px = req.limit_price.unwrap_or(last);
                *v.cash.get_mut(&acct("main")).unwrap() -= side.sign() * qty * px;
                *v.positions.entry((acct("main"), symbol.clone())).or_default() += side.sign() * qty;
                accepted.push(now);
                e.evaluate(&v, now);

                let g = &config.global;
                let qty_max = if s == 0 { g.max_order_qty_stock } else { g.max_order_qty_crypto };
                prop_assert!(qty <= qty_max.unwrap());
                prop_assert!(qty * px <= g.max_order_notional.unwrap());
                prop_assert!((px - last).abs() * d(100) <= g.price_collar_pct.unwrap() * last || req.limit_price.is_none());
                for sy in &symbols {
                    let p = v.position(&acct("main"), sy);
                    prop_assert!(p.market_value.abs() <= g.max_position_notional.unwrap(), "{sy}: {}", p.market_value);
                }
                let t = v.totals(&config.currency);
                prop_assert!(t.gross_exposure <= g.max_gross_exposure.unwrap(), "gross {}", t.gross_exposure);
                prop_assert!(t.cash >= Decimal::ZERO, "cash {}", t.cash);
                prop_assert!(start_equity - t.equity <= g.daily_loss_limit.unwrap(), "loss {}", start_equity - t.equity);
                peak = peak.max(t.equity);
                prop_assert!((peak - t.equity) / peak * d(100) <= g.max_drawdown_pct.unwrap());
                let in_minute = accepted.iter().filter(|ts| ts.0 > now.0 - MINUTE_NANOS).count();
                prop_assert!(Decimal::from(in_minute) <= g.max_orders_per_minute.unwrap(), "{in_minute} in a minute");
                prop_assert_eq!(e.trading_state(&Scope::Global), TradingState::Active);
            }
        }
    }
}

/// [`FakeView`] that reports a version, bumped by the test on every change of the books, so
/// [`RiskEngine::evaluate`] may skip unchanged books.
struct Versioned<'a>(&'a FakeView, u64);

impl RiskView for Versioned<'_> {
    fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.0.instrument(symbol)
    }
    fn last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        self.0.last_price(symbol)
    }
    fn position(&self, account: &AccountId, symbol: &Symbol) -> PositionView {
        self.0.position(account, symbol)
    }
    fn total_position(&self, symbol: &Symbol) -> PositionView {
        self.0.total_position(symbol)
    }
    fn account(&self, account: &AccountId, ccy: &Currency) -> AccountView {
        self.0.account(account, ccy)
    }
    fn totals(&self, ccy: &Currency) -> AccountView {
        self.0.totals(ccy)
    }
    fn open_orders(&self) -> usize {
        self.0.open_orders()
    }
    fn open_orders_of_strategy(&self, strategy: &StrategyId) -> usize {
        self.0.open_orders_of_strategy(strategy)
    }
    fn open_orders_in_symbol(&self, symbol: &Symbol) -> usize {
        self.0.open_orders_in_symbol(symbol)
    }
    fn version(&self) -> Option<u64> {
        Some(self.1)
    }
}

mod incremental {
    use super::*;
    use proptest::prelude::*;

    /// One step: a new mark (or the same books), a clock advance (seconds, or a day), and
    /// maybe a user resuming trading, a limit change or an order check in between.
    type Step = (Option<u32>, u32, bool, u8, Option<u32>);

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        proptest::collection::vec(
            (proptest::option::of(600u32..1400), 0u32..30, any::<bool>(), 0u8..12, proptest::option::of(1u32..5)),
            1..60,
        )
    }

    fn config(daily_loss: u32, max_dd: u32) -> RiskConfig {
        let mut config = RiskConfig { market_hours: false, ..RiskConfig::default() };
        config.global.daily_loss_limit = Some(Decimal::from(daily_loss));
        config.global.max_drawdown_pct = Some(Decimal::from(max_dd));
        config.global.max_gross_exposure = Some(dec!(12000));
        config.strategies.insert(
            sid("s1"),
            StrategyRisk {
                allocation: Some(Allocation { account: acct("s1"), capital: dec!(10000) }),
                limits: Limits { max_drawdown_pct: Some(Decimal::from(max_dd)), ..Limits::default() },
            },
        );
        config
    }

    proptest! {
        /// Evaluating with a books version (skipping unchanged books) and quiet bands
        /// (skipping marks that cannot change a condition) raises exactly the alerts and
        /// trading states of a full re-evaluation every time, and tracks the same peaks.
        #[test]
        fn prop_memoised_evaluate_equals_full_evaluate(
            steps in steps(), daily_loss in 100u32..3000, max_dd in 1u32..20
        ) {
            let mut memo = RiskEngine::new(config(daily_loss, max_dd)).unwrap();
            let mut full = RiskEngine::new(config(daily_loss, max_dd)).unwrap();
            let mut v = view();
            v.cash.insert(acct("s1"), dec!(5000));
            v.positions.insert((acct("main"), sym("AAPL")), dec!(100));
            v.positions.insert((acct("s1"), sym("AAPL")), dec!(50));
            let mut version = 0u64;
            let mut now = open_ts();
            for (i, (mark, secs, resume, action, qty)) in steps.into_iter().enumerate() {
                if let Some(m) = mark {
                    v.marks.insert(sym("AAPL"), Decimal::new(i64::from(m), 1));
                    version += 1;
                }
                now = if secs == 0 { now.plus_secs(86_400) } else { now.plus_secs(i64::from(secs)) };
                if resume {
                    for e in [&mut memo, &mut full] {
                        e.set_trading_state(Scope::Global, TradingState::Active, "resume", "user", now);
                    }
                }
                match action {
                    0 => {
                        let value = Some(Decimal::from(daily_loss / 2 + 50));
                        for e in [&mut memo, &mut full] {
                            e.set_limit(Scope::Global, LimitField::DailyLossLimit, value, "user", now).unwrap();
                        }
                    }
                    1 => {
                        if let Some(q) = qty {
                            let req = buy("AAPL", Decimal::from(q));
                            let a = memo.check(&req, CheckKind::Normal, &Versioned(&v, version), now).map(|_| ());
                            let b = full.check(&req, CheckKind::Normal, &v, now).map(|_| ());
                            prop_assert_eq!(a, b);
                        }
                    }
                    _ => {}
                }
                let a = memo.evaluate(&Versioned(&v, version), now);
                let b = full.evaluate_reference(&v, now);
                prop_assert_eq!(&a, &b, "step {}", i);
                prop_assert_eq!(memo.global_equity.peak(), full.global_equity.peak(), "step {}", i);
                for scope in [Scope::Global, Scope::Strategy(sid("s1"))] {
                    prop_assert_eq!(memo.trading_state(&scope), full.trading_state(&scope));
                }
                prop_assert_eq!(memo.take_state_changes(), full.take_state_changes());
            }
        }
    }
}
