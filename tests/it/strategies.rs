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

fn runner(strategies: &[&str], db: &str) -> StrategyRunner<SimVenue, StoreJournal> {
    let account = AccountId::try_new("paper").unwrap();
    let usd = Currency::try_new("USD").unwrap();
    let instruments: luatrade::model::Instruments = [Instrument::us_stock("ORCL")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
    oms.deposit(&account, &usd, Decimal::from(100_000));
    // Daily bars are stamped 00:00 UTC, outside the session: market hours off, all else default.
    let risk = RiskEngine::new(RiskConfig { market_hours: false, ..RiskConfig::default() }).unwrap();
    let engine =
        Engine::new(oms, risk, SimVenue::new(SimConfig::default(), instruments), StoreJournal::connect(db).unwrap());
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
