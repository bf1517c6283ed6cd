//! Pre-trade risk: every order from every source (strategies, API, signals, monitors, the
//! kill switch) passes [`RiskEngine::check`] before the OMS creates it.
//!
//! Owns limits (three levels, tightest wins: [`limits`]), trading state ([`state`]), the
//! per-strategy order-rate windows, pattern-day-trader tracking ([`pdt`]), start-of-day and
//! peak equity ([`alerts`]), rejection counters and the audit trail of limit and state
//! changes. Reads the books only through [`RiskView`]; never mutates orders or positions,
//! never does I/O. A refusal is a [`Rejection`] value, not an error; only this module can
//! build an [`Approved`].
//!
//! Which checks run depends on the [`CheckKind`]:
//! - `KillSwitchFlatten`: instrument, increments, and that the order reduces; passes even
//!   when halted.
//! - `ReduceExit` (monitor exits): the above plus trading state (allowed when reducing-only),
//!   account, market hours, reference price and minimum notional. Size, rate, open-order,
//!   exposure, loss and PDT limits are skipped so that a protective exit is never stuck.
//! - `Normal`: everything. Exposure checks (position notional, gross exposure) pass an order
//!   that does not grow the position; loss checks pass one that neither grows the position
//!   nor lowers equity.

pub mod alerts;
mod band;
pub mod checks;
pub mod limits;
pub mod pdt;
pub mod reason;
pub mod state;
pub mod view;

pub use alerts::{Alert, EquityTracker};
pub use limits::{
    Allocation, BreachAction, DayBoundary, LimitChange, LimitError, LimitField, Limits, PdtConfig, Resolved,
    RiskConfig, Scope, StrategyRisk,
};
pub use reason::{RejectCode, RejectReason};
pub use state::{StateChange, TradingState, TradingStates};
pub use view::{AccountView, EquityView, PositionView, RiskView};

use crate::collections::FastMap;
use crate::model::{AccountId, AssetClass, Currency, Fill, OrderRequest, StrategyId, Symbol, Timestamp};
use band::{Band, DdLevel, LimitLevels};
use pdt::PdtTracker;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, VecDeque};

/// The order-rate window.
const MINUTE_NANOS: i64 = 60 * crate::model::time::NANOS_PER_SEC;

/// Who is asking, which decides the checks that apply (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CheckKind {
    /// A strategy, API, or signal order.
    Normal,
    /// A monitor's exit (stop, take-profit, trailing, time exit): must reduce the position.
    ReduceExit,
    /// The kill switch flattening a position: must reduce; passes a halt.
    KillSwitchFlatten,
}

/// An order risk accepted. Only [`RiskEngine::check`] builds one.
#[derive(Debug, Clone, Copy)]
pub struct Approved<'r> {
    req: &'r OrderRequest,
    kind: CheckKind,
}

impl<'r> Approved<'r> {
    /// The accepted request.
    #[must_use]
    pub fn request(&self) -> &'r OrderRequest {
        self.req
    }

    /// The kind it was checked as.
    #[must_use]
    pub fn kind(&self) -> CheckKind {
        self.kind
    }
}

/// An order risk refused, with the reason (store the order as rejected with
/// `reason.to_string()`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Why.
    pub reason: RejectReason,
}

/// The risk engine. See the module docs.
#[derive(Debug)]
pub struct RiskEngine {
    config: RiskConfig,
    strategies: FastMap<StrategyId, StrategyRisk>,
    symbols: FastMap<Symbol, Limits>,
    states: TradingStates,
    rate: FastMap<StrategyId, VecDeque<Timestamp>>,
    pdt: PdtTracker,
    global_equity: EquityTracker,
    account_equity: FastMap<AccountId, EquityTracker>,
    rejections: Vec<u64>,
    limit_changes: Vec<LimitChange>,
    state_changes: Vec<StateChange>,
    /// Bumped by every change to limits, trading states or equity trackers made outside
    /// [`RiskEngine::evaluate`]; part of the [`EvalMemo`] key.
    generation: u64,
    /// What the last [`RiskEngine::evaluate`] saw, when re-running it on the same inputs
    /// would change nothing.
    memo: Option<EvalMemo>,
    /// The quiet bands the last full evaluation found, when every scope has one.
    quiet: Option<Quiet>,
    /// The global equity and gross exposure the last evaluation read, with the books version
    /// they are of.
    seen_totals: Option<(u64, EquityView)>,
}

/// The scopes' quiet bands after a full evaluation without breach: until the trading day
/// ends or anything outside evaluation changes risk (`generation`), a mark that leaves
/// every scope's figures inside its band raises nothing and changes nothing but peaks.
#[derive(Debug, Clone)]
struct Quiet {
    generation: u64,
    day_end: Timestamp,
    global: Band,
    /// Sub-ledger accounts of strategies with an allocation.
    accounts: Vec<(AccountId, Band)>,
}

/// The inputs of an evaluation that raised no breach: evaluating the same books version,
/// with the same limits and trackers and before the trading day ends, can raise no alert and
/// change no state (every alert fires only on a rising edge, and the edges were recorded).
#[derive(Debug, Clone)]
struct EvalMemo {
    books: u64,
    generation: u64,
    /// The earliest end of day among the evaluated trackers.
    day_end: Timestamp,
    /// The global tracker as the evaluation left it.
    global: EquityTracker,
}

impl RiskEngine {
    /// Builds the engine from validated configuration.
    ///
    /// # Errors
    /// The first invalid limit ([`RiskConfig::validate`]).
    pub fn new(mut config: RiskConfig) -> Result<Self, LimitError> {
        config.validate()?;
        let strategies = std::mem::take(&mut config.strategies).into_iter().collect();
        let symbols = std::mem::take(&mut config.symbols).into_iter().collect();
        Ok(Self {
            config,
            strategies,
            symbols,
            states: TradingStates::default(),
            rate: FastMap::default(),
            pdt: PdtTracker::default(),
            global_equity: EquityTracker::default(),
            account_equity: FastMap::default(),
            rejections: vec![0; RejectCode::ALL.len()],
            limit_changes: Vec::new(),
            state_changes: Vec::new(),
            generation: 0,
            memo: None,
            quiet: None,
            seen_totals: None,
        })
    }

    /// The configuration as it stands now (with every run-time change applied).
    #[must_use]
    pub fn config(&self) -> RiskConfig {
        RiskConfig {
            strategies: self.strategies.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
            symbols: self.symbols.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<BTreeMap<_, _>>(),
            ..self.config.clone()
        }
    }

    /// The global equity and gross exposure (every account, in the risk currency) as the last
    /// evaluation read them, if that was at books version `version`: a caller reading the same
    /// books again (the backtest's equity curve) takes them from here.
    #[must_use]
    pub fn totals_at(&self, version: u64) -> Option<EquityView> {
        self.seen_totals.filter(|(v, _)| *v == version).map(|(_, t)| t)
    }

    /// The currency risk measures money in.
    #[must_use]
    pub fn currency(&self) -> &Currency {
        &self.config.currency
    }

    /// A strategy's capital allocation, if it has one.
    #[must_use]
    pub fn allocation(&self, strategy: &StrategyId) -> Option<&Allocation> {
        self.strategies.get(strategy).and_then(|s| s.allocation.as_ref())
    }

    /// Checks one order. On acceptance the order counts toward its strategy's order rate.
    ///
    /// # Errors
    /// A [`Rejection`] naming the first check that failed; it is counted by code.
    pub fn check<'r, V: RiskView>(
        &mut self,
        req: &'r OrderRequest,
        kind: CheckKind,
        view: &V,
        now: Timestamp,
    ) -> Result<Approved<'r>, Rejection> {
        match self.run_checks(req, kind, view, now) {
            Ok(()) => Ok(Approved { req, kind }),
            Err(reason) => {
                self.rejections[reason.code().index()] += 1;
                Err(Rejection { reason })
            }
        }
    }

    /// What [`RiskEngine::check`] would say, without counting the order toward its
    /// strategy's rate or the rejection toward the counts (for `ctx:check` in strategies).
    ///
    /// # Errors
    /// The reason the order would be refused.
    pub fn preview<V: RiskView>(&mut self, req: &OrderRequest, view: &V, now: Timestamp) -> Result<(), RejectReason> {
        self.run_checks_inner(req, CheckKind::Normal, view, now, false)
    }

    fn run_checks<V: RiskView>(
        &mut self,
        req: &OrderRequest,
        kind: CheckKind,
        view: &V,
        now: Timestamp,
    ) -> Result<(), RejectReason> {
        self.run_checks_inner(req, kind, view, now, true)
    }

    fn run_checks_inner<V: RiskView>(
        &mut self,
        req: &OrderRequest,
        kind: CheckKind,
        view: &V,
        now: Timestamp,
        record: bool,
    ) -> Result<(), RejectReason> {
        let inst = view
            .instrument(&req.symbol)
            .ok_or_else(|| RejectReason::new(RejectCode::UnknownInstrument).with("symbol", &req.symbol))?;
        checks::tradable(inst)?;
        checks::increments(req, inst)?;
        let pos = view.position(&req.account, &req.symbol);
        checks::reduce_only(req, kind, pos.qty)?;
        let (state, scope) = self.states.effective(&req.strategy_id, &req.symbol);
        checks::trading_state(state, &scope, kind, req.reduce_only)?;
        if kind == CheckKind::KillSwitchFlatten {
            return Ok(());
        }
        let strategy = self.strategies.get(&req.strategy_id);
        checks::account(req, strategy.and_then(|s| s.allocation.as_ref()))?;
        checks::market_hours(self.config.market_hours, inst, now)?;
        let last = view.last_price(&req.symbol);
        let ref_px = checks::reference_price(req, last)?;
        let notional = req.qty * ref_px;
        checks::min_notional(inst, notional)?;
        if kind == CheckKind::ReduceExit {
            return Ok(());
        }

        let ccy = &inst.quote;
        let symbol_limits = self.symbols.get(&req.symbol);
        let global = &self.config.global;
        let strategy_limits = strategy.map(|s| &s.limits);
        let limits = Resolved::tightest(&[Some(global), strategy_limits, symbol_limits]);
        checks::llm_confidence(req, limits.get(LimitField::MinLlmConfidence))?;
        checks::price_collar(req, last, limits.get(LimitField::PriceCollarPct))?;
        checks::max_order_qty(req, inst, limits.get(checks::qty_field(inst)))?;
        checks::max_order_notional(notional, limits.get(LimitField::MaxOrderNotional), ccy)?;

        let window = self.rate.entry(req.strategy_id.clone()).or_default();
        while window.front().is_some_and(|t| t.0 <= now.0 - MINUTE_NANOS) {
            window.pop_front();
        }
        checks::orders_per_minute(window.len(), limits.get(LimitField::MaxOrdersPerMinute), req)?;

        let open = LimitField::MaxOpenOrders;
        checks::open_orders(&Scope::Global, view.open_orders(), global.get(open))?;
        if let Some(max) = strategy_limits.and_then(|l| l.get(open)) {
            let scope = Scope::Strategy(req.strategy_id.clone());
            checks::open_orders(&scope, view.open_orders_of_strategy(&req.strategy_id), Some(max))?;
        }
        if let Some(max) = symbol_limits.and_then(|l| l.get(open)) {
            let scope = Scope::Symbol(req.symbol.clone());
            checks::open_orders(&scope, view.open_orders_in_symbol(&req.symbol), Some(max))?;
        }

        let grows = (pos.qty + req.side.sign() * req.qty).abs() > pos.qty.abs();
        let risk_px = last.map_or(ref_px, |l| l.max(ref_px));
        let account = view.account(&req.account, ccy);
        let totals = view.totals(ccy);
        let alloc_account = strategy.and_then(|s| s.allocation.as_ref()).map(|a| &a.account);
        if grows {
            let pn = LimitField::MaxPositionNotional;
            checks::position_notional("account", &pos, req, risk_px, limits.get(pn), ccy)?;
            let total_pos = view.total_position(&req.symbol);
            let total_limit = pn.tighter(global.get(pn), symbol_limits.and_then(|l| l.get(pn)));
            checks::position_notional("all_accounts", &total_pos, req, risk_px, total_limit, ccy)?;
            let ge = LimitField::MaxGrossExposure;
            checks::gross_exposure(&Scope::Global, &totals, &total_pos, req, risk_px, global.get(ge), ccy)?;
            if let (Some(max), Some(_)) = (strategy_limits.and_then(|l| l.get(ge)), alloc_account) {
                let scope = Scope::Strategy(req.strategy_id.clone());
                checks::gross_exposure(&scope, &account, &pos, req, risk_px, Some(max), ccy)?;
            }
        }
        let needed = checks::cash_needed(req, &pos, ref_px);
        if needed > Decimal::ZERO {
            checks::buying_power("account", &account, needed, ccy)?;
            checks::buying_power("all_accounts", &totals, needed, ccy)?;
        }

        // Loss limits: global against the shared totals in the risk currency, a strategy's
        // against its sub-ledger.
        let (dl, dd) = (LimitField::DailyLossLimit, LimitField::MaxDrawdownPct);
        let boundary = self.config.day_boundary;
        let global_equity =
            if *ccy == self.config.currency { totals.equity } else { view.totals(&self.config.currency).equity };
        observe(&mut self.global_equity, &mut self.generation, global_equity, now, boundary);
        let would_be = checks::equity_after(global_equity, req, ref_px, last);
        let rc = &self.config.currency;
        checks::loss_limits(
            &Scope::Global,
            &self.global_equity,
            global_equity,
            would_be,
            grows,
            global.get(dl),
            global.get(dd),
            rc,
        )?;
        if let (Some(limits), Some(acct)) = (strategy_limits, alloc_account) {
            if limits.get(dl).is_some() || limits.get(dd).is_some() {
                let tracker = self.account_equity.entry(acct.clone()).or_default();
                observe(tracker, &mut self.generation, account.equity, now, boundary);
                let wb = checks::equity_after(account.equity, req, ref_px, last);
                let scope = Scope::Strategy(req.strategy_id.clone());
                checks::loss_limits(&scope, tracker, account.equity, wb, grows, limits.get(dl), limits.get(dd), ccy)?;
            }
        }

        let pdt = &self.config.pdt;
        if pdt.enabled
            && inst.asset_class == AssetClass::Stock
            && checks::reduces(pos.qty, req.side, req.qty)
            && self.pdt.would_day_trade(&req.account, &req.symbol, now)
        {
            let trades = self.pdt.count(&req.account, now, pdt.window_days);
            checks::pattern_day_trader(account.equity, pdt.min_equity, trades, pdt.max_day_trades, ccy)?;
        }

        if record {
            if let Some(window) = self.rate.get_mut(&req.strategy_id) {
                window.push_back(now);
            }
        }
        Ok(())
    }

    /// Re-evaluates the portfolio after price updates and fills: tracks start-of-day and peak
    /// equity, raises alerts (drawdown thresholds, limits near breach, breaches), and on a
    /// daily-loss or drawdown breach switches the breached scope to halted or reducing-only
    /// ([`RiskConfig::on_breach`]). Runs over the global totals and every strategy with a
    /// capital allocation.
    pub fn evaluate<V: RiskView>(&mut self, view: &V, now: Timestamp) -> Vec<Alert> {
        let books = view.version();
        if let (Some(memo), Some(books)) = (&self.memo, books) {
            if memo.books == books
                && memo.generation == self.generation
                && now < memo.day_end
                && memo.global == self.global_equity
            {
                return Vec::new();
            }
        }
        if self.quiet_holds(view, now) {
            if let (Some(memo), Some(books)) = (&mut self.memo, books) {
                if memo.generation == self.generation {
                    memo.books = books;
                    memo.global = self.global_equity.clone();
                }
            }
            return Vec::new();
        }
        self.memo = None;
        let out = self.evaluate_all(view, now);
        let breached = out.iter().any(|a| matches!(a, Alert::Breached { .. } | Alert::TradingState(_)));
        if let (Some(books), false) = (books, breached) {
            let day_end = self.earliest_day_end();
            self.memo =
                Some(EvalMemo { books, generation: self.generation, day_end, global: self.global_equity.clone() });
        }
        out
    }

    /// The earliest end of day among the evaluated trackers (global and sub-ledgers).
    fn earliest_day_end(&self) -> Timestamp {
        self.strategies
            .values()
            .filter_map(|s| s.allocation.as_ref())
            .filter_map(|a| self.account_equity.get(&a.account).map(EquityTracker::day_end))
            .fold(self.global_equity.day_end(), Timestamp::min)
    }

    /// A full evaluation with no shortcut (the reference the shortcuts are tested against).
    #[cfg(test)]
    fn evaluate_reference<V: RiskView>(&mut self, view: &V, now: Timestamp) -> Vec<Alert> {
        self.memo = None;
        self.quiet = None;
        self.evaluate_all(view, now)
    }

    /// Whether every scope's figures stay inside the bands of the last full evaluation
    /// (recording new peaks as evaluation would): then evaluation would change nothing.
    fn quiet_holds<V: RiskView>(&mut self, view: &V, now: Timestamp) -> bool {
        let Some(q) = &mut self.quiet else { return false };
        if q.generation != self.generation || now >= q.day_end {
            return false;
        }
        let ccy = &self.config.currency;
        let totals = view.equity_totals(ccy);
        self.seen_totals = view.version().map(|v| (v, totals));
        if !q.global.admit(totals, &mut self.global_equity) {
            return false;
        }
        q.accounts.iter_mut().all(|(account, band)| {
            self.account_equity
                .get_mut(account)
                .is_some_and(|tracker| band.admit(view.account(account, ccy).into(), tracker))
        })
    }

    fn evaluate_all<V: RiskView>(&mut self, view: &V, now: Timestamp) -> Vec<Alert> {
        let mut out = Vec::new();
        let ccy = self.config.currency.clone();
        let totals = view.totals(&ccy);
        self.seen_totals = view.version().map(|v| (v, totals.into()));
        let ctx = EvalCtx { config: &self.config, ccy: &ccy, now };
        let global = self.config.global.clone();
        let global_band = ctx.scope(
            Scope::Global,
            &global,
            &mut self.global_equity,
            &totals,
            &mut self.states,
            &mut self.state_changes,
            &mut out,
        );
        let mut accounts = Some(Vec::new());
        for (sid, s) in &self.strategies {
            let Some(alloc) = &s.allocation else { continue };
            let figures = view.account(&alloc.account, &ccy);
            let tracker = self.account_equity.entry(alloc.account.clone()).or_default();
            let scope = Scope::Strategy(sid.clone());
            let band =
                ctx.scope(scope, &s.limits, tracker, &figures, &mut self.states, &mut self.state_changes, &mut out);
            accounts = accounts.zip(band).map(|(mut v, b)| {
                v.push((alloc.account.clone(), b));
                v
            });
        }
        let day_end = self.earliest_day_end();
        self.quiet = global_band.zip(accounts).map(|(global, accounts)| Quiet {
            generation: self.generation,
            day_end,
            global,
            accounts,
        });
        out
    }

    /// Records a fill for the pattern-day-trader rule (stocks only). `position_before` is the
    /// account's signed quantity in the symbol before the fill.
    pub fn on_fill(&mut self, account: &AccountId, fill: &Fill, asset_class: AssetClass, position_before: Decimal) {
        // Tracked only while the rule is on: switching it on later starts from an empty
        // history (stated in the config docs).
        if asset_class == AssetClass::Stock && self.config.pdt.enabled {
            self.pdt.on_fill(account, &fill.symbol, &fill.cid, fill.side, position_before, fill.ts);
        }
    }

    /// The limit set at one scope (not the resolved one).
    #[must_use]
    pub fn limit(&self, scope: &Scope, field: LimitField) -> Option<Decimal> {
        match scope {
            Scope::Global => self.config.global.get(field),
            Scope::Strategy(s) => self.strategies.get(s).and_then(|s| s.limits.get(field)),
            Scope::Symbol(s) => self.symbols.get(s).and_then(|l| l.get(field)),
        }
    }

    /// Changes one limit at one scope (`None` removes it) and records the change.
    ///
    /// # Errors
    /// [`LimitError::Invalid`] for a value out of the field's range; nothing changes.
    pub fn set_limit(
        &mut self,
        scope: Scope,
        field: LimitField,
        value: Option<Decimal>,
        who: &str,
        ts: Timestamp,
    ) -> Result<LimitChange, LimitError> {
        if let Some(v) = value {
            field.validate(v)?;
        }
        let limits = match &scope {
            Scope::Global => &mut self.config.global,
            Scope::Strategy(s) => &mut self.strategies.entry(s.clone()).or_default().limits,
            Scope::Symbol(s) => self.symbols.entry(s.clone()).or_default(),
        };
        let old = limits.set(field, value);
        self.generation += 1;
        let change = LimitChange { scope, field, old, new: value, ts, who: who.to_owned(), why: None };
        self.limit_changes.push(change.clone());
        Ok(change)
    }

    /// As [`RiskEngine::set_limit`], recording why the limit changed in the audit trail.
    ///
    /// # Errors
    /// As [`RiskEngine::set_limit`].
    pub fn set_limit_because(
        &mut self,
        scope: Scope,
        field: LimitField,
        value: Option<Decimal>,
        who: &str,
        why: &str,
        ts: Timestamp,
    ) -> Result<LimitChange, LimitError> {
        let mut change = self.set_limit(scope, field, value, who, ts)?;
        change.why = Some(why.to_owned());
        if let Some(last) = self.limit_changes.last_mut() {
            last.why = change.why.clone();
        }
        Ok(change)
    }

    /// The trading state set at one scope.
    #[must_use]
    pub fn trading_state(&self, scope: &Scope) -> TradingState {
        self.states.get(scope)
    }

    /// Sets the trading state at one scope and records the change; `None` when unchanged.
    pub fn set_trading_state(
        &mut self,
        scope: Scope,
        state: TradingState,
        reason: &str,
        who: &str,
        ts: Timestamp,
    ) -> Option<StateChange> {
        self.generation += 1;
        let change = self.states.set(scope, state, reason, who, ts)?;
        self.state_changes.push(change.clone());
        Some(change)
    }

    /// Rejections so far by code, for codes with at least one, in code order.
    #[must_use]
    pub fn rejection_counts(&self) -> Vec<(RejectCode, u64)> {
        RejectCode::ALL.iter().map(|&c| (c, self.rejections[c.index()])).filter(|&(_, n)| n > 0).collect()
    }

    /// Rejections so far with one code.
    #[must_use]
    pub fn rejection_count(&self, code: RejectCode) -> u64 {
        self.rejections[code.index()]
    }

    /// Whether limit or trading-state changes wait to be taken.
    #[must_use]
    pub fn has_changes(&self) -> bool {
        !(self.limit_changes.is_empty() && self.state_changes.is_empty())
    }

    /// Limit changes not yet taken (for the engine to persist), oldest first.
    pub fn take_limit_changes(&mut self) -> Vec<LimitChange> {
        std::mem::take(&mut self.limit_changes)
    }

    /// Trading-state changes not yet taken (for the engine to persist), oldest first.
    pub fn take_state_changes(&mut self) -> Vec<StateChange> {
        std::mem::take(&mut self.state_changes)
    }
}

/// Observes `equity` into a tracker outside evaluation (a pre-trade check), bumping
/// `generation` when that changed the tracker (a new day, a new peak, a first observation):
/// evaluation's memo and quiet bands were computed from the tracker as it was.
fn observe(tracker: &mut EquityTracker, generation: &mut u64, equity: Decimal, now: Timestamp, boundary: DayBoundary) {
    let before = tracker.clone();
    tracker.observe(equity, now, boundary);
    if *tracker != before {
        *generation += 1;
    }
}

/// What evaluating one scope needs besides its own state.
struct EvalCtx<'a> {
    config: &'a RiskConfig,
    ccy: &'a Currency,
    now: Timestamp,
}

impl EvalCtx<'_> {
    /// Whether the drawdown at `equity` is so far below every level it is compared with
    /// (alert thresholds, the drawdown limit and its near-breach share) that no comparison
    /// can hold, rounding included: then the division computing it can be skipped. Checked
    /// with multiplications only, levels in hundredths of a percent:
    /// `(peak − equity) × 20 000 < smallest level × 100 × peak`.
    fn drawdown_below_every_level(&self, tracker: &EquityTracker, equity: Decimal, limits: &Limits) -> bool {
        let c = self.config;
        let peak = tracker.peak();
        if peak <= Decimal::ZERO || equity >= peak {
            return false; // the drawdown is zero anyway, and cheap
        }
        let mut smallest: Option<Decimal> = None;
        let thresholds = c.drawdown_alert_pcts.iter().take(32).map(|t| t.checked_mul(Decimal::ONE_HUNDRED));
        let limit = limits
            .get(LimitField::MaxDrawdownPct)
            .map(|max_dd| [max_dd.checked_mul(Decimal::ONE_HUNDRED), max_dd.checked_mul(c.near_breach_pct)]);
        for level in thresholds.chain(limit.into_iter().flatten()) {
            let Some(level) = level else { return false };
            smallest = Some(smallest.map_or(level, |s| s.min(level)));
        }
        // Rounding to 4 places moves the drawdown by at most 0.00005 % (0.005 hundredths):
        // half of a level above 0.01 hundredths stays out of reach.
        let Some(level) = smallest.filter(|l| *l > Decimal::new(1, 2)) else { return false };
        match ((peak - equity).checked_mul(Decimal::new(20_000, 0)), level.checked_mul(peak)) {
            (Some(lhs), Some(rhs)) => lhs < rhs,
            _ => false,
        }
    }

    #[allow(clippy::too_many_arguments, reason = "disjoint borrows of the engine's fields")]
    fn scope(
        &self,
        scope: Scope,
        limits: &Limits,
        tracker: &mut EquityTracker,
        figures: &AccountView,
        states: &mut TradingStates,
        log: &mut Vec<StateChange>,
        out: &mut Vec<Alert>,
    ) -> Option<Band> {
        let c = self.config;
        tracker.observe(figures.equity, self.now, c.day_boundary);
        let dd = if self.drawdown_below_every_level(tracker, figures.equity, limits) {
            // Every drawdown condition is false at the true drawdown as at zero.
            Decimal::ZERO
        } else {
            tracker.drawdown_pct(figures.equity)
        };
        tracker.drawdown_alerts(&scope, dd.round_dp(4), &c.drawdown_alert_pcts, out);
        let loss = tracker.daily_loss(figures.equity);
        let mut breached = None;
        let watched = [
            (LimitField::DailyLossLimit, loss, true),
            (LimitField::MaxDrawdownPct, dd.round_dp(4), true),
            (LimitField::MaxGrossExposure, figures.gross_exposure, false),
        ];
        for (field, value, halts) in watched {
            if let Some(limit) = limits.get(field) {
                if tracker.limit_alerts(&scope, field, value, limit, c.near_breach_pct, out) && halts {
                    breached = breached.or(Some(field));
                }
            }
        }
        if let Some(field) = breached {
            let state = match c.on_breach {
                BreachAction::Halt => TradingState::Halted,
                BreachAction::ReduceOnly => TradingState::ReducingOnly,
            };
            let reason = format!("{} breached ({})", field.as_str(), self.ccy);
            if let Some(change) = states.set(scope, state, &reason, "risk", self.now) {
                log.push(change.clone());
                out.push(Alert::TradingState(change));
            }
            return None;
        }
        self.band(tracker, dd.round_dp(4), loss, figures.gross_exposure, limits)
    }

    /// The quiet band around this evaluation (see [`band`]), from the same conditions it
    /// just checked.
    fn band(
        &self,
        tracker: &EquityTracker,
        dd: Decimal,
        loss: Decimal,
        gross: Decimal,
        limits: &Limits,
    ) -> Option<Band> {
        let c = self.config;
        let mut levels: Vec<DdLevel> =
            c.drawdown_alert_pcts.iter().take(32).map(|&pct| DdLevel { pct, holds: dd >= pct }).collect();
        let with = |field: LimitField, value: Decimal| {
            limits.get(field).map(|limit| {
                let (near, breached) = alerts::limit_conditions(value, limit, c.near_breach_pct);
                LimitLevels { limit, near_pct: c.near_breach_pct, near, breached }
            })
        };
        if let Some(l) = with(LimitField::MaxDrawdownPct, dd) {
            levels.push(DdLevel { pct: l.limit, holds: l.breached });
            levels.push(DdLevel { pct: l.near_pct * l.limit / Decimal::ONE_HUNDRED, holds: l.near });
        }
        Band::new(tracker, &levels, with(LimitField::DailyLossLimit, loss), with(LimitField::MaxGrossExposure, gross))
    }
}

#[cfg(test)]
mod tests;
