//! Pure price rules: given a working order's rule and what one side of the market showed
//! during one event, the price it fills at (if any) and its rule for the next event.
//!
//! Nothing here knows about quantities, volume caps, fees or time in force; see `mod.rs`.

use super::fill_model::round_adverse;
use crate::model::{Liquidity, Side, TrailingOffset};
use rust_decimal::Decimal;

/// What one side of the market showed during one event.
///
/// A bar gives its open, high and low; a trade tick is a bar with all three equal to the trade
/// price; a quote gives the ask to buys and the bid to sells as all three.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Px {
    /// First price of the event.
    pub open: Decimal,
    /// Highest price of the event.
    pub high: Decimal,
    /// Lowest price of the event.
    pub low: Decimal,
    /// Quotes: a resting limit that the opposite quote crosses fills at its limit price, not
    /// at the (better) quote.
    pub quote: bool,
}

impl Px {
    /// An event with one price (a trade tick, or one side of a quote).
    #[must_use]
    pub(crate) fn flat(price: Decimal, quote: bool) -> Self {
        Self { open: price, high: price, low: price, quote }
    }

    /// The event's extreme that is best for `side` (low for a buy, high for a sell).
    fn best_for(self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.low,
            Side::Sell => self.high,
        }
    }

    /// The event's extreme that is worst for `side` (high for a buy, low for a sell).
    fn worst_for(self, side: Side) -> Decimal {
        match side {
            Side::Buy => self.high,
            Side::Sell => self.low,
        }
    }
}

/// Whether `price` is at `level` or better for `side` (at or below for a buy).
fn at_or_better(side: Side, price: Decimal, level: Decimal) -> bool {
    match side {
        Side::Buy => price <= level,
        Side::Sell => price >= level,
    }
}

/// Whether `price` has reached a stop `level` for `side` (at or above for a buy).
fn reached(side: Side, price: Decimal, level: Decimal) -> bool {
    match side {
        Side::Buy => price >= level,
        Side::Sell => price <= level,
    }
}

/// How a working order executes now. Triggered stops become [`Rule::Market`] or
/// [`Rule::Limit`] for whatever is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// Fill at the first price seen.
    Market,
    /// Fill at the limit or better.
    Limit {
        /// Limit price.
        limit: Decimal,
    },
    /// Untriggered stop-market.
    Stop {
        /// Trigger price.
        stop: Decimal,
    },
    /// Untriggered stop-limit.
    StopLimit {
        /// Trigger price.
        stop: Decimal,
        /// Limit once triggered.
        limit: Decimal,
    },
    /// Untriggered trailing stop.
    Trailing {
        /// Distance from the best price.
        offset: TrailingOffset,
        /// Current trigger; `None` until the first price is seen.
        trigger: Option<Decimal>,
    },
}

/// A price the order fills at during this event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hit {
    /// Execution price before slippage.
    pub price: Decimal,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Whether slippage applies (market-like fills: market, stop, trailing stop).
    pub slips: bool,
}

impl Hit {
    fn market(price: Decimal) -> Self {
        Self { price, liquidity: Liquidity::Taker, slips: true }
    }
    fn limit(price: Decimal, liquidity: Liquidity) -> Self {
        Self { price, liquidity, slips: false }
    }
}

/// The outcome of one event for one order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Step {
    /// The rule for what is left after this event (whether or not the hit filled anything).
    pub next: Rule,
    /// Where it fills now, if it does.
    pub hit: Option<Hit>,
    /// The trailing trigger, when this event changed it.
    pub moved: Option<Decimal>,
}

impl Step {
    fn stay(rule: Rule) -> Self {
        Self { next: rule, hit: None, moved: None }
    }
}

/// Applies one event to one order.
///
/// `first` is true for the first event the order ever sees; `tick` rounds trailing triggers
/// away from the market (down for a sell stop, up for a buy stop).
#[must_use]
pub(crate) fn evaluate(rule: Rule, side: Side, px: Px, first: bool, tick: Decimal) -> Step {
    match rule {
        Rule::Market => Step { next: rule, hit: Some(Hit::market(px.open)), moved: None },
        Rule::Limit { limit } => Step { next: rule, hit: limit_hit(side, limit, px, first), moved: None },
        Rule::Stop { stop } => match stop_hit(side, stop, px) {
            Some(price) => Step { next: Rule::Market, hit: Some(Hit::market(price)), moved: None },
            None => Step::stay(rule),
        },
        Rule::StopLimit { stop, limit } => {
            let Some(trigger) = stop_hit(side, stop, px) else { return Step::stay(rule) };
            // Triggered at `trigger` (the open on a gap, else the stop): it becomes a limit that
            // fills there if that is within the limit, else rests from the next event.
            let hit = at_or_better(side, trigger, limit).then(|| Hit::limit(trigger, Liquidity::Taker));
            Step { next: Rule::Limit { limit }, hit, moved: None }
        }
        Rule::Trailing { offset, trigger } => trailing(side, offset, trigger, px, tick),
    }
}

/// Limit rule: the open if it is at the limit or better (taker on the first event, else
/// maker); else the limit when the event's best price reaches it (maker). On quotes a resting
/// limit that gets crossed fills at the limit.
fn limit_hit(side: Side, limit: Decimal, px: Px, first: bool) -> Option<Hit> {
    if at_or_better(side, px.open, limit) {
        if first {
            return Some(Hit::limit(px.open, Liquidity::Taker));
        }
        let price = if px.quote { limit } else { px.open };
        return Some(Hit::limit(price, Liquidity::Maker));
    }
    at_or_better(side, px.best_for(side), limit).then(|| Hit::limit(limit, Liquidity::Maker))
}

/// Stop rule: the open on a gap through the stop, else the stop when the event's worst price
/// reaches it; `None` when untouched.
fn stop_hit(side: Side, stop: Decimal, px: Px) -> Option<Decimal> {
    if reached(side, px.open, stop) {
        Some(px.open)
    } else if reached(side, px.worst_for(side), stop) {
        Some(stop)
    } else {
        None
    }
}

/// Trailing rule: start the trigger from the first open, test this event against the trigger,
/// then (when not triggered) ratchet it with this event's best price, only favourably.
fn trailing(side: Side, offset: TrailingOffset, trigger: Option<Decimal>, px: Px, tick: Decimal) -> Step {
    let start = trigger.unwrap_or_else(|| round_adverse(offset.stop_from(side, px.open), side, tick));
    if let Some(price) = stop_hit(side, start, px) {
        let moved = trigger.is_none().then_some(start);
        return Step { next: Rule::Market, hit: Some(Hit::market(price)), moved };
    }
    let candidate = round_adverse(offset.stop_from(side, px.best_for(side)), side, tick);
    let tightened = match side {
        Side::Sell => candidate > start,
        Side::Buy => candidate < start,
    };
    let now = if tightened { candidate } else { start };
    let moved = (trigger != Some(now)).then_some(now);
    Step { next: Rule::Trailing { offset, trigger: Some(now) }, hit: None, moved }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn bar(open: Decimal, high: Decimal, low: Decimal) -> Px {
        Px { open, high, low, quote: false }
    }

    const TICK: Decimal = Decimal::from_parts(1, 0, 0, false, 2);

    fn hit(price: Decimal, liquidity: Liquidity, slips: bool) -> Option<Hit> {
        Some(Hit { price, liquidity, slips })
    }

    #[test]
    fn market_fills_at_the_open_both_sides() {
        for side in [Side::Buy, Side::Sell] {
            let s = evaluate(Rule::Market, side, bar(dec!(100), dec!(105), dec!(95)), true, TICK);
            assert_eq!(s, Step { next: Rule::Market, hit: hit(dec!(100), Liquidity::Taker, true), moved: None });
        }
    }

    #[test]
    fn limit_cases() {
        use Liquidity::{Maker, Taker};
        // (side, limit, bar o/h/l, first, expected hit)
        let cases = [
            // Buy 99: open 100 above, low 98 touches -> 99 maker.
            (Side::Buy, dec!(99), bar(dec!(100), dec!(101), dec!(98)), true, hit(dec!(99), Maker, false)),
            // Buy 101 marketable at arrival open 100 -> 100 taker.
            (Side::Buy, dec!(101), bar(dec!(100), dec!(102), dec!(99)), true, hit(dec!(100), Taker, false)),
            // Resting buy 101, later bar gaps down to 100 -> 100 maker (the better price).
            (Side::Buy, dec!(101), bar(dec!(100), dec!(102), dec!(99)), false, hit(dec!(100), Maker, false)),
            // Buy 97, low 98: untouched.
            (Side::Buy, dec!(97), bar(dec!(100), dec!(101), dec!(98)), false, None),
            // Buy 98 touched exactly at the low.
            (Side::Buy, dec!(98), bar(dec!(100), dec!(101), dec!(98)), false, hit(dec!(98), Maker, false)),
            // Sell 101: open 100 below, high 102 reaches -> 101 maker.
            (Side::Sell, dec!(101), bar(dec!(100), dec!(102), dec!(99)), true, hit(dec!(101), Maker, false)),
            // Sell 99 marketable at open 100 -> 100 taker; later -> maker.
            (Side::Sell, dec!(99), bar(dec!(100), dec!(102), dec!(98)), true, hit(dec!(100), Taker, false)),
            (Side::Sell, dec!(99), bar(dec!(100), dec!(102), dec!(98)), false, hit(dec!(100), Maker, false)),
            // Sell 103, high 102: untouched.
            (Side::Sell, dec!(103), bar(dec!(100), dec!(102), dec!(98)), false, None),
        ];
        for (side, limit, px, first, want) in cases {
            let s = evaluate(Rule::Limit { limit }, side, px, first, TICK);
            assert_eq!(s.hit, want, "{side} limit {limit} first={first}");
            assert_eq!(s.next, Rule::Limit { limit });
        }
    }

    #[test]
    fn quote_limits_fill_at_the_quote_on_arrival_and_at_the_limit_when_crossed_later() {
        let ask = Px::flat(dec!(99.50), true);
        let on_arrival = evaluate(Rule::Limit { limit: dec!(100) }, Side::Buy, ask, true, TICK);
        assert_eq!(on_arrival.hit, hit(dec!(99.50), Liquidity::Taker, false));
        let resting = evaluate(Rule::Limit { limit: dec!(100) }, Side::Buy, ask, false, TICK);
        assert_eq!(resting.hit, hit(dec!(100), Liquidity::Maker, false));
        let bid = Px::flat(dec!(100.50), true);
        let resting_sell = evaluate(Rule::Limit { limit: dec!(100) }, Side::Sell, bid, false, TICK);
        assert_eq!(resting_sell.hit, hit(dec!(100), Liquidity::Maker, false));
        let not_crossed = evaluate(Rule::Limit { limit: dec!(101) }, Side::Sell, bid, false, TICK);
        assert_eq!(not_crossed.hit, None);
    }

    #[test]
    fn stop_cases() {
        // (side, stop, bar o/h/l, expected fill price before slippage)
        let cases = [
            // Buy stop 105: open 100, high 106 -> 105.
            (Side::Buy, dec!(105), bar(dec!(100), dec!(106), dec!(99)), Some(dec!(105))),
            // Buy stop 105: gap open 107 -> 107 (worse than the stop).
            (Side::Buy, dec!(105), bar(dec!(107), dec!(108), dec!(106)), Some(dec!(107))),
            // Buy stop 105: high 104.99 -> nothing.
            (Side::Buy, dec!(105), bar(dec!(100), dec!(104.99), dec!(99)), None),
            // Sell stop 95: low 94 -> 95.
            (Side::Sell, dec!(95), bar(dec!(100), dec!(101), dec!(94)), Some(dec!(95))),
            // Sell stop 95: gap open 93 -> 93.
            (Side::Sell, dec!(95), bar(dec!(93), dec!(96), dec!(92)), Some(dec!(93))),
            // Sell stop 95: low 95.01 -> nothing.
            (Side::Sell, dec!(95), bar(dec!(100), dec!(101), dec!(95.01)), None),
        ];
        for (side, stop, px, want) in cases {
            let s = evaluate(Rule::Stop { stop }, side, px, false, TICK);
            match want {
                Some(p) => {
                    assert_eq!(s, Step { next: Rule::Market, hit: hit(p, Liquidity::Taker, true), moved: None })
                }
                None => assert_eq!(s, Step::stay(Rule::Stop { stop })),
            }
        }
    }

    #[test]
    fn stop_limit_cases() {
        let t = Liquidity::Taker;
        // (side, stop, limit, bar, expected hit); the rule afterwards is the limit when triggered.
        let cases = [
            // Buy stop 105 limit 106, high 107: triggered intrabar at 105, within limit -> 105.
            (Side::Buy, dec!(105), dec!(106), bar(dec!(100), dec!(107), dec!(99)), Some(hit(dec!(105), t, false))),
            // Gap open 105.50 within limit 106 -> 105.50.
            (
                Side::Buy,
                dec!(105),
                dec!(106),
                bar(dec!(105.50), dec!(107), dec!(105)),
                Some(hit(dec!(105.50), t, false)),
            ),
            // Gap open 107 beyond limit 106 -> triggered, rests as limit 106 from the next bar.
            (Side::Buy, dec!(105), dec!(106), bar(dec!(107), dec!(108), dec!(105)), Some(None)),
            // Not triggered.
            (Side::Buy, dec!(105), dec!(106), bar(dec!(100), dec!(104), dec!(99)), None),
            // Sell stop 95 limit 94: low 93 -> 95.
            (Side::Sell, dec!(95), dec!(94), bar(dec!(100), dec!(101), dec!(93)), Some(hit(dec!(95), t, false))),
            // Sell gap open 94.50 within limit 94 -> 94.50.
            (Side::Sell, dec!(95), dec!(94), bar(dec!(94.50), dec!(95), dec!(90)), Some(hit(dec!(94.50), t, false))),
            // Sell gap open 93 below limit 94 -> rests.
            (Side::Sell, dec!(95), dec!(94), bar(dec!(93), dec!(94.50), dec!(92)), Some(None)),
        ];
        for (side, stop, limit, px, want) in cases {
            let s = evaluate(Rule::StopLimit { stop, limit }, side, px, false, TICK);
            match want {
                Some(h) => {
                    assert_eq!(s.next, Rule::Limit { limit }, "{side} {stop}/{limit}");
                    assert_eq!(s.hit, h, "{side} {stop}/{limit}");
                }
                None => assert_eq!(s, Step::stay(Rule::StopLimit { stop, limit })),
            }
        }
        // Rested after a gap, the next bar touching 106 fills it as a maker at the limit.
        let next =
            evaluate(Rule::Limit { limit: dec!(106) }, Side::Buy, bar(dec!(107), dec!(108), dec!(105.5)), false, TICK);
        assert_eq!(next.hit, hit(dec!(106), Liquidity::Maker, false));
    }

    #[test]
    fn trailing_sell_starts_at_the_open_tests_then_ratchets() {
        let offset = TrailingOffset::Amount(dec!(2));
        // Arrival bar o100 h104 l99: trigger 98, low 99 untouched; ratchet with high 104 -> 102.
        let s1 = evaluate(
            Rule::Trailing { offset, trigger: None },
            Side::Sell,
            bar(dec!(100), dec!(104), dec!(99)),
            true,
            TICK,
        );
        assert_eq!(
            s1,
            Step { next: Rule::Trailing { offset, trigger: Some(dec!(102)) }, hit: None, moved: Some(dec!(102)) }
        );
        // Next bar o103 h103.5 l102.5: untouched; high 103.5 -> 101.5 would loosen: unchanged, no event.
        let s2 = evaluate(s1.next, Side::Sell, bar(dec!(103), dec!(103.5), dec!(102.5)), false, TICK);
        assert_eq!(s2, Step::stay(Rule::Trailing { offset, trigger: Some(dec!(102)) }));
        // Next bar o103 h110 l101: tested FIRST against 102 -> fills at 102 (the high comes too late).
        let s3 = evaluate(s2.next, Side::Sell, bar(dec!(103), dec!(110), dec!(101)), false, TICK);
        assert_eq!(s3, Step { next: Rule::Market, hit: hit(dec!(102), Liquidity::Taker, true), moved: None });
        // A gap below the trigger fills at the open.
        let s4 = evaluate(s2.next, Side::Sell, bar(dec!(100), dec!(101), dec!(99)), false, TICK);
        assert_eq!(s4.hit, hit(dec!(100), Liquidity::Taker, true));
    }

    #[test]
    fn trailing_buy_mirrors_and_percent_rounds_away_from_the_market() {
        // Buy 1 %: arrival open 100.33 -> 101.3333 -> rounded up 101.34; low 99 -> 99.99 tighter.
        let offset = TrailingOffset::Percent(dec!(1));
        let s1 = evaluate(
            Rule::Trailing { offset, trigger: None },
            Side::Buy,
            bar(dec!(100.33), dec!(101), dec!(99)),
            true,
            TICK,
        );
        assert_eq!(s1.next, Rule::Trailing { offset, trigger: Some(dec!(99.99)) });
        assert_eq!(s1.moved, Some(dec!(99.99)));
        // Arrival bar whose high reaches the initial trigger 101.34 fills there (moved reports it).
        let s2 = evaluate(
            Rule::Trailing { offset, trigger: None },
            Side::Buy,
            bar(dec!(100.33), dec!(102), dec!(100)),
            true,
            TICK,
        );
        assert_eq!(
            s2,
            Step { next: Rule::Market, hit: hit(dec!(101.34), Liquidity::Taker, true), moved: Some(dec!(101.34)) }
        );
        // Sell 1 % from 100.33 -> 99.3267 -> rounded down 99.32.
        let s3 = evaluate(
            Rule::Trailing { offset, trigger: None },
            Side::Sell,
            bar(dec!(100.33), dec!(100.33), dec!(99.5)),
            true,
            TICK,
        );
        assert_eq!(s3.moved, Some(dec!(99.32)));
    }
}
