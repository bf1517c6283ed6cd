//! The simulated venue's own record of a working order: what is left, how it executes now,
//! and when it may first match and must expire. Built from an [`Order`] on submit; changed by
//! modifications and by matching.

use super::matching::Rule;
use crate::model::{ClientOrderId, Instrument, Modification, Order, OrderType, Side, TimeInForce, Timestamp};
use rust_decimal::Decimal;

/// A working order inside the simulated venue.
#[derive(Debug, Clone)]
pub(crate) struct Working {
    /// Our id.
    pub cid: ClientOrderId,
    /// Arrival sequence at the venue (the `n` of `SIM-<n>`); books are sorted by it.
    pub seq: u64,
    /// Buy or sell.
    pub side: Side,
    /// Time in force.
    pub tif: TimeInForce,
    /// Total quantity.
    pub qty: Decimal,
    /// Filled so far at this venue (plus whatever was filled before submission).
    pub filled: Decimal,
    /// How it executes now.
    pub rule: Rule,
    /// First event time it may match at (submit time + latency).
    pub active_from: Timestamp,
    /// DAY orders: the session end at which it expires.
    pub expires_at: Option<Timestamp>,
    /// Whether it has seen its first price event (IOC/FOK decide there; limits are taker there).
    pub seen_price: bool,
    /// False once filled, cancelled or expired (removed at the next sweep).
    pub live: bool,
}

impl Working {
    /// Builds the record, or says why the venue refuses the order.
    ///
    /// # Errors
    /// A static reason when the order has nothing left to fill or lacks a price its type needs.
    pub(crate) fn from_order(
        order: &Order,
        seq: u64,
        active_from: Timestamp,
        expires_at: Option<Timestamp>,
    ) -> Result<Self, &'static str> {
        if order.qty() <= order.filled_qty() || order.qty() <= Decimal::ZERO {
            return Err("order has no quantity left to fill");
        }
        let rule = initial_rule(order)?;
        Ok(Self {
            cid: order.cid.clone(),
            seq,
            side: order.side,
            tif: order.tif,
            qty: order.qty(),
            filled: order.filled_qty(),
            rule,
            active_from,
            expires_at,
            seen_price: false,
            live: true,
        })
    }

    /// Quantity still to fill.
    #[must_use]
    pub(crate) fn leaves(&self) -> Decimal {
        self.qty - self.filled
    }

    /// Checks a modification against the venue's rules and applies it whole, or refuses it
    /// and changes nothing.
    ///
    /// # Errors
    /// A static reason naming the refused part.
    pub(crate) fn modify(&mut self, m: &Modification, instrument: &Instrument) -> Result<(), &'static str> {
        if m.qty.is_none() && m.limit_price.is_none() && m.stop_price.is_none() {
            return Err("modification changes nothing");
        }
        if let Some(q) = m.qty {
            if q <= self.filled {
                return Err("quantity must stay above the filled quantity");
            }
            if instrument.check_qty(q).is_err() {
                return Err("quantity is not a multiple of the lot size");
            }
        }
        for p in [m.limit_price, m.stop_price].into_iter().flatten() {
            if p <= Decimal::ZERO {
                return Err("price must be positive");
            }
            if instrument.check_price(p).is_err() {
                return Err("price is not a multiple of the tick size");
            }
        }
        let rule = modified_rule(self.rule, self.side, m)?;
        if let Some(q) = m.qty {
            self.qty = q;
        }
        self.rule = rule;
        Ok(())
    }
}

fn initial_rule(order: &Order) -> Result<Rule, &'static str> {
    let limit = order.limit_price().filter(|p| *p > Decimal::ZERO);
    let stop = order.stop_price().filter(|p| *p > Decimal::ZERO);
    match order.order_type {
        OrderType::Market => Ok(Rule::Market),
        OrderType::Limit => {
            limit.map(|limit| Rule::Limit { limit }).ok_or("limit order without a positive limit price")
        }
        OrderType::Stop => stop.map(|stop| Rule::Stop { stop }).ok_or("stop order without a positive stop price"),
        OrderType::StopLimit => match (stop, limit) {
            (Some(stop), Some(limit)) => Ok(Rule::StopLimit { stop, limit }),
            _ => Err("stop-limit order without positive stop and limit prices"),
        },
        OrderType::TrailingStop => match order.trailing() {
            Some(offset) if offset.value() > Decimal::ZERO => Ok(Rule::Trailing { offset, trigger: stop }),
            _ => Err("trailing stop without a positive offset"),
        },
    }
}

fn modified_rule(rule: Rule, side: Side, m: &Modification) -> Result<Rule, &'static str> {
    let stop_ok_with_limit = |stop: Decimal, limit: Decimal| match side {
        Side::Buy => limit >= stop,
        Side::Sell => limit <= stop,
    };
    match rule {
        Rule::Market => match (m.limit_price, m.stop_price) {
            (None, None) => Ok(rule),
            _ => Err("order has no price to modify (market or triggered stop)"),
        },
        Rule::Limit { limit } => match m.stop_price {
            Some(_) => Err("order takes no stop price (limit or triggered stop-limit)"),
            None => Ok(Rule::Limit { limit: m.limit_price.unwrap_or(limit) }),
        },
        Rule::Stop { stop } => match m.limit_price {
            Some(_) => Err("stop order takes no limit price"),
            None => Ok(Rule::Stop { stop: m.stop_price.unwrap_or(stop) }),
        },
        Rule::StopLimit { stop, limit } => {
            let (stop, limit) = (m.stop_price.unwrap_or(stop), m.limit_price.unwrap_or(limit));
            if stop_ok_with_limit(stop, limit) {
                Ok(Rule::StopLimit { stop, limit })
            } else {
                Err("stop-limit limit price would be unreachable at the stop")
            }
        }
        Rule::Trailing { offset, trigger } => match m.limit_price {
            Some(_) => Err("trailing stop takes no limit price"),
            None => Ok(Rule::Trailing { offset, trigger: m.stop_price.or(trigger) }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrailingOffset;
    use rust_decimal_macros::dec;

    fn working(rule: Rule, side: Side, filled: Decimal) -> Working {
        Working {
            cid: ClientOrderId::try_new("c1").unwrap(),
            seq: 1,
            side,
            tif: TimeInForce::Gtc,
            qty: dec!(10),
            filled,
            rule,
            active_from: Timestamp(0),
            expires_at: None,
            seen_price: false,
            live: true,
        }
    }

    /// (rule, side, filled, change, expected rule or reason, expected qty).
    type Case = (Rule, Side, Decimal, Modification, Result<Rule, &'static str>, Decimal);

    #[test]
    fn modification_cases() {
        let aapl = Instrument::us_stock("AAPL");
        let m = |qty, limit_price, stop_price| Modification { qty, limit_price, stop_price };
        let trail = Rule::Trailing { offset: TrailingOffset::Amount(dec!(1)), trigger: Some(dec!(99)) };
        let cases: [Case; 9] = [
            (
                Rule::Limit { limit: dec!(100) },
                Side::Buy,
                dec!(0),
                m(Some(dec!(12)), Some(dec!(101)), None),
                Ok(Rule::Limit { limit: dec!(101) }),
                dec!(12),
            ),
            (
                Rule::Limit { limit: dec!(100) },
                Side::Buy,
                dec!(4),
                m(Some(dec!(4)), None, None),
                Err("quantity must stay above the filled quantity"),
                dec!(10),
            ),
            (
                Rule::Limit { limit: dec!(100) },
                Side::Buy,
                dec!(0),
                m(Some(dec!(2.5)), None, None),
                Err("quantity is not a multiple of the lot size"),
                dec!(10),
            ),
            (
                Rule::Limit { limit: dec!(100) },
                Side::Buy,
                dec!(0),
                m(None, Some(dec!(100.005)), None),
                Err("price is not a multiple of the tick size"),
                dec!(10),
            ),
            (
                Rule::Limit { limit: dec!(100) },
                Side::Buy,
                dec!(0),
                m(None, None, Some(dec!(99))),
                Err("order takes no stop price (limit or triggered stop-limit)"),
                dec!(10),
            ),
            (
                Rule::Market,
                Side::Sell,
                dec!(0),
                m(None, None, Some(dec!(99))),
                Err("order has no price to modify (market or triggered stop)"),
                dec!(10),
            ),
            (
                Rule::StopLimit { stop: dec!(105), limit: dec!(106) },
                Side::Buy,
                dec!(0),
                m(None, Some(dec!(104)), None),
                Err("stop-limit limit price would be unreachable at the stop"),
                dec!(10),
            ),
            (
                Rule::StopLimit { stop: dec!(95), limit: dec!(94) },
                Side::Sell,
                dec!(0),
                m(None, Some(dec!(93)), Some(dec!(96))),
                Ok(Rule::StopLimit { stop: dec!(96), limit: dec!(93) }),
                dec!(10),
            ),
            (
                trail,
                Side::Sell,
                dec!(0),
                m(None, None, Some(dec!(97))),
                Ok(Rule::Trailing { offset: TrailingOffset::Amount(dec!(1)), trigger: Some(dec!(97)) }),
                dec!(10),
            ),
        ];
        for (rule, side, filled, change, want, want_qty) in cases {
            let mut w = working(rule, side, filled);
            let got = w.modify(&change, &aapl);
            match want {
                Ok(r) => {
                    assert_eq!(got, Ok(()), "{change:?}");
                    assert_eq!(w.rule, r);
                }
                Err(reason) => {
                    assert_eq!(got, Err(reason), "{change:?}");
                    assert_eq!(w.rule, rule, "refused modification leaves the rule");
                }
            }
            assert_eq!(w.qty, want_qty);
        }
    }
}
