//! Lua strategies on the real engine: shipped scripts over recorded ORCL bars, through risk,
//! the OMS, the simulated venue and a real SQLite file.

use luatrade::data::{csv::read_bars, MarketEvent};
use luatrade::engine::{Engine, StoreJournal, StrategyRunner};
use luatrade::model::{AccountId, Currency, Instrument, OrderStatus, OrderType, Side, StrategyId, Symbol};
use luatrade::oms::{Oms, OmsConfig};
use luatrade::risk::{RiskConfig, RiskEngine};
use luatrade::store::OrderFilter;
use luatrade::strategy::{HostConfig, StrategyHost};
use luatrade::venue::sim::{SimConfig, SimVenue};
use rust_decimal::prelude::*;

/// The engine the strategies drive: ORCL, `cash` dollars on the `paper` account, a real
/// SQLite journal at `db`.
fn engine(db: &str, cash: i64) -> (Engine<SimVenue, StoreJournal>, AccountId, Currency) {
    let account = AccountId::try_new("paper").unwrap();
    let usd = Currency::try_new("USD").unwrap();
    let instruments: luatrade::model::Instruments = [Instrument::us_stock("ORCL")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
    oms.deposit(&account, &usd, Decimal::from(cash));
    // Daily bars are stamped 00:00 UTC, outside the session: market hours off, all else default.
    let risk = RiskEngine::new(RiskConfig { market_hours: false, ..RiskConfig::default() }).unwrap();
    let engine =
        Engine::new(oms, risk, SimVenue::new(SimConfig::default(), instruments), StoreJournal::connect(db).unwrap());
    (engine, account, usd)
}

fn runner(strategies: &[&str], db: &str) -> StrategyRunner<SimVenue, StoreJournal> {
    let (engine, account, usd) = engine(db, 100_000);
    let mut host = StrategyHost::new(HostConfig { account: account.clone(), ..HostConfig::default() });
    for s in strategies {
        host.load_file(std::path::Path::new(&format!("{}/strategies/{s}.lua", env!("CARGO_MANIFEST_DIR")))).unwrap();
    }
    StrategyRunner::new(engine, host, account, usd)
}

fn run(r: &mut StrategyRunner<SimVenue, StoreJournal>) -> Vec<luatrade::data::Bar> {
    let bars =
        read_bars(std::path::Path::new(&format!("{}/examples/data/orcl_1d_1995-2014.csv", env!("CARGO_MANIFEST_DIR"))))
            .unwrap();
    r.start().unwrap();
    let sym = Symbol::try_new("ORCL").unwrap();
    for b in &bars {
        r.on_market(&MarketEvent::Bar(sym.clone(), b.clone())).unwrap();
    }
    bars
}

/// Index of the first bar where SMA(10) of closes crosses above SMA(30), computed here in
/// exact decimals, independently of the Lua indicator helpers.
fn first_cross_up(bars: &[luatrade::data::Bar]) -> usize {
    let sma = |i: usize, n: usize| bars[i + 1 - n..=i].iter().map(|b| b.close).sum::<Decimal>() / Decimal::from(n);
    let mut prev: Option<Decimal> = None;
    for i in 29..bars.len() {
        let diff = sma(i, 10) - sma(i, 30);
        if prev.is_some_and(|p| p <= Decimal::ZERO) && diff > Decimal::ZERO {
            return i;
        }
        prev = Some(diff);
    }
    panic!("no crossover")
}

#[test]
fn sma_cross_trades_through_risk_and_the_oms_into_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lua.db").display());
    let mut r = runner(&["sma_cross"], &db);
    let bars = run(&mut r);
    let eng = r.engine();
    assert!(eng.stats().fills > 50, "{:?}", eng.stats());
    assert_eq!(r.refused_intents, 0);
    let store = eng.journal().store().clone();
    let orders = eng
        .journal()
        .block_on(store.orders(&OrderFilter {
            strategy_id: Some(StrategyId::try_new("sma_cross").unwrap()),
            ..OrderFilter::default()
        }))
        .unwrap();
    let first = orders.first().expect("orders stored");
    assert_eq!(
        (first.side, first.order_type, first.qty(), first.status()),
        (Side::Buy, OrderType::Market, Decimal::from(100), OrderStatus::Filled)
    );
    let cross = first_cross_up(&bars);
    assert_eq!(first.ts_init, bars[cross].ts, "ordered on the crossover bar");
    let fill = eng.journal().block_on(store.fills(&first.cid)).unwrap();
    assert_eq!(fill[0].price, bars[cross + 1].open, "filled at the next bar's open");
    // Buys and reduce-only sells alternate, so the position is never short.
    assert!(orders.windows(2).all(|w| w[0].side != w[1].side), "alternating");
    assert!(orders.iter().filter(|o| o.side == Side::Sell).all(|o| o.reduce_only));
}

#[test]
fn strategies_hear_their_own_fills() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("lua2.db").display());
    let mut r = runner(&["breakout_trailing"], &db);
    run(&mut r);
    let eng = r.engine();
    let store = eng.journal().store().clone();
    let orders = eng.journal().block_on(store.orders(&OrderFilter::default())).unwrap();
    // breakout_trailing places its trailing stop from on_fill, after each entry fills.
    let entries: Vec<_> = orders.iter().filter(|o| o.side == Side::Buy && o.status() == OrderStatus::Filled).collect();
    let trails: Vec<_> = orders.iter().filter(|o| o.order_type == OrderType::TrailingStop).collect();
    assert!(!entries.is_empty(), "entries filled");
    assert_eq!(trails.len(), entries.len(), "one trailing stop per filled entry");
    assert!(trails.iter().all(|t| t.reduce_only && t.strategy_id.as_str() == "breakout_trailing"));
    assert!(trails.iter().zip(&entries).all(|(t, e)| t.ts_init >= e.ts_last()), "placed after the entry filled");
}

/// Two Lua strategies with capital allocations trade the same symbol on one shared account:
/// the capital moves from the shared account into their sub-ledgers at start (stored as
/// balance rows), each sees only its own position and cash, and the one that runs out of
/// cash is refused for buying power while the other keeps trading.
#[test]
fn strategies_with_allocations_trade_their_own_sub_ledgers() {
    use luatrade::data::Bar;
    use luatrade::model::Timestamp;
    use luatrade::risk::{Allocation, RejectCode, StrategyRisk};
    use luatrade::strategy::HostEvent;

    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("ledgers.db").display());
    let script = |qty: u32| {
        format!(
            "return {{ on_bar = function(ctx, bar)\n  local q = ctx:position(bar.symbol)\n  \
             ctx:log('pos=' .. q .. ' cash=' .. ctx:cash())\n  ctx:buy{{ symbol = bar.symbol, qty = {qty} }}\nend }}\n"
        )
    };
    std::fs::write(dir.path().join("small.lua"), script(5)).unwrap();
    std::fs::write(dir.path().join("large.lua"), script(1)).unwrap();

    let shared = AccountId::try_new("paper").unwrap();
    let usd = Currency::try_new("USD").unwrap();
    let instruments: luatrade::model::Instruments = [Instrument::us_stock("ORCL")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
    oms.deposit(&shared, &usd, Decimal::from(100_000));
    let mut config = RiskConfig { market_hours: false, ..RiskConfig::default() };
    for (s, account, capital) in [("small", "small_ledger", 1200), ("large", "large_ledger", 5000)] {
        let allocation = Some(Allocation { account: AccountId::try_new(account).unwrap(), capital: capital.into() });
        config.strategies.insert(StrategyId::try_new(s).unwrap(), StrategyRisk { allocation, ..Default::default() });
    }
    let engine = Engine::new(
        oms,
        RiskEngine::new(config).unwrap(),
        SimVenue::new(SimConfig::default(), instruments),
        StoreJournal::connect(&db).unwrap(),
    );
    let mut host = StrategyHost::new(HostConfig { account: shared.clone(), ..HostConfig::default() });
    host.load_file(&dir.path().join("small.lua")).unwrap();
    host.load_file(&dir.path().join("large.lua")).unwrap();
    let mut r = StrategyRunner::new(engine, host, shared.clone(), usd.clone());
    r.start().unwrap();
    let sym = Symbol::try_new("ORCL").unwrap();
    let px = Decimal::from(100);
    for day in 0..6 {
        let bar = Bar {
            ts: Timestamp::from_secs(1_700_000_000 + day * 86_400),
            open: px,
            high: px,
            low: px,
            close: px,
            volume: Decimal::from(1_000_000),
        };
        r.on_market(&MarketEvent::Bar(sym.clone(), bar)).unwrap();
    }

    let logs: Vec<(String, String)> = r
        .take_host_events()
        .into_iter()
        .filter_map(|e| match e {
            HostEvent::Log { strategy, text } => Some((strategy.to_string(), text)),
            _ => None,
        })
        .collect();
    let seen = |s: &str| logs.iter().filter(|(id, _)| id == s).map(|(_, t)| t.clone()).collect::<Vec<_>>();
    // Each buy fills at the next bar's open; cash is buying power (net of the open buy's
    // reservation), so each line is what that strategy alone holds.
    let (small, large) = (seen("small"), seen("large"));
    assert_eq!(small.len(), 6, "{logs:?}");
    assert!(small[0].starts_with("pos=0 cash=1200"), "{small:?}");
    assert!(small[2].starts_with("pos=10 "), "two fills of 5 in its own ledger: {small:?}");
    assert!(small[5].starts_with("pos=10 "), "no more fills once out of cash: {small:?}");
    assert!(large[0].starts_with("pos=0 cash=5000"), "{large:?}");
    assert!(large[5].starts_with("pos=5 "), "one share a bar, never the other's: {large:?}");

    let eng = r.engine();
    let book = |a: &str| eng.oms().portfolio(&AccountId::try_new(a).unwrap()).unwrap();
    assert_eq!(book("small_ledger").qty(&sym), Decimal::from(10));
    assert_eq!(book("large_ledger").qty(&sym), Decimal::from(5));
    assert_eq!(book("paper").qty(&sym), Decimal::ZERO, "nothing traded on the shared account itself");
    assert_eq!(book("paper").cash(&usd), Decimal::from(100_000 - 6200), "capital moved out");
    assert!(
        eng.risk().rejection_count(RejectCode::InsufficientBuyingPower) >= 3,
        "{:?}",
        eng.risk().rejection_counts()
    );

    let store = eng.journal().store().clone();
    let rejected = eng
        .journal()
        .block_on(store.orders(&OrderFilter { status: Some(vec![OrderStatus::Rejected]), ..OrderFilter::default() }))
        .unwrap();
    assert!(!rejected.is_empty());
    assert!(rejected.iter().all(|o| o.strategy_id.as_str() == "small" && o.account.as_str() == "small_ledger"));
    assert!(rejected.iter().all(|o| o
        .history()
        .iter()
        .any(|c| c.reason.as_deref().is_some_and(|r| r.starts_with("INSUFFICIENT_BUYING_POWER")))));
    let balances = eng.journal().block_on(store.balances()).unwrap();
    let accounts: Vec<&str> = balances.iter().map(|(a, _, _)| a.as_str()).collect();
    assert_eq!(accounts, ["large_ledger", "paper", "small_ledger"], "the funding is stored: {balances:?}");
}

/// Fills are gathered for strategies only while one has `on_fill`/`on_order`: a strategy
/// that gains `on_fill` in a hot reload hears the fills that follow.
#[test]
fn a_strategy_that_gains_on_fill_in_a_reload_hears_the_next_fills() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("gain.db").display());
    let scripts = dir.path().join("strategies");
    std::fs::create_dir(&scripts).unwrap();
    let path = scripts.join("gain.lua");
    // Buys one share on every bar; no fill callback yet.
    std::fs::write(&path, "return { on_bar = function(ctx, b) ctx:buy{symbol = b.symbol, qty = 1} end }").unwrap();

    let (engine, account, usd) = engine(&db, 1_000_000);
    let mut host = StrategyHost::new(HostConfig {
        account: account.clone(),
        reload_debounce: std::time::Duration::from_millis(20),
        ..HostConfig::default()
    });
    host.load_file(&path).unwrap();
    host.watch(&scripts).unwrap();
    let mut r = StrategyRunner::new(engine, host, account, usd);
    let bars =
        read_bars(std::path::Path::new(&format!("{}/examples/data/orcl_1d_1995-2014.csv", env!("CARGO_MANIFEST_DIR"))))
            .unwrap();
    let sym = Symbol::try_new("ORCL").unwrap();
    r.start().unwrap();
    let mut next = bars.iter();
    for b in next.by_ref().take(5) {
        r.on_market(&MarketEvent::Bar(sym.clone(), b.clone())).unwrap();
    }
    // The new version sells back every share it is filled on, from on_fill.
    std::fs::write(
        &path,
        "return {\n on_bar = function(ctx, b) ctx:buy{symbol = b.symbol, qty = 1} end,\n \
         on_fill = function(ctx, f) if f.side == 'buy' then ctx:sell{symbol = f.symbol, qty = f.qty, reduce_only = true} end end,\n}",
    )
    .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut reloaded = false;
    while !reloaded && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let b = next.next().expect("enough bars");
        r.on_market(&MarketEvent::Bar(sym.clone(), b.clone())).unwrap();
        reloaded = r.take_host_events().iter().any(|e| matches!(e, luatrade::strategy::HostEvent::Reloaded { .. }));
    }
    assert!(reloaded, "reloaded within 10 s");
    let sells_before = {
        let eng = r.engine();
        let store = eng.journal().store().clone();
        let orders = eng.journal().block_on(store.orders(&OrderFilter::default())).unwrap();
        orders.iter().filter(|o| o.side == Side::Sell).count()
    };
    assert_eq!(sells_before, 0, "no on_fill before the reload");
    for b in next.by_ref().take(5) {
        r.on_market(&MarketEvent::Bar(sym.clone(), b.clone())).unwrap();
    }
    r.engine_mut().sync_journal().unwrap();
    let eng = r.engine();
    let store = eng.journal().store().clone();
    let orders = eng.journal().block_on(store.orders(&OrderFilter::default())).unwrap();
    let sells: Vec<_> = orders.iter().filter(|o| o.side == Side::Sell).collect();
    assert!(sells.len() >= 4, "each buy filled after the reload is sold back from on_fill: {}", sells.len());
    assert!(sells.iter().all(|o| o.reduce_only && o.qty() == Decimal::ONE));
}
