//! `luatrade backtest` on the command line: flags → [`BacktestConfig`], then the run (or the
//! sweep), the terminal summary and the report files.

use super::sweep::{self, ParamRange};
use super::{run, BacktestConfig};
use crate::data::{parse_time, BadRowPolicy, DataFormat, DataSpec};
use crate::model::{AssetClass, Currency};
use crate::venue::sim::FillAt;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// When the simulated venue fills a market order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FillAtArg {
    /// At the next event's open (no look-ahead).
    NextOpen,
    /// At the close of the bar the strategy just saw.
    Close,
}

/// Options of `luatrade backtest`.
#[derive(Args, Debug, Clone)]
pub struct BacktestArgs {
    /// Price files, repeatable: `FILE` or `SYMBOL=FILE` (OHLCV CSV, Binance kline CSV,
    /// Alpaca bars JSON, trade/quote tick CSV). Several merge into one stream by time.
    /// [default: examples/data/orcl_1d_1995-2014.csv]
    #[arg(long = "data")]
    pub data: Vec<String>,
    /// Format of the --data files: auto (by extension and first line), ohlcv,
    /// binance-kline, alpaca-bars, trades or quotes.
    /// [default: auto]
    #[arg(long)]
    pub format: Option<String>,
    /// A folder of `*.lua` strategies, or one file.
    /// [default: strategies]
    #[arg(long)]
    pub strategies: Option<PathBuf>,
    /// Start of the window (inclusive): ISO-8601 date/time or epoch seconds/ms/µs/ns.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Starting cash.
    /// [default: 100000]
    #[arg(long, allow_negative_numbers = true)]
    pub cash: Option<Decimal>,
    /// Account currency.
    /// [default: USD]
    #[arg(long)]
    pub currency: Option<String>,
    /// Taker fee in basis points of notional (market and marketable orders).
    /// [default: 1]
    #[arg(long, allow_negative_numbers = true)]
    pub fees: Option<Decimal>,
    /// Maker fee in basis points (resting limit orders; negative for a rebate).
    /// [default: 0]
    #[arg(long, allow_hyphen_values = true)]
    pub maker_fees: Option<Decimal>,
    /// Slippage in basis points against the order on market fills.
    /// [default: 2]
    #[arg(long, allow_negative_numbers = true)]
    pub slippage: Option<Decimal>,
    /// When market orders fill.
    /// [default: next-open]
    #[arg(long, value_enum)]
    pub fill_at: Option<FillAtArg>,
    /// Largest share of a bar's volume one order may take (e.g. 0.1); unlimited if absent.
    #[arg(long, allow_negative_numbers = true)]
    pub max_volume_share: Option<Decimal>,
    /// LLM/external signals (JSONL) replayed in time order with the prices.
    #[arg(long)]
    pub signals: Option<PathBuf>,
    /// Store the run's orders, fills, positions and trades (`sqlite://FILE`, `postgres://…`).
    /// SQLite commits with `synchronous=normal` unless the URL says `?synchronous=full`.
    #[arg(long)]
    pub db: Option<String>,
    /// Name of the stored run (default: a hash of the inputs, suffixed when taken).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Where report.json, trades.csv, equity.csv, the charts and report.html go.
    /// [default: out/backtest]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Skip (and count) bad data rows instead of stopping at the first one.
    #[arg(long)]
    pub skip_bad_rows: bool,
    /// Check US stock orders against the regular session (for intraday data stamped in
    /// exchange time; daily bars carry no time of day).
    #[arg(long)]
    pub market_hours: bool,
    /// Asset class where the guess from the symbol is wrong: `SYMBOL=stock|crypto|fx`.
    #[arg(long = "asset-class")]
    pub asset_class: Vec<String>,
    /// Strategy parameter, repeatable: `name=5`, `name=5,8,13` or `name=5..20:5`. Any list
    /// or range makes this a sweep over the grid, run in parallel.
    #[arg(long = "param")]
    pub param: Vec<String>,
    /// The metric a sweep ranks by.
    /// [default: sharpe]
    #[arg(long)]
    pub rank_by: Option<String>,
    /// Threads for a sweep (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Configuration file (risk limits, trading states, allocations); default
    /// `./luatrade.toml` when present. Its `market_hours` is replaced by `--market-hours`.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// 100% in basis points.
const FULL_BPS: Decimal = Decimal::from_parts(10_000, 0, 0, false, 0);

fn time(s: &str, name: &str) -> Result<crate::model::Timestamp> {
    parse_time(s).map_err(|e| anyhow::anyhow!("{name}: {e}"))
}

/// Where a setting's value came from, so an error names what the trader wrote: the flag, or
/// the `[backtest]` key and the config file.
struct Origin<'a> {
    /// The config file read, if any.
    file: Option<&'a Path>,
}

impl Origin<'_> {
    /// `--{flag}` when the flag gave the value (or there is no file), else
    /// `backtest.{key} in {file}`.
    fn name(&self, flag: &str, key: &str, by_flag: bool) -> String {
        match self.file {
            Some(file) if !by_flag => format!("backtest.{key} in {}", file.display()),
            _ => format!("--{flag}"),
        }
    }
}

/// The flags with the config file's `[backtest]` table filled in where a flag is absent, and
/// the built-in defaults where both are: what one run (or sweep) uses.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The run configuration.
    pub config: BacktestConfig,
    /// Swept parameters (empty: one run).
    pub ranges: Vec<ParamRange>,
    /// Report folder.
    pub out: PathBuf,
    /// Sweep ranking metric.
    pub rank_by: String,
}

/// Turns the flags (and the config file's `[backtest]` table) into a run configuration and
/// the sweep ranges.
///
/// # Errors
/// A flag or key that cannot be read, naming it.
pub fn config(args: &BacktestArgs) -> Result<(BacktestConfig, Vec<ParamRange>)> {
    resolve(args).map(|r| (r.config, r.ranges))
}

/// As [`config`], with the report folder and ranking metric.
///
/// # Errors
/// A flag or key that cannot be read, naming it.
pub fn resolve(args: &BacktestArgs) -> Result<Resolved> {
    let file_path: Option<&Path> = match &args.config {
        Some(path) => Some(path.as_ref()),
        None if Path::new("luatrade.toml").exists() => Some(Path::new("luatrade.toml")),
        None => None,
    };
    let settings = match file_path {
        Some(path) => crate::config::load(path)?,
        None => crate::config::Config::default(),
    };
    let origin = Origin { file: file_path };
    let file = settings.backtest.clone();
    let format_text = args.format.clone().or(file.format).unwrap_or_else(|| "auto".into());
    let format: DataFormat = format_text
        .parse()
        .with_context(|| format!("{} {format_text}", origin.name("format", "format", args.format.is_some())))?;
    let data_by_flag = !args.data.is_empty();
    let data_given = if data_by_flag { args.data.clone() } else { file.data.unwrap_or_default() };
    let data_given =
        if data_given.is_empty() { vec!["examples/data/orcl_1d_1995-2014.csv".to_owned()] } else { data_given };
    let data = data_given
        .iter()
        .map(|d| {
            let mut spec =
                d.parse::<DataSpec>().with_context(|| format!("{} {d}", origin.name("data", "data", data_by_flag)))?;
            if spec.format == DataFormat::Auto {
                spec.format = format;
            }
            Ok(spec)
        })
        .collect::<Result<Vec<_>>>()?;
    let strategies = args.strategies.clone().or(file.strategies).unwrap_or_else(|| "strategies".into());
    let mut c = BacktestConfig::new(data, strategies);
    let from = args.from.clone().or(file.from);
    let to = args.to.clone().or(file.to);
    let from_name = origin.name("from", "from", args.from.is_some());
    let to_name = origin.name("to", "to", args.to.is_some());
    c.load.from = from.as_deref().map(|s| time(s, &from_name)).transpose()?;
    c.load.to = to.as_deref().map(|s| time(s, &to_name)).transpose()?;
    if let (Some(f), Some(t)) = (c.load.from, c.load.to) {
        if t <= f {
            bail!("{to_name} {t} must be after {from_name} {f}");
        }
    }
    let skip = args.skip_bad_rows || file.skip_bad_rows.unwrap_or(false);
    c.load.on_bad = if skip { BadRowPolicy::Skip } else { BadRowPolicy::Reject };
    c.cash = args.cash.or(file.cash).unwrap_or(Decimal::from(100_000));
    if c.cash <= Decimal::ZERO {
        bail!("{} {}: must be positive", origin.name("cash", "cash", args.cash.is_some()), c.cash);
    }
    let currency = args.currency.clone().or(file.currency).unwrap_or_else(|| "USD".into());
    c.currency = Currency::try_new(&currency)
        .with_context(|| format!("{} {currency}", origin.name("currency", "currency", args.currency.is_some())))?;
    let fees = args.fees.or(file.fees).unwrap_or(Decimal::ONE);
    let slippage = args.slippage.or(file.slippage).unwrap_or(Decimal::TWO);
    let maker_fees = args.maker_fees.or(file.maker_fees).unwrap_or(Decimal::ZERO);
    let fees_name = origin.name("fees", "fees", args.fees.is_some());
    let slippage_name = origin.name("slippage", "slippage", args.slippage.is_some());
    let maker_name = origin.name("maker-fees", "maker_fees", args.maker_fees.is_some());
    for (name, v) in [(&fees_name, fees), (&slippage_name, slippage)] {
        if v < Decimal::ZERO {
            bail!("{name} {v}: must not be negative");
        }
    }
    // 10,000 basis points are the whole notional: a fee or slippage that large would fill a
    // sell at or below zero (the venue clamps it to one tick), so it is surely a typo.
    for (name, v) in [(&fees_name, fees), (&maker_name, maker_fees), (&slippage_name, slippage)] {
        if v.abs() >= FULL_BPS {
            bail!("{name} {v}: basis points must be below 10000 (100%) in size");
        }
    }
    c.sim.taker_fee_bps = fees;
    c.sim.maker_fee_bps = maker_fees;
    c.sim.slippage_bps = slippage;
    let fill_at = match (args.fill_at, file.fill_at.as_deref()) {
        (Some(f), _) => f,
        (None, None | Some("next-open" | "next_open")) => FillAtArg::NextOpen,
        (None, Some("close")) => FillAtArg::Close,
        (None, Some(other)) => {
            bail!("{} {other:?}: expected \"next-open\" or \"close\"", origin.name("fill-at", "fill_at", false))
        }
    };
    c.sim.fill_at = match fill_at {
        FillAtArg::NextOpen => FillAt::NextOpen,
        FillAtArg::Close => FillAt::Close,
    };
    if let Some(share) = args.max_volume_share.or(file.max_volume_share) {
        if share <= Decimal::ZERO || share > Decimal::ONE {
            let name = origin.name("max-volume-share", "max_volume_share", args.max_volume_share.is_some());
            bail!("{name} {share}: must be in (0, 1]");
        }
        c.sim.max_volume_share = Some(share);
    }
    c.signals = args.signals.clone().or(file.signals);
    c.db = args.db.clone().or(file.db);
    c.run_id.clone_from(&args.run_id);
    c.market_hours = args.market_hours || file.market_hours.unwrap_or(false);
    c.settings = settings;
    for a in &args.asset_class {
        let (sym, class) = a.split_once('=').with_context(|| format!("--asset-class {a}: expected SYMBOL=CLASS"))?;
        let class = match class {
            "stock" => AssetClass::Stock,
            "crypto" => AssetClass::Crypto,
            "fx" => AssetClass::Fx,
            other => bail!("--asset-class {a}: class '{other}' is not stock, crypto or fx"),
        };
        c.asset_classes.insert(sym.to_owned(), class);
    }
    c.progress = !args.quiet;
    // Parameters: the file's first, then the flags (a flag replaces the same name).
    let mut specs: Vec<String> = file
        .params
        .iter()
        .map(|(name, v)| match v {
            toml::Value::String(s) => format!("{name}={s}"),
            other => format!("{name}={other}"),
        })
        .collect();
    let from_file = specs.len();
    specs.extend(args.param.iter().cloned());
    let mut by_name: std::collections::BTreeMap<String, ParamRange> = std::collections::BTreeMap::new();
    let mut flag_given: std::collections::BTreeMap<String, &str> = std::collections::BTreeMap::new();
    for (i, p) in specs.iter().enumerate() {
        let r: ParamRange = match (p.parse::<ParamRange>(), origin.file) {
            (Ok(r), _) => r,
            (Err(e), Some(file)) if i < from_file => {
                let name = p.split_once('=').map_or(p.as_str(), |(n, _)| n);
                bail!("backtest.params.{name} in {}: {} (forms: 5, \"5,8,13\", \"5..20:5\")", file.display(), e.message)
            }
            (Err(e), _) => return Err(e.into()),
        };
        if i >= from_file {
            // A flag replaces the file's value, but two flags for one name are a mistake:
            // the second would silently drop the first's values from the grid.
            if let Some(first) = flag_given.insert(r.name.clone(), p) {
                bail!(
                    "--param {p}: '{}' is already given by --param {first}; give it once (a list or range sweeps it)",
                    r.name
                );
            }
        }
        by_name.insert(r.name.clone(), r);
    }
    let mut ranges = Vec::new();
    for (_, r) in by_name {
        if r.values.len() == 1 {
            c.params.insert(r.name, r.values[0].clone());
        } else {
            ranges.push(r);
        }
    }
    let out = args.out.clone().or(file.out).unwrap_or_else(|| "out/backtest".into());
    let rank_by = args.rank_by.clone().or(file.rank_by).unwrap_or_else(|| "sharpe".into());
    Ok(Resolved { config: c, ranges, out, rank_by })
}

/// Runs `luatrade backtest`.
///
/// # Errors
/// Bad flags, bad data, no strategies, or a store failure; each message says which.
pub fn main(args: &BacktestArgs) -> Result<()> {
    let Resolved { config, ranges, out, rank_by } = resolve(args)?;
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    if !ranges.is_empty() {
        let started = std::time::Instant::now();
        let result = sweep::sweep(&config, &ranges, &rank_by, args.threads)?;
        let points = result.rows.len();
        let mut text = result.table();
        let csv = out.join("sweep.csv");
        std::fs::write(&csv, result.csv()).with_context(|| format!("writing {}", csv.display()))?;
        let json = out.join("sweep.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", json.display()))?;
        let _ = writeln!(
            text,
            "{points} runs ranked by {rank_by} in {:.2?}; table in {} and {}",
            started.elapsed(),
            csv.display(),
            json.display()
        );
        return emit(&mut std::io::stdout().lock(), &text);
    }
    let outcome = run(&config)?;
    if outcome.events == 0 {
        bail!("{}", no_events(&config, &outcome.report));
    }
    let write_started = std::time::Instant::now();
    outcome.report.write_files(&out).with_context(|| format!("writing the report to {}", out.display()))?;
    let total = outcome.elapsed + write_started.elapsed();
    // The summary lists the run's warnings (the strategies' errors among them).
    let mut text = outcome.report.summary();
    let _ = writeln!(
        text,
        "{} price events in {:.2?} ({:.0} events/s incl. report files); fingerprint {}",
        outcome.events,
        total,
        outcome.events as f64 / total.as_secs_f64().max(1e-9),
        outcome.report.fingerprint()
    );
    if let Some(db) = &config.db {
        let _ = writeln!(text, "stored as run {} in {}", outcome.run_id, crate::store::redact_url(db));
    }
    let _ = writeln!(text, "report: {}", out.join("report.html").display());
    emit(&mut std::io::stdout().lock(), &text)
}

/// Writes the terminal output. A closed pipe (`luatrade backtest | head`) ends it quietly:
/// the report files are written by then, and the reader asked for no more.
///
/// # Errors
/// Any other write failure, naming standard output.
fn emit(out: &mut impl std::io::Write, text: &str) -> Result<()> {
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e).context("writing to standard output"),
        _ => Ok(()),
    }
}

/// Why a run that saw no price event is refused: its window and what each input held.
fn no_events(config: &BacktestConfig, report: &crate::report::Report) -> String {
    let mut msg = String::from("no price events to run on");
    match (config.load.from, config.load.to) {
        (None, None) => {}
        (from, to) => {
            let show = |t: Option<crate::model::Timestamp>| t.map(|t| t.to_string()).unwrap_or_else(|| "…".into());
            let _ = write!(msg, " in the window --from {} --to {}", show(from), show(to));
        }
    }
    let inputs = report.extra.get("data").and_then(|d| d.get("inputs")).and_then(|i| i.as_array());
    for input in inputs.into_iter().flatten() {
        let field = |k: &str| input.get(k).map(ToString::to_string).unwrap_or_default();
        let _ = write!(
            msg,
            "; {}: {} rows read, {} before the window, {} skipped",
            input.get("path").and_then(|p| p.as_str()).unwrap_or("?"),
            field("rows_read"),
            field("before_window"),
            input
                .get("skipped")
                .and_then(|s| s.as_object())
                .map_or(0, |s| s.values().filter_map(serde_json::Value::as_u64).sum::<u64>()),
        );
    }
    msg.push_str(" (check --from/--to against the data's dates, and the files themselves)");
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: BacktestArgs,
    }

    fn args(list: &[&str]) -> BacktestArgs {
        Cli::try_parse_from(std::iter::once("backtest").chain(list.iter().copied())).unwrap().a
    }

    fn root(rel: &str) -> String {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel).display().to_string()
    }

    fn err(list: &[&str]) -> String {
        format!("{:#}", resolve(&args(list)).unwrap_err())
    }

    #[test]
    fn a_bad_value_from_the_config_file_is_named_by_its_key_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bt.toml");
        let name = file.display().to_string();
        let with = |table: &str| {
            std::fs::write(&file, format!("[backtest]\n{table}\n")).unwrap();
            err(&["--config", &name])
        };
        let e = with("cash = -5");
        assert!(e.contains(&format!("backtest.cash in {name} -5: must be positive")), "{e}");
        assert!(!e.contains("--cash"), "{e}");
        let e = with("fees = -1");
        assert!(e.contains(&format!("backtest.fees in {name} -1: must not be negative")), "{e}");
        let e = with("maker_fees = 20000");
        assert!(e.contains(&format!("backtest.maker_fees in {name} 20000")), "{e}");
        let e = with("max_volume_share = 2");
        assert!(e.contains(&format!("backtest.max_volume_share in {name} 2")), "{e}");
        let e = with("fill_at = \"open\"");
        assert!(e.contains(&format!("backtest.fill_at in {name} \"open\"")), "{e}");
        let e = with("from = \"yesterday\"");
        assert!(e.contains(&format!("backtest.from in {name}")), "{e}");
        let e = with("[backtest.params]\nfast = \"5..20\"");
        assert!(e.contains(&format!("backtest.params.fast in {name}: a range needs a step")), "{e}");
        // The flag, when the flag gave the value.
        std::fs::write(&file, "[backtest]\ncash = 5000\n").unwrap();
        let e = err(&["--config", &name, "--cash", "-5"]);
        assert!(e.contains("--cash -5: must be positive"), "{e}");
    }

    #[test]
    fn negative_numbers_reach_the_range_checks() {
        // Before: clap refused `--cash -5` as "unexpected argument '-5'".
        assert!(err(&["--cash", "-5"]).contains("--cash -5: must be positive"));
        assert!(err(&["--fees", "-1"]).contains("--fees -1: must not be negative"));
        assert!(err(&["--slippage", "-3"]).contains("--slippage -3: must not be negative"));
        assert!(err(&["--max-volume-share", "-0.1"]).contains("must be in (0, 1]"));
    }

    #[test]
    fn basis_points_of_the_whole_notional_or_more_are_refused() {
        assert!(err(&["--slippage", "10001"]).contains("--slippage 10001: basis points must be below 10000"));
        assert!(err(&["--fees", "10000"]).contains("--fees 10000"));
        assert!(err(&["--maker-fees", "-20000"]).contains("--maker-fees -20000"));
        let ok = resolve(&args(&["--slippage", "9999", "--fees", "50", "--maker-fees", "-2"])).unwrap();
        assert_eq!(ok.config.sim.slippage_bps, Decimal::from(9999));
        assert_eq!(ok.config.sim.maker_fee_bps, Decimal::from(-2));
    }

    #[test]
    fn one_name_given_twice_by_flags_is_refused() {
        // Before: the second `--param fast` silently replaced the first's grid.
        let e = err(&["--param", "fast=5..20:5", "--param", "fast=1,2"]);
        assert!(e.contains("'fast' is already given by --param fast=5..20:5"), "{e}");
        let ok = resolve(&args(&["--param", "fast=5..20:5", "--param", "slow=30"])).unwrap();
        assert_eq!(ok.ranges.len(), 1);
        assert_eq!(ok.config.params.get("slow"), Some(&serde_json::json!(30)));
    }

    #[test]
    fn a_window_with_no_data_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let data = format!("ORCL={}", root("examples/data/orcl_1d_1995-2014.csv"));
        let strategy = root("strategies/sma_cross.lua");
        let a = args(&[
            "--data",
            &data,
            "--strategies",
            &strategy,
            "--from",
            "2030-01-01",
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ]);
        let e = format!("{:#}", main(&a).unwrap_err());
        assert!(e.contains("no price events to run on in the window --from 2030-01-01T00:00:00Z"), "{e}");
        assert!(e.contains("orcl_1d_1995-2014.csv: 5036 rows read, 5036 before the window"), "{e}");
        assert!(!out.join("report.json").exists());
    }

    /// A writer whose reader has gone away.
    struct ClosedPipe;

    impl std::io::Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_ends_the_output_quietly_other_failures_do_not() {
        // Before: `println!` panicked ("failed printing to stdout: Broken pipe").
        emit(&mut ClosedPipe, "Backtest report\n").unwrap();
        let mut full = [0u8; 4];
        let e = emit(&mut &mut full[..], "longer than four bytes").unwrap_err();
        assert!(format!("{e:#}").contains("writing to standard output"), "{e:#}");
        let mut v = Vec::new();
        emit(&mut v, "ok\n").unwrap();
        assert_eq!(v, b"ok\n");
    }
}
