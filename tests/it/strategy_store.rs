//! Lua strategies and the database: order provenance across a hot reload, "why did it buy?",
//! `ctx.state` surviving a restart, and a deleted strategy's open orders. Real files, the
//! real watcher, the real engine over recorded ORCL bars, a real SQLite file and (when
//! `LUATRADE_TEST_PG_URL` is set) a real Postgres database.

use crate::support;
use luatrade::data::{csv::read_bars, Bar, MarketEvent};
use luatrade::engine::{Engine, StoreJournal, StrategyRunner};
use luatrade::model::{
    AccountId, Callback, ClientOrderId, Currency, Instrument, Order, OrderStatus, Side, StrategyId, Symbol,
};
use luatrade::oms::{Oms, OmsConfig};
use luatrade::risk::{RiskConfig, RiskEngine};
use luatrade::store::{OrderFilter, Store};
use luatrade::strategy::{script_hash, HostConfig, HostEvent, OnStopOrders, Signal, SignalAction, StrategyHost};
use luatrade::venue::sim::{SimConfig, SimVenue};
use rust_decimal::Decimal;
use std::path::Path;
use std::time::{Duration, Instant};

type Runner = StrategyRunner<SimVenue, StoreJournal>;

fn orcl() -> Vec<Bar> {
    read_bars(Path::new(&format!("{}/examples/data/orcl_1d_1995-2014.csv", env!("CARGO_MANIFEST_DIR")))).unwrap()
}

fn sym() -> Symbol {
    Symbol::try_new("ORCL").unwrap()
}

/// A runner over the strategies in `dir` (watched), journaling to `db`.
fn runner(dir: &Path, db: &str, config: HostConfig) -> Runner {
    let account = AccountId::try_new("paper").unwrap();
    let usd = Currency::try_new("USD").unwrap();
    let instruments: luatrade::model::Instruments = [Instrument::us_stock("ORCL")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
    oms.deposit(&account, &usd, Decimal::from(1_000_000));
    // Daily bars are stamped outside the session: market hours off. No price collar, so a
    // test can rest a limit far from the market.
    let defaults = RiskConfig::default();
    let global = luatrade::risk::Limits { price_collar_pct: None, ..defaults.global.clone() };
    let risk = RiskEngine::new(RiskConfig { market_hours: false, global, ..defaults }).unwrap();
    let engine =
        Engine::new(oms, risk, SimVenue::new(SimConfig::default(), instruments), StoreJournal::connect(db).unwrap());
    let mut host = StrategyHost::new(HostConfig {
        account: account.clone(),
        reload_debounce: Duration::from_millis(20),
        ..config
    });
    assert!(host.load_dir(dir).is_empty());
    host.watch(dir).unwrap();
    StrategyRunner::new(engine, host, account, usd)
}

/// Feeds bars from `from` until `done` holds (each bar after a short sleep, so the watcher's
/// event and the debounce can pass); returns the index of the next bar. Panics after 10 s.
fn feed_until(r: &mut Runner, bars: &[Bar], from: usize, done: impl Fn(&Runner) -> bool) -> usize {
    let started = Instant::now();
    let mut i = from;
    while !done(r) {
        assert!(started.elapsed() < Duration::from_secs(10), "the watcher did not deliver the change in 10 s");
        std::thread::sleep(Duration::from_millis(10));
        r.on_market(&MarketEvent::Bar(sym(), bars[i].clone())).unwrap();
        i += 1;
    }
    i
}

/// The SQLite URL in `dir`, and a fresh Postgres database URL when one is configured.
fn databases(dir: &Path) -> Vec<String> {
    let mut urls = vec![format!("sqlite://{}", dir.join("lua.db").display())];
    if let Some(admin) = support::pg_admin_url() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (db, name) = rt.block_on(support::pg_db(&admin));
        rt.block_on(db.store.close());
        urls.push(support::with_database(&admin, &name));
    }
    urls
}

fn orders_of(r: &Runner, strategy: &str) -> Vec<Order> {
    let store: Store = r.engine().journal().store().clone();
    let filter = OrderFilter { strategy_id: Some(StrategyId::try_new(strategy).unwrap()), ..OrderFilter::default() };
    r.engine().journal().block_on(store.orders(&filter)).unwrap()
}

const V1: &str = r#"-- v1: buys 10 every 40th bar when flat, sells when long
return {
  on_bar = function(ctx, bar)
    ctx.state.n = (ctx.state.n or 0) + 1
    if ctx.state.n % 40 == 0 then
      local q = ctx:position(bar.symbol)
      if q == 0 then ctx:buy{symbol = bar.symbol, qty = 10}
      else ctx:sell{symbol = bar.symbol, qty = q, reduce_only = true} end
    end
  end,
}
"#;

const V2: &str = r#"-- v2: buys 20, protects each entry from on_fill, acts on signals
return {
  on_reload = function(ctx, old) ctx.state.reloaded_at = old.n end,
  on_bar = function(ctx, bar)
    ctx.state.n = (ctx.state.n or 0) + 1
    if ctx.state.n % 40 == 0 then
      local q = ctx:position(bar.symbol)
      if q == 0 then ctx:buy{symbol = bar.symbol, qty = 20}
      else ctx:sell{symbol = bar.symbol, qty = q, reduce_only = true} end
    end
  end,
  on_fill = function(ctx, fill)
    if fill.side == "buy" then
      ctx:sell{symbol = fill.symbol, qty = fill.qty, type = "stop", stop_price = fill.price * 0.5, reduce_only = true}
    end
  end,
  on_signal = function(ctx, s)
    ctx:buy{symbol = s.symbol, qty = 5, reasoning = s.reasoning, confidence = s.confidence,
            provider = s.provider, model = s.model}
  end,
}
"#;

#[test]
fn orders_before_and_after_a_hot_reload_carry_their_script_hash_generation_and_callback() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path()) {
        provenance_across_a_reload(dir.path(), &db);
    }
}

fn provenance_across_a_reload(dir: &Path, db: &str) {
    let file = dir.join("reloader.lua");
    std::fs::write(&file, V1).unwrap();
    let bars = orcl();
    let mut r = runner(dir, db, HostConfig::default());
    r.start().unwrap();
    for b in &bars[..400] {
        r.on_market(&MarketEvent::Bar(sym(), b.clone())).unwrap();
    }
    std::fs::write(&file, V2).unwrap();
    let id = StrategyId::try_new("reloader").unwrap();
    let next = feed_until(&mut r, &bars, 400, |r| r.host().info(&id).unwrap().generation == 1);
    let reloaded_at = bars[next - 1].ts;
    for b in &bars[next..next + 400] {
        r.on_market(&MarketEvent::Bar(sym(), b.clone())).unwrap();
    }
    let signal = Signal {
        id: "sig-1".into(),
        symbol: sym(),
        action: SignalAction::Buy,
        confidence: 0.82,
        reasoning: "cloud revenue beat".into(),
        provider: "acme".into(),
        model: "m2".into(),
        ts: bars[next + 399].ts,
        horizon_secs: None,
        ttl_secs: Some(86_400),
    };
    r.on_signal(&signal).unwrap();
    for b in &bars[next + 400..next + 402] {
        r.on_market(&MarketEvent::Bar(sym(), b.clone())).unwrap();
    }

    // Every bar was handled exactly once across the reload: by v1 up to the one after which
    // the change was applied, by v2 from the next one.
    let state = r.host().export_state(&id).unwrap();
    assert_eq!((state["n"].as_u64(), state["reloaded_at"].as_u64()), (Some(next as u64 + 402), Some(next as u64)));
    let (h1, h2) = (script_hash(V1.as_bytes()), script_hash(V2.as_bytes()));
    let store = r.engine().journal().store().clone();
    let orders = orders_of(&r, "reloader");
    let mut seen = std::collections::BTreeSet::new();
    for o in &orders {
        let p = r.engine().journal().block_on(store.provenance(&o.cid)).unwrap().expect("every order has provenance");
        if o.ts_init < reloaded_at {
            assert_eq!((&*p.script_hash, p.generation, p.callback), (h1.as_str(), 0, Callback::Bar), "{}", o.cid);
        } else {
            assert_eq!((&*p.script_hash, p.generation), (h2.as_str(), 1), "{}", o.cid);
            let want = match (o.side, o.order_type) {
                (Side::Sell, luatrade::model::OrderType::Stop) => Callback::Fill,
                (Side::Buy, _) if o.llm.is_some() => Callback::Signal,
                _ => Callback::Bar,
            };
            assert_eq!(p.callback, want, "{}", o.cid);
        }
        seen.insert((p.generation, p.callback.as_str()));
    }
    let want: std::collections::BTreeSet<(u32, &str)> =
        [(0, "on_bar"), (1, "on_bar"), (1, "on_fill"), (1, "on_signal")].into_iter().collect();
    assert_eq!(seen, want, "both versions traded, v2 from three callbacks");

    // "Why did it buy?" for the signal's order: everything from the database.
    let bought = orders.iter().find(|o| o.llm.is_some()).unwrap();
    let why = r.engine().journal().block_on(store.why(&bought.cid)).unwrap().unwrap();
    let p = why.provenance.as_ref().unwrap();
    assert_eq!(p.signal.as_ref().map(|s| (s.id.as_str(), s.provider.as_str())), Some(("sig-1", "acme")));
    let llm = why.order.llm.as_ref().unwrap();
    assert_eq!((llm.reasoning(), llm.confidence()), ("cloud revenue beat", 0.82));
    assert_eq!(why.order.status(), OrderStatus::Filled);
    assert_eq!(why.trades.len(), 1, "the fill is booked as a trade linked to the order");
    assert_eq!(why.trades[0].qty, Decimal::from(5));
    let text = why.to_string();
    for part in
        [&*h2, "generation 1", "on_signal", "sig-1 from acme", "cloud revenue beat", "confidence 0.82", "filled"]
    {
        assert!(text.contains(part), "missing {part:?} in:\n{text}");
    }
    // The command line prints the same answer.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_luatrade"))
        .args(["why", "--db", db, bought.cid.as_str()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
    // A bar order from v1 has no signal or LLM lines.
    let plain = r.engine().journal().block_on(store.why(&orders[0].cid)).unwrap().unwrap().to_string();
    assert!(plain.contains(&*h1) && plain.contains("on_bar") && !plain.contains("signal"), "{plain}");
    assert_eq!(r.engine().journal().block_on(store.why(&ClientOrderId::try_new("nope").unwrap())).unwrap(), None);
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn state_survives_a_restart_and_unsaveable_state_keeps_the_previous_save() {
    let dir = tempfile::tempdir().unwrap();
    for db in databases(dir.path()) {
        state_across_a_restart(dir.path(), &db);
    }
}

fn state_across_a_restart(dir: &Path, db: &str) {
    let file = dir.join("counter.lua");
    std::fs::write(
        &file,
        "return {\n on_start = function(ctx) ctx:log('start n=' .. tostring(ctx.state.n)) end,\n on_bar = function(ctx, b) ctx.state.n = (ctx.state.n or 0) + 1; ctx.state.last = b.close end,\n on_stop = function(ctx) ctx.state.stopped = true end }",
    )
    .unwrap();
    let bars = orcl();
    let id = StrategyId::try_new("counter").unwrap();
    let mut r = runner(dir, db, HostConfig::default());
    r.start().unwrap();
    let logs = |r: &mut Runner| -> Vec<String> {
        r.take_host_events()
            .into_iter()
            .filter_map(|e| match e {
                HostEvent::Log { text, .. } => Some(text),
                _ => None,
            })
            .collect()
    };
    assert_eq!(logs(&mut r), vec!["start n=nil"]);
    for b in &bars[..25] {
        r.on_market(&MarketEvent::Bar(sym(), b.clone())).unwrap();
    }
    r.shutdown().unwrap();
    drop(r);

    let mut r = runner(dir, db, HostConfig::default());
    r.start().unwrap();
    assert_eq!(logs(&mut r), vec!["start n=25"], "restored before on_start");
    let state = r.host().export_state(&id).unwrap();
    assert_eq!(state["stopped"], true);
    assert_eq!(state["last"].as_f64(), bars[24].close.try_into().ok());
    let saved = r.engine().journal().block_on(r.engine().journal().store().load_strategy_state(&id)).unwrap().unwrap();
    assert_eq!(
        (saved.generation, saved.script_hash.as_str()),
        (0, script_hash(&std::fs::read(&file).unwrap()).as_str())
    );
    assert_eq!(saved.updated_at, bars[24].ts, "stamped with engine time");

    // Deleted while running (state saved on stop), then put back: restored before on_start.
    let source = std::fs::read(&file).unwrap();
    std::fs::remove_file(&file).unwrap();
    // Bars 25..gone were handled (n counts them) before the deletion was applied.
    let gone = feed_until(&mut r, &bars, 25, |r| r.host().ids().is_empty());
    std::fs::write(&file, &source).unwrap();
    feed_until(&mut r, &bars, gone, |r| !r.host().ids().is_empty());
    let logs_now = logs(&mut r);
    assert_eq!(logs_now.last().cloned(), Some(format!("start n={gone}")), "{logs_now:?}");
    r.shutdown().unwrap();
    drop(r);

    // Periodic saves (every event here); once the state holds a function, saves fail with the
    // key named and the store keeps the last good state.
    std::fs::write(
        &file,
        "return { on_bar = function(ctx, b)\n ctx.state.k = (ctx.state.k or 0) + 1\n if ctx.state.k == 5 then ctx.state.cb = function() end end\nend }",
    )
    .unwrap();
    let mut r = runner(dir, db, HostConfig { state_save_every: Some(Duration::ZERO), ..HostConfig::default() });
    r.start().unwrap();
    for b in &bars[25..35] {
        r.on_market(&MarketEvent::Bar(sym(), b.clone())).unwrap();
    }
    let errors: Vec<String> = r
        .take_host_events()
        .into_iter()
        .filter_map(|e| match e {
            HostEvent::Error(e) => Some(e.to_string()),
            _ => None,
        })
        .collect();
    assert!(
        !errors.is_empty()
            && errors.iter().all(|e| e.contains("'counter'") && e.contains("ctx.state.cb holds a function")),
        "{errors:?}"
    );
    let saved = r.engine().journal().block_on(r.engine().journal().store().load_strategy_state(&id)).unwrap().unwrap();
    assert_eq!(saved.state["k"], 4, "the last state that could be saved");
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_deleted_strategys_open_orders_are_cancelled_or_left_as_configured() {
    for (mode, want) in [(OnStopOrders::Cancel, OrderStatus::Cancelled), (OnStopOrders::Leave, OrderStatus::Open)] {
        let dir = tempfile::tempdir().unwrap();
        let db = format!("sqlite://{}", dir.path().join("del.db").display());
        let file = dir.path().join("resting.lua");
        // One resting limit buy far below the market on the first bar; never filled.
        std::fs::write(
            &file,
            "return { on_bar = function(ctx, b)\n if not ctx.state.placed then ctx.state.placed = true\n ctx:buy{symbol = b.symbol, qty = 1, type = 'limit', limit_price = b.close * 0.5} end\nend }",
        )
        .unwrap();
        let bars = orcl();
        let mut r = runner(dir.path(), &db, HostConfig { on_stop_orders: mode, ..HostConfig::default() });
        r.start().unwrap();
        for b in &bars[..3] {
            r.on_market(&MarketEvent::Bar(sym(), b.clone())).unwrap();
        }
        let placed = orders_of(&r, "resting");
        assert_eq!(placed.len(), 1);
        assert_eq!(placed[0].status(), OrderStatus::Open);
        std::fs::remove_file(&file).unwrap();
        feed_until(&mut r, &bars, 3, |r| r.host().ids().is_empty());
        let after = &orders_of(&r, "resting")[0];
        assert_eq!(after.status(), want, "{mode:?}");
        let store = r.engine().journal().store().clone();
        let trail = r.engine().journal().block_on(store.audit_trail(&after.cid)).unwrap();
        let reasons: Vec<String> = trail.iter().filter_map(|c| c.reason.clone()).collect();
        let named = reasons.iter().any(|t| t.contains("strategy 'resting' stopped: file deleted"));
        assert_eq!(named, mode == OnStopOrders::Cancel, "{reasons:?}");
        // Later bars reach no strategy and leave the order where the mode put it.
        r.on_market(&MarketEvent::Bar(sym(), bars[200].clone())).unwrap();
        assert_eq!(orders_of(&r, "resting")[0].status(), want);
    }
}

#[test]
fn a_fresh_database_starts_strategies_with_an_empty_state() {
    // A fresh database has no saved state: start gives the strategy an empty table.
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("fresh.db").display());
    std::fs::write(
        dir.path().join("fresh.lua"),
        "return { on_start = function(ctx) ctx.state.ok = next(ctx.state) == nil end }",
    )
    .unwrap();
    let mut r = runner(dir.path(), &db, HostConfig::default());
    r.start().unwrap();
    assert_eq!(r.host().export_state(&StrategyId::try_new("fresh").unwrap()).unwrap()["ok"], true);
}

#[test]
fn a_paused_strategys_open_orders_are_cancelled_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("pause.db").display());
    std::fs::write(
        dir.path().join("spinner.lua"),
        "return { on_bar = function(ctx, b)\n if ctx.state.placed then while true do end end\n ctx.state.placed = true\n ctx:buy{symbol = b.symbol, qty = 1, type = 'limit', limit_price = b.close * 0.5}\nend }",
    )
    .unwrap();
    let bars = orcl();
    let mut r = runner(dir.path(), &db, HostConfig { instruction_budget: 100_000, ..HostConfig::default() });
    r.start().unwrap();
    r.on_market(&MarketEvent::Bar(sym(), bars[0].clone())).unwrap();
    assert_eq!(orders_of(&r, "spinner")[0].status(), OrderStatus::Open);
    r.on_market(&MarketEvent::Bar(sym(), bars[1].clone())).unwrap();
    let order = &orders_of(&r, "spinner")[0];
    assert_eq!(order.status(), OrderStatus::Cancelled);
    let store = r.engine().journal().store().clone();
    let trail = r.engine().journal().block_on(store.audit_trail(&order.cid)).unwrap();
    assert!(
        trail
            .iter()
            .filter_map(|c| c.reason.as_deref())
            .any(|t| t.starts_with("strategy 'spinner' paused: ") && t.contains("instruction budget")),
        "{trail:?}"
    );
}

#[tokio::test]
async fn provenance_is_stored_once_with_the_first_row_and_state_upserts_on_both_backends() {
    use luatrade::model::{OrderEvent, Provenance, SignalRef};
    use luatrade::store::{StrategyState, WriteBatch};
    use rust_decimal_macros::dec;
    use std::sync::Arc;
    use support::{at, cid, limit_order, sid, step};

    support::on_both(|store| async move {
        let prov = Arc::new(Provenance {
            script_hash: Arc::from(script_hash(b"return {}").as_str()),
            generation: 3,
            callback: Callback::Signal,
            signal: Some(SignalRef { id: "sig-9".into(), provider: "acme".into() }),
        });
        let mut order = limit_order("p-1", "llm", "ORCL", Side::Buy, dec!(5), at(0));
        order.provenance = Some(prov.clone());
        let mut first = WriteBatch::default();
        first.order(&order, None);
        // Rejected at creation: its first row already carries the rejection.
        let mut rejected = limit_order("p-2", "llm", "ORCL", Side::Buy, dec!(5), at(0));
        rejected.provenance = Some(prov.clone());
        step(&mut first, &mut rejected, OrderEvent::Rejected { reason: "MAX_ORDER_QTY: too big".into(), ts: at(0) });
        first.order(&limit_order("plain", "rust", "ORCL", Side::Buy, dec!(1), at(0)), None);
        store.apply(&first).await.unwrap();
        // Later rows of the same order write no second provenance row (the key would refuse
        // it) and never change the first.
        let mut later = WriteBatch::default();
        step(&mut later, &mut order, OrderEvent::Submitted { ts: at(1) });
        store.apply(&later).await.unwrap();

        for id in ["p-1", "p-2"] {
            assert_eq!(store.provenance(&cid(id)).await.unwrap().as_ref(), Some(&*prov), "{id}");
        }
        assert_eq!(store.provenance(&cid("plain")).await.unwrap(), None);
        let why = store.why(&cid("p-2")).await.unwrap().unwrap();
        assert!(why.to_string().contains("MAX_ORDER_QTY: too big"), "{why}");

        let id = sid("llm");
        assert_eq!(store.load_strategy_state(&id).await.unwrap(), None);
        let mut state = StrategyState {
            strategy_id: id.clone(),
            state: serde_json::json!({"n": 1, "levels": [1.5, 2.5], "tag": "a"}),
            script_hash: "h1".into(),
            generation: 0,
            updated_at: at(5),
        };
        store.save_strategy_state(&state).await.unwrap();
        assert_eq!(store.load_strategy_state(&id).await.unwrap().as_ref(), Some(&state));
        state.state = serde_json::json!({"n": 2});
        state.generation = 1;
        state.script_hash = "h2".into();
        state.updated_at = at(9);
        store.save_strategy_state(&state).await.unwrap();
        assert_eq!(store.load_strategy_state(&id).await.unwrap(), Some(state), "replaced, one row per strategy");
    })
    .await;
}
