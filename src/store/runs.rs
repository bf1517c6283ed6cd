//! The `runs` table (migration 0004): one row per backtest run stored in the database, with
//! its inputs, its fills fingerprint and its report. Both dialects share this SQL.

use super::error::StoreError;
use super::sql::{fetch, Dialect, Val};
use crate::model::Timestamp;
use serde::Serialize;
use sqlx::{Pool, QueryBuilder};
use std::borrow::Cow;

/// One stored run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunRow {
    /// The run id.
    pub run_id: String,
    /// `backtest`.
    pub kind: String,
    /// The inputs as JSON text.
    pub inputs: String,
    /// Wall-clock start.
    pub started_at: Timestamp,
    /// Wall-clock end, once finished.
    pub finished_at: Option<Timestamp>,
    /// Hash over the ordered fills, once finished.
    pub fingerprint: Option<String>,
}

fn text(s: &str) -> Val<'_> {
    Val::Text(Some(Cow::Borrowed(s)))
}

async fn execute<DB: Dialect>(
    pool: &Pool<DB>,
    op: &'static str,
    qb: &mut QueryBuilder<'_, DB>,
) -> Result<(), StoreError> {
    let failed = |source| StoreError::Write { backend: DB::BACKEND, table: "runs", op, rows: 1, source };
    let mut conn = pool.acquire().await.map_err(failed)?;
    DB::execute(&mut conn, qb).await.map_err(failed)?;
    Ok(())
}

/// Inserts the row of a run that starts now (the caller checked the id is free).
pub(crate) async fn begin<DB: Dialect>(
    pool: &Pool<DB>,
    run_id: &str,
    inputs: &serde_json::Value,
) -> Result<(), StoreError> {
    let inputs = inputs.to_string();
    let mut qb = QueryBuilder::<DB>::new("INSERT INTO runs (run_id, kind, inputs, started_at) ");
    qb.push_values(std::iter::once(()), |mut sep, ()| {
        DB::bind(&mut sep, text(run_id));
        DB::bind(&mut sep, text("backtest"));
        DB::bind(&mut sep, text(&inputs));
        DB::bind(&mut sep, Val::Int(Some(Timestamp::now().0)));
    });
    execute(pool, "insert", &mut qb).await
}

/// Stamps a run finished now with its fingerprint and report.
pub(crate) async fn finish<DB: Dialect>(
    pool: &Pool<DB>,
    run_id: &str,
    fingerprint: &str,
    report: &str,
) -> Result<(), StoreError> {
    let now = Timestamp::now().0;
    let mut qb = QueryBuilder::<DB>::new("UPDATE runs SET finished_at = ");
    for (value, next) in [
        (Val::Int(Some(now)), ", fingerprint = "),
        (text(fingerprint), ", report = "),
        (text(report), " WHERE run_id = "),
        (text(run_id), ""),
    ] {
        DB::bind(&mut qb.separated(""), value);
        qb.push(next);
    }
    execute(pool, "update", &mut qb).await
}

/// Every stored run, oldest first.
pub(crate) async fn all<DB: Dialect>(pool: &Pool<DB>) -> Result<Vec<RunRow>, StoreError> {
    type Row = (String, String, String, i64, Option<i64>, Option<String>);
    let read = |source| StoreError::Read { backend: DB::BACKEND, what: "runs", source };
    let mut conn = pool.acquire().await.map_err(read)?;
    let mut qb = QueryBuilder::<DB>::new(
        "SELECT run_id, kind, inputs, started_at, finished_at, fingerprint FROM runs ORDER BY started_at, run_id",
    );
    let rows: Vec<Row> = fetch::<DB, Row>(&mut conn, "runs", &mut qb).await?;
    Ok(rows
        .into_iter()
        .map(|(run_id, kind, inputs, started, finished, fingerprint)| RunRow {
            run_id,
            kind,
            inputs,
            started_at: Timestamp(started),
            finished_at: finished.map(Timestamp),
            fingerprint,
        })
        .collect())
}
