//! Byte-level parsers for the loaders' hot path: CSV cells, decimals and timestamps.
//!
//! No allocation and no float on the success path. Decimals are read digit by digit into a
//! mantissa and scale (`1e5`, `nan`, `1.2.3` and empty cells are refused). ISO-8601 times are
//! read by fixed byte positions with a days-from-civil computation; unusual shapes fall back
//! to chrono.

use crate::model::Timestamp;
use rust_decimal::Decimal;
use std::ops::Range;

/// Splits `line` on commas into trimmed cell ranges (spaces, tabs and one pair of double
/// quotes removed), reusing `out`.
pub(crate) fn split_cells(line: &[u8], out: &mut Vec<Range<usize>>) {
    out.clear();
    let mut start = 0;
    for (i, &b) in line.iter().enumerate() {
        if b == b',' {
            out.push(trim(line, start, i));
            start = i + 1;
        }
    }
    out.push(trim(line, start, line.len()));
}

fn trim(line: &[u8], mut start: usize, mut end: usize) -> Range<usize> {
    while start < end && matches!(line[start], b' ' | b'\t') {
        start += 1;
    }
    while end > start && matches!(line[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    if end - start >= 2 && line[start] == b'"' && line[end - 1] == b'"' {
        start += 1;
        end -= 1;
    }
    start..end
}

/// The cell as text for an error message (lossy for bytes that are not UTF-8).
pub(crate) fn show(cell: &[u8]) -> String {
    String::from_utf8_lossy(cell).into_owned()
}

/// 2^96: the first mantissa a `Decimal` cannot hold.
const DECIMAL_LIMIT: u128 = 1 << 96;

/// Parses a plain decimal (`-12.5`, `+3`, `.25`, `7.`) exactly.
///
/// # Errors
/// Why the cell is not a plain decimal, phrased to follow "is not a decimal number: ".
pub(crate) fn parse_decimal(cell: &[u8]) -> Result<Decimal, &'static str> {
    let (neg, digits) = match cell.first() {
        Some(b'-') => (true, &cell[1..]),
        Some(b'+') => (false, &cell[1..]),
        Some(_) => (false, cell),
        None => return Err("the cell is empty"),
    };
    let mut small: u64 = 0;
    let mut wide: Option<u128> = None;
    let mut scale: u32 = 0;
    let mut dot = false;
    let mut any = false;
    for &b in digits {
        match b {
            b'0'..=b'9' => {
                any = true;
                let d = b - b'0';
                if dot {
                    scale += 1;
                    if scale > 28 {
                        return Err("more than 28 decimal places");
                    }
                }
                match wide.as_mut() {
                    None if small < 1_000_000_000_000_000_000 => small = small * 10 + u64::from(d),
                    None => wide = Some(u128::from(small) * 10 + u128::from(d)),
                    Some(w) => {
                        *w = *w * 10 + u128::from(d);
                        if *w >= DECIMAL_LIMIT {
                            return Err("too many digits");
                        }
                    }
                }
            }
            b'.' if dot => return Err("two decimal points"),
            b'.' => dot = true,
            b'e' | b'E' => return Err("exponent notation is not accepted, write the digits out"),
            _ => return Err("a character that is not a digit or '.'"),
        }
    }
    if !any {
        return Err("no digits");
    }
    let m = wide.unwrap_or(u128::from(small));
    // Truncating casts take the three 32-bit words of the (< 2^96) mantissa.
    #[allow(clippy::cast_possible_truncation)]
    let (lo, mid, hi) = (m as u32, (m >> 32) as u32, (m >> 64) as u32);
    Ok(Decimal::from_parts(lo, mid, hi, neg && m != 0, scale))
}

/// Epoch magnitudes: below 10^11 are seconds, below 10^14 milliseconds, below 10^17
/// microseconds, anything larger nanoseconds. (10^11 s is the year 5138; 10^14 ms is 5138
/// too; 10^17 µs is 5138; so any time from 1973 to 5138 reads right in every unit.)
const EPOCH_S_BELOW: u64 = 100_000_000_000;
const EPOCH_MS_BELOW: u64 = 100_000_000_000_000;
const EPOCH_US_BELOW: u64 = 100_000_000_000_000_000;

/// Parses a timestamp cell: ISO-8601 (`2022-01-01`, `2022-01-01T00:00:00Z`,
/// `2022-01-01 00:00:00.123456`, `…+02:00`) or epoch seconds/ms/µs/ns by magnitude. A time
/// without a zone is taken as UTC.
///
/// # Errors
/// A message naming the cell and what it should look like.
pub(crate) fn parse_timestamp(cell: &[u8]) -> Result<Timestamp, String> {
    if let Some(n) = parse_int(cell) {
        return epoch(n).ok_or_else(|| format!("epoch timestamp {n} is out of range (years 1677-2262)"));
    }
    match iso(cell) {
        Some(Ok(ns)) => Ok(Timestamp(ns)),
        Some(Err(why)) => Err(format!("timestamp '{}' {why}", show(cell))),
        None => fallback(cell),
    }
}

pub(crate) fn parse_int(cell: &[u8]) -> Option<i64> {
    let (neg, digits) = match cell.first()? {
        b'-' => (true, &cell[1..]),
        _ => (false, cell),
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits.iter().fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    let v = i64::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

pub(crate) fn epoch(n: i64) -> Option<Timestamp> {
    let abs = n.unsigned_abs();
    let nanos = if abs < EPOCH_S_BELOW {
        n.checked_mul(1_000_000_000)
    } else if abs < EPOCH_MS_BELOW {
        n.checked_mul(1_000_000)
    } else if abs < EPOCH_US_BELOW {
        n.checked_mul(1_000)
    } else {
        Some(n)
    };
    nanos.map(Timestamp)
}

fn digits2(b: &[u8], i: usize) -> Option<i64> {
    let (x, y) = (*b.get(i)?, *b.get(i + 1)?);
    if x.is_ascii_digit() && y.is_ascii_digit() {
        Some(i64::from(x - b'0') * 10 + i64::from(y - b'0'))
    } else {
        None
    }
}

/// Days from 1970-01-01 to the proleptic Gregorian date (`m` 1-12), exact for any year.
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // 0..=399
    let mp = (m + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // 0..=365
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub(crate) fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Fast ISO-8601: `None` when the shape is not one this reads (then chrono tries), else the
/// nanoseconds or why the values are impossible.
fn iso(b: &[u8]) -> Option<Result<i64, &'static str>> {
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits2(b, 0)? * 100 + digits2(b, 2)?;
    let (m, d) = (digits2(b, 5)?, digits2(b, 8)?);
    let (mut hh, mut mm, mut ss, mut frac, mut offset) = (0, 0, 0, 0i64, 0i64);
    if b.len() > 10 {
        if !matches!(b[10], b'T' | b't' | b' ') {
            return None;
        }
        hh = digits2(b, 11)?;
        if b.get(13) != Some(&b':') {
            return None;
        }
        mm = digits2(b, 14)?;
        let mut i = 16;
        if b.get(i) == Some(&b':') {
            ss = digits2(b, i + 1)?;
            i += 3;
            if matches!(b.get(i), Some(b'.' | b',')) {
                i += 1;
                let start = i;
                let mut scale = 1_000_000_000i64;
                while let Some(&c) = b.get(i).filter(|c| c.is_ascii_digit()) {
                    if scale > 1 {
                        scale /= 10;
                        frac += i64::from(c - b'0') * scale;
                    }
                    i += 1;
                }
                if i == start {
                    return None;
                }
            }
        }
        match b.get(i) {
            None => {}
            Some(b'Z' | b'z') if i + 1 == b.len() => i += 1,
            Some(&sign @ (b'+' | b'-')) => {
                let oh = digits2(b, i + 1)?;
                let rest = &b[i + 3..];
                let om = match rest {
                    [] => 0,
                    [b':', ..] => digits2(rest, 1).filter(|_| rest.len() == 3)?,
                    _ => digits2(rest, 0).filter(|_| rest.len() == 2)?,
                };
                if oh > 23 || om > 59 {
                    return Some(Err("has an impossible zone offset"));
                }
                offset = (oh * 3600 + om * 60) * if sign == b'-' { -1 } else { 1 };
                i = b.len();
            }
            Some(_) => return None,
        }
        if i != b.len() {
            return None;
        }
    }
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Some(Err("is not a calendar date"));
    }
    if hh > 23 || mm > 59 || ss > 59 {
        return Some(Err("is not a time of day"));
    }
    let secs = days_from_civil(y, m, d) * 86_400 + hh * 3600 + mm * 60 + ss - offset;
    Some(secs.checked_mul(1_000_000_000).and_then(|n| n.checked_add(frac)).ok_or("is out of range (years 1677-2262)"))
}

fn fallback(cell: &[u8]) -> Result<Timestamp, String> {
    let bad =
        || format!("'{}' is not a timestamp (ISO-8601 like 2022-01-31T14:30:00Z, or epoch s/ms/us/ns)", show(cell));
    let text = std::str::from_utf8(cell).map_err(|_| bad())?;
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return t.timestamp_nanos_opt().map(Timestamp).ok_or_else(bad);
    }
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"));
    naive.ok().and_then(|dt| dt.and_utc().timestamp_nanos_opt()).map(Timestamp).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;
    use std::str::FromStr;

    fn ts(s: &str) -> Result<Timestamp, String> {
        parse_timestamp(s.as_bytes())
    }

    #[test]
    fn decimals_read_exactly() {
        let cases = [
            ("1", dec!(1)),
            ("-12.50", dec!(-12.50)),
            ("+3", dec!(3)),
            (".25", dec!(0.25)),
            ("7.", dec!(7)),
            ("-0", dec!(0)),
            ("46319.0", dec!(46319.0)),
            ("0.0000000000000000000000000001", dec!(0.0000000000000000000000000001)),
            ("12345678901234567890123.45", dec!(12345678901234567890123.45)),
            ("79228162514264337593543950335", Decimal::MAX),
        ];
        for (text, want) in cases {
            let got = parse_decimal(text.as_bytes()).unwrap();
            assert_eq!(got, want, "{text}");
            assert_eq!(got.scale(), want.scale(), "{text}");
        }
    }

    #[test]
    fn bad_decimals_say_why() {
        let cases = [
            ("", "empty"),
            ("-", "no digits"),
            (".", "no digits"),
            ("1e5", "exponent"),
            ("nan", "not a digit"),
            ("1.2.3", "two decimal points"),
            ("1,5", "not a digit"),
            ("79228162514264337593543950336", "too many digits"),
            ("0.00000000000000000000000000001", "28 decimal places"),
        ];
        for (text, want) in cases {
            let err = parse_decimal(text.as_bytes()).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn iso_forms_agree_with_chrono() {
        let base = Timestamp::from_secs(1_640_995_200); // 2022-01-01T00:00:00Z
        let cases = [
            ("2022-01-01", base),
            ("2022-01-01T00:00:00Z", base),
            ("2022-01-01 00:00:00", base),
            ("2022-01-01T00:00", base),
            ("2022-01-01T02:00:00+02:00", base),
            ("2021-12-31T19:00:00-0500", base),
            ("2022-01-01T01:00:00+01", base),
            ("2022-01-01 00:00:00.000000", base),
            ("2022-01-01T00:00:00.5Z", base.plus_nanos(500_000_000)),
            ("2022-01-01T00:00:00.123456789Z", base.plus_nanos(123_456_789)),
            ("2022-01-01T00:00:00.1234567891Z", base.plus_nanos(123_456_789)),
            ("1995-01-03T00:00:00Z", Timestamp::from_secs(789_091_200)),
            ("2000-02-29", Timestamp::from_secs(951_782_400)),
        ];
        for (text, want) in cases {
            assert_eq!(ts(text).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn epoch_units_by_magnitude() {
        let base = Timestamp::from_secs(1_640_995_200);
        for text in ["1640995200", "1640995200000", "1640995200000000", "1640995200000000000"] {
            assert_eq!(ts(text).unwrap(), base, "{text}");
        }
        assert_eq!(ts("0").unwrap(), Timestamp(0));
        assert_eq!(ts("-86400").unwrap(), Timestamp::from_secs(-86_400));
    }

    #[test]
    fn bad_timestamps_say_what() {
        for (text, want) in [
            ("2022-13-01", "not a calendar date"),
            ("2021-02-29", "not a calendar date"),
            ("2022-01-01T24:00:00Z", "not a time of day"),
            ("2022-01-01T00:00:00+25:00", "zone offset"),
            ("yesterday", "is not a timestamp"),
            ("", "is not a timestamp"),
            ("2022-01-01T00:00:00Zjunk", "is not a timestamp"),
            ("9999-01-01", "out of range"),
        ] {
            let err = ts(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn cells_are_trimmed_and_unquoted() {
        let line = b" a ,\"b\",,c\t";
        let mut cells = Vec::new();
        split_cells(line, &mut cells);
        let texts: Vec<&[u8]> = cells.iter().map(|r| &line[r.clone()]).collect();
        assert_eq!(texts, [&b"a"[..], b"b", b"", b"c"]);
    }

    proptest! {
        #[test]
        fn decimal_matches_rust_decimal(m in any::<i64>(), scale in 0u32..=18) {
            let want = Decimal::new(m, scale);
            let text = want.to_string();
            prop_assert_eq!(parse_decimal(text.as_bytes()).unwrap(), Decimal::from_str(&text).unwrap());
        }

        #[test]
        fn iso_matches_chrono(secs in -5_000_000_000i64..7_000_000_000, nanos in 0u32..1_000_000_000) {
            let dt = chrono::DateTime::from_timestamp(secs, nanos).unwrap();
            let text = dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let want = dt.timestamp_nanos_opt().unwrap();
            prop_assert_eq!(parse_timestamp(text.as_bytes()).unwrap(), Timestamp(want));
            let plain = dt.format("%Y-%m-%d %H:%M:%S").to_string();
            prop_assert_eq!(parse_timestamp(plain.as_bytes()).unwrap(), Timestamp(want - i64::from(nanos)));
        }
    }
}
