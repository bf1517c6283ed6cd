-- No query reads trades by strategy (the store reads them by symbol and time, by time, and
-- by order), so this index only cost an index insert per trade. (SQLite drops it in its
-- migration 0007.)
DROP INDEX idx_trades_strategy_ts;
