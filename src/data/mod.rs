//! Market data: bars, trades and quotes, and the loaders that read recorded prices.
//!
//! Must not know about orders.

pub mod bar;
pub mod csv;
mod stub_api;

pub use bar::{Bar, MarketEvent, QuoteTick, TradeTick};
pub use csv::DataError;
pub use stub_api::*;
