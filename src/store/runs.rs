//! The `runs` table: one row per backtest run stored in the database, with its inputs, its
//! fills fingerprint and its report.

use super::{Store, StoreError};
use crate::model::Timestamp;
use serde::Serialize;

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

fn write_err(backend: &'static str, op: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |source| StoreError::Write { backend, table: "runs", op, rows: 1, source }
}

impl Store {
    /// Records the start of a run.
    ///
    /// # Errors
    /// [`StoreError::InvalidBatch`] when a run with this id is already stored (give the run
    /// another id), [`StoreError::Write`] when the insert fails.
    pub async fn begin_run(&self, run_id: &str, inputs: &serde_json::Value) -> Result<(), StoreError> {
        if self.run(run_id).await?.is_some() {
            return Err(StoreError::InvalidBatch(format!(
                "run '{run_id}' is already stored in this database; name this run with --run-id"
            )));
        }
        let (inputs, now) = (inputs.to_string(), Timestamp::now().0);
        match self {
            Store::Sqlite(p) => {
                sqlx::query("INSERT INTO runs (run_id, kind, inputs, started_at) VALUES (?, 'backtest', ?, ?)")
                    .bind(run_id)
                    .bind(inputs)
                    .bind(now)
                    .execute(p)
                    .await
                    .map_err(write_err("sqlite", "insert"))?;
            }
            Store::Postgres(p) => {
                sqlx::query("INSERT INTO runs (run_id, kind, inputs, started_at) VALUES ($1, 'backtest', $2, $3)")
                    .bind(run_id)
                    .bind(inputs)
                    .bind(now)
                    .execute(p)
                    .await
                    .map_err(write_err("postgres", "insert"))?;
            }
        }
        Ok(())
    }

    /// Records the end of a run: its fingerprint and report (JSON text).
    ///
    /// # Errors
    /// [`StoreError::Write`] when the update fails.
    pub async fn finish_run(&self, run_id: &str, fingerprint: &str, report: &str) -> Result<(), StoreError> {
        let now = Timestamp::now().0;
        match self {
            Store::Sqlite(p) => {
                sqlx::query("UPDATE runs SET finished_at = ?, fingerprint = ?, report = ? WHERE run_id = ?")
                    .bind(now)
                    .bind(fingerprint)
                    .bind(report)
                    .bind(run_id)
                    .execute(p)
                    .await
                    .map_err(write_err("sqlite", "update"))?;
            }
            Store::Postgres(p) => {
                sqlx::query("UPDATE runs SET finished_at = $1, fingerprint = $2, report = $3 WHERE run_id = $4")
                    .bind(now)
                    .bind(fingerprint)
                    .bind(report)
                    .bind(run_id)
                    .execute(p)
                    .await
                    .map_err(write_err("postgres", "update"))?;
            }
        }
        Ok(())
    }

    /// One stored run.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub async fn run(&self, run_id: &str) -> Result<Option<RunRow>, StoreError> {
        Ok(self.runs().await?.into_iter().find(|r| r.run_id == run_id))
    }

    /// Every stored run, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Read`].
    pub async fn runs(&self) -> Result<Vec<RunRow>, StoreError> {
        type Row = (String, String, String, i64, Option<i64>, Option<String>);
        const SQL: &str =
            "SELECT run_id, kind, inputs, started_at, finished_at, fingerprint FROM runs ORDER BY started_at, run_id";
        let rows: Vec<Row> = match self {
            Store::Sqlite(p) => sqlx::query_as(SQL).fetch_all(p).await.map_err(|source| StoreError::Read {
                backend: "sqlite",
                what: "runs",
                source,
            })?,
            Store::Postgres(p) => sqlx::query_as(SQL).fetch_all(p).await.map_err(|source| StoreError::Read {
                backend: "postgres",
                what: "runs",
                source,
            })?,
        };
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
}
