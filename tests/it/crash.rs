//! Crash recovery and the command line, on real processes and real databases.
//!
//! `luatrade demo` runs the engine over shipped data into a real database and, with
//! `--abort-after-fills N`, prints the books as of its last commit and calls
//! `std::process::abort()`: no destructors, no pool close, no WAL checkpoint. The database,
//! reopened, must give back exactly those open orders, positions and cash.

use crate::support::{pg_admin_url, pg_db, with_database};
use luatrade::data::{Bar, MarketEvent};
use luatrade::engine::{Engine, StoreJournal};
use luatrade::model::{AccountId, Currency, Instrument, Instruments, Order, Position};
use luatrade::monitor::{ExitReason, MonitorRecord};
use luatrade::oms::{Oms, OmsConfig};
use luatrade::risk::{RiskConfig, RiskEngine};
use luatrade::store::Store;
use luatrade::venue::sim::{SimConfig, SimVenue};
use rust_decimal::Decimal;
use std::process::Command;

/// `luatrade demo …` (cargo builds the binary fresh for integration tests).
fn demo() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_luatrade"));
    cmd.arg("demo");
    cmd
}

fn repo_file(rel: &str) -> String {
    format!("{}/{rel}", env!("CARGO_MANIFEST_DIR"))
}

#[derive(serde::Deserialize, Debug)]
struct Printed {
    open_orders: Vec<Order>,
    open_positions: Vec<Position>,
    balances: Vec<(AccountId, Currency, Decimal)>,
    #[serde(default)]
    monitors: Vec<MonitorRecord>,
}

/// Runs the demo until `fills` fills, aborting there; returns what it printed.
fn crash_after(db_url: &str, fills: u64) -> Printed {
    crash_after_with(db_url, fills, &[])
}

/// As [`crash_after`], with more demo options.
fn crash_after_with(db_url: &str, fills: u64, extra: &[&str]) -> Printed {
    let out = demo()
        .args(["--data", &repo_file("examples/data/orcl_1d_1995-2014.csv"), "--db", db_url])
        .args(extra)
        .args(["--abort-after-fills", &fills.to_string()])
        .output()
        .expect("run luatrade demo");
    assert!(!out.status.success(), "the drill must abort, got {:?}", out.status);
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(out.status.signal(), Some(6), "SIGABRT expected; stderr: {}", String::from_utf8_lossy(&out.stderr));
    }
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    serde_json::from_str(stdout.lines().next().expect("state line")).expect("state JSON")
}

async fn check_recovery(db_url: &str, fills: u64) -> Printed {
    let printed = crash_after(db_url, fills);
    let store = Store::connect(db_url).await.expect("reopen after crash");
    let snap = store.load_snapshot().await.expect("snapshot");
    assert_eq!(snap.open_orders, printed.open_orders, "open orders after crash at fill {fills}");
    assert_eq!(snap.open_positions, printed.open_positions, "positions after crash at fill {fills}");
    assert_eq!(snap.balances, printed.balances, "cash after crash at fill {fills}");
    store.close().await;
    printed
}

/// Crash at fill 1: a bracket entry just filled, its two children are working, and a
/// position is open, so every part of the snapshot is non-trivial.
async fn check_recovery_at_first_fill(db_url: &str) {
    let printed = check_recovery(db_url, 1).await;
    assert_eq!(printed.open_orders.len(), 2, "stop-loss and take-profit are working");
    assert_eq!(printed.open_positions.len(), 1);
    assert!(printed.open_orders.iter().all(|o| o.reduce_only && o.parent.is_some()));
}

#[tokio::test]
async fn crash_mid_run_restores_exact_open_orders_positions_and_cash_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    for fills in [1, 7, 40] {
        let url = format!("sqlite://{}", dir.path().join(format!("crash-{fills}.db")).display());
        if fills == 1 {
            check_recovery_at_first_fill(&url).await;
        } else {
            check_recovery(&url, fills).await;
        }
    }
}

#[tokio::test]
async fn crash_mid_run_restores_exact_open_orders_positions_and_cash_postgres() {
    let Some(admin) = pg_admin_url() else { return };
    let (db, name) = pg_db(&admin).await;
    db.store.close().await;
    check_recovery_at_first_fill(&with_database(&admin, &name)).await;
    let (db, name) = pg_db(&admin).await;
    db.store.close().await;
    check_recovery(&with_database(&admin, &name), 25).await;
}

#[test]
fn demo_runs_to_the_end_and_the_cli_reads_what_it_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("demo.db").display());
    let out = demo()
        .args(["--data", &repo_file("examples/data/orcl_1d_1995-2014.csv"), "--db", &url])
        .output()
        .expect("run luatrade demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let field = |name: &str| -> Decimal {
        let line =
            stdout.lines().find(|l| l.trim_start().starts_with(name)).unwrap_or_else(|| panic!("{name} in {stdout}"));
        line.split_whitespace().nth(name.split_whitespace().count()).expect("value").parse().expect("decimal")
    };
    // The books reconcile: equity = start − fees + realised + unrealised.
    let (cash, equity, realised, unrealised, fees) =
        (field("cash"), field("equity"), field("realised P&L"), field("unrealised P&L"), field("fees"));
    assert_eq!(equity, Decimal::from(100_000) - fees + realised + unrealised, "{stdout}");
    assert!(cash > Decimal::ZERO);

    let cli = env!("CARGO_BIN_EXE_luatrade");
    let orders =
        Command::new(cli).args(["orders", "--db", &url, "--status", "filled", "--limit", "3"]).output().expect("cli");
    assert!(orders.status.success(), "{}", String::from_utf8_lossy(&orders.stderr));
    let text = String::from_utf8_lossy(&orders.stdout);
    assert_eq!(text.lines().skip(1).filter(|l| l.contains(" filled ")).count(), 3, "{text}");
    let first_cid = text.lines().nth(1).and_then(|l| l.split_whitespace().next()).expect("a cid").to_owned();
    let audit = Command::new(cli).args(["audit", "--db", &url, &first_cid]).output().expect("cli");
    let trail = String::from_utf8_lossy(&audit.stdout);
    assert!(trail.contains("pending -> submitted") && trail.contains("-> filled"), "{trail}");
    let csv = Command::new(cli).args(["export", "--db", &url, "trades", "--format", "csv"]).output().expect("cli");
    let csv = String::from_utf8_lossy(&csv.stdout);
    assert!(csv.lines().next().is_some_and(|h| h.contains("trade_id")), "{csv}");
    assert!(csv.lines().count() > 10);
}

#[test]
fn bad_inputs_fail_with_messages_that_say_what_and_where() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(
        &bad_csv,
        "timestamp,open,high,low,close,volume\n2020-01-01T00:00:00Z,1,2,0.5,1,10\n2020-01-02T00:00:00Z,1,0.5,2,1,10\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = demo().args(args).output().expect("run luatrade demo");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let err = run(&["--data", bad_csv.to_str().unwrap(), "--db", "none"]);
    assert!(err.contains("bad.csv:3: high 0.5 is below low 2"), "{err}");
    let err = run(&["--data", "/nonexistent.csv", "--db", "none"]);
    assert!(err.contains("/nonexistent.csv"), "{err}");
    let err = run(&["--data", &repo_file("examples/data/orcl_1d_1995-2014.csv"), "--db", "mysql://x"]);
    assert!(err.contains("bad database URL"), "{err}");

    let cli = env!("CARGO_BIN_EXE_luatrade");
    let out =
        Command::new(cli).args(["orders", "--db", "sqlite://nowhere/x.db", "--status", "bogus"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("'bogus' is not an order status"), "{err}");
    let out = Command::new(cli).args(["positions", "--db", "sqlite:///nonexistent/x.db"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("no database at /nonexistent/x.db"), "{err}");
    assert!(!std::path::Path::new("/nonexistent/x.db").exists());
}

#[test]
fn the_demo_can_run_twice_on_the_same_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("again.db").display());
    let data = repo_file("examples/data/orcl_1d_1995-2014.csv");
    let runs: Vec<String> = (0..2)
        .map(|_| {
            let out = demo().args(["--data", &data, "--db", &url]).output().expect("run");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect();
    assert!(runs[1].starts_with("replacing "), "{}", runs[1]);
    let summary = |s: &str| {
        s.lines().filter(|l| l.contains("equity") || l.contains("orders")).map(str::to_owned).collect::<Vec<_>>()
    };
    assert_eq!(summary(&runs[0]), summary(&runs[1]), "deterministic: same inputs, same books");
}

#[test]
fn risk_rejections_are_stored_and_counted_by_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("risk.db").display());
    let out = demo()
        .args(["--data", &repo_file("examples/data/orcl_1d_1995-2014.csv"), "--db", &url])
        .args(["--max-position-notional", "5000"])
        .output()
        .expect("run luatrade demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let line = stdout.lines().find(|l| l.contains("risk rejections")).expect("rejections line");
    assert!(line.contains("MaxPositionNotional"), "{line}");
    let cli = Command::new(env!("CARGO_BIN_EXE_luatrade")).args(["rejections", "--db", &url]).output().expect("cli");
    let text = String::from_utf8_lossy(&cli.stdout);
    let row = text.lines().find(|l| l.ends_with("MAX_POSITION_NOTIONAL")).unwrap_or_else(|| panic!("{text}"));
    let n: u64 = row.split_whitespace().next().unwrap().parse().unwrap();
    // The demo printed the same count from the engine's in-memory counters.
    assert!(line.contains(&format!("MaxPositionNotional, {n})")), "{line} vs {row}");
    assert!(n > 10, "every entry of ~20,000 USD is refused: {n}");
}

#[test]
fn strategies_check_reports_each_file_and_fails_on_a_broken_one() {
    let cli = env!("CARGO_BIN_EXE_luatrade");
    let shipped: Vec<String> = ["sma_cross", "rsi_reversion", "breakout_trailing", "bracket", "llm_signal"]
        .iter()
        .map(|s| repo_file(&format!("strategies/{s}.lua")))
        .collect();
    let out = Command::new(cli).args(["strategies", "check"]).args(&shipped).output().expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(text.lines().filter(|l| l.starts_with("ok ")).count(), 5, "{text}");
    assert!(text.contains("sma_cross") && text.contains("on_bar"), "{text}");

    let dir = tempfile::tempdir().expect("tempdir");
    let broken = dir.path().join("broken.lua");
    std::fs::write(&broken, "return {\n  on_bar = function(ctx, bar)\n    local x = = 1\n  end,\n}\n").unwrap();
    let sandbox = dir.path().join("escape.lua");
    std::fs::write(&sandbox, "local f = io.open('/etc/passwd')\nreturn {}\n").unwrap();
    let out = Command::new(cli).args(["strategies", "check"]).arg(&broken).arg(&sandbox).output().expect("cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success());
    assert!(text.contains("broken.lua:3"), "names file and line: {text}");
    assert!(text.contains("escape.lua:1"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 of 2 strategy file(s) failed"));
}

/// Crash with engine monitors protecting the position (trailing, break-even, stop, target):
/// after the restart the monitors are back from the store with the same levels and state,
/// and a bar through the stop fires the exit, whose close reason is stored.
#[test]
fn crash_with_monitors_restores_them_with_their_levels_and_they_still_fire() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_monitors_after_crash(&format!("sqlite://{}", dir.path().join("monitors.db").display()));
}

#[tokio::test]
async fn crash_with_monitors_restores_them_on_postgres() {
    let Some(admin) = pg_admin_url() else { return };
    let (db, name) = pg_db(&admin).await;
    db.store.close().await;
    let url = with_database(&admin, &name);
    // The engine's journal runs its own runtime: off this test's runtime, on a plain thread.
    std::thread::spawn(move || check_monitors_after_crash(&url)).join().expect("restart on postgres");
}

fn check_monitors_after_crash(url: &str) {
    let url = url.to_owned();
    // Fill 3 is the second entry: its position is open and its monitor has been armed.
    let printed = crash_after_with(&url, 3, &["--protect", "monitors"]);
    assert_eq!(printed.monitors.len(), 1, "one open position, one monitor: {:?}", printed.monitors);

    let journal = StoreJournal::connect(&url).expect("reopen after crash");
    let snapshot = journal.block_on(journal.store().load_snapshot()).expect("snapshot");
    let stored = journal.block_on(journal.store().monitors()).expect("monitors");
    let records: Vec<MonitorRecord> = stored.iter().map(|m| m.record.clone()).collect();
    assert_eq!(records, printed.monitors, "spec, entry and runtime state as of the last commit");
    assert_eq!(snapshot.open_positions, printed.open_positions);

    let instruments: Instruments = [Instrument::us_stock("ORCL")].into_iter().collect();
    let oms = Oms::new(instruments.clone(), OmsConfig { journal: true, ..OmsConfig::default() });
    let risk = RiskEngine::new(RiskConfig { market_hours: false, ..RiskConfig::default() }).expect("risk");
    // Intent counters continue from the store, so new client order ids do not collide.
    let orders = journal.block_on(journal.store().orders(&Default::default())).expect("orders");
    let mut engine = Engine::new(oms, risk, SimVenue::new(SimConfig::default(), instruments), journal);
    let mut per_strategy = std::collections::BTreeMap::new();
    for o in &orders {
        *per_strategy.entry(o.strategy_id.clone()).or_insert(0u64) += 1;
    }
    for (strategy, n) in &per_strategy {
        engine.set_sequence(strategy, *n);
    }
    engine.restore(snapshot, stored.clone()).expect("restore");
    let m = &stored[0];
    let pid = m.record.position_id;
    assert_eq!(engine.monitors().get(pid).map(|r| &r.state), Some(&m.record.state));
    assert_eq!(engine.monitors().stop_level(pid), m.stop, "the same effective stop");
    assert_eq!(engine.monitors().target_level(pid), m.target, "the same target");
    let (stop, reason) = m.stop.expect("a stop is armed");

    // A bar that opens below the stop: the restored monitor exits at the open.
    let ts = engine.oms().portfolios().flat_map(|p| p.positions()).map(|p| p.ts_last()).max().expect("open position");
    let gap = stop - Decimal::new(10, 2);
    let bar = |days: i64, px: Decimal| Bar {
        ts: ts.plus_secs(days * 86_400),
        open: px,
        high: px + Decimal::new(5, 2),
        low: px - Decimal::new(5, 2),
        close: px,
        volume: Decimal::from(10_000_000),
    };
    let symbol = m.record.key.symbol.clone();
    engine.on_market(&MarketEvent::Bar(symbol.clone(), bar(1, gap))).expect("bar");
    engine.on_market(&MarketEvent::Bar(symbol, bar(2, gap))).expect("bar");
    assert_eq!(engine.close_reason(pid), Some(reason), "the restored monitor closed the position");
    assert!(engine.monitors().get(pid).is_none());
    let store = engine.journal().store();
    let reasons = engine.journal().block_on(store.close_reasons()).expect("close reasons");
    assert_eq!(reasons.iter().find(|r| r.position_id == pid).map(|r| r.reason), Some(reason), "{reasons:?}");
    assert!(engine.journal().block_on(store.monitors()).expect("monitors").is_empty(), "disarmed in the store too");
    let closed = engine.journal().block_on(store.closed_positions_with_reasons()).expect("closed");
    assert!(closed.iter().any(|(p, r)| p.id == pid && r.as_ref().map(|r| r.reason) == Some(reason)));
    assert_ne!(reason, ExitReason::Manual);
}

/// The demo with monitors and a config file: closed positions show why they closed, the
/// configured trading state is in the risk audit, and a bad config stops the demo naming the
/// key.
#[test]
fn cli_shows_close_reasons_monitors_and_the_risk_audit_from_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    let config = dir.path().join("luatrade.toml");
    std::fs::write(&config, "[trading_state]\nsymbols = { MSFT = \"halted\" }\n").unwrap();
    let out = demo()
        .args(["--data", &repo_file("examples/data/orcl_1d_1995-2014.csv"), "--db", &url, "--protect", "monitors"])
        .arg("--config")
        .arg(&config)
        .output()
        .expect("run luatrade demo");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cli = env!("CARGO_BIN_EXE_luatrade");
    let run = |args: &[&str]| {
        let out = Command::new(cli).args(args).args(["--db", &url]).output().expect("cli");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let closed = run(&["positions", "--closed"]);
    assert!(closed.lines().next().is_some_and(|h| h.contains("close_reason")), "{closed}");
    let reasons: Vec<&str> = closed.lines().skip(1).filter_map(|l| l.split_whitespace().nth(8)).collect();
    assert!(reasons.len() > 5, "{closed}");
    assert!(reasons.iter().all(|r| ExitReason::parse(r).is_some()), "{closed}");
    assert!(reasons.contains(&"trailing_stop") && reasons.contains(&"take_profit"), "{closed}");
    let audit = run(&["risk-audit"]);
    let row = audit.lines().find(|l| l.contains("symbol:MSFT")).unwrap_or_else(|| panic!("{audit}"));
    assert!(row.contains("trading_state") && row.contains("halted") && row.contains("config"), "{row}");
    let monitors = run(&["monitors"]);
    assert!(monitors.starts_with("   pos"), "{monitors}");

    std::fs::write(&config, "[risk.global]\nmax_order_notional = -1\n").unwrap();
    let out = demo().args(["--db", "none", "--config"]).arg(&config).output().expect("run luatrade demo");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("risk.global.max_order_notional"), "{err}");
}

/// An allocation for the demo's strategy in the config: the demo trades that sub-ledger,
/// funded from the shared account, and reports its books.
#[test]
fn the_demo_trades_its_allocation_from_the_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("alloc.toml");
    std::fs::write(&config, "[risk.strategies.sma_demo.allocation]\naccount = \"sma_ledger\"\ncapital = 40000\n")
        .unwrap();
    let out = demo().args(["--db", "none", "--config"]).arg(&config).output().expect("run luatrade demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("starting cash      40000 USD (sma_ledger)"), "{stdout}");
    let equity: Decimal = stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("equity"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("equity line");
    assert!(
        equity > Decimal::ZERO && equity < Decimal::from(60_000),
        "the sub-ledger's equity, not the account's: {equity}"
    );
}
