//! The protective-stop guarantee, pure part: after an entry fills, the position must have a
//! working stop within a deadline. The tracker only reports positions past the deadline with
//! no working stop; the engine flattens them and raises the alert.
//!
//! What counts as "a working stop" is the engine's call (on a live venue: a stop order the
//! venue acknowledged). Notifications: [`StopGuard::opened`] when an entry fills,
//! [`StopGuard::stop_working`] when a stop is working, [`StopGuard::stop_gone`] when it is no
//! longer (cancelled, rejected, expired) while the position stays open — the deadline starts
//! again — and [`StopGuard::closed`] when the position is flat.

use crate::model::{PositionId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Settings of the guarantee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopGuardConfig {
    /// Whether positions are tracked at all.
    pub enabled: bool,
    /// How long a position may be open without a working stop, in nanoseconds.
    pub deadline_nanos: i64,
}

/// Default deadline: 10 seconds.
pub const DEFAULT_STOP_DEADLINE_NANOS: i64 = 10 * crate::model::time::NANOS_PER_SEC;

impl StopGuardConfig {
    /// The default for a venue: on with a 10 s deadline for live venues, off for the
    /// simulated one (whose monitors run in the same process as its matching).
    #[must_use]
    pub fn for_venue(live: bool) -> Self {
        Self { enabled: live, deadline_nanos: DEFAULT_STOP_DEADLINE_NANOS }
    }
}

/// A position past its deadline with no working stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unprotected {
    /// The position.
    pub position_id: PositionId,
    /// Since when it has had no working stop (its opening, or when its stop went away).
    pub since: Timestamp,
    /// The deadline it missed.
    pub deadline: Timestamp,
}

/// Tracks positions waiting for a working stop. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopGuard {
    config: StopGuardConfig,
    /// Positions without a working stop → since when.
    waiting: BTreeMap<PositionId, Timestamp>,
}

impl StopGuard {
    /// An empty tracker.
    #[must_use]
    pub fn new(config: StopGuardConfig) -> Self {
        Self { config, waiting: BTreeMap::new() }
    }

    /// The settings.
    #[must_use]
    pub fn config(&self) -> StopGuardConfig {
        self.config
    }

    /// An entry filled: `position_id` must have a working stop by `ts + deadline`.
    /// A position already waiting keeps its earlier start.
    pub fn opened(&mut self, position_id: PositionId, ts: Timestamp) {
        if self.config.enabled {
            self.waiting.entry(position_id).or_insert(ts);
        }
    }

    /// A stop is working for `position_id`.
    pub fn stop_working(&mut self, position_id: PositionId) {
        self.waiting.remove(&position_id);
    }

    /// The position's stop stopped working at `ts` while the position stays open: the
    /// deadline starts again from `ts`.
    pub fn stop_gone(&mut self, position_id: PositionId, ts: Timestamp) {
        self.opened(position_id, ts);
    }

    /// The position is flat: nothing to protect.
    pub fn closed(&mut self, position_id: PositionId) {
        self.waiting.remove(&position_id);
    }

    /// Positions waiting for a stop.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether `position_id` is waiting for a working stop.
    #[must_use]
    pub fn is_waiting(&self, position_id: PositionId) -> bool {
        self.waiting.contains_key(&position_id)
    }

    /// Positions whose deadline has come at `now` (`since + deadline_nanos <= now`), by
    /// position id. Each is reported once: it leaves the tracker (the
    /// engine flattens it; a later [`StopGuard::opened`] or [`StopGuard::stop_gone`] tracks
    /// it again).
    pub fn overdue(&mut self, now: Timestamp) -> Vec<Unprotected> {
        let deadline_nanos = self.config.deadline_nanos;
        let mut out = Vec::new();
        self.waiting.retain(|&position_id, &mut since| {
            let deadline = since.plus_nanos(deadline_nanos);
            let due = deadline <= now;
            if due {
                out.push(Unprotected { position_id, since, deadline });
            }
            !due
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_secs(secs)
    }

    #[test]
    fn reports_only_unprotected_positions_past_the_deadline_once() {
        let mut g = StopGuard::new(StopGuardConfig { enabled: true, deadline_nanos: 5 * 1_000_000_000 });
        g.opened(PositionId(1), t(0));
        g.opened(PositionId(2), t(1));
        g.opened(PositionId(3), t(2));
        g.stop_working(PositionId(2));
        assert_eq!(g.overdue(t(4)), vec![]);
        // 1 is due at 5 (inclusive), 3 at 7.
        assert_eq!(g.overdue(t(5)), vec![Unprotected { position_id: PositionId(1), since: t(0), deadline: t(5) }]);
        assert_eq!(g.overdue(t(6)), vec![], "reported once");
        // 2's stop is cancelled at 6: due again at 11.
        g.stop_gone(PositionId(2), t(6));
        g.closed(PositionId(3));
        assert_eq!(g.overdue(t(10)), vec![]);
        assert_eq!(g.overdue(t(11)), vec![Unprotected { position_id: PositionId(2), since: t(6), deadline: t(11) }]);
        assert_eq!(g.waiting(), 0);
    }

    #[test]
    fn disabled_tracks_nothing_and_defaults_depend_on_the_venue() {
        let mut g = StopGuard::new(StopGuardConfig::for_venue(false));
        g.opened(PositionId(1), t(0));
        assert_eq!(g.overdue(t(1_000)), vec![]);
        assert_eq!(StopGuardConfig::for_venue(true), StopGuardConfig { enabled: true, deadline_nanos: 10_000_000_000 });
    }

    #[test]
    fn round_trips_through_json() {
        let mut g = StopGuard::new(StopGuardConfig::for_venue(true));
        g.opened(PositionId(9), t(3));
        let back: StopGuard = serde_json::from_str(&serde_json::to_string(&g).unwrap()).unwrap();
        assert_eq!(back, g);
    }
}
