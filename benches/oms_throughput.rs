//! Submit → ack → fill through the engine, the OMS and the simulated venue.
//!
//! `cargo bench --bench oms_throughput` runs three cases and prints orders/s and latency
//! percentiles:
//! - in memory (no journal), one order per price tick;
//! - durable SQLite (WAL, synchronous=FULL and =NORMAL), orders group-committed per tick;
//! - durable Postgres on loopback when `LUATRADE_BENCH_PG_URL` is set.
//!
//! Environment: `BENCH_ORDERS` (default 1,000,000 in memory), `BENCH_DURABLE_ORDERS`
//! (default 100,000), `BENCH_BATCH` (orders per commit, default 500), `BENCH_DURABLE`
//! (which durable cases: a comma list of `full`, `normal`, `postgres`; default all).

mod common;
use common::{env_usize, percentile};

use luatrade::data::{MarketEvent, TradeTick};
use luatrade::engine::{Engine, Journal, NoJournal, StoreJournal};
use luatrade::model::{AccountId, Currency, Instrument, OrderRequest, Side, StrategyId, Symbol, Timestamp};
use luatrade::oms::{Oms, OmsConfig};
use luatrade::risk::{RiskConfig, RiskEngine};
use luatrade::venue::sim::{SimConfig, SimVenue};
use rust_decimal::Decimal;
use std::time::{Duration, Instant};

struct Setup {
    account: AccountId,
    strategy: StrategyId,
    symbol: Symbol,
}

fn engine<J: Journal>(journal: J, journal_on: bool) -> (Engine<SimVenue, J>, Setup) {
    let instrument = Instrument::us_stock("BENCH");
    let instruments: luatrade::model::Instruments = [instrument].into_iter().collect();
    let config = if journal_on { OmsConfig::default() } else { OmsConfig::in_memory_backtest() };
    let mut oms = Oms::new(instruments.clone(), config);
    let account = AccountId::try_new("bench").expect("id");
    oms.deposit(&account, &Currency::try_new("USD").expect("ccy"), Decimal::new(1_000_000_000, 0));
    let venue = SimVenue::new(SimConfig::default(), instruments);
    let setup = Setup {
        account,
        strategy: StrategyId::try_new("bench").expect("id"),
        symbol: Symbol::try_new("BENCH").expect("id"),
    };
    let mut engine = Engine::new(oms, RiskEngine::new(bench_risk()).expect("risk config"), venue, journal);
    // Risk needs a reference price for market orders: one print before the first order.
    engine.on_market(&tick(&setup.symbol, 0)).expect("first tick");
    (engine, setup)
}

/// Every default check runs. The limits a million-order stream from one strategy trips by
/// design (orders per minute; 500 open orders per group commit, whose worst-case position
/// risk assumes all fill) are set out of reach rather than switched off, so their checks
/// still execute; market hours are off because the bench's clock sits after the close.
fn bench_risk() -> RiskConfig {
    let mut risk = RiskConfig { market_hours: false, ..RiskConfig::default() };
    let far = Some(Decimal::new(1_000_000_000_000, 0));
    risk.global.max_orders_per_minute = far;
    risk.global.max_open_orders = far;
    risk.global.max_position_notional = far;
    risk.global.max_gross_exposure = far;
    risk
}

fn tick(symbol: &Symbol, n: usize) -> MarketEvent {
    // Alternates between two prices so positions open and close.
    let price = if n % 2 == 0 { Decimal::new(10_000, 2) } else { Decimal::new(10_001, 2) };
    MarketEvent::Trade(
        symbol.clone(),
        TradeTick {
            ts: Timestamp::from_secs(1_700_000_000).plus_nanos(n as i64 * 1_000),
            price,
            size: Decimal::new(1_000_000, 0),
        },
    )
}

fn report(name: &str, orders: usize, elapsed: Duration, mut lat: Vec<Duration>) {
    lat.sort_unstable();
    println!(
        "{name:<44} {orders:>9} orders  {:>10.0} orders/s  p50 {:>9.2?}  p99 {:>9.2?}  p99.9 {:>9.2?}",
        orders as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
    );
}

/// One order per tick: submit, then the tick that acks and fills it. Latency per order.
fn in_memory(orders: usize) {
    let (mut eng, s) = engine(NoJournal, false);
    let mut lat = Vec::with_capacity(orders);
    let start = Instant::now();
    for n in 0..orders {
        let t0 = Instant::now();
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let req = OrderRequest::market(s.account.clone(), s.strategy.clone(), s.symbol.clone(), side, Decimal::ONE);
        eng.submit(&req).expect("submit");
        eng.on_market(&tick(&s.symbol, n)).expect("tick");
        lat.push(t0.elapsed());
    }
    let elapsed = start.elapsed();
    assert_eq!(eng.stats().fills as usize, orders, "every order filled; risk said {:?}", eng.risk().rejection_counts());
    report("in-memory (no journal)", orders, elapsed, lat);
}

/// The OMS and the simulated venue alone (no engine, no risk): create, submit, ack, fill,
/// one order per tick, for comparison with the full path above.
fn oms_and_sim_only(orders: usize) {
    let instruments: luatrade::model::Instruments = [Instrument::us_stock("BENCH")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::in_memory_backtest());
    let mut venue = SimVenue::new(SimConfig::default(), instruments);
    let account = AccountId::try_new("bench").expect("id");
    oms.deposit(&account, &Currency::try_new("USD").expect("ccy"), Decimal::new(1_000_000_000, 0));
    let strategy = StrategyId::try_new("bench").expect("id");
    let prefix = luatrade::model::ClientOrderId::prefix_for(&strategy);
    let symbol = Symbol::try_new("BENCH").expect("id");
    let (mut events, mut actions) = (Vec::new(), Vec::new());
    let mut fills = 0usize;
    let mut lat = Vec::with_capacity(orders);
    let start = Instant::now();
    for n in 0..orders {
        let t0 = Instant::now();
        let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
        let req = OrderRequest::market(account.clone(), strategy.clone(), symbol.clone(), side, Decimal::ONE);
        let ev = tick(&symbol, n);
        let cid = luatrade::model::ClientOrderId::derive_from_prefix(&prefix, n as u64 + 1);
        let cid = oms.create(cid, &req, ev.ts()).expect("create");
        oms.mark_submitted(&cid, ev.ts()).expect("submitted");
        venue.submit(oms.order(&cid).expect("order"), ev.ts(), &mut events);
        oms.mark(&symbol, ev.mark_price(), ev.ts());
        venue.on_market(&ev, &mut events);
        for e in events.drain(..) {
            fills += usize::from(matches!(e, luatrade::venue::VenueEvent::Filled(_)));
            oms.apply(e, &mut actions).expect("apply");
        }
        lat.push(t0.elapsed());
    }
    let elapsed = start.elapsed();
    assert_eq!(fills, orders, "every order filled");
    report("in-memory, OMS + sim only (no engine, no risk)", orders, elapsed, lat);
}

/// CPU time (from `schedstat`) of every thread of this process, keyed by its name with the
/// trailing number dropped (`sqlx-sqlite-worker-3` → `sqlx-sqlite-worker-`) and its id, and
/// of every local `postgres` server process, as `postgres (server)`.
fn cpu_by_thread() -> std::collections::BTreeMap<(String, String), Duration> {
    let mut out = std::collections::BTreeMap::new();
    let mut add = |dir: &std::path::Path, name: String| {
        if let Some(t) = common::schedstat_cpu(dir) {
            let id = dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
            *out.entry((name, id)).or_insert(Duration::ZERO) += t;
        }
    };
    let comm = |dir: &std::path::Path| std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_owned();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let name = comm(&task.path()).trim_end_matches(|c: char| c.is_ascii_digit()).to_owned();
        add(&task.path(), name);
    }
    for proc in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if proc.file_name().to_string_lossy().bytes().all(|b| b.is_ascii_digit()) && comm(&proc.path()) == "postgres" {
            add(&proc.path(), "postgres (server)".to_owned());
        }
    }
    out
}

/// Prints the CPU each thread name (and the local Postgres server) spent since `before`:
/// per thread id, so that threads which ended in between (a previous case's SQLite
/// connection) do not count against this case.
fn report_cpu(before: &std::collections::BTreeMap<(String, String), Duration>) {
    let mut by_name = std::collections::BTreeMap::<String, Duration>::new();
    for ((name, id), t) in cpu_by_thread() {
        let spent = t.saturating_sub(before.get(&(name.clone(), id)).copied().unwrap_or_default());
        *by_name.entry(name).or_default() += spent;
    }
    let parts: Vec<String> = by_name
        .into_iter()
        .filter(|(_, t)| *t >= Duration::from_millis(10))
        .map(|(name, t)| format!("{name} {:.2} s", t.as_secs_f64()))
        .collect();
    println!("    cpu: {}", parts.join(", "));
}

/// `batch` orders per tick, group-committed: pending rows commit before the venue sees them,
/// the acks and fills commit together after. Latency is submit → fill committed.
fn durable<J: Journal>(name: &str, journal: J, orders: usize, batch: usize) {
    let (mut eng, s) = engine(journal, true);
    let cpu_before = cpu_by_thread();
    let mut lat = Vec::with_capacity(orders);
    let start = Instant::now();
    let mut n = 0;
    let mut submitted_at = Vec::with_capacity(batch);
    while n < orders {
        submitted_at.clear();
        for _ in 0..batch.min(orders - n) {
            let side = if n % 2 == 0 { Side::Buy } else { Side::Sell };
            let req = OrderRequest::market(s.account.clone(), s.strategy.clone(), s.symbol.clone(), side, Decimal::ONE);
            submitted_at.push(Instant::now());
            eng.submit(&req).expect("submit");
            n += 1;
        }
        eng.on_market(&tick(&s.symbol, n)).expect("tick");
        let done = Instant::now();
        lat.extend(submitted_at.iter().map(|t| done - *t));
    }
    let elapsed = start.elapsed();
    assert_eq!(eng.stats().fills as usize, orders, "every order filled; risk said {:?}", eng.risk().rejection_counts());
    report(name, orders, elapsed, lat);
    report_cpu(&cpu_before);
}

fn main() {
    // `cargo test --benches` passes --bench-less args; only run when invoked as a bench.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mem_orders = env_usize("BENCH_ORDERS", 1_000_000);
    let durable_orders = env_usize("BENCH_DURABLE_ORDERS", 100_000);
    let batch = env_usize("BENCH_BATCH", 500);
    println!("luatrade oms_throughput: submit -> ack -> fill via engine + OMS + sim venue");
    in_memory(mem_orders);
    oms_and_sim_only(mem_orders);
    // `BENCH_DURABLE=full,postgres` runs only the named durable cases (default: all three).
    let cases = std::env::var("BENCH_DURABLE").unwrap_or_else(|_| "full,normal,postgres".into());
    let wanted = |case: &str| cases.split(',').any(|c| c.trim() == case);
    let dir = tempfile::tempdir().expect("tempdir");
    for sync in ["full", "normal"].into_iter().filter(|s| wanted(s)) {
        let path = dir.path().join(format!("bench-{sync}.db"));
        let url = format!("sqlite://{}?synchronous={sync}", path.display());
        let journal = StoreJournal::connect(&url).expect("sqlite");
        durable(&format!("sqlite WAL synchronous={sync}, batch {batch}"), journal, durable_orders, batch);
    }
    match std::env::var("LUATRADE_BENCH_PG_URL") {
        Ok(_) if !wanted("postgres") => {}
        Ok(url) => {
            let journal = StoreJournal::connect(&url).expect("postgres");
            durable(&format!("postgres loopback, batch {batch}"), journal, durable_orders, batch);
        }
        Err(_) => println!("postgres: skipped (set LUATRADE_BENCH_PG_URL to a fresh database)"),
    }
}
