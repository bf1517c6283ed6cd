-- Protection and risk records, SQLite dialect. Same tables, columns and indexes as
-- migrations/postgres/0002_risk_monitors.sql; conventions as in 0001_core.sql.
-- Never edit this file once applied; add a new numbered migration instead.

-- The armed monitor of each open position: one row per position, upserted as its levels move
-- (trailing ratchet, break-even move, new entry price), deleted when the position ends. A
-- restart rebuilds the monitor set from these rows.
CREATE TABLE monitors (
    position_id     INTEGER NOT NULL PRIMARY KEY,
    account         TEXT    NOT NULL,
    symbol          TEXT    NOT NULL,
    side            TEXT    NOT NULL CHECK (side IN ('buy', 'sell')),
    qty             TEXT    NOT NULL,
    entry_px        TEXT    NOT NULL,
    entry_fees      TEXT    NOT NULL,
    opened_at       INTEGER NOT NULL,
    spec            TEXT    NOT NULL, -- JSON MonitorSpec: stop-loss, take-profit, trailing, break-even, max holding
    trail_best      TEXT,             -- trailing high water (long) / low water (short) once active
    trail_trigger   TEXT,             -- trailing trigger once active
    break_even_stop TEXT,             -- the moved stop once break-even armed
    working         TEXT,             -- reason of the exit working for the position, if one is
    stop_px         TEXT,             -- effective stop (tightest of stop-loss, break-even, trailing)
    stop_reason     TEXT,             -- which of them it is
    target_px       TEXT,             -- take-profit level
    deadline        INTEGER,          -- time exit (opened_at + max holding)
    ts_last         INTEGER NOT NULL
) STRICT;

-- Every limit change and trading-state change: who, when, old, new, why. Append-only.
CREATE TABLE risk_audit (
    seq       INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    ts        INTEGER NOT NULL,
    scope     TEXT    NOT NULL, -- global | strategy:<id> | symbol:<symbol>
    subject   TEXT    NOT NULL, -- a limit's config key, or trading_state
    old_value TEXT,             -- NULL: no limit
    new_value TEXT,
    who       TEXT    NOT NULL,
    why       TEXT
) STRICT;

CREATE INDEX idx_risk_audit_ts ON risk_audit (ts);

-- Why a position closed, when a monitor, the kill switch or a manual close closed it.
CREATE TABLE close_reasons (
    position_id INTEGER NOT NULL PRIMARY KEY,
    reason      TEXT    NOT NULL CHECK (reason IN ('stop_loss', 'take_profit', 'trailing_stop', 'break_even',
                                                   'time_exit', 'kill_switch', 'manual')),
    exit_cid    TEXT,
    ts          INTEGER NOT NULL
) STRICT;
