//! Scenario tests of the simulated venue: whole submit → event → fill paths with hand-computed
//! prices, plus property tests.

use super::*;
use crate::data::{Bar, QuoteTick, TradeTick};
use crate::model::{AccountId, Liquidity, OrderRequest, StrategyId, Symbol, TrailingOffset};
use rust_decimal_macros::dec;

/// 2024-03-11T14:00:00Z, a Monday, 10:00 in New York (EDT); the stock session ends 20:00Z.
const T0: i64 = 1_710_165_600;
/// 2024-03-11T20:00:00Z.
const SESSION_END: i64 = T0 + 6 * 3600;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(T0 + secs)
}

fn sym() -> Symbol {
    Symbol::try_new("AAPL").unwrap()
}

fn venue(config: SimConfig) -> SimVenue {
    let btc = Instrument::crypto("BTCUSDT", "BTC", "USDT", dec!(0.01), dec!(0.001));
    SimVenue::new(config, [Instrument::us_stock("AAPL"), btc].into_iter().collect())
}

fn base(side: Side, qty: Decimal) -> OrderRequest {
    OrderRequest::market(AccountId::try_new("acc").unwrap(), StrategyId::try_new("s").unwrap(), sym(), side, qty)
}

fn order(cid: &str, req: OrderRequest) -> Order {
    Order::new(ClientOrderId::try_new(cid).unwrap(), &req, at(0))
}

fn market(cid: &str, side: Side, qty: Decimal) -> Order {
    order(cid, base(side, qty))
}

fn limit(cid: &str, side: Side, qty: Decimal, price: Decimal) -> Order {
    order(cid, OrderRequest { order_type: OrderType::Limit, limit_price: Some(price), ..base(side, qty) })
}

fn stop(cid: &str, side: Side, qty: Decimal, price: Decimal) -> Order {
    order(cid, OrderRequest { order_type: OrderType::Stop, stop_price: Some(price), ..base(side, qty) })
}

fn with_tif(mut o: Order, tif: TimeInForce) -> Order {
    o.tif = tif;
    o
}

fn bar(secs: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal, v: Decimal) -> MarketEvent {
    MarketEvent::Bar(sym(), Bar { ts: at(secs), open: o, high: h, low: l, close: c, volume: v })
}

fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::try_new(s).unwrap()
}

/// (cid, qty, price, fee, liquidity) of every fill in `out`.
fn fills(out: &[VenueEvent]) -> Vec<(String, Decimal, Decimal, Decimal, Liquidity)> {
    out.iter()
        .filter_map(|e| match e {
            VenueEvent::Filled(f) => Some((f.cid.to_string(), f.qty, f.price, f.fee, f.liquidity)),
            _ => None,
        })
        .collect()
}

fn fill(
    c: &str,
    qty: Decimal,
    price: Decimal,
    fee: Decimal,
    liq: Liquidity,
) -> (String, Decimal, Decimal, Decimal, Liquidity) {
    (c.to_owned(), qty, price, fee, liq)
}

fn submit_all(v: &mut SimVenue, orders: &[Order]) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    for o in orders {
        v.submit(o, at(0), &mut out);
    }
    out
}

fn run(v: &mut SimVenue, event: &MarketEvent) -> Vec<VenueEvent> {
    let mut out = Vec::new();
    v.on_market(event, &mut out);
    out
}

#[test]
fn config_defaults_are_pinned() {
    let c = SimConfig::default();
    assert_eq!(c.fill_at, FillAt::NextOpen);
    assert_eq!((c.slippage_bps, c.maker_fee_bps, c.taker_fee_bps), (dec!(0), dec!(0), dec!(0)));
    assert_eq!((c.max_volume_share, c.latency_nanos), (None, 0));
}

#[test]
fn submit_acks_with_sequential_ids_and_rejects_what_it_cannot_trade() {
    let mut v = venue(SimConfig::default());
    let mut unknown = market("c3", Side::Buy, dec!(1));
    unknown.symbol = Symbol::try_new("MSFT").unwrap();
    let mut out = submit_all(&mut v, &[market("c1", Side::Buy, dec!(1)), market("c1", Side::Buy, dec!(1))]);
    v.submit(&market("c2", Side::Sell, dec!(1)), at(0), &mut out);
    v.submit(&unknown, at(0), &mut out);
    let expected = vec![
        VenueEvent::Accepted { cid: cid("c1"), venue_order_id: VenueOrderId::try_new("SIM-1").unwrap(), ts: at(0) },
        VenueEvent::Rejected { cid: cid("c1"), reason: "duplicate client order id".to_owned(), ts: at(0) },
        VenueEvent::Accepted { cid: cid("c2"), venue_order_id: VenueOrderId::try_new("SIM-2").unwrap(), ts: at(0) },
        VenueEvent::Rejected { cid: cid("c3"), reason: "unknown instrument".to_owned(), ts: at(0) },
    ];
    assert_eq!(out, expected);
    assert_eq!(v.open_order_count(), 2);
}

#[test]
fn market_fills_at_next_open_with_adverse_slippage_and_taker_fee() {
    // 10 bps slippage, 5 bps taker: buy 100.00 -> 100.10, fee 100.10 × 10 × 0.0005 = 0.5005;
    // sell 100.00 -> 99.90, fee 99.90 × 4 × 0.0005 = 0.1998.
    let config = SimConfig { slippage_bps: dec!(10), taker_fee_bps: dec!(5), ..SimConfig::default() };
    let mut v = venue(config);
    submit_all(&mut v, &[market("b", Side::Buy, dec!(10)), market("s", Side::Sell, dec!(4))]);
    let out = run(&mut v, &bar(60, dec!(100), dec!(102), dec!(98), dec!(101), dec!(1000)));
    assert_eq!(
        fills(&out),
        vec![
            fill("b", dec!(10), dec!(100.10), dec!(0.5005), Liquidity::Taker),
            fill("s", dec!(4), dec!(99.90), dec!(0.1998), Liquidity::Taker),
        ]
    );
    let ids: Vec<&str> = out
        .iter()
        .filter_map(|e| if let VenueEvent::Filled(f) = e { Some(f.trade_id.as_str()) } else { None })
        .collect();
    assert_eq!(ids, vec!["SIM-T1", "SIM-T2"]);
    assert_eq!(v.open_order_count(), 0);
}

#[test]
fn fill_at_close_fills_market_at_the_last_close_or_else_the_next_open() {
    let mut v = venue(SimConfig { fill_at: FillAt::Close, ..SimConfig::default() });
    // No price yet: waits for the next open.
    let out = submit_all(&mut v, &[market("early", Side::Buy, dec!(1))]);
    assert_eq!(fills(&out), vec![]);
    let out = run(&mut v, &bar(60, dec!(100), dec!(102), dec!(98), dec!(101), dec!(1000)));
    assert_eq!(fills(&out), vec![fill("early", dec!(1), dec!(100), dec!(0), Liquidity::Taker)]);
    // Now the last close is 101: a sell fills on submit, at submit time.
    let mut out = Vec::new();
    v.submit(&market("now", Side::Sell, dec!(2)), at(61), &mut out);
    assert_eq!(fills(&out), vec![fill("now", dec!(2), dec!(101), dec!(0), Liquidity::Taker)]);
    assert!(matches!(&out[1], VenueEvent::Filled(f) if f.ts == at(61)));
    assert_eq!(v.open_order_count(), 0);
}

#[test]
fn fill_at_close_takes_from_the_last_bars_volume_and_waits_out_latency() {
    let config = SimConfig { fill_at: FillAt::Close, max_volume_share: Some(dec!(0.1)), ..SimConfig::default() };
    let mut v = venue(config.clone());
    run(&mut v, &bar(0, dec!(100), dec!(101), dec!(99), dec!(100.50), dec!(100)));
    // Budget 10 of the last bar: 10 fill at its close 100.50, 5 rest for the next open 101.
    let mut out = Vec::new();
    v.submit(&market("m", Side::Buy, dec!(15)), at(1), &mut out);
    assert_eq!(fills(&out), vec![fill("m", dec!(10), dec!(100.50), dec!(0), Liquidity::Taker)]);
    let out = run(&mut v, &bar(60, dec!(101), dec!(102), dec!(100), dec!(101), dec!(100)));
    assert_eq!(fills(&out), vec![fill("m", dec!(5), dec!(101), dec!(0), Liquidity::Taker)]);
    // With latency the order cannot fill on submit: it fills at the first open after arrival.
    let mut slow = venue(SimConfig { latency_nanos: 1, ..config });
    run(&mut slow, &bar(0, dec!(100), dec!(101), dec!(99), dec!(100.50), dec!(100)));
    let mut out = Vec::new();
    slow.submit(&market("m", Side::Buy, dec!(1)), at(1), &mut out);
    assert_eq!(fills(&out), vec![]);
    let out = run(&mut slow, &bar(60, dec!(101), dec!(102), dec!(100), dec!(101), dec!(100)));
    assert_eq!(fills(&out), vec![fill("m", dec!(1), dec!(101), dec!(0), Liquidity::Taker)]);
}

#[test]
fn a_zero_price_print_never_becomes_a_fill() {
    let mut v = venue(SimConfig::default());
    submit_all(&mut v, &[market("m", Side::Sell, dec!(1))]);
    let zero = MarketEvent::Trade(sym(), TradeTick { ts: at(60), price: dec!(0), size: dec!(10) });
    assert_eq!(run(&mut v, &zero), vec![]);
    assert_eq!(v.open_order_count(), 1);
}

#[test]
fn limit_orders_fill_as_maker_when_resting_and_taker_when_marketable_on_arrival() {
    // maker 2 bps, taker 10 bps.
    let config = SimConfig { maker_fee_bps: dec!(2), taker_fee_bps: dec!(10), ..SimConfig::default() };
    let mut v = venue(config);
    submit_all(
        &mut v,
        &[
            limit("buy-rest", Side::Buy, dec!(10), dec!(99)),
            limit("buy-mkt", Side::Buy, dec!(10), dec!(101)),
            limit("sell-rest", Side::Sell, dec!(10), dec!(103)),
            limit("sell-mkt", Side::Sell, dec!(10), dec!(99.50)),
        ],
    );
    // Arrival bar o100 h102 l99.50: buy-mkt at open 100 (taker 1.00); buy-rest 99 untouched;
    // sell-mkt at open 100 (taker 1.00); sell-rest 103 untouched.
    let out = run(&mut v, &bar(60, dec!(100), dec!(102), dec!(99.50), dec!(101), dec!(0)));
    assert_eq!(
        fills(&out),
        vec![
            fill("buy-mkt", dec!(10), dec!(100), dec!(1.00), Liquidity::Taker),
            fill("sell-mkt", dec!(10), dec!(100), dec!(1.00), Liquidity::Taker),
        ]
    );
    // Next bar o101 h104 l98: buy-rest at 99 (maker 99 × 10 × 0.0002 = 0.198); sell-rest at 103
    // (maker 0.206).
    let out = run(&mut v, &bar(120, dec!(101), dec!(104), dec!(98), dec!(100), dec!(0)));
    assert_eq!(
        fills(&out),
        vec![
            fill("buy-rest", dec!(10), dec!(99), dec!(0.198), Liquidity::Maker),
            fill("sell-rest", dec!(10), dec!(103), dec!(0.206), Liquidity::Maker),
        ]
    );
}

#[test]
fn stops_fill_at_the_stop_or_the_gap_open_with_slippage() {
    // 10 bps: buy stop hit at 105 -> 105.105 -> ceil 105.11; sell stop gapped at 93 ->
    // 92.907 -> floor 92.90.
    let mut v = venue(SimConfig { slippage_bps: dec!(10), ..SimConfig::default() });
    submit_all(&mut v, &[stop("bs", Side::Buy, dec!(3), dec!(105)), stop("ss", Side::Sell, dec!(3), dec!(95))]);
    let out = run(&mut v, &bar(60, dec!(100), dec!(104), dec!(96), dec!(100), dec!(0)));
    assert_eq!(fills(&out), vec![]);
    let out = run(&mut v, &bar(120, dec!(100), dec!(106), dec!(99), dec!(100), dec!(0)));
    assert_eq!(fills(&out), vec![fill("bs", dec!(3), dec!(105.11), dec!(0), Liquidity::Taker)]);
    let out = run(&mut v, &bar(180, dec!(93), dec!(94), dec!(92), dec!(93), dec!(0)));
    assert_eq!(fills(&out), vec![fill("ss", dec!(3), dec!(92.90), dec!(0), Liquidity::Taker)]);
}

#[test]
fn stop_limit_gapping_past_its_limit_rests_from_the_next_bar() {
    let o = order(
        "sl",
        OrderRequest {
            order_type: OrderType::StopLimit,
            stop_price: Some(dec!(105)),
            limit_price: Some(dec!(106)),
            ..base(Side::Buy, dec!(5))
        },
    );
    let mut v = venue(SimConfig::default());
    submit_all(&mut v, &[o]);
    // Gap open 107 > limit 106: triggered, no fill although the low 105.50 is within the limit.
    assert_eq!(fills(&run(&mut v, &bar(60, dec!(107), dec!(108), dec!(105.50), dec!(107), dec!(0)))), vec![]);
    // Next bar low 105.80 reaches the resting limit: 106 maker.
    let out = run(&mut v, &bar(120, dec!(107), dec!(107), dec!(105.80), dec!(106), dec!(0)));
    assert_eq!(fills(&out), vec![fill("sl", dec!(5), dec!(106), dec!(0), Liquidity::Maker)]);
}

#[test]
fn trailing_stops_report_every_trigger_move_and_fill_at_the_trigger() {
    let trailing = |c: &str, side| {
        order(
            c,
            OrderRequest {
                order_type: OrderType::TrailingStop,
                trailing: Some(TrailingOffset::Amount(dec!(2))),
                ..base(side, dec!(1))
            },
        )
    };
    let mut v = venue(SimConfig::default());
    submit_all(&mut v, &[trailing("ts-sell", Side::Sell), trailing("ts-buy", Side::Buy)]);
    let moved = |c: &str, p: Decimal, s: i64| VenueEvent::TrailingStopMoved { cid: cid(c), stop_price: p, ts: at(s) };
    // Arrival o100 h101 l99: sell starts 98, untouched, ratchets with the high to 99; buy starts
    // 102, untouched, ratchets with the low to 101.
    let out = run(&mut v, &bar(60, dec!(100), dec!(101), dec!(99), dec!(100), dec!(0)));
    assert_eq!(out, vec![moved("ts-sell", dec!(99), 60), moved("ts-buy", dec!(101), 60)]);
    // o100 h100.50 l99.50: neither touched, neither ratchets (99.50 + 2 would loosen the buy).
    assert_eq!(run(&mut v, &bar(120, dec!(100), dec!(100.50), dec!(99.50), dec!(100), dec!(0))), vec![]);
    // o100 h101.50 l98.50: sell low 98.50 ≤ 99 -> fills at 99; buy high 101.50 ≥ 101 -> 101.
    let out = run(&mut v, &bar(180, dec!(100), dec!(101.50), dec!(98.50), dec!(100), dec!(0)));
    assert_eq!(
        fills(&out),
        vec![
            fill("ts-sell", dec!(1), dec!(99), dec!(0), Liquidity::Taker),
            fill("ts-buy", dec!(1), dec!(101), dec!(0), Liquidity::Taker),
        ]
    );
    assert_eq!(v.open_order_count(), 0);
}

#[test]
fn trailing_stop_on_its_arrival_bar_can_trigger_at_its_first_trigger() {
    let o = order(
        "t",
        OrderRequest {
            order_type: OrderType::TrailingStop,
            trailing: Some(TrailingOffset::Amount(dec!(2))),
            ..base(Side::Buy, dec!(1))
        },
    );
    let mut v = venue(SimConfig::default());
    submit_all(&mut v, &[o]);
    // Buy trailing 2 from the open 100 -> 102; high 103 reaches it: fills at 102.
    let out = run(&mut v, &bar(60, dec!(100), dec!(103), dec!(99), dec!(102), dec!(0)));
    assert_eq!(out[0], VenueEvent::TrailingStopMoved { cid: cid("t"), stop_price: dec!(102), ts: at(60) });
    assert_eq!(fills(&out), vec![fill("t", dec!(1), dec!(102), dec!(0), Liquidity::Taker)]);
}

#[test]
fn ioc_fills_what_it_can_then_expires_and_fok_is_all_or_nothing() {
    // Cap 10 % of 100 = 10 shares per bar.
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.1)), ..SimConfig::default() });
    submit_all(
        &mut v,
        &[
            with_tif(market("ioc", Side::Buy, dec!(6)), TimeInForce::Ioc),
            with_tif(market("fok-big", Side::Buy, dec!(5)), TimeInForce::Fok),
            with_tif(market("fok-ok", Side::Sell, dec!(4)), TimeInForce::Fok),
            with_tif(limit("ioc-far", Side::Buy, dec!(1), dec!(90)), TimeInForce::Ioc),
        ],
    );
    let out = run(&mut v, &bar(60, dec!(100), dec!(101), dec!(99), dec!(100), dec!(100)));
    // ioc takes 6 (4 left in the budget); fok-big needs 5 > 4: expired unfilled; fok-ok takes
    // 4; ioc-far is not touched: expired.
    let expired = |c: &str| VenueEvent::Expired { cid: cid(c), ts: at(60) };
    assert_eq!(
        fills(&out),
        vec![
            fill("ioc", dec!(6), dec!(100), dec!(0), Liquidity::Taker),
            fill("fok-ok", dec!(4), dec!(100), dec!(0), Liquidity::Taker)
        ]
    );
    assert_eq!(out[1], expired("fok-big"));
    assert_eq!(out[3], expired("ioc-far"));
    assert_eq!(out.len(), 4);
    assert_eq!(v.open_order_count(), 0);
}

#[test]
fn ioc_partially_capped_expires_its_remainder() {
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.1)), ..SimConfig::default() });
    submit_all(&mut v, &[with_tif(market("ioc", Side::Sell, dec!(15)), TimeInForce::Ioc)]);
    let out = run(&mut v, &bar(60, dec!(100), dec!(101), dec!(99), dec!(100), dec!(100)));
    assert_eq!(fills(&out), vec![fill("ioc", dec!(10), dec!(100), dec!(0), Liquidity::Taker)]);
    assert_eq!(out[1], VenueEvent::Expired { cid: cid("ioc"), ts: at(60) });
}

#[test]
fn day_orders_expire_at_the_session_end_before_matching() {
    let mut v = venue(SimConfig::default());
    submit_all(&mut v, &[with_tif(limit("day", Side::Buy, dec!(1), dec!(90)), TimeInForce::Day)]);
    let before = run(&mut v, &bar(SESSION_END - T0 - 60, dec!(95), dec!(96), dec!(94), dec!(95), dec!(0)));
    assert_eq!(before, vec![]);
    // The first event after the close would fill it (low 89), but the order expires first, stamped
    // at the session end 2024-03-11T20:00:00Z.
    let after = run(&mut v, &bar(SESSION_END - T0 + 3600, dec!(91), dec!(92), dec!(89), dec!(90), dec!(0)));
    assert_eq!(after, vec![VenueEvent::Expired { cid: cid("day"), ts: Timestamp::from_secs(SESSION_END) }]);
    assert_eq!(v.open_order_count(), 0);
}

#[test]
fn volume_cap_is_shared_in_arrival_order_and_partials_accumulate() {
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.1)), ..SimConfig::default() });
    submit_all(&mut v, &[market("a", Side::Buy, dec!(8)), market("b", Side::Sell, dec!(7))]);
    // Bar 1, volume 105 -> budget 10.5: a takes 8, b floors 2.5 to 2.
    let out = run(&mut v, &bar(60, dec!(100), dec!(101), dec!(99), dec!(100), dec!(105)));
    assert_eq!(
        fills(&out),
        vec![
            fill("a", dec!(8), dec!(100), dec!(0), Liquidity::Taker),
            fill("b", dec!(2), dec!(100), dec!(0), Liquidity::Taker)
        ]
    );
    // Zero-volume bar with a cap: nothing fills.
    assert_eq!(run(&mut v, &bar(120, dec!(101), dec!(101), dec!(101), dec!(101), dec!(0))), vec![]);
    // Bar 3, volume 30 -> budget 3 at the open 102.
    let out = run(&mut v, &bar(180, dec!(102), dec!(103), dec!(101), dec!(102), dec!(30)));
    assert_eq!(fills(&out), vec![fill("b", dec!(3), dec!(102), dec!(0), Liquidity::Taker)]);
    assert_eq!(v.open_order_count(), 1);
}

#[test]
fn latency_delays_the_first_matchable_event() {
    let mut v = venue(SimConfig { latency_nanos: 90 * 1_000_000_000, ..SimConfig::default() });
    submit_all(&mut v, &[market("m", Side::Buy, dec!(1))]);
    assert_eq!(run(&mut v, &bar(60, dec!(100), dec!(101), dec!(99), dec!(100), dec!(0))), vec![]);
    let out = run(&mut v, &bar(90, dec!(102), dec!(103), dec!(101), dec!(102), dec!(0)));
    assert_eq!(fills(&out), vec![fill("m", dec!(1), dec!(102), dec!(0), Liquidity::Taker)]);
}

#[test]
fn trade_ticks_act_as_one_price_bars_capped_by_their_size() {
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.5)), ..SimConfig::default() });
    submit_all(&mut v, &[limit("l", Side::Buy, dec!(10), dec!(99)), stop("s", Side::Sell, dec!(1), dec!(98))]);
    let tick = |s: i64, p: Decimal, size: Decimal| MarketEvent::Trade(sym(), TradeTick { ts: at(s), price: p, size });
    assert_eq!(run(&mut v, &tick(60, dec!(100), dec!(50))), vec![]);
    // 98.50 ≤ 99: the resting buy gets 0.5 × 8 = 4 at the better trade price (maker).
    let out = run(&mut v, &tick(61, dec!(98.50), dec!(8)));
    assert_eq!(fills(&out), vec![fill("l", dec!(4), dec!(98.50), dec!(0), Liquidity::Maker)]);
    // 97.90 ≤ stop 98: triggers; the limit takes the 2-share budget first, the stop gets nothing.
    let out = run(&mut v, &tick(62, dec!(97.90), dec!(4)));
    assert_eq!(fills(&out), vec![fill("l", dec!(2), dec!(97.90), dec!(0), Liquidity::Maker)]);
    // Triggered stop is now a market order: fills at the next trade.
    let out = run(&mut v, &tick(63, dec!(97.80), dec!(100)));
    assert_eq!(
        fills(&out),
        vec![
            fill("l", dec!(4), dec!(97.80), dec!(0), Liquidity::Maker),
            fill("s", dec!(1), dec!(97.80), dec!(0), Liquidity::Taker)
        ]
    );
}

#[test]
fn quotes_fill_market_at_the_touch_and_resting_limits_at_their_price() {
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(1)), ..SimConfig::default() });
    submit_all(
        &mut v,
        &[
            market("mb", Side::Buy, dec!(5)),
            market("ms", Side::Sell, dec!(2)),
            limit("lb", Side::Buy, dec!(1), dec!(99.90)),
            stop("sb", Side::Buy, dec!(1), dec!(100.20)),
        ],
    );
    let quote = |s: i64, bid: Decimal, ask: Decimal, bid_size: Decimal, ask_size: Decimal| {
        MarketEvent::Quote(sym(), QuoteTick { ts: at(s), bid, ask, bid_size, ask_size })
    };
    // Buys take the ask 100.10 (ask size 3 caps mb at 3, nothing left for the others), the sell
    // takes the bid 100.00.
    let out = run(&mut v, &quote(60, dec!(100.00), dec!(100.10), dec!(9), dec!(3)));
    assert_eq!(
        fills(&out),
        vec![
            fill("mb", dec!(3), dec!(100.10), dec!(0), Liquidity::Taker),
            fill("ms", dec!(2), dec!(100.00), dec!(0), Liquidity::Taker)
        ]
    );
    // Ask falls to 99.80: crosses the resting 99.90 limit -> fills at 99.90; mb gets the rest.
    let out = run(&mut v, &quote(61, dec!(99.70), dec!(99.80), dec!(9), dec!(9)));
    assert_eq!(
        fills(&out),
        vec![
            fill("mb", dec!(2), dec!(99.80), dec!(0), Liquidity::Taker),
            fill("lb", dec!(1), dec!(99.90), dec!(0), Liquidity::Maker)
        ]
    );
    // The buy stop triggers off the ask 100.30 and fills there.
    let out = run(&mut v, &quote(62, dec!(100.20), dec!(100.30), dec!(9), dec!(9)));
    assert_eq!(fills(&out), vec![fill("sb", dec!(1), dec!(100.30), dec!(0), Liquidity::Taker)]);
}

#[test]
fn fill_quantities_floor_to_the_lot_size() {
    let btc = Symbol::try_new("BTCUSDT").unwrap();
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.1)), ..SimConfig::default() });
    let mut o = market("btc", Side::Buy, dec!(0.05));
    o.symbol = btc.clone();
    submit_all(&mut v, &[o]);
    // 0.1 × 0.2345 = 0.02345 -> 0.023 (lot 0.001).
    let out = run(
        &mut v,
        &MarketEvent::Bar(
            btc,
            Bar {
                ts: at(60),
                open: dec!(60000),
                high: dec!(60000),
                low: dec!(60000),
                close: dec!(60000),
                volume: dec!(0.2345),
            },
        ),
    );
    assert_eq!(fills(&out), vec![fill("btc", dec!(0.023), dec!(60000), dec!(0), Liquidity::Taker)]);
    assert!(matches!(&out[0], VenueEvent::Filled(f) if f.fee_currency.as_str() == "USDT"));
}

#[test]
fn cancel_and_modify_answers() {
    let mut v = venue(SimConfig::default());
    submit_all(&mut v, &[limit("l", Side::Buy, dec!(10), dec!(90)), market("m", Side::Buy, dec!(1))]);
    run(&mut v, &bar(60, dec!(100), dec!(101), dec!(99), dec!(100), dec!(0)));
    let mut out = Vec::new();
    let up = Modification { qty: Some(dec!(12)), limit_price: Some(dec!(99.50)), stop_price: None };
    v.modify(&cid("l"), &up, at(61), &mut out);
    v.modify(&cid("m"), &up, at(61), &mut out);
    v.modify(&cid("zz"), &up, at(61), &mut out);
    v.cancel(&cid("m"), at(62), &mut out);
    v.cancel(&cid("zz"), at(62), &mut out);
    v.cancel(&cid("l"), at(62), &mut out);
    v.cancel(&cid("l"), at(63), &mut out);
    let rej = |c: &str, r: &str, s| VenueEvent::CancelRejected { cid: cid(c), reason: r.to_owned(), ts: at(s) };
    let mrej = |c: &str, r: &str| VenueEvent::ModifyRejected { cid: cid(c), reason: r.to_owned(), ts: at(61) };
    assert_eq!(
        out,
        vec![
            VenueEvent::Modified { cid: cid("l"), change: up, ts: at(61) },
            mrej("m", "unknown order"), // filled: like an exchange, finished orders are unknown
            mrej("zz", "unknown order"),
            rej("m", "unknown order", 62),
            rej("zz", "unknown order", 62),
            VenueEvent::Cancelled { cid: cid("l"), reason: "cancelled on request".to_owned(), ts: at(62) },
            rej("l", "unknown order", 63),
        ]
    );
    assert_eq!(v.open_order_count(), 0);
    // The cancelled limit (now 99.50) no longer fills.
    assert_eq!(run(&mut v, &bar(120, dec!(99), dec!(99), dec!(98), dec!(99), dec!(0))), vec![]);
}

#[test]
fn modified_quantity_takes_effect_for_later_fills() {
    let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.1)), ..SimConfig::default() });
    submit_all(&mut v, &[market("m", Side::Buy, dec!(10))]);
    run(&mut v, &bar(60, dec!(100), dec!(100), dec!(100), dec!(100), dec!(40)));
    let mut out = Vec::new();
    let shrink = |q| Modification { qty: Some(q), limit_price: None, stop_price: None };
    v.modify(&cid("m"), &shrink(dec!(4)), at(61), &mut out);
    v.modify(&cid("m"), &shrink(dec!(6)), at(61), &mut out);
    assert_eq!(
        out,
        vec![
            VenueEvent::ModifyRejected {
                cid: cid("m"),
                reason: "quantity must stay above the filled quantity".to_owned(),
                ts: at(61)
            },
            VenueEvent::Modified { cid: cid("m"), change: shrink(dec!(6)), ts: at(61) },
        ]
    );
    let out = run(&mut v, &bar(120, dec!(101), dec!(101), dec!(101), dec!(101), dec!(1000)));
    assert_eq!(fills(&out), vec![fill("m", dec!(2), dec!(101), dec!(0), Liquidity::Taker)]);
}

mod property_tests {
    use super::*;
    use proptest::prelude::*;

    fn bars() -> impl Strategy<Value = Vec<(i64, i64, i64, i64, i64)>> {
        // (open, up, down, close offset, volume) in cents / shares.
        proptest::collection::vec((9_000i64..11_000, 0i64..300, 0i64..300, 0i64..100, 0i64..500), 1..40)
    }

    fn to_bar(i: usize, (open, up, down, c, vol): (i64, i64, i64, i64, i64)) -> MarketEvent {
        let cents = |x: i64| Decimal::new(x, 2);
        let (high, low) = (open + up, (open - down).max(1));
        let close = (low + c).min(high);
        let secs = 60 * (i64::try_from(i).unwrap_or(0) + 1);
        bar(secs, cents(open), cents(high), cents(low), cents(close), Decimal::from(vol))
    }

    proptest! {
        #[test]
        fn prop_trailing_stop_never_loosens(seq in bars(), sell in any::<bool>(), pct in any::<bool>()) {
            let side = if sell { Side::Sell } else { Side::Buy };
            let offset = if pct { TrailingOffset::Percent(dec!(1.5)) } else { TrailingOffset::Amount(dec!(1.25)) };
            let o = order("t", OrderRequest { order_type: OrderType::TrailingStop, trailing: Some(offset), ..base(side, dec!(1)) });
            let mut v = venue(SimConfig::default());
            submit_all(&mut v, &[o]);
            let mut last: Option<Decimal> = None;
            for (i, b) in seq.into_iter().enumerate() {
                let event = to_bar(i, b);
                for e in run(&mut v, &event) {
                    match e {
                        VenueEvent::TrailingStopMoved { stop_price, .. } => {
                            if let Some(prev) = last {
                                let tighter = if sell { stop_price > prev } else { stop_price < prev };
                                prop_assert!(tighter, "{} after {}", stop_price, prev);
                            }
                            last = Some(stop_price);
                        }
                        VenueEvent::Filled(f) => {
                            // A fill is at the trigger or a gap open worse than it.
                            let trigger = last.unwrap_or(f.price);
                            let at_or_past = if sell { f.price <= trigger } else { f.price >= trigger };
                            prop_assert!(at_or_past, "fill {} vs trigger {}", f.price, trigger);
                        }
                        other => prop_assert!(false, "unexpected {:?}", other),
                    }
                }
            }
        }

        #[test]
        fn prop_volume_cap_never_exceeded(
            seq in bars(),
            orders in proptest::collection::vec((any::<bool>(), 1i64..40, 0u8..3, 9_500i64..10_500), 1..12),
        ) {
            let mut v = venue(SimConfig { max_volume_share: Some(dec!(0.25)), ..SimConfig::default() });
            let list: Vec<Order> = orders.iter().enumerate().map(|(i, (buy, q, kind, px))| {
                let side = if *buy { Side::Buy } else { Side::Sell };
                let name = format!("o{i}");
                let qty = Decimal::from(*q);
                match kind {
                    0 => market(&name, side, qty),
                    1 => limit(&name, side, qty, Decimal::new(*px, 2)),
                    _ => stop(&name, side, qty, Decimal::new(*px, 2)),
                }
            }).collect();
            submit_all(&mut v, &list);
            let mut filled: indexmap::IndexMap<String, Decimal> = indexmap::IndexMap::new();
            for (i, b) in seq.into_iter().enumerate() {
                let event = to_bar(i, b);
                let MarketEvent::Bar(_, ref bar) = event else { unreachable!() };
                let cap = bar.volume * dec!(0.25);
                let total: Decimal = fills(&run(&mut v, &event)).into_iter().map(|(c, q, ..)| {
                    *filled.entry(c).or_default() += q;
                    q
                }).sum();
                prop_assert!(total <= cap, "filled {} > cap {}", total, cap);
            }
            for (i, o) in list.iter().enumerate() {
                let done = filled.get(&format!("o{i}")).copied().unwrap_or_default();
                prop_assert!(done <= o.qty());
            }
        }
    }
}
