//! Trading calendars: when a trading day ends (DAY expiry) and whether a market is in its
//! regular session (market-hours risk check).
//!
//! Pure functions of an asset class and an instant; no I/O. Exchange holidays and early
//! closes are **not** modelled: a US stock trading day is every Monday to Friday, 09:30–16:00
//! America/New_York. Daylight saving time is handled through the tz database, so the same
//! local close is 21:00 UTC in winter and 20:00 UTC in summer.

use super::instrument::AssetClass;
use super::time::Timestamp;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday};
use chrono_tz::America::New_York;
use chrono_tz::Tz;

/// Minutes after local midnight at which a US stock session opens (09:30).
const STOCK_OPEN_MIN: u32 = 9 * 60 + 30;
/// Local hour at which a US stock session ends (16:00 New York).
const STOCK_CLOSE_HOUR: u32 = 16;
/// Local hour at which an FX trading day ends (17:00 New York).
const FX_CLOSE_HOUR: u32 = 17;

/// The end of the trading day that contains `ts`.
///
/// - Stock: 16:00 America/New_York on a weekday; at or after 16:00, or on a weekend, the next
///   weekday's 16:00.
/// - Crypto: the next 00:00 UTC strictly after `ts`.
/// - Fx: 17:00 America/New_York; at or after 17:00 the next day's, and a day that would end on
///   a Saturday or Sunday ends on Monday instead (the FX week runs Sunday 17:00 to Friday 17:00).
///
/// A session end is exclusive: an instant equal to it already belongs to the next trading day.
#[must_use]
pub fn session_end(asset_class: AssetClass, ts: Timestamp) -> Timestamp {
    match asset_class {
        AssetClass::Stock => weekday_close(ts, STOCK_CLOSE_HOUR),
        AssetClass::Fx => weekday_close(ts, FX_CLOSE_HOUR),
        AssetClass::Crypto => {
            let day = ts.to_datetime().date_naive();
            let next = day.succ_opt().unwrap_or(day);
            from_utc(Utc.from_utc_datetime(&next.and_time(NaiveTime::MIN)))
        }
    }
}

/// Whether `ts` falls inside the regular session.
///
/// - Stock: Monday to Friday, 09:30 (inclusive) to 16:00 (exclusive) America/New_York; no
///   holiday list, so an exchange holiday counts as a session.
/// - Crypto: always.
/// - Fx: from Sunday 17:00 to Friday 17:00 America/New_York.
#[must_use]
pub fn is_regular_session(asset_class: AssetClass, ts: Timestamp) -> bool {
    let local = ts.to_datetime().with_timezone(&New_York);
    let minute = local.hour() * 60 + local.minute();
    match asset_class {
        AssetClass::Crypto => true,
        AssetClass::Stock => is_weekday(local.weekday()) && (STOCK_OPEN_MIN..STOCK_CLOSE_HOUR * 60).contains(&minute),
        AssetClass::Fx => {
            let before_close = local.hour() < FX_CLOSE_HOUR;
            match local.weekday() {
                Weekday::Sat => false,
                Weekday::Sun => !before_close,
                Weekday::Fri => before_close,
                _ => true,
            }
        }
    }
}

fn is_weekday(day: Weekday) -> bool {
    !matches!(day, Weekday::Sat | Weekday::Sun)
}

/// The first `hour`:00 New York close at or after the local day of `ts` (strictly after `ts`)
/// that falls on a weekday.
fn weekday_close(ts: Timestamp, hour: u32) -> Timestamp {
    let local = ts.to_datetime().with_timezone(&New_York);
    let mut day = local.date_naive();
    if local.hour() >= hour {
        day = next_day(day);
    }
    while !is_weekday(day.weekday()) {
        day = next_day(day);
    }
    from_utc(new_york_at(day, hour))
}

fn next_day(day: NaiveDate) -> NaiveDate {
    day.succ_opt().unwrap_or(day)
}

/// `hour`:00 New York time on `day`, as UTC. Whole hours in the afternoon are never inside a
/// DST gap or overlap (those happen at 02:00); should the tz database ever say otherwise, the
/// earliest valid reading, or an hour later for a gap, is used instead of panicking.
fn new_york_at(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    let naive = day.and_time(NaiveTime::from_hms_opt(hour, 0, 0).unwrap_or(NaiveTime::MIN));
    let local: Option<DateTime<Tz>> = New_York
        .from_local_datetime(&naive)
        .earliest()
        .or_else(|| New_York.from_local_datetime(&(naive + Duration::hours(1))).earliest());
    local.map_or_else(|| Utc.from_utc_datetime(&naive), |dt| dt.with_timezone(&Utc))
}

fn from_utc(dt: DateTime<Utc>) -> Timestamp {
    Timestamp(dt.timestamp_nanos_opt().unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn session_end_cases() {
        // (asset class, instant, expected session end); UTC instants computed by hand:
        // New York is UTC-5 (EST) until 2024-03-10 02:00 local, UTC-4 (EDT) after, and UTC-5
        // again from 2024-11-03 02:00 local.
        let cases = [
            // Friday before the spring change, EST: 16:00 NY = 21:00 UTC.
            (AssetClass::Stock, "2024-03-08T15:00:00Z", "2024-03-08T21:00:00Z"),
            // Friday 16:30 NY (after the close): next weekday is Monday, now EDT: 20:00 UTC.
            (AssetClass::Stock, "2024-03-08T21:30:00Z", "2024-03-11T20:00:00Z"),
            // Exactly at the Friday close: the day has ended, so Monday.
            (AssetClass::Stock, "2024-03-08T21:00:00Z", "2024-03-11T20:00:00Z"),
            // Saturday and Sunday (the DST day itself): Monday 16:00 EDT.
            (AssetClass::Stock, "2024-03-09T12:00:00Z", "2024-03-11T20:00:00Z"),
            (AssetClass::Stock, "2024-03-10T12:00:00Z", "2024-03-11T20:00:00Z"),
            // Monday after the change, 10:00 EDT.
            (AssetClass::Stock, "2024-03-11T14:00:00Z", "2024-03-11T20:00:00Z"),
            // Friday before the autumn change, EDT: 20:00 UTC; then Monday EST: 21:00 UTC.
            (AssetClass::Stock, "2024-11-01T13:00:00Z", "2024-11-01T20:00:00Z"),
            (AssetClass::Stock, "2024-11-01T20:00:00Z", "2024-11-04T21:00:00Z"),
            // 23:00 UTC on a Tuesday is 18:00 NY Tuesday (EST): Wednesday 16:00 = 21:00 UTC.
            (AssetClass::Stock, "2024-01-02T23:00:00Z", "2024-01-03T21:00:00Z"),
            // 03:00 UTC Wednesday is still Tuesday 22:00 in NY (after close): Wednesday.
            (AssetClass::Stock, "2024-01-03T03:00:00Z", "2024-01-03T21:00:00Z"),
            // Crypto: the next midnight UTC, strictly after.
            (AssetClass::Crypto, "2024-03-08T15:00:00Z", "2024-03-09T00:00:00Z"),
            (AssetClass::Crypto, "2024-03-09T00:00:00Z", "2024-03-10T00:00:00Z"),
            (AssetClass::Crypto, "2024-03-09T23:59:59Z", "2024-03-10T00:00:00Z"),
            // Fx: 17:00 NY. Thursday EST 12:00 NY -> 22:00 UTC.
            (AssetClass::Fx, "2024-03-07T17:00:00Z", "2024-03-07T22:00:00Z"),
            // Friday 17:30 NY -> Monday 17:00 EDT = 21:00 UTC.
            (AssetClass::Fx, "2024-03-08T22:30:00Z", "2024-03-11T21:00:00Z"),
            // Sunday 18:00 EDT (session open) -> Monday 17:00 EDT.
            (AssetClass::Fx, "2024-03-10T22:00:00Z", "2024-03-11T21:00:00Z"),
            // Monday 16:59 NY EDT -> same day 17:00 EDT.
            (AssetClass::Fx, "2024-03-11T20:59:00Z", "2024-03-11T21:00:00Z"),
        ];
        for (class, at, want) in cases {
            assert_eq!(session_end(class, t(at)), t(want), "{class:?} at {at}");
        }
    }

    #[test]
    fn regular_session_cases() {
        let cases = [
            // Friday 09:29 / 09:30 / 15:59 / 16:00 NY in EST (UTC-5).
            (AssetClass::Stock, "2024-03-08T14:29:00Z", false),
            (AssetClass::Stock, "2024-03-08T14:30:00Z", true),
            (AssetClass::Stock, "2024-03-08T20:59:00Z", true),
            (AssetClass::Stock, "2024-03-08T21:00:00Z", false),
            // Monday after the spring change, EDT (UTC-4): 09:30 NY = 13:30 UTC.
            (AssetClass::Stock, "2024-03-11T13:29:00Z", false),
            (AssetClass::Stock, "2024-03-11T13:30:00Z", true),
            (AssetClass::Stock, "2024-03-11T19:59:00Z", true),
            (AssetClass::Stock, "2024-03-11T20:00:00Z", false),
            // Saturday midday.
            (AssetClass::Stock, "2024-03-09T16:00:00Z", false),
            (AssetClass::Crypto, "2024-03-09T16:00:00Z", true),
            // Fx: Friday 16:59 NY open, 17:00 closed; Saturday closed; Sunday 16:59 closed,
            // 17:00 open (Sunday 2024-03-10 is already EDT: 17:00 NY = 21:00 UTC).
            (AssetClass::Fx, "2024-03-08T21:59:00Z", true),
            (AssetClass::Fx, "2024-03-08T22:00:00Z", false),
            (AssetClass::Fx, "2024-03-09T12:00:00Z", false),
            (AssetClass::Fx, "2024-03-10T20:59:00Z", false),
            (AssetClass::Fx, "2024-03-10T21:00:00Z", true),
            (AssetClass::Fx, "2024-03-12T03:00:00Z", true),
        ];
        for (class, at, want) in cases {
            assert_eq!(is_regular_session(class, t(at)), want, "{class:?} at {at}");
        }
    }
}
