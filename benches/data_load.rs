//! Loader throughput: rows per second for a 1,000,000-row 1-minute OHLCV file read as generic
//! CSV (ISO timestamps, with header), as generic CSV with epoch seconds (the layout
//! `benches/backtest.rs` writes), as Binance klines (epoch ms, 12 columns), through a
//! one-input merge, and as the merged stream of two files.
//!
//! `cargo bench --bench data_load`. Each line gives wall time and, on Linux, the thread's CPU
//! time (`cpu`), which is the figure to compare on a shared machine. Environment: `BENCH_ROWS` (default 1,000,000),
//! `BENCH_RUNS` (default 3; the best run is reported). Files are generated in a temp dir with
//! prices that walk like a real 1-minute series (5 significant decimals).

#[allow(dead_code, reason = "this harness reports throughput, not percentiles")]
mod common;
use common::{env_usize, thread_cpu};

use luatrade::data::{open, DataFormat, DataSpec, EventSource, LoadOptions, MergedStream};
use luatrade::model::Symbol;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

const START: i64 = 1_640_995_200; // 2022-01-01T00:00:00Z

fn civil(secs: i64) -> String {
    luatrade::model::Timestamp::from_secs(secs).to_datetime().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// How the generated file stamps its rows.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Generic CSV with a header, ISO-8601 times.
    Iso,
    /// Generic CSV with a header, epoch seconds.
    EpochSecs,
    /// Binance klines (no header, epoch ms, 12 columns).
    Kline,
}

/// Writes `rows` bars in `layout`.
fn generate(path: &Path, rows: usize, layout: Layout, seed: u64) {
    let kline = layout == Layout::Kline;
    let mut out = String::with_capacity(rows * 110);
    if !kline {
        out.push_str("timestamp,open,high,low,close,volume\n");
    }
    let mut state = seed;
    let mut price: i64 = 4_600_000; // 46000.00 in cents
    for i in 0..rows {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        let step = ((state >> 33) % 2001) as i64 - 1000;
        let open = price;
        let close = (price + step).max(100_000);
        let high = open.max(close) + ((state >> 20) % 500) as i64;
        let low = open.min(close) - ((state >> 10) % 500) as i64;
        let vol = (state >> 40) % 100_000_000;
        let ts = START + i as i64 * 60;
        let p = |c: i64| format!("{}.{:02}", c / 100, c % 100);
        if kline {
            let ms = ts * 1000;
            let _ = writeln!(
                out,
                "{ms},{},{},{},{},{}.{:04},{},0,0,0,0,0",
                p(open),
                p(high),
                p(low),
                p(close),
                vol / 10_000,
                vol % 10_000,
                ms + 59_999
            );
        } else {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{}.{:04}",
                if layout == Layout::Iso { civil(ts) } else { ts.to_string() },
                p(open),
                p(high),
                p(low),
                p(close),
                vol / 10_000,
                vol % 10_000
            );
        }
        price = close;
    }
    std::fs::write(path, out).expect("write bench file");
}

fn spec(path: &Path, sym: &str, format: DataFormat) -> DataSpec {
    DataSpec::new(path).with_symbol(Symbol::try_new(sym).expect("symbol")).with_format(format)
}

fn drain(source: &mut dyn EventSource) -> u64 {
    let mut n = 0;
    while let Some(e) = source.next_event().expect("bench data is clean") {
        black_box(&e);
        n += 1;
    }
    n
}

/// Rows, best wall seconds and best CPU seconds over `runs` runs.
fn best<F: FnMut() -> u64>(runs: usize, mut f: F) -> (u64, f64, Option<f64>) {
    let (mut wall, mut cpu) = (f64::MAX, None::<f64>);
    let mut n = 0;
    for _ in 0..runs {
        let c = thread_cpu();
        let t = Instant::now();
        n = f();
        wall = wall.min(t.elapsed().as_secs_f64());
        // Zero where the thread's CPU time cannot be read: then only wall time is shown.
        if !c.is_zero() {
            let secs = (thread_cpu() - c).as_secs_f64();
            cpu = Some(cpu.map_or(secs, |c| c.min(secs)));
        }
    }
    (n, wall, cpu)
}

fn line(name: &str, bytes: u64, (n, secs, cpu): (u64, f64, Option<f64>)) {
    let cpu = cpu.map_or_else(String::new, |c| {
        format!("  cpu {:>6.2} M rows/s  {:>6.0} ns/row", n as f64 / c / 1e6, c * 1e9 / n as f64)
    });
    println!(
        "{name:<28} {n:>9} rows  {:>8.1} ms  {:>6.2} M rows/s  {:>6.0} ns/row  {:>6.0} MB/s{cpu}",
        secs * 1e3,
        n as f64 / secs / 1e6,
        secs * 1e9 / n as f64,
        bytes as f64 / secs / 1e6
    );
}

fn main() {
    let rows = env_usize("BENCH_ROWS", 1_000_000);
    let runs = env_usize("BENCH_RUNS", 3);
    let dir = tempfile::tempdir().expect("temp dir");
    let csv: PathBuf = dir.path().join("a_1m.csv");
    let csv2: PathBuf = dir.path().join("b_1m.csv");
    let epoch: PathBuf = dir.path().join("a_1m_epoch.csv");
    let kline: PathBuf = dir.path().join("a_1m_kline.csv");
    generate(&csv, rows, Layout::Iso, 1);
    generate(&csv2, rows, Layout::Iso, 2);
    generate(&epoch, rows, Layout::EpochSecs, 1);
    generate(&kline, rows, Layout::Kline, 1);
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let opts = LoadOptions::default();
    println!("data_load: {rows} rows per file, best of {runs}");

    let r = best(runs, || drain(open(&spec(&csv, "A", DataFormat::Auto), &opts).expect("open").as_mut()));
    assert_eq!(r.0, rows as u64);
    line("generic csv (iso ts)", size(&csv), r);

    let r = best(runs, || drain(open(&spec(&epoch, "A", DataFormat::Auto), &opts).expect("open").as_mut()));
    assert_eq!(r.0, rows as u64);
    line("generic csv (epoch s)", size(&epoch), r);

    let r = best(runs, || drain(open(&spec(&kline, "A", DataFormat::Auto), &opts).expect("open").as_mut()));
    assert_eq!(r.0, rows as u64);
    line("binance kline (epoch ms)", size(&kline), r);

    let r = best(runs, || {
        let mut m =
            MergedStream::new(vec![open(&spec(&csv, "A", DataFormat::Auto), &opts).expect("open")]).expect("merge");
        let mut n = 0;
        while let Some(e) = m.next_event().expect("clean") {
            black_box(&e);
            n += 1;
        }
        n
    });
    assert_eq!(r.0, rows as u64);
    line("merged 1 x generic csv", size(&csv), r);

    let r = best(runs, || {
        let sources = vec![
            open(&spec(&csv, "A", DataFormat::Auto), &opts).expect("open"),
            open(&spec(&csv2, "B", DataFormat::Auto), &opts).expect("open"),
        ];
        let mut m = MergedStream::new(sources).expect("merge");
        let mut n = 0;
        while let Some(e) = m.next_event().expect("clean") {
            black_box(&e);
            n += 1;
        }
        n
    });
    assert_eq!(r.0, 2 * rows as u64);
    line("merged 2 x generic csv", size(&csv) + size(&csv2), r);
}
