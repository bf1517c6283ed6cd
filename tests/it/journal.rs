//! The store journal's background writer, on a real SQLite file and a real Postgres
//! database: deferred batches are read back by queries and survive a drop; a barrier queued
//! behind one commits after it; a failed one stops the writer and halts the engine at its
//! next barrier, before the venue sees more.

use crate::support::*;
use luatrade::data::{MarketEvent, TradeTick};
use luatrade::engine::{Engine, EngineError, Journal, StoreJournal};
use luatrade::model::{Instrument, Instruments, OrderRequest, OrderStatus, Side, Timestamp};
use luatrade::oms::{Oms, OmsConfig};
use luatrade::risk::{RiskConfig, RiskEngine};
use luatrade::store::{OrderFilter, Store, StoreError, WriteBatch};
use luatrade::venue::sim::{SimConfig, SimVenue};
use rust_decimal_macros::dec;

/// A fresh SQLite URL in `dir`, and a fresh Postgres database URL when one is configured.
fn databases(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![format!("sqlite://{}", dir.join("journal.db").display())];
    if let Some(admin) = pg_admin_url() {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let (db, name) = rt.block_on(pg_db(&admin));
        rt.block_on(db.store.close());
        urls.push(with_database(&admin, &name));
    }
    urls
}

fn batch_with(id: &str) -> WriteBatch {
    let mut b = WriteBatch::default();
    b.order(&limit_order(id, "s", "AAPL", Side::Buy, dec!(1), at(0)), None);
    b
}

fn stored_cids(j: &StoreJournal) -> Vec<String> {
    cids(&j.block_on(j.store().orders(&OrderFilter::default())).unwrap())
}

#[test]
fn deferred_batches_are_read_back_by_queries_and_survive_a_drop() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()) {
        let mut j = StoreJournal::connect(&url).unwrap();
        j.commit_deferred(batch_with("d-1")).unwrap();
        assert_eq!(stored_cids(&j), ["d-1"], "a query waits for the batch in flight ({url})");
        j.commit_deferred(batch_with("d-2")).unwrap();
        drop(j); // no sync: dropping waits for the batch in flight
        let j = StoreJournal::connect(&url).unwrap();
        assert_eq!(stored_cids(&j), ["d-1", "d-2"], "{url}");
    }
}

#[test]
fn a_barrier_queued_behind_a_deferred_batch_commits_after_it_and_is_durable_on_return() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()) {
        let mut j = StoreJournal::connect(&url).unwrap();
        j.commit_deferred(batch_with("d-1")).unwrap();
        // Marked as stored: the update fails the batch unless the deferred one ran first.
        let mut barrier = batch_with("d-1");
        let cid = barrier.orders.keys().next().unwrap().clone();
        barrier.known_orders.insert(cid);
        barrier.order(&limit_order("b-2", "s", "AAPL", Side::Buy, dec!(2), at(1)), None);
        j.commit(barrier).expect("the barrier runs after the deferred batch");
        // Read through another connection: nothing waits for the writer here.
        let rt = tokio::runtime::Runtime::new().unwrap();
        let other = rt.block_on(Store::connect(&url)).unwrap();
        let stored = rt.block_on(other.orders(&OrderFilter::default())).unwrap();
        assert_eq!(cids(&stored), ["d-1", "b-2"], "both durable when the barrier returns ({url})");
        rt.block_on(other.close());
    }
}

#[test]
fn after_a_failed_deferred_batch_the_writer_writes_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()) {
        let mut j = StoreJournal::connect(&url).unwrap();
        // A fill whose order is not in the batch: refused by the store.
        let order = limit_order("ghost", "s", "AAPL", Side::Buy, dec!(1), at(0));
        let mut bad = WriteBatch::default();
        bad.fills.push(fill_of(&order, "T-1", dec!(1), dec!(100), at(1)));
        j.commit_deferred(bad).expect("handed over; the failure comes later");
        let err = j.commit(batch_with("after-1")).unwrap_err();
        assert!(matches!(err, StoreError::InvalidBatch(_)), "the deferred failure itself is reported: {err}");
        let err = j.commit(batch_with("after-2")).unwrap_err();
        assert!(matches!(err, StoreError::EarlierCommitFailed(_)), "{err}");
        assert!(err.to_string().contains("fill T-1 is for order ghost"), "says which batch failed: {err}");
        assert!(stored_cids(&j).is_empty(), "nothing after the failure was written ({url})");
    }
}

fn tick(n: i64) -> MarketEvent {
    MarketEvent::Trade(
        sym("AAPL"),
        TradeTick { ts: Timestamp::from_secs(1_700_000_000 + n), price: dec!(100), size: dec!(1000000) },
    )
}

fn engine(url: &str) -> Engine<SimVenue, StoreJournal> {
    let instruments: Instruments = [Instrument::us_stock("AAPL")].into_iter().collect();
    let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
    oms.deposit(&acct(), &usd(), dec!(100000));
    // The test clock sits after the close.
    let risk = RiskEngine::new(RiskConfig { market_hours: false, ..RiskConfig::default() }).unwrap();
    let journal = StoreJournal::connect(url).unwrap();
    Engine::new(oms, risk, SimVenue::new(SimConfig::default(), instruments), journal)
}

fn buy() -> OrderRequest {
    OrderRequest::market(acct(), sid("s"), sym("AAPL"), Side::Buy, dec!(1))
}

#[test]
fn a_deferred_commit_failing_in_the_database_halts_the_engine_before_the_next_order_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    for url in databases(dir.path()) {
        let mut eng = engine(&url);
        eng.on_market(&tick(0)).unwrap();
        let first = eng.submit(&buy()).unwrap().accepted().unwrap();
        eng.on_market(&tick(1)).unwrap();
        assert_eq!(eng.oms().order(&first).unwrap().status(), OrderStatus::Filled);
        // The next fill's batch cannot commit: its table is gone.
        let store = eng.journal().store().clone();
        let drop_trades = async {
            match &store {
                Store::Sqlite(pool) => sqlx::raw_sql("DROP TABLE trades").execute(pool).await.map(|_| ()),
                Store::Postgres(pool) => sqlx::raw_sql("DROP TABLE trades").execute(pool).await.map(|_| ()),
            }
        };
        eng.journal().block_on(drop_trades).unwrap();
        let second = eng.submit(&buy()).unwrap().accepted().unwrap();
        eng.on_market(&tick(2)).expect("the failing batch is committed behind the engine");
        assert_eq!(eng.oms().order(&second).unwrap().status(), OrderStatus::Filled);
        let third = eng.submit(&buy()).unwrap().accepted().unwrap();
        let err = eng.on_market(&tick(3)).unwrap_err();
        assert!(matches!(&err, EngineError::Store(_)), "{err}");
        assert!(err.to_string().contains("trades"), "names the table: {err}");
        assert_eq!(eng.oms().order(&third).unwrap().status(), OrderStatus::Pending, "never sent ({url})");
        assert!(eng.halted().is_some());
        let stored: Vec<_> = eng.journal().block_on(store.orders(&OrderFilter::default())).unwrap();
        let status_of = |c| stored.iter().find(|o| o.cid == c).map(|o| o.status());
        assert_eq!(status_of(first), Some(OrderStatus::Filled));
        assert_eq!(status_of(second), Some(OrderStatus::Pending), "its fill's batch rolled back whole ({url})");
        assert_eq!(status_of(third), None, "nothing after the failure was written ({url})");
    }
}
