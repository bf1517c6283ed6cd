-- The audit trail, fills and trades no longer carry a foreign key to orders on SQLite
-- either (Postgres: migration 0005), and trades lose the index by strategy that no query
-- reads. Same tables, columns and remaining indexes as before and as on Postgres.
-- Never edit this file once applied; add a new numbered migration instead.
--
-- Why: once the writer stopped sending a statement per closed position, the key checks
-- (a probe of the orders key for every audit row, fill and trade: five per order on the
-- bench's submit -> ack -> fill path) showed up. Measured on the oms_throughput bench
-- (100,000 orders, batch 500, synchronous=FULL, A/B in one session, connection-level
-- switch): CPU of SQLite's worker thread 3.28-3.54 s with the checks, 3.04 s without.
--
-- What keeps the invariant instead, as on Postgres: the store is the only writer of these
-- tables and refuses a batch holding an audit row, a fill or a trade whose order is not in
-- the same batch (`StoreError::InvalidBatch`, before anything is written). Orders are never
-- deleted. `order_provenance` keeps its key (one row per strategy order, not per event).
--
-- SQLite cannot drop a constraint: each table is rebuilt with the same columns and copied.
-- Child tables only (nothing references them), so this runs with foreign keys on.

CREATE TABLE order_events_new (
    cid         TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    reason      TEXT,
    PRIMARY KEY (cid, seq)
) STRICT, WITHOUT ROWID;
INSERT INTO order_events_new (cid, seq, event, from_status, to_status, ts, reason)
    SELECT cid, seq, event, from_status, to_status, ts, reason FROM order_events;
DROP TABLE order_events;
ALTER TABLE order_events_new RENAME TO order_events;

CREATE TABLE fills_new (
    cid          TEXT    NOT NULL,
    trade_id     TEXT    NOT NULL,
    seq          INTEGER NOT NULL,
    symbol       TEXT    NOT NULL,
    side         TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty          TEXT    NOT NULL,
    price        TEXT    NOT NULL,
    fee          TEXT    NOT NULL,
    fee_currency TEXT    NOT NULL,
    liquidity    TEXT    NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    ts           INTEGER NOT NULL,
    PRIMARY KEY (cid, trade_id)
) STRICT, WITHOUT ROWID;
INSERT INTO fills_new (cid, trade_id, seq, symbol, side, qty, price, fee, fee_currency, liquidity, ts)
    SELECT cid, trade_id, seq, symbol, side, qty, price, fee, fee_currency, liquidity, ts FROM fills;
DROP TABLE fills;
ALTER TABLE fills_new RENAME TO fills;

CREATE TABLE trades_new (
    cid                TEXT    NOT NULL,
    trade_id           TEXT    NOT NULL,
    seq                INTEGER NOT NULL,
    strategy_id        TEXT    NOT NULL,
    account            TEXT    NOT NULL,
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty                TEXT    NOT NULL,
    price              TEXT    NOT NULL,
    fee                TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    position_id        INTEGER NOT NULL,
    opened_position_id INTEGER,
    realized_pnl       TEXT    NOT NULL,
    ts                 INTEGER NOT NULL,
    PRIMARY KEY (cid, trade_id)
) STRICT, WITHOUT ROWID;
INSERT INTO trades_new (cid, trade_id, seq, strategy_id, account, symbol, side, qty, price, fee, kind,
                        position_id, opened_position_id, realized_pnl, ts)
    SELECT cid, trade_id, seq, strategy_id, account, symbol, side, qty, price, fee, kind,
           position_id, opened_position_id, realized_pnl, ts FROM trades;
DROP TABLE trades;
ALTER TABLE trades_new RENAME TO trades;

CREATE INDEX idx_trades_symbol_ts ON trades (symbol, ts);
CREATE INDEX idx_trades_ts ON trades (ts);
