//! The [`Recorder`]: what a backtest runner feeds, event by event, to build a [`Report`].
//!
//! `on_equity` and `on_price` are on the hot path (once per market event): they do a few
//! comparisons and Decimal operations, never allocate (except when a bounded curve keeps a new
//! point, amortised O(1)) and never hash a symbol when the same symbol repeats.

use super::curve::Curve;
use super::digest::FillDigest;
use super::stats::{return_stats, Drawdown, NANOS_PER_YEAR};
use super::trips::{calibration, TradeStats, TripBook};
use super::{Benchmark, Conventions, EquityPoint, Portfolio, Reconciliation, Report};
use crate::model::{Currency, Fill, LlmMeta, StrategyId, Symbol, Timestamp, Trade};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use std::collections::BTreeMap;

/// Default for [`RecorderConfig::max_curve_points`].
pub const DEFAULT_MAX_CURVE_POINTS: usize = 4096;

/// How a [`Recorder`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Cash at the start of the run; returns are measured against it.
    pub start_cash: Decimal,
    /// The currency money figures are in.
    pub currency: Currency,
    /// Most points kept in the equity curve and in each benchmark curve (bounded memory; see
    /// the sampling rule in `report.json` `conventions`). At least 16.
    pub max_curve_points: usize,
}

impl RecorderConfig {
    /// A configuration with the default curve size ([`DEFAULT_MAX_CURVE_POINTS`]).
    #[must_use]
    pub fn new(start_cash: Decimal, currency: Currency) -> Self {
        Self { start_cash, currency, max_curve_points: DEFAULT_MAX_CURVE_POINTS }
    }
}

/// Streaming state of one symbol's prices (the buy-and-hold benchmark).
#[derive(Debug)]
struct SymbolSlot {
    symbol: Symbol,
    first: Decimal,
    first_ts: i64,
    last: Decimal,
    last_ts: i64,
    drawdown: Drawdown,
    curve: Curve<Decimal>,
}

/// Collects a run's prices, equity, fills and bookings, then computes the [`Report`].
#[derive(Debug)]
pub struct Recorder {
    config: RecorderConfig,
    // Equity stream.
    events: u64,
    first_ts: i64,
    last_ts: i64,
    last_equity: Decimal,
    last_exposed: bool,
    exposed_ns: i64,
    out_of_order: u64,
    drawdown: Drawdown,
    curve: Curve<(Decimal, Decimal)>,
    last_gross: Decimal,
    // Prices.
    symbols: Vec<SymbolSlot>,
    symbol_index: FxHashMap<Symbol, usize>,
    last_slot: usize,
    // Fills.
    digest: FillDigest,
    fills: u64,
    fees_paid: Decimal,
    turnover: Decimal,
    first_fill_ts: Option<i64>,
    fee_currencies: BTreeMap<String, u64>,
    // Bookings.
    trips: TripBook,
}

impl Recorder {
    /// A recorder for one run.
    #[must_use]
    pub fn new(config: RecorderConfig) -> Self {
        let max = config.max_curve_points;
        Self {
            events: 0,
            first_ts: 0,
            last_ts: 0,
            last_equity: config.start_cash,
            last_exposed: false,
            exposed_ns: 0,
            out_of_order: 0,
            drawdown: Drawdown::default(),
            curve: Curve::new(max),
            last_gross: Decimal::ZERO,
            symbols: Vec::new(),
            symbol_index: FxHashMap::default(),
            last_slot: 0,
            digest: FillDigest::default(),
            fills: 0,
            fees_paid: Decimal::ZERO,
            turnover: Decimal::ZERO,
            first_fill_ts: None,
            fee_currencies: BTreeMap::new(),
            trips: TripBook::default(),
            config,
        }
    }

    /// A price seen for `symbol` at `ts` (each bar close / trade). Feeds the buy-and-hold
    /// benchmarks and the marks of positions still open at the end.
    #[inline(always)] // once per event, from one call site: no call frame
    pub fn on_price(&mut self, symbol: &Symbol, ts: Timestamp, price: Decimal) {
        let i = match self.symbols.get(self.last_slot) {
            Some(s) if s.symbol == *symbol => self.last_slot,
            _ => self.slot(symbol, ts, price),
        };
        let s = &mut self.symbols[i];
        s.last = price;
        s.last_ts = ts.0;
        s.drawdown.update(ts.0, price);
        s.curve.push(ts.0, price);
    }

    #[inline(never)]
    fn slot(&mut self, symbol: &Symbol, ts: Timestamp, price: Decimal) -> usize {
        let i = if let Some(&i) = self.symbol_index.get(symbol) {
            i
        } else {
            let i = self.symbols.len();
            self.symbols.push(SymbolSlot {
                symbol: symbol.clone(),
                first: price,
                first_ts: ts.0,
                last: price,
                last_ts: ts.0,
                drawdown: Drawdown::default(),
                curve: Curve::new(self.config.max_curve_points),
            });
            self.symbol_index.insert(symbol.clone(), i);
            i
        };
        self.last_slot = i;
        i
    }

    /// Portfolio state after one market event (called once per event): total equity and the
    /// gross exposure (Σ |market value| of positions). O(1), no allocation on the hot path.
    #[inline(always)] // once per event, from one call site: no call frame
    pub fn on_equity(&mut self, ts: Timestamp, equity: Decimal, gross_exposure: Decimal) {
        let t = ts.0;
        if self.events == 0 {
            self.first_ts = t;
        } else if t < self.last_ts {
            self.out_of_order += 1;
        } else if self.last_exposed {
            self.exposed_ns += t - self.last_ts;
        }
        self.events += 1;
        self.last_ts = self.last_ts.max(t);
        self.last_equity = equity;
        self.last_gross = gross_exposure;
        self.last_exposed = !gross_exposure.is_zero();
        self.drawdown.update(t, equity);
        self.curve.push(t, (equity, gross_exposure));
    }

    /// One fill of an order, in the order fills happened; `strategy` owns the order; `llm` is
    /// the order's LLM metadata if any. Feeds the fingerprint, fees paid and turnover.
    pub fn on_fill(&mut self, fill: &Fill, strategy: &StrategyId, llm: Option<&LlmMeta>) {
        let _ = llm; // Attribution comes from the bookings (`on_trade`).
        self.digest.add(fill, strategy);
        self.fills += 1;
        self.fees_paid += fill.fee;
        self.turnover += fill.notional().abs();
        self.first_fill_ts.get_or_insert(fill.ts.0);
        if fill.fee_currency != self.config.currency {
            *self.fee_currencies.entry(fill.fee_currency.as_str().to_owned()).or_default() += 1;
        }
    }

    /// One booking from the OMS (entry/add/partial_exit/exit/reversal with realised P&L and
    /// fee), in order; `llm` is the LLM metadata of the booking's order if any.
    pub fn on_trade(&mut self, trade: &Trade, llm: Option<&LlmMeta>) {
        self.trips.on_trade(trade, llm);
    }

    /// Ends the run at `end` and computes everything.
    #[must_use]
    pub fn finish(mut self, end: Timestamp) -> Report {
        let start_cash = self.config.start_cash;
        let start = if self.events > 0 {
            self.first_ts
        } else {
            self.symbols.iter().map(|s| s.first_ts).min().unwrap_or(end.0)
        };
        let end_ns = end.0.max(self.last_ts).max(start);
        if self.events > 0 && self.last_exposed {
            self.exposed_ns += end_ns - self.last_ts;
        }
        let mut warnings = Vec::new();
        if end.0 < self.last_ts {
            warnings.push(format!("the run's end {end} is before its last event; the last event's time is used"));
        }
        if self.out_of_order > 0 {
            warnings.push(format!(
                "{} equity updates arrived out of time order and were not counted in exposure time",
                self.out_of_order
            ));
        }
        for (cur, n) in &self.fee_currencies {
            warnings.push(format!(
                "{n} fills charged fees in {cur}, not {}; they are summed as if in {}",
                self.config.currency, self.config.currency
            ));
        }
        if self.events > 0 {
            self.curve.close_with(self.last_ts, (self.last_equity, self.last_gross));
        }
        let final_equity = self.last_equity;
        let equity_curve: Vec<EquityPoint> = {
            let mut peak = start_cash;
            self.curve
                .points()
                .iter()
                .map(|&(ts, (equity, gross))| {
                    peak = peak.max(equity);
                    let drawdown =
                        if peak > Decimal::ZERO { ((peak - equity) / peak).to_f64().unwrap_or(0.0) } else { 0.0 };
                    EquityPoint { ts: Timestamp(ts), equity, gross_exposure: gross, drawdown }
                })
                .collect()
        };
        let samples: Vec<(i64, f64)> =
            equity_curve.iter().map(|p| (p.ts.0, p.equity.to_f64().unwrap_or(0.0))).collect();
        let rs = return_stats(&samples);
        let dd = self.drawdown.summary(end_ns);
        let span_ns = end_ns - start;
        let years = span_ns as f64 / NANOS_PER_YEAR;
        let total_return = ratio(final_equity, start_cash).map(|r| r - 1.0);
        let cagr = cagr(total_return, years);
        let calmar = match (cagr, dd.depth) {
            (Some(c), d) if d > 0.0 => super::stats::finite(c / d),
            _ => None,
        };
        let symbols = std::mem::take(&mut self.symbols);
        let last_price = |sym: &str| symbols.iter().find(|s| s.symbol.as_str() == sym).map(|s| s.last);
        let trips = std::mem::take(&mut self.trips);
        let (realized, fees) = (trips.realized, trips.fees);
        let (closed, open, unrealized, trip_warnings) = trips.finish(last_price);
        warnings.extend(trip_warnings);
        let all = TradeStats::of("all", &closed, &open);
        let by_strategy = TradeStats::grouped(&closed, &open, |r| Some(r.strategy.as_str()));
        let by_symbol = TradeStats::grouped(&closed, &open, |r| Some(r.symbol.as_str()));
        let by_llm_provider = TradeStats::grouped(&closed, &open, |r| r.llm_provider.as_deref());
        let calibration = calibration(&closed);
        let mut benchmarks: Vec<Benchmark> = symbols.into_iter().map(|s| benchmark(s, start_cash)).collect();
        benchmarks.sort_by(|a, b| a.symbol.cmp(&b.symbol));

        let expected = start_cash + realized + unrealized - fees;
        let reconciliation = Reconciliation {
            start_cash,
            realized_pnl: realized,
            fees,
            unrealized_pnl: unrealized,
            expected_equity: expected,
            final_equity,
            difference: final_equity - expected,
        };
        let portfolio = Portfolio {
            start_cash,
            final_equity,
            net_profit: final_equity - start_cash,
            total_return,
            cagr,
            annual_volatility: rs.volatility,
            sharpe: rs.sharpe,
            sortino: rs.sortino,
            calmar,
            max_drawdown: dd.depth,
            max_drawdown_money: dd.depth_money,
            max_drawdown_peak_at: dd.peak_ts.map(Timestamp),
            max_drawdown_trough_at: dd.trough_ts.map(Timestamp),
            max_drawdown_duration_secs: dd.longest_ns as f64 / 1e9,
            max_drawdown_duration_from: dd.longest_from.map(Timestamp),
            exposure_time: (span_ns > 0).then(|| self.exposed_ns as f64 / span_ns as f64),
            fees_paid: self.fees_paid,
            turnover: self.turnover,
            fills: self.fills,
            equity_updates: self.events,
        };
        let conventions = Conventions::new(&rs, self.curve.interval(), self.config.max_curve_points);
        Report {
            schema: super::SCHEMA,
            fingerprint: self.digest.finish(),
            currency: self.config.currency.as_str().to_owned(),
            start: Timestamp(start),
            end: Timestamp(end_ns),
            span_secs: span_ns as f64 / 1e9,
            conventions,
            portfolio,
            trades: all,
            by_strategy,
            by_symbol,
            by_llm_provider,
            calibration,
            benchmarks,
            open_positions: open,
            reconciliation,
            warnings,
            extra: BTreeMap::new(),
            round_trips: closed,
            equity_curve,
        }
    }
}

/// `a / b` as a float, `None` when `b` is not positive.
fn ratio(a: Decimal, b: Decimal) -> Option<f64> {
    if b <= Decimal::ZERO {
        return None;
    }
    (a / b).to_f64()
}

/// `(1 + total_return)^(1 / years) − 1`; −1 after a total loss; `None` for a zero-length run.
fn cagr(total_return: Option<f64>, years: f64) -> Option<f64> {
    let growth = 1.0 + total_return?;
    if years <= 0.0 {
        return None;
    }
    if growth <= 0.0 {
        return Some(-1.0);
    }
    super::stats::finite(growth.powf(1.0 / years) - 1.0)
}

fn benchmark(mut s: SymbolSlot, start_cash: Decimal) -> Benchmark {
    s.curve.close_with(s.last_ts, s.last);
    let total_return = ratio(s.last, s.first).map(|r| r - 1.0);
    let years = (s.last_ts - s.first_ts) as f64 / NANOS_PER_YEAR;
    let dd = s.drawdown.summary(s.last_ts);
    let curve = s
        .curve
        .into_points()
        .into_iter()
        .map(|(ts, p)| {
            let value = if s.first > Decimal::ZERO { (start_cash * p / s.first).round_dp(8) } else { start_cash };
            (Timestamp(ts), value)
        })
        .collect();
    Benchmark {
        symbol: s.symbol.as_str().to_owned(),
        first_price: s.first,
        last_price: s.last,
        first_at: Timestamp(s.first_ts),
        last_at: Timestamp(s.last_ts),
        total_return,
        cagr: cagr(total_return, years),
        max_drawdown: dd.depth,
        max_drawdown_duration_secs: dd.longest_ns as f64 / 1e9,
        curve,
    }
}
