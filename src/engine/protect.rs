//! Protection around positions: monitors' exits, the protective-stop guarantee and the kill
//! switch. The rules live in `monitor` and `risk`; this file only routes their decisions
//! through risk and the OMS like any other order.

use super::{Engine, EngineError, Journal, SubmitOutcome};
use crate::data::MarketEvent;
use crate::model::BracketRole;
use crate::model::{
    AccountId, ClientOrderId, OrderRequest, OrderStatus, OrderType, PositionId, Side, StrategyId, Symbol, Timestamp,
};
use crate::monitor::{ExitIntent, ExitReason, MonitorRecord, MonitorSet, MonitorSnapshot, MonitorSpec, PositionKey};
use crate::risk::{Alert, CheckKind, Scope, TradingState};
use crate::store::{CloseReasonRecord, RiskAuditRecord, Snapshot, StoredMonitor, WriteBatch};
use crate::venue::Venue;
use rust_decimal::Decimal;

/// The strategy id exits and flattening orders are filed under when no strategy owns them.
pub const PROTECT_STRATEGY: &str = "protect";

/// Something the engine wants a human to know about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAlert {
    /// A portfolio alert from risk (drawdown, near breach, trading state).
    Risk(Alert),
    /// A position had no working stop by its deadline and was flattened.
    Unprotected {
        /// The position.
        position_id: PositionId,
        /// Its account and symbol.
        account: AccountId,
        /// Its symbol.
        symbol: Symbol,
        /// When it opened.
        since: Timestamp,
    },
    /// A protective exit was refused by risk or the OMS; the monitor will try again.
    ExitRefused {
        /// The position.
        position_id: PositionId,
        /// Why the exit was wanted.
        reason: ExitReason,
        /// Why it was refused.
        refusal: String,
    },
    /// The kill switch ran.
    Killed {
        /// Who pulled it.
        who: String,
        /// Orders it asked to cancel.
        cancelled: usize,
        /// Flattening orders it sent.
        flattening: usize,
    },
}

/// What one pull of the kill switch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KillReport {
    /// Whether trading was already halted (a repeated pull).
    pub already_halted: bool,
    /// Open orders it asked to cancel.
    pub cancelled: usize,
    /// Reduce-only market orders it sent to flatten positions.
    pub flattening: usize,
}

impl<V: Venue, J: Journal> Engine<V, J> {
    /// Submits an entry whose position, once it fills, is protected by `spec` (stop-loss,
    /// take-profit, trailing stop, break-even, max holding time).
    ///
    /// # Errors
    /// As [`Engine::submit`]; a spec that does not fit the entry is refused when the entry
    /// fills (an [`EngineAlert::ExitRefused`]-style alert is not raised: the error is logged
    /// and the position stays unmonitored), so validate specs up front with
    /// [`MonitorSpec::validate`].
    pub fn submit_protected(&mut self, req: &OrderRequest, spec: MonitorSpec) -> Result<SubmitOutcome, EngineError> {
        let out = self.submit(req)?;
        if let SubmitOutcome::Accepted(cid) = &out {
            self.protections.insert(cid.clone(), spec);
        }
        Ok(out)
    }

    /// Sets or replaces the monitors of an open position.
    ///
    /// # Errors
    /// [`EngineError::Monitor`] when the position has none yet and the spec does not fit, or
    /// the position is not open.
    pub fn protect(&mut self, account: &AccountId, symbol: &Symbol, spec: MonitorSpec) -> Result<(), EngineError> {
        let p = self
            .oms
            .portfolio(account)
            .and_then(|p| p.position(symbol))
            .ok_or_else(|| EngineError::Monitor(format!("no open position in {symbol} for account {account}")))?;
        let pid = p.id;
        if self.monitors.get(pid).is_some() {
            return self.monitors.set_spec(pid, spec).map_err(|e| EngineError::Monitor(e.to_string()));
        }
        let (side, qty, avg, fees, opened) =
            (p.side().unwrap_or(Side::Buy), p.qty().abs(), p.avg_px(), p.fees(), p.opened_at());
        let key = PositionKey { account: account.clone(), symbol: symbol.clone() };
        self.monitors.arm(key, pid, side, qty, avg, fees, opened, spec).map_err(|e| EngineError::Monitor(e.to_string()))
    }

    /// Why a position closed: the monitor exit or kill switch that closed it, the bracket
    /// child (stop-loss or take-profit) whose fill closed it, else `manual`.
    #[must_use]
    pub fn close_reason(&self, position_id: PositionId) -> Option<ExitReason> {
        self.close_reasons.get(&position_id).copied()
    }

    /// Pulls the kill switch: halts trading (audited), cancels every open order, and with
    /// `flatten` closes every position with reduce-only market orders. Idempotent: a second
    /// pull neither cancels its own flattening orders nor sends more.
    ///
    /// # Errors
    /// [`EngineError::Store`] when the following commit fails.
    pub fn kill(&mut self, flatten: bool, who: &str) -> Result<KillReport, EngineError> {
        let already_halted = self.risk.trading_state(&Scope::Global) == TradingState::Halted;
        self.risk.set_trading_state(Scope::Global, TradingState::Halted, "kill switch", who, self.now);
        let to_cancel: Vec<ClientOrderId> = self
            .oms
            .open_orders()
            .filter(|o| o.status() != OrderStatus::Cancelling && !self.is_kill_exit(&o.cid))
            .map(|o| o.cid.clone())
            .collect();
        for cid in &to_cancel {
            if let Err(e) = self.oms.request_cancel(cid, "kill_switch", self.now, &mut self.actions) {
                tracing::warn!(cid = %cid, error = %e, "Engine kill switch could not cancel");
            }
        }
        let mut flattening = 0;
        if flatten {
            let positions: Vec<(AccountId, Symbol, PositionId, Decimal, Decimal)> = self
                .oms
                .portfolios()
                .flat_map(|p| p.positions().map(|x| (x.account.clone(), x.symbol.clone(), x.id, x.qty(), x.mark())))
                .collect();
            for (account, symbol, pid, qty, mark) in positions {
                if self.exits.values().any(|(p, r)| *p == pid && *r == ExitReason::KillSwitch) {
                    continue;
                }
                let intent = ExitIntent {
                    account,
                    symbol,
                    position_id: pid,
                    side: if qty > Decimal::ZERO { Side::Sell } else { Side::Buy },
                    qty: qty.abs(),
                    reason: ExitReason::KillSwitch,
                    trigger_price: mark,
                    at_open: false,
                    ts: self.now,
                };
                if self.send_exit(&intent, CheckKind::KillSwitchFlatten) {
                    flattening += 1;
                }
            }
        }
        self.alerts.push(EngineAlert::Killed { who: who.to_owned(), cancelled: to_cancel.len(), flattening });
        self.collect_risk_audit();
        self.flush()?;
        Ok(KillReport { already_halted, cancelled: to_cancel.len(), flattening })
    }

    /// Why the fill of `cid` closed a position.
    fn closing_reason(&self, cid: &ClientOrderId) -> ExitReason {
        if let Some((_, reason)) = self.exits.get(cid) {
            return *reason;
        }
        match self.oms.order(cid).and_then(|o| o.role) {
            Some(BracketRole::StopLoss) => ExitReason::StopLoss,
            Some(BracketRole::TakeProfit) => ExitReason::TakeProfit,
            _ => ExitReason::Manual,
        }
    }

    /// Adds what protection changed since the last commit to the batch: monitors armed,
    /// moved or disarmed, risk audit entries and close reasons. Called right before every
    /// commit, so each lands in the same transaction as the fill or price event that caused it.
    pub(super) fn journal_protection(&mut self, batch: &mut WriteBatch) {
        let changes = self.monitors.take_changes();
        for record in changes.upserted {
            let pid = record.position_id;
            let (stop, target) = (self.monitors.stop_level(pid), self.monitors.target_level(pid));
            batch.monitors.insert(pid, StoredMonitor { record, stop, target });
        }
        batch.monitors_removed.extend(changes.removed);
        self.collect_risk_audit();
        for entry in &self.risk_audit[self.persisted_audit..] {
            batch.risk_audit.push(match entry {
                super::RiskAudit::Limit(c) => RiskAuditRecord::from(c),
                super::RiskAudit::State(c) => RiskAuditRecord::from(c),
            });
        }
        self.persisted_audit = self.risk_audit.len();
        batch.close_reasons.append(&mut self.pending_close);
    }

    /// Rebuilds the books and the monitors after a restart, from the store's snapshot and
    /// monitors ([`crate::store::Store::load_snapshot`], [`crate::store::Store::monitors`]).
    ///
    /// A monitor whose exit was working re-adopts the open reduce-only exit order for its
    /// position; with none open, it is idle again and fires on the next price that reaches a
    /// level. Every open position waits for a working stop under the stop guard from the
    /// engine's clock (set it to the restart time with [`Engine::set_now`] first) or its last
    /// change, whichever is later.
    ///
    /// # Errors
    /// [`EngineError::Monitor`] when a stored monitor is malformed (a duplicate position, a
    /// quantity or entry price ≤ 0) or names a position that is not open.
    pub fn restore(&mut self, snapshot: Snapshot, monitors: Vec<StoredMonitor>) -> Result<(), EngineError> {
        self.oms.restore(snapshot);
        let records: Vec<MonitorRecord> = monitors.into_iter().map(|m| m.record).collect();
        for r in &records {
            let open = self.oms.portfolio(&r.key.account).and_then(|p| p.position(&r.key.symbol));
            if open.is_none_or(|p| p.id != r.position_id) {
                return Err(EngineError::Monitor(format!(
                    "stored monitor for position {} ({} {}) has no open position to protect",
                    r.position_id, r.key.account, r.key.symbol
                )));
            }
        }
        let mut last_prices: Vec<(Symbol, Decimal)> = records
            .iter()
            .filter_map(|r| self.oms.last_price(&r.key.symbol).map(|p| (r.key.symbol.clone(), p)))
            .collect();
        last_prices.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        last_prices.dedup_by(|a, b| a.0 == b.0);
        let working: Vec<(PositionId, AccountId, Symbol, ExitReason)> = records
            .iter()
            .filter_map(|r| r.state.working.map(|w| (r.position_id, r.key.account.clone(), r.key.symbol.clone(), w)))
            .collect();
        self.monitors = MonitorSet::restore(MonitorSnapshot { monitors: records, last_prices })
            .map_err(|e| EngineError::Monitor(e.to_string()))?;
        for (pid, account, symbol, reason) in working {
            let exit = self
                .oms
                .open_orders()
                .find(|o| o.reduce_only && o.account == account && o.symbol == symbol)
                .map(|o| o.cid.clone());
            match exit {
                Some(cid) => {
                    self.exits.insert(cid, (pid, reason));
                }
                None => {
                    let _ = self.monitors.exit_finished(pid, false);
                }
            }
        }
        let open: Vec<(PositionId, AccountId, Symbol, Timestamp)> = self
            .oms
            .portfolios()
            .flat_map(|p| p.positions().map(|x| (x.id, x.account.clone(), x.symbol.clone(), x.ts_last())))
            .collect();
        for (pid, account, symbol, last) in open {
            self.guard.opened(pid, self.now.max(last));
            self.guard_keys.insert(pid, (account, symbol));
        }
        // Restoring is not a change: nothing to write back.
        let _ = self.monitors.take_changes();
        Ok(())
    }

    /// Applies the non-risk parts of a loaded configuration: the trading states it starts
    /// in (audited, `who` = `config`) and the stop guard (`live`: a real venue). The risk
    /// limits go to [`crate::risk::RiskEngine::new`].
    pub fn apply_config(&mut self, config: &crate::config::Config, live: bool) {
        for (scope, state) in config.trading_state.non_active() {
            self.risk.set_trading_state(scope, state, "configured at start", "config", self.now);
        }
        self.guard = crate::monitor::StopGuard::new(config.stop_guard.for_venue(live));
    }

    fn is_kill_exit(&self, cid: &ClientOrderId) -> bool {
        self.exits.get(cid).is_some_and(|(_, r)| *r == ExitReason::KillSwitch)
    }

    /// Monitors look at a price event before the venue does, so an exit they decide on can
    /// match in the same bar like a resting stop or target would.
    pub(super) fn run_monitors(&mut self, event: &MarketEvent) {
        if self.monitors.is_empty() {
            return;
        }
        let mut intents = match event {
            MarketEvent::Bar(s, b) => self.monitors.on_bar(s, b),
            MarketEvent::Trade(s, t) => self.monitors.on_price(s, t.price, t.ts),
            MarketEvent::Quote(s, q) => self.monitors.on_price(s, q.mid(), q.ts),
        };
        intents.extend(self.monitors.on_clock(event.ts()));
        for intent in intents {
            self.send_exit(&intent, CheckKind::ReduceExit);
        }
    }

    /// Turns an exit decision into one reduce-only order: a stop at the trigger for stop-like
    /// exits, a limit for a take-profit, a market order otherwise. Other reduce-only orders on
    /// the position are cancelled first (they go out before it) so two exits never overfill.
    /// Returns whether the order was accepted.
    fn send_exit(&mut self, intent: &ExitIntent, kind: CheckKind) -> bool {
        let competing: Vec<ClientOrderId> = self
            .oms
            .open_orders()
            .filter(|o| {
                o.reduce_only
                    && o.account == intent.account
                    && o.symbol == intent.symbol
                    && o.status() != OrderStatus::Cancelling
                    && !self.is_kill_exit(&o.cid)
            })
            .map(|o| o.cid.clone())
            .collect();
        for cid in &competing {
            if let Err(e) = self.oms.request_cancel(cid, intent.reason.as_str(), self.now, &mut self.actions) {
                tracing::warn!(cid = %cid, error = %e, "Engine could not cancel a competing exit");
            }
            if let Some((pid, _)) = self.exits.remove(cid) {
                let _ = self.monitors.exit_finished(pid, false);
            }
        }
        let strategy = StrategyId::try_new(PROTECT_STRATEGY).expect("literal");
        let mut req =
            OrderRequest::market(intent.account.clone(), strategy, intent.symbol.clone(), intent.side, intent.qty);
        req.reduce_only = true;
        // Percent levels fall between ticks: the order goes out at the nearest tick.
        let tick = self.oms.instruments().get(&intent.symbol).map(|i| i.tick_size).ok().filter(|t| !t.is_zero());
        let px = tick.map_or(intent.trigger_price, |t| (intent.trigger_price / t).round() * t);
        match intent.reason {
            ExitReason::StopLoss | ExitReason::TrailingStop | ExitReason::BreakEven if !intent.at_open => {
                req.order_type = OrderType::Stop;
                req.stop_price = Some(px);
            }
            ExitReason::TakeProfit if !intent.at_open => {
                req.order_type = OrderType::Limit;
                req.limit_price = Some(px);
            }
            _ => {}
        }
        let refused = |this: &mut Self, refusal: String| {
            tracing::warn!(position = %intent.position_id, reason = %intent.reason, refusal = %refusal, "Engine exit refused");
            let _ = this.monitors.exit_finished(intent.position_id, false);
            this.alerts.push(EngineAlert::ExitRefused {
                position_id: intent.position_id,
                reason: intent.reason,
                refusal,
            });
            false
        };
        match self.submit_as(&req, kind) {
            Ok(SubmitOutcome::Accepted(cid)) => {
                if intent.reason == ExitReason::KillSwitch {
                    self.oms.mark_liquidation(&cid);
                }
                self.exits.insert(cid, (intent.position_id, intent.reason));
                true
            }
            Ok(SubmitOutcome::Rejected { reason, .. }) => refused(self, reason.to_string()),
            Err(e) => refused(self, e.to_string()),
        }
    }

    /// After a fill: arms, updates or disarms the position's monitor, feeds the stop guard,
    /// and settles a finished exit.
    pub(super) fn after_fill(
        &mut self,
        cid: &ClientOrderId,
        account: &AccountId,
        symbol: &Symbol,
        before: Option<PositionId>,
    ) {
        let now_pos = self
            .oms
            .portfolio(account)
            .and_then(|p| p.position(symbol))
            .map(|p| (p.id, p.side().unwrap_or(Side::Buy), p.qty().abs(), p.avg_px(), p.fees(), p.opened_at()));
        // The position the fill started from ended (closed, or reversed into a new one).
        if let Some(old) = before.filter(|old| now_pos.map(|n| n.0) != Some(*old)) {
            self.monitors.disarm(old);
            self.guard.closed(old);
            self.guard_keys.remove(&old);
            let reason = self.closing_reason(cid);
            self.close_reasons.insert(old, reason);
            if self.oms.has_journal() {
                self.pending_close.push(CloseReasonRecord {
                    position_id: old,
                    reason,
                    exit_cid: Some(cid.clone()),
                    ts: self.now,
                });
            }
        }
        if let Some((pid, side, qty, avg, fees, opened)) = now_pos {
            if self.monitors.get(pid).is_some() {
                if let Err(e) = self.monitors.update_position(pid, qty, avg, fees) {
                    tracing::warn!(position = %pid, error = %e, "Engine could not update a monitor");
                }
            } else if let Some(spec) = self.protections.get(cid).cloned() {
                let key = PositionKey { account: account.clone(), symbol: symbol.clone() };
                if let Err(e) = self.monitors.arm(key, pid, side, qty, avg, fees, opened, spec) {
                    tracing::warn!(position = %pid, error = %e, "Engine could not arm a monitor");
                }
            }
            if before != Some(pid) {
                self.guard.opened(pid, opened);
                self.guard_keys.insert(pid, (account.clone(), symbol.clone()));
            }
        }
    }

    /// Settles exits whose orders ended, and feeds the stop guard what is working.
    pub(super) fn settle_protection(&mut self) {
        if !self.exits.is_empty() {
            let ended: Vec<(ClientOrderId, PositionId)> = self
                .exits
                .iter()
                .filter(|(cid, _)| self.oms.order(cid).is_none_or(|o| o.status().is_terminal()))
                .map(|(cid, (pid, _))| (cid.clone(), *pid))
                .collect();
            for (cid, pid) in ended {
                self.exits.remove(&cid);
                let still_open = self.guard_keys.contains_key(&pid) || self.monitors.get(pid).is_some();
                let _ = self.monitors.exit_finished(pid, !still_open);
            }
        }
        if self.guard.waiting() == 0 {
            return; // nothing waits for a stop, so nothing can be overdue either
        }
        for (pid, (account, symbol)) in &self.guard_keys {
            // Only a waiting position's stop matters (`stop_working` changes nothing else).
            if !self.guard.is_waiting(*pid) {
                continue;
            }
            let protected = self.oms.open_orders().any(|o| {
                o.reduce_only
                    && o.account == *account
                    && o.symbol == *symbol
                    && matches!(o.order_type, OrderType::Stop | OrderType::StopLimit | OrderType::TrailingStop)
                    && matches!(o.status(), OrderStatus::Open | OrderStatus::PartiallyFilled)
            });
            if protected {
                self.guard.stop_working(*pid);
            }
        }
        for u in self.guard.overdue(self.now) {
            let Some((account, symbol)) = self.guard_keys.get(&u.position_id).cloned() else { continue };
            let Some(p) = self.oms.portfolio(&account).and_then(|p| p.position(&symbol)) else { continue };
            let intent = ExitIntent {
                account: account.clone(),
                symbol: symbol.clone(),
                position_id: u.position_id,
                side: if p.qty() > Decimal::ZERO { Side::Sell } else { Side::Buy },
                qty: p.qty().abs(),
                reason: ExitReason::KillSwitch,
                trigger_price: p.mark(),
                at_open: false,
                ts: self.now,
            };
            tracing::error!(position = %u.position_id, symbol = %symbol, "Engine position has no working stop past its deadline; flattening");
            self.alerts.push(EngineAlert::Unprotected { position_id: u.position_id, account, symbol, since: u.since });
            self.send_exit(&intent, CheckKind::KillSwitchFlatten);
        }
    }
}
