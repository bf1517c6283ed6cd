//! Parameter sweeps: `--param fast=5..20:5 --param slow=20..60:10` runs every grid point as
//! its own backtest, in parallel on all cores, and ranks them by one metric.

use super::{run, BacktestConfig, BacktestError};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// The metrics every sweep row shows, in column order.
pub const COLUMNS: [&str; 8] =
    ["total_return", "cagr", "sharpe", "sortino", "max_drawdown", "win_rate", "profit_factor", "trades"];

/// Grid points a sweep may have: beyond this it is almost certainly a typo in a step.
pub const MAX_POINTS: usize = 10_000;

/// One swept parameter and the values it takes.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamRange {
    /// The parameter's name in the strategies' `params` tables.
    pub name: String,
    /// The values, in order.
    pub values: Vec<serde_json::Value>,
}

/// A `--param` that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--param {spec}: {message} (forms: name=5, name=5,8,13, name=5..20:5)")]
pub struct ParamError {
    /// The text given.
    pub spec: String,
    /// What is wrong.
    pub message: String,
}

impl FromStr for ParamRange {
    type Err = ParamError;

    /// Reads `name=value`, `name=v1,v2,…` or `name=start..end:step` (inclusive end; numbers
    /// may be decimals, e.g. `stop=0.01..0.05:0.01`). Non-numeric single values and lists
    /// are strings (`mode=fast,slow`) or booleans (`true`/`false`).
    fn from_str(spec: &str) -> Result<Self, ParamError> {
        let err = |message: String| ParamError { spec: spec.to_owned(), message };
        let (name, rhs) = spec.split_once('=').ok_or_else(|| err("missing '='".into()))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err(format!("'{name}' is not a parameter name")));
        }
        let rhs = rhs.trim();
        let values = if let Some((range, step)) = rhs.split_once("..").map(|(a, b)| (a, b.split_once(':'))) {
            let Some((end, step)) = step else {
                return Err(err("a range needs a step: start..end:step".into()));
            };
            let num = |s: &str, what: &str| {
                Decimal::from_str(s.trim()).map_err(|_| err(format!("{what} '{s}' is not a number")))
            };
            let (start, end, step) = (num(range, "start")?, num(end, "end")?, num(step, "step")?);
            if step <= Decimal::ZERO {
                return Err(err(format!("step must be positive, got {step}")));
            }
            if end < start {
                return Err(err(format!("end {end} is below start {start}")));
            }
            let count = ((end - start) / step).floor() + Decimal::ONE;
            if count > Decimal::from(MAX_POINTS) {
                return Err(err(format!("{count} values; at most {MAX_POINTS}")));
            }
            let mut out = Vec::new();
            let mut v = start;
            while v <= end {
                out.push(number(v));
                v += step;
            }
            out
        } else {
            rhs.split(',').map(|v| scalar(v.trim())).collect::<Result<Vec<_>, _>>().map_err(err)?
        };
        if values.is_empty() {
            return Err(err("no values".into()));
        }
        Ok(Self { name: name.to_owned(), values })
    }
}

/// A Decimal as a JSON number: an integer when it is whole (Lua sees `10`, not `10.0`).
fn number(d: Decimal) -> serde_json::Value {
    let d = d.normalize();
    if d.scale() == 0 {
        if let Ok(i) = i64::try_from(d.mantissa()) {
            return serde_json::json!(i);
        }
    }
    serde_json::Number::from_f64(rust_decimal::prelude::ToPrimitive::to_f64(&d).unwrap_or(f64::NAN))
        .map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn scalar(v: &str) -> Result<serde_json::Value, String> {
    if v.is_empty() {
        return Err("empty value".into());
    }
    if let Ok(d) = Decimal::from_str(v) {
        return Ok(number(d));
    }
    Ok(match v {
        "true" => serde_json::Value::Bool(true),
        "false" => serde_json::Value::Bool(false),
        s => serde_json::Value::String(s.to_owned()),
    })
}

/// Every combination of the ranges' values, the first range varying slowest.
#[must_use]
pub fn grid(ranges: &[ParamRange]) -> Vec<BTreeMap<String, serde_json::Value>> {
    let mut points = vec![BTreeMap::new()];
    for r in ranges {
        let mut next = Vec::with_capacity(points.len() * r.values.len());
        for p in &points {
            for v in &r.values {
                let mut q = p.clone();
                q.insert(r.name.clone(), v.clone());
                next.push(q);
            }
        }
        points = next;
    }
    points
}

/// One grid point's result.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRow {
    /// The parameters of this point.
    pub params: BTreeMap<String, serde_json::Value>,
    /// The metrics in [`COLUMNS`] (absent when undefined, e.g. no trades).
    pub metrics: BTreeMap<String, Option<f64>>,
    /// The run's fills fingerprint.
    pub fingerprint: String,
    /// The run failed: why (the other points still ran).
    pub error: Option<String>,
    /// What went wrong without stopping the run (a strategy that failed to load, errored or
    /// was disabled: its metrics then say little), each distinct message once, in order.
    pub warnings: Vec<String>,
}

/// A finished sweep, ranked.
#[derive(Debug, Clone, Serialize)]
pub struct SweepResult {
    /// The metric rows are ranked by.
    pub rank_by: String,
    /// The rows, best first; failed points last.
    pub rows: Vec<SweepRow>,
}

/// Whether a larger value of `metric` is better. Not for drawdowns (the report gives their
/// depth as a positive fraction), volatility, fees or turnover.
#[must_use]
pub fn higher_is_better(metric: &str) -> bool {
    !matches!(
        metric,
        "max_drawdown" | "max_drawdown_duration_secs" | "annual_volatility" | "volatility" | "fees_paid" | "turnover"
    )
}

/// Runs `base` once per grid point on `threads` threads (all cores when `None`) and ranks
/// the results by `rank_by` (see [`higher_is_better`]).
///
/// # Errors
/// [`BacktestError::Config`] for an empty grid, an unknown metric, a parameter no loaded
/// strategy declares, or a database (sweep points are not persisted).
pub fn sweep(
    base: &BacktestConfig,
    ranges: &[ParamRange],
    rank_by: &str,
    threads: Option<usize>,
) -> Result<SweepResult, BacktestError> {
    if base.db.is_some() {
        return Err(BacktestError::Config("a sweep does not persist its runs: drop --db".into()));
    }
    if !COLUMNS.contains(&rank_by) {
        return Err(BacktestError::Config(format!(
            "unknown metric '{rank_by}' to rank by; one of {}",
            COLUMNS.join(", ")
        )));
    }
    super::check_swept_params_declared(base, ranges.iter().map(|r| r.name.as_str()))?;
    let points = grid(ranges);
    if points.is_empty() || points.len() > MAX_POINTS {
        return Err(BacktestError::Config(format!("{} grid points; between 1 and {MAX_POINTS}", points.len())));
    }
    let threads = threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
        .clamp(1, points.len());
    let next = AtomicUsize::new(0);
    let rows: Mutex<Vec<(usize, SweepRow)>> = Mutex::new(Vec::with_capacity(points.len()));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(params) = points.get(i) else { break };
                let mut config = base.clone();
                config.progress = false;
                config.params.extend(params.clone());
                let row = match run(&config) {
                    Ok(out) => SweepRow {
                        params: params.clone(),
                        metrics: COLUMNS.iter().map(|m| ((*m).to_owned(), out.report.metric(m))).collect(),
                        fingerprint: out.report.fingerprint().to_owned(),
                        error: None,
                        warnings: distinct(out.warnings),
                    },
                    Err(e) => SweepRow {
                        params: params.clone(),
                        metrics: BTreeMap::new(),
                        fingerprint: String::new(),
                        error: Some(e.to_string()),
                        warnings: Vec::new(),
                    },
                };
                rows.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((i, row));
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    rows.sort_by_key(|(i, _)| *i); // grid order first, so ties rank deterministically
    let mut rows: Vec<SweepRow> = rows.into_iter().map(|(_, r)| r).collect();
    let better = higher_is_better(rank_by);
    rows.sort_by(|a, b| {
        let key = |r: &SweepRow| r.metrics.get(rank_by).copied().flatten().filter(|x| x.is_finite());
        match (key(a), key(b)) {
            (Some(x), Some(y)) => {
                let o = x.partial_cmp(&y).unwrap_or(std::cmp::Ordering::Equal);
                if better {
                    o.reverse()
                } else {
                    o
                }
            }
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        }
    });
    Ok(SweepResult { rank_by: rank_by.to_owned(), rows })
}

/// Each message once, in first-seen order (a strategy erroring on every bar repeats one).
fn distinct(messages: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in messages {
        if !out.contains(&m) {
            out.push(m);
        }
    }
    out
}

impl SweepResult {
    /// The ranked table as text (what the terminal shows).
    #[must_use]
    pub fn table(&self) -> String {
        let names: Vec<String> = self.rows.first().map(|r| r.params.keys().cloned().collect()).unwrap_or_default();
        let mut out = format!("{:>4}  ", "rank");
        for n in &names {
            out.push_str(&format!("{n:>10} "));
        }
        for c in COLUMNS {
            out.push_str(&format!("{c:>14} "));
        }
        out.push_str(" fingerprint\n");
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str(&format!("{:>4}  ", i + 1));
            for n in &names {
                out.push_str(&format!("{:>10} ", r.params.get(n).map(ToString::to_string).unwrap_or_default()));
            }
            if let Some(e) = &r.error {
                out.push_str(&format!("failed: {e}\n"));
                continue;
            }
            for c in COLUMNS {
                match r.metrics.get(c).copied().flatten() {
                    // A count, not a ratio: no decimals.
                    Some(x) if c == "trades" => out.push_str(&format!("{x:>14.0} ")),
                    Some(x) => out.push_str(&format!("{x:>14.4} ")),
                    None => out.push_str(&format!("{:>14} ", "-")),
                }
            }
            out.push_str(&format!(" {}", r.fingerprint));
            if let Some(first) = r.warnings.first() {
                out.push_str(&format!("  ({} warning(s); first: {first})", r.warnings.len()));
            }
            out.push('\n');
        }
        out
    }

    /// The ranked table as CSV (parameters, metrics, fingerprint, error).
    #[must_use]
    pub fn csv(&self) -> String {
        let names: Vec<String> = self.rows.first().map(|r| r.params.keys().cloned().collect()).unwrap_or_default();
        let mut out = String::from("rank");
        for n in &names {
            out.push(',');
            out.push_str(n);
        }
        for c in COLUMNS {
            out.push(',');
            out.push_str(c);
        }
        out.push_str(",fingerprint,error,warnings\n");
        for (i, r) in self.rows.iter().enumerate() {
            out.push_str(&(i + 1).to_string());
            for n in &names {
                out.push(',');
                out.push_str(&r.params.get(n).map(ToString::to_string).unwrap_or_default().replace(',', ";"));
            }
            for c in COLUMNS {
                out.push(',');
                if let Some(x) = r.metrics.get(c).copied().flatten() {
                    out.push_str(&x.to_string());
                }
            }
            out.push(',');
            out.push_str(&r.fingerprint);
            out.push(',');
            if let Some(e) = &r.error {
                quoted(&mut out, e);
            }
            out.push(',');
            if !r.warnings.is_empty() {
                quoted(&mut out, &r.warnings.join(" | "));
            }
            out.push('\n');
        }
        out
    }
}

/// Appends `text` as one quoted CSV cell.
fn quoted(out: &mut String, text: &str) {
    out.push('"');
    out.push_str(&text.replace('"', "\"\""));
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges_lists_and_single_values_parse() {
        let r: ParamRange = "fast=5..20:5".parse().unwrap();
        assert_eq!(r.name, "fast");
        assert_eq!(r.values, vec![json!(5), json!(10), json!(15), json!(20)]);
        let r: ParamRange = "slow=20..60:15".parse().unwrap();
        assert_eq!(r.values, vec![json!(20), json!(35), json!(50)], "end is inclusive only when reached");
        let r: ParamRange = "stop=0.01..0.03:0.01".parse().unwrap();
        assert_eq!(r.values, vec![json!(0.01), json!(0.02), json!(0.03)]);
        let r: ParamRange = "mode=fast,slow".parse().unwrap();
        assert_eq!(r.values, vec![json!("fast"), json!("slow")]);
        let r: ParamRange = "on=true".parse().unwrap();
        assert_eq!(r.values, vec![json!(true)]);
    }

    #[test]
    fn bad_params_say_what_is_wrong() {
        for (spec, want) in [
            ("fast", "missing '='"),
            ("=5", "not a parameter name"),
            ("fast=5..20", "needs a step"),
            ("fast=5..20:0", "step must be positive"),
            ("fast=20..5:1", "below start"),
            ("fast=a..5:1", "start 'a' is not a number"),
            ("fast=1..1000000:1", "at most"),
            ("fast=1,,2", "empty value"),
        ] {
            let e = spec.parse::<ParamRange>().unwrap_err().to_string();
            assert!(e.contains(want), "{spec}: {e}");
            assert!(e.contains(spec), "{spec}: {e}");
        }
    }

    #[test]
    fn drawdown_ranks_shallowest_first_and_returns_highest_first() {
        assert!(!higher_is_better("max_drawdown"));
        assert!(higher_is_better("sharpe") && higher_is_better("total_return") && higher_is_better("win_rate"));
    }

    #[test]
    fn the_grid_is_the_cartesian_product_in_order() {
        let a: ParamRange = "fast=5..20:5".parse().unwrap();
        let b: ParamRange = "slow=20..60:10".parse().unwrap();
        let g = grid(&[a, b]);
        assert_eq!(g.len(), 4 * 5);
        assert_eq!((g[0]["fast"].clone(), g[0]["slow"].clone()), (json!(5), json!(20)));
        assert_eq!((g[1]["fast"].clone(), g[1]["slow"].clone()), (json!(5), json!(30)));
        assert_eq!((g[19]["fast"].clone(), g[19]["slow"].clone()), (json!(20), json!(60)));
        let mut seen = g.clone();
        seen.dedup();
        assert_eq!(seen.len(), 20);
    }

    #[test]
    fn a_point_whose_strategy_errors_says_so_and_trades_print_as_a_count() {
        let row = |fast: i64, trades: Option<f64>, warnings: Vec<String>| SweepRow {
            params: BTreeMap::from([("fast".to_owned(), json!(fast))]),
            metrics: BTreeMap::from([("trades".to_owned(), trades)]),
            fingerprint: "f".into(),
            error: None,
            warnings: distinct(warnings),
        };
        let bad = "strategy error: strategy 'sma_cross' (sma_cross.lua:8) in on_bar: ta.sma: period -5".to_owned();
        let result = SweepResult {
            rank_by: "trades".into(),
            rows: vec![
                row(5, Some(125.0), Vec::new()),
                row(-5, Some(0.0), vec![bad.clone(), bad.clone(), "strategy sma_cross disabled".into()]),
            ],
        };
        let table = result.table();
        let lines: Vec<&str> = table.lines().collect();
        assert!(lines[1].contains(" 125 ") && !lines[1].contains("125.0000"), "{table}");
        assert!(lines[2].contains("(2 warning(s); first: strategy error: strategy 'sma_cross'"), "{table}");
        assert!(!lines[1].contains("warning"), "{table}");
        let csv = result.csv();
        let rows: Vec<&str> = csv.lines().collect();
        assert!(rows[0].ends_with(",fingerprint,error,warnings"), "{csv}");
        assert!(rows[1].ends_with(",f,,"), "{csv}");
        assert!(rows[2].ends_with(&format!(",f,,\"{bad} | strategy sma_cross disabled\"")), "{csv}");
    }
}
