//! Cost of one pre-trade risk check with every check on and 1,000 open positions.
//!
//! `cargo bench --bench risk_check` prints p50/p99/p99.9 per check. The view answers in O(1)
//! from maps and precomputed totals, as the engine's OMS-backed view is meant to. Orders are
//! limit orders in US stocks during the regular session (market-hours check with a tz
//! lookup), a quarter carry LLM metadata, half reduce a position (PDT lookups), and the
//! limits are set so that almost all are accepted (the full path runs).
//!
//! Environment: `BENCH_CHECKS` (default 1,000,000), `BENCH_POSITIONS` (default 1,000).

mod common;
use common::{env_usize, percentile};

use luatrade::collections::FastMap;
use luatrade::model::{
    AccountId, Currency, Instrument, Instruments, LlmMeta, OrderRequest, Side, StrategyId, Symbol, Timestamp,
};
use luatrade::risk::{AccountView, CheckKind, Limits, PositionView, RiskConfig, RiskEngine, RiskView};
use rust_decimal::Decimal;
use std::hint::black_box;
use std::time::Instant;

struct BenchView {
    instruments: Instruments,
    marks: FastMap<Symbol, Decimal>,
    positions: FastMap<Symbol, PositionView>,
    figures: AccountView,
    open: usize,
}

impl RiskView for BenchView {
    fn instrument(&self, symbol: &Symbol) -> Option<&Instrument> {
        self.instruments.get(symbol).ok()
    }
    fn last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        self.marks.get(symbol).copied()
    }
    fn position(&self, _account: &AccountId, symbol: &Symbol) -> PositionView {
        self.positions.get(symbol).copied().unwrap_or_default()
    }
    fn total_position(&self, symbol: &Symbol) -> PositionView {
        self.positions.get(symbol).copied().unwrap_or_default()
    }
    fn account(&self, _account: &AccountId, _ccy: &Currency) -> AccountView {
        self.figures
    }
    fn totals(&self, _ccy: &Currency) -> AccountView {
        self.figures
    }
    fn open_orders(&self) -> usize {
        self.open
    }
    fn open_orders_of_strategy(&self, _strategy: &StrategyId) -> usize {
        self.open
    }
    fn open_orders_in_symbol(&self, _symbol: &Symbol) -> usize {
        1
    }
}

fn main() {
    let checks = env_usize("BENCH_CHECKS", 1_000_000);
    let n = env_usize("BENCH_POSITIONS", 1_000);
    let symbols: Vec<Symbol> = (0..n).map(|i| Symbol::try_new(format!("S{i:04}")).expect("id")).collect();
    let instruments: Instruments = symbols.iter().map(|s| Instrument::us_stock(s.as_str())).collect();
    let price = Decimal::new(10_000, 2);
    let marks = symbols.iter().map(|s| (s.clone(), price)).collect();
    let positions = symbols
        .iter()
        .map(|s| {
            (s.clone(), PositionView { qty: Decimal::TEN, market_value: Decimal::TEN * price, ..Default::default() })
        })
        .collect();
    let gross = Decimal::from(n) * Decimal::TEN * price;
    let cash = Decimal::new(1_000_000_000, 0);
    let view = BenchView {
        instruments,
        marks,
        positions,
        figures: AccountView { cash, buying_power: cash, equity: cash + gross, gross_exposure: gross },
        open: 10,
    };

    let mut config = RiskConfig::default();
    config.global = Limits {
        max_gross_exposure: Some(gross * Decimal::TWO),
        max_orders_per_minute: Some(Decimal::new(1_000_000, 0)),
        max_open_orders: Some(Decimal::new(1_000, 0)),
        ..config.global
    };
    config
        .symbols
        .insert(symbols[0].clone(), Limits { max_open_orders: Some(Decimal::new(100, 0)), ..Limits::default() });
    config.pdt.enabled = true;
    config.pdt.min_equity = Decimal::new(10_000_000_000, 0); // the account counts as small
    let mut risk = RiskEngine::new(config).expect("valid config");

    let account = AccountId::try_new("main").expect("id");
    let strategy = StrategyId::try_new("bench").expect("id");
    let llm = LlmMeta::try_new("p", "m", "bench", 0.9).expect("valid");
    let orders: Vec<OrderRequest> = (0..4096)
        .map(|i| {
            let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
            let limit = price + Decimal::new((i % 7) as i64 - 3, 2);
            let mut r = OrderRequest::limit(
                account.clone(),
                strategy.clone(),
                symbols[(i * 7919) % n].clone(),
                side,
                Decimal::ONE,
                limit,
            );
            if i % 4 == 0 {
                r.llm = Some(llm.clone());
            }
            r
        })
        .collect();

    // Friday 2024-03-08 10:00 New York; one check every 50 µs of simulated time.
    let t0 = Timestamp::parse_rfc3339("2024-03-08T15:00:00Z").expect("literal");
    let mut lat = Vec::with_capacity(checks);
    let mut accepted = 0usize;
    let started = Instant::now();
    for i in 0..checks {
        let req = &orders[i % orders.len()];
        let now = t0.plus_nanos(i as i64 * 50_000);
        let s = Instant::now();
        let ok = risk.check(black_box(req), CheckKind::Normal, &view, now).is_ok();
        lat.push(s.elapsed());
        accepted += usize::from(black_box(ok));
    }
    let elapsed = started.elapsed();
    lat.sort_unstable();
    println!(
        "risk check, {n} positions: {checks} checks ({accepted} accepted) {:>10.0} checks/s  p50 {:>8.2?}  p99 {:>8.2?}  p99.9 {:>8.2?}",
        checks as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.50),
        percentile(&lat, 0.99),
        percentile(&lat, 0.999),
    );
    println!("rejections: {:?}", risk.rejection_counts());
}
