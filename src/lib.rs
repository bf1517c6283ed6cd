//! luatrade: a runtime for automated trading strategies written in Lua.
//!
//! Every order, from any source, goes through one order management system ([`oms`]) that
//! keeps the books of record (orders, fills, positions, cash, P&L) and persists them
//! ([`store`]) before a venue ([`venue`]) sees anything.
#![deny(unsafe_code)]
#![warn(missing_docs, missing_debug_implementations, clippy::missing_errors_doc)]

pub mod backtest;
pub mod cli;
pub mod collections;
pub mod config;
pub mod data;
pub mod demo;
pub mod engine;
pub mod model;
pub mod monitor;
pub mod oms;
pub mod report;
pub mod risk;
pub mod store;
pub mod strategy;
pub mod venue;
