//! `luatrade backtest` end to end on shipped data and strategies: determinism, the stored
//! run, sweeps, and what bad inputs produce.

use luatrade::backtest::sweep::{sweep, ParamRange};
use luatrade::backtest::{run, BacktestConfig, BacktestError};
use luatrade::data::DataSpec;
use luatrade::engine::StoreJournal;
use luatrade::store::OrderFilter;
use std::path::{Path, PathBuf};

fn root(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn orcl() -> DataSpec {
    format!("ORCL={}", root("examples/data/orcl_1d_1995-2014.csv").display()).parse().unwrap()
}

fn config(strategy: &str) -> BacktestConfig {
    BacktestConfig::new(vec![orcl()], root(&format!("strategies/{strategy}")))
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    out.sort();
    out
}

#[test]
fn the_same_inputs_give_a_byte_identical_report() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = BacktestConfig::new(vec![orcl()], root("strategies"));
    c.signals = Some(root("examples/signals/orcl_llm.jsonl"));
    let a = run(&c).unwrap();
    let b = run(&c).unwrap();
    assert_eq!(a.events, 5036);
    assert_eq!(a.report.fingerprint(), b.report.fingerprint());
    a.report.write_files(&dir.path().join("a")).unwrap();
    b.report.write_files(&dir.path().join("b")).unwrap();
    let (fa, fb) = (files(&dir.path().join("a")), files(&dir.path().join("b")));
    assert!(fa.iter().any(|(n, _)| n == "report.json"), "{:?}", fa.iter().map(|f| &f.0).collect::<Vec<_>>());
    assert_eq!(fa, fb, "every report file is byte-identical");
    // A different input (fees) changes the fills, so the fingerprint.
    let mut c2 = c.clone();
    c2.sim.taker_fee_bps = rust_decimal::Decimal::from(5);
    assert_ne!(run(&c2).unwrap().report.fingerprint(), a.report.fingerprint());
}

#[test]
fn a_stored_run_is_tagged_with_its_id_and_a_rerun_gets_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("bt.db").display());
    let mut c = config("sma_cross.lua");
    c.db = Some(db.clone());
    let first = run(&c).unwrap();
    let second = run(&c).unwrap();
    assert_eq!(second.run_id, format!("{}-2", first.run_id));
    assert_eq!(first.report.fingerprint(), second.report.fingerprint(), "same inputs, same fills");

    let j = StoreJournal::connect(&db).unwrap();
    let runs = j.block_on(j.store().runs()).unwrap();
    assert_eq!(runs.iter().map(|r| r.run_id.as_str()).collect::<Vec<_>>(), [&first.run_id, &second.run_id]);
    assert!(runs
        .iter()
        .all(|r| r.fingerprint.as_deref() == Some(first.report.fingerprint()) && r.finished_at.is_some()));
    let orders = j.block_on(j.store().orders(&OrderFilter::default())).unwrap();
    let of = |id: &str| orders.iter().filter(|o| o.account.as_str() == id).count();
    let (n1, n2) = (of(&first.run_id), of(&second.run_id));
    assert!(n1 > 10, "{n1} orders in the first run");
    assert_eq!(n1, n2);
    assert_eq!(n1 + n2, orders.len(), "every stored order belongs to one of the runs");
    let positions = j.block_on(j.store().positions(false)).unwrap();
    let mut ids: Vec<u64> = positions.iter().map(|p| p.id.0).collect();
    ids.dedup();
    assert_eq!(ids.len(), positions.len(), "position ids never collide across runs");
}

#[test]
fn a_stored_run_trades_exactly_like_an_in_memory_one() {
    // Every shipped strategy with allocations and signals: fills, order updates and risk
    // must not depend on whether the run is persisted.
    let dir = tempfile::tempdir().unwrap();
    let mut c = BacktestConfig::new(vec![orcl()], root("strategies"));
    c.settings = luatrade::config::load(root("examples/backtest.toml")).unwrap();
    c.signals = Some(root("examples/signals/orcl_llm.jsonl"));
    let memory = run(&c).unwrap();
    c.db = Some(format!("sqlite://{}", dir.path().join("bt.db").display()));
    let stored = run(&c).unwrap();
    assert_eq!(memory.report.fingerprint(), stored.report.fingerprint());
    let trades = |o: &luatrade::backtest::BacktestOutcome| o.report.metric("trades").unwrap();
    assert_eq!(trades(&memory), trades(&stored));
    assert!(trades(&memory) > 20.0, "{}", trades(&memory));
    memory.report.reconcile().unwrap();
}

#[test]
fn an_explicit_run_id_that_is_taken_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = config("sma_cross.lua");
    c.db = Some(format!("sqlite://{}", dir.path().join("bt.db").display()));
    c.run_id = Some("mine".into());
    run(&c).unwrap();
    let err = run(&c).unwrap_err().to_string();
    assert!(err.contains("run 'mine' is already stored"), "{err}");
}

#[test]
fn a_broken_strategy_is_reported_and_the_others_still_trade() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(root("strategies/sma_cross.lua"), dir.path().join("sma_cross.lua")).unwrap();
    std::fs::write(dir.path().join("broken.lua"), "return { on_bar = function(ctx, bar) ctx:buy{ symbol = } end }")
        .unwrap();
    let out = run(&BacktestConfig::new(vec![orcl()], dir.path().to_owned())).unwrap();
    assert!(out.warnings.iter().any(|w| w.contains("broken") && w.contains(":1")), "{:?}", out.warnings);
    let alone = run(&config("sma_cross.lua")).unwrap();
    assert_eq!(out.report.fingerprint(), alone.report.fingerprint(), "sma_cross traded as if alone");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "timestamp,open,high,low,close\n2020-01-01,1,2,0.5,1\n2020-01-02,1,0.5,2,1\n").unwrap();
    let c =
        BacktestConfig::new(vec![format!("X={}", bad.display()).parse().unwrap()], root("strategies/sma_cross.lua"));
    let err = run(&c).unwrap_err();
    assert!(matches!(err, BacktestError::Data(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&bad.display().to_string()) && msg.contains(":3"), "{msg}");

    let err = run(&BacktestConfig::new(vec![orcl()], dir.path().join("nothing-here"))).unwrap_err().to_string();
    assert!(err.contains("nothing-here"), "{err}");
    let mut c = config("sma_cross.lua");
    c.params.insert("fats".into(), serde_json::json!(5));
    let err = run(&c).unwrap_err().to_string();
    assert!(err.contains("'fats'") && err.contains("fast"), "{err}");
    let mut c = config("sma_cross.lua");
    c.params.insert("fast".into(), serde_json::json!("five"));
    let err = run(&c).unwrap_err().to_string();
    assert!(err.contains("params.fast is a number"), "{err}");
    let mut c = config("llm_signal.lua");
    c.signals = Some(dir.path().join("missing.jsonl"));
    assert!(run(&c).unwrap_err().to_string().contains("missing.jsonl"));
}

#[test]
fn malformed_signal_lines_are_skipped_with_their_line_and_the_rest_trade() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root("examples/signals/orcl_llm.jsonl")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(1, "{not json");
    let path = dir.path().join("s.jsonl");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let mut c = config("llm_signal.lua");
    c.signals = Some(path);
    c.db = Some(format!("sqlite://{}", dir.path().join("s.db").display()));
    let out = run(&c).unwrap();
    assert!(out.warnings.iter().any(|w| w.contains("s.jsonl:2")), "{:?}", out.warnings);
    let j = StoreJournal::connect(c.db.as_deref().unwrap()).unwrap();
    let orders = j.block_on(j.store().orders(&OrderFilter::default())).unwrap();
    assert!(orders.len() >= 4, "{} orders", orders.len());
    assert!(orders.iter().all(|o| o.llm.as_ref().is_some_and(|l| !l.reasoning().is_empty() && l.confidence() >= 0.7)));
    assert!(orders.iter().any(|o| o.llm.as_ref().is_some_and(|l| l.reasoning().contains("Cloud licence growth"))));
}

#[test]
fn a_sweep_runs_every_grid_point_and_ranks_them() {
    let base = config("sma_cross.lua");
    let ranges: Vec<ParamRange> = vec!["fast=5..10:5".parse().unwrap(), "slow=20..30:10".parse().unwrap()];
    let result = sweep(&base, &ranges, "total_return", Some(2)).unwrap();
    assert_eq!(result.rows.len(), 4);
    let mut points: Vec<String> = result.rows.iter().map(|r| format!("{:?}", r.params)).collect();
    points.sort();
    points.dedup();
    assert_eq!(points.len(), 4, "each grid point once");
    let values: Vec<f64> = result.rows.iter().map(|r| r.metrics["total_return"].unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]), "ranked best first: {values:?}");
    // Each row is exactly what a single run with those parameters gives.
    for row in &result.rows {
        let mut c = base.clone();
        c.params.extend(row.params.clone());
        assert_eq!(run(&c).unwrap().report.fingerprint(), row.fingerprint, "{:?}", row.params);
    }
    let fingerprints: std::collections::BTreeSet<_> = result.rows.iter().map(|r| r.fingerprint.clone()).collect();
    assert!(fingerprints.len() > 1, "the parameters change the trades");
    assert!(result.table().lines().count() == 5 && result.csv().lines().count() == 5);
}

fn args(list: &[&str]) -> luatrade::backtest::args::BacktestArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        a: luatrade::backtest::args::BacktestArgs,
    }
    Cli::parse_from(std::iter::once("backtest").chain(list.iter().copied())).a
}

#[test]
fn the_config_file_backtest_table_sets_what_flags_do_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bt.toml");
    std::fs::write(
        &file,
        format!(
            "[backtest]\ndata = [\"ORCL={}\"]\nstrategies = \"{}\"\ncash = 50000\nfees = 3\nfill_at = \"close\"\nfrom = \"2000-01-01\"\nrank_by = \"total_return\"\n[backtest.params]\nfast = 8\nslow = \"20..40:10\"\n",
            root("examples/data/orcl_1d_1995-2014.csv").display(),
            root("strategies/sma_cross.lua").display()
        ),
    )
    .unwrap();
    let f = file.to_str().unwrap();
    let r = luatrade::backtest::args::resolve(&args(&["--config", f, "--quiet"])).unwrap();
    assert_eq!(r.config.cash, rust_decimal::Decimal::from(50_000));
    assert_eq!(r.config.sim.taker_fee_bps, rust_decimal::Decimal::from(3));
    assert_eq!(r.config.sim.fill_at, luatrade::venue::sim::FillAt::Close);
    assert_eq!(r.config.params["fast"], serde_json::json!(8));
    assert_eq!(r.ranges.len(), 1);
    assert_eq!(r.ranges[0].values, vec![serde_json::json!(20), serde_json::json!(30), serde_json::json!(40)]);
    assert_eq!(r.rank_by, "total_return");
    assert_eq!(r.config.load.from, Some(luatrade::data::parse_time("2000-01-01").unwrap()));
    assert!(r.config.strategies.ends_with("sma_cross.lua"));
    // Flags win over the file.
    let r = luatrade::backtest::args::resolve(&args(&[
        "--config",
        f,
        "--cash",
        "70000",
        "--param",
        "slow=30",
        "--fill-at",
        "next-open",
    ]))
    .unwrap();
    assert_eq!(r.config.cash, rust_decimal::Decimal::from(70_000));
    assert!(r.ranges.is_empty());
    assert_eq!(r.config.params["slow"], serde_json::json!(30));
    assert_eq!(r.config.sim.fill_at, luatrade::venue::sim::FillAt::NextOpen);
    // A run from the file alone trades.
    let r = luatrade::backtest::args::resolve(&args(&["--config", f, "--param", "slow=30"])).unwrap();
    let out = run(&r.config).unwrap();
    assert!(out.report.metric("trades").unwrap() > 5.0);
    // Unknown keys and bad values say where.
    std::fs::write(&file, "[backtest]\ncahs = 5\n").unwrap();
    let err = luatrade::backtest::args::resolve(&args(&["--config", f])).unwrap_err().to_string();
    assert!(err.contains("backtest.cahs"), "{err}");
    std::fs::write(&file, "[backtest]\nfill_at = \"later\"\n").unwrap();
    let err = luatrade::backtest::args::resolve(&args(&["--config", f])).unwrap_err().to_string();
    assert!(err.contains("fill_at") && err.contains("later"), "{err}");
}

#[test]
fn the_terminal_shows_each_cause_of_an_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nonexist.csv");
    let c = BacktestConfig::new(
        vec![format!("X={}", missing.display()).parse().unwrap()],
        root("strategies/sma_cross.lua"),
    );
    let text = luatrade::cli::error_text(&anyhow::Error::from(run(&c).unwrap_err()));
    assert!(text.contains("nonexist.csv"), "{text}");
    let os = std::fs::read(&missing).unwrap_err().to_string();
    assert_eq!(text.matches("nonexist.csv").count(), 1, "{text}");
    assert_eq!(text.matches(os.as_str()).count(), 1, "{text}");

    let mut c = config("sma_cross.lua");
    c.db = Some(format!("sqlite://{}", dir.path().join("nonexistdir/x.db").display()));
    let text = luatrade::cli::error_text(&anyhow::Error::from(run(&c).unwrap_err()));
    assert!(text.starts_with("store"), "{text}");
    let parts: Vec<&str> = text.split(": ").collect();
    let mut seen = std::collections::BTreeSet::new();
    assert!(parts.iter().filter(|p| p.len() > 8).all(|p| seen.insert(*p)), "a cause repeats: {text}");
}

#[test]
fn a_signals_file_with_a_byte_order_mark_keeps_its_first_line() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read(root("examples/signals/orcl_llm.jsonl")).unwrap();
    let plain = dir.path().join("plain.jsonl");
    let marked = dir.path().join("marked.jsonl");
    std::fs::write(&plain, &text).unwrap();
    std::fs::write(&marked, [b"\xef\xbb\xbf".as_slice(), &text].concat()).unwrap();
    let mut c = config("llm_signal.lua");
    c.signals = Some(plain);
    let want = run(&c).unwrap();
    c.signals = Some(marked);
    let got = run(&c).unwrap();
    assert!(!got.warnings.iter().any(|w| w.contains("marked.jsonl")), "{:?}", got.warnings);
    assert_eq!(got.report.fingerprint(), want.report.fingerprint(), "the first signal traded");
}

#[test]
fn a_strategy_that_errors_is_named_in_the_report_warnings_and_the_summary() {
    let mut c = config("sma_cross.lua");
    c.params.insert("fast".into(), serde_json::json!(-5));
    let out = run(&c).unwrap();
    let json: serde_json::Value = serde_json::to_value(&out.report).unwrap();
    let warnings: Vec<String> =
        json["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap().to_owned()).collect();
    assert!(warnings.iter().any(|w| w.starts_with("strategy error")), "{warnings:?}");
    assert!(warnings.iter().any(|w| w.contains("sma_cross") && w.contains("disabled")), "{warnings:?}");
    let summary = out.report.summary();
    assert!(summary.contains("disabled after repeated errors"), "{summary}");
    assert_eq!(summary.matches("disabled after repeated errors").count(), 1, "{summary}");
    assert_eq!(summary.matches("strategy error:").count(), 1, "one line, with its count: {summary}");
}

#[test]
fn a_sweep_over_a_parameter_no_strategy_declares_is_refused_before_it_runs() {
    let ranges: Vec<ParamRange> = vec!["nosuch=1,2".parse().unwrap()];
    let err = sweep(&config("sma_cross.lua"), &ranges, "total_return", Some(1)).unwrap_err().to_string();
    assert!(err.contains("'nosuch'") && err.contains("sma_cross: ") && err.contains("fast"), "{err}");
    // A declared one next to it still sweeps.
    let ranges: Vec<ParamRange> = vec!["fast=5,8".parse().unwrap()];
    assert_eq!(sweep(&config("sma_cross.lua"), &ranges, "total_return", Some(1)).unwrap().rows.len(), 2);
}
