//! `luatrade demo`: the embedded default end to end — recorded prices → a rule written in
//! Rust → the OMS → the simulated venue → SQLite — then a summary read back from the
//! database. The main job until Lua strategies drive the same engine.
//!
//! The rule is an SMA(10)/SMA(30) crossover on closes: on a cross up it buys 20 % of equity
//! at the next open with a bracket (stop-loss 5 % below, take-profit 15 % above the close);
//! on a cross down it cancels the bracket and sells the position at the next open.
//! (Strategies in Lua replace this rule; the engine underneath is the same.)

use crate::data::{csv::read_bars, MarketEvent};
use crate::engine::{Engine, Journal, NoJournal, StoreJournal};
use crate::model::{
    AccountId, BracketSpec, Currency, Instrument, Instruments, OrderRequest, OrderStatus, Side, StrategyId,
    TrailingOffset,
};
use crate::monitor::{BreakEven, Level, MonitorSpec, Trailing};
use crate::oms::{Oms, OmsConfig};
use crate::risk::{RiskConfig, RiskEngine};
use crate::store::Snapshot;
use crate::venue::sim::{SimConfig, SimVenue};
use anyhow::{bail, Context, Result};
use clap::Args;
use rust_decimal::prelude::*;
use std::collections::VecDeque;
use std::path::PathBuf;

/// Options of `luatrade demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// OHLCV CSV file.
    #[arg(long, default_value = "examples/data/orcl_1d_1995-2014.csv")]
    pub data: PathBuf,
    /// Symbol to trade it as.
    #[arg(long, default_value = "ORCL")]
    pub symbol: String,
    /// `stock` (cent tick, whole shares) or `crypto` (cent tick, 0.0001 lots).
    #[arg(long, default_value = "stock")]
    pub asset_class: String,
    /// Database URL (`sqlite://PATH`, `postgres://…`) or `none` for in-memory only. The
    /// default keeps SQLite's WAL with `synchronous=normal`: every commit survives a crash of
    /// the process (what this simulation needs); `synchronous=full` (the store's default for
    /// real money) also survives power loss, at one fsync per commit.
    #[arg(long, default_value = "sqlite://out/demo.db?synchronous=normal")]
    pub db: String,
    /// Starting cash in USD.
    #[arg(long, default_value = "100000")]
    pub cash: Decimal,
    /// Fast SMA length.
    #[arg(long, default_value = "10")]
    pub fast: usize,
    /// Slow SMA length.
    #[arg(long, default_value = "30")]
    pub slow: usize,
    /// Risk limit on one symbol's position value in USD (the demo buys 20 % of equity, so a
    /// lower value shows risk rejecting entries).
    #[arg(long, default_value = "50000")]
    pub max_position_notional: Decimal,
    /// Configuration file (`luatrade.toml`); default: `./luatrade.toml` when it exists, else
    /// the built-in defaults. The demo keeps its own overrides on top: market hours off (daily
    /// bars are stamped 00:00 UTC), and global order-size, position, loss and drawdown limits
    /// that fit its 20 % entries; everything else (PDT, trading states, breach action, LLM
    /// confidence, strategy and symbol limits, stop guard) comes from the file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How entries are protected: `bracket` (stop-loss and take-profit child orders at the
    /// venue) or `monitors` (engine monitors: stop-loss 5 %, take-profit 15 %, trailing stop
    /// 8 % once 5 % up, break-even after 7 %; persisted with every commit).
    #[arg(long, default_value = "bracket")]
    pub protect: String,
    /// Crash drill: after this many fills, print the committed state as JSON and abort the
    /// process without any shutdown (used by the crash-recovery test).
    #[arg(long, hide = true)]
    pub abort_after_fills: Option<u64>,
}

/// Rolling simple moving average.
struct Sma {
    len: usize,
    window: VecDeque<f64>,
    sum: f64,
}

impl Sma {
    fn new(len: usize) -> Self {
        Self { len, window: VecDeque::with_capacity(len + 1), sum: 0.0 }
    }
    fn push(&mut self, x: f64) -> Option<f64> {
        self.window.push_back(x);
        self.sum += x;
        if self.window.len() > self.len {
            self.sum -= self.window.pop_front().unwrap_or_default();
        }
        (self.window.len() == self.len).then(|| self.sum / self.len as f64)
    }
}

/// Risk limits sized for the demo: every default check runs, with position limits that fit
/// an entry of 20 % of a 100,000 USD account. Market hours are off because daily bars are
/// stamped 00:00 UTC, outside any session.
fn demo_risk(base: RiskConfig, max_position_notional: Decimal) -> RiskConfig {
    let mut risk = RiskConfig { market_hours: false, ..base };
    let d = |n: i64| Some(Decimal::from(n));
    risk.global.max_order_qty_stock = d(100_000);
    risk.global.max_order_qty_crypto = d(10);
    risk.global.max_order_notional = d(50_000);
    risk.global.max_position_notional = Some(max_position_notional);
    risk.global.daily_loss_limit = d(10_000);
    risk.global.max_drawdown_pct = d(30);
    risk
}

/// The demo's monitors for `--protect monitors`.
fn demo_monitors() -> MonitorSpec {
    let pct = |n: i64| Level::Percent(Decimal::from(n));
    MonitorSpec {
        stop_loss: Some(pct(5)),
        take_profit: Some(pct(15)),
        trailing: Some(Trailing { offset: TrailingOffset::Percent(Decimal::from(8)), activation: Some(pct(5)) }),
        break_even: Some(BreakEven { after: pct(7), plus_fees: true }),
        max_holding_nanos: None,
    }
}

fn instrument(symbol: &str, class: &str) -> Result<Instrument> {
    Ok(match class {
        "stock" => Instrument::us_stock(symbol),
        "crypto" => Instrument::crypto(symbol, symbol, "USD", Decimal::new(1, 2), Decimal::new(1, 4)),
        other => bail!("--asset-class must be stock or crypto, got {other}"),
    })
}

/// Runs the demo.
///
/// # Errors
/// Bad options, unreadable data, a database that cannot be opened or is not empty, or a
/// failed commit; each message says which.
pub fn run(args: &DemoArgs) -> Result<()> {
    if args.fast == 0 || args.fast >= args.slow {
        bail!("--fast must be at least 1 and below --slow (got {} and {})", args.fast, args.slow);
    }
    if !matches!(args.protect.as_str(), "bracket" | "monitors") {
        bail!("--protect must be bracket or monitors, got {}", args.protect);
    }
    let bars = read_bars(&args.data).with_context(|| format!("loading {}", args.data.display()))?;
    if args.db == "none" {
        run_with(args, bars, NoJournal, false)
    } else {
        // Each run is a fresh session: its client order ids restart at 1.
        if let Some(path) = args.db.strip_prefix("sqlite://") {
            let path = std::path::Path::new(path.split('?').next().unwrap_or(path));
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            if path.exists() {
                println!("replacing {} from the previous run", path.display());
                for suffix in ["", "-wal", "-shm"] {
                    let file = format!("{}{suffix}", path.display());
                    if std::path::Path::new(&file).exists() {
                        std::fs::remove_file(&file).with_context(|| format!("removing {file}"))?;
                    }
                }
            }
        }
        let journal = StoreJournal::connect(&args.db).with_context(|| format!("opening {}", args.db))?;
        let existing = journal.block_on(journal.store().orders(&Default::default()))?.len();
        if existing > 0 {
            bail!("{} already holds {existing} orders from another session; give the demo an empty database", args.db);
        }
        run_with(args, bars, journal, true)
    }
}

fn run_with<J: Journal + Summarise>(
    args: &DemoArgs,
    bars: Vec<crate::data::Bar>,
    journal: J,
    persist: bool,
) -> Result<()> {
    let inst = instrument(&args.symbol, &args.asset_class)?;
    let (symbol, tick, lot) = (inst.symbol.clone(), inst.tick_size, inst.lot_size);
    let usd = Currency::try_new("USD")?;
    let account = AccountId::try_new("paper")?;
    let strategy = StrategyId::try_new("sma_demo")?;
    let instruments: Instruments = [inst.clone()].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig { journal: persist, ..OmsConfig::default() });
    oms.deposit(&account, &usd, args.cash);
    let sim = SimConfig {
        slippage_bps: Decimal::new(2, 0),
        taker_fee_bps: Decimal::new(1, 0),
        maker_fee_bps: Decimal::new(0, 0),
        max_volume_share: Some(Decimal::new(1, 1)),
        ..SimConfig::default()
    };
    let config = match &args.config {
        Some(path) => crate::config::load(path)?,
        None if std::path::Path::new("luatrade.toml").exists() => crate::config::load("luatrade.toml")?,
        None => crate::config::Config::default(),
    };
    let mut engine = Engine::new(
        oms,
        RiskEngine::new(demo_risk(config.risk.clone(), args.max_position_notional))?,
        SimVenue::new(sim, instruments),
        journal,
    );
    engine.apply_config(&config, false);
    // With an allocation for the demo's strategy in the config, it trades its sub-ledger.
    engine.fund_allocations(&account)?;
    let account = engine.account_of(&strategy, &account);
    let monitors = args.protect == "monitors";

    let (mut fast, mut slow) = (Sma::new(args.fast), Sma::new(args.slow));
    let mut prev_diff: Option<f64> = None;
    let started = std::time::Instant::now();
    let n_bars = bars.len();
    for bar in bars {
        let close = bar.close;
        engine.on_market(&MarketEvent::Bar(symbol.clone(), bar))?;
        if let Some(limit) = args.abort_after_fills {
            if engine.stats().fills >= limit {
                // The state printed is the committed state: wait for the end-of-event batch.
                engine.sync_journal()?;
                crash_drill(&engine, &usd);
            }
        }
        let c = close.to_f64().unwrap_or(f64::NAN);
        let (Some(f), Some(s)) = (fast.push(c), slow.push(c)) else { continue };
        let diff = f - s;
        let crossed_up = prev_diff.is_some_and(|p| p <= 0.0) && diff > 0.0;
        let crossed_down = prev_diff.is_some_and(|p| p >= 0.0) && diff < 0.0;
        prev_diff = Some(diff);
        let book = engine.oms().portfolio(&account).context("account")?;
        let held = book.qty(&symbol);
        let entry_working = engine.oms().open_orders().any(|o| o.symbol == symbol && !o.reduce_only);
        if crossed_up && held.is_zero() && !entry_working {
            let budget = book.equity(&usd) * Decimal::new(2, 1);
            let qty = ((budget / close) / lot).floor() * lot;
            if qty.is_zero() {
                continue;
            }
            let round = |x: Decimal| (x / tick).round() * tick;
            let mut req = OrderRequest::market(account.clone(), strategy.clone(), symbol.clone(), Side::Buy, qty);
            if monitors {
                engine.submit_protected(&req, demo_monitors())?;
            } else {
                req.bracket = Some(BracketSpec {
                    stop_loss: Some(round(close * Decimal::new(95, 2))),
                    take_profit: Some(round(close * Decimal::new(115, 2))),
                });
                engine.submit(&req)?;
            }
            engine.flush()?; // sent now, stamped at the signal bar's close
        } else if crossed_down && held > Decimal::ZERO {
            let children: Vec<_> = engine
                .oms()
                .open_orders()
                .filter(|o| o.symbol == symbol && o.reduce_only && o.status() != OrderStatus::Cancelling)
                .map(|o| o.cid.clone())
                .collect();
            for cid in children {
                engine.cancel(&cid, "signal exit")?;
            }
            let mut req = OrderRequest::market(account.clone(), strategy.clone(), symbol.clone(), Side::Sell, held);
            req.reduce_only = true;
            engine.submit(&req)?;
            engine.flush()?;
        }
    }
    engine.flush()?;
    engine.sync_journal()?; // the end-of-run batch is durable before the summary reads it
    let elapsed = started.elapsed();

    let book = engine.oms().portfolio(&account).context("account")?;
    let s = book.summary(&usd);
    let stats = engine.stats();
    println!("luatrade sim demo: {} bars of {} from {}", n_bars, symbol, args.data.display());
    println!("  orders submitted   {}", stats.submitted);
    println!("  fills              {}", stats.fills);
    println!("  store commits      {}", stats.commits);
    println!("  refused events     {}", stats.refused_events);
    println!("  starting cash      {} USD ({})", book.deposits(&usd), account);
    println!("  cash               {} USD", s.cash.round_dp(2));
    println!("  equity             {} USD", s.equity.round_dp(2));
    println!("  realised P&L       {} USD (gross)", s.realized_pnl.round_dp(2));
    println!("  unrealised P&L     {} USD", s.unrealized_pnl.round_dp(2));
    println!("  fees               {} USD", s.fees.round_dp(2));
    println!("  position           {} {}", book.qty(&symbol), symbol);
    println!("  open orders        {}", engine.oms().open_orders().count());
    let rejections = engine.risk().rejection_counts();
    println!(
        "  risk rejections    {}",
        if rejections.is_empty() { "none".to_owned() } else { format!("{rejections:?}") }
    );
    println!("  risk alerts        {}", engine.take_alerts().len());
    println!("  run time           {:.3?} ({:.0} bars/s)", elapsed, n_bars as f64 / elapsed.as_secs_f64());
    engine.journal().summarise(&args.db)?;
    Ok(())
}

/// Prints the state as of the last commit and aborts: no destructors, no flush, no close.
fn crash_drill<J: Journal>(engine: &Engine<SimVenue, J>, usd: &Currency) -> ! {
    let mut books: Vec<_> = engine.oms().portfolios().collect();
    books.sort_by(|a, b| a.account().cmp(b.account()));
    let mut open_positions: Vec<_> = books.iter().flat_map(|b| b.positions().cloned()).collect();
    open_positions.sort_by_key(|p| p.id);
    let snapshot = Snapshot {
        open_orders: engine.oms().open_orders().cloned().collect(),
        open_positions,
        balances: books.iter().map(|b| (b.account().clone(), usd.clone(), b.cash(usd))).collect(),
    };
    let state = serde_json::json!({
        "open_orders": snapshot.open_orders,
        "open_positions": snapshot.open_positions,
        "balances": snapshot.balances,
        "monitors": engine.monitors().export().monitors,
    });
    println!("{state}");
    use std::io::Write;
    let _ = std::io::stdout().flush();
    std::process::abort();
}

/// What a journal can say about what it stored, after the run.
trait Summarise {
    fn summarise(&self, url: &str) -> Result<()>;
}

impl Summarise for NoJournal {
    fn summarise(&self, _url: &str) -> Result<()> {
        println!("  (in memory: nothing persisted)");
        Ok(())
    }
}

impl Summarise for StoreJournal {
    fn summarise(&self, url: &str) -> Result<()> {
        let store = self.store();
        let orders = self.block_on(store.orders(&Default::default()))?;
        let mut by_status = std::collections::BTreeMap::new();
        for o in &orders {
            *by_status.entry(o.status().as_str()).or_insert(0usize) += 1;
        }
        let trades = self.block_on(store.trades(None, None))?;
        println!("  persisted to       {url}");
        println!("    orders           {} {:?}", orders.len(), by_status);
        println!("    trades           {}", trades.len());
        if let Some(first) = orders.iter().find(|o| o.role.is_some()) {
            println!("    audit trail of the first bracket entry {}:", first.cid);
            for c in self.block_on(store.audit_trail(&first.cid))? {
                println!(
                    "      {}  {:<15} {:>16} -> {:<16} {}",
                    c.ts,
                    c.event,
                    c.from,
                    c.to,
                    c.reason.unwrap_or_default()
                );
            }
        }
        println!("  inspect with: luatrade orders --db {url}   (or cargo run --release -- orders --db {url})");
        Ok(())
    }
}
