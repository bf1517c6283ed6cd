//! Durable persistence with sqlx: SQLite (default) or Postgres. No business rules here.

pub mod batch;

pub use batch::WriteBatch;
