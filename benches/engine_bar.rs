//! The engine's own cost per backtest bar: `Engine::on_market` with a one-minute bar of one
//! symbol (send, monitors, mark, venue matching, apply, risk evaluation, protection, flush),
//! in memory as a backtest runs it, with no strategy.
//!
//! `cargo bench --bench engine_bar` prints ns/bar (mean over all bars of a pass; the median
//! of `BENCH_PASSES` passes, default 5) for three cases over `BENCH_BARS` bars (default
//! 1,000,000), in CPU time of the benchmark thread (from `/proc/thread-self/schedstat`, so a
//! loaded machine's preemption does not count) and in wall time:
//! - flat: no orders, no positions;
//! - one open position with a stop-loss and a trailing-stop monitor;
//! - one working limit order below the market (inside the price collar) that never fills.
//!
//! Prices wander inside a ±1 % band so nothing triggers and nothing fills after set-up; the
//! bench asserts that (fills and open orders) so a case cannot silently turn into another.

mod common;
use common::{env_usize, percentile, thread_cpu};

use luatrade::data::{Bar, MarketEvent};
use luatrade::engine::{Engine, NoJournal};
use luatrade::model::{
    AccountId, Currency, Instrument, OrderRequest, Side, StrategyId, Symbol, Timestamp, TrailingOffset,
};
use luatrade::monitor::{Level, MonitorSpec, Trailing};
use luatrade::oms::{Oms, OmsConfig};
use luatrade::risk::{RiskConfig, RiskEngine};
use luatrade::venue::sim::{SimConfig, SimVenue};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

const MINUTE: i64 = 60_000_000_000;
/// Distinct bars cycled through (their timestamps are rewritten as the run goes).
const RING: usize = 4_096;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Case {
    Flat,
    Position,
    RestingLimit,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Self::Flat => "flat, no orders",
            Self::Position => "one position, stop + trailing monitor",
            Self::RestingLimit => "one resting limit order (never fills)",
        }
    }
}

/// A bar around 100.00: the close steps through a ±1.00 zigzag, high/low 0.05 beyond it.
fn bar(symbol: &Symbol, i: usize) -> MarketEvent {
    let step = (i % 40) as i64;
    let close = 10_000 + if step < 20 { step * 5 - 50 } else { 150 - step * 5 };
    let open = close - 2;
    let c = |cents: i64| Decimal::new(cents, 2);
    MarketEvent::Bar(
        symbol.clone(),
        Bar {
            ts: Timestamp(0),
            open: c(open),
            high: c(close.max(open) + 5),
            low: c(close.min(open) - 5),
            close: c(close),
            volume: Decimal::new(1_000_000, 0),
        },
    )
}

fn set_ts(event: &mut MarketEvent, ts: Timestamp) {
    if let MarketEvent::Bar(_, b) = event {
        b.ts = ts;
    }
}

fn engine(case: Case, ring: &mut [MarketEvent], symbol: &Symbol) -> Engine<SimVenue, NoJournal> {
    let instruments: luatrade::model::Instruments = [Instrument::us_stock(symbol.as_str())].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::in_memory_backtest());
    let account = AccountId::try_new("bench").expect("id");
    oms.deposit(&account, &Currency::try_new("USD").expect("ccy"), Decimal::new(1_000_000, 0));
    let venue = SimVenue::new(SimConfig::default(), instruments);
    let risk = RiskEngine::new(RiskConfig { market_hours: false, ..RiskConfig::default() }).expect("risk");
    let mut eng = Engine::new(oms, risk, venue, NoJournal);
    let strategy = StrategyId::try_new("bench").expect("id");
    set_ts(&mut ring[0], Timestamp::from_secs(1_700_000_000));
    eng.on_market(&ring[0]).expect("first bar");
    let qty = Decimal::TEN;
    match case {
        Case::Flat => {}
        Case::Position => {
            let spec = MonitorSpec {
                stop_loss: Some(Level::Percent(Decimal::new(5, 0))),
                trailing: Some(Trailing { offset: TrailingOffset::Percent(Decimal::new(3, 0)), activation: None }),
                ..MonitorSpec::default()
            };
            let req = OrderRequest::market(account, strategy, symbol.clone(), Side::Buy, qty);
            eng.submit_protected(&req, spec).expect("submit").accepted().expect("accepted");
        }
        Case::RestingLimit => {
            let req = OrderRequest::limit(account, strategy, symbol.clone(), Side::Buy, qty, Decimal::new(96, 0));
            eng.submit(&req).expect("submit").accepted().expect("accepted");
        }
    }
    set_ts(&mut ring[1], Timestamp::from_secs(1_700_000_060));
    eng.on_market(&ring[1]).expect("second bar");
    eng
}

/// One pass: a fresh engine, then `bars` bars; returns the (CPU, wall) time the bars took.
fn pass(case: Case, bars: usize, symbol: &Symbol, ring: &mut [MarketEvent]) -> (Duration, Duration) {
    let mut eng = engine(case, ring, symbol);
    let fills = eng.stats().fills;
    let t0 = Timestamp::from_secs(1_700_000_120);
    let cpu = thread_cpu();
    let start = Instant::now();
    for n in 0..bars {
        let ev = &mut ring[n % RING];
        set_ts(ev, t0.plus_nanos(n as i64 * MINUTE));
        eng.on_market(ev).expect("bar");
    }
    let elapsed = start.elapsed();
    let cpu = thread_cpu().saturating_sub(cpu);
    let stats = eng.stats();
    assert_eq!(stats.fills, fills, "{}: nothing may fill during the run", case.name());
    let open = eng.oms().open_orders().count();
    let positions = eng.monitors().len();
    match case {
        Case::Flat => assert_eq!((open, positions), (0, 0)),
        Case::Position => assert_eq!((open, positions), (0, 1), "the position and its monitor stay"),
        Case::RestingLimit => assert_eq!((open, positions), (1, 0), "the limit order keeps working"),
    }
    (cpu, elapsed)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let bars = env_usize("BENCH_BARS", 1_000_000);
    let passes = env_usize("BENCH_PASSES", 5).max(1);
    let symbol = Symbol::try_new("BENCH").expect("id");
    let mut ring: Vec<MarketEvent> = (0..RING).map(|i| bar(&symbol, i)).collect();
    println!("engine_bar: Engine::on_market per one-minute bar, {bars} bars, median of {passes} passes");
    let ns_per_bar = |d: Duration| d.as_secs_f64() * 1e9 / bars as f64;
    for case in [Case::Flat, Case::Position, Case::RestingLimit] {
        let (mut cpu, mut wall): (Vec<Duration>, Vec<Duration>) =
            (0..passes).map(|_| pass(case, bars, &symbol, &mut ring)).unzip();
        let shown = cpu.iter().map(|d| format!("{:.1}", ns_per_bar(*d))).collect::<Vec<_>>().join(" ");
        cpu.sort_unstable();
        wall.sort_unstable();
        let median = ns_per_bar(percentile(&cpu, 0.5));
        println!(
            "{:<40} cpu {median:>7.1} ns/bar  {:>6.2} M bars/s  wall {:>7.1} ns/bar  (cpu passes: {shown})",
            case.name(),
            1e3 / median,
            ns_per_bar(percentile(&wall, 0.5)),
        );
    }
}
