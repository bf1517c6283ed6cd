//! The set of running strategies: event fan-out, error counting, pause/disable, state
//! export/restore and hot reload.

use super::lua_strategy::LuaStrategy;
use super::reload::{DirWatcher, ReloadEvent};
use super::signal::Signal;
use super::{Command, ErrorKind, HostConfig, Intent, StrategyError, StrategyView};
use crate::collections::FastIndexMap;
use crate::data::bar::TradeTick;
use crate::data::{Bar, QuoteTick};
use crate::model::{Fill, Order, StrategyId, Symbol};
use crate::store::StrategyState;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Whether a strategy receives callbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategyStatus {
    /// Receiving callbacks.
    Running,
    /// Stopped by a budget or memory error; [`StrategyHost::resume`] restarts it.
    Paused(String),
    /// Stopped after too many consecutive errors; [`StrategyHost::resume`] restarts it.
    Disabled(String),
}

/// A strategy's status and counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrategyInfo {
    /// Running, paused or disabled.
    pub status: StrategyStatus,
    /// Failed callbacks since load.
    pub errors: u64,
    /// Failed callbacks in a row (reset by a successful one).
    pub consecutive_errors: u32,
    /// Reload generation.
    pub generation: u32,
    /// Hash of the running source.
    pub script_hash: String,
}

/// Something the host reports besides intents.
#[derive(Debug, Clone, PartialEq)]
pub enum HostEvent {
    /// A strategy was loaded and started.
    Started(StrategyId),
    /// A strategy was stopped (file deleted or [`StrategyHost::stop`]).
    Stopped(StrategyId),
    /// A callback failed.
    Error(StrategyError),
    /// A strategy was paused (budget or memory).
    Paused(StrategyId),
    /// A strategy was disabled after too many consecutive errors.
    Disabled(StrategyId),
    /// New code is running; `latency` is from the file event's arrival to the swap.
    Reloaded {
        /// The strategy.
        strategy: StrategyId,
        /// Its new generation.
        generation: u32,
        /// Event arrival (after debounce) → new code active.
        latency: Duration,
    },
    /// A changed file failed to load; the old version keeps running.
    ReloadFailed(StrategyError),
    /// A signal was past its TTL and not delivered.
    SignalExpired(Symbol),
    /// A line from `ctx:log`.
    Log {
        /// The strategy.
        strategy: StrategyId,
        /// The text.
        text: String,
    },
}

/// A strategy that stopped receiving callbacks (stopped, paused or disabled): what the
/// engine side must act on for its open orders (see [`super::OnStopOrders`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Halt {
    /// The strategy.
    pub strategy: StrategyId,
    /// Why, in words a trader can act on (`file deleted`, `paused: …`, `disabled: …`).
    pub reason: String,
}

#[derive(Debug)]
struct Slot {
    strategy: LuaStrategy,
    path: PathBuf,
    info: StrategyInfo,
}

/// Runs every loaded strategy. See the module docs.
#[derive(Debug)]
pub struct StrategyHost {
    config: HostConfig,
    slots: FastIndexMap<StrategyId, Slot>,
    events: Vec<HostEvent>,
    watcher: Option<DirWatcher>,
    pending: Vec<ReloadEvent>,
    halts: Vec<Halt>,
    saves: Vec<StrategyState>,
    defer_starts: bool,
    unstarted: Vec<StrategyId>,
}

impl StrategyHost {
    /// An empty host.
    #[must_use]
    pub fn new(config: HostConfig) -> Self {
        Self {
            config,
            slots: FastIndexMap::default(),
            events: Vec::new(),
            watcher: None,
            pending: Vec::new(),
            halts: Vec::new(),
            saves: Vec::new(),
            defer_starts: false,
            unstarted: Vec::new(),
        }
    }

    /// Loads a strategy file (not started yet: call [`StrategyHost::start`]).
    ///
    /// # Errors
    /// Its load error; nothing is added.
    pub fn load_file(&mut self, path: &Path) -> Result<StrategyId, StrategyError> {
        let s = LuaStrategy::load(path, &self.config, 0)?;
        let id = s.id().clone();
        let info = StrategyInfo {
            status: StrategyStatus::Running,
            errors: 0,
            consecutive_errors: 0,
            generation: 0,
            script_hash: s.script_hash().to_owned(),
        };
        self.slots.insert(id.clone(), Slot { strategy: s, path: path.to_owned(), info });
        Ok(id)
    }

    /// Loads every `*.lua` in `dir` (sorted by name); returns the failures.
    pub fn load_dir(&mut self, dir: &Path) -> Vec<StrategyError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|e| e == "lua"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files.iter().filter_map(|p| self.load_file(p).err()).collect()
    }

    /// Runs `on_start` for every loaded strategy.
    pub fn start(&mut self, view: &dyn StrategyView) -> Vec<Intent> {
        let ids: Vec<StrategyId> = self.slots.keys().cloned().collect();
        let mut out = Vec::new();
        for id in ids {
            self.events.push(HostEvent::Started(id.clone()));
            self.call(&id, &mut out, |s| s.on_start(view));
        }
        out
    }

    /// Runs `on_start` for one loaded strategy.
    pub fn start_one(&mut self, view: &dyn StrategyView, id: &StrategyId) -> Vec<Intent> {
        let mut out = Vec::new();
        if self.slots.contains_key(id) {
            self.events.push(HostEvent::Started(id.clone()));
            self.call(id, &mut out, |s| s.on_start(view));
        }
        out
    }

    /// From now on, a new file found by [`StrategyHost::poll_reload`] is loaded but not
    /// started: [`StrategyHost::take_unstarted`] hands it over so its saved state can be
    /// restored before [`StrategyHost::start_one`] runs `on_start` (what the runner does).
    pub fn defer_new_starts(&mut self) {
        self.defer_starts = true;
    }

    /// Takes the strategies loaded from new files and not started yet (see
    /// [`StrategyHost::defer_new_starts`]).
    pub fn take_unstarted(&mut self) -> Vec<StrategyId> {
        std::mem::take(&mut self.unstarted)
    }

    /// Ids of the loaded strategies, in load order.
    #[must_use]
    pub fn ids(&self) -> Vec<StrategyId> {
        self.slots.keys().cloned().collect()
    }

    /// A strategy's `params` table as JSON (after configured overrides), or `None` when it is
    /// not loaded or its params cannot be read.
    #[must_use]
    pub fn params(&self, id: &StrategyId) -> Option<serde_json::Value> {
        self.slots.get(id).and_then(|s| s.strategy.params_json().ok())
    }

    /// Status and counters of a strategy.
    #[must_use]
    pub fn info(&self, id: &StrategyId) -> Option<&StrategyInfo> {
        self.slots.get(id).map(|s| &s.info)
    }

    /// The configuration the host runs with.
    #[must_use]
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Whether halts or state saves are queued (what the runner settles after acting): a
    /// cheap check for the common case of nothing to do.
    #[must_use]
    pub fn has_settlements(&self) -> bool {
        !self.halts.is_empty() || !self.saves.is_empty()
    }

    /// Whether [`StrategyHost::poll_reload`] can have anything to do: a watcher is running or
    /// file changes wait for their debounce (never in a backtest).
    #[must_use]
    pub fn may_reload(&self) -> bool {
        self.watcher.is_some() || !self.pending.is_empty()
    }

    /// Whether strategies loaded mid-run wait to be started ([`StrategyHost::take_unstarted`]).
    #[must_use]
    pub fn has_unstarted(&self) -> bool {
        !self.unstarted.is_empty()
    }

    /// Takes the strategies that stopped receiving callbacks since the last call (stopped,
    /// paused or disabled), for the engine side to cancel or leave their open orders.
    pub fn take_halts(&mut self) -> Vec<Halt> {
        std::mem::take(&mut self.halts)
    }

    /// Takes the states to persist since the last call: each strategy's `ctx.state` as it
    /// was on a successful reload (after `on_reload`) and when it was stopped (after
    /// `on_stop`).
    pub fn take_state_saves(&mut self) -> Vec<StrategyState> {
        std::mem::take(&mut self.saves)
    }

    /// Every loaded strategy's `ctx.state` now, stamped `view.now()` (periodic saves and
    /// shutdown). A state that cannot be saved is reported as a [`HostEvent::Error`] naming
    /// the key and left out, so the previously saved state stays in the store.
    pub fn snapshot_states(&mut self, view: &dyn StrategyView) -> Vec<StrategyState> {
        let ids: Vec<StrategyId> = self.slots.keys().cloned().collect();
        ids.iter().filter_map(|id| self.state_of(id, view)).collect()
    }

    /// The strategy's state as a [`StrategyState`], or `None` (error event pushed).
    fn state_of(&mut self, id: &StrategyId, view: &dyn StrategyView) -> Option<StrategyState> {
        let slot = self.slots.get(id)?;
        match slot.strategy.export_state() {
            Ok(state) => Some(StrategyState {
                strategy_id: id.clone(),
                state,
                script_hash: slot.info.script_hash.clone(),
                generation: slot.info.generation,
                updated_at: view.now(),
            }),
            Err(e) => {
                self.events.push(HostEvent::Error(e));
                None
            }
        }
    }

    /// Takes what happened since the last call (errors, reloads, logs…).
    pub fn take_events(&mut self) -> Vec<HostEvent> {
        std::mem::take(&mut self.events)
    }

    /// Lets a paused or disabled strategy run again.
    pub fn resume(&mut self, id: &StrategyId) -> bool {
        self.slots.get_mut(id).is_some_and(|s| {
            s.info.status = StrategyStatus::Running;
            s.info.consecutive_errors = 0;
            true
        })
    }

    /// Delivers a bar to every running strategy that wants `symbol`.
    pub fn on_bar(&mut self, view: &dyn StrategyView, symbol: &Symbol, bar: &Bar) -> Vec<Intent> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            self.call_at(i, &mut out, |s| if s.wants(symbol) { s.on_bar(view, symbol, bar) } else { Ok(Vec::new()) });
        }
        out
    }

    /// Delivers a trade tick to every running strategy that wants `symbol`.
    pub fn on_tick(&mut self, view: &dyn StrategyView, symbol: &Symbol, tick: &TradeTick) -> Vec<Intent> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            self.call_at(i, &mut out, |s| if s.wants(symbol) { s.on_tick(view, symbol, tick) } else { Ok(Vec::new()) });
        }
        out
    }

    /// Delivers a top-of-book quote (as `on_tick` with `kind = "quote"`) to every running
    /// strategy that wants `symbol`.
    pub fn on_quote(&mut self, view: &dyn StrategyView, symbol: &Symbol, quote: &QuoteTick) -> Vec<Intent> {
        let mut out = Vec::new();
        for i in 0..self.slots.len() {
            self.call_at(
                i,
                &mut out,
                |s| if s.wants(symbol) { s.on_quote(view, symbol, quote) } else { Ok(Vec::new()) },
            );
        }
        out
    }

    /// Delivers a signal to every running strategy that wants its symbol, unless it expired.
    pub fn on_signal(&mut self, view: &dyn StrategyView, signal: &Signal) -> Vec<Intent> {
        let mut out = Vec::new();
        if signal.is_expired(view.now()) {
            self.events.push(HostEvent::SignalExpired(signal.symbol.clone()));
            return out;
        }
        for i in 0..self.slots.len() {
            self.call_at(
                i,
                &mut out,
                |s| if s.wants(&signal.symbol) { s.on_signal(view, signal) } else { Ok(Vec::new()) },
            );
        }
        out
    }

    /// Whether any loaded strategy defines `on_fill` or `on_order`.
    #[must_use]
    pub fn wants_updates(&self) -> bool {
        self.slots.values().any(|s| s.strategy.wants_updates())
    }

    /// Delivers a fill of one of `strategy`'s orders.
    pub fn on_fill(&mut self, view: &dyn StrategyView, strategy: &StrategyId, fill: &Fill) -> Vec<Intent> {
        let mut out = Vec::new();
        self.call(strategy, &mut out, |s| s.on_fill(view, fill));
        out
    }

    /// Delivers an order update to the order's strategy.
    pub fn on_order(&mut self, view: &dyn StrategyView, order: &Order) -> Vec<Intent> {
        let mut out = Vec::new();
        self.call(&order.strategy_id, &mut out, |s| s.on_order(view, order));
        out
    }

    /// Runs `on_stop`, queues its state for saving and removes the strategy (a [`Halt`]
    /// says `stopped`).
    pub fn stop(&mut self, view: &dyn StrategyView, id: &StrategyId) -> Vec<Intent> {
        self.stop_because(view, id, "stopped")
    }

    fn stop_because(&mut self, view: &dyn StrategyView, id: &StrategyId, reason: &str) -> Vec<Intent> {
        let mut out = Vec::new();
        self.call(id, &mut out, |s| s.on_stop(view));
        if let Some(state) = self.state_of(id, view) {
            self.saves.push(state);
        }
        if self.slots.shift_remove(id).is_some() {
            self.events.push(HostEvent::Stopped(id.clone()));
            self.halts.push(Halt { strategy: id.clone(), reason: reason.to_owned() });
        }
        out
    }

    /// The strategy's `ctx.state` as JSON, for persistence.
    ///
    /// # Errors
    /// [`ErrorKind::Unknown`] or [`ErrorKind::State`].
    pub fn export_state(&self, id: &StrategyId) -> Result<serde_json::Value, StrategyError> {
        self.slot(id)?.strategy.export_state()
    }

    /// Restores `ctx.state` (after a restart, before [`StrategyHost::start`]).
    ///
    /// # Errors
    /// [`ErrorKind::Unknown`] or [`ErrorKind::State`].
    pub fn restore_state(&mut self, id: &StrategyId, state: &serde_json::Value) -> Result<(), StrategyError> {
        self.slot(id)?.strategy.restore_state(state)
    }

    /// Restores a saved state (after a restart, before [`StrategyHost::start`]); a failure
    /// becomes a [`HostEvent::Error`] and the strategy keeps an empty state.
    pub fn restore_saved(&mut self, saved: &StrategyState) {
        if let Err(e) = self.restore_state(&saved.strategy_id, &saved.state) {
            self.events.push(HostEvent::Error(e));
        }
    }

    fn slot(&self, id: &StrategyId) -> Result<&Slot, StrategyError> {
        self.slots.get(id).ok_or_else(|| StrategyError::new(id.as_str(), "", ErrorKind::Unknown, "not loaded"))
    }

    fn call(
        &mut self,
        id: &StrategyId,
        out: &mut Vec<Intent>,
        f: impl FnOnce(&mut LuaStrategy) -> Result<Vec<Command>, StrategyError>,
    ) {
        if let Some(i) = self.slots.get_index_of(id) {
            self.call_at(i, out, f);
        }
    }

    /// Runs one callback on a running strategy and books its outcome.
    fn call_at(
        &mut self,
        i: usize,
        out: &mut Vec<Intent>,
        f: impl FnOnce(&mut LuaStrategy) -> Result<Vec<Command>, StrategyError>,
    ) {
        let Some((id, slot)) = self.slots.get_index_mut(i) else { return };
        if slot.info.status != StrategyStatus::Running {
            return;
        }
        let result = f(&mut slot.strategy);
        for text in slot.strategy.take_logs() {
            self.events.push(HostEvent::Log { strategy: id.clone(), text });
        }
        match result {
            Ok(cmds) => {
                slot.info.consecutive_errors = 0;
                out.extend(cmds.into_iter().map(|command| Intent { strategy: id.clone(), command }));
            }
            Err(e) => {
                slot.info.errors += 1;
                slot.info.consecutive_errors += 1;
                let reason = e.to_string();
                let kind = e.kind;
                self.events.push(HostEvent::Error(e));
                if matches!(kind, ErrorKind::Budget | ErrorKind::Memory) {
                    self.halts.push(Halt { strategy: id.clone(), reason: format!("paused: {reason}") });
                    slot.info.status = StrategyStatus::Paused(reason);
                    self.events.push(HostEvent::Paused(id.clone()));
                } else if slot.info.consecutive_errors >= self.config.max_consecutive_errors {
                    let why = format!("{} consecutive errors, last: {reason}", slot.info.consecutive_errors);
                    self.halts.push(Halt { strategy: id.clone(), reason: format!("disabled: {why}") });
                    slot.info.status = StrategyStatus::Disabled(why);
                    self.events.push(HostEvent::Disabled(id.clone()));
                }
            }
        }
    }

    /// Starts watching `dir` for changed, new and deleted `*.lua` files.
    ///
    /// # Errors
    /// The watcher's error, as text.
    pub fn watch(&mut self, dir: &Path) -> Result<(), String> {
        self.watcher = Some(DirWatcher::new(dir).map_err(|e| format!("cannot watch {}: {e}", dir.display()))?);
        Ok(())
    }

    /// Applies file changes that have been quiet for the debounce time: a changed file is
    /// reloaded (state handed over; on failure the old version keeps running), a new file is
    /// loaded and started, a deleted file's strategy is stopped. Call between callbacks.
    pub fn poll_reload(&mut self, view: &dyn StrategyView) -> Vec<Intent> {
        if !self.may_reload() {
            return Vec::new(); // not watching (backtests): nothing can be due
        }
        if let Some(w) = &self.watcher {
            while let Ok(ev) = w.rx.try_recv() {
                match self.pending.iter_mut().find(|p| p.path == ev.path) {
                    Some(p) => p.at = ev.at,
                    None => self.pending.push(ev),
                }
            }
        }
        let now = Instant::now();
        let debounce = self.config.reload_debounce;
        let (ready, wait): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.pending).into_iter().partition(|p| now.duration_since(p.at) >= debounce);
        self.pending = wait;
        let mut out = Vec::new();
        for ev in ready {
            self.apply_change(view, &ev.path, ev.at + debounce, &mut out);
        }
        out
    }

    /// Applies a change to `path` now (what [`StrategyHost::poll_reload`] does per file).
    pub fn reload_path(&mut self, view: &dyn StrategyView, path: &Path) -> Vec<Intent> {
        let mut out = Vec::new();
        self.apply_change(view, path, Instant::now(), &mut out);
        out
    }

    fn apply_change(&mut self, view: &dyn StrategyView, path: &Path, since: Instant, out: &mut Vec<Intent>) {
        let existing = self.slots.iter().find(|(_, s)| s.path == path).map(|(id, _)| id.clone());
        match (existing, path.exists()) {
            (Some(id), false) => out.extend(self.stop_because(view, &id, "stopped: file deleted")),
            (None, false) => {}
            (None, true) => match self.load_file(path) {
                Ok(id) if self.defer_starts => self.unstarted.push(id),
                Ok(id) => out.extend(self.start_one(view, &id)),
                Err(e) => self.events.push(HostEvent::ReloadFailed(e)),
            },
            (Some(id), true) => self.reload(view, &id, path, since, out),
        }
    }

    fn reload(&mut self, view: &dyn StrategyView, id: &StrategyId, path: &Path, since: Instant, out: &mut Vec<Intent>) {
        let Some(slot) = self.slots.get_mut(id) else { return };
        let generation = slot.info.generation + 1;
        let loaded = LuaStrategy::load(path, &self.config, generation).and_then(|mut new| {
            let old = slot.strategy.export_state()?;
            new.inherit_prices(&slot.strategy);
            let cmds = new.on_reload(view, &old)?;
            let state = new.export_state()?;
            Ok((new, cmds, state))
        });
        match loaded {
            Ok((new, cmds, state)) => {
                let save = StrategyState {
                    strategy_id: id.clone(),
                    state,
                    script_hash: new.script_hash().to_owned(),
                    generation,
                    updated_at: view.now(),
                };
                slot.info.generation = generation;
                slot.info.script_hash = new.script_hash().to_owned();
                slot.info.status = StrategyStatus::Running;
                slot.info.consecutive_errors = 0;
                slot.strategy = new;
                out.extend(cmds.into_iter().map(|command| Intent { strategy: id.clone(), command }));
                self.saves.push(save);
                self.events.push(HostEvent::Reloaded { strategy: id.clone(), generation, latency: since.elapsed() });
            }
            Err(e) => self.events.push(HostEvent::ReloadFailed(e)),
        }
    }
}
