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
    #[arg(long = "data", default_value = "examples/data/orcl_1d_1995-2014.csv")]
    pub data: Vec<String>,
    /// Format of the --data files: auto (by extension and first line), ohlcv,
    /// binance-kline, alpaca-bars, trades or quotes.
    #[arg(long, default_value = "auto")]
    pub format: String,
    /// A folder of `*.lua` strategies, or one file.
    #[arg(long, default_value = "strategies")]
    pub strategies: PathBuf,
    /// Start of the window (inclusive): ISO-8601 date/time or epoch seconds/ms/µs/ns.
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window (exclusive).
    #[arg(long)]
    pub to: Option<String>,
    /// Starting cash.
    #[arg(long, default_value = "100000")]
    pub cash: Decimal,
    /// Account currency.
    #[arg(long, default_value = "USD")]
    pub currency: String,
    /// Taker fee in basis points of notional (market and marketable orders).
    #[arg(long, default_value = "1")]
    pub fees: Decimal,
    /// Maker fee in basis points (resting limit orders; negative for a rebate).
    #[arg(long, default_value = "0", allow_hyphen_values = true)]
    pub maker_fees: Decimal,
    /// Slippage in basis points against the order on market fills.
    #[arg(long, default_value = "2")]
    pub slippage: Decimal,
    /// When market orders fill.
    #[arg(long, value_enum, default_value = "next-open")]
    pub fill_at: FillAtArg,
    /// Largest share of a bar's volume one order may take (e.g. 0.1); unlimited if absent.
    #[arg(long)]
    pub max_volume_share: Option<Decimal>,
    /// LLM/external signals (JSONL) replayed in time order with the prices.
    #[arg(long)]
    pub signals: Option<PathBuf>,
    /// Store the run's orders, fills, positions and trades (`sqlite://FILE`, `postgres://…`).
    #[arg(long)]
    pub db: Option<String>,
    /// Name of the stored run (default: a hash of the inputs, suffixed when taken).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Where report.json, trades.csv, equity.csv, the charts and report.html go.
    #[arg(long, default_value = "out/backtest")]
    pub out: PathBuf,
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
    #[arg(long, default_value = "sharpe")]
    pub rank_by: String,
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

fn time(s: &str, flag: &str) -> Result<crate::model::Timestamp> {
    parse_time(s).map_err(|e| anyhow::anyhow!("--{flag}: {e}"))
}

/// Turns the flags into a run configuration and the sweep ranges.
///
/// # Errors
/// A flag that cannot be read, naming it.
pub fn config(args: &BacktestArgs) -> Result<(BacktestConfig, Vec<ParamRange>)> {
    let format: DataFormat = args.format.parse().with_context(|| format!("--format {}", args.format))?;
    let data = args
        .data
        .iter()
        .map(|d| {
            let mut spec = d.parse::<DataSpec>().with_context(|| format!("--data {d}"))?;
            if spec.format == DataFormat::Auto {
                spec.format = format;
            }
            Ok(spec)
        })
        .collect::<Result<Vec<_>>>()?;
    let mut c = BacktestConfig::new(data, args.strategies.clone());
    c.load.from = args.from.as_deref().map(|s| time(s, "from")).transpose()?;
    c.load.to = args.to.as_deref().map(|s| time(s, "to")).transpose()?;
    if let (Some(f), Some(t)) = (c.load.from, c.load.to) {
        if t <= f {
            bail!("--to {t} must be after --from {f}");
        }
    }
    c.load.on_bad = if args.skip_bad_rows { BadRowPolicy::Skip } else { BadRowPolicy::Reject };
    c.cash = args.cash;
    c.currency = Currency::try_new(&args.currency).with_context(|| format!("--currency {}", args.currency))?;
    for (flag, v) in [("fees", args.fees), ("slippage", args.slippage)] {
        if v < Decimal::ZERO {
            bail!("--{flag} {v}: must not be negative");
        }
    }
    c.sim.taker_fee_bps = args.fees;
    c.sim.maker_fee_bps = args.maker_fees;
    c.sim.slippage_bps = args.slippage;
    c.sim.fill_at = match args.fill_at {
        FillAtArg::NextOpen => FillAt::NextOpen,
        FillAtArg::Close => FillAt::Close,
    };
    if let Some(share) = args.max_volume_share {
        if share <= Decimal::ZERO || share > Decimal::ONE {
            bail!("--max-volume-share {share}: must be in (0, 1]");
        }
        c.sim.max_volume_share = Some(share);
    }
    c.signals.clone_from(&args.signals);
    c.db.clone_from(&args.db);
    c.run_id.clone_from(&args.run_id);
    c.settings = match &args.config {
        Some(path) => crate::config::load(path)?,
        None if Path::new("luatrade.toml").exists() => crate::config::load("luatrade.toml")?,
        None => crate::config::Config::default(),
    };
    c.market_hours = args.market_hours;
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
    let mut ranges = Vec::new();
    for p in &args.param {
        let r: ParamRange = p.parse()?;
        if r.values.len() == 1 {
            c.params.insert(r.name, r.values[0].clone());
        } else {
            ranges.push(r);
        }
    }
    Ok((c, ranges))
}

/// Runs `luatrade backtest`.
///
/// # Errors
/// Bad flags, bad data, no strategies, or a store failure; each message says which.
pub fn main(args: &BacktestArgs) -> Result<()> {
    let (config, ranges) = config(args)?;
    std::fs::create_dir_all(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    if !ranges.is_empty() {
        let started = std::time::Instant::now();
        let result = sweep::sweep(&config, &ranges, &args.rank_by, args.threads)?;
        let points = result.rows.len();
        print!("{}", result.table());
        let csv = args.out.join("sweep.csv");
        std::fs::write(&csv, result.csv()).with_context(|| format!("writing {}", csv.display()))?;
        let json = args.out.join("sweep.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&result)?)
            .with_context(|| format!("writing {}", json.display()))?;
        println!(
            "{points} runs ranked by {} in {:.2?}; table in {} and {}",
            args.rank_by,
            started.elapsed(),
            csv.display(),
            json.display()
        );
        return Ok(());
    }
    let outcome = run(&config)?;
    let write_started = std::time::Instant::now();
    outcome.report.write_files(&args.out).with_context(|| format!("writing the report to {}", args.out.display()))?;
    let total = outcome.elapsed + write_started.elapsed();
    print!("{}", outcome.report.summary());
    for w in &outcome.warnings {
        println!("warning: {w}");
    }
    println!(
        "{} price events in {:.2?} ({:.0} events/s incl. report files); fingerprint {}",
        outcome.events,
        total,
        outcome.events as f64 / total.as_secs_f64().max(1e-9),
        outcome.report.fingerprint()
    );
    if let Some(db) = &config.db {
        println!("stored as run {} in {}", outcome.run_id, crate::store::redact_url(db));
    }
    println!("report: {}", args.out.join("report.html").display());
    Ok(())
}
