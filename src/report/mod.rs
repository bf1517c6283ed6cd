//! The backtest report: metrics, round trips, benchmarks, calibration, files and charts.
//!
//! Owns turning a run's event stream (prices, equity, fills, bookings) into figures a trader
//! reads. Must not touch the OMS, the store or the clock: everything comes through the
//! [`Recorder`], and the same inputs give byte-identical files (no wall-clock time, no hash
//! map iteration order reaches output).
//!
//! Money (P&L, fees, equity, turnover) is exact [`Decimal`] and written as strings in JSON;
//! ratios and statistics are `f64`, and an undefined one is `null`, never NaN. Definitions:
//! portfolio figures on [`Portfolio`], return statistics in `stats`, round trips and trade
//! statistics on [`RoundTrip`] and [`TradeStats`], the sampling rule in `curve`.
//!
//! Per strategy, per symbol and per LLM provider the report gives the trade-based figures
//! ([`TradeStats`]: win rate, profit factor, averages, expectancy, holding time, fees,
//! turnover, open positions). Return-based figures (CAGR, volatility, Sharpe, Sortino,
//! Calmar, drawdown, exposure) exist for the portfolio only, because the runner reports one
//! equity stream; each symbol's buy-and-hold line has its own return, CAGR and drawdown.

mod chart;
mod curve;
mod digest;
mod export;
mod recorder;
mod stats;
mod trips;

pub use recorder::{Recorder, RecorderConfig, DEFAULT_MAX_CURVE_POINTS};
pub use trips::{CalibrationBucket, RoundTrip, TradeStats, CALIBRATION_EDGES};

use crate::model::Timestamp;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use std::collections::BTreeMap;
use std::path::PathBuf;
use thiserror::Error;

/// The `schema` value of `report.json`; bumped when a field changes meaning.
pub const SCHEMA: &str = "luatrade.report.v1";

/// The largest |difference| [`Report::reconcile`] accepts: half a cent.
pub const RECONCILE_TOLERANCE: Decimal = Decimal::from_parts(5, 0, 0, false, 3);

/// What can go wrong with a report.
#[derive(Debug, Error)]
pub enum ReportError {
    /// A file could not be written.
    #[error("cannot write report file {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error("cannot draw chart {file}: {message}")]
    Chart {
        /// Which chart file.
        file: &'static str,
        /// What the plotting library said.
        message: String,
    },
    /// The final equity is not start cash + realised P&L − fees + unrealised P&L.
    #[error(
        "equity does not reconcile with the trades: start cash {start_cash} + realised {realized_pnl} − fees {fees} + unrealised {unrealized_pnl} = {expected_equity}, but the final equity is {final_equity} (difference {difference})"
    )]
    Unreconciled {
        /// Cash at the start.
        start_cash: Decimal,
        /// Σ realised P&L of the bookings.
        realized_pnl: Decimal,
        /// Σ fees of the bookings.
        fees: Decimal,
        /// Σ unrealised P&L of open positions at their last prices.
        unrealized_pnl: Decimal,
        /// What the equity should be.
        expected_equity: Decimal,
        /// What the last equity update said.
        final_equity: Decimal,
        /// `final_equity − expected_equity`.
        difference: Decimal,
    },
}

/// Portfolio-level figures.
///
/// - `total_return = final_equity / start_cash − 1`;
/// - `cagr = (1 + total_return)^(1 / years) − 1` with years = run span / 365.25 days (−1 after
///   a total loss, `null` for a zero-length run);
/// - `annual_volatility`, `sharpe`, `sortino`: see `conventions` (periodic returns of the
///   sampled equity curve, calendar-time annualisation, risk-free 0);
/// - `calmar = cagr / max_drawdown` (`null` without a drawdown);
/// - `max_drawdown`: deepest fall from a running peak as a fraction of the peak, over EVERY
///   equity update (not the sampled curve); its duration is the longest time from a peak to
///   the first update at or above it again (or to the end when never recovered);
/// - `exposure_time`: share of the run's span during which gross exposure was non-zero (each
///   update's exposure holds until the next update);
/// - `fees_paid`, `turnover`: Σ fee and Σ |price × qty| of all fills.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Portfolio {
    /// Cash at the start.
    pub start_cash: Decimal,
    /// Equity at the last update (start cash when there was none).
    pub final_equity: Decimal,
    /// `final_equity − start_cash`.
    pub net_profit: Decimal,
    /// Total return as a fraction.
    pub total_return: Option<f64>,
    /// Compound annual growth rate.
    pub cagr: Option<f64>,
    /// Annualised volatility of periodic returns.
    pub annual_volatility: Option<f64>,
    /// Annualised Sharpe ratio.
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio.
    pub sortino: Option<f64>,
    /// CAGR / max drawdown.
    pub calmar: Option<f64>,
    /// Deepest drawdown as a fraction of the peak (0 when never under water).
    pub max_drawdown: f64,
    /// That drawdown in money.
    pub max_drawdown_money: Decimal,
    /// The peak before the deepest drawdown.
    #[serde(serialize_with = "opt_ts_str")]
    pub max_drawdown_peak_at: Option<Timestamp>,
    /// The deepest point.
    #[serde(serialize_with = "opt_ts_str")]
    pub max_drawdown_trough_at: Option<Timestamp>,
    /// Longest time under water, in seconds.
    pub max_drawdown_duration_secs: f64,
    /// When that longest time under water began.
    #[serde(serialize_with = "opt_ts_str")]
    pub max_drawdown_duration_from: Option<Timestamp>,
    /// Share of time with a non-zero position, in `[0, 1]`.
    pub exposure_time: Option<f64>,
    /// Σ fees of all fills.
    pub fees_paid: Decimal,
    /// Σ |price × qty| of all fills.
    pub turnover: Decimal,
    /// How many fills.
    pub fills: u64,
    /// How many equity updates (market events).
    pub equity_updates: u64,
}

/// How the statistics were computed, written into `report.json` so a reader need not guess.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conventions {
    /// Periodic returns used for volatility, Sharpe and Sortino.
    pub return_samples: usize,
    /// Median spacing of the sampled equity curve, in seconds.
    pub median_sample_spacing_secs: Option<f64>,
    /// `365.25 days / median spacing`.
    pub periods_per_year: Option<f64>,
    /// The sampled curve's final bucket width, in seconds.
    pub curve_interval_secs: f64,
    /// The most points the sampled curve may hold.
    pub max_curve_points: usize,
    /// The risk-free rate (always 0).
    pub risk_free_rate: f64,
    /// The rules in words.
    pub rules: [&'static str; 6],
}

impl Conventions {
    fn new(rs: &stats::ReturnStats, interval_ns: i64, max_curve_points: usize) -> Self {
        Self {
            return_samples: rs.count,
            median_sample_spacing_secs: rs.median_spacing_ns.map(|n| n as f64 / 1e9),
            periods_per_year: rs.periods_per_year,
            curve_interval_secs: interval_ns as f64 / 1e9,
            max_curve_points,
            risk_free_rate: 0.0,
            rules: [
                "equity curve: time cut into buckets from the first update; the first update in each bucket is kept; the bucket width starts at 1 ns and doubles (dropping about every other point) whenever more than max_curve_points are held; the last update is always kept",
                "periodic return r_i = equity_i / equity_(i-1) - 1 between consecutive curve points",
                "periods_per_year = 365.25 days / median spacing of the curve points (calendar time, for 24/7 and exchange-hours data alike)",
                "annual_volatility = sample stdev(r) * sqrt(periods_per_year); sharpe = mean(r) / stdev(r) * sqrt(periods_per_year); sortino = mean(r) / sqrt(sum(min(r,0)^2) / n) * sqrt(periods_per_year); risk-free 0",
                "max_drawdown and exposure_time use every equity update, not the sampled curve",
                "trades are closed round trips (entry to flat or reversal); net P&L = realised - all fees of its bookings; positions open at the end are listed under open_positions, marked at the last price, and not counted as trades",
            ],
        }
    }
}

/// Buy-and-hold of one symbol over the prices seen for it: the benchmark line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benchmark {
    /// The instrument.
    pub symbol: String,
    /// First price seen.
    pub first_price: Decimal,
    /// Last price seen.
    pub last_price: Decimal,
    /// When the first price was seen.
    #[serde(serialize_with = "ts_str")]
    pub first_at: Timestamp,
    /// When the last price was seen.
    #[serde(serialize_with = "ts_str")]
    pub last_at: Timestamp,
    /// `last / first − 1`.
    pub total_return: Option<f64>,
    /// Annualised over the symbol's own first-to-last span.
    pub cagr: Option<f64>,
    /// Deepest fall of the price from a running peak, as a fraction.
    pub max_drawdown: f64,
    /// Longest time the price spent below a previous peak, in seconds.
    pub max_drawdown_duration_secs: f64,
    /// Sampled value of `start_cash` invested at the first price (for the chart).
    #[serde(skip)]
    pub curve: Vec<(Timestamp, Decimal)>,
}

/// The check that the equity curve agrees with the trades: `start_cash + realized_pnl − fees +
/// unrealized_pnl == final_equity` (to half a cent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reconciliation {
    /// Cash at the start.
    pub start_cash: Decimal,
    /// Σ realised P&L of all bookings.
    pub realized_pnl: Decimal,
    /// Σ fees of all bookings.
    pub fees: Decimal,
    /// Σ unrealised P&L of open positions at the last price seen.
    pub unrealized_pnl: Decimal,
    /// What the equity should be.
    pub expected_equity: Decimal,
    /// The last equity update.
    pub final_equity: Decimal,
    /// `final_equity − expected_equity`.
    pub difference: Decimal,
}

/// One point of the sampled equity curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EquityPoint {
    /// When.
    pub ts: Timestamp,
    /// Total equity.
    pub equity: Decimal,
    /// Σ |market value| of positions.
    pub gross_exposure: Decimal,
    /// Fall from the running peak of the sampled curve (start cash included), as a fraction.
    pub drawdown: f64,
}

/// A finished backtest report; [`Report::write_files`] writes it out.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// SHA-256 over the ordered fills (see [`Report::fingerprint`]).
    pub fingerprint: String,
    /// Currency of the money figures.
    pub currency: String,
    /// First event.
    #[serde(serialize_with = "ts_str")]
    pub start: Timestamp,
    /// End of the run.
    #[serde(serialize_with = "ts_str")]
    pub end: Timestamp,
    /// `end − start` in seconds.
    pub span_secs: f64,
    /// How statistics were computed.
    pub conventions: Conventions,
    /// Portfolio figures.
    pub portfolio: Portfolio,
    /// Trade statistics over all closed round trips.
    pub trades: TradeStats,
    /// Per strategy, sorted by id.
    pub by_strategy: Vec<TradeStats>,
    /// Per symbol, sorted.
    pub by_symbol: Vec<TradeStats>,
    /// Per LLM provider, over round trips opened by LLM-carrying orders, sorted.
    pub by_llm_provider: Vec<TradeStats>,
    /// LLM confidence against realised hit rate and P&L.
    pub calibration: Vec<CalibrationBucket>,
    /// Buy-and-hold per symbol, sorted.
    pub benchmarks: Vec<Benchmark>,
    /// Positions still open at the end (not counted as trades).
    pub open_positions: Vec<RoundTrip>,
    /// Equity against trades and fees.
    pub reconciliation: Reconciliation,
    /// Problems noticed in the inputs (the figures still add up).
    pub warnings: Vec<String>,
    /// What the runner added with [`Report::set_extra`] (run id, inputs, data report).
    pub extra: BTreeMap<String, serde_json::Value>,
    /// Closed round trips in closing order (written to `trades.csv`, not `report.json`).
    #[serde(skip)]
    pub round_trips: Vec<RoundTrip>,
    /// The sampled equity curve (written to `equity.csv`).
    #[serde(skip)]
    pub equity_curve: Vec<EquityPoint>,
}

/// Names accepted by [`Report::metric`].
pub const METRIC_NAMES: &[&str] = &[
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown",
    "max_drawdown_duration_secs",
    "exposure_time",
    "net_profit",
    "final_equity",
    "fees_paid",
    "turnover",
    "trades",
    "win_rate",
    "profit_factor",
    "avg_win",
    "avg_loss",
    "expectancy",
    "avg_holding_secs",
];

impl Report {
    /// Hex SHA-256 over the ordered fills: for each fill its trade id, strategy (not the
    /// client order id, which carries a stored run's id), symbol, side, quantity, price, fee (normalised decimals) and time in ns, fields
    /// separated by 0x1F and fills terminated by 0x1E. Two runs with the same fills in the same
    /// order share it.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// A figure by name (see [`METRIC_NAMES`]) as a float, for ranking parameter sweeps;
    /// `None` for an unknown name or an undefined figure.
    #[must_use]
    pub fn metric(&self, name: &str) -> Option<f64> {
        let p = &self.portfolio;
        let t = &self.trades;
        let money = |d: Decimal| d.to_f64();
        match name {
            "total_return" => p.total_return,
            "cagr" => p.cagr,
            "annual_volatility" | "volatility" => p.annual_volatility,
            "sharpe" => p.sharpe,
            "sortino" => p.sortino,
            "calmar" => p.calmar,
            "max_drawdown" => Some(p.max_drawdown),
            "max_drawdown_duration_secs" => Some(p.max_drawdown_duration_secs),
            "exposure_time" => p.exposure_time,
            "net_profit" => money(p.net_profit),
            "final_equity" => money(p.final_equity),
            "fees_paid" => money(p.fees_paid),
            "turnover" => money(p.turnover),
            "trades" => Some(t.trades as f64),
            "win_rate" => t.win_rate,
            "profit_factor" => t.profit_factor,
            "avg_win" => t.avg_win.and_then(money),
            "avg_loss" => t.avg_loss.and_then(money),
            "expectancy" => t.expectancy.and_then(money),
            "avg_holding_secs" => t.avg_holding_secs,
            _ => None,
        }
    }

    /// Adds a runner fact (run id, inputs, data report) under `key`; shown in `report.json`
    /// (`extra`) and the HTML. Setting a key again replaces it.
    pub fn set_extra(&mut self, key: &str, value: serde_json::Value) {
        self.extra.insert(key.to_owned(), value);
    }

    /// Checks that the final equity equals start cash + Σ realised − Σ fees + unrealised at the
    /// end, to half a cent.
    ///
    /// # Errors
    /// [`ReportError::Unreconciled`] naming every part and the difference.
    pub fn reconcile(&self) -> Result<&Reconciliation, ReportError> {
        let r = &self.reconciliation;
        if r.difference.abs() <= RECONCILE_TOLERANCE {
            return Ok(r);
        }
        Err(ReportError::Unreconciled {
            start_cash: r.start_cash,
            realized_pnl: r.realized_pnl,
            fees: r.fees,
            unrealized_pnl: r.unrealized_pnl,
            expected_equity: r.expected_equity,
            final_equity: r.final_equity,
            difference: r.difference,
        })
    }

    /// The terminal summary a trader reads (plain text, no colours).
    #[must_use]
    pub fn summary(&self) -> String {
        export::summary(self)
    }
}

/// Serialises a timestamp as RFC 3339 text.
fn ts_str<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ts.to_string())
}

/// Serialises an optional timestamp as RFC 3339 text or `null`.
fn opt_ts_str<S: Serializer>(ts: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match ts {
        Some(t) => s.serialize_str(&t.to_string()),
        None => s.serialize_none(),
    }
}
