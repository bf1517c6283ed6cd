//! Monitor evaluation: one price update against 10,000 open positions.
//!
//! `cargo bench --bench monitor_eval` prints latency percentiles of `MonitorSet::on_price` /
//! `on_bar` for one update, in two layouts:
//! - spread: 10,000 positions over 100 symbols (100 per symbol; an update touches one symbol);
//! - worst case: all 10,000 on the one symbol that updates.
//!
//! Every position carries a stop-loss, a take-profit, a percent trailing stop and a break-even,
//! half long and half short. Prices walk up and down inside the stops' range, so the trails
//! keep ratcheting (the expensive path) and nothing exits. Environment: `BENCH_POSITIONS`
//! (default 10,000), `BENCH_UPDATES` (default 2,000).

mod common;
use common::{env_usize, percentile};

use luatrade::data::Bar;
use luatrade::model::{AccountId, PositionId, Side, Symbol, Timestamp, TrailingOffset};
use luatrade::monitor::{BreakEven, Level, MonitorSet, MonitorSpec, PositionKey, Trailing};
use rust_decimal::Decimal;
use std::time::Instant;

fn build(positions: usize, symbols: &[Symbol]) -> MonitorSet {
    let account = AccountId::try_new("bench").expect("id");
    let spec = MonitorSpec {
        stop_loss: Some(Level::Percent(Decimal::new(20, 0))),
        take_profit: Some(Level::Percent(Decimal::new(20, 0))),
        trailing: Some(Trailing { offset: TrailingOffset::Percent(Decimal::new(15, 0)), activation: None }),
        break_even: Some(BreakEven { after: Level::Percent(Decimal::new(10, 0)), plus_fees: true }),
        max_holding_nanos: Some(3_600 * 1_000_000_000),
    };
    let mut set = MonitorSet::new();
    for n in 0..positions {
        let symbol = symbols[n % symbols.len()].clone();
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        // Entries spread between 99.00 and 100.99.
        let entry = Decimal::new(9_900 + (n % 200) as i64, 2);
        set.arm(
            PositionKey { account: account.clone(), symbol },
            PositionId(n as u64 + 1),
            side,
            Decimal::ONE,
            entry,
            Decimal::new(1, 2),
            Timestamp(0),
            spec,
        )
        .expect("valid spec");
    }
    set
}

/// The price of update `i`: a zigzag between 95 and 105 (trails rarely move), or a trend up
/// by 0.005 an update from 95 (every long's trail ratchets on every update). Neither reaches
/// a stop, target or break-even level within 2,000 updates.
fn price(i: usize, trend: bool) -> Decimal {
    if trend {
        return Decimal::new(95_000 + 5 * i as i64, 3);
    }
    let step = (i % 200) as i64;
    let cents = if step < 100 { 9_500 + step * 10 } else { 10_500 - (step - 100) * 10 };
    Decimal::new(cents, 2)
}

struct Case<'a> {
    name: &'a str,
    symbol: &'a Symbol,
    touched: usize,
    bars: bool,
    trend: bool,
}

fn run(set: &mut MonitorSet, c: &Case<'_>, updates: usize) {
    let Case { name, symbol, touched, bars, trend } = *c;
    let mut lat = Vec::with_capacity(updates);
    let mut exits = 0usize;
    let start = Instant::now();
    for i in 0..updates {
        let p = price(i, trend);
        let ts = Timestamp::from_secs(1 + i as i64);
        let t0 = Instant::now();
        let out = if bars {
            let half = Decimal::new(50, 2);
            let bar = Bar { ts, open: p, high: p + half, low: p - half, close: p, volume: Decimal::ZERO };
            set.on_bar(symbol, &bar)
        } else {
            set.on_price(symbol, p, ts)
        };
        lat.push(t0.elapsed());
        exits += out.len();
    }
    let elapsed = start.elapsed();
    lat.sort_unstable();
    println!(
        "{name:<46} {touched:>6} positions/update  p50 {:>9.2?}  p99 {:>9.2?}  p99.9 {:>9.2?}  max {:>9.2?}  mean {:>9.2?}  exits {exits}",
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
        lat.last().copied().unwrap_or_default(),
        elapsed / updates as u32,
    );
    // Keep the changes list from growing across cases, as the engine's store would.
    let _ = set.take_changes();
}

fn main() {
    let positions = env_usize("BENCH_POSITIONS", 10_000);
    let updates = env_usize("BENCH_UPDATES", 2_000);
    println!("monitor_eval: {positions} open positions, {updates} updates per case");

    let spread: Vec<Symbol> = (0..100).map(|i| Symbol::try_new(format!("S{i:03}")).expect("id")).collect();
    let one = vec![Symbol::try_new("ONE").expect("id")];
    let per_symbol = positions.div_ceil(spread.len());
    for (layout, symbols, touched) in
        [("spread over 100 symbols", &spread, per_symbol), ("all on one symbol (worst case)", &one, positions)]
    {
        for (kind, bars) in [("tick", false), ("bar", true)] {
            for (path, trend) in [("zigzag", false), ("trend, trails ratchet", true)] {
                // A fresh set per case, so every case starts from the entries.
                let mut set = build(positions, symbols);
                let name = format!("{layout}, {kind}, {path}");
                let case = Case { name: &name, symbol: &symbols[0], touched, bars, trend };
                run(&mut set, &case, updates);
            }
        }
    }
}
