-- No query reads trades by strategy (the store reads them by symbol and time, by time, and
-- by order), so this index only cost a b-tree insert per trade. (Postgres drops it in its
-- migration 0006.)
DROP INDEX idx_trades_strategy_ts;
