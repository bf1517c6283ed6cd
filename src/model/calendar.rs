//! Trading calendars: session ends for DAY expiry and market hours (placeholder).
