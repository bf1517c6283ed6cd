//! The engine core: one synchronous, deterministic loop that wires the OMS to a venue and a
//! journal.
//!
//! Order of work for every input: the OMS changes its books, the journal commits, and only
//! then does the venue see new orders. Requests arriving between two market events are
//! batched into one commit ("group commit"), which keeps the commit-before-submit rule at a
//! fraction of the per-order cost. Each round sent to the venue is preceded by a barrier
//! commit (durable, with everything before it); what follows the last round of an event
//! (acks, fills, positions, cash) is handed to the journal as a deferred commit, which a
//! journal with a background writer commits behind the engine, in order (see [`Journal`]).
//! Does not duplicate logic that lives in `oms` or `venue`.

pub mod journal;
mod ledgers;
mod protect;
mod strategies;
mod views;

pub use ledgers::Funding;
pub use protect::{EngineAlert, KillReport, PROTECT_STRATEGY};
pub use strategies::{StrategyRunner, StrategyUpdate};

pub use journal::{Journal, NoJournal, StoreJournal};

use crate::collections::FastMap;
use crate::data::MarketEvent;
use crate::model::PositionId;
use crate::model::{ClientOrderId, Modification, OrderRequest, StrategyId, Timestamp};
use crate::monitor::{ExitReason, MonitorSet, MonitorSpec, StopGuard, StopGuardConfig};
use crate::oms::{Action, Oms, OmsError};
use crate::risk::{CheckKind, LimitChange, RejectReason, RiskEngine, StateChange};
use crate::store::StoreError;
use crate::venue::{Venue, VenueEvent};
use rust_decimal::Decimal;
use thiserror::Error;

/// Why the engine refused a request.
#[derive(Debug, Error)]
pub enum EngineError {
    /// The OMS refused it (validation, unknown order, illegal transition…).
    #[error(transparent)]
    Oms(#[from] OmsError),
    /// The journal could not commit: trading is halted, nothing uncommitted was sent.
    #[error("store commit failed, trading halted: {0}")]
    Store(#[from] StoreError),
    /// Trading was halted earlier by a store failure.
    #[error("trading is halted: {0}")]
    Halted(String),
    /// A monitor request was refused.
    #[error("monitor: {0}")]
    Monitor(String),
    /// A strategy's capital allocation cannot be funded.
    #[error("allocation: {0}")]
    Allocation(String),
}

/// What became of a submitted request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Risk approved it; it is `pending` and goes to the venue at the next flush.
    Accepted(ClientOrderId),
    /// Risk refused it; it is stored as `rejected` with this reason.
    Rejected {
        /// The rejected order's id.
        cid: ClientOrderId,
        /// Why (a stable code and the limit and value).
        reason: RejectReason,
    },
}

impl SubmitOutcome {
    /// The order's id, accepted or rejected.
    #[must_use]
    pub fn cid(&self) -> &ClientOrderId {
        match self {
            Self::Accepted(cid) | Self::Rejected { cid, .. } => cid,
        }
    }

    /// The id when accepted.
    #[must_use]
    pub fn accepted(self) -> Option<ClientOrderId> {
        match self {
            Self::Accepted(cid) => Some(cid),
            Self::Rejected { .. } => None,
        }
    }
}

/// Counters for monitoring and tests.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct EngineStats {
    /// Orders handed to the venue.
    pub submitted: u64,
    /// Fills applied.
    pub fills: u64,
    /// Venue events the OMS refused (logged, counted, never applied).
    pub refused_events: u64,
    /// Journal commits.
    pub commits: u64,
}

/// One audited risk change (persisted by the caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RiskAudit {
    /// A limit changed.
    Limit(LimitChange),
    /// A trading state changed (by a user, or by a breach).
    State(StateChange),
}

/// The engine. See the module docs.
#[derive(Debug)]
pub struct Engine<V: Venue, J: Journal> {
    oms: Oms,
    risk: RiskEngine,
    alerts: Vec<EngineAlert>,
    risk_audit: Vec<RiskAudit>,
    monitors: MonitorSet,
    guard: StopGuard,
    guard_keys: FastMap<PositionId, (crate::model::AccountId, crate::model::Symbol)>,
    protections: FastMap<ClientOrderId, MonitorSpec>,
    exits: FastMap<ClientOrderId, (PositionId, ExitReason)>,
    close_reasons: FastMap<PositionId, ExitReason>,
    /// Persistence of protection: how many `risk_audit` entries are committed, and close
    /// reasons not yet committed.
    persisted_audit: usize,
    pending_close: Vec<crate::store::CloseReasonRecord>,
    /// Whether fills and order changes are collected for strategies.
    collect_updates: bool,
    updates: Vec<StrategyUpdate>,
    venue: V,
    journal: J,
    sequences: FastMap<StrategyId, (String, u64)>,
    id_namespace: String,
    actions: Vec<Action>,
    events: Vec<VenueEvent>,
    now: Timestamp,
    halted: Option<String>,
    stats: EngineStats,
}

impl<V: Venue, J: Journal> Engine<V, J> {
    /// Wires an OMS, its risk engine, a venue and a journal.
    pub fn new(oms: Oms, risk: RiskEngine, venue: V, journal: J) -> Self {
        Self {
            oms,
            risk,
            alerts: Vec::new(),
            risk_audit: Vec::new(),
            monitors: MonitorSet::new(),
            guard: StopGuard::new(StopGuardConfig::for_venue(false)),
            guard_keys: FastMap::default(),
            protections: FastMap::default(),
            exits: FastMap::default(),
            close_reasons: FastMap::default(),
            persisted_audit: 0,
            pending_close: Vec::new(),
            collect_updates: false,
            updates: Vec::new(),
            venue,
            journal,
            sequences: FastMap::default(),
            id_namespace: String::new(),
            actions: Vec::new(),
            events: Vec::new(),
            now: Timestamp::default(),
            halted: None,
            stats: EngineStats::default(),
        }
    }

    /// The books.
    #[must_use]
    pub fn oms(&self) -> &Oms {
        &self.oms
    }

    /// Mutable books (deposits, restores) for set-up code.
    pub fn oms_mut(&mut self) -> &mut Oms {
        &mut self.oms
    }

    /// The risk engine (limits, trading state, rejection counts).
    #[must_use]
    pub fn risk(&self) -> &RiskEngine {
        &self.risk
    }

    /// Cash, equity and exposure over every account (the shared one and the sub-ledgers)
    /// in `ccy`.
    #[must_use]
    pub fn totals(&self, ccy: &crate::model::Currency) -> crate::risk::AccountView {
        crate::risk::RiskView::totals(&self.oms, ccy)
    }

    /// Equity and gross exposure over every account in `ccy` (the [`Engine::totals`] fields
    /// of those names): what risk read at its last evaluation when the books have not
    /// changed since, else summed afresh.
    #[must_use]
    pub fn equity_totals(&self, ccy: &crate::model::Currency) -> crate::risk::EquityView {
        if ccy == self.risk.currency() {
            if let Some(t) = self.risk.totals_at(self.oms.books_version()) {
                return t;
            }
        }
        crate::risk::RiskView::equity_totals(&self.oms, ccy)
    }

    /// Mutable risk engine, for run-time limit and trading-state changes (audited).
    pub fn risk_mut(&mut self) -> &mut RiskEngine {
        &mut self.risk
    }

    /// The books, the risk engine (mutable, for previews) and the clock, borrowed apart.
    pub(crate) fn split_for_view(&mut self) -> (&Oms, &mut RiskEngine, Timestamp) {
        (&self.oms, &mut self.risk, self.now)
    }

    /// Sets the protective-stop guarantee (on by default for live venues, off for the
    /// simulated one).
    pub fn set_stop_guard(&mut self, config: StopGuardConfig) {
        self.guard = StopGuard::new(config);
    }

    /// The position monitors.
    #[must_use]
    pub fn monitors(&self) -> &MonitorSet {
        &self.monitors
    }

    /// Whether alerts were raised since the last [`Engine::take_alerts`] (most events raise
    /// none).
    #[must_use]
    pub fn has_alerts(&self) -> bool {
        !self.alerts.is_empty()
    }

    /// Takes the alerts raised since the last call.
    pub fn take_alerts(&mut self) -> Vec<EngineAlert> {
        std::mem::take(&mut self.alerts)
    }

    /// Every limit and trading-state change so far, oldest first.
    #[must_use]
    pub fn risk_audit(&self) -> &[RiskAudit] {
        &self.risk_audit
    }

    /// The venue.
    #[must_use]
    pub fn venue(&self) -> &V {
        &self.venue
    }

    /// The journal.
    #[must_use]
    pub fn journal(&self) -> &J {
        &self.journal
    }

    /// The journal, taking the engine apart (after a run, to read what it stored).
    pub fn into_journal(self) -> J {
        self.journal
    }

    /// Counters.
    #[must_use]
    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// The engine's clock: the time of the last market event (or the set time).
    #[must_use]
    pub fn now(&self) -> Timestamp {
        self.now
    }

    /// Sets the clock (live mode uses the wall clock; backtests follow market events).
    pub fn set_now(&mut self, ts: Timestamp) {
        self.now = ts;
    }

    /// Why trading is halted, if it is.
    #[must_use]
    pub fn halted(&self) -> Option<&str> {
        self.halted.as_deref()
    }

    /// Sets a strategy's intent counter (restored from the store after a restart so that the
    /// same intent re-derives the same client order id).
    pub fn set_sequence(&mut self, strategy: &StrategyId, last_used: u64) {
        self.sequences.insert(strategy.clone(), (ClientOrderId::prefix_in(&self.id_namespace, strategy), last_used));
    }

    /// Puts the client order ids this engine derives in a namespace (a backtest run id), so
    /// several runs can share one database. Call before the first order.
    pub fn set_id_namespace(&mut self, namespace: &str) {
        self.id_namespace = namespace.to_owned();
    }

    /// Takes an order request from a strategy, the API or a signal: derives its client order
    /// id from the strategy's next intent number and passes it through risk. Approved, it is
    /// created `pending` and reaches the venue at the next [`Engine::flush`] (called by every
    /// market event), after its row is committed; refused, it is stored as `rejected` with
    /// the reason.
    ///
    /// # Errors
    /// [`EngineError::Halted`] after a store failure, or the OMS's refusal (an invalid
    /// request).
    pub fn submit(&mut self, req: &OrderRequest) -> Result<SubmitOutcome, EngineError> {
        self.submit_as(req, CheckKind::Normal)
    }

    /// As [`Engine::submit`] for a protective exit or the kill switch's flattening: risk
    /// checks only what such an order must meet (see [`CheckKind`]).
    ///
    /// # Errors
    /// As [`Engine::submit`].
    pub fn submit_as(&mut self, req: &OrderRequest, kind: CheckKind) -> Result<SubmitOutcome, EngineError> {
        self.check_running()?;
        let (prefix, seq) = match self.sequences.get_mut(&req.strategy_id) {
            Some(entry) => entry,
            None => self
                .sequences
                .entry(req.strategy_id.clone())
                .or_insert_with(|| (ClientOrderId::prefix_in(&self.id_namespace, &req.strategy_id), 0)),
        };
        *seq += 1;
        let cid = ClientOrderId::derive_from_prefix(prefix, *seq);
        match self.risk.check(req, kind, &self.oms, self.now) {
            Ok(approved) => {
                let cid = self.oms.create(cid, approved.request(), self.now)?;
                self.actions.push(Action::Submit(cid.clone()));
                Ok(SubmitOutcome::Accepted(cid))
            }
            Err(rejection) => {
                let reason = rejection.reason;
                tracing::info!(cid = %cid, strategy = %req.strategy_id, reason = %reason, "Engine risk rejected order");
                self.oms.create_rejected(cid.clone(), req, reason.as_str(), self.now)?;
                Ok(SubmitOutcome::Rejected { cid, reason })
            }
        }
    }

    /// Asks to cancel an order (sent at the next flush).
    ///
    /// # Errors
    /// [`EngineError::Halted`], or the OMS's refusal (unknown or terminal order).
    pub fn cancel(&mut self, cid: &ClientOrderId, reason: &str) -> Result<(), EngineError> {
        self.check_running()?;
        Ok(self.oms.request_cancel(cid, reason, self.now, &mut self.actions)?)
    }

    /// Asks to modify an order (sent at the next flush).
    ///
    /// # Errors
    /// [`EngineError::Halted`], or the OMS's refusal.
    pub fn modify(&mut self, cid: &ClientOrderId, change: Modification) -> Result<(), EngineError> {
        self.check_running()?;
        Ok(self.oms.request_modify(cid, change, self.now, &mut self.actions)?)
    }

    /// Processes one price event: flushes queued requests, marks positions, lets the venue
    /// match, applies what it reports, and flushes again.
    ///
    /// # Errors
    /// [`EngineError::Store`] when a commit fails (trading halts).
    pub fn on_market(&mut self, event: &MarketEvent) -> Result<(), EngineError> {
        self.now = self.now.max(event.ts());
        self.send()?;
        self.run_monitors(event);
        self.send()?;
        self.oms.mark(event.symbol(), event.mark_price(), event.ts());
        self.venue.on_market(event, &mut self.events);
        if !self.events.is_empty() {
            // Most events report nothing: the buffer moves out only when there is something.
            let mut events = std::mem::take(&mut self.events);
            self.apply_venue_events(&mut events);
            self.events = events;
        }
        self.evaluate_risk();
        self.settle_protection();
        self.flush()
    }

    /// Lets risk see the marked books: drawdown and loss limits, alerts, breach halts.
    fn evaluate_risk(&mut self) {
        let alerts = self.risk.evaluate(&self.oms, self.now);
        if !alerts.is_empty() {
            for alert in &alerts {
                tracing::warn!(alert = ?alert, "Engine risk alert");
            }
            self.alerts.extend(alerts.into_iter().map(EngineAlert::Risk));
        }
        self.collect_risk_audit();
    }

    fn collect_risk_audit(&mut self) {
        if !self.risk.has_changes() {
            return;
        }
        self.risk_audit.extend(self.risk.take_limit_changes().into_iter().map(RiskAudit::Limit));
        self.risk_audit.extend(self.risk.take_state_changes().into_iter().map(RiskAudit::State));
    }

    /// Applies events a live venue reported asynchronously.
    ///
    /// # Errors
    /// [`EngineError::Store`] when the following commit fails.
    pub fn on_venue_events(&mut self, events: Vec<VenueEvent>) -> Result<(), EngineError> {
        let mut events = events;
        self.apply_events(&mut events);
        self.flush()
    }

    /// Commits the journal, then sends queued requests to the venue, applying what it
    /// answers, until nothing is left. Every order row is durable before the venue sees it.
    ///
    /// # Errors
    /// [`EngineError::Store`] when a commit fails; trading halts and the queued requests
    /// are dropped (their orders stay `pending` in the store, never sent).
    pub fn flush(&mut self) -> Result<(), EngineError> {
        self.send()?;
        // Nothing outside waits on what follows the last round sent: the journal may commit
        // it behind the engine (the next barrier, `sync_journal` or a query waits for it).
        self.commit(Commit::Deferred)
    }

    /// Waits until everything the engine handed to its journal is durable (a journal with a
    /// background writer commits the end-of-event batch behind the engine).
    ///
    /// # Errors
    /// [`EngineError::Store`] when a deferred commit failed; trading halts.
    pub fn sync_journal(&mut self) -> Result<(), EngineError> {
        let result = self.journal.sync();
        self.halt_on(result)
    }

    fn halt_on(&mut self, result: Result<(), StoreError>) -> Result<(), EngineError> {
        result.map_err(|e| {
            tracing::error!(error = %e, "Engine store commit failed; halting trading");
            self.halted = Some(e.to_string());
            self.actions.clear();
            EngineError::Store(e)
        })
    }

    /// Sends queued requests, committing the journal right before each round that reaches
    /// the venue (so every order row is durable before the venue sees it). What the venue
    /// answers is applied but committed later, with the rest of the event: at most two
    /// commits per market event (new orders, then everything that followed).
    #[inline(always)]
    fn send(&mut self) -> Result<(), EngineError> {
        if self.actions.is_empty() {
            return Ok(()); // most events send nothing
        }
        self.send_actions()
    }

    #[inline(never)] // keeps the empty-case check above small enough to inline
    fn send_actions(&mut self) -> Result<(), EngineError> {
        let mut events = std::mem::take(&mut self.events);
        loop {
            if self.actions.is_empty() {
                break;
            }
            // The barrier: this batch and everything before it are durable before the venue
            // sees any of these actions.
            self.commit(Commit::Barrier)?;
            let mut actions = std::mem::take(&mut self.actions);
            for action in actions.drain(..) {
                self.dispatch(&action, &mut events);
            }
            // Bracket releases and OCO cancels caused by these events queue new actions;
            // they go out after the next commit.
            self.apply_events(&mut events);
            if self.actions.is_empty() {
                self.actions = actions; // keep the allocation
            }
        }
        self.events = events;
        Ok(())
    }

    #[inline]
    fn commit(&mut self, kind: Commit) -> Result<(), EngineError> {
        if matches!(kind, Commit::Deferred) && !self.oms.journaling() {
            return Ok(()); // nothing is journaled (an in-memory run): no batch, nothing to wait for
        }
        self.commit_batch(kind)
    }

    #[inline(never)] // keeps the empty-case check above small enough to inline
    fn commit_batch(&mut self, kind: Commit) -> Result<(), EngineError> {
        // Protection changes (monitors, risk audit) commit even when the books did not change.
        let protection = self.oms.journaling() && {
            self.collect_risk_audit();
            self.persisted_audit < self.risk_audit.len() || self.monitors.has_changes()
        };
        let batch = (self.oms.has_journal() || protection)
            .then(|| {
                let mut batch = self.oms.take_journal();
                self.journal_protection(&mut batch);
                batch
            })
            .filter(|batch| !batch.is_empty());
        let result = match (kind, batch) {
            // Nothing new (the per-bar path of an in-memory backtest builds no batch at all):
            // a barrier still waits for what was deferred before it.
            (Commit::Barrier, None) => return self.sync_journal(),
            (Commit::Deferred, None) => return Ok(()),
            (Commit::Barrier, Some(batch)) => self.journal.commit(batch),
            (Commit::Deferred, Some(batch)) => self.journal.commit_deferred(batch),
        };
        self.halt_on(result)?;
        self.stats.commits += 1;
        Ok(())
    }

    fn dispatch(&mut self, action: &Action, events: &mut Vec<VenueEvent>) {
        match action {
            Action::Submit(cid) => {
                if let Err(e) = self.oms.mark_submitted(cid, self.now) {
                    tracing::warn!(cid = %cid, error = %e, "Engine skipped submission");
                    return;
                }
                if let Some(order) = self.oms.order(cid) {
                    self.venue.submit(order, self.now, events);
                    self.stats.submitted += 1;
                }
            }
            Action::Cancel { cid, .. } => self.venue.cancel(cid, self.now, events),
            Action::Modify { cid, change } => self.venue.modify(cid, change, self.now, events),
        }
    }

    #[inline]
    fn apply_events(&mut self, events: &mut Vec<VenueEvent>) {
        if !events.is_empty() {
            self.apply_venue_events(events);
        }
    }

    #[inline(never)] // keeps the empty-case check above small enough to inline
    fn apply_venue_events(&mut self, events: &mut Vec<VenueEvent>) {
        for ev in events.drain(..) {
            // Risk's day-trade rule needs the position a fill started from.
            let fill = match &ev {
                VenueEvent::Filled(f) => self.oms.order(&f.cid).and_then(|o| {
                    let position = self.oms.portfolio(&o.account).and_then(|p| p.position(&f.symbol));
                    let before = position.map_or(Decimal::ZERO, |p| p.qty());
                    let before_id = position.map(|p| p.id);
                    let class = self.oms.instruments().get(&f.symbol).ok()?.asset_class;
                    Some((o.account.clone(), f.clone(), class, before, before_id))
                }),
                _ => None,
            };
            let is_fill = matches!(ev, VenueEvent::Filled(_));
            let cid = if self.collect_updates { Some(ev.cid().clone()) } else { None };
            match self.oms.apply(ev, &mut self.actions) {
                Ok(()) => {
                    self.stats.fills += u64::from(is_fill);
                    if let Some(o) = cid.and_then(|c| self.oms.order(&c)) {
                        if let (true, Some((_, f, ..))) = (is_fill, &fill) {
                            self.updates.push(StrategyUpdate::Fill(o.strategy_id.clone(), f.clone()));
                        }
                        self.updates.push(StrategyUpdate::Order(Box::new(o.clone())));
                    }
                    if let Some((account, f, class, before, before_id)) = fill {
                        self.risk.on_fill(&account, &f, class, before);
                        self.after_fill(&f.cid, &account, &f.symbol, before_id);
                    }
                }
                Err(e) => {
                    self.stats.refused_events += 1;
                    tracing::warn!(error = %e, "Engine refused a venue event");
                }
            }
        }
    }

    fn check_running(&self) -> Result<(), EngineError> {
        match &self.halted {
            Some(why) => Err(EngineError::Halted(why.clone())),
            None => Ok(()),
        }
    }
}

/// How a commit relates to the venue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Before a round of requests reaches the venue: durable, with everything before it,
    /// when the call returns.
    Barrier,
    /// The end of an event: may commit behind the engine, in order (see [`Journal`]).
    Deferred,
}

#[cfg(test)]
mod tests;
