use super::*;
use crate::model::{AccountId, TrailingOffset};
use crate::monitor::{BreakEven, Level, Trailing};
use rust_decimal_macros::dec;

fn sym(s: &str) -> Symbol {
    Symbol::try_new(s).unwrap()
}

fn key(s: &str) -> PositionKey {
    PositionKey { account: AccountId::try_new("acc").unwrap(), symbol: sym(s) }
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(secs)
}

fn bar(ts: i64, open: Decimal, high: Decimal, low: Decimal) -> Bar {
    Bar { ts: t(ts), open, high, low, close: (high + low) / Decimal::TWO, volume: Decimal::ZERO }
}

/// Arms position `pid` on "AAA" for 10 units with 2 of fees, opened at t(0).
fn armed(side: Side, entry: Decimal, spec: MonitorSpec) -> MonitorSet {
    let mut set = MonitorSet::new();
    set.arm(key("AAA"), PositionId(1), side, dec!(10), entry, dec!(2), t(0), spec).unwrap();
    set
}

fn brief(v: &[ExitIntent]) -> Vec<(ExitReason, Decimal, bool)> {
    v.iter().map(|x| (x.reason, x.trigger_price, x.at_open)).collect()
}

fn sl_tp(sl: Level, tp: Level) -> MonitorSpec {
    MonitorSpec { stop_loss: Some(sl), take_profit: Some(tp), ..MonitorSpec::default() }
}

#[test]
fn stop_and_target_on_bars_long_and_short() {
    use ExitReason::{StopLoss, TakeProfit};
    // Entry 100; stop 5 % (long 95, short 105); target 10 away (long 110, short 90).
    let spec = sl_tp(Level::Percent(dec!(5)), Level::Amount(dec!(10)));
    // (side, bar o/h/l, expected (reason, price, at_open))
    let cases = [
        (Side::Buy, (dec!(100), dec!(109), dec!(96)), None),
        (Side::Buy, (dec!(100), dec!(101), dec!(94)), Some((StopLoss, dec!(95), false))),
        (Side::Buy, (dec!(93), dec!(97), dec!(90)), Some((StopLoss, dec!(93), true))), // gap down
        (Side::Buy, (dec!(100), dec!(112), dec!(94)), Some((StopLoss, dec!(95), false))), // both: stop first
        (Side::Buy, (dec!(111), dec!(112), dec!(94)), Some((TakeProfit, dec!(111), true))), // open decides
        (Side::Buy, (dec!(100), dec!(110), dec!(99)), Some((TakeProfit, dec!(110), false))),
        (Side::Sell, (dec!(100), dec!(104), dec!(91)), None),
        (Side::Sell, (dec!(100), dec!(106), dec!(89)), Some((StopLoss, dec!(105), false))), // both: stop first
        (Side::Sell, (dec!(107), dec!(108), dec!(101)), Some((StopLoss, dec!(107), true))), // gap up
        (Side::Sell, (dec!(89), dec!(106), dec!(88)), Some((TakeProfit, dec!(89), true))),
        (Side::Sell, (dec!(100), dec!(101), dec!(90)), Some((TakeProfit, dec!(90), false))),
    ];
    for (side, (o, h, l), want) in cases {
        let mut set = armed(side, dec!(100), spec);
        let got = set.on_bar(&sym("AAA"), &bar(60, o, h, l));
        assert_eq!(brief(&got), want.into_iter().collect::<Vec<_>>(), "{side} o{o} h{h} l{l}");
        if let Some(x) = got.first() {
            assert_eq!((x.side, x.qty, x.ts, x.position_id), (side.opposite(), dec!(10), t(60), PositionId(1)));
            assert_eq!((x.account.as_str(), x.symbol.as_str()), ("acc", "AAA"));
            assert_eq!(set.get(PositionId(1)).unwrap().state.working, Some(x.reason));
        }
    }
}

#[test]
fn ticks_use_the_same_rules() {
    let mut set = armed(Side::Buy, dec!(100), sl_tp(Level::Price(dec!(95)), Level::Price(dec!(110))));
    assert!(set.on_price(&sym("AAA"), dec!(95.01), t(1)).is_empty());
    assert_eq!(brief(&set.on_price(&sym("AAA"), dec!(95), t(2))), vec![(ExitReason::StopLoss, dec!(95), false)]);
    let mut set = armed(Side::Buy, dec!(100), sl_tp(Level::Price(dec!(95)), Level::Price(dec!(110))));
    assert_eq!(brief(&set.on_price(&sym("AAA"), dec!(111), t(2))), vec![(ExitReason::TakeProfit, dec!(111), true)]);
}

#[test]
fn trailing_long_percent_ratchets_then_exits_at_the_trigger() {
    let spec = MonitorSpec {
        stop_loss: Some(Level::Percent(dec!(5))),
        trailing: Some(Trailing { offset: TrailingOffset::Percent(dec!(2)), activation: None }),
        ..MonitorSpec::default()
    };
    let mut set = armed(Side::Buy, dec!(100), spec);
    let p = PositionId(1);
    // Starts at the entry: 100 × 0.98 = 98, tighter than the 95 stop-loss.
    assert_eq!(set.stop_level(p), Some((dec!(98), ExitReason::TrailingStop)));
    // (bar, expected stop after it)
    let steps = [
        ((dec!(100), dec!(105), dec!(99)), dec!(102.9)), // low 99 > 98; high 105 → 102.9
        ((dec!(104), dec!(104.5), dec!(103)), dec!(102.9)), // lower high: unchanged
    ];
    for (i, ((o, h, l), want)) in steps.into_iter().enumerate() {
        assert!(set.on_bar(&sym("AAA"), &bar(i as i64, o, h, l)).is_empty());
        assert_eq!(set.stop_level(p), Some((want, ExitReason::TrailingStop)));
    }
    // Tested before ratcheting: low 102 reaches 102.9; the high 110 comes too late.
    let x = set.on_bar(&sym("AAA"), &bar(3, dec!(104), dec!(110), dec!(102)));
    assert_eq!(brief(&x), vec![(ExitReason::TrailingStop, dec!(102.9), false)]);
}

#[test]
fn trailing_short_amount_with_activation_and_gap() {
    let spec = MonitorSpec {
        stop_loss: Some(Level::Price(dec!(104))),
        trailing: Some(Trailing {
            offset: TrailingOffset::Amount(dec!(1.5)),
            activation: Some(Level::Price(dec!(95))),
        }),
        ..MonitorSpec::default()
    };
    let mut set = armed(Side::Sell, dec!(100), spec);
    let p = PositionId(1);
    let steps = [
        ((dec!(99), dec!(100), dec!(95.5)), (dec!(104), ExitReason::StopLoss)), // not activated
        ((dec!(96), dec!(97), dec!(94)), (dec!(95.5), ExitReason::TrailingStop)), // activated: 94 + 1.5
        ((dec!(94), dec!(94.5), dec!(92)), (dec!(93.5), ExitReason::TrailingStop)),
    ];
    for (i, ((o, h, l), want)) in steps.into_iter().enumerate() {
        assert!(set.on_bar(&sym("AAA"), &bar(i as i64, o, h, l)).is_empty());
        assert_eq!(set.stop_level(p), Some(want));
    }
    // Opens at 94, above the 93.5 trigger: exit at the open.
    let x = set.on_bar(&sym("AAA"), &bar(9, dec!(94), dec!(95), dec!(93.8)));
    assert_eq!(brief(&x), vec![(ExitReason::TrailingStop, dec!(94), true)]);
    assert_eq!(x[0].side, Side::Buy);
}

#[test]
fn break_even_long_plus_fees_moves_for_the_next_bar_and_never_back() {
    // Entry 100, 10 units, fees 2 → 0.2 per unit; after +3 (103) the stop moves to 100.2.
    let spec = MonitorSpec {
        stop_loss: Some(Level::Price(dec!(97))),
        break_even: Some(BreakEven { after: Level::Amount(dec!(3)), plus_fees: true }),
        ..MonitorSpec::default()
    };
    let mut set = armed(Side::Buy, dec!(100), spec);
    let p = PositionId(1);
    let steps = [
        ((dec!(100), dec!(102.9), dec!(98)), (dec!(97), ExitReason::StopLoss)),
        // Reaches 103: moves for the next bar, though this bar's low 100.1 is below 100.2.
        ((dec!(101), dec!(103), dec!(100.1)), (dec!(100.2), ExitReason::BreakEven)),
        ((dec!(102), dec!(104), dec!(101)), (dec!(100.2), ExitReason::BreakEven)),
    ];
    for (i, ((o, h, l), want)) in steps.into_iter().enumerate() {
        assert!(set.on_bar(&sym("AAA"), &bar(i as i64, o, h, l)).is_empty(), "bar {i}");
        assert_eq!(set.stop_level(p), Some(want), "bar {i}");
    }
    let x = set.on_bar(&sym("AAA"), &bar(5, dec!(101), dec!(101.5), dec!(100)));
    assert_eq!(brief(&x), vec![(ExitReason::BreakEven, dec!(100.2), false)]);
}

#[test]
fn break_even_short_percent_plus_fees() {
    // Short 10 at 50, fees 2 → 0.2 per unit; after 2 % (49) the stop moves to 49.8.
    let spec = MonitorSpec {
        break_even: Some(BreakEven { after: Level::Percent(dec!(2)), plus_fees: true }),
        ..MonitorSpec::default()
    };
    let mut set = armed(Side::Sell, dec!(50), spec);
    assert_eq!(set.stop_level(PositionId(1)), None);
    assert!(set.on_bar(&sym("AAA"), &bar(1, dec!(50), dec!(50.5), dec!(49))).is_empty());
    assert_eq!(set.stop_level(PositionId(1)), Some((dec!(49.8), ExitReason::BreakEven)));
    let x = set.on_bar(&sym("AAA"), &bar(2, dec!(49.5), dec!(50), dec!(49.2)));
    assert_eq!(brief(&x), vec![(ExitReason::BreakEven, dec!(49.8), false)]);
    assert_eq!(x[0].side, Side::Buy);
}

#[test]
fn one_exit_while_working_then_fires_again_or_disarms() {
    let mut set = armed(Side::Buy, dec!(100), sl_tp(Level::Price(dec!(95)), Level::Price(dec!(110))));
    let p = PositionId(1);
    let a = sym("AAA");
    assert_eq!(set.on_price(&a, dec!(94), t(1)).len(), 1);
    assert!(set.on_price(&a, dec!(93), t(2)).is_empty());
    assert!(set.on_price(&a, dec!(120), t(3)).is_empty());
    assert!(set.kill_all(t(4)).is_empty());
    assert_eq!(set.request_exit(p, ExitReason::Manual, t(5)), Ok(None));
    // The exit was cancelled with the position still open: the next price fires again.
    set.exit_finished(p, false).unwrap();
    assert_eq!(brief(&set.on_price(&a, dec!(93), t(6))), vec![(ExitReason::StopLoss, dec!(93), true)]);
    set.exit_finished(p, true).unwrap();
    assert!(set.get(p).is_none() && set.is_empty());
    assert!(set.on_price(&a, dec!(80), t(7)).is_empty());
    assert_eq!(set.exit_finished(p, false), Err(MonitorError::Unknown { position_id: p }));
}

#[test]
fn time_exit_fires_at_the_deadline_at_the_last_price() {
    let spec = MonitorSpec { max_holding_nanos: Some(60 * 1_000_000_000), ..MonitorSpec::default() };
    let mut set = armed(Side::Sell, dec!(100), spec);
    let p = PositionId(1);
    assert!(set.on_price(&sym("AAA"), dec!(101), t(30)).is_empty());
    assert!(set.on_clock(t(59)).is_empty());
    let x = set.on_clock(t(60));
    assert_eq!(brief(&x), vec![(ExitReason::TimeExit, dec!(101), false)]);
    assert_eq!((x[0].side, x[0].ts), (Side::Buy, t(60)));
    assert!(set.on_clock(t(61)).is_empty(), "working");
    set.exit_finished(p, false).unwrap();
    assert_eq!(brief(&set.on_clock(t(62))), vec![(ExitReason::TimeExit, dec!(101), false)]);
    // A spec without a holding limit removes the deadline.
    set.exit_finished(p, false).unwrap();
    set.set_spec(p, MonitorSpec::default()).unwrap();
    assert!(set.on_clock(t(1_000)).is_empty());
}

#[test]
fn kill_all_exits_every_idle_position_by_id_at_the_last_or_entry_price() {
    let mut set = MonitorSet::new();
    let spec = sl_tp(Level::Price(dec!(90)), Level::Price(dec!(120)));
    set.arm(key("BBB"), PositionId(3), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    set.arm(key("AAA"), PositionId(2), Side::Buy, dec!(2), dec!(100), dec!(0), t(0), spec).unwrap();
    set.arm(key("AAA"), PositionId(1), Side::Buy, dec!(3), dec!(100), dec!(0), t(0), spec).unwrap();
    assert_eq!(set.on_price(&sym("AAA"), dec!(101), t(1)), vec![]);
    assert_eq!(set.request_exit(PositionId(2), ExitReason::Manual, t(2)).unwrap().unwrap().trigger_price, dec!(101));
    let x = set.kill_all(t(3));
    let got: Vec<_> = x.iter().map(|x| (x.position_id, x.reason, x.trigger_price, x.qty)).collect();
    assert_eq!(
        got,
        vec![
            (PositionId(1), ExitReason::KillSwitch, dec!(101), dec!(3)),
            (PositionId(3), ExitReason::KillSwitch, dec!(100), dec!(1)),
        ]
    );
}

#[test]
fn prices_touch_only_their_symbol() {
    let mut set = MonitorSet::new();
    let spec = sl_tp(Level::Price(dec!(90)), Level::Price(dec!(120)));
    set.arm(key("AAA"), PositionId(1), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    set.arm(key("BBB"), PositionId(2), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    let x = set.on_price(&sym("BBB"), dec!(80), t(1));
    assert_eq!(x.iter().map(|x| x.position_id).collect::<Vec<_>>(), vec![PositionId(2)]);
    assert!(set.on_price(&sym("CCC"), dec!(80), t(1)).is_empty());
    // Disarming swaps slots; the index must follow.
    set.arm(key("AAA"), PositionId(4), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    assert!(set.disarm(PositionId(1)).is_some());
    assert_eq!(set.get(PositionId(4)).unwrap().position_id, PositionId(4));
    assert_eq!(set.on_price(&sym("AAA"), dec!(80), t(2))[0].position_id, PositionId(4));
}

#[test]
fn quiet_events_are_skipped_but_changes_are_seen_at_the_next_event() {
    let mut set = armed(Side::Buy, dec!(100), sl_tp(Level::Price(dec!(90)), Level::Price(dec!(120))));
    let a = sym("AAA");
    assert!(set.on_price(&a, dec!(100), t(1)).is_empty()); // full scan, levels remembered
    assert!(set.on_price(&a, dec!(101), t(2)).is_empty()); // quiet
    set.set_spec(PositionId(1), sl_tp(Level::Price(dec!(90)), Level::Price(dec!(101.5)))).unwrap();
    assert_eq!(brief(&set.on_price(&a, dec!(101.5), t(3))), vec![(ExitReason::TakeProfit, dec!(101.5), false)]);
    set.arm(
        key("AAA"),
        PositionId(2),
        Side::Sell,
        dec!(1),
        dec!(101),
        dec!(0),
        t(3),
        sl_tp(Level::Price(dec!(102)), Level::Price(dec!(95))),
    )
    .unwrap();
    assert_eq!(set.on_price(&a, dec!(102), t(4))[0].position_id, PositionId(2));
}

#[test]
fn update_position_re_resolves_relative_levels_and_exit_qty() {
    let mut set = armed(Side::Buy, dec!(100), sl_tp(Level::Percent(dec!(5)), Level::Price(dec!(130))));
    // Added 10 at 110: 20 at 105 → stop 105 × 0.95 = 99.75.
    set.update_position(PositionId(1), dec!(20), dec!(105), dec!(4)).unwrap();
    assert_eq!(set.stop_level(PositionId(1)), Some((dec!(99.75), ExitReason::StopLoss)));
    assert_eq!(set.target_level(PositionId(1)), Some(dec!(130)));
    assert!(set.on_price(&sym("AAA"), dec!(99.76), t(1)).is_empty());
    let x = set.on_price(&sym("AAA"), dec!(99.75), t(2));
    assert_eq!((x[0].qty, x[0].trigger_price, x[0].at_open), (dec!(20), dec!(99.75), false));
    assert_eq!(
        set.update_position(PositionId(1), dec!(0), dec!(105), dec!(4)),
        Err(MonitorError::NotPositive { position_id: PositionId(1), field: "qty", value: dec!(0) })
    );
}

#[test]
fn arm_and_set_spec_refuse_with_clear_errors() {
    let mut set = armed(Side::Buy, dec!(100), MonitorSpec::default());
    let bad = MonitorSpec { stop_loss: Some(Level::Price(dec!(105))), ..MonitorSpec::default() };
    let e = set.set_spec(PositionId(1), bad).unwrap_err();
    assert_eq!(e.to_string(), "monitor for position 1: stop_loss 105 is not below the long entry 100");
    let e = set.arm(key("AAA"), PositionId(1), Side::Buy, dec!(1), dec!(1), dec!(0), t(0), bad).unwrap_err();
    assert_eq!(e.to_string(), "monitor for position 1 is already armed");
    let e = set.arm(key("AAA"), PositionId(2), Side::Buy, dec!(1), dec!(0), dec!(0), t(0), bad).unwrap_err();
    assert_eq!(e.to_string(), "monitor for position 2: entry_px must be positive, got 0");
    assert_eq!(set.len(), 1);
    // A later take-profit arms on the running position.
    set.set_spec(PositionId(1), sl_tp(Level::Amount(dec!(3)), Level::Amount(dec!(3)))).unwrap();
    assert_eq!(brief(&set.on_price(&sym("AAA"), dec!(103), t(1))), vec![(ExitReason::TakeProfit, dec!(103), false)]);
}

#[test]
fn export_restore_round_trips_through_json_and_behaves_the_same() {
    let spec = MonitorSpec {
        trailing: Some(Trailing { offset: TrailingOffset::Amount(dec!(2)), activation: None }),
        break_even: Some(BreakEven { after: Level::Amount(dec!(1)), plus_fees: false }),
        max_holding_nanos: Some(1_000),
        ..MonitorSpec::default()
    };
    let mut set = MonitorSet::new();
    set.arm(key("AAA"), PositionId(1), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    set.arm(key("BBB"), PositionId(2), Side::Sell, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    assert!(set.on_bar(&sym("AAA"), &bar(1, dec!(100), dec!(104), dec!(99))).is_empty());
    assert!(set.on_bar(&sym("BBB"), &bar(1, dec!(100), dec!(101), dec!(97))).is_empty());
    let snap = set.export();
    let json = serde_json::to_string(&snap).unwrap();
    let mut back = MonitorSet::restore(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(back.export(), snap);
    assert_eq!(back.stop_level(PositionId(1)), Some((dec!(102), ExitReason::TrailingStop)));
    assert_eq!(back.stop_level(PositionId(2)), Some((dec!(99), ExitReason::TrailingStop)));
    for s in [&mut set, &mut back] {
        assert_eq!(
            brief(&s.on_price(&sym("AAA"), dec!(101.5), t(2))),
            vec![(ExitReason::TrailingStop, dec!(101.5), true)]
        );
        assert_eq!(brief(&s.on_clock(Timestamp(1_000))), vec![(ExitReason::TimeExit, dec!(99), false)]);
    }
    let mut dup = snap.clone();
    dup.monitors.push(snap.monitors[0].clone());
    assert_eq!(MonitorSet::restore(dup).unwrap_err(), MonitorError::AlreadyArmed { position_id: PositionId(1) });
}

#[test]
fn take_changes_lists_moved_and_removed_monitors_once() {
    let spec = MonitorSpec {
        trailing: Some(Trailing { offset: TrailingOffset::Amount(dec!(2)), activation: None }),
        ..MonitorSpec::default()
    };
    let mut set = MonitorSet::new();
    set.arm(key("AAA"), PositionId(1), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    set.arm(key("AAA"), PositionId(2), Side::Buy, dec!(1), dec!(100), dec!(0), t(0), spec).unwrap();
    let c = set.take_changes();
    assert_eq!(c.upserted.iter().map(|r| r.position_id).collect::<Vec<_>>(), vec![PositionId(1), PositionId(2)]);
    assert!(set.take_changes().upserted.is_empty());
    assert!(set.on_price(&sym("AAA"), dec!(99), t(1)).is_empty()); // no ratchet: nothing changed
    assert!(set.take_changes().upserted.is_empty());
    assert!(set.on_price(&sym("AAA"), dec!(101), t(2)).is_empty());
    set.disarm(PositionId(2));
    let c = set.take_changes();
    assert_eq!(c.upserted.len(), 1);
    assert_eq!(c.upserted[0].state.trail.trigger, Some(dec!(99)));
    assert_eq!(c.removed, vec![PositionId(2)]);
}

#[test]
fn exit_reason_names_round_trip() {
    let names: Vec<_> = ExitReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        ["stop_loss", "take_profit", "trailing_stop", "break_even", "time_exit", "kill_switch", "manual"]
    );
    for r in ExitReason::ALL {
        assert_eq!(ExitReason::parse(r.as_str()), Some(r));
        assert_eq!(serde_json::to_string(&r).unwrap(), format!("\"{r}\""));
    }
    assert_eq!(ExitReason::parse("stop"), None);
}

#[test]
fn a_trigger_that_ratchets_onto_the_stop_loss_leaves_it_the_stop_until_strictly_tighter() {
    let spec = MonitorSpec {
        stop_loss: Some(Level::Price(dec!(99))),
        trailing: Some(Trailing {
            offset: TrailingOffset::Amount(dec!(2)),
            activation: Some(Level::Amount(dec!(0.25))),
        }),
        ..MonitorSpec::default()
    };
    let mut set = armed(Side::Buy, dec!(100), spec);
    let (p, a) = (PositionId(1), sym("AAA"));
    // (tick, expected effective stop): activation at 100.25 (trigger 98.25, below the
    // stop-loss); 101 moves the trigger to 99, a tie: the stop-loss keeps it; 101.5 → 99.5.
    let steps = [
        (dec!(100.25), (dec!(99), ExitReason::StopLoss)),
        (dec!(101), (dec!(99), ExitReason::StopLoss)),
        (dec!(101.5), (dec!(99.5), ExitReason::TrailingStop)),
    ];
    for (n, (px, want)) in steps.into_iter().enumerate() {
        assert!(set.on_price(&a, px, t(n as i64 + 1)).is_empty());
        assert_eq!(set.stop_level(p), Some(want), "after {px}");
    }
    assert_eq!(set.get(p).unwrap().state.trail, TrailState { best: Some(dec!(101.5)), trigger: Some(dec!(99.5)) });
    // A tick at the stop exits for the trail, at its trigger.
    assert_eq!(brief(&set.on_price(&a, dec!(99.5), t(9))), vec![(ExitReason::TrailingStop, dec!(99.5), false)]);
}

mod property_tests {
    use super::*;
    use proptest::prelude::*;

    fn px() -> impl Strategy<Value = (Decimal, Decimal, Decimal)> {
        // open, and how far high/low reach from it, in cents.
        (5_000i64..15_000, 0i64..800, 0i64..800).prop_map(|(o, up, down)| {
            let o = Decimal::new(o, 2);
            (o, o + Decimal::new(up, 2), o - Decimal::new(down, 2))
        })
    }

    fn offset() -> impl Strategy<Value = TrailingOffset> {
        prop_oneof![
            (1i64..1_000).prop_map(|c| TrailingOffset::Amount(Decimal::new(c, 2))),
            (1i64..500).prop_map(|c| TrailingOffset::Percent(Decimal::new(c, 2))),
        ]
    }

    #[derive(Debug, Clone)]
    enum Op {
        Bar(Decimal, Decimal, Decimal),
        Tick(Decimal),
        Clock(i64),
        Kill,
        Manual,
        Finished,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => px().prop_map(|(o, h, l)| Op::Bar(o, h, l)),
            3 => px().prop_map(|(o, _, _)| Op::Tick(o)),
            1 => (0i64..200).prop_map(Op::Clock),
            1 => Just(Op::Kill),
            1 => Just(Op::Manual),
            2 => Just(Op::Finished),
        ]
    }

    proptest! {
        #[test]
        fn prop_trailing_never_loosens(
            long in any::<bool>(),
            off in offset(),
            activation in proptest::option::of(1i64..500),
            bars in proptest::collection::vec(px(), 1..40),
        ) {
            let side = if long { Side::Buy } else { Side::Sell };
            let activation = activation.map(|c| Level::Amount(Decimal::new(c, 2)));
            let spec = MonitorSpec { trailing: Some(Trailing { offset: off, activation }), ..MonitorSpec::default() };
            let mut set = armed(side, dec!(100), spec);
            let p = PositionId(1);
            let mut prev: Option<Decimal> = set.get(p).unwrap().state.trail.trigger;
            for (i, (o, h, l)) in bars.into_iter().enumerate() {
                let exits = set.on_bar(&sym("AAA"), &bar(i as i64, o, h, l));
                let now = set.get(p).unwrap().state.trail.trigger;
                if let (Some(a), Some(b)) = (prev, now) {
                    prop_assert!(!tighter(side, a, b), "trigger loosened from {} to {}", a, b);
                }
                prop_assert!(!(prev.is_some() && now.is_none()), "trail deactivated");
                if !exits.is_empty() {
                    set.exit_finished(p, false).unwrap();
                }
                prev = now;
            }
        }

        #[test]
        fn prop_at_most_one_exit_while_working(
            long in any::<bool>(),
            ops in proptest::collection::vec(op(), 1..60),
        ) {
            let side = if long { Side::Buy } else { Side::Sell };
            let spec = MonitorSpec {
                stop_loss: Some(Level::Percent(dec!(5))),
                take_profit: Some(Level::Percent(dec!(5))),
                trailing: Some(Trailing { offset: TrailingOffset::Percent(dec!(3)), activation: None }),
                break_even: Some(BreakEven { after: Level::Amount(dec!(2)), plus_fees: true }),
                max_holding_nanos: Some(100 * 1_000_000_000),
            };
            let mut set = armed(side, dec!(100), spec);
            let p = PositionId(1);
            let a = sym("AAA");
            let mut working = false;
            for (i, op) in ops.into_iter().enumerate() {
                let ts = t(i as i64);
                let exits = match op {
                    Op::Bar(o, h, l) => set.on_bar(&a, &bar(i as i64, o, h, l)),
                    Op::Tick(x) => set.on_price(&a, x, ts),
                    Op::Clock(s) => set.on_clock(t(s)),
                    Op::Kill => set.kill_all(ts),
                    Op::Manual => set.request_exit(p, ExitReason::Manual, ts).unwrap().into_iter().collect(),
                    Op::Finished => {
                        if working {
                            set.exit_finished(p, false).unwrap();
                            working = false;
                        }
                        Vec::new()
                    }
                };
                prop_assert!(exits.len() <= 1);
                if let Some(x) = exits.first() {
                    prop_assert!(!working, "second exit {:?} while one is working", x.reason);
                    prop_assert_eq!(x.side, side.opposite());
                    prop_assert_eq!(x.qty, dec!(10));
                    working = true;
                }
                prop_assert_eq!(set.get(p).unwrap().state.working.is_some(), working);
            }
        }
    }
}

mod watch_equivalence {
    use super::*;
    use proptest::prelude::*;

    /// (long, entry cents, stop %, target %, trail % or amount, break-even %).
    type Arm = (bool, i64, i64, i64, Option<(bool, i64)>, Option<i64>);

    fn arm() -> impl Strategy<Value = Arm> {
        (
            any::<bool>(),
            9_000i64..11_000,
            1i64..20,
            1i64..20,
            proptest::option::of((any::<bool>(), 1i64..15)),
            proptest::option::of(1i64..10),
        )
    }

    fn spec(a: &Arm) -> MonitorSpec {
        let (_, _, sl, tp, trail, be) = *a;
        MonitorSpec {
            stop_loss: Some(Level::Percent(Decimal::from(sl))),
            take_profit: Some(Level::Percent(Decimal::from(tp))),
            trailing: trail.map(|(pct, v)| Trailing {
                offset: if pct {
                    TrailingOffset::Percent(Decimal::from(v))
                } else {
                    TrailingOffset::Amount(Decimal::from(v))
                },
                activation: None,
            }),
            break_even: be.map(|b| BreakEven { after: Level::Percent(Decimal::from(b)), plus_fees: true }),
            max_holding_nanos: None,
        }
    }

    proptest! {
        /// Skipping quiet events (and keeping the watch when a scan changed nothing) gives
        /// the same exits and the same monitor states as scanning every monitor on every event.
        #[test]
        fn prop_watch_skips_nothing_a_full_scan_would_see(
            arms in proptest::collection::vec(arm(), 1..12),
            events in proptest::collection::vec((8_000i64..12_000, 0i64..300, 0i64..300, any::<bool>()), 1..80),
        ) {
            let mut fast = MonitorSet::new();
            let mut full = MonitorSet::new();
            for (i, a) in arms.iter().enumerate() {
                let side = if a.0 { Side::Buy } else { Side::Sell };
                let entry = Decimal::new(a.1, 2);
                for set in [&mut fast, &mut full] {
                    set.arm(key("AAA"), PositionId(i as u64 + 1), side, dec!(10), entry, dec!(2), t(0), spec(a)).unwrap();
                }
            }
            for (n, (o, up, down, is_bar)) in events.into_iter().enumerate() {
                let o = Decimal::new(o, 2);
                full.forget_watches();
                let (a, b) = if is_bar {
                    let b = bar(n as i64 + 1, o, o + Decimal::new(up, 2), o - Decimal::new(down, 2));
                    (fast.on_bar(&sym("AAA"), &b), full.on_bar(&sym("AAA"), &b))
                } else {
                    (fast.on_price(&sym("AAA"), o, t(n as i64 + 1)), full.on_price(&sym("AAA"), o, t(n as i64 + 1)))
                };
                prop_assert_eq!(&a, &b, "event {}", n);
                prop_assert_eq!(fast.export(), full.export(), "event {}", n);
                // Exits end unfilled half the time, so monitors fire again later.
                for x in &a {
                    if n % 2 == 0 {
                        fast.exit_finished(x.position_id, false).unwrap();
                        full.exit_finished(x.position_id, false).unwrap();
                    }
                }
            }
        }
    }
}

mod hot_path_equivalence {
    use super::*;
    use proptest::prelude::*;

    /// (long, entry in 0.0001, qty, spec choices: stop, target, trail, activation, break-even).
    type Arm = (bool, i64, usize, (usize, usize, usize, Option<i64>, Option<usize>));

    const QTYS: [i64; 3] = [1, 3, 7];
    /// Offsets few enough that positions share groups; some give stop prices with more
    /// than 18 fractional digits (keys that cannot decide).
    fn offset(n: usize) -> TrailingOffset {
        [
            TrailingOffset::Percent(dec!(15)),
            TrailingOffset::Percent(dec!(15.0)),
            TrailingOffset::Percent(dec!(0.333)),
            TrailingOffset::Percent(Decimal::ONE / Decimal::from(7)),
            TrailingOffset::Amount(dec!(0.75)),
            TrailingOffset::Amount(dec!(2)),
        ][n % 6]
    }

    fn arm() -> impl Strategy<Value = Arm> {
        (
            any::<bool>(),
            900_000i64..1_100_000,
            0usize..3,
            (0usize..4, 0usize..4, 0usize..7, proptest::option::of(1i64..50_000), proptest::option::of(0usize..3)),
        )
    }

    fn spec(a: &Arm) -> MonitorSpec {
        let (_, _, _, (sl, tp, trail, activation, be)) = *a;
        let pct = [dec!(1), dec!(2.5), dec!(7), dec!(12)];
        MonitorSpec {
            stop_loss: (sl < 3).then(|| Level::Percent(pct[sl])),
            take_profit: (tp < 3).then(|| Level::Percent(pct[tp + 1])),
            trailing: (trail < 6).then(|| Trailing {
                offset: offset(trail),
                // On the 0.25 grid half the time (a trail that starts below the stop-loss
                // and ratchets onto it exactly).
                activation: activation.map(|c| {
                    Level::Amount(if c % 2 == 0 { Decimal::new((c % 16 + 1) * 25, 2) } else { Decimal::new(c, 4) })
                }),
            }),
            break_even: be.map(|b| BreakEven { after: Level::Percent(pct[b]), plus_fees: b != 0 }),
            max_holding_nanos: None,
        }
    }

    /// A price from a walk value in 0.0001: sometimes written with more digits, sometimes
    /// nudged by 10^-22 (a key that cannot decide).
    fn price(v: i64, form: u8) -> Decimal {
        let v = Decimal::new(v.max(1), 4);
        match form % 4 {
            0 => v,
            1 => v.round_dp(2),
            2 => Decimal::from_i128_with_scale(v.mantissa() * 1_000_000, v.scale() + 6),
            _ => v + Decimal::from_i128_with_scale(1, 22),
        }
    }

    /// (step in 0.0001, up, down, bar?, price form, finish exits?)
    type Event = (i64, i64, i64, bool, u8, bool);

    /// Fine steps, or steps of 0.25 that land on levels exactly (ties between a price and a
    /// level, or between a trigger and a stop, with whole entries and amount offsets).
    fn event() -> impl Strategy<Value = Event> {
        let fine = (-3_000i64..3_500, 0i64..4_000, 0i64..4_000);
        let coarse = (-4i64..5, 0i64..5, 0i64..5).prop_map(|(s, u, d)| (s * 2_500, u * 2_500, d * 2_500));
        (prop_oneof![fine, coarse], any::<bool>(), any::<u8>(), any::<bool>())
            .prop_map(|((s, u, d), bar, form, finish)| (s, u, d, bar, form, finish))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// The fused key pass (watch, fast ratchet, fallbacks) gives the same exits, the same
        /// exported states and the same changes as the plain per-monitor rules on decimals.
        #[test]
        fn prop_hot_path_matches_the_reference(
            arms in proptest::collection::vec(arm(), 1..24),
            start in (95i64..105).prop_map(|s| s * 10_000),
            events in proptest::collection::vec(event(), 1..60),
        ) {
            let mut fast = MonitorSet::new();
            let mut reference = MonitorSet::new();
            for (i, a) in arms.iter().enumerate() {
                let side = if a.0 { Side::Buy } else { Side::Sell };
                // Whole entries half the time (levels on a coarse grid).
                let entry = if a.1 % 2 == 0 { Decimal::new(a.1 / 10_000, 0) } else { Decimal::new(a.1, 4) };
                let qty = Decimal::from(QTYS[a.2]);
                for set in [&mut fast, &mut reference] {
                    // A spec that does not fit the entry is refused by both alike.
                    let _ = set.arm(key("AAA"), PositionId(i as u64 + 1), side, qty, entry, dec!(2), t(0), spec(a));
                }
            }
            prop_assert_eq!(fast.take_changes(), reference.take_changes());
            let a = sym("AAA");
            let mut v = start;
            for (n, (step, up, down, is_bar, form, finish)) in events.into_iter().enumerate() {
                v += step;
                let ts = t(n as i64 + 1);
                let px = if is_bar {
                    Px { open: price(v, form), high: price(v + up, form / 4), low: price(v - down, form / 16) }
                } else {
                    Px::flat(price(v, form))
                };
                let got = if is_bar {
                    fast.on_bar(&a, &Bar { ts, open: px.open, high: px.high, low: px.low, close: px.open, volume: Decimal::ZERO })
                } else {
                    fast.on_price(&a, px.open, ts)
                };
                let want = reference.on_event_reference(&a, px, px.open, ts);
                prop_assert_eq!(&got, &want, "event {}", n);
                for pid in 1..=arms.len() as u64 {
                    let p = PositionId(pid);
                    prop_assert_eq!(fast.stop_level(p), reference.stop_level(p), "stop of {} at event {}", pid, n);
                }
                let (f, r) = (fast.export(), reference.export());
                // Same values and the same representation (scale included).
                prop_assert_eq!(serde_json::to_string(&f).unwrap(), serde_json::to_string(&r).unwrap(), "event {}", n);
                prop_assert_eq!(fast.take_changes(), reference.take_changes(), "event {}", n);
                if finish {
                    for x in &got {
                        fast.exit_finished(x.position_id, false).unwrap();
                        reference.exit_finished(x.position_id, false).unwrap();
                    }
                }
            }
        }
    }
}
