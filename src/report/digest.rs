//! The report's fingerprint: a SHA-256 over the ordered list of fills, so two runs or two
//! versions can be compared at a glance.
//!
//! Each fill is hashed as its text fields and numbers separated by `0x1f` and ended by
//! `0x1e`: trade id, strategy, symbol, side, then quantity, price and fee as their
//! normalized decimal text and the time in nanoseconds. The numbers are written here
//! digit by digit into one buffer per fill (the bytes `Display` gives, which is what the
//! fingerprint has always hashed), so a fill costs one hash update and no formatting
//! machinery.

use crate::model::{dec, Fill, StrategyId};
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
            dec::push_normalized(b, number);
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

/// Appends `v.to_string()`.
fn push_i64(b: &mut Vec<u8>, v: i64) {
    let mut digits = [0u8; 40];
    let n = dec::digits_reversed(u128::from(v.unsigned_abs()), &mut digits);
    if v < 0 {
        b.push(b'-');
    }
    b.extend(digits[..n].iter().rev());
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_i64_reads_as_its_display(v: i64) {
            let mut b = Vec::new();
            push_i64(&mut b, v);
            prop_assert_eq!(String::from_utf8(b).unwrap(), v.to_string());
        }
    }
}
