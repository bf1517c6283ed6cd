//! The report's fingerprint: a SHA-256 over the ordered list of fills, so two runs or two
//! versions can be compared at a glance.
//!
//! Each fill is hashed as its text fields and numbers separated by `0x1f` and ended by
//! `0x1e`: trade id, strategy, symbol, side, then quantity, price and fee as their
//! normalized decimal text and the time in nanoseconds. The numbers are written here
//! digit by digit into one buffer per fill (the bytes `Display` gives, which is what the
//! fingerprint has always hashed), so a fill costs one hash update and no formatting
//! machinery.

use crate::model::{Fill, StrategyId};
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

const UNIT: u8 = 0x1f;
const RECORD: u8 = 0x1e;

/// The running fingerprint of a run's fills.
#[derive(Debug, Clone, Default)]
pub(crate) struct FillDigest {
    hasher: Sha256,
    /// One fill's bytes (kept between fills for its allocation).
    buf: Vec<u8>,
}

impl FillDigest {
    /// Adds the next fill; `strategy` owns its order (not the client order id: a stored
    /// run's ids carry its run id, and the same fills must give the same fingerprint
    /// wherever the run is kept).
    pub(crate) fn add(&mut self, fill: &Fill, strategy: &StrategyId) {
        let b = &mut self.buf;
        b.clear();
        for field in [fill.trade_id.as_str(), strategy.as_str(), fill.symbol.as_str(), fill.side.as_str()] {
            b.extend_from_slice(field.as_bytes());
            b.push(UNIT);
        }
        for number in [fill.qty, fill.price, fill.fee] {
            push_decimal(b, number);
            b.push(UNIT);
        }
        push_i64(b, fill.ts.0);
        b.push(RECORD);
        self.hasher.update(&self.buf);
    }

    /// The fingerprint as lowercase hex.
    pub(crate) fn finish(self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let digest = self.hasher.finalize();
        let mut s = String::with_capacity(digest.len() * 2);
        for byte in digest {
            s.push(char::from(HEX[usize::from(byte >> 4)]));
            s.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
        s
    }
}

/// The decimal digits of `v`, last digit first, into `out`; returns how many.
fn digits_reversed(mut v: u128, out: &mut [u8; 40]) -> usize {
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
/// trailing zeros.
fn push_decimal(b: &mut Vec<u8>, d: Decimal) {
    let d = d.normalize();
    let mut digits = [0u8; 40];
    let n = digits_reversed(d.mantissa().unsigned_abs(), &mut digits);
    let scale = d.scale() as usize;
    if d.is_sign_negative() && !d.is_zero() {
        b.push(b'-');
    }
    if n > scale {
        b.extend(digits[scale..n].iter().rev());
    } else {
        b.push(b'0');
    }
    if scale > 0 {
        b.push(b'.');
        b.extend(std::iter::repeat_n(b'0', scale.saturating_sub(n)));
        b.extend(digits[..scale.min(n)].iter().rev());
    }
}

/// Appends `v.to_string()`.
fn push_i64(b: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 40];
    let n = digits_reversed(u128::from(v.unsigned_abs()), &mut digits);
    if v < 0 {
        b.push(b'-');
    }
    b.extend(digits[..n].iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn text(d: Decimal) -> String {
        let mut b = Vec::new();
        push_decimal(&mut b, d);
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

    proptest! {
        #[test]
        fn any_decimal_reads_as_its_normalized_display(lo: u32, mid: u32, hi: u32, neg: bool, scale in 0u32..=28) {
            let d = Decimal::from_parts(lo, mid, hi, neg, scale);
            prop_assert_eq!(text(d), d.normalize().to_string());
        }

        #[test]
        fn any_i64_reads_as_its_display(v: i64) {
            let mut b = Vec::new();
            push_i64(&mut b, v);
            prop_assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
        }
    }
}
