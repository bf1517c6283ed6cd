//! Cost of feeding the report recorder on the hot path and of building the report.
//!
//! `cargo bench --bench report_build` feeds N one-minute events (default 10,000,000), each one
//! `on_price` and one `on_equity`, with a round trip every 1,000 events, then calls `finish()`
//! and prints ns per call, the finish time and the process's peak resident memory.
//!
//! Environment: `BENCH_EVENTS` (default 10,000,000).

#[allow(dead_code, reason = "this harness uses only the env helper")]
mod common;
use common::env_usize;

use luatrade::model::{
    AccountId, ClientOrderId, Currency, Fill, Liquidity, PositionId, Side, StrategyId, Symbol, Timestamp, Trade,
    TradeId, TradeKind,
};
use luatrade::report::{Recorder, RecorderConfig};
use rust_decimal::Decimal;
use std::hint::black_box;
use std::time::Instant;

fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn main() {
    let n = env_usize("BENCH_EVENTS", 10_000_000);
    let symbol = Symbol::try_new("BTCUSDT").expect("symbol");
    let strategy = StrategyId::try_new("sma_cross").expect("strategy");
    let account = AccountId::try_new("main").expect("account");
    let usd = Currency::try_new("USDT").expect("currency");
    let mut rec = Recorder::new(RecorderConfig::new(Decimal::from(100_000), usd.clone()));
    let t0 = Timestamp::from_secs(1_600_000_000);
    // Prices and equities precomputed so the loop times the recorder, not Decimal arithmetic.
    let prices: Vec<Decimal> =
        (0..1024i64).map(|i| Decimal::new(3_000_000 + (i * 7919) % 20_000 - 10_000, 2)).collect();
    let equities: Vec<Decimal> =
        (0..1024i64).map(|i| Decimal::new(10_000_000 + (i * 104_729) % 400_000 - 200_000, 2)).collect();
    let exposure = Decimal::new(3_000_000, 2);

    let mut trades = 0u64;
    let start = Instant::now();
    for i in 0..n {
        let ts = t0.plus_secs(60 * i as i64);
        let k = i & 1023;
        rec.on_price(&symbol, ts, prices[k]);
        rec.on_equity(ts, equities[k], if (i / 1000) % 2 == 0 { exposure } else { Decimal::ZERO });
        if i % 1000 == 999 {
            trades += 1;
            let side = if (i / 1000) % 2 == 0 { Side::Buy } else { Side::Sell };
            let kind = if side == Side::Buy { TradeKind::Entry } else { TradeKind::Exit };
            let fill = Fill {
                trade_id: TradeId::try_new(format!("t{i}")).expect("id"),
                cid: ClientOrderId::try_new(format!("c{i}")).expect("cid"),
                symbol: symbol.clone(),
                side,
                qty: Decimal::ONE,
                price: prices[k],
                fee: Decimal::new(3, 2),
                fee_currency: usd.clone(),
                liquidity: Liquidity::Taker,
                ts,
            };
            let trade = Trade {
                trade_id: fill.trade_id.clone(),
                cid: fill.cid.clone(),
                strategy_id: strategy.clone(),
                account: account.clone(),
                symbol: symbol.clone(),
                side,
                qty: fill.qty,
                price: fill.price,
                fee: fill.fee,
                kind,
                position_id: PositionId(i as u64 / 2000),
                opened_position_id: None,
                realized_pnl: if kind == TradeKind::Exit { Decimal::new(150, 2) } else { Decimal::ZERO },
                ts,
            };
            rec.on_fill(&fill, &strategy, None);
            rec.on_trade(&trade, None);
        }
    }
    let feed = start.elapsed();
    let start = Instant::now();
    let report = rec.finish(t0.plus_secs(60 * n as i64));
    let finish = start.elapsed();
    black_box(&report);
    let calls = 2.0 * n as f64;
    println!("report_build: {n} events ({calls} on_price + on_equity calls), {trades} fills/bookings");
    println!(
        "  feed:   {:.3} s total, {:.2} ns per call (on_price or on_equity, amortised incl. fills)",
        feed.as_secs_f64(),
        feed.as_nanos() as f64 / calls
    );
    println!(
        "  finish: {:.3} ms ({} curve points, {} round trips)",
        finish.as_secs_f64() * 1e3,
        report.equity_curve.len(),
        report.round_trips.len()
    );
    if let Some(mb) = peak_rss_mb() {
        println!("  peak RSS: {mb:.1} MB");
    }
}
