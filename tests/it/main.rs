//! The one integration-test binary. Store tests run on a real SQLite file and on a real
//! Postgres server (`LUATRADE_TEST_PG_URL`; `bash .ci/run` starts one and sets it).

mod backtest;
mod crash;
mod data;
mod journal;
mod protect;
mod report;
mod store;
mod strategies;
mod strategy_store;
mod support;
