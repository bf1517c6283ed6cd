//! OMS behaviour tests with hand-computed books.

use super::*;
use crate::model::{
    BracketRole, BracketSpec, Currency, Instrument, Liquidity, OrderEventKind, OrderType, StrategyId, TradeId,
    TradeKind, VenueOrderId,
};
use rust_decimal_macros::dec;

fn acct() -> AccountId {
    AccountId::try_new("main").unwrap()
}
fn usd() -> Currency {
    Currency::try_new("USD").unwrap()
}
fn aapl() -> Symbol {
    Symbol::try_new("AAPL").unwrap()
}
fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::try_new(s).unwrap()
}
fn oms() -> Oms {
    let mut o = Oms::new([Instrument::us_stock("AAPL")].into_iter().collect(), OmsConfig::default());
    o.deposit(&acct(), &usd(), dec!(100000));
    o
}
fn market(side: Side, qty: Decimal) -> OrderRequest {
    OrderRequest::market(acct(), StrategyId::try_new("s").unwrap(), aapl(), side, qty)
}
fn fill(c: &str, n: u32, side: Side, qty: Decimal, price: Decimal) -> VenueEvent {
    VenueEvent::Filled(Fill {
        trade_id: TradeId::try_new(format!("T{n}")).unwrap(),
        cid: cid(c),
        symbol: aapl(),
        side,
        qty,
        price,
        fee: dec!(1),
        fee_currency: usd(),
        liquidity: Liquidity::Taker,
        ts: Timestamp(i64::from(n) * 10),
    })
}
fn accept(o: &mut Oms, c: &str) {
    o.mark_submitted(&cid(c), Timestamp(1)).unwrap();
    let ev = VenueEvent::Accepted {
        cid: cid(c),
        venue_order_id: VenueOrderId::try_new(format!("V{c}")).unwrap(),
        ts: Timestamp(2),
    };
    o.apply(ev, &mut Vec::new()).unwrap();
}

#[test]
fn market_order_lifecycle_books_position_cash_and_journal() {
    let mut o = oms();
    o.take_journal();
    o.create(cid("a"), &market(Side::Buy, dec!(10)), Timestamp(0)).unwrap();
    let first = o.take_journal();
    assert_eq!(first.orders[&cid("a")].status(), OrderStatus::Pending, "the pending row is journaled first");
    accept(&mut o, "a");
    o.apply(fill("a", 1, Side::Buy, dec!(10), dec!(150)), &mut Vec::new()).unwrap();
    let b = o.take_journal();
    let order = &b.orders[&cid("a")];
    assert_eq!((order.status(), order.filled_qty(), order.avg_px()), (OrderStatus::Filled, dec!(10), Some(dec!(150))));
    let kinds: Vec<_> = b.order_events.iter().map(|(_, c)| c.event).collect();
    assert_eq!(kinds, [OrderEventKind::Submit, OrderEventKind::Accept, OrderEventKind::Fill]);
    assert_eq!(b.fills.len(), 1);
    assert_eq!(b.trades[0].kind, TradeKind::Entry);
    assert_eq!(b.balances[&(acct(), usd())], dec!(98499)); // 100000 - 1500 - 1
    let p = b.positions.values().next().unwrap();
    assert_eq!((p.qty(), p.avg_px()), (dec!(10), dec!(150)));
    assert!(o.open_orders().next().is_none(), "filled orders leave the working book");
    assert_eq!(o.order(&cid("a")).unwrap().status(), OrderStatus::Filled, "but stay queryable");
    assert!(o.take_journal().is_empty());
}

#[test]
fn refusals_change_nothing() {
    let mut o = oms();
    o.create(cid("a"), &market(Side::Buy, dec!(10)), Timestamp(0)).unwrap();
    assert_eq!(
        o.create(cid("a"), &market(Side::Buy, dec!(1)), Timestamp(0)),
        Err(OmsError::DuplicateClientOrderId(cid("a")))
    );
    let mut bad = market(Side::Buy, dec!(1));
    bad.symbol = Symbol::try_new("MSFT").unwrap();
    assert!(matches!(o.create(cid("b"), &bad, Timestamp(0)), Err(OmsError::UnknownInstrument(_))));
    assert!(matches!(o.create(cid("c"), &market(Side::Buy, dec!(0)), Timestamp(0)), Err(OmsError::Order { .. })));
    let mut ro = market(Side::Sell, dec!(1));
    ro.reduce_only = true;
    assert!(matches!(o.create(cid("d"), &ro, Timestamp(0)), Err(OmsError::ReduceOnlyWouldIncrease { .. })));
    // An event for an order in the wrong state is refused and the order is unchanged.
    let before = o.order(&cid("a")).unwrap().clone();
    let err = o.apply(fill("a", 1, Side::Buy, dec!(1), dec!(1)), &mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains("not allowed in status 'pending'"), "{err}");
    assert_eq!(o.order(&cid("a")).unwrap(), &before);
    let unknown = o.apply(VenueEvent::Expired { cid: cid("zz"), ts: Timestamp(1) }, &mut Vec::new());
    assert_eq!(unknown, Err(OmsError::UnknownOrder(cid("zz"))));
    assert_eq!(o.portfolio(&acct()).unwrap().cash(&usd()), dec!(100000));
}

#[test]
fn duplicate_fill_is_refused_and_books_stay() {
    let mut o = oms();
    o.create(cid("a"), &market(Side::Buy, dec!(10)), Timestamp(0)).unwrap();
    accept(&mut o, "a");
    o.apply(fill("a", 1, Side::Buy, dec!(4), dec!(100)), &mut Vec::new()).unwrap();
    let err = o.apply(fill("a", 1, Side::Buy, dec!(4), dec!(100)), &mut Vec::new()).unwrap_err();
    assert!(matches!(err, OmsError::Order { source: OrderError::DuplicateFill { .. }, .. }));
    assert_eq!(o.portfolio(&acct()).unwrap().qty(&aapl()), dec!(4));
    assert_eq!(o.portfolio(&acct()).unwrap().cash(&usd()), dec!(99599));
}

#[test]
fn cancel_and_modify_follow_venue_rules() {
    let mut o = oms();
    let mut actions = Vec::new();
    let lim = OrderRequest::limit(acct(), StrategyId::try_new("s").unwrap(), aapl(), Side::Buy, dec!(10), dec!(100));
    o.create(cid("p"), &lim, Timestamp(0)).unwrap();
    // Pending: changes apply at once, nothing goes to the venue.
    o.request_modify(
        &cid("p"),
        Modification { limit_price: Some(dec!(99)), ..Default::default() },
        Timestamp(1),
        &mut actions,
    )
    .unwrap();
    assert_eq!(o.order(&cid("p")).unwrap().limit_price(), Some(dec!(99)));
    o.request_cancel(&cid("p"), "user", Timestamp(2), &mut actions).unwrap();
    assert_eq!(o.order(&cid("p")).unwrap().status(), OrderStatus::Cancelled);
    assert!(actions.is_empty());
    // Working: a cancel request goes to the venue; a second one is refused.
    o.create(cid("w"), &lim, Timestamp(0)).unwrap();
    accept(&mut o, "w");
    o.request_modify(&cid("w"), Modification { qty: Some(dec!(12)), ..Default::default() }, Timestamp(3), &mut actions)
        .unwrap();
    assert_eq!(
        actions,
        vec![Action::Modify { cid: cid("w"), change: Modification { qty: Some(dec!(12)), ..Default::default() } }]
    );
    assert_eq!(o.order(&cid("w")).unwrap().qty(), dec!(10), "unchanged until the venue confirms");
    actions.clear();
    o.request_cancel(&cid("w"), "user", Timestamp(4), &mut actions).unwrap();
    assert_eq!(actions, vec![Action::Cancel { cid: cid("w"), reason: "user".into() }]);
    assert!(o.request_cancel(&cid("w"), "user", Timestamp(5), &mut actions).is_err());
    o.apply(VenueEvent::Cancelled { cid: cid("w"), reason: "user".into(), ts: Timestamp(6) }, &mut actions).unwrap();
    assert!(matches!(o.request_cancel(&cid("w"), "user", Timestamp(7), &mut actions), Err(OmsError::Order { .. })));
    assert!(matches!(
        o.request_modify(
            &cid("w"),
            Modification { qty: Some(dec!(1)), ..Default::default() },
            Timestamp(7),
            &mut actions
        ),
        Err(OmsError::Order { source: OrderError::Transition(_), .. })
    ));
}

#[test]
fn late_fill_on_a_cancelled_order_is_booked() {
    let mut o = oms();
    o.create(cid("a"), &market(Side::Buy, dec!(10)), Timestamp(0)).unwrap();
    accept(&mut o, "a");
    o.apply(VenueEvent::Cancelled { cid: cid("a"), reason: "user".into(), ts: Timestamp(3) }, &mut Vec::new()).unwrap();
    o.apply(fill("a", 1, Side::Buy, dec!(2), dec!(100)), &mut Vec::new()).unwrap();
    assert_eq!(o.order(&cid("a")).unwrap().status(), OrderStatus::Cancelled);
    assert_eq!(o.portfolio(&acct()).unwrap().qty(&aapl()), dec!(2));
}

fn bracket_req() -> OrderRequest {
    let mut r = OrderRequest::limit(acct(), StrategyId::try_new("s").unwrap(), aapl(), Side::Buy, dec!(10), dec!(100));
    r.bracket = Some(BracketSpec { stop_loss: Some(dec!(95)), take_profit: Some(dec!(110)) });
    r
}

#[test]
fn bracket_children_release_pro_rata_and_cancel_each_other() {
    let mut o = oms();
    let entry = o.create(cid("e"), &bracket_req(), Timestamp(0)).unwrap();
    let (sl, tp) = (entry.child("sl"), entry.child("tp"));
    let child = o.order(&sl).unwrap();
    assert_eq!(
        (child.status(), child.side, child.order_type, child.stop_price()),
        (OrderStatus::Pending, Side::Sell, OrderType::Stop, Some(dec!(95)))
    );
    assert!(child.reduce_only);
    assert_eq!(o.order(&tp).unwrap().role, Some(BracketRole::TakeProfit));
    accept(&mut o, "e");
    let mut actions = Vec::new();
    o.apply(fill("e", 1, Side::Buy, dec!(4), dec!(100)), &mut actions).unwrap();
    assert_eq!(actions, vec![Action::Submit(sl.clone()), Action::Submit(tp.clone())]);
    assert_eq!(o.order(&sl).unwrap().qty(), dec!(4), "released pro rata to the entry's fill");
    for c in [&sl, &tp] {
        accept(&mut o, c.as_str());
    }
    actions.clear();
    o.apply(fill("e", 2, Side::Buy, dec!(6), dec!(100)), &mut actions).unwrap();
    let grow = Modification { qty: Some(dec!(10)), ..Default::default() };
    assert_eq!(
        actions,
        vec![Action::Modify { cid: sl.clone(), change: grow }, Action::Modify { cid: tp.clone(), change: grow }]
    );
    for c in [&sl, &tp] {
        o.apply(VenueEvent::Modified { cid: c.clone(), change: grow, ts: Timestamp(30) }, &mut Vec::new()).unwrap();
    }
    // Take-profit partly fills: the stop shrinks to the rest of the position.
    actions.clear();
    o.apply(fill(tp.as_str(), 3, Side::Sell, dec!(3), dec!(110)), &mut actions).unwrap();
    assert_eq!(
        actions,
        vec![Action::Modify { cid: sl.clone(), change: Modification { qty: Some(dec!(7)), ..Default::default() } }]
    );
    // Then completes: the stop is cancelled (OCO).
    actions.clear();
    o.apply(fill(tp.as_str(), 4, Side::Sell, dec!(7), dec!(110)), &mut actions).unwrap();
    assert_eq!(actions, vec![Action::Cancel { cid: sl.clone(), reason: "oco".into() }]);
    assert_eq!(o.order(&sl).unwrap().status(), OrderStatus::Cancelling);
    assert_eq!(o.portfolio(&acct()).unwrap().qty(&aapl()), dec!(0));
    assert_eq!(o.portfolio(&acct()).unwrap().realized_pnl(&usd()), dec!(100)); // 10 × (110 − 100)
}

#[test]
fn unfilled_bracket_entry_takes_its_children_with_it() {
    let mut o = oms();
    let entry = o.create(cid("e"), &bracket_req(), Timestamp(0)).unwrap();
    accept(&mut o, "e");
    let mut actions = Vec::new();
    o.apply(VenueEvent::Expired { cid: entry.clone(), ts: Timestamp(5) }, &mut actions).unwrap();
    assert!(actions.is_empty(), "pending children never reached the venue");
    for c in [entry.child("sl"), entry.child("tp")] {
        assert_eq!(o.order(&c).unwrap().status(), OrderStatus::Cancelled);
    }
    assert_eq!(o.open_orders().count(), 0);
}

#[test]
fn buying_power_nets_open_order_reservations() {
    let mut o = oms();
    let lim = OrderRequest::limit(acct(), StrategyId::try_new("s").unwrap(), aapl(), Side::Buy, dec!(10), dec!(100));
    o.create(cid("a"), &lim, Timestamp(0)).unwrap();
    assert_eq!(o.portfolio(&acct()).unwrap().buying_power(&usd()), dec!(99000));
    accept(&mut o, "a");
    o.apply(fill("a", 1, Side::Buy, dec!(4), dec!(100)), &mut Vec::new()).unwrap();
    // cash 100000 - 400 - 1; 6 still reserved at 100
    assert_eq!(o.portfolio(&acct()).unwrap().buying_power(&usd()), dec!(99599) - dec!(600));
    // A sell that only closes the long reserves nothing; beyond it, the short part does.
    o.create(
        cid("s1"),
        &OrderRequest::limit(acct(), StrategyId::try_new("s").unwrap(), aapl(), Side::Sell, dec!(4), dec!(120)),
        Timestamp(1),
    )
    .unwrap();
    assert_eq!(o.portfolio(&acct()).unwrap().reserved(&usd()), dec!(600));
    o.create(
        cid("s2"),
        &OrderRequest::limit(acct(), StrategyId::try_new("s").unwrap(), aapl(), Side::Sell, dec!(6), dec!(120)),
        Timestamp(1),
    )
    .unwrap();
    assert_eq!(o.portfolio(&acct()).unwrap().reserved(&usd()), dec!(600) + dec!(240)); // (6-4) × 120
    let mut actions = Vec::new();
    o.request_cancel(&cid("a"), "user", Timestamp(2), &mut actions).unwrap();
    o.apply(VenueEvent::Cancelled { cid: cid("a"), reason: "user".into(), ts: Timestamp(3) }, &mut actions).unwrap();
    assert_eq!(o.portfolio(&acct()).unwrap().reserved(&usd()), dec!(240));
}

#[test]
fn restore_rebuilds_books_from_a_snapshot() {
    let mut o = oms();
    o.create(cid("a"), &market(Side::Buy, dec!(10)), Timestamp(0)).unwrap();
    accept(&mut o, "a");
    o.apply(fill("a", 1, Side::Buy, dec!(10), dec!(150)), &mut Vec::new()).unwrap();
    o.create(
        cid("b"),
        &OrderRequest::limit(acct(), StrategyId::try_new("s").unwrap(), aapl(), Side::Buy, dec!(1), dec!(140)),
        Timestamp(5),
    )
    .unwrap();
    let snap = crate::store::Snapshot {
        open_orders: o.open_orders().cloned().collect(),
        open_positions: o.portfolio(&acct()).unwrap().positions().cloned().collect(),
        balances: vec![(acct(), usd(), o.portfolio(&acct()).unwrap().cash(&usd()))],
    };
    let mut r = Oms::new([Instrument::us_stock("AAPL")].into_iter().collect(), OmsConfig::default());
    r.restore(snap);
    let (a, b) = (o.portfolio(&acct()).unwrap(), r.portfolio(&acct()).unwrap());
    let (sa, sb) = (a.summary(&usd()), b.summary(&usd()));
    assert_eq!(
        (sa.cash, sa.equity, sa.buying_power, sa.gross_exposure),
        (sb.cash, sb.equity, sb.buying_power, sb.gross_exposure)
    );
    assert_eq!(a.positions().collect::<Vec<_>>(), b.positions().collect::<Vec<_>>());
    assert_eq!(r.open_orders().map(|x| x.cid.clone()).collect::<Vec<_>>(), vec![cid("b")]);
    // New positions never reuse a restored id.
    r.create(cid("c"), &market(Side::Sell, dec!(20)), Timestamp(6)).unwrap();
    accept(&mut r, "c");
    r.apply(fill("c", 2, Side::Sell, dec!(20), dec!(150)), &mut Vec::new()).unwrap();
    let ids: Vec<_> = r.take_journal().positions.keys().map(|p| p.0).collect();
    assert_eq!(ids, vec![1, 2]);
}

#[test]
fn open_counts_follow_every_lifecycle_step() {
    let mut o = oms();
    let s = StrategyId::try_new("s").unwrap();
    let lim = OrderRequest::limit(acct(), s.clone(), aapl(), Side::Buy, dec!(10), dec!(100));
    o.create(cid("a"), &lim, Timestamp(0)).unwrap();
    o.create(cid("b"), &market(Side::Sell, dec!(3)), Timestamp(0)).unwrap();
    let c = o.open_counts();
    assert_eq!((c.total(), c.of_strategy(&s), c.in_symbol(&aapl())), (2, 2, 2));
    assert_eq!(c.leaves(&acct(), &aapl()), (dec!(10), dec!(3)));
    accept(&mut o, "a");
    o.apply(fill("a", 1, Side::Buy, dec!(4), dec!(100)), &mut Vec::new()).unwrap();
    assert_eq!(o.open_counts().leaves(&acct(), &aapl()), (dec!(6), dec!(3)));
    // A reduce-only order counts as open but adds no open quantity.
    let mut ro = market(Side::Sell, dec!(4));
    ro.reduce_only = true;
    o.create(cid("r"), &ro, Timestamp(1)).unwrap();
    assert_eq!((o.open_counts().total(), o.open_counts().leaves(&acct(), &aapl())), (3, (dec!(6), dec!(3))));
    let mut actions = Vec::new();
    o.request_cancel(&cid("b"), "user", Timestamp(2), &mut actions).unwrap();
    o.request_cancel(&cid("r"), "user", Timestamp(2), &mut actions).unwrap();
    o.apply(fill("a", 2, Side::Buy, dec!(6), dec!(101)), &mut actions).unwrap();
    let c = o.open_counts();
    assert_eq!((c.total(), c.of_strategy(&s), c.in_symbol(&aapl())), (0, 0, 0));
    assert_eq!(c.leaves(&acct(), &aapl()), (dec!(0), dec!(0)));
}

#[test]
fn an_order_is_marked_known_in_every_batch_after_its_first_row() {
    let config = OmsConfig { terminal_cache: 1, ..OmsConfig::default() };
    let mut o = Oms::new([Instrument::us_stock("AAPL")].into_iter().collect(), config);
    o.deposit(&acct(), &usd(), dec!(100000));
    o.create(cid("a"), &market(Side::Buy, dec!(10)), Timestamp(0)).unwrap();
    let first = o.take_journal();
    assert!(first.orders.contains_key(&cid("a")) && first.known_orders.is_empty(), "first row: written whole");
    accept(&mut o, "a");
    o.create(cid("b"), &market(Side::Buy, dec!(1)), Timestamp(3)).unwrap();
    let second = o.take_journal();
    assert_eq!(second.known_orders.iter().collect::<Vec<_>>(), [&cid("a")], "b is new, a is known");
    // Both fill; retiring b evicts a (cache of one) while a's fill is not journaled yet.
    o.apply(fill("a", 1, Side::Buy, dec!(10), dec!(150)), &mut Vec::new()).unwrap();
    accept(&mut o, "b");
    o.apply(fill("b", 2, Side::Buy, dec!(1), dec!(150)), &mut Vec::new()).unwrap();
    let third = o.take_journal();
    assert_eq!(third.orders[&cid("a")].status(), OrderStatus::Filled, "the evicted order's last change");
    let mut known: Vec<_> = third.known_orders.iter().map(ClientOrderId::as_str).collect();
    known.sort_unstable();
    assert_eq!(known, ["a", "b"]);
    // A restored open order is in the store already.
    let mut r = Oms::new([Instrument::us_stock("AAPL")].into_iter().collect(), OmsConfig::default());
    let mut c = o.order(&cid("b")).unwrap().clone();
    c.cid = cid("c");
    c.status = OrderStatus::Open;
    r.restore(Snapshot { open_orders: vec![c], open_positions: Vec::new(), balances: Vec::new() });
    r.request_cancel(&cid("c"), "test", Timestamp(9), &mut Vec::new()).unwrap();
    assert!(r.take_journal().known_orders.contains(&cid("c")));
}
