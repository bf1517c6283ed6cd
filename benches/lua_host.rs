//! Lua host throughput and reload latency, with sandbox, memory limit and instruction budget
//! all on (the defaults of `HostConfig`).
//!
//! Run: `cargo bench --bench lua_host`. Prints ns/bar and bars/s (median of 5 passes, in CPU
//! time of the bench thread, so preemption on a shared machine does not count) for a
//! no-op `on_bar` receiving a full bar and for the shipped `sma_cross.lua`, then the median
//! latency from a file-change event to the new code being active (debounce excluded).

mod common;
use common::thread_cpu;
use luatrade::data::Bar;
use luatrade::model::{Instrument, OrderRequest, StrategyId, Symbol, Timestamp};
use luatrade::strategy::{CheckRefusal, HostConfig, HostEvent, LuaStrategy, OpenOrder, StrategyHost, StrategyView};
use rust_decimal::Decimal;
use std::path::Path;
use std::time::{Duration, Instant};

struct View(Instrument);

impl StrategyView for View {
    fn position(&self, _: &StrategyId, _: &Symbol) -> (Decimal, Decimal) {
        (Decimal::ZERO, Decimal::ZERO)
    }
    fn cash(&self, _: &StrategyId) -> Decimal {
        Decimal::ONE_THOUSAND
    }
    fn equity(&self, _: &StrategyId) -> Decimal {
        Decimal::ONE_THOUSAND
    }
    fn open_orders(&self, _: &StrategyId) -> Vec<OpenOrder> {
        Vec::new()
    }
    fn instrument(&self, symbol: &Symbol) -> Option<Instrument> {
        (symbol == &self.0.symbol).then(|| self.0.clone())
    }
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(1_700_000_000)
    }
    fn check(&self, _: &OrderRequest) -> Result<(), CheckRefusal> {
        Ok(())
    }
}

/// 1M random-walk bars (deterministic xorshift), prices on a cent grid.
fn bars(n: usize) -> Vec<Bar> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut px: i64 = 10_000;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            px = (px + (x % 21) as i64 - 10).max(100);
            let c = Decimal::new(px, 2);
            Bar {
                ts: Timestamp::from_secs(60 * i as i64),
                open: c,
                high: c + Decimal::new(5, 2),
                low: c - Decimal::new(5, 2),
                close: c,
                volume: Decimal::from(1000),
            }
        })
        .collect()
}

fn measure(name: &str, s: &mut LuaStrategy, bars: &[Bar]) {
    let view = View(Instrument::us_stock("BENCH"));
    let sym = Symbol::try_new("BENCH").expect("symbol");
    let mut orders = 0usize;
    for b in &bars[..bars.len().min(50_000)] {
        orders += s.on_bar(&view, &sym, b).map(|c| c.len()).unwrap_or(0);
    }
    let mut ns = Vec::new();
    for _ in 0..common::env_usize("BENCH_PASSES", 5).max(1) {
        let t = thread_cpu();
        for b in bars {
            match s.on_bar(&view, &sym, b) {
                Ok(c) => orders += c.len(),
                Err(e) => panic!("{e}"),
            }
        }
        ns.push((thread_cpu() - t).as_nanos() as f64 / bars.len() as f64);
    }
    ns.sort_by(f64::total_cmp);
    let med = ns[ns.len() / 2];
    println!(
        "{name:<28} {med:7.1} ns/bar  {:6.2} M bars/s  (passes {:.1}..{:.1} ns; {orders} orders)",
        1e3 / med,
        ns[0],
        ns[ns.len() - 1]
    );
}

fn reload_latency() -> Duration {
    let dir = std::env::temp_dir().join(format!("luatrade-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("r.lua");
    let src = std::fs::read_to_string("strategies/sma_cross.lua").expect("sma_cross.lua");
    std::fs::write(&path, &src).expect("write");
    let cfg = HostConfig { reload_debounce: Duration::ZERO, ..HostConfig::default() };
    let mut host = StrategyHost::new(cfg);
    host.load_file(&path).expect("load");
    host.watch(&dir).expect("watch");
    let view = View(Instrument::us_stock("BENCH"));
    let mut lat = Vec::new();
    for k in 0..21 {
        std::fs::write(&path, format!("{src}\n-- edit {k}\n")).expect("write");
        let deadline = Instant::now() + Duration::from_secs(5);
        'wait: while Instant::now() < deadline {
            host.poll_reload(&view);
            for e in host.take_events() {
                if let HostEvent::Reloaded { latency, .. } = e {
                    lat.push(latency);
                    break 'wait;
                }
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        // Let trailing events of the same save drain.
        std::thread::sleep(Duration::from_millis(20));
        host.poll_reload(&view);
        host.take_events();
    }
    let _ = std::fs::remove_dir_all(&dir);
    lat.sort();
    lat.get(lat.len() / 2).copied().unwrap_or(Duration::MAX)
}

fn main() {
    let bars = bars(common::env_usize("BENCH_BARS", 1_000_000));
    let cfg = HostConfig::default();
    println!(
        "lua_host: Luau native codegen, sandbox + memory limit {} MiB + instruction budget {} on",
        cfg.memory_limit >> 20,
        cfg.instruction_budget
    );
    let noop = b"return { on_bar = function(ctx, bar) local x = bar.close end }";
    let mut s =
        LuaStrategy::from_source(StrategyId::try_new("noop").expect("id"), "noop.lua", noop, &cfg, 0).expect("noop");
    measure("no-op on_bar (full bar)", &mut s, &bars);
    let mut s = LuaStrategy::load(Path::new("strategies/sma_cross.lua"), &cfg, 0).expect("sma_cross");
    measure("sma_cross.lua", &mut s, &bars);
    if std::env::var("BENCH_NO_RELOAD").is_err() {
        println!("reload latency (event -> new code active, median of 21): {:?}", reload_latency());
    }
}
