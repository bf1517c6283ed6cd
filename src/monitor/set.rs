//! [`MonitorSet`]: every armed monitor, indexed by symbol, and the persisted form of each.

mod hot;

use super::break_even;
use super::rules::{decide, reached_favourable, tighter, Px};
use super::spec::{MonitorSpec, Resolved};
use super::trailing::{self, StopMemo, TrailState};
use super::{ExitIntent, ExitReason, MonitorError, PositionKey};
use crate::collections::{FastIndexMap, FastMap};
use crate::data::Bar;
use crate::model::{PositionId, Side, Symbol, Timestamp, TrailingOffset};
use hot::{compare, oriented, EventKeys, Hot, Watch};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// A monitor's runtime state: what has moved since it was armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MonitorState {
    /// The trailing stop (inactive when the spec has none or it is not activated yet).
    pub trail: TrailState,
    /// The break-even stop, once the trigger was reached.
    pub break_even_stop: Option<Decimal>,
    /// The reason of the exit working for this position, if one is.
    pub working: Option<ExitReason>,
}

/// One monitor as it is persisted: the position facts, the spec and the runtime state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorRecord {
    /// The position's (account, symbol).
    pub key: PositionKey,
    /// The position.
    pub position_id: PositionId,
    /// The position's side: `Buy` for a long, `Sell` for a short.
    pub side: Side,
    /// Open quantity (> 0).
    pub qty: Decimal,
    /// Average entry price (> 0).
    pub entry_px: Decimal,
    /// Fees a break-even stop with `plus_fees` covers (the entry's fees; include an exit
    /// estimate to cover the round trip).
    pub entry_fees: Decimal,
    /// When the position opened.
    pub opened_at: Timestamp,
    /// What the monitor does.
    pub spec: MonitorSpec,
    /// What has moved.
    pub state: MonitorState,
}

impl MonitorRecord {
    fn deadline(&self) -> Option<Timestamp> {
        self.spec.max_holding_nanos.map(|n| self.opened_at.plus_nanos(n))
    }
}

/// The whole set, for persistence.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MonitorSnapshot {
    /// Every monitor, by position id.
    pub monitors: Vec<MonitorRecord>,
    /// The last price seen per symbol, by symbol.
    pub last_prices: Vec<(Symbol, Decimal)>,
}

/// What changed since the last [`MonitorSet::take_changes`], for incremental persistence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MonitorChanges {
    /// Monitors armed or changed (their current record), by position id.
    pub upserted: Vec<MonitorRecord>,
    /// Monitors removed, by position id.
    pub removed: Vec<PositionId>,
}

#[derive(Debug, Clone)]
struct Monitor {
    rec: MonitorRecord,
    levels: Resolved,
    /// The effective stop and the reason it carries.
    stop: Option<(Decimal, ExitReason)>,
}

impl Monitor {
    fn new(rec: MonitorRecord, levels: Resolved) -> Self {
        let mut m = Self { rec, levels, stop: None };
        m.refresh_stop();
        m
    }

    /// Recomputes the effective stop: the tightest of stop-loss, break-even and trailing;
    /// ties go to the earlier one.
    fn refresh_stop(&mut self) {
        let side = self.rec.side;
        let candidates = [
            (self.levels.stop_loss, ExitReason::StopLoss),
            (self.rec.state.break_even_stop, ExitReason::BreakEven),
            (self.rec.state.trail.trigger, ExitReason::TrailingStop),
        ];
        self.stop = None;
        for (level, reason) in candidates {
            if let Some(p) = level {
                if self.stop.is_none_or(|(best, _)| tighter(side, p, best)) {
                    self.stop = Some((p, reason));
                }
            }
        }
    }

    /// Moves break-even and the trail after an event that did not trigger; true on a change.
    fn advance(&mut self, px: Px, memo: &mut StopMemo) -> bool {
        let side = self.rec.side;
        let mut changed = false;
        if let (None, Some(at), Some(be)) =
            (self.rec.state.break_even_stop, self.levels.break_even_at, self.rec.spec.break_even)
        {
            if reached_favourable(side, px.favourable(side), at) {
                let r = &self.rec;
                let stop = break_even::stop_price(side, r.entry_px, r.entry_fees, r.qty, be.plus_fees);
                self.rec.state.break_even_stop = Some(stop);
                changed = true;
            }
        }
        if let Some(t) = self.rec.spec.trailing {
            let next = trailing::advance_with(side, t.offset, self.levels.activation, self.rec.state.trail, px, memo);
            if let Some(next) = next {
                self.rec.state.trail = next;
                changed = true;
            }
        }
        if changed {
            self.refresh_stop();
        }
        changed
    }

    /// Marks the exit working and builds it.
    fn fire(&mut self, reason: ExitReason, trigger_price: Decimal, at_open: bool, ts: Timestamp) -> ExitIntent {
        self.rec.state.working = Some(reason);
        ExitIntent {
            account: self.rec.key.account.clone(),
            symbol: self.rec.key.symbol.clone(),
            position_id: self.rec.position_id,
            side: self.rec.side.opposite(),
            qty: self.rec.qty,
            reason,
            trigger_price,
            at_open,
            ts,
        }
    }
}

/// One symbol's monitors: the records (cold) and, slot for slot, their hot views.
#[derive(Debug, Clone, Default)]
struct Book {
    last: Option<Decimal>,
    monitors: Vec<Monitor>,
    /// `hot[i]` is the key view of `monitors[i]`, kept in step with it.
    hot: Vec<Hot>,
    /// The nearest levels of all monitors, from the last full scan; `None` after a change
    /// that may have brought a level nearer (the next event scans).
    watch: Option<Watch>,
    /// Trailing offsets by group (one group per distinct offset, by representation).
    offsets: Vec<TrailingOffset>,
    groups: FastMap<(bool, [u8; 16]), u32>,
    /// Per group, the stop computed from this scan's favourable extreme, for longs and shorts.
    memo: Vec<[MemoSlot; 2]>,
    /// Scans so far: a memo slot of an earlier scan is stale.
    epoch: u64,
}

/// A trailing stop price computed during scan `epoch`, with its oriented key.
#[derive(Debug, Clone, Copy, Default)]
struct MemoSlot {
    epoch: u64,
    stop: Decimal,
    key: i128,
}

/// No trailing offset group.
const NO_GROUP: u32 = u32::MAX;

impl Book {
    /// The group of a trailing spec's offset, created on first use.
    fn group_of(&mut self, trailing: Option<super::Trailing>) -> u32 {
        let Some(t) = trailing else { return NO_GROUP };
        let id = (matches!(t.offset, TrailingOffset::Percent(_)), t.offset.value().serialize());
        if let Some(&g) = self.groups.get(&id) {
            return g;
        }
        let g = u32::try_from(self.offsets.len()).unwrap_or(NO_GROUP);
        if g != NO_GROUP {
            self.offsets.push(t.offset);
            self.memo.push([MemoSlot::default(); 2]);
            self.groups.insert(id, g);
        }
        g
    }

    /// Appends a monitor (not dirty); returns its slot.
    fn push(&mut self, m: Monitor) -> usize {
        let group = self.group_of(m.rec.spec.trailing);
        self.hot.push(Hot::of(&m, group));
        self.monitors.push(m);
        self.monitors.len() - 1
    }

    /// Evaluates one event over every monitor in one pass, which also rebuilds the watch.
    ///
    /// A monitor whose keys show the event reaches none of its levels is passed over; an
    /// active trail that only ratchets moves on keys and one memoised stop price per offset
    /// group; anything else (a trigger, break-even, activation, keys that cannot tell) takes
    /// [`step`], the per-monitor rules on the decimals.
    fn scan(
        &mut self,
        px: Px,
        ev: &EventKeys,
        ts: Timestamp,
        changed: &mut Vec<PositionId>,
        out: &mut Vec<ExitIntent>,
    ) {
        self.epoch += 1;
        let mut ratchet = Ratchet { epoch: self.epoch, offsets: &self.offsets, memo: &mut self.memo, px };
        let mut memo = StopMemo::default();
        let mut watch = Watch::default();
        for (m, h) in self.monitors.iter_mut().zip(self.hot.iter_mut()) {
            let (adverse, favourable) = ev.side(h.long);
            let may_fire = !h.working && (adverse <= h.stop || favourable >= h.target);
            // Short-circuits: the key fast path runs only when nothing but the trail may move.
            let slow = may_fire
                || favourable >= h.be_at
                || (favourable >= h.trail && !(h.trail_active && ratchet.apply(m, h, favourable, changed)));
            if slow {
                step(m, h, px, ts, &mut memo, changed, out);
            }
            watch.add(h);
        }
        self.watch = Some(watch);
    }
}

/// The fast path of an active trail that only ratchets (see [`Book::scan`]).
struct Ratchet<'a> {
    epoch: u64,
    offsets: &'a [TrailingOffset],
    memo: &'a mut [[MemoSlot; 2]],
    px: Px,
}

impl Ratchet<'_> {
    /// Moves the trail of `m` for an event whose favourable extreme has key `favourable`
    /// (the event neither fires `m` nor reaches its break-even trigger). False, with nothing
    /// changed, when the keys cannot decide: the caller applies the rules on the decimals.
    fn apply(&mut self, m: &mut Monitor, h: &mut Hot, favourable: i128, changed: &mut Vec<PositionId>) -> bool {
        match compare(favourable, h.trail) {
            Some(Ordering::Greater) => {}
            Some(_) => return true, // not a better best price: nothing moves
            None => return false,
        }
        let side = m.rec.side;
        let fav = self.px.favourable(side);
        let (Some(offset), Some(slots)) = (self.offsets.get(h.group as usize), self.memo.get_mut(h.group as usize))
        else {
            return false;
        };
        let slot = &mut slots[usize::from(!h.long)];
        if slot.epoch != self.epoch {
            let stop = offset.stop_from(side.opposite(), fav);
            *slot = MemoSlot { epoch: self.epoch, stop, key: oriented(side, stop) };
        }
        let (candidate, key) = (slot.stop, slot.key);
        let trigger_moves = match compare(key, h.trigger) {
            Some(o) => o == Ordering::Greater,
            None => return false,
        };
        // The effective stop is the tightest of stop-loss, break-even and trigger (ties to
        // the earlier): a tighter trigger takes it over when it is strictly tighter.
        let stop_moves = trigger_moves
            && (h.reason == ExitReason::TrailingStop || {
                match compare(key, h.stop) {
                    Some(o) => o == Ordering::Greater,
                    None => return false,
                }
            });
        let trail = &mut m.rec.state.trail;
        trail.best = Some(fav);
        h.trail = favourable;
        if trigger_moves {
            trail.trigger = Some(candidate);
            h.trigger = key;
        }
        if stop_moves {
            m.stop = Some((candidate, ExitReason::TrailingStop));
            (h.stop, h.reason) = (key, ExitReason::TrailingStop);
        }
        touch(changed, h, m.rec.position_id);
        true
    }
}

/// One monitor against one event by the rules on the decimals: fires it, or moves its
/// break-even and trail, then brings its hot view up to date.
fn step(
    m: &mut Monitor,
    h: &mut Hot,
    px: Px,
    ts: Timestamp,
    memo: &mut StopMemo,
    changed: &mut Vec<PositionId>,
    out: &mut Vec<ExitIntent>,
) {
    if m.rec.state.working.is_none() {
        if let Some(hit) = decide(m.rec.side, m.stop, m.levels.take_profit, px) {
            out.push(m.fire(hit.reason, hit.price, hit.at_open, ts));
            touch(changed, h, m.rec.position_id);
            h.sync(m);
            return;
        }
    }
    if m.advance(px, memo) {
        touch(changed, h, m.rec.position_id);
        h.sync(m);
    }
}

/// Every armed monitor. See the module docs for the rules.
#[derive(Debug, Clone, Default)]
pub struct MonitorSet {
    books: FastIndexMap<Symbol, Book>,
    /// Position → (book index, slot in the book).
    index: FastMap<PositionId, (usize, usize)>,
    /// (time exit due, position), for `on_clock`.
    deadlines: BTreeSet<(Timestamp, PositionId)>,
    changed: Vec<PositionId>,
    removed: Vec<PositionId>,
}

fn check_positive(position_id: PositionId, field: &'static str, value: Decimal) -> Result<(), MonitorError> {
    if value > Decimal::ZERO {
        Ok(())
    } else {
        Err(MonitorError::NotPositive { position_id, field, value })
    }
}

/// Fires `m` for `reason` at the symbol's last price (the entry when none was seen), unless
/// an exit is already working for it.
fn fire_at_last(
    book: &mut Book,
    i: usize,
    reason: ExitReason,
    ts: Timestamp,
    changed: &mut Vec<PositionId>,
) -> Option<ExitIntent> {
    let (m, h) = (&mut book.monitors[i], &mut book.hot[i]);
    if m.rec.state.working.is_some() {
        return None;
    }
    let intent = m.fire(reason, book.last.unwrap_or(m.rec.entry_px), false, ts);
    touch(changed, h, m.rec.position_id);
    h.sync(m);
    Some(intent)
}

/// Lists `position_id` (whose hot view is `h`) as changed, once until the next take.
fn touch(changed: &mut Vec<PositionId>, h: &mut Hot, position_id: PositionId) {
    if !h.dirty {
        h.dirty = true;
        changed.push(position_id);
    }
}

impl MonitorSet {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// How many monitors are armed.
    #[must_use]
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether none is armed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Arms a monitor for a position that just opened on `side` (`Buy` = long) with `qty` at
    /// `entry_px`, having paid `entry_fees`. A trail without an activation level starts from
    /// `entry_px`.
    ///
    /// # Errors
    /// [`MonitorError::AlreadyArmed`], [`MonitorError::NotPositive`] for a quantity or entry
    /// price ≤ 0, [`MonitorError::Spec`] when the spec does not fit the entry.
    #[allow(clippy::too_many_arguments, reason = "every fact of the opening fill, as the engine has them")]
    pub fn arm(
        &mut self,
        key: PositionKey,
        position_id: PositionId,
        side: Side,
        qty: Decimal,
        entry_px: Decimal,
        entry_fees: Decimal,
        opened_at: Timestamp,
        spec: MonitorSpec,
    ) -> Result<(), MonitorError> {
        if self.index.contains_key(&position_id) {
            return Err(MonitorError::AlreadyArmed { position_id });
        }
        check_positive(position_id, "qty", qty)?;
        check_positive(position_id, "entry_px", entry_px)?;
        let levels = spec.resolve(side, entry_px).map_err(|source| MonitorError::Spec { position_id, source })?;
        let trail = match spec.trailing {
            Some(t) if t.activation.is_none() => TrailState::started(side, t.offset, entry_px),
            _ => TrailState::default(),
        };
        let state = MonitorState { trail, ..MonitorState::default() };
        let rec = MonitorRecord { key, position_id, side, qty, entry_px, entry_fees, opened_at, spec, state };
        self.insert(Monitor::new(rec, levels));
        Ok(())
    }

    fn insert(&mut self, m: Monitor) {
        let pid = m.rec.position_id;
        if let Some(d) = m.rec.deadline() {
            self.deadlines.insert((d, pid));
        }
        let entry = self.books.entry(m.rec.key.symbol.clone());
        let b = entry.index();
        let book = entry.or_default();
        book.watch = None;
        let i = book.push(m);
        touch(&mut self.changed, &mut book.hot[i], pid);
        self.index.insert(pid, (b, i));
    }

    /// The record of a position's monitor.
    #[must_use]
    pub fn get(&self, position_id: PositionId) -> Option<&MonitorRecord> {
        let &(b, i) = self.index.get(&position_id)?;
        Some(&self.books[b].monitors[i].rec)
    }

    /// The effective stop of a position and the reason it would carry.
    #[must_use]
    pub fn stop_level(&self, position_id: PositionId) -> Option<(Decimal, ExitReason)> {
        let &(b, i) = self.index.get(&position_id)?;
        self.books[b].monitors[i].stop
    }

    /// The take-profit level of a position.
    #[must_use]
    pub fn target_level(&self, position_id: PositionId) -> Option<Decimal> {
        let &(b, i) = self.index.get(&position_id)?;
        self.books[b].monitors[i].levels.take_profit
    }

    /// The position's quantity, average entry or fees changed (an add, a partial exit).
    /// Relative levels re-resolve against `avg_px`; a moved trail or break-even stop stays.
    /// A working exit stays working.
    ///
    /// # Errors
    /// [`MonitorError::Unknown`], or [`MonitorError::NotPositive`] for `qty` or `avg_px` ≤ 0
    /// (a flat position is [`MonitorSet::disarm`]ed instead).
    pub fn update_position(
        &mut self,
        position_id: PositionId,
        qty: Decimal,
        avg_px: Decimal,
        fees: Decimal,
    ) -> Result<(), MonitorError> {
        check_positive(position_id, "qty", qty)?;
        check_positive(position_id, "avg_px", avg_px)?;
        let &(b, i) = self.index.get(&position_id).ok_or(MonitorError::Unknown { position_id })?;
        let book = &mut self.books[b];
        book.watch = None;
        let m = &mut book.monitors[i];
        m.rec.qty = qty;
        m.rec.entry_px = avg_px;
        m.rec.entry_fees = fees;
        m.levels = m.rec.spec.levels(m.rec.side, avg_px);
        m.refresh_stop();
        let h = &mut book.hot[i];
        touch(&mut self.changed, h, position_id);
        h.sync(m);
        Ok(())
    }

    /// Replaces a position's spec, validated against its current entry. Runtime state of a
    /// part whose spec is unchanged is kept; a changed trail without activation restarts from
    /// the symbol's last price (the entry when none was seen), a changed break-even re-arms.
    ///
    /// # Errors
    /// [`MonitorError::Unknown`], or [`MonitorError::Spec`] (nothing changes).
    pub fn set_spec(&mut self, position_id: PositionId, spec: MonitorSpec) -> Result<(), MonitorError> {
        let &(b, i) = self.index.get(&position_id).ok_or(MonitorError::Unknown { position_id })?;
        let book = &mut self.books[b];
        let side = book.monitors[i].rec.side;
        let levels = spec
            .resolve(side, book.monitors[i].rec.entry_px)
            .map_err(|source| MonitorError::Spec { position_id, source })?;
        book.watch = None;
        let group = book.group_of(spec.trailing);
        let m = &mut book.monitors[i];
        let old = m.rec.spec;
        if old.trailing != spec.trailing {
            let from = book.last.unwrap_or(m.rec.entry_px);
            m.rec.state.trail = match spec.trailing {
                Some(t) if t.activation.is_none() => TrailState::started(m.rec.side, t.offset, from),
                _ => TrailState::default(),
            };
        }
        if old.break_even != spec.break_even {
            m.rec.state.break_even_stop = None;
        }
        if let Some(d) = m.rec.deadline() {
            self.deadlines.remove(&(d, position_id));
        }
        m.rec.spec = spec;
        if let Some(d) = m.rec.deadline() {
            self.deadlines.insert((d, position_id));
        }
        m.levels = levels;
        m.refresh_stop();
        let h = &mut book.hot[i];
        h.group = group;
        touch(&mut self.changed, h, position_id);
        h.sync(m);
        Ok(())
    }

    /// Removes a position's monitor (the position closed, or it is no longer watched) and
    /// returns its last record.
    pub fn disarm(&mut self, position_id: PositionId) -> Option<MonitorRecord> {
        let (b, i) = self.index.remove(&position_id)?;
        let book = &mut self.books[b];
        book.watch = None;
        book.hot.swap_remove(i);
        let m = book.monitors.swap_remove(i);
        if let Some(moved) = book.monitors.get(i) {
            self.index.insert(moved.rec.position_id, (b, i));
        }
        if let Some(d) = m.rec.deadline() {
            self.deadlines.remove(&(d, position_id));
        }
        self.removed.push(position_id);
        Some(m.rec)
    }

    /// The working exit of a position ended: `closed` when the position is flat (the monitor
    /// is disarmed), else the monitor may fire again.
    ///
    /// # Errors
    /// [`MonitorError::Unknown`].
    pub fn exit_finished(&mut self, position_id: PositionId, closed: bool) -> Result<(), MonitorError> {
        if closed {
            return self.disarm(position_id).map(|_| ()).ok_or(MonitorError::Unknown { position_id });
        }
        let &(b, i) = self.index.get(&position_id).ok_or(MonitorError::Unknown { position_id })?;
        let book = &mut self.books[b];
        book.watch = None;
        let (m, h) = (&mut book.monitors[i], &mut book.hot[i]);
        m.rec.state.working = None;
        touch(&mut self.changed, h, position_id);
        h.sync(m);
        Ok(())
    }

    /// Evaluates a closed bar of `symbol` (see the module docs for the rules).
    pub fn on_bar(&mut self, symbol: &Symbol, bar: &Bar) -> Vec<ExitIntent> {
        self.on_event(symbol, Px { open: bar.open, high: bar.high, low: bar.low }, bar.close, bar.ts)
    }

    /// Evaluates one price (a trade, or a mark) of `symbol`.
    pub fn on_price(&mut self, symbol: &Symbol, price: Decimal, ts: Timestamp) -> Vec<ExitIntent> {
        self.on_event(symbol, Px::flat(price), price, ts)
    }

    fn on_event(&mut self, symbol: &Symbol, px: Px, last: Decimal, ts: Timestamp) -> Vec<ExitIntent> {
        let mut out = Vec::new();
        let Some(book) = self.books.get_mut(symbol) else { return out };
        book.last = Some(last);
        let ev = EventKeys::of(px);
        if book.watch.is_some_and(|w| w.quiet(&ev)) {
            return out;
        }
        book.scan(px, &ev, ts, &mut self.changed, &mut out);
        out.sort_unstable_by_key(|x| x.position_id);
        out
    }

    /// The reference evaluation: every monitor of the book by [`step`] alone (no watch, no
    /// key fast path), as the set evaluated before the hot path existed.
    #[cfg(test)]
    fn on_event_reference(&mut self, symbol: &Symbol, px: Px, last: Decimal, ts: Timestamp) -> Vec<ExitIntent> {
        let mut out = Vec::new();
        let Some(book) = self.books.get_mut(symbol) else { return out };
        book.last = Some(last);
        book.watch = None;
        let mut memo = StopMemo::default();
        for (m, h) in book.monitors.iter_mut().zip(book.hot.iter_mut()) {
            step(m, h, px, ts, &mut memo, &mut self.changed, &mut out);
        }
        out.sort_unstable_by_key(|x| x.position_id);
        out
    }

    /// Time exits due at `ts` (held for `max_holding_nanos` or longer), at the symbol's last
    /// price. A position whose exit is working is skipped and fires at a later call if that
    /// exit ends with the position open.
    pub fn on_clock(&mut self, ts: Timestamp) -> Vec<ExitIntent> {
        let mut out = Vec::new();
        for &(_, pid) in self.deadlines.range(..=(ts, PositionId(u64::MAX))) {
            let Some(&(b, i)) = self.index.get(&pid) else { continue };
            out.extend(fire_at_last(&mut self.books[b], i, ExitReason::TimeExit, ts, &mut self.changed));
        }
        out.sort_unstable_by_key(|x| x.position_id);
        out
    }

    /// Exits every position without a working exit, reason `kill_switch`, at the last price.
    /// Positions whose exit is working are left to it (the engine's kill switch cancels open
    /// orders first; an exit it cancels comes back through [`MonitorSet::exit_finished`]).
    pub fn kill_all(&mut self, ts: Timestamp) -> Vec<ExitIntent> {
        let mut out = Vec::new();
        for book in self.books.values_mut() {
            for i in 0..book.monitors.len() {
                out.extend(fire_at_last(book, i, ExitReason::KillSwitch, ts, &mut self.changed));
            }
        }
        out.sort_unstable_by_key(|x| x.position_id);
        out
    }

    /// Exits one position now for `reason` (usually `manual`) at the last price; `None` when
    /// an exit is already working for it.
    ///
    /// # Errors
    /// [`MonitorError::Unknown`].
    pub fn request_exit(
        &mut self,
        position_id: PositionId,
        reason: ExitReason,
        ts: Timestamp,
    ) -> Result<Option<ExitIntent>, MonitorError> {
        let &(b, i) = self.index.get(&position_id).ok_or(MonitorError::Unknown { position_id })?;
        Ok(fire_at_last(&mut self.books[b], i, reason, ts, &mut self.changed))
    }

    /// Every monitor and last price, sorted, for a full save.
    #[must_use]
    pub fn export(&self) -> MonitorSnapshot {
        let mut monitors: Vec<MonitorRecord> =
            self.books.values().flat_map(|b| b.monitors.iter().map(|m| m.rec.clone())).collect();
        monitors.sort_unstable_by_key(|r| r.position_id);
        let mut last_prices: Vec<(Symbol, Decimal)> =
            self.books.iter().filter_map(|(s, b)| b.last.map(|p| (s.clone(), p))).collect();
        last_prices.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        MonitorSnapshot { monitors, last_prices }
    }

    /// Rebuilds a set from a snapshot (after a restart). Specs are not re-validated against
    /// the entry (it may have moved since arming); records must still be well-formed.
    ///
    /// # Errors
    /// [`MonitorError::AlreadyArmed`] for a duplicate position, [`MonitorError::NotPositive`]
    /// for a quantity or entry price ≤ 0.
    pub fn restore(snapshot: MonitorSnapshot) -> Result<Self, MonitorError> {
        let mut set = Self::new();
        for (symbol, price) in snapshot.last_prices {
            set.books.entry(symbol).or_default().last = Some(price);
        }
        for rec in snapshot.monitors {
            let pid = rec.position_id;
            if set.index.contains_key(&pid) {
                return Err(MonitorError::AlreadyArmed { position_id: pid });
            }
            check_positive(pid, "qty", rec.qty)?;
            check_positive(pid, "entry_px", rec.entry_px)?;
            let levels = rec.spec.levels(rec.side, rec.entry_px);
            set.insert(Monitor::new(rec, levels));
        }
        set.changed.clear();
        for h in set.books.values_mut().flat_map(|b| b.hot.iter_mut()) {
            h.dirty = false;
        }
        Ok(set)
    }

    /// Whether [`MonitorSet::take_changes`] has anything to return.
    #[must_use]
    pub fn has_changes(&self) -> bool {
        !self.changed.is_empty() || !self.removed.is_empty()
    }

    /// Drops every book's watch, so the next event on each symbol scans all its monitors
    /// (the reference behaviour the watch must not change).
    #[cfg(test)]
    fn forget_watches(&mut self) {
        for b in self.books.values_mut() {
            b.watch = None;
        }
    }

    /// What changed since the last call: records to upsert and positions to delete.
    pub fn take_changes(&mut self) -> MonitorChanges {
        let mut upserted = Vec::with_capacity(self.changed.len());
        for pid in self.changed.drain(..) {
            if let Some(&(b, i)) = self.index.get(&pid) {
                let book = &mut self.books[b];
                if book.hot[i].dirty {
                    book.hot[i].dirty = false;
                    upserted.push(book.monitors[i].rec.clone());
                }
            }
        }
        upserted.sort_unstable_by_key(|r| r.position_id);
        let mut removed: Vec<PositionId> = self.removed.drain(..).filter(|pid| !self.index.contains_key(pid)).collect();
        removed.sort_unstable();
        removed.dedup();
        MonitorChanges { upserted, removed }
    }
}

#[cfg(test)]
mod tests;
