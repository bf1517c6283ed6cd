//! `luatrade backtest`: the strategies in a folder run over recorded prices through the same
//! engine, risk checks, monitors and simulated venue as paper trading, and a report comes out.
//!
//! Data flows one way: the merged price stream → strategies (and replayed signals) → risk →
//! OMS → simulated venue → OMS → the report's recorder (and, optionally, the store). The run
//! is deterministic: the same inputs give the same fills, so the same report bytes and the
//! same fingerprint.

pub mod args;
pub mod instruments;
pub mod progress;
pub mod sweep;

use crate::config::Config;
use crate::data::{self, DataSpec, LoadOptions, MergedStream};
use crate::engine::{Engine, EngineError, Journal, NoJournal, StoreJournal, StrategyRunner};
use crate::model::{AccountId, AssetClass, Currency, StrategyId, Timestamp};
use crate::oms::{Booking, Oms, OmsConfig};
use crate::report::{Recorder, RecorderConfig, Report};
use crate::risk::{RiskConfig, RiskEngine};
use crate::strategy::{load_signals_jsonl, HostConfig, Signal, StrategyHost};
use crate::venue::sim::{SimConfig, SimVenue};
use progress::Progress;
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Everything a backtest run needs. Build one from the command line or a config file.
#[derive(Debug, Clone)]
pub struct BacktestConfig {
    /// Price files (several files and symbols merge into one stream ordered by time).
    pub data: Vec<DataSpec>,
    /// A folder of `*.lua` strategies, or one strategy file.
    pub strategies: PathBuf,
    /// Bad-row policy and the `from`/`to` window.
    pub load: LoadOptions,
    /// Starting cash.
    pub cash: Decimal,
    /// The account currency (every instrument is quoted in it, except FX pairs).
    pub currency: Currency,
    /// Fills, fees, slippage and volume cap of the simulated venue.
    pub sim: SimConfig,
    /// Risk limits, starting trading states, allocations and the stop guard (`luatrade.toml`;
    /// the same engine as paper and live trading).
    pub settings: Config,
    /// Check US stock orders against the regular session. Off by default in backtests:
    /// recorded bars are stamped as their source stamps them (daily bars at 00:00 UTC), so
    /// the session check would refuse every order; turn it on for intraday stock data stamped
    /// in exchange time. Replaces the config file's `market_hours`.
    pub market_hours: bool,
    /// Signals (JSONL) replayed in time order alongside the prices.
    pub signals: Option<PathBuf>,
    /// Store the whole run (orders, fills, positions, trades) in this database.
    pub db: Option<String>,
    /// The run id (defaults to a hash of the inputs).
    pub run_id: Option<String>,
    /// Strategy parameter overrides (a sweep's grid point).
    pub params: BTreeMap<String, serde_json::Value>,
    /// Asset class per symbol where the guess from its name is wrong.
    pub asset_classes: BTreeMap<String, AssetClass>,
    /// Draw a progress bar on the terminal.
    pub progress: bool,
}

impl BacktestConfig {
    /// A run of `strategies` over `data` with 100,000 USD, the simulated venue's defaults,
    /// the default configuration (risk limits, no allocations) and the market-hours check off
    /// (see [`BacktestConfig::market_hours`]).
    #[must_use]
    pub fn new(data: Vec<DataSpec>, strategies: PathBuf) -> Self {
        Self {
            data,
            strategies,
            load: LoadOptions::default(),
            cash: Decimal::from(100_000),
            currency: Currency::try_new("USD").expect("literal"),
            sim: SimConfig::default(),
            settings: Config::default(),
            market_hours: false,
            signals: None,
            db: None,
            run_id: None,
            params: BTreeMap::new(),
            asset_classes: BTreeMap::new(),
            progress: false,
        }
    }
}

/// Why a backtest could not run or stopped. Each says what and where.
#[derive(Debug, Error)]
pub enum BacktestError {
    /// A price file is missing or bad (its message names the file and line).
    #[error(transparent)]
    Data(#[from] data::DataError),
    /// No strategy could be loaded.
    #[error("strategies: {0}")]
    Strategies(String),
    /// The signals file cannot be read.
    #[error("signals {path}: {message}")]
    Signals {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The configuration is inconsistent.
    #[error("config: {0}")]
    Config(String),
    /// The engine stopped (a failed commit).
    #[error("engine: {0}")]
    Engine(#[from] EngineError),
    /// The store could not be opened or written.
    #[error("store: {0}")]
    Store(#[from] crate::store::StoreError),
}

/// What a run produced.
#[derive(Debug)]
pub struct BacktestOutcome {
    /// The report (metrics, trades, equity curve; deterministic).
    pub report: Report,
    /// The run id (tags the run's orders in the store).
    pub run_id: String,
    /// Price events processed.
    pub events: u64,
    /// Wall time of the run (load + run + report), not part of the report.
    pub elapsed: Duration,
    /// Problems that did not stop the run: strategies that failed to load or errored,
    /// malformed signal lines. Also in the report.
    pub warnings: Vec<String>,
}

impl BacktestOutcome {
    /// Price events per second of wall time.
    #[must_use]
    pub fn events_per_sec(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The account a backtest trades: `backtest` in memory; the run id when the run is stored,
/// so every stored row of the run carries it.
fn account_for(config: &BacktestConfig, run_id: &str) -> AccountId {
    let name = if config.db.is_some() { run_id } else { "backtest" };
    AccountId::try_new(name).unwrap_or_else(|_| AccountId::try_new("backtest").expect("literal"))
}

/// Runs one backtest.
///
/// # Errors
/// [`BacktestError`]: unreadable or bad data (per the bad-row policy), no loadable strategy,
/// an unreadable signals file, a store that cannot be opened, or a failed commit.
pub fn run(config: &BacktestConfig) -> Result<BacktestOutcome, BacktestError> {
    let started = Instant::now();
    if config.data.is_empty() {
        return Err(BacktestError::Config("no price data given (--data FILE or SYMBOL=FILE)".into()));
    }
    if config.cash <= Decimal::ZERO {
        return Err(BacktestError::Config(format!("starting cash must be positive, got {}", config.cash)));
    }
    let mut sources = Vec::with_capacity(config.data.len());
    let mut symbols = Vec::new();
    for spec in &config.data {
        let source = data::open(spec, &config.load)?;
        if !symbols.contains(source.symbol()) {
            symbols.push(source.symbol().clone());
        }
        sources.push(source);
    }
    let stream = MergedStream::new(sources)?;
    let mut warnings = Vec::new();
    let signals = match &config.signals {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| BacktestError::Signals { path: path.clone(), message: e.to_string() })?;
            let (mut ok, bad) = load_signals_jsonl(&text);
            for e in bad {
                warnings.push(format!("signals {}:{}: {} (line skipped)", path.display(), e.line, e.message));
            }
            ok.sort_by_key(|s| s.ts); // stable: same-time signals keep file order
            ok
        }
        None => Vec::new(),
    };
    let mut journal = match &config.db {
        Some(url) => Some(StoreJournal::connect(&backtest_store_url(url))?),
        None => None,
    };
    let run_id = match (&config.run_id, &journal) {
        (Some(id), _) => id.clone(),
        (None, None) => default_run_id(config),
        (None, Some(j)) => {
            // Same inputs again into the same database: a new run, numbered.
            let base = default_run_id(config);
            let mut id = base.clone();
            let mut n = 1;
            while j.block_on(j.store().run(&id))?.is_some() {
                n += 1;
                id = format!("{base}-{n}");
            }
            id
        }
    };

    let account = account_for(config, &run_id);
    let host_config = HostConfig { account: account.clone(), params: config.params.clone(), ..HostConfig::default() };
    let mut host = StrategyHost::new(host_config);
    let path = &config.strategies;
    if path.is_dir() {
        for e in host.load_dir(path) {
            warnings.push(format!("strategy not loaded: {e}"));
        }
    } else {
        host.load_file(path).map_err(|e| BacktestError::Strategies(e.to_string()))?;
    }
    if host.ids().is_empty() {
        let why = if warnings.is_empty() { "no *.lua files".to_owned() } else { warnings.join("; ") };
        return Err(BacktestError::Strategies(format!("nothing to run in {}: {why}", path.display())));
    }
    check_params_declared(&host, &config.params)?;

    let instruments = instruments::instruments_for(&symbols, &config.asset_classes, &config.currency);
    let persist = config.db.is_some();
    let oms_config =
        if persist { OmsConfig { bookings: true, ..OmsConfig::default() } } else { OmsConfig::in_memory_backtest() };
    let mut oms = Oms::new(instruments.clone(), oms_config);
    oms.deposit(&account, &config.currency, config.cash);
    let risk_config = RiskConfig { market_hours: config.market_hours, ..config.settings.risk.clone() };
    let risk = RiskEngine::new(risk_config).map_err(|e| BacktestError::Config(format!("risk: {e}")))?;
    let venue = SimVenue::new(config.sim.clone(), instruments);
    let ctx = RunContext { config, run_id: &run_id, account, signals, stream, started, warnings };
    match journal.take() {
        None => ctx.drive(Engine::new(oms, risk, venue, NoJournal), host).map(|(o, _)| o),
        Some(journal) => {
            journal.block_on(journal.store().begin_run(&run_id, &describe(config)))?;
            // Position ids are global in the store: continue after the runs already there.
            let last_position =
                journal.block_on(journal.store().positions(false))?.iter().map(|p| p.id.0).max().unwrap_or(0);
            let mut oms = oms;
            oms.set_next_position_id(last_position);
            let mut engine = Engine::new(oms, risk, venue, journal);
            engine.set_id_namespace(&run_id);
            let (outcome, journal) = ctx.drive(engine, host)?;
            let report = serde_json::to_string(&outcome.report).unwrap_or_default();
            journal.block_on(journal.store().finish_run(&run_id, outcome.report.fingerprint(), &report))?;
            Ok(outcome)
        }
    }
}

/// A strategy parameter named in the overrides that no loaded strategy declares is almost
/// certainly a typo: say so instead of running a sweep that changes nothing.
fn check_params_declared(
    host: &StrategyHost,
    params: &BTreeMap<String, serde_json::Value>,
) -> Result<(), BacktestError> {
    for name in params.keys() {
        let declared = host.ids().iter().any(|id| host.params(id).is_some_and(|p| p.get(name).is_some()));
        if !declared {
            let known: Vec<String> =
                host.ids().iter().filter_map(|id| host.params(id).map(|p| format!("{id}: {}", keys(&p)))).collect();
            return Err(BacktestError::Config(format!(
                "no strategy declares the parameter '{name}' (declared: {})",
                known.join("; ")
            )));
        }
    }
    Ok(())
}

/// Loads the strategies `config` names and checks that one of them declares each of
/// `names` (a sweep's parameters), before any grid point runs: an unknown name would
/// otherwise sweep runs that all fail the same way. Strategies that do not load are left
/// to the runs to report.
pub(crate) fn check_swept_params_declared<'a>(
    config: &BacktestConfig,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<(), BacktestError> {
    let mut host = StrategyHost::new(HostConfig { params: config.params.clone(), ..HostConfig::default() });
    if config.strategies.is_dir() {
        let _not_loaded = host.load_dir(&config.strategies);
    } else if host.load_file(&config.strategies).is_err() {
        return Ok(());
    }
    if host.ids().is_empty() {
        return Ok(());
    }
    let names: BTreeMap<String, serde_json::Value> =
        names.into_iter().map(|n| (n.to_owned(), serde_json::Value::Null)).collect();
    check_params_declared(&host, &names)
}

fn keys(v: &serde_json::Value) -> String {
    v.as_object().map(|o| o.keys().cloned().collect::<Vec<_>>().join(", ")).unwrap_or_default()
}

/// A stable id for the run from what defines it: data files (names and sizes), strategy
/// sources, parameters and money settings. Same inputs, same id.
fn default_run_id(config: &BacktestConfig) -> String {
    let mut text = describe(config).to_string();
    let mut files: Vec<PathBuf> = config.data.iter().map(|d| d.path.clone()).collect();
    if config.strategies.is_dir() {
        if let Ok(dir) = std::fs::read_dir(&config.strategies) {
            let mut lua: Vec<PathBuf> = dir
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "lua"))
                .collect();
            lua.sort();
            files.extend(lua);
        }
    } else {
        files.push(config.strategies.clone());
    }
    for f in &files {
        let len = std::fs::metadata(f).map(|m| m.len()).unwrap_or(0);
        text.push_str(&format!("|{}:{len}", f.display()));
        if f.extension().is_some_and(|x| x == "lua") {
            text.push_str(&String::from_utf8_lossy(&std::fs::read(f).unwrap_or_default()));
        }
    }
    format!("bt-{}", &crate::strategy::script_hash(text.as_bytes())[..12])
}

/// The store URL a backtest connects with: an SQLite URL that does not choose its own
/// `synchronous` level gets `normal` (commits survive a crash of the process; a power cut may
/// lose the last ones, and the run re-runs identically from its inputs) instead of the `full`
/// that live trading defaults to, which waits for the disk at every commit.
fn backtest_store_url(url: &str) -> String {
    if !url.starts_with("sqlite:") || url.contains("synchronous=") {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}synchronous=normal")
}

/// The run's inputs as JSON (report and store).
fn describe(config: &BacktestConfig) -> serde_json::Value {
    serde_json::json!({
        "data": config.data.iter().map(|d| match &d.symbol {
            Some(s) => format!("{s}={}", d.path.display()),
            None => d.path.display().to_string(),
        }).collect::<Vec<_>>(),
        "strategies": config.strategies.display().to_string(),
        "from": config.load.from.map(|t| t.to_string()),
        "to": config.load.to.map(|t| t.to_string()),
        "cash": config.cash.to_string(),
        "currency": config.currency.as_str(),
        "fill_at": format!("{:?}", config.sim.fill_at),
        "slippage_bps": config.sim.slippage_bps.to_string(),
        "taker_fee_bps": config.sim.taker_fee_bps.to_string(),
        "maker_fee_bps": config.sim.maker_fee_bps.to_string(),
        "max_volume_share": config.sim.max_volume_share.map(|d| d.to_string()),
        "signals": config.signals.as_ref().map(|p| p.display().to_string()),
        "params": config.params,
    })
}

/// One run's moving parts, independent of where the journal goes.
struct RunContext<'a> {
    config: &'a BacktestConfig,
    run_id: &'a str,
    account: AccountId,
    signals: Vec<Signal>,
    stream: MergedStream,
    started: Instant,
    warnings: Vec<String>,
}

impl RunContext<'_> {
    fn drive<J: Journal>(
        mut self,
        engine: Engine<SimVenue, J>,
        host: StrategyHost,
    ) -> Result<(BacktestOutcome, J), BacktestError> {
        let config = self.config;
        let account = self.account.clone();
        let mut engine = engine;
        engine.apply_config(&config.settings, false);
        let mut runner = StrategyRunner::new(engine, host, account.clone(), config.currency.clone());
        let mut recorder = Recorder::new(RecorderConfig::new(config.cash, config.currency.clone()));
        let mut progress = Progress::new(config.progress, total_rows(&config.data));
        let mut bookings: Vec<Booking> = Vec::new();
        let mut signals = std::mem::take(&mut self.signals).into_iter().peekable();
        let (mut events, mut last_ts) = (0u64, Timestamp(0));
        let mut signals_after_end = 0usize;
        let mut alerts: BTreeMap<String, u64> = BTreeMap::new();

        runner.start()?;
        while let Some(event) = self.stream.next_event()? {
            let ts = event.ts();
            // Peeked, not `next_if`: that moves a signal out and back for every event.
            while signals.peek().is_some_and(|s| s.ts <= ts) {
                let Some(sig) = signals.next() else { break };
                runner.on_signal(&sig)?;
                drain(&mut runner, &mut bookings, &mut recorder);
            }
            runner.on_market(&event)?;
            drain(&mut runner, &mut bookings, &mut recorder);
            if runner.engine().has_alerts() {
                for alert in runner.engine_mut().take_alerts() {
                    *alerts.entry(alert_kind(&alert)).or_insert(0u64) += 1;
                }
            }
            recorder.on_price(event.symbol(), ts, event.mark_price());
            // Over every account: the shared one and the strategies' sub-ledgers.
            let books = runner.engine().equity_totals(&config.currency);
            recorder.on_equity(ts, books.equity, books.gross_exposure);
            events += 1;
            last_ts = ts;
            progress.tick(events);
        }
        signals_after_end += signals.count();
        runner.engine_mut().flush()?;
        // Everything durable before the run is reported (the journal commits behind the engine).
        runner.engine_mut().sync_journal()?;
        drain(&mut runner, &mut bookings, &mut recorder);
        progress.finish(events);

        for e in runner.take_host_events() {
            if let Some(w) = host_warning(&e) {
                self.warnings.push(w);
            }
        }
        if signals_after_end > 0 {
            self.warnings
                .push(format!("{signals_after_end} signals are stamped after the last price and were not delivered"));
        }
        let mut report = recorder.finish(last_ts);
        report.set_extra("inputs", describe(config));
        report.set_extra("data", serde_json::to_value(self.stream.report()).unwrap_or_default());
        // The strategies' errors, pauses and disables, skipped signal lines and strategies that
        // did not load: in the report's own warnings, where the summary and report.html show them.
        report.warnings.extend(counted(&self.warnings));
        let rejections: BTreeMap<String, u64> =
            runner.engine().risk().rejection_counts().iter().map(|(code, n)| (code.as_str().to_owned(), *n)).collect();
        report.set_extra("risk_rejections", serde_json::json!(rejections));
        report.set_extra("alerts", serde_json::json!(alerts));
        report.set_extra(
            "strategies",
            serde_json::json!(runner.host().ids().iter().map(StrategyId::as_str).collect::<Vec<_>>()),
        );
        let outcome = BacktestOutcome {
            report,
            run_id: self.run_id.to_owned(),
            events,
            elapsed: self.started.elapsed(),
            warnings: self.warnings,
        };
        Ok((outcome, runner.into_engine().into_journal()))
    }
}

/// Hands the fills and bookings since the last call to the recorder.
fn drain<J: Journal>(runner: &mut StrategyRunner<SimVenue, J>, buf: &mut Vec<Booking>, recorder: &mut Recorder) {
    let oms = runner.engine_mut().oms_mut();
    if !oms.has_bookings() {
        return;
    }
    oms.drain_bookings_into(buf);
    for b in buf.drain(..) {
        recorder.on_fill(&b.fill, &b.trade.strategy_id, b.llm.as_ref());
        recorder.on_trade(&b.trade, b.llm.as_ref());
    }
}

/// An alert's kind and scope, the key alerts are counted under in the report (a run can
/// raise thousands; the log shows each with `LUATRADE_LOG=warn`).
fn alert_kind(alert: &crate::engine::EngineAlert) -> String {
    use crate::engine::EngineAlert;
    use crate::risk::Alert;
    match alert {
        EngineAlert::Risk(Alert::DrawdownCrossed { scope, .. }) => format!("drawdown_crossed {scope}"),
        EngineAlert::Risk(Alert::NearBreach { scope, .. }) => format!("near_breach {scope}"),
        EngineAlert::Risk(Alert::Breached { scope, .. }) => format!("breached {scope}"),
        EngineAlert::Risk(Alert::TradingState(change)) => format!("trading_state {}", change.scope),
        EngineAlert::Unprotected { .. } => "unprotected".to_owned(),
        EngineAlert::ExitRefused { .. } => "exit_refused".to_owned(),
        EngineAlert::Killed { .. } => "killed".to_owned(),
    }
}

/// Each message once, in first-seen order, with how often it came when more than once (a
/// strategy failing the same way on every bar until it is disabled repeats one).
fn counted(messages: &[String]) -> Vec<String> {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for m in messages {
        match seen.iter_mut().find(|(s, _)| *s == m.as_str()) {
            Some((_, n)) => *n += 1,
            None => seen.push((m.as_str(), 1)),
        }
    }
    seen.into_iter().map(|(m, n)| if n == 1 { m.to_owned() } else { format!("{m} ({n} times)") }).collect()
}

/// Host events worth a line in the report: errors, pauses, disables.
fn host_warning(event: &crate::strategy::HostEvent) -> Option<String> {
    use crate::strategy::HostEvent;
    match event {
        HostEvent::Error(e) => Some(format!("strategy error: {e}")),
        HostEvent::ReloadFailed(e) => Some(format!("reload failed: {e}")),
        HostEvent::Paused(id) => Some(format!("strategy {id} paused")),
        HostEvent::Disabled(id) => Some(format!("strategy {id} disabled after repeated errors")),
        HostEvent::SignalExpired(symbol) => Some(format!("a signal for {symbol} expired before delivery")),
        HostEvent::Started(_) | HostEvent::Stopped(_) | HostEvent::Reloaded { .. } | HostEvent::Log { .. } => None,
    }
}

/// Rows in the data files, for the progress bar (file sizes / a typical line length would
/// do; counting newlines is exact and cheap next to parsing).
fn total_rows(data: &[DataSpec]) -> Option<u64> {
    let mut total = 0u64;
    for d in data {
        total += std::fs::metadata(&d.path).ok()?.len();
    }
    Some(total / 60) // rough: ~60 bytes a row; the bar shows ETA, not an exact count
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineAlert;
    use crate::risk::{Alert, Scope, StateChange, TradingState};

    #[test]
    fn a_backtest_store_syncs_normally_unless_its_url_says_otherwise() {
        assert_eq!(backtest_store_url("sqlite://out/bt.db"), "sqlite://out/bt.db?synchronous=normal");
        assert_eq!(backtest_store_url("sqlite://bt.db?mode=rwc"), "sqlite://bt.db?mode=rwc&synchronous=normal");
        assert_eq!(backtest_store_url("sqlite://bt.db?synchronous=full"), "sqlite://bt.db?synchronous=full");
        assert_eq!(backtest_store_url("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn repeated_warnings_are_listed_once_with_their_count() {
        let w = |s: &str| s.to_owned();
        let list = [w("strategy error: x"), w("a"), w("strategy error: x"), w("strategy error: x")];
        assert_eq!(counted(&list), vec![w("strategy error: x (3 times)"), w("a")]);
        assert!(counted(&[]).is_empty());
    }

    #[test]
    fn alerts_are_counted_by_kind_and_scope() {
        let s = Scope::Strategy(StrategyId::try_new("sma_cross").unwrap());
        let crossed = EngineAlert::Risk(Alert::DrawdownCrossed {
            scope: s.clone(),
            threshold_pct: Decimal::from(5),
            drawdown_pct: Decimal::from(6),
        });
        assert_eq!(alert_kind(&crossed), "drawdown_crossed strategy:sma_cross");
        let halted = EngineAlert::Risk(Alert::TradingState(StateChange {
            scope: Scope::Global,
            prev: TradingState::Active,
            current: TradingState::Halted,
            reason: "max_drawdown_pct breached".into(),
            ts: Timestamp(0),
            who: "risk".into(),
        }));
        assert_eq!(alert_kind(&halted), "trading_state global");
    }
}
