-- Lua strategy records, SQLite dialect. Same tables and columns as
-- migrations/postgres/0003_strategy.sql; conventions as in 0001_core.sql.
-- Never edit this file once applied; add a new numbered migration instead.

-- Why an order exists: the strategy script version (SHA-256 of the file's bytes, hex), its
-- reload generation and the callback that placed it; for orders placed in on_signal, the
-- signal's id and provider. One row per order, written in the transaction that writes the
-- order's first row; never updated.
CREATE TABLE order_provenance (
    cid             TEXT    NOT NULL PRIMARY KEY REFERENCES orders (cid),
    strategy_id     TEXT    NOT NULL,
    script_hash     TEXT    NOT NULL,
    generation      INTEGER NOT NULL CHECK (generation >= 0),
    callback        TEXT    NOT NULL CHECK (callback IN ('on_start', 'on_bar', 'on_tick', 'on_signal',
                                                         'on_fill', 'on_order', 'on_stop', 'on_reload')),
    signal_id       TEXT,
    signal_provider TEXT
) STRICT, WITHOUT ROWID;

CREATE INDEX idx_order_provenance_script ON order_provenance (strategy_id, script_hash);

-- Each strategy's ctx.state as JSON, upserted on clean stop, on reload and periodically;
-- restored before on_start. `updated_at` is engine time (nanoseconds since the epoch).
CREATE TABLE strategy_state (
    strategy_id TEXT    NOT NULL PRIMARY KEY,
    state_json  TEXT    NOT NULL,
    script_hash TEXT    NOT NULL,
    generation  INTEGER NOT NULL CHECK (generation >= 0),
    updated_at  INTEGER NOT NULL
) STRICT;
