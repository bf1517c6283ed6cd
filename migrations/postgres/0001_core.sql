-- luatrade core schema, Postgres dialect. Same tables, columns and indexes as
-- migrations/sqlite/0001_core.sql. Conventions:
--   * money and quantities are TEXT holding a rust_decimal::Decimal (exact, one mapping);
--   * times are BIGINT nanoseconds since the Unix epoch (UTC);
--   * enums are TEXT holding the model's `as_str` name;
--   * ids that results are ordered by use COLLATE "C" (byte order, as in SQLite), so
--     both backends list rows in the same order whatever the server's locale.
-- Never edit this file once applied; add a new numbered migration instead.

-- The order of record: one row per client order id, upserted with its latest state.
CREATE TABLE orders (
    cid            TEXT COLLATE "C" NOT NULL PRIMARY KEY,
    account        TEXT COLLATE "C" NOT NULL,
    strategy_id    TEXT    NOT NULL,
    symbol         TEXT    NOT NULL,
    side           TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    order_type     TEXT    NOT NULL,
    tif            TEXT    NOT NULL,
    reduce_only    BOOLEAN NOT NULL,
    llm_provider   TEXT,
    llm_model      TEXT,
    llm_reasoning  TEXT,
    llm_confidence DOUBLE PRECISION CHECK (llm_confidence BETWEEN 0 AND 1),
    parent         TEXT,
    role           TEXT,
    children       TEXT    NOT NULL, -- JSON array of client order ids
    ts_init        BIGINT  NOT NULL,
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
    ts_last        BIGINT  NOT NULL
);

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
    cid         TEXT COLLATE "C" NOT NULL REFERENCES orders (cid),
    seq         BIGINT  NOT NULL,
    event       TEXT    NOT NULL,
    from_status TEXT    NOT NULL,
    to_status   TEXT    NOT NULL,
    ts          BIGINT  NOT NULL,
    reason      TEXT,
    PRIMARY KEY (cid, seq)
);

-- Executions as the venue reported them. `seq` is the fill's place in its order's
-- trade list (0-based). The key (cid, trade_id) is also the index for "fills of an order".
CREATE TABLE fills (
    cid          TEXT COLLATE "C" NOT NULL REFERENCES orders (cid),
    trade_id     TEXT COLLATE "C" NOT NULL,
    seq          BIGINT  NOT NULL,
    symbol       TEXT    NOT NULL,
    side         TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty          TEXT    NOT NULL,
    price        TEXT    NOT NULL,
    fee          TEXT    NOT NULL,
    fee_currency TEXT    NOT NULL,
    liquidity    TEXT    NOT NULL CHECK (liquidity IN ('maker', 'taker')),
    ts           BIGINT  NOT NULL,
    PRIMARY KEY (cid, trade_id)
);

-- Fills as the books see them: linked to a position, with realised P&L. `seq` as in fills.
CREATE TABLE trades (
    cid                TEXT COLLATE "C" NOT NULL REFERENCES orders (cid),
    trade_id           TEXT COLLATE "C" NOT NULL,
    seq                BIGINT  NOT NULL,
    strategy_id        TEXT    NOT NULL,
    account            TEXT COLLATE "C" NOT NULL,
    symbol             TEXT    NOT NULL,
    side               TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty                TEXT    NOT NULL,
    price              TEXT    NOT NULL,
    fee                TEXT    NOT NULL,
    kind               TEXT    NOT NULL,
    position_id        BIGINT  NOT NULL,
    opened_position_id BIGINT,
    realized_pnl       TEXT    NOT NULL,
    ts                 BIGINT  NOT NULL,
    PRIMARY KEY (cid, trade_id)
);

CREATE INDEX idx_trades_symbol_ts ON trades (symbol, ts);
CREATE INDEX idx_trades_strategy_ts ON trades (strategy_id, ts);
CREATE INDEX idx_trades_ts ON trades (ts);

-- One row per position life, upserted with its latest state.
CREATE TABLE positions (
    id            BIGINT  NOT NULL PRIMARY KEY,
    account       TEXT COLLATE "C" NOT NULL,
    symbol        TEXT    NOT NULL,
    currency      TEXT COLLATE "C" NOT NULL,
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
    opened_at     BIGINT  NOT NULL,
    closed_at     BIGINT,
    ts_last       BIGINT  NOT NULL
);

CREATE INDEX idx_positions_status ON positions (status);
CREATE INDEX idx_positions_account_symbol ON positions (account, symbol);

-- Cash per (account, currency), upserted.
CREATE TABLE balances (
    account  TEXT COLLATE "C" NOT NULL,
    currency TEXT COLLATE "C" NOT NULL,
    cash     TEXT    NOT NULL,
    ts_last  BIGINT  NOT NULL,
    PRIMARY KEY (account, currency)
);
