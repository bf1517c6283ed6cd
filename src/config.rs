//! `luatrade.toml`: risk limits (global, per strategy, per symbol), trading states, market
//! hours, breach action, LLM confidence floor, pattern-day-trader rule, strategy capital
//! allocations and the protective-stop deadline, with defaults for everything.
//!
//! [`load`] reads a file; a missing key takes its default, an unknown key or a value of the
//! wrong type is an error naming the key path (`risk.global.max_order_notional`) and the
//! line, and a value out of range (a negative limit, a confidence above 1) is an error naming
//! the key. The commented `luatrade.toml` at the repository root loads to exactly
//! [`Config::default`].

use crate::model::time::NANOS_PER_SEC;
use crate::model::{StrategyId, Symbol};
use crate::monitor::StopGuardConfig;
use crate::risk::{LimitField, Limits, RiskConfig, Scope, TradingState};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Risk limits, breach action, market hours, PDT, allocations (`[risk]`).
    pub risk: RiskConfig,
    /// Trading state at start, per level (`[trading_state]`).
    pub trading_state: TradingStateConfig,
    /// The protective-stop guarantee (`[stop_guard]`).
    pub stop_guard: StopGuardSettings,
    /// `luatrade backtest` settings: the same names as its flags (a flag given on the
    /// command line wins).
    pub backtest: BacktestSettings,
}

/// The `[backtest]` table: every `luatrade backtest` flag as a key (`--max-volume-share` is
/// `max_volume_share`); absent keys fall back to the flag defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BacktestSettings {
    /// Price files: `FILE` or `SYMBOL=FILE`.
    pub data: Option<Vec<String>>,
    /// Data format for all files (`auto`, `ohlcv`, `binance-kline`, `alpaca-bars`, `trades`, `quotes`).
    pub format: Option<String>,
    /// Strategy folder or file.
    pub strategies: Option<PathBuf>,
    /// Window start (inclusive).
    pub from: Option<String>,
    /// Window end (exclusive).
    pub to: Option<String>,
    /// Starting cash.
    pub cash: Option<Decimal>,
    /// Account currency.
    pub currency: Option<String>,
    /// Taker fee, basis points.
    pub fees: Option<Decimal>,
    /// Maker fee, basis points.
    pub maker_fees: Option<Decimal>,
    /// Slippage, basis points.
    pub slippage: Option<Decimal>,
    /// `next-open` or `close`.
    pub fill_at: Option<String>,
    /// Largest share of a bar's volume one order may take.
    pub max_volume_share: Option<Decimal>,
    /// Signals file (JSONL).
    pub signals: Option<PathBuf>,
    /// Database URL to store the run in.
    pub db: Option<String>,
    /// Report folder.
    pub out: Option<PathBuf>,
    /// Skip and count bad data rows.
    pub skip_bad_rows: Option<bool>,
    /// Check US stock orders against the regular session.
    pub market_hours: Option<bool>,
    /// Strategy parameters: `fast = 8`, or a sweep `fast = "5..20:5"`.
    pub params: BTreeMap<String, toml::Value>,
    /// Metric a sweep ranks by.
    pub rank_by: Option<String>,
}

/// The trading state each level starts in (all active by default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TradingStateConfig {
    /// The global state.
    pub global: TradingState,
    /// Per strategy.
    pub strategies: BTreeMap<StrategyId, TradingState>,
    /// Per symbol.
    pub symbols: BTreeMap<Symbol, TradingState>,
}

impl TradingStateConfig {
    /// Every level that is not active, as (scope, state).
    #[must_use]
    pub fn non_active(&self) -> Vec<(Scope, TradingState)> {
        let global = std::iter::once((Scope::Global, self.global));
        let strategies = self.strategies.iter().map(|(s, st)| (Scope::Strategy(s.clone()), *st));
        let symbols = self.symbols.iter().map(|(s, st)| (Scope::Symbol(s.clone()), *st));
        global.chain(strategies).chain(symbols).filter(|(_, st)| *st != TradingState::Active).collect()
    }
}

/// The protective-stop guarantee: after an entry fills, a working stop within the deadline,
/// or the position is flattened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StopGuardSettings {
    /// On or off; absent: on for live venues, off for the simulated one.
    pub enabled: Option<bool>,
    /// Seconds a position may be open without a working stop (default 10; fractions allowed).
    pub deadline_secs: Decimal,
}

impl Default for StopGuardSettings {
    fn default() -> Self {
        Self { enabled: None, deadline_secs: Decimal::TEN }
    }
}

impl StopGuardSettings {
    /// The guard's settings for a venue (`live`: a real venue).
    #[must_use]
    pub fn for_venue(&self, live: bool) -> StopGuardConfig {
        let nanos = (self.deadline_secs * Decimal::from(NANOS_PER_SEC)).trunc();
        StopGuardConfig {
            enabled: self.enabled.unwrap_or(live),
            deadline_nanos: i64::try_from(nanos).unwrap_or(i64::MAX),
        }
    }
}

/// Why a configuration file could not be used.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not TOML, an unknown key, or a value of the wrong type.
    #[error("config {path}: key '{key}': {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The key path (`risk.global.max_order_notional`), `.` for the file itself.
        key: String,
        /// The parser's message (with line and column).
        message: String,
    },
    /// A value out of its range.
    #[error("config {path}: key '{key}' = {value} is invalid: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The key path.
        key: String,
        /// The refused value.
        value: String,
        /// What is wrong with it.
        why: String,
    },
}

/// Reads and checks a configuration file.
///
/// # Errors
/// [`ConfigError::Read`] for an unreadable file, [`ConfigError::Parse`] for bad TOML, an
/// unknown key or a wrong type, [`ConfigError::Invalid`] for a value out of range; each
/// names the file and the key.
pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
    parse(&text, path)
}

/// Parses configuration text; `path` only names the source in errors.
///
/// # Errors
/// As [`load`], without [`ConfigError::Read`].
pub fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let parse_err = |key: String, message: String| ConfigError::Parse { path: path.into(), key, message };
    let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| parse_err(".".into(), e.to_string()))?;
    default_global_limits(&mut table);
    let config: Config = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let key = e.path().to_string();
        parse_err(key, e.into_inner().to_string().trim_end().to_owned())
    })?;
    validate(&config, path)?;
    Ok(config)
}

/// Fills the global limits the file does not set with their defaults: a `[risk.global]`
/// table that sets one limit keeps the others (per-strategy and per-symbol tables only
/// tighten, so theirs default to no limit).
fn default_global_limits(table: &mut toml::Table) {
    let Ok(toml::Value::Table(defaults)) = toml::Value::try_from(RiskConfig::default().global) else { return };
    let risk = table.entry("risk").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(risk) = risk.as_table_mut() else { return };
    let global = risk.entry("global").or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(global) = global.as_table_mut() else { return };
    for (k, v) in defaults {
        global.entry(k).or_insert(v);
    }
}

/// Checks every value's range, naming the key of the first bad one.
fn validate(c: &Config, path: &Path) -> Result<(), ConfigError> {
    let invalid = |key: String, value: &dyn std::fmt::Display, why: &str| ConfigError::Invalid {
        path: path.into(),
        key,
        value: value.to_string(),
        why: why.to_owned(),
    };
    let check_limits = |prefix: String, limits: &Limits| -> Result<(), ConfigError> {
        for &field in LimitField::ALL {
            if let Some(v) = limits.get(field) {
                field.validate(v).map_err(|e| {
                    let why = match e {
                        crate::risk::LimitError::Invalid { why, .. } => why,
                    };
                    invalid(format!("{prefix}.{}", field.as_str()), &v, why)
                })?;
            }
        }
        Ok(())
    };
    let r = &c.risk;
    check_limits("risk.global".into(), &r.global)?;
    for (sid, s) in &r.strategies {
        check_limits(format!("risk.strategies.{sid}.limits"), &s.limits)?;
        if let Some(a) = &s.allocation {
            if a.capital <= Decimal::ZERO {
                let key = format!("risk.strategies.{sid}.allocation.capital");
                return Err(invalid(key, &a.capital, "an allocation must be positive"));
            }
        }
    }
    let mut accounts = BTreeMap::new();
    for (sid, a) in r.strategies.iter().filter_map(|(sid, s)| s.allocation.as_ref().map(|a| (sid, a))) {
        if let Some(other) = accounts.insert(a.account.clone(), sid) {
            let key = format!("risk.strategies.{sid}.allocation.account");
            return Err(invalid(key, &a.account, &format!("strategy {other} already trades this sub-ledger")));
        }
    }
    for (sym, limits) in &r.symbols {
        check_limits(format!("risk.symbols.{sym}"), limits)?;
    }
    if r.near_breach_pct <= Decimal::ZERO || r.near_breach_pct > Decimal::ONE_HUNDRED {
        return Err(invalid("risk.near_breach_pct".into(), &r.near_breach_pct, "a percentage must be within (0, 100]"));
    }
    for (i, p) in r.drawdown_alert_pcts.iter().enumerate() {
        if *p <= Decimal::ZERO || *p > Decimal::ONE_HUNDRED {
            return Err(invalid(format!("risk.drawdown_alert_pcts[{i}]"), p, "a percentage must be within (0, 100]"));
        }
    }
    if r.pdt.min_equity.is_sign_negative() {
        return Err(invalid("risk.pdt.min_equity".into(), &r.pdt.min_equity, "must not be negative"));
    }
    if r.pdt.window_days == 0 {
        return Err(invalid("risk.pdt.window_days".into(), &r.pdt.window_days, "must be at least 1"));
    }
    let d = c.stop_guard.deadline_secs;
    if d <= Decimal::ZERO || d > Decimal::from(86_400 * 365) {
        return Err(invalid("stop_guard.deadline_secs".into(), &d, "must be within (0, 31536000] seconds"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn p(text: &str) -> Result<Config, ConfigError> {
        parse(text, Path::new("t.toml"))
    }

    #[test]
    fn the_shipped_example_loads_to_exactly_the_defaults() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/luatrade.toml");
        assert_eq!(load(path).unwrap(), Config::default());
    }

    /// The example's commented values are the real defaults: uncommenting every documented
    /// default (not the examples under commented tables, nor the venue-dependent guard switch)
    /// still loads to the defaults.
    #[test]
    fn the_documented_defaults_are_the_real_ones() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/luatrade.toml")).unwrap();
        let (mut in_example, mut uncommented) = (false, 0);
        let lines: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with('[') {
                    in_example = false;
                } else if l.starts_with("# [") {
                    in_example = true;
                }
                let is_value = l.starts_with("# ") && l[2..].split_once(" = ").is_some_and(|(k, _)| !k.contains(' '));
                if is_value && !in_example && !l.contains("absent:") {
                    uncommented += 1;
                    l[2..].to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect();
        assert_eq!(uncommented, 24, "every documented default is exercised");
        assert_eq!(p(&lines.join("\n")).unwrap(), Config::default());
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(p("").unwrap(), Config::default());
    }

    #[test]
    fn three_levels_states_allocations_and_the_guard_are_read() {
        let c = p(r#"
            [risk]
            market_hours = false
            on_breach = "reduce_only"
            [risk.global]
            max_position_notional = 5000
            min_llm_confidence = 0.75
            [risk.pdt]
            enabled = true
            [risk.strategies.momo.allocation]
            account = "momo"
            capital = "20000.50"
            [risk.strategies.momo.limits]
            max_gross_exposure = 15000
            [risk.symbols.AAPL]
            max_order_qty_stock = 10
            [trading_state]
            global = "reducing_only"
            symbols = { TSLA = "halted" }
            [stop_guard]
            enabled = true
            deadline_secs = 2.5
        "#)
        .unwrap();
        let r = &c.risk;
        assert!(!r.market_hours && r.pdt.enabled);
        assert_eq!(r.on_breach, crate::risk::BreachAction::ReduceOnly);
        assert_eq!(r.global.max_position_notional, Some(dec!(5000)));
        assert_eq!(r.global.min_llm_confidence, Some(dec!(0.75)));
        // Global limits not given keep their defaults; other levels default to no limit.
        assert_eq!(r.global.max_open_orders, RiskConfig::default().global.max_open_orders);
        assert_eq!(r.global.max_open_orders, Some(dec!(50)));
        let momo = &r.strategies[&StrategyId::try_new("momo").unwrap()];
        assert_eq!(momo.allocation.as_ref().map(|a| a.capital), Some(dec!(20000.50)));
        assert_eq!(momo.limits.max_gross_exposure, Some(dec!(15000)));
        assert_eq!(r.symbols[&Symbol::try_new("AAPL").unwrap()].max_order_qty_stock, Some(dec!(10)));
        let states = c.trading_state.non_active();
        assert_eq!(states.len(), 2);
        assert_eq!(states[0], (Scope::Global, TradingState::ReducingOnly));
        assert_eq!(states[1], (Scope::Symbol(Symbol::try_new("TSLA").unwrap()), TradingState::Halted));
        let g = c.stop_guard.for_venue(false);
        assert!(g.enabled);
        assert_eq!(g.deadline_nanos, 2_500_000_000);
        assert!(!StopGuardSettings::default().for_venue(false).enabled);
        assert!(StopGuardSettings::default().for_venue(true).enabled);
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_path() {
        let err = p("[risk.global]\nmax_order_notionall = 5\n").unwrap_err().to_string();
        assert!(err.contains("key 'risk.global.max_order_notionall'") && err.contains("unknown field"), "{err}");
        assert!(err.contains("t.toml"), "{err}");
        let err = p("[risk]\nmarket_hours = \"yes\"\n").unwrap_err().to_string();
        assert!(err.contains("key 'risk.market_hours'") && err.contains("invalid type"), "{err}");
        let err = p("[trading_state]\nglobal = \"paused\"\n").unwrap_err().to_string();
        assert!(err.contains("key 'trading_state.global'") && err.contains("paused"), "{err}");
        let err = p("[risk.strategies.momo]\nallocation = { account = \"momo\" }\n").unwrap_err().to_string();
        assert!(err.contains("risk.strategies.momo.allocation") && err.contains("capital"), "{err}");
        let err = p("[risk\n").unwrap_err().to_string();
        assert!(err.contains("line 1"), "{err}");
        let err = p("[risk]\nglobal = 3\n").unwrap_err().to_string();
        assert!(err.contains("key 'risk.global'") && err.contains("invalid type"), "{err}");
        let err = load("/nonexistent/luatrade.toml").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/luatrade.toml"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_value() {
        let cases = [
            ("[risk.global]\nmax_order_notional = -5\n", "risk.global.max_order_notional' = -5"),
            ("[risk.global]\nmin_llm_confidence = 1.5\n", "risk.global.min_llm_confidence' = 1.5"),
            (
                "[risk.strategies.s1.limits]\nmax_drawdown_pct = 150\n",
                "risk.strategies.s1.limits.max_drawdown_pct' = 150",
            ),
            ("[risk.symbols.AAPL]\nmax_open_orders = 2.5\n", "risk.symbols.AAPL.max_open_orders' = 2.5"),
            (
                "[risk.strategies.s1.allocation]\naccount = \"a\"\ncapital = -1\n",
                "risk.strategies.s1.allocation.capital' = -1",
            ),
            ("[risk]\nnear_breach_pct = 0\n", "risk.near_breach_pct' = 0"),
            ("[risk]\ndrawdown_alert_pcts = [5, 101]\n", "risk.drawdown_alert_pcts[1]' = 101"),
            ("[stop_guard]\ndeadline_secs = 0\n", "stop_guard.deadline_secs' = 0"),
        ];
        for (text, want) in cases {
            let err = p(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
        let shared = "[risk.strategies.a.allocation]\naccount = \"x\"\ncapital = 1\n\
                      [risk.strategies.b.allocation]\naccount = \"x\"\ncapital = 1\n";
        let err = p(shared).unwrap_err().to_string();
        assert!(err.contains("risk.strategies.b.allocation.account") && err.contains("strategy a"), "{err}");
    }
}
