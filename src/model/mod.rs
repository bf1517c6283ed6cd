//! Plain data: ids, instruments, orders and their status table, fills, positions, trades.
//!
//! Owns the rules that need no I/O (validation, transitions, netting math). Must not do I/O.

pub mod calendar;
pub mod dec;
pub mod fill;
pub mod ids;
pub mod instrument;
pub mod llm;
pub mod order;
pub mod position;
pub mod provenance;
pub mod status;
pub mod time;

pub use fill::{Fill, Liquidity};
pub use ids::{AccountId, ClientOrderId, Currency, IdError, StrategyId, Symbol, TradeId, VenueOrderId};
pub use instrument::{AssetClass, IncrementError, Instrument, Instruments, UnknownInstrument};
pub use llm::{LlmMeta, LlmMetaError};
pub use order::{
    BracketRole, BracketSpec, Modification, Order, OrderError, OrderEvent, OrderRequest, OrderType, Side, StatusChange,
    TimeInForce, TrailingOffset,
};
pub use position::{Position, PositionId, PositionStatus, Trade, TradeKind};
pub use provenance::{Callback, Provenance, SignalRef, UnknownCallback};
pub use status::{OrderEventKind, OrderStatus, TransitionError};
pub use time::Timestamp;
