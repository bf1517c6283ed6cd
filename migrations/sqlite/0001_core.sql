-- luatrade core schema, SQLite dialect. Same tables, columns and indexes as
-- migrations/postgres/0001_core.sql. Conventions:
--   * money and quantities are TEXT holding a rust_decimal::Decimal (exact, one mapping);
--   * times are INTEGER nanoseconds since the Unix epoch (UTC);
--   * enums are TEXT holding the model's `as_str` name;
--   * STRICT tables: SQLite refuses a value of the wrong type instead of storing it;
--   * append-only tables keyed by (cid, …) are WITHOUT ROWID: the row lives in its key's
--     B-tree, one tree to write instead of a table plus a key index.
-- Never edit this file once applied; add a new numbered migration instead.

-- The order of record: one row per client order id, upserted with its latest state.
CREATE TABLE orders (
    cid            TEXT    NOT NULL PRIMARY KEY,
    account        TEXT    NOT NULL,
    strategy_id    TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    side           TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type     TEXT    NOT NULL,
    tif            TEXT    NOT NULL,
    reduce_only    INTEGER NOT NULL CHECK (reduce_only IN (0, 1)),
    llm_provider   TEXT,
    llm_model      TEXT,
    llm_reasoning  TEXT,
    llm_confidence REAL    CHECK (llm_confidence BETWEEN 0 AND 1),
    parent         TEXT,
    role           TEXT,
    children       TEXT    NOT NULL, -- JSON array of client order ids
    ts_init        INTEGER NOT NULL,
    qty            TEXT    NOT NULL,
    limit_price    TEXT,
    stop_price     TEXT,
    trailing_kind  TEXT    CHECK (trailing_kind IN ('amount', 'percent')),
    trailing_value TEXT,
    venue_order_id TEXT,
    status         TEXT    NOT NULL,
    filled_qty     TEXT    NOT NULL,
    avg_px         TEXT,
    fees           TEXT    NOT NULL,
    ts_last        INTEGER NOT NULL
) STRICT;

CREATE INDEX idx_orders_symbol ON orders (symbol, ts_init);
CREATE INDEX idx_orders_strategy ON orders (strategy_id, ts_init);
CREATE INDEX idx_orders_ts_init ON orders (ts_init, cid);
-- Open (non-terminal) orders: what a restart and the reconciler read. Queries must spell
-- the status list as these literals, in this order, for the planners to use this index.
-- No index leads with status: it changes on every upsert, and every other status filter
-- reads history, which the time, symbol and strategy indexes narrow down.
CREATE INDEX idx_orders_open ON orders (ts_init, cid)
    WHERE status IN ('pending', 'submitted', 'open', 'partially_filled', 'cancelling');

-- The audit trail: every applied status change, append-only.
-- The key (cid, seq) is also the index for "events of an order".
CREATE TABLE order_events (
    cid         TEXT    NOT NULL REFERENCES orders (cid),
    seq         INTEGER NOT NULL,
    event       TEXT    NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    ts          INTEGER NOT NULL,
    reason      TEXT,
    PRIMARY KEY (cid, seq)
) STRICT, WITHOUT ROWID;

-- Executions as the venue reported them. `seq` is the fill's place in its order's
-- trade list (0-based). The key (cid, trade_id) is also the index for "fills of an order".
CREATE TABLE fills (
    cid          TEXT    NOT NULL REFERENCES orders (cid),
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

-- Fills as the books see them: linked to a position, with realised P&L. `seq` as in fills.
CREATE TABLE trades (
    cid                TEXT    NOT NULL REFERENCES orders (cid),
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

CREATE INDEX idx_trades_symbol_ts ON trades (symbol, ts);
CREATE INDEX idx_trades_strategy_ts ON trades (strategy_id, ts);
CREATE INDEX idx_trades_ts ON trades (ts);

-- One row per position life, upserted with its latest state.
CREATE TABLE positions (
    id            INTEGER NOT NULL PRIMARY KEY,
    account       TEXT    NOT NULL,
    symbol        TEXT    NOT NULL,
    currency      TEXT    NOT NULL,
    qty           TEXT    NOT NULL,
    avg_px        TEXT    NOT NULL,
    realized_pnl  TEXT    NOT NULL,
    fees          TEXT    NOT NULL,
    mark          TEXT    NOT NULL,
    high_water    TEXT    NOT NULL,
    low_water     TEXT    NOT NULL,
    max_favorable TEXT    NOT NULL,
    max_adverse   TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('open', 'closing', 'closed', 'liquidated')),
    opened_at     INTEGER NOT NULL,
    closed_at     INTEGER,
    ts_last       INTEGER NOT NULL
) STRICT;

CREATE INDEX idx_positions_status ON positions (status);
CREATE INDEX idx_positions_account_symbol ON positions (account, symbol);

-- Cash per (account, currency), upserted.
CREATE TABLE balances (
    account  TEXT    NOT NULL,
    currency TEXT    NOT NULL,
    cash     TEXT    NOT NULL,
    ts_last  INTEGER NOT NULL,
    PRIMARY KEY (account, currency)
) STRICT;
