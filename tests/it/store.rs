//! Store tests: every test that needs a database runs on SQLite and on Postgres.

use crate::support::*;
use luatrade::model::{
    BracketRole, LlmMeta, Modification, Order, OrderEvent, OrderRequest, OrderStatus, OrderType, PositionId, Side,
    StatusChange, TimeInForce, TradeKind, TrailingOffset, VenueOrderId,
};
use luatrade::store::export::{ORDER_CSV_HEADER, TRADE_CSV_HEADER};
use luatrade::store::{OrderFilter, SqliteSync, Store, StoreError, WriteBatch};
use rust_decimal_macros::dec;

/// A bracket entry with LLM metadata and two pending children, partly then fully filled;
/// a reduce-only trailing stop; the trades, position and balance the fills caused.
fn rich_batch() -> WriteBatch {
    let mut b = WriteBatch::default();
    let mut req = OrderRequest::limit(acct(), sid("llm_momo"), sym("AAPL"), Side::Buy, dec!(10), dec!(100.25));
    req.llm = Some(LlmMeta::try_new("anthropic", "claude", "Breakout above 100 on volume, \"strong\"", 0.82).unwrap());
    let mut entry = Order::new(cid("entry-1"), &req, at(0));
    entry.role = Some(BracketRole::Entry);
    entry.children = vec![cid("entry-1_sl"), cid("entry-1_tp")];
    let mut sl = Order::new(
        cid("entry-1_sl"),
        &OrderRequest::stop(acct(), sid("llm_momo"), sym("AAPL"), Side::Sell, dec!(10), dec!(95.5)),
        at(0),
    );
    sl.parent = Some(entry.cid.clone());
    sl.role = Some(BracketRole::StopLoss);
    let mut tp = limit_order("entry-1_tp", "llm_momo", "AAPL", Side::Sell, dec!(10), at(0));
    tp.parent = Some(entry.cid.clone());
    tp.role = Some(BracketRole::TakeProfit);
    b.order(&sl, None);
    b.order(&tp, None);

    step(&mut b, &mut entry, OrderEvent::Submitted { ts: at(1) });
    let venue_id = Some(VenueOrderId::try_new("V-778").unwrap());
    step(&mut b, &mut entry, OrderEvent::Accepted { venue_order_id: venue_id, ts: at(2) });
    let f1 = fill_of(&entry, "T-2", dec!(4), dec!(100.25), at(3));
    step(&mut b, &mut entry, OrderEvent::Filled(f1.clone()));
    let f2 = fill_of(&entry, "T-10", dec!(6), dec!(100.20), at(3));
    step(&mut b, &mut entry, OrderEvent::Filled(f2.clone()));
    b.trades.push(trade_of(&entry, &f1, TradeKind::Entry, 1, dec!(0)));
    b.trades.push(trade_of(&entry, &f2, TradeKind::Add, 1, dec!(0)));
    b.fills.extend([f1, f2]);

    let mut trail_req = OrderRequest::market(acct(), sid("llm_momo"), sym("AAPL"), Side::Sell, dec!(3));
    trail_req.order_type = OrderType::TrailingStop;
    trail_req.trailing = Some(TrailingOffset::Percent(dec!(2.5)));
    trail_req.reduce_only = true;
    trail_req.tif = TimeInForce::Day;
    let mut trail = Order::new(cid("trail-1"), &trail_req, at(4));
    step(&mut b, &mut trail, OrderEvent::Submitted { ts: at(5) });

    let mut pos = long(1, "AAPL", dec!(4), dec!(100.25), at(3));
    pos.apply(Side::Buy, dec!(6), dec!(100.20), dec!(0.06), at(3), false);
    pos.mark_to(dec!(101.5), at(4));
    b.positions.insert(pos.id, pos);
    b.balances.insert((acct(), usd()), dec!(98997.89));
    b
}

#[tokio::test]
async fn batch_round_trips_with_every_field() {
    on_both(|store| async move {
        let b = rich_batch();
        store.apply(&b).await.unwrap();
        let expected = sorted(b.orders.values().cloned().collect());
        assert_eq!(expected.len(), 4);
        let got = store.orders(&OrderFilter::default()).await.unwrap();
        assert_eq!(got, expected, "{}", store.backend());
        let entry = &b.orders[&cid("entry-1")];
        assert_eq!(store.order(&cid("entry-1")).await.unwrap().as_ref(), Some(entry));
        assert_eq!(entry.history().len(), 4);
        assert_eq!(entry.trade_ids().len(), 2);
        assert_eq!(store.order(&cid("nope")).await.unwrap(), None);
        assert_eq!(store.fills(&cid("entry-1")).await.unwrap(), b.fills);
        assert_eq!(store.trades(None, None).await.unwrap(), b.trades);
        assert_eq!(store.positions(false).await.unwrap(), b.positions.values().cloned().collect::<Vec<_>>());
        assert_eq!(store.balances().await.unwrap(), vec![(acct(), usd(), dec!(98997.89))]);
        // Exact decimals, not floats: scale survives the round trip too.
        let read = store.order(&cid("entry-1")).await.unwrap().unwrap();
        assert_eq!(read.avg_px().unwrap().to_string(), entry.avg_px().unwrap().to_string());
        assert_eq!(read.llm.as_ref().map(LlmMeta::confidence), Some(0.82));
    })
    .await;
}

/// An LLM's confidence reads back as the very same double (bit for bit) on both backends:
/// each is bound as a double, never through decimal text. Values across [0, 1]: the ends,
/// ones with long shortest forms, subnormals, and a spread of bit patterns.
#[tokio::test]
async fn llm_confidence_reads_back_bit_for_bit() {
    on_both(|store| async move {
        let mut values =
            vec![0.0, 1.0, 0.82, 0.1 + 0.2, 1.0 / 3.0, f64::MIN_POSITIVE, 5e-324, 1.0 - f64::EPSILON / 2.0];
        let one = 1.0f64.to_bits();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..200 {
            // xorshift over the bit patterns of [0, 1] (every double in it is below 1.0's).
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            values.push(f64::from_bits(x % (one + 1)));
        }
        let mut b = WriteBatch::default();
        for (i, v) in values.iter().enumerate() {
            let mut req = OrderRequest::market(acct(), sid("llm"), sym("AAPL"), Side::Buy, dec!(1));
            req.llm = Some(LlmMeta::try_new("p", "m", "r", *v).unwrap());
            b.order(&Order::new(cid(&format!("conf-{i:03}")), &req, at(0)), None);
        }
        store.apply(&b).await.unwrap();
        let got = store.orders(&OrderFilter::default()).await.unwrap();
        assert_eq!(got.len(), values.len(), "{}", store.backend());
        for (o, v) in got.iter().zip(&values) {
            let back = o.llm.as_ref().map(LlmMeta::confidence).unwrap_or(f64::NAN);
            assert_eq!(back.to_bits(), v.to_bits(), "{}: {} read back as {back} ({})", o.cid, v, store.backend());
        }
    })
    .await;
}

#[tokio::test]
async fn writing_an_order_twice_keeps_one_row_with_the_latest_values() {
    on_both(|store| async move {
        let mut order = limit_order("up-1", "s1", "MSFT", Side::Sell, dec!(5), at(0));
        let mut first = WriteBatch::default();
        first.order(&order, None);
        store.apply(&first).await.unwrap();
        let mut second = WriteBatch::default();
        step(&mut second, &mut order, OrderEvent::Submitted { ts: at(1) });
        let change = Modification { qty: Some(dec!(7)), limit_price: Some(dec!(101)), stop_price: None };
        step(&mut second, &mut order, OrderEvent::Modified { change, ts: at(2) });
        store.apply(&second).await.unwrap();
        store.apply(&WriteBatch::default()).await.unwrap();
        let all = store.orders(&OrderFilter::default()).await.unwrap();
        assert_eq!(all, vec![order.clone()]);
        assert_eq!(
            (all[0].status(), all[0].qty(), all[0].limit_price()),
            (OrderStatus::Submitted, dec!(7), Some(dec!(101)))
        );
        assert_eq!(all[0].ts_last(), at(2));
    })
    .await;
}

#[tokio::test]
async fn a_known_order_is_updated_in_place_to_the_same_row_a_full_write_gives() {
    on_both(|store| async move {
        // Two copies of each order: one rewritten whole, one marked known (narrow update).
        let whole = rich_batch();
        let mut known = WriteBatch::default();
        let copy = |c: &luatrade::model::ClientOrderId| cid(&format!("k-{c}"));
        for o in whole.orders.values() {
            let mut o = o.clone();
            o.cid = copy(&o.cid);
            known.order(&o, None);
        }
        known.order_events = whole.order_events.iter().map(|(c, e)| (copy(c), e.clone())).collect();
        for f in &whole.fills {
            let mut f = f.clone();
            f.cid = copy(&f.cid);
            known.fills.push(f);
        }
        store.apply(&whole).await.unwrap();
        store.apply(&known).await.unwrap();
        // Later: every changing column changes (children, terms, venue id, status, fills).
        let (mut later_whole, mut later_known) = (WriteBatch::default(), WriteBatch::default());
        for (batch, prefix) in [(&mut later_whole, ""), (&mut later_known, "k-")] {
            let mut trail = store.order(&cid(&format!("{prefix}trail-1"))).await.unwrap().unwrap();
            let change = Modification { qty: Some(dec!(2)), limit_price: None, stop_price: None };
            step(batch, &mut trail, OrderEvent::Modified { change, ts: at(6) });
            let venue_order_id = Some(VenueOrderId::try_new("V-9").unwrap());
            step(batch, &mut trail, OrderEvent::Accepted { venue_order_id, ts: at(7) });
            let mut entry = store.order(&cid(&format!("{prefix}entry-1"))).await.unwrap().unwrap();
            entry.children.pop();
            batch.order(&entry, None);
            let mut tp = store.order(&cid(&format!("{prefix}entry-1_tp"))).await.unwrap().unwrap();
            step(batch, &mut tp, OrderEvent::Submitted { ts: at(8) });
            if !prefix.is_empty() {
                batch.known_orders.extend(batch.orders.keys().cloned());
            }
        }
        store.apply(&later_whole).await.unwrap();
        store.apply(&later_known).await.unwrap();
        let all = store.orders(&OrderFilter::default()).await.unwrap();
        let (k, w): (Vec<Order>, Vec<Order>) = all.into_iter().partition(|o| o.cid.as_str().starts_with("k-"));
        assert_eq!(w.len(), 4, "{}", store.backend());
        let unprefixed: Vec<Order> = k
            .into_iter()
            .map(|mut o| {
                o.cid = cid(&o.cid.as_str()["k-".len()..]);
                o
            })
            .collect();
        assert_eq!(sorted(unprefixed), sorted(w.clone()), "{}", store.backend());
        let trail = w.iter().find(|o| o.cid.as_str() == "trail-1").unwrap();
        assert_eq!((trail.qty(), trail.status()), (dec!(2), OrderStatus::Open), "{}", store.backend());
    })
    .await;
}

#[tokio::test]
async fn a_batch_marking_an_unstored_order_as_known_writes_nothing() {
    on_both(|store| async move {
        let mut b = WriteBatch::default();
        let mut stored = limit_order("kn-1", "s", "AAPL", Side::Buy, dec!(1), at(0));
        b.order(&stored, None);
        store.apply(&b).await.unwrap();
        let mut bad = WriteBatch::default();
        step(&mut bad, &mut stored, OrderEvent::Submitted { ts: at(1) });
        let mut ghost = limit_order("kn-ghost", "s", "AAPL", Side::Buy, dec!(1), at(0));
        step(&mut bad, &mut ghost, OrderEvent::Submitted { ts: at(1) });
        bad.known_orders.extend([cid("kn-1"), cid("kn-ghost")]);
        bad.balances.insert((acct(), usd()), dec!(5));
        let err = store.apply(&bad).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidBatch(_)), "{err}");
        assert!(err.to_string().contains("1 of 2 rows marked as already stored"), "{err}");
        let orders = store.orders(&OrderFilter::default()).await.unwrap();
        assert_eq!(orders.len(), 1, "{}", store.backend());
        assert_eq!(orders[0].status(), OrderStatus::Pending, "the known order's update was rolled back too");
        assert!(store.audit_trail(&cid("kn-1")).await.unwrap().is_empty());
        assert!(store.balances().await.unwrap().is_empty(), "{}", store.backend());
    })
    .await;
}

/// Six orders over two symbols, two strategies and three statuses, one second apart.
fn filter_fixture() -> (WriteBatch, Vec<Order>) {
    let mut b = WriteBatch::default();
    let specs = [
        ("f-a", "s1", "AAPL"),
        ("f-b", "s2", "AAPL"),
        ("f-c", "s1", "MSFT"),
        ("f-d", "s2", "MSFT"),
        ("f-e", "s1", "AAPL"),
        ("f-f", "s2", "MSFT"),
    ];
    let mut orders = Vec::new();
    for (i, (id, strategy, symbol)) in specs.into_iter().enumerate() {
        let mut o = limit_order(id, strategy, symbol, Side::Buy, dec!(1), at(i as i64 * 10));
        match i % 3 {
            0 => b.order(&o, None),
            1 => {
                fill_completely(&mut b, &mut o, dec!(100), i as u64);
            }
            _ => {
                let ts = o.ts_init.plus_secs(1);
                step(&mut b, &mut o, OrderEvent::Cancelled { reason: "user".into(), ts });
            }
        }
        orders.push(o);
    }
    (b, orders)
}

#[tokio::test]
async fn every_order_filter_dimension_selects_exactly_its_orders() {
    on_both(|store| async move {
        let (b, all) = filter_fixture();
        store.apply(&b).await.unwrap();
        let pick = |pred: &dyn Fn(&Order) -> bool| cids(&all.iter().filter(|o| pred(o)).cloned().collect::<Vec<_>>());
        let get = |f: OrderFilter| {
            let store = store.clone();
            async move { cids(&store.orders(&f).await.unwrap()) }
        };
        assert_eq!(get(OrderFilter::default()).await, cids(&all));
        let statuses = vec![OrderStatus::Pending, OrderStatus::Cancelled];
        assert_eq!(
            get(OrderFilter { status: Some(statuses), ..Default::default() }).await,
            pick(&|o| matches!(o.status(), OrderStatus::Pending | OrderStatus::Cancelled))
        );
        assert_eq!(get(OrderFilter { status: Some(vec![]), ..Default::default() }).await, Vec::<String>::new());
        assert_eq!(
            get(OrderFilter { symbol: Some(sym("MSFT")), ..Default::default() }).await,
            pick(&|o| o.symbol == sym("MSFT"))
        );
        assert_eq!(
            get(OrderFilter { strategy_id: Some(sid("s2")), ..Default::default() }).await,
            ["f-b", "f-d", "f-f"]
        );
        // from inclusive, to exclusive.
        assert_eq!(
            get(OrderFilter { from: Some(at(10)), to: Some(at(40)), ..Default::default() }).await,
            ["f-b", "f-c", "f-d"]
        );
        assert_eq!(get(OrderFilter { limit: Some(2), ..Default::default() }).await, ["f-a", "f-b"]);
        assert_eq!(get(OrderFilter { limit: Some(2), offset: Some(3), ..Default::default() }).await, ["f-d", "f-e"]);
        assert_eq!(get(OrderFilter { offset: Some(4), ..Default::default() }).await, ["f-e", "f-f"]);
        let combined = OrderFilter {
            symbol: Some(sym("AAPL")),
            strategy_id: Some(sid("s1")),
            status: Some(vec![OrderStatus::Pending]),
            from: Some(at(0)),
            ..Default::default()
        };
        assert_eq!(get(combined).await, ["f-a"]);
        // Filtered reads still carry each order's full history.
        let filled =
            store.orders(&OrderFilter { status: Some(vec![OrderStatus::Filled]), ..Default::default() }).await.unwrap();
        assert_eq!(filled, all.iter().filter(|o| o.status() == OrderStatus::Filled).cloned().collect::<Vec<_>>());
        assert_eq!(
            store.open_orders().await.unwrap(),
            all.iter().filter(|o| !o.status().is_terminal()).cloned().collect::<Vec<_>>()
        );
    })
    .await;
}

#[tokio::test]
async fn audit_trail_lists_changes_in_order_across_batches() {
    on_both(|store| async move {
        let mut order = limit_order("audit-1", "s1", "AAPL", Side::Buy, dec!(2), at(0));
        let mut b1 = WriteBatch::default();
        step(&mut b1, &mut order, OrderEvent::Submitted { ts: at(1) });
        step(&mut b1, &mut order, OrderEvent::Accepted { venue_order_id: None, ts: at(2) });
        store.apply(&b1).await.unwrap();
        let mut b2 = WriteBatch::default();
        step(&mut b2, &mut order, OrderEvent::CancelRequested { reason: "kill_switch".into(), ts: at(3) });
        step(&mut b2, &mut order, OrderEvent::Cancelled { reason: "venue confirmed".into(), ts: at(4) });
        store.apply(&b2).await.unwrap();
        let trail = store.audit_trail(&order.cid).await.unwrap();
        assert_eq!(trail, order.history());
        let summary: Vec<(u32, &str, &str)> =
            trail.iter().map(|c: &StatusChange| (c.seq, c.from.as_str(), c.to.as_str())).collect();
        assert_eq!(
            summary,
            [
                (0, "pending", "submitted"),
                (1, "submitted", "open"),
                (2, "open", "cancelling"),
                (3, "cancelling", "cancelled")
            ]
        );
        assert_eq!(trail[2].reason.as_deref(), Some("kill_switch"));
        assert_eq!(store.audit_trail(&cid("unknown")).await.unwrap(), vec![]);
    })
    .await;
}

#[tokio::test]
async fn positions_split_into_open_and_closed() {
    on_both(|store| async move {
        let open = long(1, "AAPL", dec!(5), dec!(100), at(0));
        let mut closed = long(2, "MSFT", dec!(3), dec!(300), at(0));
        closed.apply(Side::Sell, dec!(3), dec!(310), dec!(0.03), at(5), false);
        let mut closing = long(3, "TSLA", dec!(1), dec!(200), at(1));
        closing.set_closing(true);
        let mut liquidated = long(4, "NVDA", dec!(2), dec!(400), at(1));
        liquidated.apply(Side::Sell, dec!(2), dec!(390), dec!(0), at(6), true);
        let mut b = WriteBatch::default();
        for p in [&liquidated, &open, &closed, &closing] {
            b.positions.insert(p.id, p.clone());
        }
        store.apply(&b).await.unwrap();
        assert_eq!(store.positions(true).await.unwrap(), vec![open.clone(), closing.clone()]);
        assert_eq!(store.closed_positions().await.unwrap(), vec![closed.clone(), liquidated.clone()]);
        assert_eq!(store.positions(false).await.unwrap(), vec![open, closed.clone(), closing, liquidated]);
        assert_eq!(store.closed_positions().await.unwrap()[0].realized_pnl(), dec!(30));
    })
    .await;
}

#[tokio::test]
async fn snapshot_holds_exactly_open_orders_open_positions_and_balances() {
    on_both(|store| async move {
        let (mut b, all) = filter_fixture();
        let open_pos = long(7, "AAPL", dec!(1), dec!(100), at(0));
        let mut closed_pos = long(8, "MSFT", dec!(1), dec!(100), at(0));
        closed_pos.apply(Side::Sell, dec!(1), dec!(90), dec!(0), at(1), false);
        b.positions.insert(open_pos.id, open_pos.clone());
        b.positions.insert(closed_pos.id, closed_pos);
        b.balances.insert((acct(), usd()), dec!(1000.5));
        b.balances.insert((acct(), luatrade::model::Currency::try_new("BTC").unwrap()), dec!(0.25));
        store.apply(&b).await.unwrap();
        let snap = store.load_snapshot().await.unwrap();
        let open: Vec<Order> = all.iter().filter(|o| !o.status().is_terminal()).cloned().collect();
        assert_eq!(cids(&open), ["f-a", "f-d"]);
        assert_eq!(snap.open_orders, open);
        assert_eq!(snap.open_positions, vec![open_pos]);
        let btc = luatrade::model::Currency::try_new("BTC").unwrap();
        assert_eq!(snap.balances, vec![(acct(), btc, dec!(0.25)), (acct(), usd(), dec!(1000.5))]);
    })
    .await;
}

#[tokio::test]
async fn a_batch_failing_midway_leaves_nothing_behind() {
    on_both(|store| async move {
        let mut first = limit_order("atom-1", "s1", "AAPL", Side::Buy, dec!(1), at(0));
        let mut b1 = WriteBatch::default();
        step(&mut b1, &mut first, OrderEvent::Submitted { ts: at(1) });
        b1.balances.insert((acct(), usd()), dec!(500));
        store.apply(&b1).await.unwrap();

        // A valid new order, position and balance, then an audit row that repeats (cid, seq).
        let mut b2 = WriteBatch::default();
        let mut second = limit_order("atom-2", "s1", "AAPL", Side::Buy, dec!(1), at(5));
        fill_completely(&mut b2, &mut second, dec!(99), 9);
        b2.positions.insert(PositionId(9), long(9, "AAPL", dec!(1), dec!(99), at(5)));
        b2.balances.insert((acct(), usd()), dec!(401));
        let mut moved = first.clone();
        step(&mut b2, &mut moved, OrderEvent::Accepted { venue_order_id: None, ts: at(6) });
        b2.order_events.push((first.cid.clone(), first.history()[0].clone()));
        let err = store.apply(&b2).await.unwrap_err();
        assert!(matches!(err, StoreError::Write { table: "order_events", op: "insert", .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("'order_events'") && msg.contains("rolled back"), "{msg}");
        if store.backend() == "sqlite" {
            // Rows are written one by one there: the message names the refused one.
            assert!(msg.contains("UNIQUE constraint failed") && msg.contains("cid = 'atom-1', seq = 0"), "{msg}");
        }

        assert_eq!(store.orders(&OrderFilter::default()).await.unwrap(), vec![first.clone()]);
        assert_eq!(store.trades(None, None).await.unwrap(), vec![]);
        assert_eq!(store.fills(&second.cid).await.unwrap(), vec![]);
        assert_eq!(store.positions(false).await.unwrap(), vec![]);
        assert_eq!(store.balances().await.unwrap(), vec![(acct(), usd(), dec!(500))]);
        assert_eq!(store.audit_trail(&first.cid).await.unwrap(), first.history());
    })
    .await;
}

/// A writer keeps one connection for every batch: a batch failing in the database midway is
/// rolled back on it and the next batch commits; reads through the pool see each commit;
/// the writer's connection is outside the pool, so closing the store does not wait on it.
#[tokio::test]
async fn the_writer_connection_commits_after_a_failed_batch_and_does_not_hold_the_pool() {
    on_both(|store| async move {
        let mut writer = store.writer().await.unwrap();
        let mut first = limit_order("w-1", "s1", "AAPL", Side::Buy, dec!(1), at(0));
        let mut b1 = WriteBatch::default();
        step(&mut b1, &mut first, OrderEvent::Submitted { ts: at(1) });
        writer.apply(&b1).await.unwrap();
        assert_eq!(store.orders(&OrderFilter::default()).await.unwrap(), vec![first.clone()]);

        // An audit row that repeats (cid, seq): the database refuses it after other rows.
        let mut bad = WriteBatch::default();
        let second = limit_order("w-2", "s1", "AAPL", Side::Buy, dec!(1), at(2));
        bad.order(&second, None);
        bad.orders.insert(first.cid.clone(), first.clone());
        bad.order_events.push((first.cid.clone(), first.history()[0].clone()));
        let err = writer.apply(&bad).await.unwrap_err();
        assert!(matches!(err, StoreError::Write { table: "order_events", .. }), "{err}");

        let mut third = limit_order("w-3", "s1", "AAPL", Side::Buy, dec!(1), at(3));
        let mut b3 = WriteBatch::default();
        step(&mut b3, &mut third, OrderEvent::Submitted { ts: at(4) });
        writer.apply(&b3).await.expect("the same connection goes on after a rollback");
        assert_eq!(store.orders(&OrderFilter::default()).await.unwrap(), vec![first, third]);

        tokio::time::timeout(std::time::Duration::from_secs(10), store.close())
            .await
            .expect("closing the pool does not wait for the writer's connection");
        drop(writer);
    })
    .await;
}

#[tokio::test]
async fn an_audit_row_without_its_order_is_refused_before_writing() {
    on_both(|store| async move {
        let mut b = WriteBatch::default();
        let mut order = limit_order("orphan", "s1", "AAPL", Side::Buy, dec!(1), at(0));
        step(&mut b, &mut order, OrderEvent::Submitted { ts: at(1) });
        b.order(&limit_order("other", "s1", "AAPL", Side::Buy, dec!(1), at(0)), None);
        b.orders.shift_remove(&cid("orphan"));
        let err = store.apply(&b).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid write batch: audit row 'submit' (pending -> submitted) is for order orphan, which is not in \
             the batch (an audit row commits with its order)"
        );
        assert_eq!(store.orders(&OrderFilter::default()).await.unwrap(), vec![], "nothing written");
        assert_eq!(store.audit_trail(&cid("orphan")).await.unwrap(), vec![]);
    })
    .await;
}

#[tokio::test]
async fn a_fill_without_its_order_is_refused_before_writing() {
    on_both(|store| async move {
        let mut b = WriteBatch::default();
        let mut order = limit_order("lonely", "s1", "AAPL", Side::Buy, dec!(1), at(0));
        fill_completely(&mut b, &mut order, dec!(100), 1);
        b.orders.clear();
        b.order_events.clear(); // (refused on their own too: see the test above)
        let err = store.apply(&b).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid write batch: fill lonely-t is for order lonely, which is not in the batch (a fill commits with its order)"
        );
        assert_eq!(store.trades(None, None).await.unwrap(), vec![]);
    })
    .await;
}

#[tokio::test]
async fn many_orders_span_several_statements_and_read_back() {
    on_both(|store| async move {
        let (batches, per_batch) = (3, 1_000);
        let mut writing = std::time::Duration::ZERO;
        for n in 0..batches {
            let mut b = WriteBatch::default();
            for i in 0..per_batch {
                let k = n * per_batch + i;
                let mut o = limit_order(&format!("bulk-{k:05}"), "bulk", "AAPL", Side::Buy, dec!(2), at(k));
                let change = Modification { qty: Some(dec!(1)), ..Default::default() };
                step(&mut b, &mut o, OrderEvent::Modified { change, ts: at(k) });
                fill_completely(&mut b, &mut o, dec!(100), k as u64);
                b.positions.insert(PositionId(k as u64), long(k as u64, "AAPL", dec!(1), dec!(100), o.ts_init));
                b.balances.insert((acct(), usd()), dec!(1_000_000) - rust_decimal::Decimal::from(k));
            }
            let started = std::time::Instant::now();
            store.apply(&b).await.unwrap();
            writing += started.elapsed();
        }
        let secs = writing.as_secs_f64();
        let total = (batches * per_batch) as usize;
        eprintln!(
            "{}: {total} orders (4 audit rows, 1 fill, 1 trade, position, balance each) in {secs:.2}s = {:.0} orders/s",
            store.backend(),
            total as f64 / secs
        );
        let orders = store.orders(&OrderFilter::default()).await.unwrap();
        assert_eq!(orders.len(), total);
        assert_eq!(orders[1234].cid.as_str(), "bulk-01234");
        assert_eq!(orders[1234].history().len(), 4);
        assert_eq!(store.trades(None, None).await.unwrap().len(), total);
        assert_eq!(store.positions(true).await.unwrap().len(), total);
        assert_eq!(store.balances().await.unwrap(), vec![(acct(), usd(), dec!(997001))]);
        let last = store.trades(Some(&sym("AAPL")), Some(2)).await.unwrap();
        assert_eq!(last.iter().map(|t| t.cid.to_string()).collect::<Vec<_>>(), ["bulk-02998", "bulk-02999"]);
    })
    .await;
}

#[tokio::test]
async fn exports_write_headers_and_values() {
    on_both(|store| async move {
        let b = rich_batch();
        store.apply(&b).await.unwrap();
        let only_entry = OrderFilter { status: Some(vec![OrderStatus::Filled]), ..Default::default() };
        let mut csv_out = Vec::new();
        assert_eq!(store.export_orders_csv(&only_entry, &mut csv_out).await.unwrap(), 1);
        let text = String::from_utf8(csv_out).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next().unwrap(), ORDER_CSV_HEADER.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "entry-1,main,llm_momo,AAPL,buy,limit,gtc,10,100.25,,,,false,filled,10,100.22,0.10,V-778,,entry,\
             entry-1_sl;entry-1_tp,anthropic,claude,0.82,\"Breakout above 100 on volume, \"\"strong\"\"\",\
             2023-11-14T22:13:20Z,2023-11-14T22:13:23Z"
        );
        assert_eq!(lines.next(), None);

        let mut json_out = Vec::new();
        assert_eq!(store.export_orders_json(&OrderFilter::default(), &mut json_out).await.unwrap(), 4);
        let back: Vec<Order> = serde_json::from_slice(&json_out).unwrap();
        assert_eq!(back, sorted(b.orders.values().cloned().collect()));

        let mut trades_csv = Vec::new();
        assert_eq!(store.export_trades_csv(None, &mut trades_csv).await.unwrap(), 2);
        let text = String::from_utf8(trades_csv).unwrap();
        let rows: Vec<&str> = text.lines().collect();
        assert_eq!(rows[0], TRADE_CSV_HEADER.join(","));
        // Same time: in the order the fills were applied (T-2 before T-10).
        assert_eq!(rows[1], "2023-11-14T22:13:23Z,T-2,entry-1,llm_momo,main,AAPL,buy,4,100.25,0.04,entry,1,,0");
        assert_eq!(rows[2], "2023-11-14T22:13:23Z,T-10,entry-1,llm_momo,main,AAPL,buy,6,100.20,0.06,add,1,,0");
        assert_eq!(rows.len(), 3);

        let mut trades_json = Vec::new();
        assert_eq!(store.export_trades_json(Some(&sym("MSFT")), &mut trades_json).await.unwrap(), 0);
        assert_eq!(String::from_utf8(trades_json).unwrap(), "[]");
    })
    .await;
}

async fn sqlite_pragma(store: &Store, name: &str) -> String {
    let Store::Sqlite(pool) = store else { panic!("not sqlite") };
    let row: (String,) = sqlx::query_as(&format!("SELECT CAST({name} AS TEXT) FROM pragma_{name}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("PRAGMA {name}: {e}"));
    row.0
}

#[tokio::test]
async fn sqlite_file_is_created_on_first_connect_in_wal_mode_with_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub-dir-free.db");
    assert!(!path.exists());
    let store = Store::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    assert!(path.exists(), "connect creates the file");
    assert_eq!(sqlite_pragma(&store, "journal_mode").await, "wal");
    assert_eq!(sqlite_pragma(&store, "synchronous").await, "2", "FULL by default");
    assert_eq!(sqlite_pragma(&store, "foreign_keys").await, "1");
    store.close().await;

    // Reconnecting keeps the data and does not re-run migrations.
    let store = Store::connect(&format!("sqlite://{}?synchronous=normal", path.display())).await.unwrap();
    assert_eq!(sqlite_pragma(&store, "synchronous").await, "1");
    store.close().await;
    let store = Store::connect_with(&format!("sqlite://{}", path.display()), SqliteSync::Off).await.unwrap();
    assert_eq!(sqlite_pragma(&store, "synchronous").await, "0");
    let Store::Sqlite(pool) = &store else { unreachable!() };
    let applied: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(pool).await.unwrap();
    // Once each: as many as there are migration files.
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap().count();
    assert_eq!(applied.0, i64::try_from(files).unwrap());
}

#[tokio::test]
async fn bad_urls_give_errors_that_say_what_is_wrong() {
    let err = Store::connect("mysql://root@localhost/db").await.unwrap_err().to_string();
    assert_eq!(err, "bad database URL 'mysql://root@localhost/db': expected a URL starting with sqlite://, postgres:// or postgresql://");
    let err = Store::connect("sqlite://").await.unwrap_err().to_string();
    assert_eq!(err, "bad database URL 'sqlite://': no database file path after 'sqlite://'");
    let err = Store::connect("sqlite://x.db?synchronous=maybe").await.unwrap_err().to_string();
    assert!(err.contains("synchronous=maybe is not one of full, normal, off"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no/such/dir/x.db");
    let err = Store::connect(&format!("sqlite://{}", missing.display())).await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { backend: "sqlite", .. }), "{err}");
    assert!(
        err.to_string().starts_with(&format!("cannot connect to sqlite database 'sqlite://{}'", missing.display())),
        "{err}"
    );
    // Port 1 on loopback refuses at once; the password must not reach the message.
    let err = Store::connect("postgres://lt:hunter2@127.0.0.1:1/lt").await.unwrap_err();
    assert!(matches!(err, StoreError::Connect { backend: "postgres", .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.starts_with("cannot connect to postgres database 'postgres://lt:***@127.0.0.1:1/lt'"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
}

#[test]
fn test_database_urls_keep_authority_and_parameters() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:55432/postgres", "lt_1"),
        "postgres://postgres@127.0.0.1:55432/lt_1"
    );
    assert_eq!(with_database("postgres://u:p@h/admin?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    assert_eq!(with_database("postgres://h:5432", "x"), "postgres://h:5432/x");
}

#[test]
fn store_futures_can_run_on_spawned_tasks() {
    fn assert_send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let db = sqlite_db().await;
        let store = &db.store;
        let batch = WriteBatch::default();
        let fut = store.apply(&batch);
        assert_send(&fut);
        assert_eq!(fut.await.unwrap(), ());
        let filter = OrderFilter::default();
        let fut = store.orders(&filter);
        assert_send(&fut);
        assert_eq!(fut.await.unwrap(), vec![]);
    });
}

/// Rows travel to the database as JSON: 64-bit integers, doubles, escapes and decimal scales
/// must all come back exactly as written.
#[tokio::test]
async fn extreme_values_round_trip_exactly() {
    on_both(|store| async move {
        let big = (1_i64 << 62) + 12_345;
        let mut b = WriteBatch::default();
        let mut orders = Vec::new();
        for (i, conf) in [0.1, 0.82, 1.0 / 3.0, 0.123_456_789_012_345_67, 5e-324, 1.0, 0.0].into_iter().enumerate() {
            let mut req = OrderRequest::limit(
                acct(),
                sid("s1"),
                sym("AAPL"),
                Side::Buy,
                dec!(0.000000000000000001),
                dec!(79228162514264337593543950335),
            );
            req.llm = Some(LlmMeta::try_new("p", "m", "quote \" backslash \\ nl \n tab \t é ✓ \u{1}", conf).unwrap());
            let mut o = Order::new(cid(&format!("x-{i}")), &req, luatrade::model::Timestamp(big + i as i64));
            step(&mut b, &mut o, OrderEvent::Submitted { ts: luatrade::model::Timestamp(big + 10) });
            orders.push(o);
        }
        let mut neg = limit_order("neg", "s1", "AAPL", Side::Sell, dec!(-0.50), luatrade::model::Timestamp(-big));
        step(&mut b, &mut neg, OrderEvent::Submitted { ts: luatrade::model::Timestamp(-big + 1) });
        orders.push(neg);
        let pos = long(big as u64, "AAPL", dec!(1.2300), dec!(100.000), luatrade::model::Timestamp(big));
        b.positions.insert(pos.id, pos.clone());
        b.balances.insert((acct(), usd()), dec!(-0.0100));
        store.apply(&b).await.unwrap();
        assert_eq!(store.orders(&OrderFilter::default()).await.unwrap(), sorted(orders), "{}", store.backend());
        assert_eq!(store.positions(false).await.unwrap(), vec![pos]);
        let balances = store.balances().await.unwrap();
        assert_eq!(balances[0].2.to_string(), "-0.0100");
    })
    .await;
}

#[tokio::test]
async fn runs_are_recorded_listed_and_never_stored_twice() {
    on_both(|store| async move {
        let inputs = serde_json::json!({"data": ["ORCL=orcl.csv"], "cash": "100000"});
        store.begin_run("bt-a", &inputs).await.unwrap();
        store.begin_run("bt-b", &inputs).await.unwrap();
        let err = store.begin_run("bt-a", &inputs).await.unwrap_err().to_string();
        assert!(err.contains("run 'bt-a' is already stored"), "{err}");
        store.finish_run("bt-a", "f00d", "{\"ok\":true}").await.unwrap();
        let runs = store.runs().await.unwrap();
        assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), ["bt-a", "bt-b"]);
        let a = store.run("bt-a").await.unwrap().unwrap();
        assert_eq!((a.kind.as_str(), a.fingerprint.as_deref()), ("backtest", Some("f00d")));
        assert_eq!(serde_json::from_str::<serde_json::Value>(&a.inputs).unwrap(), inputs);
        assert!(a.finished_at.is_some_and(|f| f >= a.started_at));
        let b = store.run("bt-b").await.unwrap().unwrap();
        assert_eq!((b.finished_at, b.fingerprint), (None, None));
        assert!(store.run("bt-c").await.unwrap().is_none());
    })
    .await;
}

/// Migration 0008 rebuilds the audit trail, fills and trades without their foreign keys: on
/// a database written before it, every row is still there and reads back the same, the keys
/// are gone and the trades indexes are back.
#[tokio::test]
async fn sqlite_migration_0008_keeps_every_child_row() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    // The schema as it was before 0008: the migrations up to 0007, from a copy of the files.
    let old = dir.path().join("migrations");
    std::fs::create_dir(&old).unwrap();
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.as_str() < "0008" {
            std::fs::copy(&path, old.join(&name)).unwrap();
        }
    }
    let options = url.parse::<sqlx::sqlite::SqliteConnectOptions>().unwrap().create_if_missing(true).foreign_keys(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.unwrap();
    sqlx::migrate::Migrator::new(old.as_path()).await.unwrap().run(&pool).await.unwrap();
    let before = Store::Sqlite(pool);
    let b = rich_batch();
    before.apply(&b).await.unwrap();
    let orders = before.orders(&OrderFilter::default()).await.unwrap();
    let trades = before.trades(None, None).await.unwrap();
    let fills = before.fills(&cid("entry-1")).await.unwrap();
    assert_eq!((orders.len(), trades.len(), fills.len()), (4, 2, 2));
    before.close().await;

    let after = Store::connect(&url).await.unwrap();
    assert_eq!(after.orders(&OrderFilter::default()).await.unwrap(), orders);
    assert_eq!(after.trades(None, None).await.unwrap(), trades);
    assert_eq!(after.fills(&cid("entry-1")).await.unwrap(), fills);
    let Store::Sqlite(pool) = &after else { unreachable!("a sqlite URL") };
    let schema: Vec<(String, String)> =
        sqlx::query_as("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
            .fetch_all(pool)
            .await
            .unwrap();
    let names: Vec<&str> = schema.iter().map(|(n, _)| n.as_str()).collect();
    for t in ["order_events", "fills", "trades"] {
        let (_, sql) = schema.iter().find(|(n, _)| n == t).unwrap();
        assert!(!sql.contains("REFERENCES") && sql.contains("WITHOUT ROWID"), "{sql}");
    }
    assert!(names.contains(&"idx_trades_symbol_ts") && names.contains(&"idx_trades_ts"), "{names:?}");
    assert!(!names.iter().any(|n| n.ends_with("_new") || *n == "idx_trades_strategy_ts"), "{names:?}");
    // New rows go on being written after the rebuilt tables.
    let mut more = WriteBatch::default();
    let mut o = limit_order("after-1", "s1", "AAPL", Side::Buy, dec!(1), at(9));
    fill_completely(&mut more, &mut o, dec!(101), 2);
    after.apply(&more).await.unwrap();
    assert_eq!(after.trades(None, None).await.unwrap().len(), 3);
    after.close().await;
}
