//! The command line: inspect and export what the engine stored. (Runs of strategies —
//! `backtest`, `paper`, `serve` — arrive with the Lua host.)

use crate::model::{ClientOrderId, OrderStatus, StrategyId, Symbol, Timestamp};
use crate::store::{OrderFilter, Store};
use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;

#[cfg(test)]
mod tests {
    #[test]
    fn rejection_codes_are_read_off_the_reason() {
        assert_eq!(super::rejection_code("MAX_ORDER_QTY: limit=100, would_be=101"), "MAX_ORDER_QTY");
        assert_eq!(super::rejection_code("insufficient balance: 3"), "insufficient balance: 3");
        assert_eq!(super::rejection_code(""), "");
    }

    #[derive(Debug, thiserror::Error)]
    enum Inner {
        #[error("prices.csv: {0}")]
        Io(#[from] std::io::Error),
    }

    #[derive(Debug, thiserror::Error)]
    enum Outer {
        #[error("data: {0}")]
        Data(#[from] Inner),
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file or directory");
        let e = anyhow::Error::from(Outer::from(Inner::from(io)));
        assert_eq!(super::error_text(&e), "data: prices.csv: No such file or directory");
        let e =
            anyhow::Error::from(Outer::from(Inner::from(std::io::Error::other("disk full")))).context("backtest run-1");
        assert_eq!(super::error_text(&e), "backtest run-1: data: prices.csv: disk full");
    }

    #[test]
    fn a_cause_the_message_does_not_quote_is_kept() {
        let e = anyhow::Error::from(std::io::Error::other("permission denied")).context("cannot write out/report.json");
        assert_eq!(super::error_text(&e), "cannot write out/report.json: permission denied");
    }
}

/// luatrade: automated trading strategies in Lua on one Rust OMS.
#[derive(Debug, Parser)]
#[command(name = "luatrade", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the embedded default end to end: shipped prices, a Rust SMA-crossover rule, the
    /// OMS, the simulated venue and SQLite; print the books and what was stored.
    Demo(crate::demo::DemoArgs),
    /// Run the strategies in a folder over recorded prices through the engine, risk, monitors
    /// and the simulated venue, and write a report (or sweep parameters over a grid).
    Backtest(Box<crate::backtest::args::BacktestArgs>),
    /// Work with Lua strategy files.
    Strategies {
        /// The action.
        #[command(subcommand)]
        action: StrategiesAction,
    },
    /// Commands that read or maintain the database.
    #[command(flatten)]
    Store(StoreCommand),
}

/// Commands that read or maintain the database.
#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// List orders, filtered by status, symbol, strategy and creation time.
    Orders {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
        /// Only these statuses (repeatable, or comma-separated): pending, open, filled, …
        #[arg(long, value_delimiter = ',')]
        status: Vec<String>,
        /// Only this symbol.
        #[arg(long)]
        symbol: Option<String>,
        /// Only this strategy.
        #[arg(long)]
        strategy: Option<String>,
        /// Only orders created at or after this RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// Only orders created before this RFC 3339 time.
        #[arg(long)]
        to: Option<String>,
        /// Open (non-terminal) orders only.
        #[arg(long)]
        open: bool,
        /// At most this many.
        #[arg(long, default_value = "50")]
        limit: u32,
        /// Skip this many first.
        #[arg(long, default_value = "0")]
        offset: u32,
    },
    /// List positions (open by default).
    Positions {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
        /// Show closed positions instead.
        #[arg(long)]
        closed: bool,
    },
    /// Count rejected orders by reason code (risk codes such as MAX_POSITION_NOTIONAL, or
    /// the venue's words).
    Rejections {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
    },
    /// Show the risk audit trail: every limit and trading-state change (who, when, old, new,
    /// why), oldest first.
    RiskAudit {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
        /// Only the most recent this many.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show the protective monitors of open positions (stop, target, trailing, break-even,
    /// time exit).
    Monitors {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
    },
    /// Show one order's audit trail.
    Audit {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
        /// The client order id.
        cid: String,
    },
    /// Why an order exists: strategy, script hash and generation, callback, signal, LLM
    /// reasoning and confidence, status history and trades.
    Why {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
        /// The client order id.
        cid: String,
    },
    /// Export orders or trades as CSV or JSON to standard output.
    Export {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
        /// What to export.
        what: ExportWhat,
        /// Output format.
        #[arg(long, default_value = "csv")]
        format: ExportFormat,
    },
    /// Database maintenance.
    Db {
        /// The action.
        #[command(subcommand)]
        action: DbAction,
    },
}

/// Strategy actions.
#[derive(Debug, Subcommand)]
pub enum StrategiesAction {
    /// Compile strategy files in the sandbox and report errors with line numbers, without
    /// trading. Exits non-zero if any file fails.
    Check {
        /// The `.lua` files.
        #[arg(required = true)]
        files: Vec<std::path::PathBuf>,
    },
}

/// Export targets.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportWhat {
    /// Every order.
    Orders,
    /// Every trade.
    Trades,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// Comma-separated values with a header.
    Csv,
    /// A JSON array.
    Json,
}

/// Database actions.
#[derive(Debug, Subcommand)]
pub enum DbAction {
    /// Create the database if needed and apply migrations.
    Migrate {
        /// Database URL.
        #[arg(long, env = "DATABASE_URL", default_value = "sqlite://luatrade.db")]
        db: String,
    },
}

fn time(arg: Option<&str>, flag: &str) -> Result<Option<Timestamp>> {
    arg.map(|s| Timestamp::parse_rfc3339(s).with_context(|| format!("--{flag} '{s}' is not an RFC 3339 time")))
        .transpose()
}

/// The stable code of a stored rejection reason: the part before `:` when it is a
/// SCREAMING_SNAKE code (risk), else the whole text (a venue's words).
fn rejection_code(reason: &str) -> &str {
    match reason.split_once(':') {
        Some((code, _)) if !code.is_empty() && code.chars().all(|c| c.is_ascii_uppercase() || c == '_') => code,
        _ => reason,
    }
}

/// Opens a database that must already exist: reading commands never create an empty one.
async fn open_existing(url: &str) -> Result<Store> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            bail!("no database at {path} (run the engine or `luatrade db migrate --db {url}` first)");
        }
    }
    Ok(Store::connect(url).await?)
}

/// An error and its causes on one line, as the terminal shows it: each cause follows the
/// message after `: `, unless the text printed so far already says it (an error whose
/// message quotes its cause would otherwise print that cause twice or more).
#[must_use]
pub fn error_text(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let part = cause.to_string();
        if part.is_empty() || text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

/// Runs a parsed command.
///
/// # Errors
/// Bad arguments, or a store that cannot be opened or read; messages say which.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        // The engine is synchronous and owns its store runtime.
        Command::Demo(args) => crate::demo::run(&args),
        Command::Backtest(args) => crate::backtest::args::main(&args),
        Command::Strategies { action: StrategiesAction::Check { files } } => {
            let mut failed = 0;
            for file in &files {
                match crate::strategy::check_file(file) {
                    Ok(r) => println!(
                        "ok     {} ({}): callbacks {}; params {}; hash {}",
                        r.strategy,
                        r.file,
                        r.callbacks.join(", "),
                        r.params,
                        r.script_hash
                    ),
                    Err(e) => {
                        failed += 1;
                        println!("error  {e}");
                    }
                }
            }
            if failed > 0 {
                bail!("{failed} of {} strategy file(s) failed the check", files.len());
            }
            Ok(())
        }
        Command::Store(command) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(run_store_command(command))
        }
    }
}

async fn run_store_command(command: StoreCommand) -> Result<()> {
    match command {
        StoreCommand::Orders { db, status, symbol, strategy, from, to, open, limit, offset } => {
            let mut statuses = Vec::new();
            for s in &status {
                match OrderStatus::parse(s) {
                    Some(st) => statuses.push(st),
                    None => bail!("--status '{s}' is not an order status (pending, submitted, open, partially_filled, filled, cancelling, cancelled, rejected, expired, failed)"),
                }
            }
            if open {
                statuses.extend(crate::model::status::ALL_STATUSES.into_iter().filter(|s| !s.is_terminal()));
            }
            let filter = OrderFilter {
                status: (!statuses.is_empty()).then_some(statuses),
                symbol: symbol.map(Symbol::try_new).transpose()?,
                strategy_id: strategy.map(StrategyId::try_new).transpose()?,
                from: time(from.as_deref(), "from")?,
                to: time(to.as_deref(), "to")?,
                limit: Some(limit),
                offset: Some(offset),
            };
            let store = open_existing(&db).await?;
            let orders = store.orders(&filter).await?;
            println!(
                "{:<36} {:<10} {:<5} {:<13} {:>12} {:>12} {:>14} {:<16} created",
                "client_order_id", "symbol", "side", "type", "qty", "filled", "avg_px", "status"
            );
            for o in &orders {
                println!(
                    "{:<36} {:<10} {:<5} {:<13} {:>12} {:>12} {:>14} {:<16} {}",
                    o.cid.as_str(),
                    o.symbol.as_str(),
                    o.side.as_str(),
                    o.order_type.as_str(),
                    o.qty(),
                    o.filled_qty(),
                    o.avg_px().map(|p| p.round_dp(6).to_string()).unwrap_or_default(),
                    o.status().as_str(),
                    o.ts_init
                );
            }
            eprintln!("{} order(s)", orders.len());
        }
        StoreCommand::Positions { db, closed } => {
            let store = open_existing(&db).await?;
            let positions: Vec<(crate::model::Position, Option<crate::store::CloseReasonRecord>)> = if closed {
                store.closed_positions_with_reasons().await?
            } else {
                store.positions(true).await?.into_iter().map(|p| (p, None)).collect()
            };
            let reason_head = if closed { " close_reason " } else { " " };
            println!(
                "{:>6} {:<10} {:<10} {:>12} {:>14} {:>14} {:>14} {:<10}{reason_head}opened",
                "id", "account", "symbol", "qty", "avg_px", "realized", "mark", "status"
            );
            for (p, reason) in &positions {
                let reason = match (closed, reason) {
                    (false, _) => " ".to_owned(),
                    (true, r) => format!(" {:<13} ", r.as_ref().map_or("-", |r| r.reason.as_str())),
                };
                println!(
                    "{:>6} {:<10} {:<10} {:>12} {:>14} {:>14} {:>14} {:<10}{reason}{}",
                    p.id,
                    p.account.as_str(),
                    p.symbol.as_str(),
                    p.qty(),
                    p.avg_px().round_dp(6),
                    p.realized_pnl().round_dp(2),
                    p.mark(),
                    p.status().as_str(),
                    p.opened_at()
                );
            }
            eprintln!("{} position(s)", positions.len());
        }
        StoreCommand::Rejections { db } => {
            let store = open_existing(&db).await?;
            let filter = OrderFilter { status: Some(vec![OrderStatus::Rejected]), ..OrderFilter::default() };
            let mut counts = std::collections::BTreeMap::new();
            for o in store.orders(&filter).await? {
                let reason = o.history().iter().rev().find_map(|c| c.reason.clone()).unwrap_or_default();
                *counts.entry(rejection_code(&reason).to_owned()).or_insert(0u64) += 1;
            }
            for (code, n) in &counts {
                println!("{n:>8}  {code}");
            }
            eprintln!("{} rejected order(s)", counts.values().sum::<u64>());
        }
        StoreCommand::RiskAudit { db, limit } => {
            let store = open_existing(&db).await?;
            let rows = store.risk_audit(limit).await?;
            println!("{:<30} {:<24} {:<24} {:>14} {:>14} {:<12} why", "time", "scope", "what", "old", "new", "who");
            for r in &rows {
                println!(
                    "{:<30} {:<24} {:<24} {:>14} {:>14} {:<12} {}",
                    r.ts.to_string(),
                    r.scope.to_string(),
                    r.subject,
                    r.old.as_deref().unwrap_or("none"),
                    r.new.as_deref().unwrap_or("none"),
                    r.who,
                    r.why.as_deref().unwrap_or("")
                );
            }
            eprintln!("{} risk change(s)", rows.len());
        }
        StoreCommand::Monitors { db } => {
            let store = open_existing(&db).await?;
            let monitors = store.monitors().await?;
            println!(
                "{:>6} {:<10} {:<10} {:<5} {:>12} {:>14} {:>14} {:<14} {:>14} {:>14} {:>14} deadline",
                "pos",
                "account",
                "symbol",
                "side",
                "qty",
                "entry",
                "stop",
                "stop_rule",
                "target",
                "trail_best",
                "be_stop"
            );
            let opt = |d: Option<rust_decimal::Decimal>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
            for m in &monitors {
                let r = &m.record;
                println!(
                    "{:>6} {:<10} {:<10} {:<5} {:>12} {:>14} {:>14} {:<14} {:>14} {:>14} {:>14} {}",
                    r.position_id.to_string(),
                    r.key.account.as_str(),
                    r.key.symbol.as_str(),
                    r.side.as_str(),
                    r.qty,
                    r.entry_px,
                    opt(m.stop.map(|s| s.0)),
                    m.stop.map_or("-", |s| s.1.as_str()),
                    opt(m.target),
                    opt(r.state.trail.best),
                    opt(r.state.break_even_stop),
                    m.deadline().map_or_else(|| "-".to_owned(), |d| d.to_string())
                );
            }
            eprintln!("{} monitor(s)", monitors.len());
        }
        StoreCommand::Audit { db, cid } => {
            let cid = ClientOrderId::try_new(cid)?;
            let store = open_existing(&db).await?;
            let Some(order) = store.order(&cid).await? else { bail!("no order {cid} in {db}") };
            println!(
                "{}  {:<22} {:>16}    {:<16} {} {} {} {}",
                order.ts_init,
                "create",
                "",
                "pending",
                order.side,
                order.qty(),
                order.symbol,
                order.order_type
            );
            for c in store.audit_trail(&cid).await? {
                println!(
                    "{}  {:<22} {:>16} -> {:<16} {}",
                    c.ts,
                    c.event.as_str(),
                    c.from.as_str(),
                    c.to.as_str(),
                    c.reason.unwrap_or_default()
                );
            }
        }
        StoreCommand::Why { db, cid } => {
            let cid = ClientOrderId::try_new(cid)?;
            let store = open_existing(&db).await?;
            let Some(why) = store.why(&cid).await? else { bail!("no order {cid} in {db}") };
            print!("{why}");
        }
        StoreCommand::Export { db, what, format } => {
            let store = open_existing(&db).await?;
            let out = std::io::stdout().lock();
            let n = match (what, format) {
                (ExportWhat::Orders, ExportFormat::Csv) => {
                    store.export_orders_csv(&OrderFilter::default(), out).await?
                }
                (ExportWhat::Orders, ExportFormat::Json) => {
                    store.export_orders_json(&OrderFilter::default(), out).await?
                }
                (ExportWhat::Trades, ExportFormat::Csv) => store.export_trades_csv(None, out).await?,
                (ExportWhat::Trades, ExportFormat::Json) => store.export_trades_json(None, out).await?,
            };
            std::io::stdout().flush()?;
            eprintln!("exported {n} row(s)");
        }
        StoreCommand::Db { action: DbAction::Migrate { db } } => {
            let store = Store::connect(&db).await?;
            println!("{} database at {} is up to date", store.backend(), crate::store::redact_url(&db));
        }
    }
    Ok(())
}
