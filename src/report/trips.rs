//! Round trips built from the OMS's trade bookings, and the trade statistics over them.
//!
//! A round trip is one position's life: from the booking that opened it (`entry`, or the
//! opening half of a `reversal`) to the booking that took it flat (`exit`, or the closing half
//! of a `reversal`). Its gross P&L is the sum of its bookings' realised P&L; its net P&L is that
//! minus every fee of its bookings. A reversal's fee is split between the closed and the opened
//! position in proportion to quantity. A round trip belongs to the strategy and the LLM
//! provider/confidence of the order that opened it. Positions still open at the end are
//! reported as open, marked at the symbol's last price, and are NOT counted as closed round
//! trips in any statistic.

use super::{opt_ts_str, ts_str};
use crate::model::Timestamp;
use crate::model::{LlmMeta, PositionId, Side, Trade, TradeKind};
use indexmap::IndexMap;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// Decimal places kept for averages of money (sums stay exact).
const AVG_DP: u32 = 8;

/// One position's life, closed or still open at the end of the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoundTrip {
    /// The OMS position id.
    pub position_id: u64,
    /// The strategy whose order opened it.
    pub strategy: String,
    /// The instrument.
    pub symbol: String,
    /// `long` or `short`.
    pub direction: &'static str,
    /// When it opened.
    #[serde(serialize_with = "ts_str")]
    pub opened_at: Timestamp,
    /// When it went flat; `None` while open.
    #[serde(serialize_with = "opt_ts_str")]
    pub closed_at: Option<Timestamp>,
    /// Largest absolute quantity held.
    pub max_qty: Decimal,
    /// Quantity still held (0 once closed).
    pub open_qty: Decimal,
    /// Average entry price of the held quantity.
    pub avg_entry: Decimal,
    /// Average exit price over the closing quantity, if any was closed.
    pub avg_exit: Option<Decimal>,
    /// Gross realised P&L (before fees).
    pub realized_pnl: Decimal,
    /// Fees of all its bookings.
    pub fees: Decimal,
    /// `realized_pnl − fees` (for an open position, unrealised P&L is beside it, not in it).
    pub net_pnl: Decimal,
    /// For an open position: the last price seen for the symbol.
    pub mark: Option<Decimal>,
    /// For an open position: `(mark − avg_entry) × open_qty`, signed by direction.
    pub unrealized_pnl: Decimal,
    /// Σ |price × qty| of its bookings.
    pub turnover: Decimal,
    /// How many bookings touched it.
    pub bookings: u32,
    /// LLM provider of the opening order, if it carried LLM metadata.
    pub llm_provider: Option<String>,
    /// LLM model of the opening order.
    pub llm_model: Option<String>,
    /// LLM confidence of the opening order, in `[0, 1]`.
    pub llm_confidence: Option<f64>,
    #[serde(skip)]
    exit_qty: Decimal,
    #[serde(skip)]
    exit_notional: Decimal,
}

impl RoundTrip {
    /// Whether it is still open at the end of the run.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.closed_at.is_none()
    }

    /// Holding time in seconds, up to `end` for an open position.
    #[must_use]
    pub fn holding_secs(&self, end: Timestamp) -> f64 {
        (self.closed_at.unwrap_or(end).0 - self.opened_at.0) as f64 / 1e9
    }

    fn sign(&self) -> Decimal {
        if self.direction == "short" {
            Decimal::NEGATIVE_ONE
        } else {
            Decimal::ONE
        }
    }
}

/// Builds round trips from bookings in O(open positions) memory plus the closed list.
#[derive(Debug, Default)]
pub(crate) struct TripBook {
    open: IndexMap<PositionId, RoundTrip>,
    closed: Vec<RoundTrip>,
    /// Σ realised P&L over all bookings.
    pub realized: Decimal,
    /// Σ fees over all bookings.
    pub fees: Decimal,
    /// Problems found in the bookings (never fatal; the figures still add up).
    pub warnings: Vec<String>,
}

impl TripBook {
    /// Applies one booking, in order.
    pub(crate) fn on_trade(&mut self, t: &Trade, llm: Option<&LlmMeta>) {
        self.realized += t.realized_pnl;
        self.fees += t.fee;
        let notional = (t.price * t.qty).abs();
        match t.kind {
            TradeKind::Entry => {
                if self.open.contains_key(&t.position_id) {
                    self.warn(t, "an entry for a position that is already open; booked as an add");
                    self.add(t, t.qty, t.fee, notional);
                } else {
                    self.open_trip(t, t.position_id, t.qty, t.fee, notional, llm);
                }
            }
            TradeKind::Add => self.add(t, t.qty, t.fee, notional),
            TradeKind::PartialExit => self.reduce(t, t.qty, t.realized_pnl, t.fee, notional, false),
            TradeKind::Exit => self.reduce(t, t.qty, t.realized_pnl, t.fee, notional, true),
            TradeKind::Reversal => {
                let held = self.open.get(&t.position_id).map_or(t.qty, |r| r.open_qty.min(t.qty));
                let opening = t.qty - held;
                let close_fee = if t.qty.is_zero() { t.fee } else { t.fee * held / t.qty };
                let open_fee = t.fee - close_fee;
                let close_notional = (t.price * held).abs();
                self.reduce(t, held, t.realized_pnl, close_fee, close_notional, true);
                let id = t.opened_position_id.unwrap_or_else(|| {
                    self.warn(
                        t,
                        "a reversal without the id of the position it opened; the new position reuses the old id",
                    );
                    t.position_id
                });
                self.open_trip(t, id, opening, open_fee, notional - close_notional, llm);
            }
        }
    }

    fn warn(&mut self, t: &Trade, what: &str) {
        self.warnings.push(format!(
            "trade {} (order {}, {} position {}, {}): {what}",
            t.trade_id,
            t.cid,
            t.symbol,
            t.position_id,
            t.kind.as_str()
        ));
    }

    fn open_trip(
        &mut self,
        t: &Trade,
        id: PositionId,
        qty: Decimal,
        fee: Decimal,
        notional: Decimal,
        llm: Option<&LlmMeta>,
    ) {
        let trip = RoundTrip {
            position_id: id.0,
            strategy: t.strategy_id.as_str().to_owned(),
            symbol: t.symbol.as_str().to_owned(),
            direction: if t.side == Side::Buy { "long" } else { "short" },
            opened_at: t.ts,
            closed_at: None,
            max_qty: qty,
            open_qty: qty,
            avg_entry: t.price,
            avg_exit: None,
            realized_pnl: Decimal::ZERO,
            fees: fee,
            net_pnl: -fee,
            mark: None,
            unrealized_pnl: Decimal::ZERO,
            turnover: notional,
            bookings: 1,
            llm_provider: llm.map(|m| m.provider().to_owned()),
            llm_model: llm.map(|m| m.model().to_owned()),
            llm_confidence: llm.map(LlmMeta::confidence),
            exit_qty: Decimal::ZERO,
            exit_notional: Decimal::ZERO,
        };
        self.open.insert(id, trip);
    }

    /// The open trip for a booking, created (from this booking) when no entry was seen, so
    /// its P&L and fees are never lost.
    fn trip_for(&mut self, t: &Trade) -> &mut RoundTrip {
        if !self.open.contains_key(&t.position_id) {
            self.warn(t, "a booking for a position with no entry seen; opened a round trip at this booking");
            // The side that held the position: an add shares the fill's side, a reduction opposes it.
            let held_side = if t.kind == TradeKind::Add { t.side } else { t.side.opposite() };
            let mut trip = RoundTrip {
                position_id: t.position_id.0,
                strategy: t.strategy_id.as_str().to_owned(),
                symbol: t.symbol.as_str().to_owned(),
                direction: if held_side == Side::Buy { "long" } else { "short" },
                opened_at: t.ts,
                closed_at: None,
                max_qty: Decimal::ZERO,
                open_qty: Decimal::ZERO,
                avg_entry: t.price,
                avg_exit: None,
                realized_pnl: Decimal::ZERO,
                fees: Decimal::ZERO,
                net_pnl: Decimal::ZERO,
                mark: None,
                unrealized_pnl: Decimal::ZERO,
                turnover: Decimal::ZERO,
                bookings: 0,
                llm_provider: None,
                llm_model: None,
                llm_confidence: None,
                exit_qty: Decimal::ZERO,
                exit_notional: Decimal::ZERO,
            };
            if t.kind != TradeKind::Add {
                // Unknown prior quantity: assume it held exactly what this booking closes.
                trip.open_qty = t.qty;
                trip.max_qty = t.qty;
            }
            self.open.insert(t.position_id, trip);
        }
        self.open.get_mut(&t.position_id).expect("inserted above")
    }

    fn add(&mut self, t: &Trade, qty: Decimal, fee: Decimal, notional: Decimal) {
        let r = self.trip_for(t);
        let total = r.open_qty + qty;
        if !total.is_zero() {
            r.avg_entry = (r.avg_entry * r.open_qty + t.price * qty) / total;
        }
        r.open_qty = total;
        r.max_qty = r.max_qty.max(total);
        r.fees += fee;
        r.net_pnl -= fee;
        r.turnover += notional;
        r.bookings += 1;
    }

    fn reduce(&mut self, t: &Trade, qty: Decimal, realized: Decimal, fee: Decimal, notional: Decimal, close: bool) {
        let r = self.trip_for(t);
        r.open_qty -= qty;
        r.exit_qty += qty;
        r.exit_notional += t.price * qty;
        r.avg_exit = (!r.exit_qty.is_zero()).then(|| (r.exit_notional / r.exit_qty).round_dp(AVG_DP));
        r.realized_pnl += realized;
        r.fees += fee;
        r.net_pnl += realized - fee;
        r.turnover += notional;
        r.bookings += 1;
        let mismatch = if close { !r.open_qty.is_zero() } else { r.open_qty <= Decimal::ZERO };
        if mismatch {
            let left = r.open_qty;
            self.warn(t, &format!("the booked quantities do not match its kind (left {left} after it)"));
        }
        if close {
            let mut r = self.open.shift_remove(&t.position_id).expect("present");
            r.open_qty = Decimal::ZERO;
            r.closed_at = Some(t.ts);
            self.closed.push(r);
        }
    }

    /// Ends the book: marks open positions with `last_price(symbol)` and returns
    /// `(closed, open, Σ unrealised)`, both lists in a deterministic order.
    pub(crate) fn finish(
        mut self,
        last_price: impl Fn(&str) -> Option<Decimal>,
    ) -> (Vec<RoundTrip>, Vec<RoundTrip>, Decimal, Vec<String>) {
        let mut open: Vec<RoundTrip> = self.open.drain(..).map(|(_, r)| r).collect();
        let mut unrealized = Decimal::ZERO;
        for r in &mut open {
            let mark = last_price(&r.symbol).unwrap_or_else(|| {
                self.warnings.push(format!(
                    "open position {} in {} has no price seen; marked at its entry price",
                    r.position_id, r.symbol
                ));
                r.avg_entry
            });
            r.mark = Some(mark);
            r.unrealized_pnl = (mark - r.avg_entry) * r.open_qty * r.sign();
            unrealized += r.unrealized_pnl;
        }
        open.sort_by_key(|a| (a.opened_at, a.position_id));
        // Closed trips are already in closing order (the order bookings arrived).
        (self.closed, open, unrealized, self.warnings)
    }
}

/// Trade statistics over a group of round trips (a strategy, a symbol, an LLM provider, all).
///
/// Over CLOSED round trips only: a win has net P&L > 0, a loss < 0, a scratch = 0 (counted
/// in `trades`, in neither average). `win_rate = wins / trades`; `profit_factor = Σ wins /
/// |Σ losses|`, `None` when there is no loss (undefined), 0 when every trade lost;
/// `expectancy = Σ net / trades`. Averages of money are rounded to 8 decimal places.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TradeStats {
    /// The group's name (strategy id, symbol, provider, or `all`).
    pub key: String,
    /// Closed round trips.
    pub trades: usize,
    /// Closed with net P&L > 0.
    pub wins: usize,
    /// Closed with net P&L < 0.
    pub losses: usize,
    /// `wins / trades`.
    pub win_rate: Option<f64>,
    /// `gross_profit / |gross_loss|`.
    pub profit_factor: Option<f64>,
    /// Σ net P&L of the wins.
    pub gross_profit: Decimal,
    /// Σ net P&L of the losses (≤ 0).
    pub gross_loss: Decimal,
    /// Mean net P&L of the wins.
    pub avg_win: Option<Decimal>,
    /// Mean net P&L of the losses (≤ 0).
    pub avg_loss: Option<Decimal>,
    /// Mean net P&L per closed round trip.
    pub expectancy: Option<Decimal>,
    /// Σ net P&L of closed round trips.
    pub net_pnl: Decimal,
    /// Σ fees of closed and open round trips' bookings.
    pub fees: Decimal,
    /// Σ |price × qty| of closed and open round trips' bookings.
    pub turnover: Decimal,
    /// Mean holding time of closed round trips, in seconds.
    pub avg_holding_secs: Option<f64>,
    /// Positions still open at the end.
    pub open_positions: usize,
    /// Σ unrealised P&L of those open positions at their marks.
    pub unrealized_pnl: Decimal,
}

impl TradeStats {
    /// Computes the statistics of `closed` and `open` round trips under the name `key`.
    pub(crate) fn of<'a>(
        key: &str,
        closed: impl IntoIterator<Item = &'a RoundTrip>,
        open: impl IntoIterator<Item = &'a RoundTrip>,
    ) -> Self {
        let mut s = Self {
            key: key.to_owned(),
            trades: 0,
            wins: 0,
            losses: 0,
            win_rate: None,
            profit_factor: None,
            gross_profit: Decimal::ZERO,
            gross_loss: Decimal::ZERO,
            avg_win: None,
            avg_loss: None,
            expectancy: None,
            net_pnl: Decimal::ZERO,
            fees: Decimal::ZERO,
            turnover: Decimal::ZERO,
            avg_holding_secs: None,
            open_positions: 0,
            unrealized_pnl: Decimal::ZERO,
        };
        let mut held_ns: i128 = 0;
        for r in closed {
            s.trades += 1;
            s.net_pnl += r.net_pnl;
            s.fees += r.fees;
            s.turnover += r.turnover;
            held_ns += i128::from(r.closed_at.map_or(0, |c| c.0 - r.opened_at.0));
            if r.net_pnl > Decimal::ZERO {
                s.wins += 1;
                s.gross_profit += r.net_pnl;
            } else if r.net_pnl < Decimal::ZERO {
                s.losses += 1;
                s.gross_loss += r.net_pnl;
            }
        }
        for r in open {
            s.open_positions += 1;
            s.fees += r.fees;
            s.turnover += r.turnover;
            s.unrealized_pnl += r.unrealized_pnl;
        }
        let avg = |sum: Decimal, n: usize| (n > 0).then(|| (sum / Decimal::from(n)).round_dp(AVG_DP));
        if s.trades > 0 {
            s.win_rate = Some(s.wins as f64 / s.trades as f64);
            s.avg_holding_secs = Some(held_ns as f64 / s.trades as f64 / 1e9);
        }
        s.avg_win = avg(s.gross_profit, s.wins);
        s.avg_loss = avg(s.gross_loss, s.losses);
        s.expectancy = avg(s.net_pnl, s.trades);
        if s.losses > 0 {
            use rust_decimal::prelude::ToPrimitive;
            s.profit_factor = (s.gross_profit / -s.gross_loss).to_f64();
        }
        s
    }

    /// One [`TradeStats`] per distinct value of `key_of`, sorted by key.
    pub(crate) fn grouped(
        closed: &[RoundTrip],
        open: &[RoundTrip],
        key_of: impl Fn(&RoundTrip) -> Option<&str>,
    ) -> Vec<Self> {
        let mut groups: BTreeMap<&str, (Vec<&RoundTrip>, Vec<&RoundTrip>)> = BTreeMap::new();
        for r in closed {
            if let Some(k) = key_of(r) {
                groups.entry(k).or_default().0.push(r);
            }
        }
        for r in open {
            if let Some(k) = key_of(r) {
                groups.entry(k).or_default().1.push(r);
            }
        }
        groups.into_iter().map(|(k, (c, o))| Self::of(k, c, o)).collect()
    }
}

/// One confidence bucket of the LLM calibration table.
///
/// Over closed round trips opened by LLM-carrying orders; a hit is a net P&L > 0.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CalibrationBucket {
    /// The bucket as text, e.g. `[0.6, 0.7)`.
    pub bucket: String,
    /// Lower bound (inclusive).
    pub from: f64,
    /// Upper bound (exclusive, except 1.0 which is inclusive).
    pub to: f64,
    /// Closed round trips in the bucket.
    pub trades: usize,
    /// Of those, net P&L > 0.
    pub hits: usize,
    /// `hits / trades`.
    pub hit_rate: Option<f64>,
    /// Mean stated confidence of the bucket's trades.
    pub mean_confidence: Option<f64>,
    /// Σ net P&L.
    pub net_pnl: Decimal,
    /// Mean net P&L per trade.
    pub avg_pnl: Option<Decimal>,
}

/// Bucket edges of the calibration table: `[0,0.5) [0.5,0.6) … [0.8,0.9) [0.9,1.0]`.
pub const CALIBRATION_EDGES: [f64; 7] = [0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

/// The calibration table over closed round trips carrying an LLM confidence; every bucket is
/// listed, empty ones with zero trades.
pub(crate) fn calibration(closed: &[RoundTrip]) -> Vec<CalibrationBucket> {
    let n = CALIBRATION_EDGES.len() - 1;
    let mut acc = vec![(0usize, 0usize, 0.0f64, Decimal::ZERO); n];
    for r in closed {
        let Some(c) = r.llm_confidence else { continue };
        let i = CALIBRATION_EDGES[1..n].iter().take_while(|&&edge| c >= edge).count();
        let a = &mut acc[i];
        a.0 += 1;
        a.1 += usize::from(r.net_pnl > Decimal::ZERO);
        a.2 += c;
        a.3 += r.net_pnl;
    }
    acc.into_iter()
        .enumerate()
        .map(|(i, (trades, hits, conf, pnl))| {
            let (from, to) = (CALIBRATION_EDGES[i], CALIBRATION_EDGES[i + 1]);
            let close = if i + 1 == n { ']' } else { ')' };
            CalibrationBucket {
                bucket: format!("[{from:.1}, {to:.1}{close}"),
                from,
                to,
                trades,
                hits,
                hit_rate: (trades > 0).then(|| hits as f64 / trades as f64),
                mean_confidence: (trades > 0).then(|| conf / trades as f64),
                net_pnl: pnl,
                avg_pnl: (trades > 0).then(|| (pnl / Decimal::from(trades)).round_dp(AVG_DP)),
            }
        })
        .collect()
}
