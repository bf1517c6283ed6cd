//! Where the engine commits its journal: nowhere (pure in-memory runs) or a [`Store`].

use crate::model::StrategyId;
use crate::store::{Store, StoreError, StoreWriter, StrategyState, WriteBatch};
use std::fmt;
use std::sync::Mutex;
use tokio::sync::{mpsc, oneshot};

/// A durable sink for the OMS journal.
///
/// Batches commit in the order they are handed over, each atomically. `commit` is the
/// barrier: it returns once that batch *and every batch handed over before it* are durable.
/// `commit_deferred` may return before its batch is durable (a journal with a background
/// writer queues it); its outcome is reported by the next `commit`, `commit_deferred` or
/// `sync`, and a journal never writes a batch after one that failed.
pub trait Journal {
    /// Commits one batch atomically, returning once it and everything handed over before it
    /// are durable.
    ///
    /// # Errors
    /// The store's error (this batch's, or that of a deferred batch before it); the engine
    /// halts on it (nothing uncommitted reaches a venue).
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

    /// Hands over one batch that nothing outside waits on (acks, fills, positions, cash after
    /// an event): it commits after everything handed over before it, but the call may return
    /// first. Journals without a writer commit it at once.
    ///
    /// # Errors
    /// The store's error, for this batch or for an earlier deferred one.
    fn commit_deferred(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.commit(batch)
    }

    /// Waits until everything handed over is durable.
    ///
    /// # Errors
    /// The error of the first deferred batch that failed, if one did since the last report.
    fn sync(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Saves a strategy's `ctx.state` (replacing the previous save). Journals without a
    /// store keep nothing.
    ///
    /// # Errors
    /// The store's error; the previous save is kept.
    fn save_strategy_state(&self, _state: &StrategyState) -> Result<(), StoreError> {
        Ok(())
    }

    /// The strategy's last saved `ctx.state`, if any (journals without a store: none).
    ///
    /// # Errors
    /// The store's error.
    fn load_strategy_state(&self, _strategy: &StrategyId) -> Result<Option<StrategyState>, StoreError> {
        Ok(None)
    }
}

/// Discards batches: for in-memory backtests and benchmarks with no persistence.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoJournal;

impl Journal for NoJournal {
    fn commit(&mut self, _batch: WriteBatch) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The outcome of one batch, sent back by the writer once it is committed (or has failed).
type Outcome = oneshot::Receiver<Result<(), StoreError>>;

/// One batch for the writer, with where to report its outcome.
struct Job {
    batch: WriteBatch,
    done: oneshot::Sender<Result<(), StoreError>>,
}

/// Commits batches to a [`Store`] (SQLite or Postgres) from a writer task that runs beside
/// the engine thread, on one connection of its own ([`Store::writer`]), one transaction per
/// batch, in the order they were handed over; queries use the store's pool.
///
/// The guarantee, precisely:
/// - [`Journal::commit`] (the engine calls it before anything reaches a venue) returns only
///   once its batch and every batch handed over before it are durable. Its batch is queued
///   at once, behind the deferred one in flight, so the writer goes from one to the next
///   without waiting for this thread.
/// - [`Journal::commit_deferred`] (the engine's end-of-event batch: acks, fills, positions,
///   cash, monitors) queues the batch and returns; the engine goes on while it commits. At
///   most one deferred batch is in flight: handing over the next one first waits for it.
/// - The writer stops at its first failure: the batches after it are refused
///   ([`StoreError::EarlierCommitFailed`]), never written. The failure is returned by the
///   next `commit`, `commit_deferred` or `sync`, so the engine halts at its next barrier
///   with nothing further sent to a venue.
/// - [`Journal::sync`], [`StoreJournal::block_on`] (queries read what was handed over) and
///   dropping the journal wait for the batch in flight.
/// - A crash (the process dies) loses at most the one deferred batch in flight; the store
///   is always a prefix of the batches in order, so it never holds a fill without its
///   order, nor a position without the cash change of the same fill.
pub struct StoreJournal {
    store: Store,
    runtime: tokio::runtime::Runtime,
    writer: mpsc::UnboundedSender<Job>,
    /// The deferred batch being committed, if any.
    in_flight: Mutex<Option<Outcome>>,
    /// A deferred failure seen while waiting for a query, reported at the next commit.
    failed: Mutex<Option<StoreError>>,
    /// Transactions handed to the writer.
    pub commits: u64,
}

impl fmt::Debug for StoreJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreJournal").field("commits", &self.commits).finish_non_exhaustive()
    }
}

/// The writer task: applies batches in order on one connection of its own (opened with the
/// first batch), refusing everything after the first failure.
async fn write_in_order(store: Store, mut jobs: mpsc::UnboundedReceiver<Job>) {
    let mut first_failure: Option<String> = None;
    let mut writer: Option<StoreWriter> = None;
    while let Some(Job { batch, done }) = jobs.recv().await {
        let outcome = match &first_failure {
            Some(first) => Err(StoreError::EarlierCommitFailed(first.clone())),
            None => match &mut writer {
                Some(w) => w.apply(&batch).await,
                None => match store.writer().await {
                    Ok(w) => writer.insert(w).apply(&batch).await,
                    Err(e) => Err(e),
                },
            },
        };
        if let Err(e) = &outcome {
            first_failure.get_or_insert_with(|| e.to_string());
        }
        // The engine may have gone (dropped without waiting): nobody to tell.
        let _ = done.send(outcome);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StoreJournal {
    /// Connects to `url` (running migrations) on a private runtime with one worker thread,
    /// where the writer runs.
    ///
    /// # Errors
    /// The runtime cannot start, or the store cannot connect or migrate.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("luatrade-journal")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Runtime(e.to_string()))?;
        let store = runtime.block_on(Store::connect(url))?;
        let (writer, jobs) = mpsc::unbounded_channel();
        runtime.spawn(write_in_order(store.clone(), jobs));
        Ok(Self { store, runtime, writer, in_flight: Mutex::new(None), failed: Mutex::new(None), commits: 0 })
    }

    /// The store, for queries (run them with [`StoreJournal::block_on`], which first waits
    /// for the batch in flight).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a store query (or any future) to completion on the journal's runtime, after the
    /// batch in flight is committed, so the query sees everything handed over.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        if let Err(e) = self.wait_in_flight() {
            lock(&self.failed).get_or_insert(e);
        }
        self.runtime.block_on(fut)
    }

    fn wait_in_flight(&self) -> Result<(), StoreError> {
        let pending = lock(&self.in_flight).take();
        pending.map_or(Ok(()), |rx| rx.blocking_recv().unwrap_or(Err(StoreError::WriterGone)))
    }

    /// The deferred failure not reported yet, else the outcome of the batch in flight.
    fn settle(&mut self) -> Result<(), StoreError> {
        let waited = self.wait_in_flight();
        match lock(&self.failed).take() {
            Some(e) => Err(e),
            None => waited,
        }
    }

    fn hand_over(&mut self, batch: WriteBatch) -> Result<Outcome, StoreError> {
        let (done, outcome) = oneshot::channel();
        self.writer.send(Job { batch, done }).map_err(|_| StoreError::WriterGone)?;
        self.commits += 1;
        Ok(outcome)
    }
}

impl Journal for StoreJournal {
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return self.settle();
        }
        // Queued behind the deferred batch in flight, so the writer starts on it the moment
        // that one is committed, without a round trip through this thread. A failure before
        // it is reported first (the writer refuses this batch after one).
        let outcome = self.hand_over(batch)?;
        self.settle()?;
        outcome.blocking_recv().unwrap_or(Err(StoreError::WriterGone))
    }

    fn commit_deferred(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        self.settle()?;
        if batch.is_empty() {
            return Ok(());
        }
        let outcome = self.hand_over(batch)?;
        *lock(&self.in_flight) = Some(outcome);
        Ok(())
    }

    fn sync(&mut self) -> Result<(), StoreError> {
        self.settle()
    }

    fn save_strategy_state(&self, state: &StrategyState) -> Result<(), StoreError> {
        self.block_on(self.store.save_strategy_state(state))
    }

    fn load_strategy_state(&self, strategy: &StrategyId) -> Result<Option<StrategyState>, StoreError> {
        self.block_on(self.store.load_strategy_state(strategy))
    }
}

impl Drop for StoreJournal {
    /// Waits for the batch in flight, so a journal dropped without [`Journal::sync`] still
    /// leaves everything it was handed committed (a failure can only be logged here).
    fn drop(&mut self) {
        if let Err(e) = self.settle() {
            tracing::error!(error = %e, "StoreJournal dropped after a failed commit");
        }
    }
}
