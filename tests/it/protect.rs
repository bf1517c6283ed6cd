//! Monitors, risk audit and close reasons in the store (migration 0002), on SQLite and on
//! Postgres.

use crate::support::*;
use luatrade::model::{OrderEvent, PositionId, Side, TrailingOffset};
use luatrade::monitor::{
    BreakEven, ExitReason, Level, MonitorRecord, MonitorSpec, MonitorState, PositionKey, TrailState, Trailing,
};
use luatrade::risk::{LimitChange, LimitField, Scope, StateChange, TradingState};
use luatrade::store::{CloseReasonRecord, RiskAuditRecord, StoredMonitor, WriteBatch};
use rust_decimal_macros::dec;

/// A long AAPL monitor on position `id` with every rule, its trail active and break-even moved.
fn monitor(id: u64) -> StoredMonitor {
    let record = MonitorRecord {
        key: PositionKey { account: acct(), symbol: sym("AAPL") },
        position_id: PositionId(id),
        side: Side::Buy,
        qty: dec!(10),
        entry_px: dec!(100.25),
        entry_fees: dec!(0.10),
        opened_at: at(3),
        spec: MonitorSpec {
            stop_loss: Some(Level::Percent(dec!(5))),
            take_profit: Some(Level::Price(dec!(120))),
            trailing: Some(Trailing {
                offset: TrailingOffset::Amount(dec!(2.5)),
                activation: Some(Level::Amount(dec!(3))),
            }),
            break_even: Some(BreakEven { after: Level::Percent(dec!(4)), plus_fees: true }),
            max_holding_nanos: Some(86_400_000_000_000),
        },
        state: MonitorState {
            trail: TrailState { best: Some(dec!(106.10)), trigger: Some(dec!(103.60)) },
            break_even_stop: Some(dec!(100.26)),
            working: None,
        },
    };
    StoredMonitor { record, stop: Some((dec!(103.60), ExitReason::TrailingStop)), target: Some(dec!(120)) }
}

/// An entry order filled into position `id`, with that position and its monitor.
fn opened(id: u64) -> WriteBatch {
    let mut b = WriteBatch::default();
    let mut entry = limit_order(&format!("e-{id}"), "s1", "AAPL", Side::Buy, dec!(10), at(0));
    fill_completely(&mut b, &mut entry, dec!(100.25), id);
    let p = long(id, "AAPL", dec!(10), dec!(100.25), at(3));
    b.positions.insert(p.id, p);
    b.monitors.insert(PositionId(id), monitor(id));
    b
}

#[tokio::test]
async fn monitors_commit_with_their_fill_and_read_back_exactly() {
    on_both(|store| async move {
        store.apply(&opened(1)).await.unwrap();
        let got = store.monitors().await.unwrap();
        assert_eq!(got, vec![monitor(1)], "{}", store.backend());
        assert_eq!(got[0].deadline(), Some(at(3).plus_secs(86_400)));

        // The trail ratchets: the row is replaced.
        let mut moved = monitor(1);
        moved.record.state.trail = TrailState { best: Some(dec!(110)), trigger: Some(dec!(107.5)) };
        moved.stop = Some((dec!(107.5), ExitReason::TrailingStop));
        let mut b = WriteBatch::default();
        b.monitors.insert(PositionId(1), moved.clone());
        store.apply(&b).await.unwrap();
        assert_eq!(store.monitors().await.unwrap(), vec![moved]);

        // The position closes: the monitor row goes and the close reason is kept.
        let mut b = WriteBatch::default();
        let mut p = long(1, "AAPL", dec!(10), dec!(100.25), at(3));
        p.apply(Side::Sell, dec!(10), dec!(107.5), dec!(0.1), at(9), false);
        b.positions.insert(p.id, p.clone());
        b.monitors_removed.push(PositionId(1));
        let reason = CloseReasonRecord {
            position_id: PositionId(1),
            reason: ExitReason::TrailingStop,
            exit_cid: Some(cid("x-1")),
            ts: at(9),
        };
        b.close_reasons.push(reason.clone());
        store.apply(&b).await.unwrap();
        assert!(store.monitors().await.unwrap().is_empty());
        assert_eq!(store.close_reasons().await.unwrap(), vec![reason.clone()]);
        let closed = store.closed_positions_with_reasons().await.unwrap();
        assert_eq!(closed, vec![(p, Some(reason))]);
    })
    .await;
}

#[tokio::test]
async fn many_monitors_and_close_reasons_in_one_batch_keep_the_last_state_of_each() {
    on_both(|store| async move {
        let mut b = WriteBatch::default();
        for id in 1..=300 {
            let p = long(id, "AAPL", dec!(10), dec!(100.25), at(3));
            b.positions.insert(p.id, p);
            b.monitors.insert(PositionId(id), monitor(id));
        }
        store.apply(&b).await.unwrap();
        let mut b = WriteBatch::default();
        b.monitors_removed.extend((1..=300).filter(|id| id % 3 == 0).map(PositionId));
        let reason = |id: u64, why: ExitReason, s: i64| CloseReasonRecord {
            position_id: PositionId(id),
            reason: why,
            exit_cid: (id % 2 == 0).then(|| cid(&format!("x-{id}"))),
            ts: at(s),
        };
        // Position 3 is given two reasons in one batch: the later one stays, as row by row.
        b.close_reasons = (1..=300).filter(|id| id % 3 == 0).map(|id| reason(id, ExitReason::StopLoss, 9)).collect();
        b.close_reasons.push(reason(3, ExitReason::Manual, 10));
        store.apply(&b).await.unwrap();
        let left: Vec<u64> = store.monitors().await.unwrap().iter().map(|m| m.record.position_id.0).collect();
        assert_eq!(left, (1..=300).filter(|id| id % 3 != 0).collect::<Vec<_>>(), "{}", store.backend());
        let mut expected: Vec<CloseReasonRecord> =
            (6..=300).filter(|id| id % 3 == 0).map(|id| reason(id, ExitReason::StopLoss, 9)).collect();
        expected.insert(0, reason(3, ExitReason::Manual, 10));
        let mut got = store.close_reasons().await.unwrap();
        got.sort_by_key(|c| c.position_id);
        assert_eq!(got, expected, "{}", store.backend());
    })
    .await;
}

#[tokio::test]
async fn a_failed_batch_stores_no_monitor_audit_or_close_reason() {
    on_both(|store| async move {
        let mut first = WriteBatch::default();
        let mut order = limit_order("dup", "s1", "AAPL", Side::Buy, dec!(1), at(0));
        step(&mut first, &mut order, OrderEvent::Submitted { ts: at(1) });
        store.apply(&first).await.unwrap();
        // The same audit row again makes the core write fail; nothing of the batch may stay.
        let mut b = opened(2);
        b.order_events.extend(first.order_events.clone());
        b.risk_audit.push(RiskAuditRecord {
            ts: at(4),
            scope: Scope::Global,
            subject: "trading_state".into(),
            old: Some("active".into()),
            new: Some("halted".into()),
            who: "ops".into(),
            why: Some("drill".into()),
        });
        b.close_reasons.push(CloseReasonRecord {
            position_id: PositionId(9),
            reason: ExitReason::Manual,
            exit_cid: None,
            ts: at(4),
        });
        assert!(store.apply(&b).await.is_err());
        assert!(store.monitors().await.unwrap().is_empty(), "{}", store.backend());
        assert!(store.risk_audit(None).await.unwrap().is_empty());
        assert!(store.close_reasons().await.unwrap().is_empty());
    })
    .await;
}

#[tokio::test]
async fn the_risk_audit_trail_keeps_who_when_old_new_and_why_in_order() {
    on_both(|store| async move {
        let limit = LimitChange {
            scope: Scope::Symbol(sym("AAPL")),
            field: LimitField::MaxPositionNotional,
            old: None,
            new: Some(dec!(2500.50)),
            ts: at(1),
            who: "ops".into(),
            why: Some("earnings week".into()),
        };
        let state = StateChange {
            scope: Scope::Strategy(sid("momo")),
            prev: TradingState::Active,
            current: TradingState::ReducingOnly,
            reason: "daily_loss_limit breached (USD)".into(),
            ts: at(2),
            who: "risk".into(),
        };
        let mut b = WriteBatch::default();
        b.risk_audit.push(RiskAuditRecord::from(&limit));
        b.risk_audit.push(RiskAuditRecord::from(&state));
        store.apply(&b).await.unwrap();
        let mut b = WriteBatch::default();
        let mut again = limit.clone();
        (again.old, again.new, again.ts) = (Some(dec!(2500.50)), None, at(3));
        b.risk_audit.push(RiskAuditRecord::from(&again));
        store.apply(&b).await.unwrap();
        let all = store.risk_audit(None).await.unwrap();
        let want: Vec<RiskAuditRecord> =
            vec![RiskAuditRecord::from(&limit), RiskAuditRecord::from(&state), RiskAuditRecord::from(&again)];
        assert_eq!(all, want, "{}", store.backend());
        assert_eq!(all[0].new.as_deref(), Some("2500.50"), "exact decimal text");
        assert_eq!(all[0].why.as_deref(), Some("earnings week"));
        assert_eq!(store.risk_audit(Some(2)).await.unwrap(), want[1..].to_vec(), "the most recent two, oldest first");
    })
    .await;
}
