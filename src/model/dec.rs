//! Fast paths for the few `Decimal` operations that run on every price update (marking
//! positions, exposure, drawdown tracking, risk bands).
//!
//! Prices, quantities and amounts on one book mostly share a scale and have small mantissas;
//! for those, comparing, subtracting and multiplying is plain integer arithmetic on the
//! mantissas. Every function returns exactly what the `rust_decimal` operator returns, the
//! same value *and* the same representation (mantissa and scale); anything outside the fast
//! path goes through the operator itself. A property test pins that equivalence.

use rust_decimal::Decimal;
use std::cmp::Ordering;

/// Powers of ten for aligning scales (a larger gap takes the operator's path).
const POW10: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// The mantissa when it fits an i64 (prices, quantities and amounts on a book nearly always do).
#[inline]
fn small(x: Decimal) -> Option<i64> {
    i64::try_from(x.mantissa()).ok()
}

/// Both mantissas at the larger of the two scales, and that scale, when all of it fits
/// in i64 arithmetic.
#[inline]
fn aligned(a: Decimal, b: Decimal) -> Option<(i64, i64, u32)> {
    let (sa, sb) = (a.scale(), b.scale());
    let (ma, mb) = (small(a)?, small(b)?);
    match sa.cmp(&sb) {
        Ordering::Equal => Some((ma, mb, sa)),
        Ordering::Less => Some((ma.checked_mul(*POW10.get((sb - sa) as usize)?)?, mb, sb)),
        Ordering::Greater => Some((ma, mb.checked_mul(*POW10.get((sa - sb) as usize)?)?, sa)),
    }
}

/// `a.cmp(&b)`.
#[inline]
#[must_use]
pub fn cmp(a: Decimal, b: Decimal) -> Ordering {
    match aligned(a, b) {
        Some((ma, mb, _)) => ma.cmp(&mb),
        None => a.cmp(&b),
    }
}

/// `a > b`.
#[inline]
#[must_use]
pub fn gt(a: Decimal, b: Decimal) -> bool {
    cmp(a, b) == Ordering::Greater
}

/// `a < b`.
#[inline]
#[must_use]
pub fn lt(a: Decimal, b: Decimal) -> bool {
    cmp(a, b) == Ordering::Less
}

/// `a.max(b)` (`a` when they are equal, as `Decimal::max`).
#[inline]
#[must_use]
pub fn max(a: Decimal, b: Decimal) -> Decimal {
    if cmp(a, b) == Ordering::Less {
        b
    } else {
        a
    }
}

/// `a.min(b)` (`a` when they are equal, as `Decimal::min`).
#[inline]
#[must_use]
pub fn min(a: Decimal, b: Decimal) -> Decimal {
    if cmp(a, b) == Ordering::Greater {
        b
    } else {
        a
    }
}

/// `a - b`.
#[inline]
#[must_use]
pub fn sub(a: Decimal, b: Decimal) -> Decimal {
    aligned_op(a, b, i64::checked_sub).unwrap_or_else(|| a - b)
}

/// `a + b`.
#[inline]
#[must_use]
pub fn add(a: Decimal, b: Decimal) -> Decimal {
    aligned_op(a, b, i64::checked_add).unwrap_or_else(|| a + b)
}

/// `op` on the aligned mantissas, when it fits; zeros keep the operator's own rules (which
/// operand's scale and sign survive), so they take its path.
#[inline]
fn aligned_op(a: Decimal, b: Decimal, op: fn(i64, i64) -> Option<i64>) -> Option<Decimal> {
    if a.is_zero() || b.is_zero() {
        return None;
    }
    let (ma, mb, scale) = aligned(a, b)?;
    Some(Decimal::new(op(ma, mb)?, scale))
}

/// `a * b`.
#[inline]
#[must_use]
pub fn mul(a: Decimal, b: Decimal) -> Decimal {
    let scale = a.scale() + b.scale();
    if scale <= Decimal::MAX_SCALE {
        if let Some(p) = small(a).zip(small(b)).and_then(|(ma, mb)| ma.checked_mul(mb)) {
            // A zero product keeps the operator's representation (a plain 0).
            if p != 0 {
                return Decimal::new(p, scale);
            }
        }
    }
    a * b
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Same value and same representation: mantissa, scale and sign (also of a zero).
    fn same(fast: Decimal, std: Decimal) -> bool {
        fast.serialize() == std.serialize()
    }

    fn decimal() -> impl Strategy<Value = Decimal> {
        prop_oneof![
            // The common case: small mantissas, a handful of scales.
            (-10_000_000_000i64..10_000_000_000, 0u32..9).prop_map(|(m, s)| Decimal::new(m, s)),
            // Zeros of either sign.
            (any::<bool>(), 0u32..9).prop_map(|(neg, s)| Decimal::from_parts(0, 0, 0, neg, s)),
            // Anything a Decimal can hold.
            (any::<u32>(), any::<u32>(), any::<u32>(), any::<bool>(), 0u32..=28)
                .prop_map(|(lo, mid, hi, neg, s)| Decimal::from_parts(lo, mid, hi, neg, s)),
        ]
    }

    proptest! {
        #[test]
        fn every_fast_path_equals_the_operator(a in decimal(), b in decimal()) {
            prop_assert_eq!(cmp(a, b), a.cmp(&b));
            prop_assert_eq!(gt(a, b), a > b);
            prop_assert_eq!(lt(a, b), a < b);
            prop_assert!(same(max(a, b), a.max(b)));
            prop_assert!(same(min(a, b), a.min(b)));
            if let Some(d) = a.checked_sub(b) {
                prop_assert!(same(sub(a, b), d), "{} - {}: {} vs {}", a, b, sub(a, b), d);
            }
            if let Some(s) = a.checked_add(b) {
                prop_assert!(same(add(a, b), s), "{} + {}: {} vs {}", a, b, add(a, b), s);
            }
            if let Some(p) = a.checked_mul(b) {
                prop_assert!(same(mul(a, b), p), "{} * {}: {} vs {}", a, b, mul(a, b), p);
            }
        }
    }

    #[test]
    fn ties_and_zeros_keep_the_operator_representation() {
        let (a, b) = (Decimal::new(100, 2), Decimal::new(1, 0)); // 1.00 and 1
        assert!(same(max(a, b), a.max(b)) && same(min(a, b), a.min(b)));
        assert!(same(sub(a, a), a - a));
        let zero = Decimal::from_parts(0, 0, 0, true, 2);
        assert!(same(add(Decimal::new(0, 2), zero), Decimal::new(0, 2) + zero));
        assert!(same(sub(zero, Decimal::new(5, 2)), zero - Decimal::new(5, 2)));
        assert!(same(mul(Decimal::new(-0, 2), Decimal::new(5, 1)), Decimal::new(-0, 2) * Decimal::new(5, 1)));
        assert!(same(add(Decimal::new(-3, 1), Decimal::new(3, 1)), Decimal::new(-3, 1) + Decimal::new(3, 1)));
    }
}
