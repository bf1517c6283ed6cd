-- Trades lose the index by strategy: no query reads trades by strategy (they are read by
-- order, by symbol, and by time), and each trade paid for one more index entry.
-- Same change as migrations/sqlite/0006_child_fks_in_the_writer.sql, which also drops
-- SQLite's foreign keys from the audit trail, fills and trades (Postgres: migration 0005).
-- Never edit this file once applied; add a new numbered migration instead.
DROP INDEX IF EXISTS idx_trades_strategy_ts;
