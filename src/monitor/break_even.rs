//! Break-even math: where the stop moves once the favourable excursion reaches the trigger.

use crate::model::Side;
use rust_decimal::Decimal;

/// The break-even stop for a position on `side` entered at `entry` holding `qty` (> 0): the
/// entry, plus (long) or minus (short) the per-unit fees `fees / qty` when `plus_fees`.
#[must_use]
pub fn stop_price(side: Side, entry: Decimal, fees: Decimal, qty: Decimal, plus_fees: bool) -> Decimal {
    if !plus_fees || qty.is_zero() {
        return entry;
    }
    let per_unit = fees / qty;
    match side {
        Side::Buy => entry + per_unit,
        Side::Sell => entry - per_unit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn break_even_price_cases() {
        // (side, entry, fees, qty, plus_fees, expected)
        let cases = [
            (Side::Buy, dec!(100), dec!(2), dec!(10), false, dec!(100)),
            (Side::Buy, dec!(100), dec!(2), dec!(10), true, dec!(100.2)),
            (Side::Sell, dec!(100), dec!(2), dec!(10), true, dec!(99.8)),
            (Side::Sell, dec!(50), dec!(0.03), dec!(4), true, dec!(49.9925)),
        ];
        for (side, entry, fees, qty, plus, want) in cases {
            assert_eq!(stop_price(side, entry, fees, qty, plus), want, "{side} {entry} {fees}/{qty} {plus}");
        }
    }
}
