-- Backtest (and later paper/live) runs: what defined them and what came out. A run's
-- orders, positions, trades and balances carry its account and client order id namespace.
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    inputs      TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    finished_at BIGINT,
    fingerprint TEXT,
    report      TEXT
);
