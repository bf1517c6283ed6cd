//! The built-in simulated exchange: matches working orders against bars, trade ticks and
//! quotes, and reports what happened as [`VenueEvent`]s into the caller's buffer.
//!
//! Deterministic: the same calls give the same events (orders are matched in arrival order per
//! symbol, ids are sequence numbers `SIM-<n>` and trades `SIM-T<n>`). No I/O, no clock.
//!
//! # Rules as implemented
//!
//! An order *arrives* at the first market event for its symbol with `ts >= submit ts +
//! latency_nanos`; that event's open is the first price it sees. Per event and order, in this
//! order: DAY expiry, then price rules, then volume cap, then IOC/FOK.
//!
//! - **Market**: fills at the arrival open, slipped adversely. With [`FillAt::Close`], zero
//!   latency and a last price known, it fills on submit at the last price (bar close, trade
//!   price, or ask/bid for quotes), taking from that event's remaining volume budget; otherwise
//!   at the next open.
//! - **Limit buy** (sell mirrored): open ≤ limit → the open; else low ≤ limit → the limit. Taker
//!   when it fills at the first price it ever sees (marketable on arrival), maker otherwise. Never
//!   slipped.
//! - **Stop buy** (sell mirrored): open ≥ stop → the open (gap, worse than the stop); else high ≥
//!   stop → the stop. Slipped; taker. Once triggered, what is left is a market order.
//! - **Stop-limit**: triggers like a stop. Triggered at the open (gap) it fills at the open when
//!   the open is within the limit; triggered intrabar it fills at the stop when the stop is within
//!   the limit (taker, not slipped). Otherwise it rests as a limit from the *next* event (the path
//!   inside the bar is unknown, so no intrabar limit fill after a trigger).
//! - **Trailing stop** (sell protecting a long; buy mirrored): the trigger starts at
//!   `offset.stop_from(side, arrival open)` unless the order carries a stop price; each event it is
//!   first tested like a stop, then ratcheted with the event's high (sell) / low (buy), only
//!   favourably. Triggers are rounded to the tick away from the market. Each change, including
//!   the first trigger, is reported as [`VenueEvent::TrailingStopMoved`].
//! - **IOC**: whatever fills on its first price event fills; the rest expires then. **FOK**: on its
//!   first price event, all or nothing (price or volume cap short → expired, nothing filled).
//! - **DAY**: expires at the session end of the trading day it was submitted in
//!   ([`crate::model::calendar::session_end`]); the first event at or after that end expires it
//!   (event ts = the session end) before any matching.
//! - **Volume cap**: per event, all fills on the symbol together take at most `max_volume_share ×`
//!   bar volume / trade size (quotes: × ask size for buys, × bid size for sells), in arrival
//!   order; fill sizes floor to the lot size; a partly filled order keeps working.
//! - **Ticks**: a trade is a bar with open = high = low = close = price, volume = size. A quote
//!   shows the ask to buys and the bid to sells: market and marketable limits fill at it, stops
//!   trigger off it; a resting limit the opposite quote crosses fills at its limit price.
//! - **Slippage**: price × (1 ± bps / 10 000), rounded to the tick against the order.
//! - **Fees**: notional × maker or taker bps / 10 000 in the instrument's quote currency.

mod fees;
mod fill_model;
mod matching;
mod working;

use crate::collections::{index_with_hint, FastIndexMap, FastMap};
use crate::data::MarketEvent;
use crate::model::calendar::session_end;
use crate::model::{
    ClientOrderId, Fill, Instrument, Instruments, Modification, Order, OrderType, Side, TimeInForce, Timestamp,
    TradeId, VenueOrderId,
};
use crate::venue::VenueEvent;
use fill_model::Budget;
use matching::{Hit, Px};
use rust_decimal::Decimal;
use working::Working;

/// Which price a market order submitted after an event fills at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FillAt {
    /// The open of the next event (no look-ahead; the default).
    #[default]
    NextOpen,
    /// The last known price (the close of the bar the strategy just saw), immediately.
    Close,
}

/// The simulated venue's knobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimConfig {
    /// Where market orders fill.
    pub fill_at: FillAt,
    /// Adverse slippage in basis points on market-like fills (market, stop, trailing stop);
    /// never on limit fills.
    pub slippage_bps: Decimal,
    /// Fee in basis points of notional for maker fills (negative for a rebate).
    pub maker_fee_bps: Decimal,
    /// Fee in basis points of notional for taker fills.
    pub taker_fee_bps: Decimal,
    /// At most this share of each event's volume fills (all orders on the symbol together);
    /// `None` for no cap. With a cap, a zero-volume event fills nothing.
    pub max_volume_share: Option<Decimal>,
    /// An order matches only against events with `ts >= submit ts + latency_nanos`.
    pub latency_nanos: i64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            fill_at: FillAt::NextOpen,
            slippage_bps: Decimal::ZERO,
            maker_fee_bps: Decimal::ZERO,
            taker_fee_bps: Decimal::ZERO,
            max_volume_share: None,
            latency_nanos: 0,
        }
    }
}

/// Where a working order sits at this venue: in the book at index `book`, with arrival
/// sequence `seq` (books are sorted by it). Lookups only; never iterated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    /// Index of the symbol's book.
    book: usize,
    /// Arrival sequence number.
    seq: u64,
}

/// The last event seen on a symbol, for [`FillAt::Close`].
#[derive(Debug, Clone, Copy)]
struct Last {
    /// Price a buy gets (close, trade price, or ask).
    buy: Decimal,
    /// Price a sell gets (close, trade price, or bid).
    sell: Decimal,
    /// Volume budget that event has left.
    budget: Budget,
}

/// One symbol's working orders in arrival order.
#[derive(Debug)]
struct Book {
    instrument: Instrument,
    /// Sorted by arrival sequence (`Working::seq`), so an id's entry is found by binary search.
    orders: Vec<Working>,
    /// Orders no longer live but still in `orders` (swept on the next event).
    dead: usize,
    last: Option<Last>,
}

/// Per-event context shared by every order matched during one event.
struct Pass<'a> {
    config: &'a SimConfig,
    instrument: &'a Instrument,
    ts: Timestamp,
    budget: Budget,
    next_trade: &'a mut u64,
    out: &'a mut Vec<VenueEvent>,
}

/// The built-in simulated exchange.
///
/// Working orders are indexed by symbol, so an event touches only its symbol's orders.
/// Only working orders are remembered: like a real exchange, a cancel or modify for an
/// order that has finished (or never existed) is answered "unknown order", and memory stays
/// bounded by the working orders however long the venue runs.
#[derive(Debug)]
pub struct SimVenue {
    config: SimConfig,
    books: FastIndexMap<crate::model::Symbol, Book>,
    /// Where the last event's book sits in `books` (fixed at construction, so any index stays
    /// valid; checked by symbol before use): one feed's events find their book without hashing.
    book_hint: usize,
    slots: FastMap<ClientOrderId, Slot>,
    next_order: u64,
    next_trade: u64,
    open: usize,
}

impl SimVenue {
    /// A venue trading `instruments` under `config`.
    #[must_use]
    pub fn new(config: SimConfig, instruments: Instruments) -> Self {
        let books = instruments
            .iter()
            .map(|i| (i.symbol.clone(), Book { instrument: i.clone(), orders: Vec::new(), dead: 0, last: None }))
            .collect();
        Self { config, books, book_hint: 0, slots: FastMap::default(), next_order: 0, next_trade: 0, open: 0 }
    }

    /// Accepts an order (venue id `SIM-<n>`) or rejects it (unknown or halted instrument, the
    /// client order id of a working order, nothing to fill, missing price). With [`FillAt::Close`], zero
    /// latency and a last price known, a market order fills at once at that price.
    pub fn submit(&mut self, order: &Order, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        let reject = |reason: &str, out: &mut Vec<VenueEvent>| {
            out.push(VenueEvent::Rejected { cid: order.cid.clone(), reason: reason.to_owned(), ts });
        };
        let Some(book_idx) = self.books.get_index_of(&order.symbol) else {
            return reject("unknown instrument", out);
        };
        if self.slots.contains_key(&order.cid) {
            return reject("duplicate client order id", out);
        }
        let Some((_, book)) = self.books.get_index_mut(book_idx) else {
            return reject("unknown instrument", out);
        };
        if !book.instrument.tradable {
            return reject("instrument is not tradable", out);
        }
        let expires_at = (order.tif == TimeInForce::Day).then(|| session_end(book.instrument.asset_class, ts));
        let active_from = ts.plus_nanos(self.config.latency_nanos.max(0));
        let mut w = match Working::from_order(order, self.next_order + 1, active_from, expires_at) {
            Ok(w) => w,
            Err(reason) => return reject(reason, out),
        };
        self.next_order += 1;
        let Ok(venue_order_id) = VenueOrderId::try_from_str(Numbered::new("SIM-", self.next_order).as_str()) else {
            return reject("venue order id", out);
        };
        out.push(VenueEvent::Accepted { cid: order.cid.clone(), venue_order_id, ts });

        let close_fill = self.config.fill_at == FillAt::Close
            && self.config.latency_nanos <= 0
            && order.order_type == OrderType::Market;
        if let (true, Some(last)) = (close_fill, book.last.as_mut()) {
            let price = match w.side {
                Side::Buy => last.buy,
                Side::Sell => last.sell,
            };
            let mut pass = Pass {
                config: &self.config,
                instrument: &book.instrument,
                ts,
                budget: last.budget,
                next_trade: &mut self.next_trade,
                out,
            };
            pass.match_order(&mut w, Px::flat(price, false));
            last.budget = pass.budget;
        }
        if w.live {
            self.slots.insert(w.cid.clone(), Slot { book: book_idx, seq: w.seq });
            book.orders.push(w);
            self.open += 1;
        }
    }

    /// Cancels a working order, or answers `CancelRejected` with "unknown order" or "order is
    /// not working".
    pub fn cancel(&mut self, cid: &ClientOrderId, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        match self.working_mut(cid) {
            Ok((w, _)) => {
                w.live = false;
                self.retire(cid);
                out.push(VenueEvent::Cancelled { cid: cid.clone(), reason: "cancelled on request".to_owned(), ts });
            }
            Err(reason) => out.push(VenueEvent::CancelRejected { cid: cid.clone(), reason: reason.to_owned(), ts }),
        }
    }

    /// Modifies a working order's quantity, limit price or stop price (a trailing stop's
    /// current trigger), or answers `ModifyRejected` with the reason and changes nothing.
    pub fn modify(&mut self, cid: &ClientOrderId, change: &Modification, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        let result = self.working_mut(cid).and_then(|(w, instrument)| w.modify(change, instrument));
        out.push(match result {
            Ok(()) => VenueEvent::Modified { cid: cid.clone(), change: *change, ts },
            Err(reason) => VenueEvent::ModifyRejected { cid: cid.clone(), reason: reason.to_owned(), ts },
        });
    }

    /// Processes one market event for its symbol: DAY expiries, fills, trailing-stop moves,
    /// IOC/FOK expiries. Events for unknown symbols are ignored.
    pub fn on_market(&mut self, event: &MarketEvent, out: &mut Vec<VenueEvent>) {
        let Some(idx) = index_with_hint(&self.books, &mut self.book_hint, event.symbol()) else { return };
        let Some((_, book)) = self.books.get_index_mut(idx) else { return };
        let mut budget = Budget::for_event(self.config.max_volume_share, event);
        // Most events find no working order on their symbol: nothing to match or sweep.
        if !book.orders.is_empty() {
            let mut pass = Pass {
                config: &self.config,
                instrument: &book.instrument,
                ts: event.ts(),
                budget,
                next_trade: &mut self.next_trade,
                out,
            };
            let slots = &mut self.slots;
            let mut finished = 0;
            book.orders.retain_mut(|w| {
                if w.live {
                    pass.on_event(w, event);
                    if !w.live {
                        finished += 1;
                        slots.remove(&w.cid);
                    }
                }
                w.live
            });
            budget = pass.budget;
            self.open = self.open.saturating_sub(finished);
            book.dead = 0;
        }
        book.last = Some(match event {
            MarketEvent::Bar(_, b) => Last { buy: b.close, sell: b.close, budget },
            MarketEvent::Trade(_, t) => Last { buy: t.price, sell: t.price, budget },
            MarketEvent::Quote(_, q) => Last { buy: q.ask, sell: q.bid, budget },
        });
    }

    /// How many orders are working (accepted, neither filled, cancelled nor expired).
    #[must_use]
    pub fn open_order_count(&self) -> usize {
        self.open
    }

    fn working_mut(&mut self, cid: &ClientOrderId) -> Result<(&mut Working, &Instrument), &'static str> {
        let Some(&Slot { book: idx, seq }) = self.slots.get(cid) else { return Err("unknown order") };
        let (_, book) = self.books.get_index_mut(idx).ok_or("unknown order")?;
        let pos = book.orders.binary_search_by_key(&seq, |w| w.seq).map_err(|_| "order is not working")?;
        match book.orders.get_mut(pos) {
            Some(w) if w.live => Ok((w, &book.instrument)),
            _ => Err("order is not working"),
        }
    }

    /// Marks a no-longer-live order done; compacts its book once dead entries dominate.
    fn retire(&mut self, cid: &ClientOrderId) {
        if let Some(Slot { book: idx, .. }) = self.slots.remove(cid) {
            self.open = self.open.saturating_sub(1);
            if let Some((_, book)) = self.books.get_index_mut(idx) {
                book.dead += 1;
                if book.dead > 64 && book.dead * 2 > book.orders.len() {
                    book.orders.retain(|w| w.live);
                    book.dead = 0;
                }
            }
        }
    }
}

/// `prefix` (at most 8 bytes of ASCII) followed by `n` in decimal, on the stack: ids are made
/// for every order and fill, so without the formatting machinery or a temporary `String`.
struct Numbered {
    buf: [u8; 28],
    len: usize,
}

impl Numbered {
    fn new(prefix: &str, mut n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut buf = [0u8; 28];
        let p = prefix.len().min(8);
        buf[..p].copy_from_slice(&prefix.as_bytes()[..p]);
        let d = digits.len() - i;
        buf[p..p + d].copy_from_slice(&digits[i..]);
        Self { buf, len: p + d }
    }

    fn as_str(&self) -> &str {
        // ASCII prefix and digits; a prefix cut inside a character cannot happen for the
        // literal prefixes used here, and would show as an empty id (refused by the caller).
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

/// [`Numbered`] as a `String`.
#[cfg(test)]
fn numbered(prefix: &str, n: u64) -> String {
    Numbered::new(prefix, n).as_str().to_owned()
}

impl Pass<'_> {
    /// One market event for one live order: DAY expiry, then matching if it has arrived.
    fn on_event(&mut self, w: &mut Working, event: &MarketEvent) {
        if let Some(end) = w.expires_at.filter(|end| self.ts >= *end) {
            w.live = false;
            self.out.push(VenueEvent::Expired { cid: w.cid.clone(), ts: end });
            return;
        }
        if self.ts < w.active_from {
            return;
        }
        let px = match event {
            MarketEvent::Bar(_, b) => Px { open: b.open, high: b.high, low: b.low, quote: false },
            MarketEvent::Trade(_, t) => Px::flat(t.price, false),
            MarketEvent::Quote(_, q) => match w.side {
                Side::Buy => Px::flat(q.ask, true),
                Side::Sell => Px::flat(q.bid, true),
            },
        };
        self.match_order(w, px);
    }

    /// Applies the price rules, the volume cap and IOC/FOK to one order at `px`.
    fn match_order(&mut self, w: &mut Working, px: Px) {
        let first = !w.seen_price;
        w.seen_price = true;
        let step = matching::evaluate(w.rule, w.side, px, first, self.instrument.tick_size);
        w.rule = step.next;
        if let Some(stop_price) = step.moved {
            self.out.push(VenueEvent::TrailingStopMoved { cid: w.cid.clone(), stop_price, ts: self.ts });
        }
        let leaves = w.leaves();
        let fillable = match self.budget.available(w.side) {
            Some(cap) => self.instrument.floor_qty(cap.min(leaves)).max(Decimal::ZERO),
            None => leaves,
        };
        let all_or_nothing = first && w.tif == TimeInForce::Fok;
        match step.hit {
            Some(hit) if fillable > Decimal::ZERO && !(all_or_nothing && fillable < leaves) => {
                self.fill(w, hit, fillable);
            }
            _ => {}
        }
        if w.filled >= w.qty {
            w.live = false;
        } else if first && matches!(w.tif, TimeInForce::Ioc | TimeInForce::Fok) {
            w.live = false;
            self.out.push(VenueEvent::Expired { cid: w.cid.clone(), ts: self.ts });
        }
    }

    fn fill(&mut self, w: &mut Working, hit: Hit, qty: Decimal) {
        let tick = self.instrument.tick_size;
        let price =
            if hit.slips { fill_model::slip(hit.price, w.side, self.config.slippage_bps, tick) } else { hit.price };
        if price <= Decimal::ZERO {
            // Bad market data (a zero or negative print) never becomes a fill.
            return;
        }
        *self.next_trade += 1;
        let Ok(trade_id) = TradeId::try_from_str(Numbered::new("SIM-T", *self.next_trade).as_str()) else { return };
        let fee = fees::fee(price, qty, hit.liquidity, self.config.maker_fee_bps, self.config.taker_fee_bps);
        self.budget.take(w.side, qty);
        w.filled += qty;
        self.out.push(VenueEvent::Filled(Fill {
            trade_id,
            cid: w.cid.clone(),
            symbol: self.instrument.symbol.clone(),
            side: w.side,
            qty,
            price,
            fee,
            fee_currency: self.instrument.quote.clone(),
            liquidity: hit.liquidity,
            ts: self.ts,
        }));
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod id_tests {
    #[test]
    fn numbered_ids() {
        assert_eq!(super::numbered("SIM-", 0), "SIM-0");
        assert_eq!(super::numbered("SIM-T", 1_234_567), "SIM-T1234567");
        assert_eq!(super::numbered("", u64::MAX), u64::MAX.to_string());
    }
}
