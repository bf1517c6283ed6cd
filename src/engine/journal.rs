//! Where the engine commits its journal: nowhere (pure in-memory runs) or a [`Store`].

use crate::model::StrategyId;
use crate::store::{Store, StoreError, StrategyState, WriteBatch};
use std::fmt;

/// A durable sink for the OMS journal. `commit` returns only once the batch is durable.
pub trait Journal {
    /// Commits one batch atomically.
    ///
    /// # Errors
    /// The store's error; the engine halts on it (nothing uncommitted reaches a venue).
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError>;

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

/// Commits batches to a [`Store`] (SQLite or Postgres), blocking the engine thread until the
/// transaction is durable. Counts what it committed.
pub struct StoreJournal {
    store: Store,
    runtime: tokio::runtime::Runtime,
    /// Transactions committed.
    pub commits: u64,
}

impl fmt::Debug for StoreJournal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreJournal").field("commits", &self.commits).finish_non_exhaustive()
    }
}

impl StoreJournal {
    /// Connects to `url` (running migrations) on a private current-thread runtime.
    ///
    /// # Errors
    /// The runtime cannot start, or the store cannot connect or migrate.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Runtime(e.to_string()))?;
        let store = runtime.block_on(Store::connect(url))?;
        Ok(Self { store, runtime, commits: 0 })
    }

    /// The store, for queries.
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs a store query (or any future) to completion on the journal's runtime.
    pub fn block_on<F: std::future::Future>(&self, fut: F) -> F::Output {
        self.runtime.block_on(fut)
    }
}

impl Journal for StoreJournal {
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        self.runtime.block_on(self.store.apply(&batch))?;
        self.commits += 1;
        Ok(())
    }

    fn save_strategy_state(&self, state: &StrategyState) -> Result<(), StoreError> {
        self.runtime.block_on(self.store.save_strategy_state(state))
    }

    fn load_strategy_state(&self, strategy: &StrategyId) -> Result<Option<StrategyState>, StoreError> {
        self.runtime.block_on(self.store.load_strategy_state(strategy))
    }
}
