//! Fast comparisons for the `Decimal`s compared on every price update (water marks and
//! excursions, drawdown tracking, risk bands), and the normalized text of a `Decimal`
//! written digit by digit (the fingerprint, risk refusal messages).
//!
//! Prices, quantities and amounts on one book have small mantissas, often at different
//! scales (a cash balance at 6 places against a price at 2); `rust_decimal` rescales through
//! wide arithmetic for those. Here both mantissas are aligned in an i64 and compared as
//! integers; anything that does not fit goes through the operator itself. Every function
//! returns exactly what the operator returns (for `max`/`min` the same operand, so the same
//! representation), and a property test pins that. Addition, subtraction and multiplication
//! stay with `rust_decimal`: measured, its own inlined fast paths beat an i64 version.

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

/// Both mantissas at the larger of the two scales, when that fits in i64 arithmetic.
#[inline]
fn aligned(a: Decimal, b: Decimal) -> Option<(i64, i64)> {
    let (sa, sb) = (a.scale(), b.scale());
    let (ma, mb) = (small(a)?, small(b)?);
    match sa.cmp(&sb) {
        Ordering::Equal => Some((ma, mb)),
        Ordering::Less => Some((ma.checked_mul(*POW10.get((sb - sa) as usize)?)?, mb)),
        Ordering::Greater => Some((ma, mb.checked_mul(*POW10.get((sa - sb) as usize)?)?)),
    }
}

/// `a.cmp(&b)`.
#[inline]
#[must_use]
pub fn cmp(a: Decimal, b: Decimal) -> Ordering {
    match aligned(a, b) {
        Some((ma, mb)) => ma.cmp(&mb),
        None => wide_cmp(a, b),
    }
}

/// The operator's comparison, out of line: the rare case that keeps [`cmp`] small enough to
/// inline wherever it is called.
#[cold]
#[inline(never)]
fn wide_cmp(a: Decimal, b: Decimal) -> Ordering {
    a.cmp(&b)
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

/// `x` in whole units of `10^-scale`: the quotient rounded down, and whether it is exact.
fn in_units(x: Decimal, scale: u32) -> Option<(i128, bool)> {
    let (m, xs) = (x.mantissa(), x.scale());
    if xs <= scale {
        Some((m.checked_mul(10i128.checked_pow(scale - xs)?)?, true))
    } else {
        let d = 10i128.checked_pow(xs - scale)?;
        Some((m.div_euclid(d), m.rem_euclid(d) == 0))
    }
}

/// `x` in whole units of `10^-scale`, rounded up, when that fits an i64: a value of that
/// scale with mantissa `m` is `>= x` exactly when `m >= ceil_mantissa(x)` (and `< x` when
/// `m < ceil_mantissa(x)`), so bounds turn into integer compares.
#[must_use]
pub fn ceil_mantissa(x: Decimal, scale: u32) -> Option<i64> {
    let (q, exact) = in_units(x, scale)?;
    i64::try_from(q + i128::from(!exact)).ok()
}

/// `x` in whole units of `10^-scale`, rounded down, when that fits an i64: a value of that
/// scale with mantissa `m` is `> x` exactly when `m > floor_mantissa(x)` (and `<= x` when
/// `m <= floor_mantissa(x)`).
#[must_use]
pub fn floor_mantissa(x: Decimal, scale: u32) -> Option<i64> {
    i64::try_from(in_units(x, scale)?.0).ok()
}

/// The values of one scale between two bounds, as their mantissas `lo <= m < hi`: trackers
/// that compare every price or figure with the same bounds keep them in this form, so a value
/// of that scale is checked with two integer compares instead of two `Decimal` ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MantissaRange {
    scale: u32,
    lo: i64,
    hi: i64,
}

impl MantissaRange {
    /// Every value of `scale` (narrowed by the methods below).
    #[must_use]
    pub fn all(scale: u32) -> Self {
        Self { scale, lo: i64::MIN, hi: i64::MAX }
    }

    /// Keeps values `> x` (all when `None`); `None` when the bound does not fit.
    #[must_use]
    pub fn above(mut self, x: Option<Decimal>) -> Option<Self> {
        if let Some(x) = x {
            self.lo = self.lo.max(floor_mantissa(x, self.scale)?.checked_add(1)?);
        }
        Some(self)
    }

    /// Keeps values `>= x`; `None` when the bound does not fit.
    #[must_use]
    pub fn at_least(mut self, x: Decimal) -> Option<Self> {
        self.lo = self.lo.max(ceil_mantissa(x, self.scale)?);
        Some(self)
    }

    /// Keeps values `< x` (all when `None`); `None` when the bound does not fit.
    #[must_use]
    pub fn below(mut self, x: Option<Decimal>) -> Option<Self> {
        if let Some(x) = x {
            self.hi = self.hi.min(ceil_mantissa(x, self.scale)?);
        }
        Some(self)
    }

    /// Keeps values `<= x`; `None` when the bound does not fit.
    #[must_use]
    pub fn at_most(mut self, x: Decimal) -> Option<Self> {
        self.hi = self.hi.min(floor_mantissa(x, self.scale)?.checked_add(1)?);
        Some(self)
    }

    /// Whether `x` is of this scale and inside.
    #[inline]
    #[must_use]
    pub fn holds(&self, x: Decimal) -> bool {
        x.scale() == self.scale && i64::try_from(x.mantissa()).is_ok_and(|m| self.lo <= m && m < self.hi)
    }
}

/// The decimal digits of `v`, last digit first, into `out`; returns how many.
pub(crate) fn digits_reversed(mut v: u128, out: &mut [u8; 40]) -> usize {
    let mut n = 0;
    // u128 division is far slower than u64's: only digits above u64's range take it (money
    // amounts never do).
    while v > u128::from(u64::MAX) {
        out[n] = b'0' + (v % 10) as u8;
        v /= 10;
        n += 1;
    }
    let mut small = u64::try_from(v).unwrap_or(u64::MAX);
    loop {
        out[n] = b'0' + (small % 10) as u8;
        small /= 10;
        n += 1;
        if small == 0 {
            return n;
        }
    }
}

/// Appends `d.normalize().to_string()`: sign, integer digits, and the fraction without
/// trailing zeros, digit by digit (no formatting machinery; a property test pins the bytes).
pub fn push_normalized(b: &mut Vec<u8>, d: Decimal) {
    let (text, n) = normalized(d);
    b.extend_from_slice(&text[..n]);
}

/// Writes `d.normalize().to_string()` as [`push_normalized`] does, without allocating.
///
/// # Errors
/// Those of `out`.
pub fn write_normalized(out: &mut impl std::fmt::Write, d: Decimal) -> std::fmt::Result {
    let (text, n) = normalized(d);
    out.write_str(std::str::from_utf8(&text[..n]).map_err(|_| std::fmt::Error)?)
}

/// The bytes of `d.normalize().to_string()` and how many there are (at most 31: a sign, 29
/// digits or `0.` and 28, a point).
fn normalized(d: Decimal) -> ([u8; 40], usize) {
    let d = d.normalize();
    let mut digits = [0u8; 40];
    let n = digits_reversed(d.mantissa().unsigned_abs(), &mut digits);
    let scale = d.scale() as usize;
    let mut text = [0u8; 40];
    let mut len = 0;
    let mut put = |byte: u8| {
        text[len] = byte;
        len += 1;
    };
    if d.is_sign_negative() && !d.is_zero() {
        put(b'-');
    }
    if n > scale {
        digits[scale..n].iter().rev().for_each(|&c| put(c));
    } else {
        put(b'0');
    }
    if scale > 0 {
        put(b'.');
        std::iter::repeat_n(b'0', scale.saturating_sub(n)).for_each(&mut put);
        digits[..scale.min(n)].iter().rev().for_each(|&c| put(c));
    }
    (text, len)
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

    fn text(d: Decimal) -> String {
        let mut b = Vec::new();
        push_normalized(&mut b, d);
        String::from_utf8(b).unwrap()
    }

    #[test]
    fn decimals_read_as_display_writes_them() {
        for (d, want) in [
            (Decimal::new(12_500, 2), "125"),
            (Decimal::new(-5, 3), "-0.005"),
            (Decimal::new(100_050, 3), "100.05"),
            (Decimal::ZERO, "0"),
            (Decimal::from_parts(0, 0, 0, true, 4), "0"),
            (Decimal::MAX, "79228162514264337593543950335"),
            (Decimal::new(1, 28), "0.0000000000000000000000000001"),
        ] {
            assert_eq!(text(d), want);
            assert_eq!(text(d), d.normalize().to_string());
        }
    }

    #[test]
    fn mantissa_bounds_round_to_the_scale() {
        let d = |m, s| Decimal::new(m, s);
        assert_eq!(ceil_mantissa(d(1234, 3), 2), Some(124));
        assert_eq!(ceil_mantissa(d(-1234, 3), 2), Some(-123));
        assert_eq!(floor_mantissa(d(1234, 3), 2), Some(123));
        assert_eq!(floor_mantissa(d(-1234, 3), 2), Some(-124));
        assert_eq!(ceil_mantissa(d(123, 2), 2), Some(123));
        assert_eq!(floor_mantissa(d(12, 1), 3), Some(1200));
        assert_eq!(ceil_mantissa(Decimal::MAX, 2), None);
    }

    proptest! {
        /// The integer bounds decide every comparison with a value of their scale as the
        /// operators do.
        #[test]
        fn mantissa_bounds_compare_as_the_operators(x in decimal(), m in -10_000_000_000i64..10_000_000_000, s in 0u32..9) {
            let v = Decimal::new(m, s);
            if let Some(c) = ceil_mantissa(x, s) {
                prop_assert_eq!(m >= c, v >= x);
            }
            if let Some(f) = floor_mantissa(x, s) {
                prop_assert_eq!(m > f, v > x);
            }
        }

        /// A range holds exactly the values of its scale that the operators put between its
        /// bounds, and nothing of another scale.
        #[test]
        fn a_mantissa_range_holds_what_its_bounds_admit(lo in decimal(), hi in decimal(), m in -10_000_000_000i64..10_000_000_000, s in 0u32..9) {
            let v = Decimal::new(m, s);
            if let Some(r) = MantissaRange::all(s).at_least(lo).and_then(|r| r.below(Some(hi))) {
                prop_assert_eq!(r.holds(v), v >= lo && v < hi);
                prop_assert!(!r.holds(Decimal::new(m, s + 1)));
            }
            if let Some(r) = MantissaRange::all(s).above(Some(lo)).and_then(|r| r.at_most(hi)) {
                prop_assert_eq!(r.holds(v), v > lo && v <= hi);
            }
        }

        #[test]
        fn any_decimal_reads_as_its_normalized_display(lo: u32, mid: u32, hi: u32, neg: bool, scale in 0u32..=28) {
            let d = Decimal::from_parts(lo, mid, hi, neg, scale);
            prop_assert_eq!(text(d), d.normalize().to_string());
            let mut written = String::new();
            write_normalized(&mut written, d).unwrap();
            prop_assert_eq!(written, d.normalize().to_string());
        }

        #[test]
        fn every_fast_path_equals_the_operator(a in decimal(), b in decimal()) {
            prop_assert_eq!(cmp(a, b), a.cmp(&b));
            prop_assert_eq!(gt(a, b), a > b);
            prop_assert_eq!(lt(a, b), a < b);
            prop_assert!(same(max(a, b), a.max(b)));
            prop_assert!(same(min(a, b), a.min(b)));
        }
    }

    #[test]
    fn ties_and_zeros_keep_the_operator_representation() {
        let (a, b) = (Decimal::new(100, 2), Decimal::new(1, 0)); // 1.00 and 1
        assert!(same(max(a, b), a.max(b)) && same(min(a, b), a.min(b)));
        assert!(same(max(b, a), b.max(a)) && same(min(b, a), b.min(a)));
        let zero = Decimal::from_parts(0, 0, 0, true, 2);
        assert_eq!(cmp(zero, Decimal::ZERO), std::cmp::Ordering::Equal);
        assert!(same(max(zero, Decimal::ZERO), zero.max(Decimal::ZERO)));
    }
}
