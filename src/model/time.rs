//! Time as one integer: nanoseconds since the Unix epoch, UTC.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A point in time, in nanoseconds since 1970-01-01T00:00:00Z.
///
/// Stored as `BIGINT` in the database and compared as an integer everywhere, so event
/// ordering never depends on a time zone or a float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

/// Nanoseconds in one second.
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    /// Builds a timestamp from whole seconds since the epoch.
    #[must_use]
    pub const fn from_secs(secs: i64) -> Self {
        Self(secs * NANOS_PER_SEC)
    }

    /// Builds a timestamp from milliseconds since the epoch.
    #[must_use]
    pub const fn from_millis(ms: i64) -> Self {
        Self(ms * 1_000_000)
    }

    /// Nanoseconds since the epoch.
    #[must_use]
    pub const fn nanos(self) -> i64 {
        self.0
    }

    /// This time plus `nanos` nanoseconds (saturating).
    #[must_use]
    pub const fn plus_nanos(self, nanos: i64) -> Self {
        Self(self.0.saturating_add(nanos))
    }

    /// This time plus `secs` seconds (saturating).
    #[must_use]
    pub const fn plus_secs(self, secs: i64) -> Self {
        self.plus_nanos(secs.saturating_mul(NANOS_PER_SEC))
    }

    /// The wall clock now.
    #[must_use]
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX))
    }

    /// The same instant as a chrono UTC date-time.
    #[must_use]
    pub fn to_datetime(self) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp_nanos(self.0)
    }

    /// Parses an RFC 3339 / ISO-8601 time such as `2022-01-01T00:00:00Z`.
    ///
    /// # Errors
    /// Returns the chrono parse error when the text is not RFC 3339.
    pub fn parse_rfc3339(s: &str) -> Result<Self, chrono::ParseError> {
        let dt = chrono::DateTime::parse_from_rfc3339(s)?;
        Ok(Self(dt.timestamp_nanos_opt().unwrap_or(i64::MAX)))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_datetime().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_through_display() {
        let t = Timestamp::parse_rfc3339("2022-01-01T00:01:00Z").unwrap();
        assert_eq!(t, Timestamp::from_secs(1_640_995_260));
        assert_eq!(t.to_string(), "2022-01-01T00:01:00Z");
        assert_eq!(t.plus_secs(60).to_string(), "2022-01-01T00:02:00Z");
    }
}
