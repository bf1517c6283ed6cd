//! Test support: one runner that gives a test a fresh store on each backend, and builders
//! that make model values through the production constructors.

use luatrade::model::{
    AccountId, ClientOrderId, Currency, Fill, Liquidity, Order, OrderEvent, OrderRequest, Position, PositionId, Side,
    StrategyId, Symbol, Timestamp, Trade, TradeId, TradeKind,
};
use luatrade::store::{Store, WriteBatch};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use sqlx::Connection;
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

/// The environment variable holding the Postgres admin URL (`bash .ci/run` sets it).
pub const PG_URL_VAR: &str = "LUATRADE_TEST_PG_URL";

/// A fresh, migrated store on one backend.
#[derive(Debug)]
pub struct Db {
    /// The store under test.
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

/// The Postgres admin URL, or `None` (after saying so once) when Postgres is not configured
/// outside CI. In CI a missing URL fails the test: the Postgres half must run there.
pub fn pg_admin_url() -> Option<String> {
    static SKIP_NOTICE: Once = Once::new();
    match std::env::var(PG_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!(
                "Postgres tests must run in CI, but {PG_URL_VAR} is not set (bash .ci/run starts a server and sets it)"
            )
        }
        _ => {
            // Straight to stderr: the test harness captures `eprintln!` of passing tests.
            SKIP_NOTICE.call_once(|| {
                let notice = format!("skipping Postgres half: set {PG_URL_VAR} (bash .ci/run does)\n");
                let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
            });
            None
        }
    }
}

/// A new SQLite file in its own temporary directory.
pub async fn sqlite_db() -> Db {
    let dir = tempfile::tempdir().expect("create temp dir");
    let path = dir.path().join("luatrade.db");
    let store = Store::connect(&format!("sqlite://{}", path.display())).await.expect("connect sqlite");
    Db { store, _dir: Some(dir) }
}

/// `url` with its database name replaced by `name` (query parameters kept).
pub fn with_database(url: &str, name: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let (head, query) = match url.find('?') {
        Some(q) => (&url[..q], &url[q..]),
        None => (url, ""),
    };
    let authority_end = head[after_scheme..].find('/').map_or(head.len(), |i| after_scheme + i);
    format!("{}/{name}{query}", &head[..authority_end])
}

fn unique_db_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    format!("lt_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn admin_exec(admin_url: &str, sql: &str) {
    let mut conn = sqlx::PgConnection::connect(admin_url).await.expect("connect to Postgres admin URL");
    sqlx::raw_sql(sql).execute(&mut conn).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await.expect("close admin connection");
}

/// A fresh Postgres database (created through the admin URL) and its name.
pub async fn pg_db(admin_url: &str) -> (Db, String) {
    let name = unique_db_name();
    admin_exec(admin_url, &format!("CREATE DATABASE {name}")).await;
    let store = Store::connect(&with_database(admin_url, &name)).await.expect("connect postgres");
    (Db { store, _dir: None }, name)
}

/// Runs `test` on a fresh SQLite file, then on a fresh Postgres database (when configured;
/// see [`pg_admin_url`]). The Postgres database is dropped after a passing run.
pub async fn on_both<F, Fut>(test: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    // `db` (and with it the SQLite file's directory) outlives the test.
    let db = sqlite_db().await;
    test(db.store.clone()).await;
    if let Some(admin) = pg_admin_url() {
        let (db, name) = pg_db(&admin).await;
        test(db.store.clone()).await;
        db.store.close().await;
        admin_exec(&admin, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    }
}

/// A fixed start time: 2023-11-14T22:13:20Z.
pub fn t0() -> Timestamp {
    Timestamp::from_secs(1_700_000_000)
}

/// `t0` plus `s` seconds.
pub fn at(s: i64) -> Timestamp {
    t0().plus_secs(s)
}

/// A client order id.
pub fn cid(s: &str) -> ClientOrderId {
    ClientOrderId::try_new(s).expect("valid cid")
}

/// A symbol.
pub fn sym(s: &str) -> Symbol {
    Symbol::try_new(s).expect("valid symbol")
}

/// A strategy id.
pub fn sid(s: &str) -> StrategyId {
    StrategyId::try_new(s).expect("valid strategy id")
}

/// The test account.
pub fn acct() -> AccountId {
    AccountId::try_new("main").expect("valid account")
}

/// USD.
pub fn usd() -> Currency {
    Currency::try_new("USD").expect("valid currency")
}

/// A pending GTC limit order at 100 created at `ts`.
pub fn limit_order(id: &str, strategy: &str, symbol: &str, side: Side, qty: Decimal, ts: Timestamp) -> Order {
    let req = OrderRequest::limit(acct(), sid(strategy), sym(symbol), side, qty, dec!(100));
    Order::new(cid(id), &req, ts)
}

/// Applies `event` to `order` and records the new state and audit row in `batch`.
pub fn step(batch: &mut WriteBatch, order: &mut Order, event: OrderEvent) {
    let change = order.apply(event).expect("legal event");
    batch.order(order, Some(&change));
}

/// A taker fill of `qty` at `price` for `order`, with a fee of 0.01 per unit.
pub fn fill_of(order: &Order, trade_id: &str, qty: Decimal, price: Decimal, ts: Timestamp) -> Fill {
    Fill {
        trade_id: TradeId::try_new(trade_id).expect("valid trade id"),
        cid: order.cid.clone(),
        symbol: order.symbol.clone(),
        side: order.side,
        qty,
        price,
        fee: qty * dec!(0.01),
        fee_currency: usd(),
        liquidity: Liquidity::Taker,
        ts,
    }
}

/// The trade the books record for `fill` on position `position`.
pub fn trade_of(order: &Order, fill: &Fill, kind: TradeKind, position: u64, realized: Decimal) -> Trade {
    Trade {
        trade_id: fill.trade_id.clone(),
        cid: fill.cid.clone(),
        strategy_id: order.strategy_id.clone(),
        account: order.account.clone(),
        symbol: fill.symbol.clone(),
        side: fill.side,
        qty: fill.qty,
        price: fill.price,
        fee: fill.fee,
        kind,
        position_id: PositionId(position),
        opened_position_id: None,
        realized_pnl: realized,
        ts: fill.ts,
    }
}

/// Submits, accepts and completely fills `order` at `price`, recording the order, its audit
/// rows, the fill and its trade (on position `position`) in `batch`. Returns the fill.
pub fn fill_completely(batch: &mut WriteBatch, order: &mut Order, price: Decimal, position: u64) -> Fill {
    let ts = order.ts_init;
    step(batch, order, OrderEvent::Submitted { ts: ts.plus_nanos(1) });
    step(batch, order, OrderEvent::Accepted { venue_order_id: None, ts: ts.plus_nanos(2) });
    let fill = fill_of(order, &format!("{}-t", order.cid), order.qty(), price, ts.plus_nanos(3));
    step(batch, order, OrderEvent::Filled(fill.clone()));
    batch.trades.push(trade_of(order, &fill, TradeKind::Entry, position, Decimal::ZERO));
    batch.fills.push(fill.clone());
    fill
}

/// A long position of `qty` at `price` opened at `ts`.
pub fn long(id: u64, symbol: &str, qty: Decimal, price: Decimal, ts: Timestamp) -> Position {
    Position::open(PositionId(id), acct(), sym(symbol), usd(), Side::Buy, qty, price, dec!(0.5), ts)
}

/// Sorts orders the way the store returns them: by `ts_init`, then client order id.
pub fn sorted(mut orders: Vec<Order>) -> Vec<Order> {
    orders.sort_by(|a, b| (a.ts_init, &a.cid).cmp(&(b.ts_init, &b.cid)));
    orders
}

/// The client order ids of `orders`, as text.
pub fn cids(orders: &[Order]) -> Vec<String> {
    orders.iter().map(|o| o.cid.to_string()).collect()
}
