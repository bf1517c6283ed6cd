//! Engine ordering guarantees, checked with a recording journal and a recording venue.

use super::*;
use crate::data::{Bar, MarketEvent};
use crate::model::{AccountId, BracketSpec, Currency, Instrument, Instruments, Order, OrderStatus, Side, Symbol};
use crate::oms::OmsConfig;
use crate::risk::{RejectCode, RiskConfig, RiskEngine};
use crate::store::WriteBatch;
use crate::venue::sim::{SimConfig, SimVenue};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::cell::RefCell;
use std::rc::Rc;

/// Shared log of what happened, in order.
#[derive(Debug, Default)]
struct Log {
    /// Client order ids whose `pending` row has been committed.
    committed_pending: Vec<ClientOrderId>,
    /// Every committed batch.
    batches: Vec<WriteBatch>,
    /// Submissions the venue saw, with whether the pending row was committed first.
    submissions: Vec<(ClientOrderId, bool)>,
    /// Make the next commit fail.
    fail_next: bool,
    /// Behave like a journal with a background writer: deferred batches wait in `queued`
    /// until the next commit or sync.
    lag: bool,
    /// Deferred batches handed over but not committed yet (only with `lag`).
    queued: Vec<WriteBatch>,
    /// Make deferred batches fail when they are committed.
    fail_deferred: bool,
}

#[derive(Debug)]
struct RecordingJournal(Rc<RefCell<Log>>);

impl RecordingJournal {
    fn apply(&mut self, batch: WriteBatch, deferred: bool) -> Result<(), StoreError> {
        let mut log = self.0.borrow_mut();
        if log.fail_next || (deferred && log.fail_deferred) {
            return Err(StoreError::Runtime("disk full (injected)".into()));
        }
        for (cid, o) in &batch.orders {
            if o.history().is_empty() || o.history()[0].from == OrderStatus::Pending {
                log.committed_pending.push(cid.clone());
            }
        }
        log.batches.push(batch);
        Ok(())
    }

    /// Commits what is queued, in order, like the writer catching up.
    fn settle(&mut self) -> Result<(), StoreError> {
        let queued = std::mem::take(&mut self.0.borrow_mut().queued);
        queued.into_iter().try_for_each(|b| self.apply(b, true))
    }
}

impl Journal for RecordingJournal {
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.settle()?;
        self.apply(batch, false)
    }

    fn commit_deferred(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        if !self.0.borrow().lag {
            return self.apply(batch, true);
        }
        self.settle()?;
        self.0.borrow_mut().queued.push(batch);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.settle()
    }
}

#[derive(Debug)]
struct RecordingVenue {
    inner: SimVenue,
    log: Rc<RefCell<Log>>,
}

impl Venue for RecordingVenue {
    fn submit(&mut self, order: &Order, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        // Committed: its own row and everything handed over before it.
        let committed = {
            let log = self.log.borrow();
            log.committed_pending.contains(&order.cid) && log.queued.is_empty()
        };
        self.log.borrow_mut().submissions.push((order.cid.clone(), committed));
        self.inner.submit(order, ts, out);
    }
    fn cancel(&mut self, cid: &ClientOrderId, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        self.inner.cancel(cid, ts, out);
    }
    fn modify(&mut self, cid: &ClientOrderId, change: &Modification, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        self.inner.modify(cid, change, ts, out);
    }
    fn on_market(&mut self, event: &MarketEvent, out: &mut Vec<VenueEvent>) {
        self.inner.on_market(event, out);
    }
}

fn sym() -> Symbol {
    Symbol::try_new("AAPL").unwrap()
}
fn acct() -> AccountId {
    AccountId::try_new("main").unwrap()
}
fn usd() -> Currency {
    Currency::try_new("USD").unwrap()
}

fn test_risk() -> RiskEngine {
    // The test clock sits after the close.
    RiskEngine::new(RiskConfig { market_hours: false, ..RiskConfig::default() }).unwrap()
}

fn setup() -> (Engine<RecordingVenue, RecordingJournal>, Rc<RefCell<Log>>) {
    let instruments: Instruments = [Instrument::us_stock("AAPL")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
    oms.deposit(&acct(), &usd(), dec!(100000));
    let log = Rc::new(RefCell::new(Log::default()));
    let venue = RecordingVenue { inner: SimVenue::new(SimConfig::default(), instruments), log: log.clone() };
    (Engine::new(oms, test_risk(), venue, RecordingJournal(log.clone())), log)
}

fn bar(n: i64, o: Decimal, h: Decimal, l: Decimal, c: Decimal) -> MarketEvent {
    MarketEvent::Bar(
        sym(),
        Bar {
            ts: Timestamp::from_secs(1_700_000_000 + n * 60),
            open: o,
            high: h,
            low: l,
            close: c,
            volume: dec!(1000000),
        },
    )
}

fn buy(qty: Decimal) -> OrderRequest {
    OrderRequest::market(acct(), StrategyId::try_new("s").unwrap(), sym(), Side::Buy, qty)
}

#[test]
fn every_order_row_is_committed_before_the_venue_sees_it() {
    let (mut eng, log) = setup();
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    let mut req = buy(dec!(10));
    req.bracket = Some(BracketSpec { stop_loss: Some(dec!(90)), take_profit: Some(dec!(120)) });
    let entry = eng.submit(&req).unwrap().accepted().unwrap();
    for _ in 0..5 {
        eng.submit(&buy(dec!(1))).unwrap();
    }
    assert!(log.borrow().submissions.is_empty(), "nothing is sent before a flush");
    eng.on_market(&bar(1, dec!(100), dec!(102), dec!(99), dec!(101))).unwrap();
    eng.on_market(&bar(2, dec!(101), dec!(103), dec!(100), dec!(102))).unwrap();
    let log = log.borrow();
    // Entry + 5 plain orders + the two bracket children released after the entry filled.
    assert_eq!(log.submissions.len(), 8, "{:?}", log.submissions);
    assert!(log.submissions.iter().all(|(_, committed)| *committed), "{:?}", log.submissions);
    assert!(log.submissions.iter().any(|(c, _)| *c == entry.child("sl")));
    assert_eq!(eng.stats().fills, 6);
}

#[test]
fn a_fill_commits_with_its_position_and_cash() {
    let (mut eng, log) = setup();
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    eng.submit(&buy(dec!(10))).unwrap();
    eng.on_market(&bar(1, dec!(100.5), dec!(102), dec!(99), dec!(101))).unwrap();
    let log = log.borrow();
    let with_fill: Vec<&WriteBatch> = log.batches.iter().filter(|b| !b.fills.is_empty()).collect();
    assert_eq!(with_fill.len(), 1);
    let b = with_fill[0];
    assert_eq!(b.fills[0].price, dec!(100.5), "market order fills at the next open");
    assert_eq!(b.trades.len(), 1);
    let p = b.positions.values().next().expect("position in the same batch");
    assert_eq!((p.qty(), p.avg_px()), (dec!(10), dec!(100.5)));
    assert_eq!(b.balances[&(acct(), usd())], dec!(98995)); // 100000 − 1005
    assert_eq!(b.orders.values().next().unwrap().status(), OrderStatus::Filled);
}

#[test]
fn a_failed_commit_halts_trading_and_sends_nothing() {
    let (mut eng, log) = setup();
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    let cid = eng.submit(&buy(dec!(1))).unwrap().accepted().unwrap();
    log.borrow_mut().fail_next = true;
    let err = eng.on_market(&bar(1, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap_err();
    assert!(err.to_string().contains("disk full (injected)"), "{err}");
    assert!(log.borrow().submissions.is_empty(), "the uncommitted order never reached the venue");
    assert_eq!(eng.oms().order(&cid).unwrap().status(), OrderStatus::Pending);
    assert!(matches!(eng.submit(&buy(dec!(1))), Err(EngineError::Halted(_))));
    assert!(eng.halted().unwrap().contains("disk full"));
}

#[test]
fn client_order_ids_are_rederived_after_a_restart() {
    let (mut a, _) = setup();
    a.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    let first = a.submit(&buy(dec!(1))).unwrap().accepted().unwrap();
    let second = a.submit(&buy(dec!(1))).unwrap().accepted().unwrap();
    let (mut b, _) = setup();
    b.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    b.set_sequence(&StrategyId::try_new("s").unwrap(), 1);
    assert_eq!(b.submit(&buy(dec!(1))).unwrap().accepted().unwrap(), second);
    assert_ne!(first, second);
}

#[test]
fn a_refused_venue_event_is_counted_and_the_engine_keeps_running() {
    let (mut eng, _) = setup();
    let bogus = VenueEvent::Expired { cid: ClientOrderId::try_new("nope").unwrap(), ts: Timestamp(1) };
    eng.on_venue_events(vec![bogus]).unwrap();
    assert_eq!(eng.stats().refused_events, 1);
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    assert!(matches!(eng.submit(&buy(dec!(1))).unwrap(), SubmitOutcome::Accepted(_)));
    eng.on_market(&bar(1, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    eng.on_market(&bar(2, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    assert_eq!(eng.stats().fills, 1);
}

#[test]
fn a_risk_rejection_is_stored_counted_and_never_sent() {
    let (mut eng, log) = setup();
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    // 101 shares at 100: above the default 100-share stock order limit.
    let out = eng.submit(&buy(dec!(101))).unwrap();
    let SubmitOutcome::Rejected { cid, reason } = out else { panic!("expected a rejection, got {out:?}") };
    assert_eq!(reason.code(), RejectCode::MaxOrderQty);
    assert!(reason.to_string().starts_with("MAX_ORDER_QTY: limit=100"), "{reason}");
    let order = eng.oms().order(&cid).expect("stored");
    assert_eq!(order.status(), OrderStatus::Rejected);
    assert_eq!(order.history()[0].reason.as_deref(), Some(reason.to_string().as_str()));
    eng.on_market(&bar(1, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    assert!(log.borrow().submissions.is_empty(), "a rejected order never reaches the venue");
    let rejected_rows: Vec<_> =
        log.borrow().batches.iter().flat_map(|b| b.orders.values().cloned()).filter(|o| o.cid == cid).collect();
    assert_eq!(rejected_rows.len(), 1, "the rejection is journaled for the store");
    assert_eq!(eng.risk().rejection_count(RejectCode::MaxOrderQty), 1);
    // 100 shares at a 100.50 limit: 10,050 USD, above the 10,000 USD order notional limit.
    let mut big = buy(dec!(100));
    big.order_type = crate::model::OrderType::Limit;
    big.limit_price = Some(dec!(100.5));
    let out = eng.submit(&big).unwrap();
    let SubmitOutcome::Rejected { reason, .. } = out else { panic!("expected a rejection, got {out:?}") };
    assert_eq!(reason.code(), RejectCode::MaxOrderNotional, "{reason}");
    // A limit far from the last price: outside the 5 % collar.
    let mut far = buy(dec!(1));
    far.order_type = crate::model::OrderType::Limit;
    far.limit_price = Some(dec!(120));
    let SubmitOutcome::Rejected { reason, .. } = eng.submit(&far).unwrap() else { panic!("collar") };
    assert_eq!(reason.code(), RejectCode::PriceCollar, "{reason}");
    // A small order still goes through.
    assert!(matches!(eng.submit(&buy(dec!(1))).unwrap(), SubmitOutcome::Accepted(_)));
}

mod protection {
    use super::*;
    use crate::model::{OrderType, PositionStatus, TradeKind};
    use crate::monitor::{ExitReason, Level, MonitorSpec, StopGuardConfig};

    fn spec(stop_pct: i64, target_pct: i64) -> MonitorSpec {
        MonitorSpec {
            stop_loss: Some(Level::Percent(Decimal::from(stop_pct))),
            take_profit: Some(Level::Percent(Decimal::from(target_pct))),
            ..MonitorSpec::default()
        }
    }

    /// Opens a protected long of 10 at 100 (filled at bar 1's open) and returns its position id.
    fn protected_long(eng: &mut Engine<RecordingVenue, RecordingJournal>) -> PositionId {
        eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
        assert!(matches!(eng.submit_protected(&buy(dec!(10)), spec(5, 10)).unwrap(), SubmitOutcome::Accepted(_)));
        eng.on_market(&bar(1, dec!(100), dec!(102), dec!(99), dec!(101))).unwrap();
        let p = eng.oms().portfolio(&acct()).unwrap().position(&sym()).expect("position open");
        assert_eq!((p.qty(), p.avg_px()), (dec!(10), dec!(100)));
        assert!(eng.monitors().get(p.id).is_some(), "armed from the entry's fill");
        p.id
    }

    fn exit_orders(log: &Rc<RefCell<Log>>) -> Vec<Order> {
        let mut seen = indexmap::IndexMap::new();
        for b in &log.borrow().batches {
            for o in b.orders.values().filter(|o| o.strategy_id.as_str() == PROTECT_STRATEGY) {
                seen.insert(o.cid.clone(), o.clone());
            }
        }
        seen.into_values().collect()
    }

    #[test]
    fn stop_loss_beats_the_target_inside_one_bar_and_fills_at_the_stop() {
        let (mut eng, log) = setup();
        let pid = protected_long(&mut eng);
        // Stop 95, target 110: this bar reaches both; the conservative rule takes the stop.
        eng.on_market(&bar(2, dec!(99), dec!(111), dec!(94), dec!(96))).unwrap();
        let book = eng.oms().portfolio(&acct()).unwrap();
        assert!(book.position(&sym()).is_none(), "closed");
        assert_eq!(book.realized_pnl(&usd()), dec!(-50)); // (95 − 100) × 10
        assert_eq!(eng.close_reason(pid), Some(ExitReason::StopLoss));
        let exits = exit_orders(&log);
        assert_eq!(exits.len(), 1, "exactly one exit");
        assert_eq!(
            (exits[0].order_type, exits[0].stop_price(), exits[0].reduce_only),
            (OrderType::Stop, Some(dec!(95)), true)
        );
        assert_eq!(exits[0].status(), OrderStatus::Filled);
        assert!(eng.monitors().is_empty(), "disarmed once closed");
        // Nothing fires again on later bars.
        eng.on_market(&bar(3, dec!(80), dec!(81), dec!(70), dec!(75))).unwrap();
        assert_eq!(exit_orders(&log).len(), 1);
    }

    #[test]
    fn a_gap_through_the_stop_exits_at_the_open() {
        let (mut eng, _) = setup();
        let pid = protected_long(&mut eng);
        eng.on_market(&bar(2, dec!(90), dec!(92), dec!(88), dec!(91))).unwrap();
        assert_eq!(eng.oms().portfolio(&acct()).unwrap().realized_pnl(&usd()), dec!(-100)); // (90 − 100) × 10
        assert_eq!(eng.close_reason(pid), Some(ExitReason::StopLoss));
    }

    #[test]
    fn monitors_and_close_reasons_commit_with_the_fills_that_caused_them() {
        let (mut eng, log) = setup();
        let pid = protected_long(&mut eng);
        let batches = |f: &dyn Fn(&WriteBatch) -> bool| log.borrow().batches.iter().filter(|b| f(b)).count();
        // The entry's fill and the monitor it armed are in one batch, one transaction.
        assert_eq!(batches(&|b| !b.fills.is_empty() && b.monitors.contains_key(&pid)), 1);
        assert_eq!(batches(&|b| b.fills.is_empty() && b.monitors.contains_key(&pid)), 0, "armed only with its fill");
        let armed = log.borrow().batches.iter().find_map(|b| b.monitors.get(&pid).cloned()).unwrap();
        assert_eq!(armed.stop, Some((dec!(95), ExitReason::StopLoss)));
        assert_eq!(armed.target, Some(dec!(110)));
        eng.on_market(&bar(2, dec!(90), dec!(92), dec!(88), dec!(91))).unwrap();
        // The exit's fill, the monitor's removal and the close reason: one batch.
        let closing = |b: &WriteBatch| {
            !b.fills.is_empty()
                && b.monitors_removed == [pid]
                && b.close_reasons.iter().any(|r| r.position_id == pid && r.reason == ExitReason::StopLoss)
        };
        assert_eq!(batches(&closing), 1);
        // Run-time risk changes reach the journal with the next commit, once.
        let now = eng.now();
        eng.risk_mut()
            .set_limit(crate::risk::Scope::Global, crate::risk::LimitField::MaxOpenOrders, None, "ops", now)
            .unwrap();
        eng.kill(false, "desk").unwrap();
        let audit: Vec<String> =
            log.borrow().batches.iter().flat_map(|b| b.risk_audit.iter().map(|a| a.subject.clone())).collect();
        assert_eq!(audit, ["max_open_orders", "trading_state"]);
    }

    #[test]
    fn take_profit_fills_at_the_target() {
        let (mut eng, _) = setup();
        let pid = protected_long(&mut eng);
        eng.on_market(&bar(2, dec!(104), dec!(112), dec!(103), dec!(111))).unwrap();
        assert_eq!(eng.oms().portfolio(&acct()).unwrap().realized_pnl(&usd()), dec!(100)); // (110 − 100) × 10
        assert_eq!(eng.close_reason(pid), Some(ExitReason::TakeProfit));
    }

    #[test]
    fn kill_switch_halts_cancels_and_flattens_once() {
        let (mut eng, log) = setup();
        eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
        eng.submit(&buy(dec!(10))).unwrap();
        eng.on_market(&bar(1, dec!(100), dec!(102), dec!(99), dec!(101))).unwrap();
        let mut resting = buy(dec!(1));
        resting.order_type = OrderType::Limit;
        resting.limit_price = Some(dec!(98));
        let resting = eng.submit(&resting).unwrap().accepted().unwrap();
        eng.flush().unwrap();
        let pid = eng.oms().portfolio(&acct()).unwrap().position(&sym()).unwrap().id;

        let report = eng.kill(true, "ops").unwrap();
        assert_eq!(report, KillReport { already_halted: false, cancelled: 1, flattening: 1 });
        assert_eq!(eng.oms().order(&resting).unwrap().status(), OrderStatus::Cancelled);
        // A second pull changes nothing.
        assert_eq!(eng.kill(true, "ops").unwrap(), KillReport { already_halted: true, cancelled: 0, flattening: 0 });
        // Nothing new gets through while halted.
        let SubmitOutcome::Rejected { reason, .. } = eng.submit(&buy(dec!(1))).unwrap() else { panic!("halted") };
        assert_eq!(reason.code(), RejectCode::TradingHalted);

        eng.on_market(&bar(2, dec!(97), dec!(98), dec!(96), dec!(97))).unwrap();
        let book = eng.oms().portfolio(&acct()).unwrap();
        assert!(book.position(&sym()).is_none());
        assert_eq!(book.realized_pnl(&usd()), dec!(-30)); // flattened at the next open: (97 − 100) × 10
        assert_eq!(eng.close_reason(pid), Some(ExitReason::KillSwitch));
        let last = log.borrow().batches.iter().rev().find_map(|b| b.positions.get(&pid).cloned()).unwrap();
        assert_eq!(last.status(), PositionStatus::Liquidated);
        let trade = log.borrow().batches.iter().flat_map(|b| b.trades.clone()).last().unwrap();
        assert_eq!(trade.kind, TradeKind::Exit);
        assert!(eng.risk_audit().iter().any(|a| matches!(a, RiskAudit::State(c) if c.who == "ops")), "audited");
        let alerts = eng.take_alerts();
        assert!(
            alerts.iter().any(|a| matches!(a, EngineAlert::Killed { cancelled: 1, flattening: 1, .. })),
            "{alerts:?}"
        );
    }

    #[test]
    fn a_position_without_a_working_stop_is_flattened_at_its_deadline() {
        let (mut eng, _) = setup();
        eng.set_stop_guard(StopGuardConfig { enabled: true, deadline_nanos: 90 * 1_000_000_000 });
        eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
        eng.submit(&buy(dec!(10))).unwrap();
        eng.on_market(&bar(1, dec!(100), dec!(102), dec!(99), dec!(101))).unwrap(); // opens at +60 s
        eng.on_market(&bar(2, dec!(101), dec!(102), dec!(100), dec!(101))).unwrap(); // +120 s: within 90 s? no: 60 s old
        assert!(eng.take_alerts().iter().all(|a| !matches!(a, EngineAlert::Unprotected { .. })));
        eng.on_market(&bar(3, dec!(101), dec!(102), dec!(100), dec!(101))).unwrap(); // +180 s: 120 s old, overdue
        assert!(eng.take_alerts().iter().any(|a| matches!(a, EngineAlert::Unprotected { .. })));
        eng.on_market(&bar(4, dec!(102), dec!(103), dec!(101), dec!(102))).unwrap();
        assert!(eng.oms().portfolio(&acct()).unwrap().position(&sym()).is_none(), "flattened");
    }

    #[test]
    fn a_working_venue_stop_satisfies_the_guard() {
        let (mut eng, _) = setup();
        eng.set_stop_guard(StopGuardConfig { enabled: true, deadline_nanos: 90 * 1_000_000_000 });
        eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
        let mut req = buy(dec!(10));
        req.bracket = Some(BracketSpec { stop_loss: Some(dec!(90)), take_profit: None });
        eng.submit(&req).unwrap();
        for n in 1..6 {
            eng.on_market(&bar(n, dec!(100), dec!(102), dec!(99), dec!(101))).unwrap();
        }
        assert!(eng.take_alerts().iter().all(|a| !matches!(a, EngineAlert::Unprotected { .. })));
        assert_eq!(eng.oms().portfolio(&acct()).unwrap().qty(&sym()), dec!(10), "still held, protected by its stop");
    }
}

#[test]
fn a_market_event_commits_new_orders_first_and_everything_else_once() {
    let (mut eng, log) = setup();
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    for _ in 0..5 {
        eng.submit(&buy(dec!(1))).unwrap();
    }
    let before = log.borrow().batches.len();
    eng.on_market(&bar(1, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    let log = log.borrow();
    let new: Vec<&WriteBatch> = log.batches[before..].iter().collect();
    assert_eq!(new.len(), 2, "one commit before the venue sees the orders, one after");
    assert!(new[0].orders.values().all(|o| o.status() == OrderStatus::Pending) && new[0].orders.len() == 5);
    assert!(new[0].fills.is_empty());
    assert_eq!(new[1].fills.len(), 5);
    assert!(new[1].orders.values().all(|o| o.status() == OrderStatus::Filled));
    let kinds: Vec<_> = new[1].order_events.iter().map(|(_, c)| c.event.as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "submit").count(), 5, "acks travel with the fills: {kinds:?}");
}

#[test]
fn totals_read_back_from_risk_match_a_fresh_sum_through_marks_orders_and_fills() {
    let (mut eng, _log) = setup();
    let fresh = |eng: &Engine<RecordingVenue, RecordingJournal>| crate::risk::RiskView::totals(eng.oms(), &usd());
    let prices = [dec!(100), dec!(101.5), dec!(99.25), dec!(103), dec!(97.1), dec!(98)];
    for (n, px) in prices.into_iter().enumerate() {
        let n = n as i64;
        if n == 1 {
            eng.submit(&buy(dec!(10))).unwrap();
        }
        if n == 3 {
            // A resting limit reserves cash: buying power moves without a fill.
            let mut req = buy(dec!(5));
            req.order_type = crate::model::OrderType::Limit;
            req.limit_price = Some(dec!(90));
            eng.submit(&req).unwrap();
            assert_eq!(eng.totals(&usd()), fresh(&eng), "after a submit, before the next mark");
            assert_eq!(eng.equity_totals(&usd()), fresh(&eng).into(), "after a submit, before the next mark");
        }
        eng.on_market(&bar(n, px, px + dec!(1), px - dec!(1), px)).unwrap();
        let t = eng.totals(&usd());
        assert_eq!(t, fresh(&eng), "bar {n}");
        // Read back from risk's last evaluation: the same figures as a fresh sum.
        assert_eq!(eng.equity_totals(&usd()), t.into(), "bar {n}");
        assert_eq!(crate::risk::RiskView::equity_totals(eng.oms(), &usd()), t.into(), "bar {n}");
        if n >= 2 {
            assert_ne!(t.gross_exposure, Decimal::ZERO, "the position is marked at bar {n}");
        }
    }
}

#[test]
fn with_a_lagging_writer_the_venue_sees_an_order_only_after_everything_before_it_committed() {
    let (mut eng, log) = setup();
    log.borrow_mut().lag = true;
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    for n in 1..=4 {
        eng.submit(&buy(dec!(1))).unwrap();
        eng.on_market(&bar(n, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
        // The event's acks and fills are handed over, not waited for.
        assert_eq!(log.borrow().queued.len(), 1, "event {n}");
        assert_eq!(log.borrow().queued[0].fills.len(), 1, "event {n}");
    }
    assert_eq!(log.borrow().submissions.len(), 4);
    assert!(log.borrow().submissions.iter().all(|(_, committed)| *committed), "{:?}", log.borrow().submissions);
    eng.sync_journal().unwrap();
    let log = log.borrow();
    assert!(log.queued.is_empty());
    assert_eq!(log.batches.iter().map(|b| b.fills.len()).sum::<usize>(), 4, "every fill committed, once");
}

#[test]
fn a_failed_deferred_commit_halts_the_engine_before_the_next_order_reaches_the_venue() {
    let (mut eng, log) = setup();
    log.borrow_mut().lag = true;
    eng.on_market(&bar(0, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    eng.submit(&buy(dec!(1))).unwrap();
    eng.sync_journal().unwrap(); // the first event's batch is durable; the next ones fail
    log.borrow_mut().fail_deferred = true;
    // The fill's batch is handed over; its failure is not known yet.
    eng.on_market(&bar(1, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap();
    assert_eq!(log.borrow().submissions.len(), 1);
    let next = eng.submit(&buy(dec!(1))).unwrap().accepted().unwrap();
    let err = eng.on_market(&bar(2, dec!(100), dec!(101), dec!(99), dec!(100))).unwrap_err();
    assert!(err.to_string().contains("disk full (injected)"), "{err}");
    assert_eq!(log.borrow().submissions.len(), 1, "the next order never reached the venue");
    assert_eq!(eng.oms().order(&next).unwrap().status(), OrderStatus::Pending);
    assert!(!log.borrow().committed_pending.contains(&next), "nothing after the failure was written");
    assert!(eng.halted().unwrap().contains("disk full"));
    assert!(matches!(eng.submit(&buy(dec!(1))), Err(EngineError::Halted(_))));
}
