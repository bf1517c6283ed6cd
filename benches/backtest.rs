//! Backtest end to end (issue 5): N one-minute bars of one symbol in a CSV file, the shipped
//! `sma_cross.lua`, in memory: load + run (engine, risk, monitors, simulated venue) + report
//! files. Compared in the same run on the same file with a plain-Rust SMA crossover loop that
//! reads the same file with the same loader (the floor). Peak memory is the process's VmHWM.
//!
//! `cargo bench --bench backtest` (BENCH_BARS=10000000 for the memory figure).

mod common;
use common::thread_cpu;

use luatrade::backtest::{run, BacktestConfig};
use luatrade::data::{self, DataSpec, LoadOptions, MarketEvent};
use rust_decimal::prelude::ToPrimitive;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

/// Writes `n` one-minute bars of a deterministic random walk (xorshift) around 100.
fn write_bars(path: &Path, n: usize) {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path).expect("create data file"));
    writeln!(w, "timestamp,open,high,low,close,volume").expect("write");
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut cents: i64 = 10_000;
    let start = 1_640_995_200i64; // 2022-01-01T00:00:00Z
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let step = (x % 21) as i64 - 10; // −10..=10 cents
        let open = cents;
        let close = (cents + step).max(100);
        let high = open.max(close) + (x >> 8) as i64 % 5;
        let low = (open.min(close) - (x >> 16) as i64 % 5).max(50);
        let vol = 100 + (x >> 24) % 900;
        writeln!(
            w,
            "{},{}.{:02},{}.{:02},{}.{:02},{}.{:02},{vol}",
            start + 60 * i as i64,
            open / 100,
            open % 100,
            high / 100,
            high % 100,
            low / 100,
            low % 100,
            close / 100,
            close % 100
        )
        .expect("write");
        cents = close;
    }
    w.flush().expect("flush");
}

/// The floor: the same file through the same loader, an f64 SMA(10)/SMA(30) crossover, and
/// a position flag. Returns (bars, crossings) so the work cannot be optimised away.
fn plain_rust_sma(path: &Path) -> (u64, u64) {
    let spec: DataSpec = format!("SYN={}", path.display()).parse().expect("spec");
    let mut stream =
        data::MergedStream::new(vec![data::open(&spec, &LoadOptions::default()).expect("open")]).expect("merge");
    let (fast_n, slow_n) = (10usize, 30usize);
    let mut window = std::collections::VecDeque::with_capacity(slow_n + 1);
    let (mut fast_sum, mut slow_sum) = (0.0f64, 0.0f64);
    let (mut prev, mut long, mut bars, mut crossings) = (None::<f64>, false, 0u64, 0u64);
    while let Some(ev) = stream.next_event().expect("event") {
        let MarketEvent::Bar(_, bar) = ev else { continue };
        bars += 1;
        let c = bar.close.to_f64().unwrap_or(0.0);
        window.push_back(c);
        fast_sum += c;
        slow_sum += c;
        if window.len() > fast_n {
            fast_sum -= window[window.len() - 1 - fast_n];
        }
        if window.len() > slow_n {
            slow_sum -= window.pop_front().unwrap_or(0.0);
        }
        if window.len() < slow_n {
            continue;
        }
        let diff = fast_sum / fast_n as f64 - slow_sum / slow_n as f64;
        if let Some(p) = prev {
            if p <= 0.0 && diff > 0.0 && !long {
                long = true;
                crossings += 1;
            } else if p >= 0.0 && diff < 0.0 && long {
                long = false;
                crossings += 1;
            }
        }
        prev = Some(diff);
    }
    (bars, crossings)
}

/// ` (cpu N bars/s)`: the rate in CPU time of this thread, when it can be read.
fn cpu_rate(bars: u64, cpu: std::time::Duration) -> String {
    if cpu.is_zero() {
        return String::new();
    }
    format!(" (cpu {:.0} bars/s)", bars as f64 / cpu.as_secs_f64())
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let n = common::env_usize("BENCH_BARS", 1_000_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_path = dir.path().join("syn_1m.csv");
    write_bars(&data_path, n);
    let size = std::fs::metadata(&data_path).map(|m| m.len()).unwrap_or(0);
    println!(
        "{n} one-minute bars, {:.1} MB CSV; peak RSS after writing: {:.1} MiB",
        size as f64 / 1e6,
        peak_rss_mib().unwrap_or(0.0)
    );

    let (t, c) = (Instant::now(), thread_cpu());
    let (bars, crossings) = if std::env::var("BENCH_ONLY").is_ok() { (1, 0) } else { plain_rust_sma(&data_path) };
    let (floor, floor_cpu) = (t.elapsed(), thread_cpu() - c);
    let floor_rate = bars as f64 / floor.as_secs_f64();
    println!(
        "plain Rust SMA loop (same loader):   {bars} bars, {crossings} crossings, {floor:.2?}, {floor_rate:>12.0} bars/s{}",
        cpu_rate(bars, floor_cpu)
    );

    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let noop = dir.path().join("noop.lua");
    std::fs::write(&noop, "return { on_bar = function(ctx, bar) end }").expect("write noop strategy");
    let spec: DataSpec = format!("SYN={}", data_path.display()).parse().expect("spec");
    if only != "sma" {
        let (t, c) = (Instant::now(), thread_cpu());
        let outcome = run(&BacktestConfig::new(vec![spec], noop)).expect("backtest");
        let (noop_total, noop_cpu) = (t.elapsed(), thread_cpu() - c);
        println!(
            "luatrade backtest, no-op on_bar:      {} bars, {noop_total:.2?}, {:>12.0} bars/s{} (load + engine + Lua call)",
            outcome.events,
            outcome.events as f64 / noop_total.as_secs_f64(),
            cpu_rate(outcome.events, noop_cpu)
        );
    }
    if only == "noop" {
        return;
    }
    let strategy = std::env::var("BENCH_STRATEGY")
        .map_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("strategies/sma_cross.lua"), Into::into);
    let spec: DataSpec = format!("SYN={}", data_path.display()).parse().expect("spec");
    let config = BacktestConfig::new(vec![spec], strategy);
    let out_dir = dir.path().join("report");
    let (t, c) = (Instant::now(), thread_cpu());
    let outcome = run(&config).expect("backtest");
    outcome.report.write_files(&out_dir).expect("report files");
    let (total, cpu) = (t.elapsed(), thread_cpu() - c);
    let rate = outcome.events as f64 / total.as_secs_f64();
    println!(
        "luatrade backtest sma_cross.lua:      {} bars, {total:.2?} (run {:.2?}), {rate:>12.0} bars/s{} end to end (load + run + report)",
        outcome.events,
        outcome.elapsed,
        cpu_rate(outcome.events, cpu)
    );
    let (trades, exposed) = (outcome.report.metric("trades"), outcome.report.metric("exposure_time"));
    println!(
        "  {} round trips, in the market {:.0} % of the time; risk rejections {}",
        trades.unwrap_or(0.0),
        exposed.unwrap_or(0.0) * 100.0,
        outcome.report.extra.get("risk_rejections").map_or_else(String::new, ToString::to_string)
    );
    println!("ratio plain loop / luatrade: {:.1}x; fingerprint {}", floor_rate / rate, outcome.report.fingerprint());
    if let Some(m) = peak_rss_mib() {
        println!("peak RSS (VmHWM) of the whole bench process: {m:.1} MiB");
    }
}
