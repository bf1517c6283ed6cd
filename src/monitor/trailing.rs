//! Trailing-stop math as a pure function: activation, then a ratchet that only tightens.

use super::rules::{reached_favourable, tighter, Px};
use crate::model::{Side, TrailingOffset};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A trailing stop's runtime state (persisted with the monitor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TrailState {
    /// The best price since activation (highest for a long); `None` while not activated.
    pub best: Option<Decimal>,
    /// The current trigger; `None` while not activated.
    pub trigger: Option<Decimal>,
}

impl TrailState {
    /// A trail started at `best` for a position on `side` (the entry side).
    #[must_use]
    pub fn started(side: Side, offset: TrailingOffset, best: Decimal) -> Self {
        Self { best: Some(best), trigger: Some(offset.stop_from(side.opposite(), best)) }
    }
}

/// The trail after one price event that did not trigger it.
///
/// A trail that is not active starts when the event's favourable extreme (the high for a
/// long) reaches `activation`, with that extreme as its best price. An active trail takes a
/// better extreme as its new best and moves its trigger to `offset` from it
/// ([`TrailingOffset::stop_from`] with the exit side), only when that is tighter.
#[must_use]
pub fn advance(
    side: Side,
    offset: TrailingOffset,
    activation: Option<Decimal>,
    state: TrailState,
    px: Px,
) -> TrailState {
    advance_with(side, offset, activation, state, px, &mut StopMemo::default()).unwrap_or(state)
}

/// [`advance`] with a memo of the stop prices computed during the current price event;
/// `None` when the trail does not change.
pub(crate) fn advance_with(
    side: Side,
    offset: TrailingOffset,
    activation: Option<Decimal>,
    state: TrailState,
    px: Px,
    memo: &mut StopMemo,
) -> Option<TrailState> {
    let fav = px.favourable(side);
    let Some(best) = state.best else {
        return match activation {
            Some(a) if !reached_favourable(side, fav, a) => None,
            _ => Some(TrailState { best: Some(fav), trigger: Some(memo.stop_from(offset, side.opposite(), fav)) }),
        };
    };
    if !tighter(side, fav, best) {
        return None;
    }
    // A strictly better best price: the state changes.
    let candidate = memo.stop_from(offset, side.opposite(), fav);
    let trigger = match state.trigger {
        Some(t) if !tighter(side, candidate, t) => t,
        _ => candidate,
    };
    Some(TrailState { best: Some(fav), trigger: Some(trigger) })
}

/// Remembers the last few percent-offset stop prices ([`TrailingOffset::stop_from`]), so the
/// many trails of one symbol that ratchet on the same price event with the same offset pay
/// for the Decimal division once. Keys compare offsets and prices by representation (value
/// and scale), so a hit returns exactly what the computation would (scale included).
#[derive(Debug, Default)]
pub(crate) struct StopMemo {
    entries: [Option<MemoEntry>; MEMO_SLOTS],
    next: usize,
}

const MEMO_SLOTS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct MemoEntry {
    side: Side,
    percent: [u8; 16],
    base: [u8; 16],
    stop: Decimal,
}

impl StopMemo {
    /// `offset.stop_from(side, base)`, from the memo when the same (side, offset, base) was
    /// asked for before.
    pub(crate) fn stop_from(&mut self, offset: TrailingOffset, side: Side, base: Decimal) -> Decimal {
        let TrailingOffset::Percent(p) = offset else { return offset.stop_from(side, base) };
        let (percent, base_key) = (p.serialize(), base.serialize());
        let hit = self.entries.iter().flatten().find(|e| e.side == side && e.percent == percent && e.base == base_key);
        if let Some(e) = hit {
            return e.stop;
        }
        let stop = offset.stop_from(side, base);
        self.entries[self.next] = Some(MemoEntry { side, percent, base: base_key, stop });
        self.next = (self.next + 1) % MEMO_SLOTS;
        stop
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn bar(open: Decimal, high: Decimal, low: Decimal) -> Px {
        Px { open, high, low }
    }

    #[test]
    fn long_percent_trail_ratchets_up_only() {
        let off = TrailingOffset::Percent(dec!(2));
        let s0 = TrailState::started(Side::Buy, off, dec!(100));
        assert_eq!(s0, TrailState { best: Some(dec!(100)), trigger: Some(dec!(98)) });
        // (bar, expected best, expected trigger)
        let steps = [
            (bar(dec!(100), dec!(105), dec!(99)), dec!(105), dec!(102.9)), // 105 × 0.98
            (bar(dec!(104), dec!(104.5), dec!(103)), dec!(105), dec!(102.9)), // lower high: unchanged
            (bar(dec!(104), dec!(110), dec!(103)), dec!(110), dec!(107.8)),
        ];
        let mut s = s0;
        for (px, best, trig) in steps {
            s = advance(Side::Buy, off, None, s, px);
            assert_eq!((s.best, s.trigger), (Some(best), Some(trig)), "{px:?}");
        }
    }

    #[test]
    fn short_amount_trail_with_activation() {
        let off = TrailingOffset::Amount(dec!(1.5));
        let act = Some(dec!(95));
        let mut s = TrailState::default();
        // Low 95.5 has not reached the activation 95: inactive.
        s = advance(Side::Sell, off, act, s, bar(dec!(98), dec!(99), dec!(95.5)));
        assert_eq!(s, TrailState::default());
        // Low 94 reaches it: best 94, trigger 95.5.
        s = advance(Side::Sell, off, act, s, bar(dec!(96), dec!(97), dec!(94)));
        assert_eq!(s, TrailState { best: Some(dec!(94)), trigger: Some(dec!(95.5)) });
        // Low 92 → trigger 93.5; a higher low 93 later changes nothing.
        s = advance(Side::Sell, off, act, s, bar(dec!(94), dec!(94.5), dec!(92)));
        assert_eq!(s, TrailState { best: Some(dec!(92)), trigger: Some(dec!(93.5)) });
        s = advance(Side::Sell, off, act, s, bar(dec!(93), dec!(93.4), dec!(93)));
        assert_eq!(s, TrailState { best: Some(dec!(92)), trigger: Some(dec!(93.5)) });
    }

    proptest::proptest! {
        /// The memo returns exactly what the computation does (value and scale), however
        /// offsets, sides and prices interleave.
        #[test]
        fn memo_is_exact(
            asks in proptest::collection::vec((0u8..2, 0usize..6, 0usize..6), 1..60)
        ) {
            let offsets = [
                TrailingOffset::Percent(dec!(15)),
                TrailingOffset::Percent(dec!(15.0)),
                TrailingOffset::Percent(dec!(2.5)),
                TrailingOffset::Percent(dec!(0.333)),
                TrailingOffset::Amount(dec!(1.5)),
                TrailingOffset::Percent(dec!(99.99)),
            ];
            let bases = [dec!(100), dec!(100.00), dec!(105.37), dec!(0.0001), dec!(99999.999), dec!(7)];
            let mut memo = StopMemo::default();
            for (side, o, b) in asks {
                let side = if side == 0 { Side::Buy } else { Side::Sell };
                let want = offsets[o].stop_from(side, bases[b]);
                let got = memo.stop_from(offsets[o], side, bases[b]);
                proptest::prop_assert_eq!(got.serialize(), want.serialize(), "{:?} {} {}", offsets[o], side, bases[b]);
            }
        }
    }
}
