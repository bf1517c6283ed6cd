//! The order management system: the book of record.
//!
//! Owns orders (applying every venue event through the status table), positions, cash and
//! P&L, bracket links, and open-order reservations. It records every change into a
//! [`WriteBatch`] journal for the store and returns [`Action`]s for the venue; it never talks
//! to a venue or a database itself.

pub mod bracket;
pub mod open;
pub mod portfolio;

pub use open::OpenCounts;
pub use portfolio::{Booked, Portfolio, PortfolioSummary};

use crate::collections::{index_with_hint, FastIndexMap, FastIndexSet, FastMap};
use crate::model::{
    AccountId, ClientOrderId, Currency, Fill, Instrument, Instruments, Modification, Order, OrderError, OrderEvent,
    OrderRequest, OrderStatus, Side, StatusChange, Symbol, Timestamp, UnknownInstrument,
};
use crate::store::{Snapshot, WriteBatch};
use crate::venue::VenueEvent;
use bracket::SiblingAction;
use rust_decimal::Decimal;
use std::collections::VecDeque;
use thiserror::Error;

/// Why the OMS refused a request or a venue event. Nothing changed when one is returned.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum OmsError {
    /// No order with this id is known (or it aged out of the recent-terminal cache).
    #[error("order {0} is not known to the OMS")]
    UnknownOrder(ClientOrderId),
    /// The client order id was used before.
    #[error("client order id {0} is already used by another order")]
    DuplicateClientOrderId(ClientOrderId),
    /// The instrument is not configured.
    #[error(transparent)]
    UnknownInstrument(#[from] UnknownInstrument),
    /// The order, modification or event broke an order rule.
    #[error("order {cid}: {source}")]
    Order {
        /// The order.
        cid: ClientOrderId,
        /// The rule it broke.
        #[source]
        source: OrderError,
    },
    /// A reduce-only order that would open or increase a position.
    #[error("reduce-only order {cid} would not reduce: {side} {qty} {symbol} against a position of {position}")]
    ReduceOnlyWouldIncrease {
        /// The order.
        cid: ClientOrderId,
        /// Its symbol.
        symbol: Symbol,
        /// Its side.
        side: Side,
        /// Its quantity.
        qty: Decimal,
        /// The signed position it was checked against.
        position: Decimal,
    },
}

impl OmsError {
    fn order(cid: &ClientOrderId, source: OrderError) -> Self {
        Self::Order { cid: cid.clone(), source }
    }
}

/// Something the engine must do at the venue for the OMS, after committing the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this (persisted, submitted-marked by the engine) order to the venue.
    Submit(ClientOrderId),
    /// Ask the venue to cancel.
    Cancel {
        /// The order.
        cid: ClientOrderId,
        /// Why (`user`, `oco`, `kill_switch`, …).
        reason: String,
    },
    /// Ask the venue to modify.
    Modify {
        /// The order.
        cid: ClientOrderId,
        /// The change.
        change: Modification,
    },
}

/// One fill as the books took it: the execution, its booking, and the LLM metadata of the
/// order it filled (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Booking {
    /// The execution.
    pub fill: Fill,
    /// The booking (entry, add, partial exit, exit, reversal) with its realised P&L.
    pub trade: crate::model::Trade,
    /// The order's LLM metadata.
    pub llm: Option<crate::model::LlmMeta>,
}

/// OMS settings.
#[derive(Debug, Clone)]
pub struct OmsConfig {
    /// Record changes for the store. Off for pure in-memory runs (nothing to persist).
    pub journal: bool,
    /// How many terminal orders stay in memory for late fills and lookups.
    pub terminal_cache: usize,
    /// Keep every booking (fill, trade, the order's LLM metadata) for [`Oms::take_bookings`]:
    /// what a backtest report is built from when nothing is journaled.
    pub bookings: bool,
}

impl Default for OmsConfig {
    /// Journaling on; 10,000 terminal orders kept for late fills from live venues.
    fn default() -> Self {
        Self { journal: true, terminal_cache: 10_000, bookings: false }
    }
}

impl OmsConfig {
    /// For in-memory backtests on the simulated venue: nothing to persist, and no late fills
    /// can arrive (the simulated venue never fills a finished order), so only a small window
    /// of finished orders stays in memory — enough for the engine to hand each one's final
    /// state and fills to its strategy after the event that finished it. Bookings are kept
    /// for the report.
    #[must_use]
    pub fn in_memory_backtest() -> Self {
        Self { journal: false, terminal_cache: 1024, bookings: true }
    }
}

/// The order management system. See the module docs.
#[derive(Debug)]
pub struct Oms {
    config: OmsConfig,
    instruments: Instruments,
    /// Working orders, oldest first. Boxed, like `terminal`: retiring an order moves a
    /// pointer, not the order.
    orders: FastIndexMap<ClientOrderId, Box<Order>>,
    terminal: FastMap<ClientOrderId, Box<Order>>,
    terminal_order: VecDeque<ClientOrderId>,
    accounts: FastIndexMap<AccountId, Portfolio>,
    reservations: FastMap<ClientOrderId, (AccountId, Currency, Decimal)>,
    /// The last price of each symbol; never shrinks, so an index stays valid.
    marks: FastIndexMap<Symbol, Decimal>,
    /// Where the last marked symbol sits in `marks` (one feed marks the same symbol again and
    /// again: an id comparison instead of hashing it).
    mark_hint: usize,
    next_position_id: u64,
    journal: WriteBatch,
    bookings: Vec<Booking>,
    dirty_orders: FastIndexSet<ClientOrderId>,
    /// Orders in memory whose row a journal batch already carries (later batches mark them
    /// [`WriteBatch::known_orders`]: the store updates only what can change).
    journaled: crate::collections::FastSet<ClientOrderId>,
    dirty_positions: FastIndexSet<(AccountId, Symbol)>,
    open: OpenCounts,
    liquidating: crate::collections::FastSet<ClientOrderId>,
    /// Bumped by every change that may move an account's figures (see [`Oms::books_version`]).
    books_version: u64,
}

/// Records `price` as the last price of `symbol` in `marks`, found through `hint` (the place
/// of the last symbol marked; `marks` never shrinks).
#[inline(always)] // a feed repeating its symbol finds it at the hint: one compare, one store
fn set_mark(marks: &mut FastIndexMap<Symbol, Decimal>, hint: &mut usize, symbol: &Symbol, price: Decimal) {
    if let Some((k, v)) = marks.get_index_mut(*hint) {
        if k == symbol {
            *v = price;
            return;
        }
    }
    set_mark_by_key(marks, hint, symbol, price);
}

/// [`set_mark`] when the hint does not hold `symbol`.
#[inline(never)]
fn set_mark_by_key(marks: &mut FastIndexMap<Symbol, Decimal>, hint: &mut usize, symbol: &Symbol, price: Decimal) {
    match index_with_hint(marks, hint, symbol) {
        Some(i) => marks[i] = price,
        None => {
            let (i, _) = marks.insert_full(symbol.clone(), price);
            *hint = i;
        }
    }
}

impl Oms {
    /// An empty OMS trading `instruments`.
    #[must_use]
    pub fn new(instruments: Instruments, config: OmsConfig) -> Self {
        Self {
            config,
            instruments,
            orders: FastIndexMap::default(),
            terminal: FastMap::default(),
            terminal_order: VecDeque::new(),
            accounts: FastIndexMap::default(),
            reservations: FastMap::default(),
            marks: FastIndexMap::default(),
            mark_hint: 0,
            next_position_id: 0,
            journal: WriteBatch::default(),
            bookings: Vec::new(),
            dirty_orders: FastIndexSet::default(),
            journaled: crate::collections::FastSet::default(),
            dirty_positions: FastIndexSet::default(),
            open: OpenCounts::default(),
            liquidating: crate::collections::FastSet::default(),
            books_version: 0,
        }
    }

    /// The configured instruments.
    #[must_use]
    pub fn instruments(&self) -> &Instruments {
        &self.instruments
    }

    /// Deposits (or withdraws, when negative) cash into an account, creating it if needed.
    pub fn deposit(&mut self, account: &AccountId, ccy: &Currency, amount: Decimal) {
        let balance = self.portfolio_entry(account).deposit(ccy, amount);
        if self.config.journal {
            self.journal.balances.insert((account.clone(), ccy.clone()), balance);
        }
    }

    fn portfolio_entry(&mut self, account: &AccountId) -> &mut Portfolio {
        self.books_version += 1;
        self.accounts.entry(account.clone()).or_insert_with(|| Portfolio::new(account.clone()))
    }

    /// A counter that changes whenever any account's cash, reservations, positions or their
    /// marks may have changed: equal values at two times mean every account figure
    /// (cash, buying power, equity, exposure) is the same. Lets risk skip re-evaluating an
    /// unchanged portfolio.
    #[must_use]
    pub fn books_version(&self) -> u64 {
        self.books_version
    }

    /// One account's books.
    #[must_use]
    pub fn portfolio(&self, account: &AccountId) -> Option<&Portfolio> {
        self.accounts.get(account)
    }

    /// Every account's books.
    pub fn portfolios(&self) -> impl Iterator<Item = &Portfolio> {
        self.accounts.values()
    }

    /// An order by id (working, or recently terminal).
    #[must_use]
    pub fn order(&self, cid: &ClientOrderId) -> Option<&Order> {
        self.orders.get(cid).or_else(|| self.terminal.get(cid)).map(|o| &**o)
    }

    /// Orders that are not terminal, oldest first.
    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values().map(|o| &**o)
    }

    /// Marks an order as a forced liquidation (the kill switch's flattening): a position it
    /// closes ends `liquidated` rather than `closed`.
    pub fn mark_liquidation(&mut self, cid: &ClientOrderId) {
        self.liquidating.insert(cid.clone());
    }

    /// Running counts of working orders (O(1) reads for pre-trade checks).
    #[must_use]
    pub fn open_counts(&self) -> &OpenCounts {
        &self.open
    }

    /// The last price seen for a symbol.
    #[must_use]
    pub fn last_price(&self, symbol: &Symbol) -> Option<Decimal> {
        self.marks.get(symbol).copied()
    }

    /// Whether an order with this id is working or recently terminal. Older ids are unique by
    /// construction (derived from per-strategy sequences restored at start) and by the
    /// store's primary key; keeping every id ever seen in memory would grow without bound.
    fn is_known(&self, cid: &ClientOrderId) -> bool {
        self.orders.contains_key(cid) || self.terminal.contains_key(cid)
    }

    fn instrument(&self, symbol: &Symbol) -> Result<&Instrument, OmsError> {
        Ok(self.instruments.get(symbol)?)
    }

    /// Creates an order (and, for a bracket, its pending children) in status `pending`.
    ///
    /// Returns the ids to submit now: the order itself (bracket children wait for fills).
    /// The caller must commit the journal before handing them to a venue.
    ///
    /// # Errors
    /// A used client order id, an unknown instrument, a request that fails validation, or a
    /// reduce-only order that would not reduce the position.
    pub fn create(&mut self, cid: ClientOrderId, req: &OrderRequest, ts: Timestamp) -> Result<ClientOrderId, OmsError> {
        if self.is_known(&cid) {
            return Err(OmsError::DuplicateClientOrderId(cid));
        }
        let instrument = self.instrument(&req.symbol)?;
        req.validate(instrument).map_err(|e| OmsError::order(&cid, e))?;
        if req.reduce_only {
            let position = self.accounts.get(&req.account).map_or(Decimal::ZERO, |p| p.qty(&req.symbol));
            let reduces = position * req.side.sign() < Decimal::ZERO && req.qty <= position.abs();
            if !reduces {
                return Err(OmsError::ReduceOnlyWouldIncrease {
                    cid,
                    symbol: req.symbol.clone(),
                    side: req.side,
                    qty: req.qty,
                    position,
                });
            }
        }
        let mut order = Order::new(cid.clone(), req, ts);
        let children = bracket::children(&order, req);
        for child in &children {
            if self.is_known(&child.cid) {
                return Err(OmsError::DuplicateClientOrderId(child.cid.clone()));
            }
        }
        if !children.is_empty() {
            order.role = Some(crate::model::BracketRole::Entry);
            order.children = children.iter().map(|c| c.cid.clone()).collect();
        }
        self.portfolio_entry(&req.account);
        for o in std::iter::once(order).chain(children) {
            let id = o.cid.clone();
            self.open.add(&o);
            self.orders.insert(id.clone(), Box::new(o));
            self.touch(&id, None);
            self.update_reservation(&id);
        }
        Ok(cid)
    }

    /// Records a risk refusal: the order is stored as `rejected` with the reason.
    ///
    /// # Errors
    /// As [`Oms::create`], except that no reduce-only check applies.
    pub fn create_rejected(
        &mut self,
        cid: ClientOrderId,
        req: &OrderRequest,
        reason: &str,
        ts: Timestamp,
    ) -> Result<(), OmsError> {
        if self.is_known(&cid) {
            return Err(OmsError::DuplicateClientOrderId(cid));
        }
        let mut order = Order::new(cid.clone(), req, ts);
        let change = order
            .apply(OrderEvent::Rejected { reason: reason.to_owned(), ts })
            .map_err(|e| OmsError::order(&cid, e))?;
        self.touch(&cid, Some(change));
        // Terminal at birth: straight to the recent cache, never in the working book.
        self.keep_terminal(cid, Box::new(order));
        Ok(())
    }

    /// Marks a pending order as handed to the venue.
    ///
    /// # Errors
    /// An unknown order, or one not in `pending`.
    pub fn mark_submitted(&mut self, cid: &ClientOrderId, ts: Timestamp) -> Result<(), OmsError> {
        self.apply_event(cid, OrderEvent::Submitted { ts })?;
        if let Some(o) = self.orders.get(cid) {
            if o.reduce_only && o.role.is_none() {
                let (account, symbol) = (o.account.clone(), o.symbol.clone());
                self.set_closing(&account, &symbol, true);
            }
        }
        Ok(())
    }

    /// Asks to cancel an order. A pending order is cancelled at once (it never left us); a
    /// working one goes to `cancelling` and an [`Action::Cancel`] is returned for the venue.
    ///
    /// # Errors
    /// An unknown order, or one whose status does not allow a cancel (terminal, or already
    /// cancelling).
    pub fn request_cancel(
        &mut self,
        cid: &ClientOrderId,
        reason: &str,
        ts: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), OmsError> {
        let status = self.order(cid).ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?.status();
        if status == OrderStatus::Pending {
            self.apply_event(cid, OrderEvent::Cancelled { reason: reason.to_owned(), ts })?;
            self.after_change(cid, actions, ts);
        } else {
            self.apply_event(cid, OrderEvent::CancelRequested { reason: reason.to_owned(), ts })?;
            actions.push(Action::Cancel { cid: cid.clone(), reason: reason.to_owned() });
        }
        Ok(())
    }

    /// Asks to modify an order under venue rules (never on a terminal order; quantity stays
    /// above what is filled). A pending order changes at once; a working one returns an
    /// [`Action::Modify`] and changes when the venue confirms.
    ///
    /// # Errors
    /// An unknown order, or a modification the order's status, type or instrument refuses.
    pub fn request_modify(
        &mut self,
        cid: &ClientOrderId,
        change: Modification,
        ts: Timestamp,
        actions: &mut Vec<Action>,
    ) -> Result<(), OmsError> {
        let order = self.order(cid).ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?;
        let instrument = self.instrument(&order.symbol)?;
        order.check_modification(&change, instrument).map_err(|e| OmsError::order(cid, e))?;
        if order.status() == OrderStatus::Pending {
            self.apply_event(cid, OrderEvent::Modified { change, ts })?;
        } else {
            actions.push(Action::Modify { cid: cid.clone(), change });
        }
        Ok(())
    }

    /// Applies one venue event; bracket consequences (child release, OCO) are pushed to
    /// `actions`.
    ///
    /// # Errors
    /// An unknown order, or an event the order refuses (illegal transition, duplicate fill,
    /// overfill, mismatched fill). Nothing changes then.
    pub fn apply(&mut self, event: VenueEvent, actions: &mut Vec<Action>) -> Result<(), OmsError> {
        match event {
            VenueEvent::Accepted { cid, venue_order_id, ts } => {
                self.apply_event(&cid, OrderEvent::Accepted { venue_order_id: Some(venue_order_id), ts })
            }
            VenueEvent::Rejected { cid, reason, ts } => {
                self.apply_event(&cid, OrderEvent::Rejected { reason, ts })?;
                self.after_change(&cid, actions, ts);
                Ok(())
            }
            VenueEvent::Filled(fill) => self.apply_fill(fill, actions),
            VenueEvent::Cancelled { cid, reason, ts } => {
                self.apply_event(&cid, OrderEvent::Cancelled { reason, ts })?;
                self.after_change(&cid, actions, ts);
                Ok(())
            }
            VenueEvent::CancelRejected { cid, reason, ts } => {
                self.apply_event(&cid, OrderEvent::CancelRejected { reason, ts })
            }
            VenueEvent::Expired { cid, ts } => {
                self.apply_event(&cid, OrderEvent::Expired { ts })?;
                self.after_change(&cid, actions, ts);
                Ok(())
            }
            VenueEvent::Modified { cid, change, ts } => self.apply_event(&cid, OrderEvent::Modified { change, ts }),
            VenueEvent::ModifyRejected { cid, reason, .. } => {
                if self.order(&cid).is_none() {
                    return Err(OmsError::UnknownOrder(cid));
                }
                tracing::warn!(cid = %cid, reason = %reason, "Oms venue refused a modification; order unchanged");
                Ok(())
            }
            VenueEvent::TrailingStopMoved { cid, stop_price, .. } => {
                let order = self.orders.get_mut(&cid).ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?;
                order.stop_price = Some(stop_price);
                self.touch(&cid, None);
                Ok(())
            }
        }
    }

    /// Marks every position in `symbol` to `price`.
    pub fn mark(&mut self, symbol: &Symbol, price: Decimal, ts: Timestamp) {
        set_mark(&mut self.marks, &mut self.mark_hint, symbol, price);
        for p in self.accounts.values_mut() {
            if p.mark(symbol, price, ts).is_some() {
                self.books_version += 1;
                if self.config.journal {
                    self.dirty_positions.insert((p.account().clone(), symbol.clone()));
                }
            }
        }
    }

    /// Bookings since the last call, in the order they happened (empty unless
    /// [`OmsConfig::bookings`] is on).
    pub fn take_bookings(&mut self) -> Vec<Booking> {
        std::mem::take(&mut self.bookings)
    }

    /// Whether bookings wait to be taken (most market events book nothing).
    #[must_use]
    pub fn has_bookings(&self) -> bool {
        !self.bookings.is_empty()
    }

    /// Moves bookings since the last call into `out` (keeps both allocations).
    pub fn drain_bookings_into(&mut self, out: &mut Vec<Booking>) {
        out.append(&mut self.bookings);
    }

    /// Whether changes are journaled for the store at all ([`OmsConfig::journal`]).
    #[must_use]
    pub fn journaling(&self) -> bool {
        self.config.journal
    }

    /// Whether anything is waiting in the journal (always false when journaling is off).
    #[must_use]
    pub fn has_journal(&self) -> bool {
        self.config.journal
            && !(self.dirty_orders.is_empty() && self.dirty_positions.is_empty() && self.journal.is_empty())
    }

    /// Takes everything changed since the last call, for the store to commit in one
    /// transaction. Terminal orders leave memory once taken (beyond the recent cache).
    pub fn take_journal(&mut self) -> WriteBatch {
        for cid in self.dirty_orders.drain(..) {
            if let Some(o) = self.orders.get(&cid).or_else(|| self.terminal.get(&cid)) {
                if !self.journaled.insert(cid.clone()) {
                    self.journal.known_orders.insert(cid.clone());
                }
                self.journal.orders.insert(cid, Order::clone(o));
            }
        }
        for (account, symbol) in self.dirty_positions.drain(..) {
            if let Some(p) = self.accounts.get(&account).and_then(|a| a.position(&symbol)) {
                self.journal.positions.insert(p.id, p.clone());
            }
        }
        self.journal.take()
    }

    /// Rebuilds the books from a stored snapshot after a restart.
    pub fn restore(&mut self, snapshot: Snapshot) {
        for (account, ccy, cash) in snapshot.balances {
            self.portfolio_entry(&account).restore_cash(&ccy, cash);
        }
        for p in snapshot.open_positions {
            self.next_position_id = self.next_position_id.max(p.id.0);
            self.marks.insert(p.symbol.clone(), p.mark());
            let account = p.account.clone();
            self.portfolio_entry(&account).restore_position(p);
        }
        for o in snapshot.open_orders {
            let cid = o.cid.clone();
            self.journaled.insert(cid.clone());
            self.portfolio_entry(&o.account.clone());
            self.open.add(&o);
            self.orders.insert(cid.clone(), Box::new(o));
            self.update_reservation(&cid);
        }
    }

    /// Seeds the position-id counter (ids already used in the store must not be reused).
    pub fn set_next_position_id(&mut self, last_used: u64) {
        self.next_position_id = self.next_position_id.max(last_used);
    }

    // ----- internals -------------------------------------------------------------------

    fn apply_event(&mut self, cid: &ClientOrderId, event: OrderEvent) -> Result<(), OmsError> {
        let (order, working) = match self.orders.get_mut(cid) {
            Some(o) => (o, true),
            None => (self.terminal.get_mut(cid).ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?, false),
        };
        let before = OpenCounts::contribution(order);
        let change = order.apply(event).map_err(|e| OmsError::order(cid, e))?;
        if working && !change.to.is_terminal() {
            self.open.update(order, before);
        } else if working {
            self.open.remove(order, before);
        }
        // Only a fill, a modification or the end of the order changes what it reserves.
        let reservation_changes = matches!(
            change.event,
            crate::model::OrderEventKind::Fill
                | crate::model::OrderEventKind::PartialFill
                | crate::model::OrderEventKind::Modify
        ) || change.to.is_terminal();
        self.touch(cid, Some(change));
        if reservation_changes {
            self.update_reservation(cid);
        }
        Ok(())
    }

    fn apply_fill(&mut self, fill: Fill, actions: &mut Vec<Action>) -> Result<(), OmsError> {
        let cid = &fill.cid;
        let (order, working) = match self.orders.get_mut(cid) {
            Some(o) => (o, true),
            None => (self.terminal.get_mut(cid).ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?, false),
        };
        let before = OpenCounts::contribution(order);
        let change = order.apply_fill(&fill).map_err(|e| OmsError::order(cid, e))?;
        if working && !change.to.is_terminal() {
            self.open.update(order, before);
        } else if working {
            self.open.remove(order, before);
        }
        self.touch(cid, Some(change));
        self.update_reservation(cid);
        // Disjoint borrows: the order (read), the instrument (read), its account (write).
        let order = self
            .orders
            .get(cid)
            .or_else(|| self.terminal.get(cid))
            .ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?;
        let instrument = self.instruments.get(&fill.symbol)?;
        let portfolio = self.accounts.get_mut(&order.account).ok_or_else(|| OmsError::UnknownOrder(cid.clone()))?;
        self.books_version += 1;
        let rows = self.config.journal;
        let liquidation = !self.liquidating.is_empty() && self.liquidating.contains(cid);
        let booked = portfolio.apply_fill(&fill, instrument, &mut self.next_position_id, liquidation, rows);
        set_mark(&mut self.marks, &mut self.mark_hint, &fill.symbol, fill.price);
        if self.config.bookings {
            let trade = booked.trade(&fill, &order.strategy_id, &order.account);
            self.bookings.push(Booking { fill: fill.clone(), trade, llm: order.llm.clone() });
        }
        if rows {
            let account = &order.account;
            self.journal.trades.push(booked.trade(&fill, &order.strategy_id, account));
            for p in booked.positions {
                self.dirty_positions.shift_remove(&(account.clone(), p.symbol.clone()));
                self.journal.positions.insert(p.id, p);
            }
            for (ccy, cash) in booked.balances {
                self.journal.balances.insert((account.clone(), ccy), cash);
            }
        }
        let ts = fill.ts;
        let cid = fill.cid.clone();
        if rows {
            self.journal.fills.push(fill);
        }
        self.after_change(&cid, actions, ts);
        Ok(())
    }

    /// Bracket and lifecycle consequences of an order's change; retires terminal orders.
    fn after_change(&mut self, cid: &ClientOrderId, actions: &mut Vec<Action>, ts: Timestamp) {
        let Some(order) = self.order(cid) else { return };
        let status = order.status();
        let filled = order.filled_qty();
        match order.role {
            Some(crate::model::BracketRole::Entry) => {
                let children = order.children.clone();
                let (entry_qty, symbol) = (order.qty(), order.symbol.clone());
                if status.is_terminal() && filled.is_zero() {
                    for child in &children {
                        self.cancel_quietly(child, "bracket entry ended unfilled", ts, actions);
                    }
                } else if !filled.is_zero() {
                    let lot = self.instruments.get(&symbol).map_or(Decimal::ZERO, |i| i.lot_size);
                    for child in &children {
                        self.release_child(child, filled, entry_qty, lot, ts, actions);
                    }
                }
            }
            Some(_) if !filled.is_zero() => {
                if let Some(parent) = order.parent.clone() {
                    let siblings: Vec<ClientOrderId> = self
                        .order(&parent)
                        .map(|p| p.children.iter().filter(|c| *c != cid).cloned().collect())
                        .unwrap_or_default();
                    for sib in siblings {
                        let decision = match (self.order(cid), self.order(&sib)) {
                            (Some(c), Some(s)) => bracket::after_child_fill(c, s),
                            _ => SiblingAction::Keep,
                        };
                        match decision {
                            SiblingAction::Keep => {}
                            SiblingAction::Cancel(s) => self.cancel_quietly(&s, "oco", ts, actions),
                            SiblingAction::Shrink(s, qty) => {
                                let change = Modification { qty: Some(qty), ..Modification::default() };
                                if let Err(e) = self.request_modify(&s, change, ts, actions) {
                                    tracing::warn!(cid = %s, error = %e, "Oms could not shrink OCO sibling");
                                }
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        if status.is_terminal() {
            if let Some(o) = self.order(cid) {
                if o.reduce_only && o.role.is_none() {
                    let (account, symbol) = (o.account.clone(), o.symbol.clone());
                    self.set_closing(&account, &symbol, false);
                }
            }
            self.retire(cid);
        }
    }

    fn release_child(
        &mut self,
        child: &ClientOrderId,
        entry_filled: Decimal,
        entry_qty: Decimal,
        lot: Decimal,
        ts: Timestamp,
        actions: &mut Vec<Action>,
    ) {
        let Some(c) = self.orders.get(child) else { return };
        // Children are created for the entry's whole quantity.
        let target = bracket::released_qty(entry_qty, entry_filled, entry_qty, lot);
        if target.is_zero() || target <= c.filled_qty() {
            return;
        }
        let status = c.status();
        if status == OrderStatus::Pending {
            if c.qty() != target {
                let change = Modification { qty: Some(target), ..Modification::default() };
                if let Err(e) = self.apply_event(child, OrderEvent::Modified { change, ts }) {
                    tracing::error!(cid = %child, error = %e, "Oms could not size bracket child");
                    return;
                }
            }
            actions.push(Action::Submit(child.clone()));
        } else if status.is_working() && status != OrderStatus::Cancelling && c.qty() < target {
            actions.push(Action::Modify {
                cid: child.clone(),
                change: Modification { qty: Some(target), ..Default::default() },
            });
        }
    }

    fn cancel_quietly(&mut self, cid: &ClientOrderId, reason: &str, ts: Timestamp, actions: &mut Vec<Action>) {
        let Some(o) = self.order(cid) else { return };
        if o.status().is_terminal() || o.status() == OrderStatus::Cancelling {
            return;
        }
        if let Err(e) = self.request_cancel(cid, reason, ts, actions) {
            tracing::warn!(cid = %cid, error = %e, "Oms could not cancel linked order");
        }
    }

    fn set_closing(&mut self, account: &AccountId, symbol: &Symbol, closing: bool) {
        if let Some(p) = self.accounts.get_mut(account).and_then(|a| a.position_mut(symbol)) {
            self.books_version += 1;
            p.set_closing(closing);
            if self.config.journal {
                self.dirty_positions.insert((account.clone(), symbol.clone()));
            }
        }
    }

    fn touch(&mut self, cid: &ClientOrderId, change: Option<StatusChange>) {
        if !self.config.journal {
            return;
        }
        if let Some(c) = change {
            self.journal.order_events.push((cid.clone(), c));
        }
        self.dirty_orders.insert(cid.clone());
    }

    /// Moves a terminal order from the working book to the bounded recent cache.
    fn retire(&mut self, cid: &ClientOrderId) {
        let Some((key, o)) = self.orders.shift_remove_entry(cid) else { return };
        self.keep_terminal(key, o);
    }

    /// Keeps a terminal order in the bounded recent cache, evicting the oldest beyond it
    /// (to the journal when its last change is not journaled yet).
    fn keep_terminal(&mut self, key: ClientOrderId, o: Box<Order>) {
        // Without journaling nothing is ever dirty: evicting needs no journal bookkeeping.
        let journal = self.config.journal;
        if self.config.terminal_cache == 0 && !self.dirty_orders.contains(&key) {
            self.journaled.remove(&key);
            return; // nothing keeps it: dropped now
        }
        self.terminal_order.push_back(key.clone());
        self.terminal.insert(key, o);
        while self.terminal_order.len() > self.config.terminal_cache {
            let Some(old) = self.terminal_order.pop_front() else { break };
            let evicted = self.terminal.remove(&old);
            if !journal {
                continue;
            }
            let known = self.journaled.remove(&old);
            // An order whose last change is not yet journaled goes to the journal now.
            if self.dirty_orders.shift_remove(&old) {
                if let Some(o) = evicted {
                    if known {
                        self.journal.known_orders.insert(old.clone());
                    }
                    self.journal.orders.insert(old, *o);
                }
            }
        }
    }

    /// Recomputes the cash an order reserves: a buy's leaves at its limit (or stop, or the
    /// last price); a sell's leaves beyond the long position it closes. Reduce-only and
    /// terminal orders reserve nothing.
    fn update_reservation(&mut self, cid: &ClientOrderId) {
        let new = self.orders.get(cid).and_then(|o| {
            if o.reduce_only || o.status().is_terminal() {
                return None;
            }
            let ccy = self.instruments.get(&o.symbol).ok()?.quote.clone();
            let price = o.limit_price().or(o.stop_price()).or_else(|| self.marks.get(&o.symbol).copied())?;
            let leaves = o.qty() - o.filled_qty();
            let opening = match o.side {
                Side::Buy => leaves,
                Side::Sell => {
                    let long = self.accounts.get(&o.account).map_or(Decimal::ZERO, |p| p.qty(&o.symbol));
                    (leaves - long.max(Decimal::ZERO)).max(Decimal::ZERO)
                }
            };
            Some((o.account.clone(), ccy, opening * price))
        });
        let old = match &new {
            Some(n) if !n.2.is_zero() => self.reservations.insert(cid.clone(), n.clone()),
            _ => self.reservations.remove(cid),
        };
        if old.is_some() || new.is_some() {
            self.books_version += 1;
        }
        if let Some((account, ccy, amount)) = old {
            if let Some(p) = self.accounts.get_mut(&account) {
                p.reserve(&ccy, -amount);
            }
        }
        if let Some((account, ccy, amount)) = new {
            if let Some(p) = self.accounts.get_mut(&account) {
                p.reserve(&ccy, amount);
            }
        }
    }
}

#[cfg(test)]
mod tests;
