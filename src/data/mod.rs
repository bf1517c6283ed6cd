//! Market data: bars, trades and quotes, and the loaders that read recorded prices.
//!
//! Must not know about orders.

pub mod bar;
pub mod csv;

pub use bar::{Bar, MarketEvent, QuoteTick, TradeTick};
