//! Maker/taker fees of the simulated venue.

use super::fill_model::BPS;
use crate::model::Liquidity;
use rust_decimal::Decimal;

/// Fee for one execution: notional × bps / 10 000, in the instrument's quote currency, at the
/// maker or the taker rate. Exact (no rounding); a negative rate is a rebate.
#[must_use]
pub(crate) fn fee(
    price: Decimal,
    qty: Decimal,
    liquidity: Liquidity,
    maker_bps: Decimal,
    taker_bps: Decimal,
) -> Decimal {
    let bps = match liquidity {
        Liquidity::Maker => maker_bps,
        Liquidity::Taker => taker_bps,
    };
    price * qty * bps / BPS
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn fee_cases() {
        // (price, qty, liquidity, expected) at maker 2 bps, taker 10 bps:
        // 100.05 × 3 = 300.15 -> taker 0.30015, maker 0.06003; -1 bps maker rebate on 200.
        let cases = [
            (dec!(100.05), dec!(3), Liquidity::Taker, dec!(10), dec!(0.30015)),
            (dec!(100.05), dec!(3), Liquidity::Maker, dec!(2), dec!(0.06003)),
            (dec!(100), dec!(2), Liquidity::Maker, dec!(-1), dec!(-0.02)),
            (dec!(100), dec!(2), Liquidity::Taker, dec!(0), dec!(0)),
        ];
        for (price, qty, liq, bps, want) in cases {
            let (maker, taker) = match liq {
                Liquidity::Maker => (bps, dec!(99)),
                Liquidity::Taker => (dec!(99), bps),
            };
            assert_eq!(fee(price, qty, liq, maker, taker), want, "{price} {qty} {liq:?}");
        }
    }
}
