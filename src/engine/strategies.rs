//! Strategies on the engine: the Lua host's intents go through risk and the OMS like every
//! other order, and each strategy hears about its own fills and order updates.

use super::{Engine, EngineError, Journal, SubmitOutcome};
use crate::data::MarketEvent;
use crate::model::{
    AccountId, ClientOrderId, Currency, Fill, Instrument, Order, OrderRequest, OrderStatus, StrategyId, Symbol,
    Timestamp,
};
use crate::oms::Oms;
use crate::risk::RiskEngine;
use crate::store::StrategyState;
use crate::strategy::{
    CheckRefusal, Command, Halt, HostEvent, Intent, OnStopOrders, OpenOrder, Signal, StrategyHost, StrategyView,
};
use crate::venue::Venue;
use rust_decimal::Decimal;
use std::cell::RefCell;
use std::time::Instant;

/// A change a strategy should hear about.
#[derive(Debug, Clone, PartialEq)]
pub enum StrategyUpdate {
    /// One of its orders filled (partly).
    Fill(StrategyId, Fill),
    /// One of its orders changed status (boxed: an order is large beside a fill).
    Order(Box<Order>),
}

/// The books as strategies read them: each strategy its own sub-ledger when it has a capital
/// allocation, else the shared account; money in one currency. Risk previews run
/// through a `RefCell` because `ctx:check` is a read for the strategy but the risk engine
/// prunes its rate window as it looks.
struct View<'a> {
    oms: &'a Oms,
    risk: RefCell<&'a mut RiskEngine>,
    account: &'a AccountId,
    currency: &'a Currency,
    now: Timestamp,
}

impl View<'_> {
    /// The strategy's books: its sub-ledger when it has a capital allocation, else the shared
    /// account.
    fn book(&self, strategy: &StrategyId) -> Option<&crate::oms::Portfolio> {
        let sub = self.risk.borrow().allocation(strategy).map(|a| a.account.clone());
        self.oms.portfolio(sub.as_ref().unwrap_or(self.account))
    }
}

impl StrategyView for View<'_> {
    fn position(&self, strategy: &StrategyId, symbol: &Symbol) -> (Decimal, Decimal) {
        self.book(strategy)
            .and_then(|p| p.position(symbol))
            .map_or((Decimal::ZERO, Decimal::ZERO), |p| (p.qty(), p.avg_px()))
    }

    fn cash(&self, strategy: &StrategyId) -> Decimal {
        self.book(strategy).map_or(Decimal::ZERO, |p| p.buying_power(self.currency))
    }

    fn equity(&self, strategy: &StrategyId) -> Decimal {
        self.book(strategy).map_or(Decimal::ZERO, |p| p.equity(self.currency))
    }

    fn open_orders(&self, strategy: &StrategyId) -> Vec<OpenOrder> {
        self.oms.open_orders().filter(|o| o.strategy_id == *strategy).map(OpenOrder::from).collect()
    }

    fn instrument(&self, symbol: &Symbol) -> Option<Instrument> {
        self.oms.instruments().get(symbol).ok().cloned()
    }

    fn now(&self) -> Timestamp {
        self.now
    }

    fn check(&self, request: &OrderRequest) -> Result<(), CheckRefusal> {
        // Previewed for the account the order would go to (its strategy's sub-ledger).
        let sub = self.risk.borrow().allocation(&request.strategy_id).map(|a| a.account.clone());
        let mut owned;
        let request = match sub {
            Some(account) if account != request.account => {
                owned = request.clone();
                owned.account = account;
                &owned
            }
            _ => request,
        };
        self.risk
            .borrow_mut()
            .preview(request, self.oms, self.now)
            .map_err(|r| (r.code().as_str().to_owned(), r.to_string()))
    }
}

/// The engine driven by Lua strategies.
#[derive(Debug)]
pub struct StrategyRunner<V: Venue, J: Journal> {
    engine: Engine<V, J>,
    host: StrategyHost,
    account: AccountId,
    currency: Currency,
    /// Intents the engine refused (invalid requests); rejections by risk are not counted here.
    pub refused_intents: u64,
    /// When every strategy's state was last saved (for `HostConfig::state_save_every`).
    last_state_save: Instant,
}

impl<V: Venue, J: Journal> StrategyRunner<V, J> {
    /// Drives `engine` with the strategies loaded in `host`; strategies trade `account` and
    /// see money in `currency`.
    pub fn new(mut engine: Engine<V, J>, mut host: StrategyHost, account: AccountId, currency: Currency) -> Self {
        // Fills and order updates are gathered only while some strategy has a callback for
        // them (most have neither); re-read whenever strategies load or reload.
        engine.collect_updates = host.wants_updates();
        // New files are started here, after their saved state is restored.
        host.defer_new_starts();
        Self { engine, host, account, currency, refused_intents: 0, last_state_save: Instant::now() }
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine<V, J> {
        &self.engine
    }

    /// The engine, taking the runner apart (after a run).
    pub fn into_engine(self) -> Engine<V, J> {
        self.engine
    }

    /// Mutable engine (kill switch, limits).
    pub fn engine_mut(&mut self) -> &mut Engine<V, J> {
        &mut self.engine
    }

    /// The strategy host.
    #[must_use]
    pub fn host(&self) -> &StrategyHost {
        &self.host
    }

    /// Host events (errors, pauses, reloads, logs) since the last call.
    pub fn take_host_events(&mut self) -> Vec<HostEvent> {
        self.host.take_events()
    }

    fn with_view<T>(&mut self, f: impl FnOnce(&mut StrategyHost, &View<'_>) -> T) -> T {
        let (oms, risk, now) = self.engine.split_for_view();
        let view = View { oms, risk: RefCell::new(risk), account: &self.account, currency: &self.currency, now };
        f(&mut self.host, &view)
    }

    /// Funds the strategies' capital allocations from the shared account (once: see
    /// [`Engine::fund_allocations`]), restores every strategy's saved `ctx.state` from the
    /// journal's store (a restart), then calls every strategy's `on_start` and acts on what
    /// they ask. A saved state that cannot be restored is a [`HostEvent::Error`]; the strategy
    /// starts with an empty state.
    ///
    /// # Errors
    /// [`EngineError::Allocation`] when the allocations cannot be funded;
    /// [`EngineError::Store`] when reading saved states or a commit fails.
    pub fn start(&mut self) -> Result<(), EngineError> {
        self.engine.fund_allocations(&self.account)?;
        for id in self.host.ids() {
            self.restore(&id)?;
        }
        let intents = self.with_view(|host, view| host.start(view));
        self.act(intents)?;
        self.engine.flush()
    }

    /// One price event: the engine (monitors, venue, books) first, then the strategies'
    /// `on_fill`/`on_order` for what changed, then `on_bar`/`on_tick`, then hot reloads.
    ///
    /// # Errors
    /// [`EngineError::Store`] when a commit fails.
    pub fn on_market(&mut self, event: &MarketEvent) -> Result<(), EngineError> {
        self.engine.on_market(event)?;
        self.deliver_updates()?;
        let intents = self.with_view(|host, view| match event {
            MarketEvent::Bar(s, b) => host.on_bar(view, s, b),
            MarketEvent::Trade(s, t) => host.on_tick(view, s, t),
            MarketEvent::Quote(s, q) => host.on_quote(view, s, q),
        });
        self.act(intents)?;
        if self.host.may_reload() {
            let reloaded = self.with_view(|host, view| host.poll_reload(view));
            self.act(reloaded)?;
        }
        if self.host.has_unstarted() {
            self.start_new()?;
        }
        self.engine.collect_updates = self.host.wants_updates();
        if let Some(every) = self.host.config().state_save_every {
            if self.last_state_save.elapsed() >= every {
                let states = self.with_view(|host, view| host.snapshot_states(view));
                self.save_states(&states)?;
                self.last_state_save = Instant::now();
            }
        }
        self.engine.flush()?;
        self.deliver_updates()
    }

    /// Delivers an external signal (LLM suggestion) to the strategies.
    ///
    /// # Errors
    /// [`EngineError::Store`] when a commit fails.
    pub fn on_signal(&mut self, signal: &Signal) -> Result<(), EngineError> {
        let intents = self.with_view(|host, view| host.on_signal(view, signal));
        self.act(intents)?;
        self.engine.flush()?;
        self.deliver_updates()?;
        // A clean stop leaves everything durable (the journal may commit behind the engine).
        self.engine.sync_journal()
    }

    /// Restores a strategy's saved `ctx.state`, if the journal's store has one.
    fn restore(&mut self, id: &StrategyId) -> Result<(), EngineError> {
        if let Some(saved) = self.engine.journal().load_strategy_state(id).map_err(EngineError::Store)? {
            tracing::info!(strategy = %id, generation = saved.generation, script_hash = %saved.script_hash, "Strategy state restored");
            self.host.restore_saved(&saved);
        }
        Ok(())
    }

    /// Starts strategies from files that appeared while running: saved state first, then
    /// `on_start`.
    fn start_new(&mut self) -> Result<(), EngineError> {
        for id in self.host.take_unstarted() {
            self.restore(&id)?;
            let intents = self.with_view(|host, view| host.start_one(view, &id));
            self.act(intents)?;
        }
        Ok(())
    }

    /// Stops every strategy cleanly (end of a run, shutdown): `on_stop` runs and what it asks
    /// is acted on, and each `ctx.state` is saved for the next start. Open orders are left
    /// for the next run: a shutdown is not a strategy being removed.
    ///
    /// # Errors
    /// [`EngineError::Store`] when a commit or a state save fails.
    pub fn shutdown(&mut self) -> Result<(), EngineError> {
        let intents = self.with_view(|host, view| {
            let mut out = Vec::new();
            for id in host.ids() {
                out.extend(host.stop(view, &id));
            }
            out
        });
        self.host.take_halts();
        self.act(intents)?;
        self.engine.flush()?;
        self.deliver_updates()
    }

    /// Acts on what the host queued besides intents: halted strategies' open orders
    /// (cancelled or left, per `HostConfig::on_stop_orders`) and states to save.
    fn settle(&mut self) -> Result<(), EngineError> {
        for halt in self.host.take_halts() {
            self.on_halt(&halt)?;
        }
        let saves = self.host.take_state_saves();
        self.save_states(&saves)
    }

    fn save_states(&mut self, states: &[StrategyState]) -> Result<(), EngineError> {
        for s in states {
            self.engine.journal().save_strategy_state(s).map_err(EngineError::Store)?;
        }
        Ok(())
    }

    /// Cancels (or leaves) the open orders of a strategy that stopped receiving callbacks.
    fn on_halt(&mut self, halt: &Halt) -> Result<(), EngineError> {
        let mine: Vec<ClientOrderId> =
            self.engine.oms().open_orders().filter(|o| o.strategy_id == halt.strategy).map(|o| o.cid.clone()).collect();
        if self.host.config().on_stop_orders == OnStopOrders::Leave {
            tracing::info!(strategy = %halt.strategy, reason = %halt.reason, open_orders = mine.len(), "Strategy halted; its open orders are left working (on_stop_orders = leave)");
            return Ok(());
        }
        let reason = format!("strategy '{}' {}; on_stop_orders = cancel", halt.strategy, halt.reason);
        for cid in mine {
            // Cancelling an entry cancels its bracket children: look again before each.
            let live = self
                .engine
                .oms()
                .order(&cid)
                .is_some_and(|o| !o.status().is_terminal() && o.status() != OrderStatus::Cancelling);
            if !live {
                continue;
            }
            match self.engine.cancel(&cid, &reason) {
                Ok(()) => {}
                Err(e @ EngineError::Store(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(cid = %cid, strategy = %halt.strategy, error = %e, "Could not cancel a halted strategy's order")
                }
            }
        }
        Ok(())
    }

    /// Hands fills and order updates to their strategies until nothing new comes back.
    #[inline]
    fn deliver_updates(&mut self) -> Result<(), EngineError> {
        if self.engine.updates.is_empty() {
            return Ok(()); // most events change nothing a strategy listens to
        }
        self.deliver_pending_updates()
    }

    #[inline(never)] // keeps the empty-case check above small enough to inline
    fn deliver_pending_updates(&mut self) -> Result<(), EngineError> {
        for _ in 0..8 {
            let updates = std::mem::take(&mut self.engine.updates);
            if updates.is_empty() {
                return Ok(());
            }
            let intents = self.with_view(|host, view| {
                let mut out = Vec::new();
                for u in &updates {
                    match u {
                        StrategyUpdate::Fill(s, f) => out.extend(host.on_fill(view, s, f)),
                        StrategyUpdate::Order(o) => out.extend(host.on_order(view, o)),
                    }
                }
                out
            });
            self.act(intents)?;
            self.engine.flush()?;
        }
        Ok(())
    }

    /// Turns strategy commands into engine requests. A refused request is logged and
    /// counted; it never stops the others.
    #[inline]
    fn act(&mut self, intents: Vec<Intent>) -> Result<(), EngineError> {
        if intents.is_empty() && !self.host.has_settlements() {
            return Ok(()); // most callbacks ask for nothing
        }
        self.act_on(intents)
    }

    #[inline(never)] // keeps the empty-case check above small enough to inline
    fn act_on(&mut self, intents: Vec<Intent>) -> Result<(), EngineError> {
        for Intent { strategy, command } in intents {
            let result = match command {
                Command::Submit { mut request } => {
                    request.account = self.engine.account_of(&strategy, &self.account);
                    request.strategy_id = strategy.clone();
                    self.engine.submit(&request).map(|out| {
                        if let SubmitOutcome::Rejected { reason, .. } = out {
                            let callback = request.provenance.as_ref().map(|p| p.callback.as_str());
                            tracing::info!(strategy = %strategy, callback, reason = %reason, "Strategy order rejected by risk");
                        }
                    })
                }
                Command::Cancel(cid) => self.engine.cancel(&cid, "strategy"),
                Command::Modify(cid, change) => self.engine.modify(&cid, change),
                Command::Close(symbol) => self.close(&strategy, &symbol),
            };
            match result {
                Ok(()) => {}
                Err(e @ EngineError::Store(_)) => return Err(e),
                Err(e) => {
                    self.refused_intents += 1;
                    tracing::warn!(strategy = %strategy, error = %e, "Engine refused a strategy request");
                }
            }
        }
        self.settle()
    }

    fn close(&mut self, strategy: &StrategyId, symbol: &Symbol) -> Result<(), EngineError> {
        let account = self.engine.account_of(strategy, &self.account);
        let qty = self.engine.oms().portfolio(&account).map_or(Decimal::ZERO, |p| p.qty(symbol));
        if qty.is_zero() {
            return Ok(());
        }
        let side = if qty > Decimal::ZERO { crate::model::Side::Sell } else { crate::model::Side::Buy };
        let mut req = OrderRequest::market(account, strategy.clone(), symbol.clone(), side, qty.abs());
        req.reduce_only = true;
        self.engine.submit(&req).map(|_| ())
    }
}
