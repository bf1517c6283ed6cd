//! Protection and risk records (migration 0002): the monitor of each open position, the risk
//! audit trail (limit and trading-state changes) and why each position closed.
//!
//! Written in the batch's transaction, after the core tables, as the core tables are (one
//! [`Write`] per table and operation): monitor upserts, monitor deletions, risk audit rows
//! (appended in the order they happened) and close reasons.

use super::error::StoreError;
use super::rows::Table;
use super::sql::{Dialect, Op, Val, Write};
use super::WriteBatch;
use crate::model::{AccountId, ClientOrderId, PositionId, Side, StrategyId, Symbol, Timestamp};
use crate::monitor::{ExitReason, MonitorRecord, MonitorSpec, MonitorState, PositionKey, TrailState};
use crate::risk::{LimitChange, Scope, StateChange};
use rust_decimal::Decimal;
use sqlx::{Pool, QueryBuilder};
use std::borrow::Cow;
use std::str::FromStr;

/// One monitor as stored: its record (what a restart rebuilds it from) and its effective
/// levels when it was written (for people and queries; a restart recomputes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMonitor {
    /// The position facts, the spec and the runtime state (trail, break-even, working exit).
    pub record: MonitorRecord,
    /// The effective stop and which rule it comes from (stop-loss, break-even, trailing).
    pub stop: Option<(Decimal, ExitReason)>,
    /// The take-profit level.
    pub target: Option<Decimal>,
}

impl StoredMonitor {
    /// When the time exit is due (`opened_at` + max holding time), if the spec has one.
    #[must_use]
    pub fn deadline(&self) -> Option<Timestamp> {
        self.record.spec.max_holding_nanos.map(|n| self.record.opened_at.plus_nanos(n))
    }
}

/// One audited risk change: a limit or a trading state, at one scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RiskAuditRecord {
    /// When.
    pub ts: Timestamp,
    /// Where: `global`, `strategy:<id>` or `symbol:<symbol>`.
    pub scope: Scope,
    /// What: a limit's config key (`max_position_notional`…) or `trading_state`.
    pub subject: String,
    /// The value before (`None`: no limit).
    pub old: Option<String>,
    /// The value after (`None`: no limit).
    pub new: Option<String>,
    /// Who (user, API key name, `risk` for a breach).
    pub who: String,
    /// Why, when it was given (trading-state changes carry one).
    pub why: Option<String>,
}

/// The subject of trading-state rows in the audit trail.
pub const TRADING_STATE_SUBJECT: &str = "trading_state";

impl From<&LimitChange> for RiskAuditRecord {
    fn from(c: &LimitChange) -> Self {
        Self {
            ts: c.ts,
            scope: c.scope.clone(),
            subject: c.field.as_str().to_owned(),
            old: c.old.map(|v| v.to_string()),
            new: c.new.map(|v| v.to_string()),
            who: c.who.clone(),
            why: c.why.clone(),
        }
    }
}

impl From<&StateChange> for RiskAuditRecord {
    fn from(c: &StateChange) -> Self {
        Self {
            ts: c.ts,
            scope: c.scope.clone(),
            subject: TRADING_STATE_SUBJECT.to_owned(),
            old: Some(c.prev.as_str().to_owned()),
            new: Some(c.current.as_str().to_owned()),
            who: c.who.clone(),
            why: Some(c.reason.clone()),
        }
    }
}

/// Why one position closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseReasonRecord {
    /// The position.
    pub position_id: PositionId,
    /// Why.
    pub reason: ExitReason,
    /// The order whose fill closed it.
    pub exit_cid: Option<ClientOrderId>,
    /// When the closing fill was applied.
    pub ts: Timestamp,
}

/// The text form of a scope, as [`Scope`]'s `Display` writes it.
fn scope_text(scope: &Scope) -> String {
    scope.to_string()
}

fn parse_scope(s: &str) -> Option<Scope> {
    if s == "global" {
        return Some(Scope::Global);
    }
    let (level, id) = s.split_once(':')?;
    match level {
        "strategy" => StrategyId::try_new(id).ok().map(Scope::Strategy),
        "symbol" => Symbol::try_new(id).ok().map(Scope::Symbol),
        _ => None,
    }
}

fn text(s: &str) -> Val<'_> {
    Val::Text(Some(Cow::Borrowed(s)))
}

fn owned(s: Option<String>) -> Val<'static> {
    Val::Text(s.map(Cow::Owned))
}

fn dec(d: Option<Decimal>) -> Val<'static> {
    owned(d.map(|d| d.to_string()))
}

fn pid_val(id: PositionId) -> Result<Val<'static>, StoreError> {
    i64::try_from(id.0)
        .map(|v| Val::Int(Some(v)))
        .map_err(|_| StoreError::InvalidBatch(format!("position id {id} does not fit a BIGINT")))
}

const MONITOR_COLS: &str = "position_id, account, symbol, side, qty, entry_px, entry_fees, opened_at, spec, \
     trail_best, trail_trigger, break_even_stop, working, stop_px, stop_reason, target_px, deadline, ts_last";

/// The `monitors` table (one row per armed position, upserted).
const MONITORS: Table<18> = Table {
    name: "monitors",
    cols: [
        "position_id",
        "account",
        "symbol",
        "side",
        "qty",
        "entry_px",
        "entry_fees",
        "opened_at",
        "spec",
        "trail_best",
        "trail_trigger",
        "break_even_stop",
        "working",
        "stop_px",
        "stop_reason",
        "target_px",
        "deadline",
        "ts_last",
    ],
    key: &["position_id"],
    fixed: &[],
    op: Op::Upsert,
};

/// The `monitors` rows to delete: a disarmed monitor's key.
const MONITOR_KEYS: Table<1> =
    Table { name: "monitors", cols: ["position_id"], key: &["position_id"], fixed: &[], op: Op::Delete };

/// The `risk_audit` table (appended; `seq` is numbered by the database).
const RISK_AUDIT: Table<7> = Table {
    name: "risk_audit",
    cols: ["ts", "scope", "subject", "old_value", "new_value", "who", "why"],
    key: &[],
    fixed: &[],
    op: Op::Insert,
};

/// The `close_reasons` table (one row per closed position, upserted).
const CLOSE_REASONS: Table<4> = Table {
    name: "close_reasons",
    cols: ["position_id", "reason", "exit_cid", "ts"],
    key: &["position_id"],
    fixed: &[],
    op: Op::Upsert,
};

fn monitor_values(m: &StoredMonitor, ts: Timestamp) -> Result<[Val<'_>; 18], StoreError> {
    let r = &m.record;
    let spec = serde_json::to_string(&r.spec)
        .map_err(|e| StoreError::InvalidBatch(format!("monitor of position {}: spec: {e}", r.position_id)))?;
    Ok([
        pid_val(r.position_id)?,
        text(r.key.account.as_str()),
        text(r.key.symbol.as_str()),
        text(r.side.as_str()),
        dec(Some(r.qty)),
        dec(Some(r.entry_px)),
        dec(Some(r.entry_fees)),
        Val::Int(Some(r.opened_at.0)),
        owned(Some(spec)),
        dec(r.state.trail.best),
        dec(r.state.trail.trigger),
        dec(r.state.break_even_stop),
        Val::Text(r.state.working.map(|w| Cow::Borrowed(w.as_str()))),
        dec(m.stop.map(|s| s.0)),
        Val::Text(m.stop.map(|s| Cow::Borrowed(s.1.as_str()))),
        dec(m.target),
        Val::Int(m.deadline().map(|d| d.0)),
        Val::Int(Some(ts.0)),
    ])
}

/// The writes of the batch's monitors (upserts, then deletions), risk audit rows and close
/// reasons (run in the batch's transaction, in this order).
pub(crate) fn writes(batch: &WriteBatch) -> Result<Vec<Write<'_>>, StoreError> {
    let ts = batch.latest_ts().unwrap_or_else(Timestamp::now);
    let monitors = batch.monitors.values().map(|m| monitor_values(m, ts)).collect::<Result<Vec<_>, _>>()?;
    let removed = batch.monitors_removed.iter().map(|&pid| Ok([pid_val(pid)?])).collect::<Result<Vec<_>, _>>()?;
    let audit = batch
        .risk_audit
        .iter()
        .map(|a| {
            [
                Val::Int(Some(a.ts.0)),
                owned(Some(scope_text(&a.scope))),
                text(&a.subject),
                owned(a.old.clone()),
                owned(a.new.clone()),
                text(&a.who),
                owned(a.why.clone()),
            ]
        })
        .collect();
    let reasons = close_reason_rows(&batch.close_reasons)?;
    Ok([MONITORS.write(monitors), MONITOR_KEYS.write(removed), RISK_AUDIT.write(audit), CLOSE_REASONS.write(reasons)]
        .into_iter()
        .flatten()
        .collect())
}

/// One row per position, the last reason the batch gives it winning (as upserting them one by
/// one would): an upsert statement may not touch the same row twice on Postgres.
fn close_reason_rows(records: &[CloseReasonRecord]) -> Result<Vec<[Val<'_>; 4]>, StoreError> {
    let mut last: crate::collections::FastIndexMap<PositionId, &CloseReasonRecord> = Default::default();
    for c in records {
        last.insert(c.position_id, c);
    }
    last.into_values()
        .map(|c| {
            Ok([
                pid_val(c.position_id)?,
                text(c.reason.as_str()),
                Val::Text(c.exit_cid.as_ref().map(|x| Cow::Borrowed(x.as_str()))),
                Val::Int(Some(c.ts.0)),
            ])
        })
        .collect()
}

/// Names the table, key and column of a stored value the model refuses.
fn corrupt(table: &'static str, key: impl ToString, column: &'static str, value: &str, why: String) -> StoreError {
    StoreError::Corrupt { table, key: key.to_string(), column, value: value.to_owned(), reason: why }
}

fn parse_dec(table: &'static str, key: i64, column: &'static str, v: &str) -> Result<Decimal, StoreError> {
    Decimal::from_str(v).map_err(|e| corrupt(table, key, column, v, format!("not a decimal: {e}")))
}

fn parse_opt_dec(
    table: &'static str,
    key: i64,
    column: &'static str,
    v: Option<&str>,
) -> Result<Option<Decimal>, StoreError> {
    v.map(|v| parse_dec(table, key, column, v)).transpose()
}

fn parse_reason(table: &'static str, key: i64, column: &'static str, v: &str) -> Result<ExitReason, StoreError> {
    ExitReason::parse(v).ok_or_else(|| corrupt(table, key, column, v, "not an exit reason".into()))
}

fn parse_pid(table: &'static str, v: i64) -> Result<PositionId, StoreError> {
    u64::try_from(v).map(PositionId).map_err(|_| corrupt(table, v, "position_id", &v.to_string(), "negative".into()))
}

/// One `monitors` row as stored.
#[derive(Debug, sqlx::FromRow)]
struct MonitorRow {
    position_id: i64,
    account: String,
    symbol: String,
    side: String,
    qty: String,
    entry_px: String,
    entry_fees: String,
    opened_at: i64,
    spec: String,
    trail_best: Option<String>,
    trail_trigger: Option<String>,
    break_even_stop: Option<String>,
    working: Option<String>,
    stop_px: Option<String>,
    stop_reason: Option<String>,
    target_px: Option<String>,
}

impl MonitorRow {
    fn into_stored(self) -> Result<StoredMonitor, StoreError> {
        const T: &str = "monitors";
        let k = self.position_id;
        let d = |column, v: &str| parse_dec(T, k, column, v);
        let od = |column, v: Option<&str>| parse_opt_dec(T, k, column, v);
        let spec: MonitorSpec =
            serde_json::from_str(&self.spec).map_err(|e| corrupt(T, k, "spec", &self.spec, e.to_string()))?;
        let working = self.working.as_deref().map(|w| parse_reason(T, k, "working", w)).transpose()?;
        let stop = match (od("stop_px", self.stop_px.as_deref())?, self.stop_reason.as_deref()) {
            (Some(px), Some(r)) => Some((px, parse_reason(T, k, "stop_reason", r)?)),
            _ => None,
        };
        let record = MonitorRecord {
            key: PositionKey {
                account: AccountId::try_new(self.account.clone())
                    .map_err(|e| corrupt(T, k, "account", &self.account, e.to_string()))?,
                symbol: Symbol::try_new(self.symbol.clone())
                    .map_err(|e| corrupt(T, k, "symbol", &self.symbol, e.to_string()))?,
            },
            position_id: parse_pid(T, k)?,
            side: Side::parse(&self.side).ok_or_else(|| corrupt(T, k, "side", &self.side, "not a side".into()))?,
            qty: d("qty", &self.qty)?,
            entry_px: d("entry_px", &self.entry_px)?,
            entry_fees: d("entry_fees", &self.entry_fees)?,
            opened_at: Timestamp(self.opened_at),
            spec,
            state: MonitorState {
                trail: TrailState {
                    best: od("trail_best", self.trail_best.as_deref())?,
                    trigger: od("trail_trigger", self.trail_trigger.as_deref())?,
                },
                break_even_stop: od("break_even_stop", self.break_even_stop.as_deref())?,
                working,
            },
        };
        Ok(StoredMonitor { record, stop, target: od("target_px", self.target_px.as_deref())? })
    }
}

/// One `risk_audit` row as stored.
#[derive(Debug, sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    ts: i64,
    scope: String,
    subject: String,
    old_value: Option<String>,
    new_value: Option<String>,
    who: String,
    why: Option<String>,
}

/// One `close_reasons` row as stored.
#[derive(Debug, sqlx::FromRow)]
struct CloseRow {
    position_id: i64,
    reason: String,
    exit_cid: Option<String>,
    ts: i64,
}

async fn fetch_all<DB: Dialect, T: super::sql::Decodable>(
    pool: &Pool<DB>,
    what: &'static str,
    sql: String,
) -> Result<Vec<T>, StoreError> {
    let read = |source| StoreError::Read { backend: DB::BACKEND, what, source };
    let mut conn = pool.acquire().await.map_err(read)?;
    let mut qb = QueryBuilder::<DB>::new(sql);
    DB::fetch(&mut conn, &mut qb).await.map_err(read)
}

/// The monitors of open and closing positions, by position id.
pub(crate) async fn monitors<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<StoredMonitor>, StoreError> {
    let sql = format!(
        "SELECT {MONITOR_COLS} FROM monitors WHERE position_id IN \
         (SELECT id FROM positions WHERE status IN ('open', 'closing')) ORDER BY position_id"
    );
    let rows: Vec<MonitorRow> = fetch_all(pool, "monitors", sql).await?;
    rows.into_iter().map(MonitorRow::into_stored).collect()
}

/// The risk audit trail, oldest first; with `limit`, the most recent `limit` rows.
pub(crate) async fn risk_audit<DB: Dialect>(
    pool: &Pool<DB>,
    limit: Option<u32>,
) -> Result<Vec<RiskAuditRecord>, StoreError> {
    let cols = "seq, ts, scope, subject, old_value, new_value, who, why";
    let limit = limit.map_or(i64::MAX, i64::from);
    let sql =
        format!("SELECT {cols} FROM (SELECT {cols} FROM risk_audit ORDER BY seq DESC LIMIT {limit}) AS t ORDER BY seq");
    let rows: Vec<AuditRow> = fetch_all(pool, "risk audit", sql).await?;
    rows.into_iter()
        .map(|r| {
            let scope = parse_scope(&r.scope)
                .ok_or_else(|| corrupt("risk_audit", r.seq, "scope", &r.scope, "not a scope".into()))?;
            Ok(RiskAuditRecord {
                ts: Timestamp(r.ts),
                scope,
                subject: r.subject,
                old: r.old_value,
                new: r.new_value,
                who: r.who,
                why: r.why,
            })
        })
        .collect()
}

/// Every recorded close reason, by position id.
pub(crate) async fn close_reasons<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<CloseReasonRecord>, StoreError> {
    let sql = "SELECT position_id, reason, exit_cid, ts FROM close_reasons ORDER BY position_id".to_owned();
    let rows: Vec<CloseRow> = fetch_all(pool, "close reasons", sql).await?;
    rows.into_iter()
        .map(|r| {
            const T: &str = "close_reasons";
            let exit_cid = r
                .exit_cid
                .as_deref()
                .map(|c| ClientOrderId::try_new(c).map_err(|e| corrupt(T, r.position_id, "exit_cid", c, e.to_string())))
                .transpose()?;
            Ok(CloseReasonRecord {
                position_id: parse_pid(T, r.position_id)?,
                reason: parse_reason(T, r.position_id, "reason", &r.reason)?,
                exit_cid,
                ts: Timestamp(r.ts),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{LimitField, TradingState};

    #[test]
    fn scopes_round_trip_through_their_text() {
        let scopes = [
            Scope::Global,
            Scope::Strategy(StrategyId::try_new("momo").unwrap()),
            Scope::Symbol(Symbol::try_new("BTC-USD").unwrap()),
        ];
        for s in scopes {
            assert_eq!(parse_scope(&scope_text(&s)), Some(s.clone()), "{s}");
        }
        assert_eq!(parse_scope("account:x"), None);
        assert_eq!(parse_scope("strategy"), None);
    }

    #[test]
    fn audit_records_say_who_what_old_new_and_why() {
        let limit = LimitChange {
            scope: Scope::Global,
            field: LimitField::MaxPositionNotional,
            old: Some(Decimal::new(10_000, 0)),
            new: None,
            ts: Timestamp(5),
            who: "ops".into(),
            why: None,
        };
        let r = RiskAuditRecord::from(&limit);
        assert_eq!(
            (r.subject.as_str(), r.old.as_deref(), r.new.as_deref(), r.who.as_str(), r.why),
            ("max_position_notional", Some("10000"), None, "ops", None)
        );
        let state = StateChange {
            scope: Scope::Global,
            prev: TradingState::Active,
            current: TradingState::Halted,
            reason: "kill switch".into(),
            ts: Timestamp(6),
            who: "desk".into(),
        };
        let r = RiskAuditRecord::from(&state);
        assert_eq!(
            (r.subject.as_str(), r.old.as_deref(), r.new.as_deref(), r.why.as_deref()),
            (TRADING_STATE_SUBJECT, Some("active"), Some("halted"), Some("kill switch"))
        );
    }
}
