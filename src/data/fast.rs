//! The CSV loaders' fast path: one pass over a row that reads the timestamp and the decimal
//! cells in place, and checks the price rules on raw mantissas.
//!
//! It accepts only the common shapes: decimals `[-]digits[.digits]` of at most 19 digits,
//! epoch integers, and ISO-8601 `YYYY-MM-DD[(T| )HH:MM:SS[.fff…]][Z]`, with no spaces or
//! quotes in those cells. For anything else, and for any row that breaks a rule, it answers
//! `None` and the general path ([`super::parse`], [`super::source`]) reads the row again and
//! decides, so errors, messages and skip counts are exactly the general path's.

use super::parse::{days_from_civil, days_in_month, epoch, parse_int};
use rust_decimal::Decimal;

/// A plain decimal as read: `m` × 10^-`scale`, negative when `neg` (and `m` is not 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Num {
    m: u64,
    scale: u32,
    neg: bool,
}

/// At most this many digits: 10^19 - 1 < 2^64, so the mantissa cannot overflow.
const MAX_DIGITS: usize = 19;

/// 10^0 ..= 10^19, to bring two mantissas to one scale.
const POW10: [u128; 20] = {
    let mut t = [1u128; 20];
    let mut i = 1;
    while i < 20 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

impl Num {
    /// The same value as [`super::parse::parse_decimal`] gives for the same text.
    #[cfg(test)]
    pub(crate) fn decimal(self) -> Decimal {
        self.with_sign(self.neg)
    }

    /// [`Num::decimal`] for a value checked to be at or above zero ([`bar_ok`], [`trade_ok`]
    /// and [`quote_ok`] pass no other): its sign is not read (a `-0` is 0 either way).
    #[inline]
    pub(crate) fn unsigned_decimal(self) -> Decimal {
        debug_assert!(self.not_negative());
        self.with_sign(false)
    }

    #[inline]
    fn with_sign(self, negative: bool) -> Decimal {
        // Truncating casts take the low and middle 32-bit words of the (< 2^64) mantissa.
        #[allow(clippy::cast_possible_truncation)]
        let (lo, mid) = (self.m as u32, (self.m >> 32) as u32);
        // from_parts drops the sign of a zero itself.
        Decimal::from_parts(lo, mid, 0, negative, self.scale)
    }

    #[inline]
    fn positive(self) -> bool {
        !self.neg && self.m != 0
    }

    #[inline]
    fn not_negative(self) -> bool {
        !self.neg || self.m == 0
    }

    /// `self <= other` for two values at or above zero of different scales (out of line:
    /// prices of one file share a scale, which [`Num::le`] compares directly).
    #[inline(never)]
    fn le_rescaled(self, other: Self) -> bool {
        // Scales are at most 19, so both products fit in u128.
        let a = u128::from(self.m) * POW10[(other.scale.saturating_sub(self.scale)) as usize];
        let b = u128::from(other.m) * POW10[(self.scale.saturating_sub(other.scale)) as usize];
        a <= b
    }

    /// `self <= other` for two values at or above zero.
    #[inline]
    fn le(self, other: Self) -> bool {
        if self.scale == other.scale {
            return self.m <= other.m;
        }
        self.le_rescaled(other)
    }
}

/// Reads `[-]digits[.digits]` (1 to 19 digits) at the start of `s`: the number and the bytes
/// it took. The caller checks what follows.
#[cfg(test)]
fn number(s: &[u8]) -> Option<(Num, usize)> {
    number_at(s, 0)
}

/// Reads `[-]digits[.digits]` (1 to 19 digits) at `s[start..]` without re-slicing: the
/// number and the index just past it. The caller checks what follows.
#[inline]
fn number_at(s: &[u8], start: usize) -> Option<(Num, usize)> {
    let neg = s.get(start) == Some(&b'-');
    let int_start = start + usize::from(neg);
    let (mut m, mut i) = run(s, int_start, 0);
    let mut digits = i - int_start;
    let mut scale = 0;
    if s.get(i) == Some(&b'.') {
        let frac_start = i + 1;
        (m, i) = run(s, frac_start, m);
        scale = i - frac_start;
        digits += scale;
    }
    if digits == 0 || digits > MAX_DIGITS {
        return None;
    }
    // At most 19 digits, so the scale fits.
    #[allow(clippy::cast_possible_truncation)]
    Some((Num { m, scale: scale as u32, neg }, i))
}

/// The run of ASCII digits at `s[i..]` appended to `m` (wrapping past 2^64; callers refuse
/// more than 19 digits in all), and the index just past it.
#[inline]
fn run(s: &[u8], mut i: usize, mut m: u64) -> (u64, usize) {
    while let Some(&b) = s.get(i) {
        // Widened first, so the digit is not zero-extended a second time for the sum.
        let d = u64::from(b).wrapping_sub(u64::from(b'0'));
        if d >= 10 {
            break;
        }
        m = m.wrapping_mul(10).wrapping_add(d);
        i += 1;
    }
    (m, i)
}

/// [`run`] for long runs (epoch times): eight bytes at a time while eight are left, so the
/// loop over a fixed array unrolls with one bounds check for the eight (still one digit at a
/// time, no SWAR); short runs gain nothing from it.
#[inline]
fn long_run(s: &[u8], mut i: usize, mut m: u64) -> (u64, usize) {
    while let Some(chunk) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        for &b in chunk {
            let d = u64::from(b).wrapping_sub(u64::from(b'0'));
            if d >= 10 {
                return (m, i);
            }
            m = m.wrapping_mul(10).wrapping_add(d);
            i += 1;
        }
    }
    run(s, i, m)
}

/// The last calendar date read, so a file of intraday rows parses each date once.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DateCache {
    date: [u8; 10],
    days: i64,
}

#[inline]
fn two(b: &[u8], i: usize) -> Option<i64> {
    let (x, y) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
    (x < 10 && y < 10).then(|| i64::from(x) * 10 + i64::from(y))
}

/// Days since 1970-01-01 for a valid `YYYY-MM-DD` (the first 10 bytes of `b`).
#[inline]
fn date(b: &[u8], cache: &mut DateCache) -> Option<i64> {
    if b[..10] == cache.date {
        return Some(cache.days);
    }
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = two(b, 0)? * 100 + two(b, 2)?;
    let (m, d) = (two(b, 5)?, two(b, 8)?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let days = days_from_civil(y, m, d);
    cache.date.copy_from_slice(&b[..10]);
    cache.days = days;
    Some(days)
}

/// A timestamp cell in nanoseconds: epoch s/ms/µs/ns or ISO-8601
/// `YYYY-MM-DD[(T|t| )HH:MM:SS[(.|,)digits]][Z|z]` in UTC. `None` for other shapes and for
/// impossible values (the general parser then says why).
#[inline]
pub(crate) fn time(b: &[u8], cache: &mut DateCache) -> Option<i64> {
    if b.len() < 10 || b[4] != b'-' {
        return parse_int(b).and_then(epoch).map(|t| t.0);
    }
    let days = date(b, cache)?;
    if b.len() == 10 {
        return (days * 86_400).checked_mul(1_000_000_000);
    }
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hh, mm, ss) = (two(b, 11)?, two(b, 14)?, two(b, 17)?);
    if hh > 23 || mm > 59 || ss > 59 {
        return None;
    }
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    let mut rest = &b[19..];
    if let Some((b'Z' | b'z', zoneless)) = rest.split_last() {
        rest = zoneless;
    }
    let mut frac = 0i64;
    match rest {
        [] => {}
        [b'.' | b',', digits @ ..] if !digits.is_empty() => {
            let mut unit = 1_000_000_000i64;
            for &c in digits {
                let d = c.wrapping_sub(b'0');
                if d >= 10 {
                    return None;
                }
                if unit > 1 {
                    unit /= 10;
                    frac += i64::from(d) * unit;
                }
            }
        }
        _ => return None,
    }
    secs.checked_mul(1_000_000_000)?.checked_add(frac)
}

/// What a column holds, for [`row`]: a value slot `0..5`, the time, or nothing read.
pub(crate) type Role = u8;
/// The column holding the time.
pub(crate) const TIME: Role = 5;
/// A column the row's event does not use.
pub(crate) const SKIP: Role = 6;

/// Reads one row at the start of `bytes` whose columns have `roles`: its time in
/// nanoseconds and the bytes its cells took, with `vals` filled by slot. Cells end at a comma;
/// the last one at `\r`, `\n` or the end of `bytes`, and the caller checks what follows
/// (`bytes` may be one line or the rest of a buffer of many). `None` when any cell is not a
/// fast-path shape or the row has fewer cells than `roles`.
#[inline]
pub(crate) fn row(bytes: &[u8], roles: &[Role], cache: &mut DateCache, vals: &mut [Num; 5]) -> Option<(i64, usize)> {
    if roles == OHLCV {
        ohlcv_row(bytes, cache, vals)
    } else {
        row_by_roles(bytes, roles, cache, vals)
    }
}

/// [`row`] for any roles: each cell read as its role says.
#[inline]
fn row_by_roles(bytes: &[u8], roles: &[Role], cache: &mut DateCache, vals: &mut [Num; 5]) -> Option<(i64, usize)> {
    let mut p = 0;
    let mut ts = None;
    for (c, &role) in roles.iter().enumerate() {
        if c > 0 {
            if bytes.get(p) != Some(&b',') {
                return None;
            }
            p += 1;
        }
        p = match role {
            TIME => {
                let (t, used) = time_cell(&bytes[p..], cache)?;
                ts = Some(t);
                p + used
            }
            SKIP => p + cell_end(&bytes[p..]),
            slot => {
                let (n, end) = number_at(bytes, p)?;
                vals[usize::from(slot)] = n;
                end
            }
        };
    }
    Some((ts?, p))
}

/// The most common layout: the time, then the five values in slot order and nothing else.
const OHLCV: &[Role] = &[TIME, 0, 1, 2, 3, 4];

/// [`row`] for the roles [`OHLCV`], in one straight pass with no per-cell dispatch.
#[inline]
fn ohlcv_row(bytes: &[u8], cache: &mut DateCache, vals: &mut [Num; 5]) -> Option<(i64, usize)> {
    let (ts, mut p) = time_cell(bytes, cache)?;
    for v in vals {
        if bytes.get(p) != Some(&b',') {
            return None;
        }
        (*v, p) = number_at(bytes, p + 1)?;
    }
    Some((ts, p))
}

/// The time cell at the start of `rest` and its length: an epoch integer read in the same
/// pass that finds the cell's end (inline), anything else by [`time`] (out of line).
#[inline(always)]
fn time_cell(rest: &[u8], cache: &mut DateCache) -> Option<(i64, usize)> {
    let (v, n) = long_run(rest, 0, 0);
    // Up to 19 digits the value cannot wrap (10^19 - 1 < 2^64).
    if (1..=MAX_DIGITS).contains(&n) && rest.get(n).is_none_or(|&b| ends_cell(b)) {
        return Some((epoch(i64::try_from(v).ok()?)?.0, n));
    }
    other_time_cell(rest, n, cache)
}

/// [`time_cell`] for a cell that is not a plain epoch integer (its first `n` bytes digits).
#[inline(never)]
fn other_time_cell(rest: &[u8], n: usize, cache: &mut DateCache) -> Option<(i64, usize)> {
    let end = n + cell_end(&rest[n..]);
    Some((time(&rest[..end], cache)?, end))
}

/// True for the bytes that end a cell: a comma or a line end.
#[inline]
fn ends_cell(b: u8) -> bool {
    matches!(b, b',' | b'\r' | b'\n')
}

/// Length of the cell at the start of `rest` (up to the next comma, line end or the end).
#[inline]
fn cell_end(rest: &[u8]) -> usize {
    rest.iter().position(|&b| ends_cell(b)).unwrap_or(rest.len())
}

/// True when a bar passes every rule of [`super::source::check_bar`].
#[inline]
pub(crate) fn bar_ok(vals: &[Num; 5]) -> bool {
    let [open, high, low, close, volume] = vals;
    let scale = open.scale;
    if high.scale == scale && low.scale == scale && close.scale == scale && !(open.neg | high.neg | low.neg | close.neg)
    {
        // One scale and no signs: the rules on the mantissas (low above 0 and at or below
        // open and close, both at or below high, make all four positive).
        return low.m != 0 && low.m <= open.m.min(close.m) && open.m.max(close.m) <= high.m && volume.not_negative();
    }
    bar_ok_rescaled(vals)
}

/// [`bar_ok`] for prices of mixed scales or signs.
#[inline(never)]
fn bar_ok_rescaled([open, high, low, close, volume]: &[Num; 5]) -> bool {
    open.positive()
        && high.positive()
        && low.positive()
        && close.positive()
        && low.le(*high)
        && low.le(*open)
        && open.le(*high)
        && low.le(*close)
        && close.le(*high)
        && volume.not_negative()
}

/// True when a trade passes [`super::source::check_trade`].
#[inline]
pub(crate) fn trade_ok([price, size, ..]: &[Num; 5]) -> bool {
    price.positive() && size.not_negative()
}

/// True when a quote passes [`super::source::check_quote`].
#[inline]
pub(crate) fn quote_ok([bid, ask, bid_size, ask_size, _]: &[Num; 5]) -> bool {
    bid.positive() && ask.positive() && bid.le(*ask) && bid_size.not_negative() && ask_size.not_negative()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::bar::{Bar, QuoteTick, TradeTick};
    use crate::data::parse::{parse_decimal, parse_timestamp};
    use crate::data::source::{check_bar, check_quote, check_trade};
    use crate::model::Timestamp;
    use proptest::prelude::*;

    fn num(text: &str) -> Option<Num> {
        number(text.as_bytes()).filter(|(_, used)| *used == text.len()).map(|(n, _)| n)
    }

    fn ts(text: &str) -> Option<i64> {
        time(text.as_bytes(), &mut DateCache::default())
    }

    #[test]
    fn plain_decimals_take_the_fast_path_and_others_do_not() {
        for text in ["1", "-12.50", ".25", "7.", "-0", "46319.0", "0.000000000000000001", "9999999999999999999"] {
            let n = num(text).unwrap_or_else(|| panic!("{text} not fast"));
            let want = parse_decimal(text.as_bytes()).unwrap();
            assert_eq!((n.decimal(), n.decimal().scale()), (want, want.scale()), "{text}");
        }
        // Left to the general parser: sign '+', exponents, spaces, >19 digits, no digits.
        for text in ["+3", "1e5", " 1", "1 ", "12345678901234567890", "0.0000000000000000001", "", "-", ".", "1.2.3"] {
            assert!(num(text).is_none(), "{text} took the fast path");
        }
        // What follows the number is the caller's business: the bytes used are reported.
        assert_eq!(number(b"1.5,2").map(|(_, used)| used), Some(3));
    }

    #[test]
    fn iso_and_epoch_shapes() {
        let base = 1_640_995_200_000_000_000; // 2022-01-01T00:00:00Z
        for (text, want) in [
            ("2022-01-01", base),
            ("2022-01-01T00:00:00Z", base),
            ("2022-01-01t00:00:00z", base),
            ("2022-01-01 00:00:01", base + 1_000_000_000),
            ("2022-01-01T00:00:00.5Z", base + 500_000_000),
            ("2022-01-01T00:00:00,123456789", base + 123_456_789),
            ("2022-01-01T00:00:00.1234567891Z", base + 123_456_789),
            ("1640995200", base),
            ("1640995200000", base),
            ("-86400", -86_400_000_000_000),
        ] {
            assert_eq!(ts(text), Some(want), "{text}");
            assert_eq!(parse_timestamp(text.as_bytes()), Ok(Timestamp(want)), "{text}");
        }
        // Offsets, minutes-only times, impossible dates and junk go to the general parser.
        for text in [
            "2022-01-01T02:00:00+02:00",
            "2022-01-01T00:00",
            "2022-02-30",
            "2022-01-01T24:00:00Z",
            "2022-01-01T00:00:00.Z",
            "2022-01-01T00:00:00ZZ",
            "2022-01-01Z",
            "9999-01-01",
            " 2022-01-01",
            "2022-01-01T00:00:00Z ",
            "yesterday",
            "",
        ] {
            assert_eq!(ts(text), None, "{text}");
        }
    }

    #[test]
    fn the_date_cache_never_answers_for_another_date() {
        let mut cache = DateCache::default();
        let t = |s: &str, c: &mut DateCache| time(s.as_bytes(), c);
        let a = t("2022-01-01T00:00:00Z", &mut cache).unwrap();
        assert_eq!(t("2022-01-01T00:00:01Z", &mut cache), Some(a + 1_000_000_000));
        assert_eq!(t("2022-01-02T00:00:00Z", &mut cache), Some(a + 86_400_000_000_000));
        assert_eq!(t("2022-02-30T00:00:00Z", &mut cache), None);
        assert_eq!(t("2022-01-02T00:00:00Z", &mut cache), Some(a + 86_400_000_000_000));
    }

    #[test]
    fn rows_by_role() {
        let mut vals = [Num::default(); 5];
        let mut cache = DateCache::default();
        let t = Some(1_640_995_200_000_000_000);
        // Roles, rows read, rows left to the general path. Trailing unread columns are only
        // counted.
        let cases: [(&[Role], &[&str], &[&str]); 2] = [
            (
                &[TIME, 0, 1, 2, 3, SKIP],
                &["1640995200,1,2,0.5,1.5,anything \"at all\"", "1640995200,1,2,0.5,1.5,"],
                &[
                    "1640995200,1,2,0.5,1.5",
                    "1640995200,1,2,0.5,1.5,x,y",
                    "1640995200,1,2,0.5, 1.5,x",
                    "1640995200,1,2,\"0.5\",1.5,x",
                    "1640995200,1,2,0.5,1.5e0,x",
                    "",
                ],
            ),
            (
                &[TIME, 0, 1, 2, 3, 4, SKIP, SKIP, SKIP],
                &["1640995200000,1,2,0.5,1.5,3,x,,\"y\""],
                &[
                    "1640995200000,1,2,0.5,1.5,3,x,",
                    "1640995200000,1,2,0.5,1.5,3,x,y,z,w",
                    "1640995200000,1,2,0.5,1.5,3x,y,z",
                    "1640995200000,1,2,0.5,1.5,3",
                ],
            ),
        ];
        // A row read as a whole line: every byte used.
        let mut whole = |line: &str, roles: &[Role], vals: &mut [Num; 5]| {
            row(line.as_bytes(), roles, &mut cache, vals).filter(|&(_, used)| used == line.len()).map(|(ts, _)| ts)
        };
        for (roles, good, bad) in cases {
            for line in good {
                assert_eq!(whole(line, roles, &mut vals), t, "{line}");
                assert_eq!(
                    vals.map(Num::decimal)[..4],
                    [Decimal::ONE, Decimal::TWO, Decimal::new(5, 1), Decimal::new(15, 1)]
                );
            }
            for line in bad {
                assert_eq!(whole(line, roles, &mut vals), None, "{line}");
            }
        }
    }

    #[test]
    fn rows_in_a_buffer_stop_at_the_line_end() {
        let mut vals = [Num::default(); 5];
        let mut cache = DateCache::default();
        let t = 1_640_995_200_000_000_000;
        let roles = [TIME, 0, 1, 2, 3, SKIP];
        for (text, used) in [
            ("1640995200,1,2,0.5,1.5,x\n1640995260,1", 24),
            ("1640995200,1,2,0.5,1.5,\r\n", 23),
            ("2022-01-01T00:00:00Z,1,2,0.5,1.5,x\r\n", 34),
            ("1640995200,1,2,0.5,1.5,x", 24),
        ] {
            assert_eq!(row(text.as_bytes(), &roles, &mut cache, &mut vals), Some((t, used)), "{text:?}");
        }
        // A line end before the last cell, or a time cell cut by one, is no row.
        for text in
            ["1640995200,1,2,0.5\n1.5,x\n", "1640995200\n,1,2,0.5,1.5,x", "2022-01-01\rT00:00:00Z,1,2,0.5,1.5,x"]
        {
            assert_eq!(row(text.as_bytes(), &roles, &mut cache, &mut vals), None, "{text:?}");
        }
    }

    fn arb_num() -> impl Strategy<Value = Num> {
        (0u64..2000, 0u32..4, prop::bool::weighted(0.1)).prop_map(|(m, scale, neg)| Num { m, scale, neg })
    }

    proptest! {
        #[test]
        fn fast_decimal_agrees_with_the_general_parser(text in "[-+]?[0-9]{0,12}(\\.[0-9]{0,12})?[eE ,x]?[0-9]?") {
            match num(&text) {
                Some(n) => {
                    let want = parse_decimal(text.as_bytes()).unwrap();
                    prop_assert_eq!(n.decimal(), want);
                    prop_assert_eq!(n.decimal().scale(), want.scale());
                }
                // Plain shapes of up to 19 digits always take the fast path.
                None => prop_assert!(
                    text.starts_with('+')
                        || text.contains(['e', 'E', ' ', ',', 'x'])
                        || text.bytes().filter(u8::is_ascii_digit).count() > MAX_DIGITS
                        || parse_decimal(text.as_bytes()).is_err()
                ),
            }
        }

        #[test]
        fn fast_time_agrees_with_the_general_parser(secs in -2_000_000_000i64..7_000_000_000, nanos in 0u32..1_000_000_000, digits in 0usize..12, form in 0usize..8) {
            let dt = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            let frac = format!("{:09}000", nanos);
            let frac = &frac[..digits];
            let text = match form {
                0 => dt.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                1 => format!("{}.{frac}Z", dt.format("%Y-%m-%dT%H:%M:%S")),
                2 => format!("{},{frac}", dt.format("%Y-%m-%d %H:%M:%S")),
                3 => dt.format("%Y-%m-%d").to_string(),
                4 => secs.to_string(),
                5 => (secs * 1000).to_string(),
                6 => format!("{}.{frac}z", dt.format("%Y-%m-%dt%H:%M:%S")),
                _ => format!("{}", dt.format("%Y-%m-%dT%H:%M:%S%:z")),
            };
            let general = parse_timestamp(text.as_bytes()).map(|t| t.0);
            match ts(&text) {
                Some(n) => prop_assert_eq!(Ok(n), general, "{}", text),
                None => prop_assert!(form == 7 || general.is_err() || (digits == 0 && matches!(form, 1 | 2 | 6)), "{} left the fast path", text),
            }
        }

        #[test]
        fn long_runs_read_as_short_ones(text in "[0-9]{0,24}[,.x]?[0-9]{0,12}", start in 0usize..30, m in 0u64..1000) {
            let start = start.min(text.len());
            prop_assert_eq!(long_run(text.as_bytes(), start, m), run(text.as_bytes(), start, m));
        }

        #[test]
        fn the_ohlcv_pass_agrees_with_reading_by_roles(text in "(1640995200|2022-01-01T00:00:00Z|x)(,-?[0-9]{0,4}(\\.[0-9]{0,3})?){4,6}[,\r\nx]?[0-9]?") {
            let (mut a, mut b) = ([Num::default(); 5], [Num::default(); 5]);
            let (mut ca, mut cb) = (DateCache::default(), DateCache::default());
            let fast = ohlcv_row(text.as_bytes(), &mut ca, &mut a);
            prop_assert_eq!(fast, row_by_roles(text.as_bytes(), OHLCV, &mut cb, &mut b), "{:?}", text);
            if fast.is_some() {
                prop_assert_eq!(a, b);
            }
        }

        #[test]
        fn fast_checks_agree_with_the_row_rules(mut v in prop::array::uniform5(arb_num()), one_scale in any::<bool>()) {
            // Prices of one file mostly share a scale (the mantissa-only branch of bar_ok).
            if one_scale {
                let scale = v[0].scale;
                v.iter_mut().for_each(|n| n.scale = scale);
            }
            let d = v.map(Num::decimal);
            if bar_ok(&v) || trade_ok(&v) || quote_ok(&v) {
                // What passes is built without its sign, to the same values.
                let used = if bar_ok(&v) { 5 } else if quote_ok(&v) { 4 } else { 2 };
                prop_assert_eq!(&v[..used].iter().map(|n| n.unsigned_decimal()).collect::<Vec<_>>(), &d[..used]);
            }
            let ts = Timestamp(0);
            let bar = Bar { ts, open: d[0], high: d[1], low: d[2], close: d[3], volume: d[4] };
            prop_assert_eq!(bar_ok(&v), check_bar(&bar).is_ok(), "{:?}", bar);
            let t = TradeTick { ts, price: d[0], size: d[1] };
            prop_assert_eq!(trade_ok(&v), check_trade(&t).is_ok(), "{:?}", t);
            let q = QuoteTick { ts, bid: d[0], ask: d[1], bid_size: d[2], ask_size: d[3] };
            prop_assert_eq!(quote_ok(&v), check_quote(&q).is_ok(), "{:?}", q);
        }
    }
}
