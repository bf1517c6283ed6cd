//! Order status and the one transition table every status change goes through.

use serde::{Deserialize, Serialize};
use std::fmt;
use thiserror::Error;

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Created and stored, not yet sent (also: a bracket child waiting for its entry to fill).
    Pending,
    /// Sent to the venue, not yet acknowledged.
    Submitted,
    /// Acknowledged and working at the venue, nothing filled.
    Open,
    /// Working with some quantity filled.
    PartiallyFilled,
    /// Completely filled (terminal).
    Filled,
    /// A cancel was requested and not yet confirmed.
    Cancelling,
    /// Cancelled, possibly after partial fills (terminal).
    Cancelled,
    /// Refused by risk or by the venue (terminal).
    Rejected,
    /// Ended by its time in force: DAY at session end, IOC/FOK remainder (terminal).
    Expired,
    /// Could not be submitted (a transport or internal failure) (terminal).
    Failed,
}

/// Every status, for exhaustive tests and listings.
pub const ALL_STATUSES: [OrderStatus; 10] = [
    OrderStatus::Pending,
    OrderStatus::Submitted,
    OrderStatus::Open,
    OrderStatus::PartiallyFilled,
    OrderStatus::Filled,
    OrderStatus::Cancelling,
    OrderStatus::Cancelled,
    OrderStatus::Rejected,
    OrderStatus::Expired,
    OrderStatus::Failed,
];

impl OrderStatus {
    /// The snake_case name stored in the database and shown to users.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Submitted => "submitted",
            Self::Open => "open",
            Self::PartiallyFilled => "partially_filled",
            Self::Filled => "filled",
            Self::Cancelling => "cancelling",
            Self::Cancelled => "cancelled",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored name back.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        ALL_STATUSES.into_iter().find(|st| st.as_str() == s)
    }

    /// Whether the order can never work again (a late fill is the only event it still takes).
    #[must_use]
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Filled | Self::Cancelled | Self::Rejected | Self::Expired | Self::Failed)
    }

    /// Whether the order is live at the venue or on its way there (it may still fill).
    #[must_use]
    pub fn is_working(self) -> bool {
        matches!(self, Self::Submitted | Self::Open | Self::PartiallyFilled | Self::Cancelling)
    }

    /// Applies one event to this status: the single transition table.
    ///
    /// Rows marked *late fill* are the documented exception for terminal states: a venue can
    /// report an execution that happened before its cancel or expiry was processed; that fill
    /// is real money and is applied.
    ///
    /// # Errors
    /// [`TransitionError`] for every pair not in the table; nothing changes then.
    #[rustfmt::skip]
    pub fn on(self, event: OrderEventKind) -> Result<OrderStatus, TransitionError> {
        use OrderEventKind as E;
        use OrderStatus as S;
        let next = match (self, event) {
            (S::Pending,         E::Submit)        => S::Submitted,
            (S::Pending,         E::Reject)        => S::Rejected,
            (S::Pending,         E::Cancel)        => S::Cancelled,  // inactive bracket child, OCO
            (S::Pending,         E::Fail)          => S::Failed,
            (S::Pending,         E::Modify)        => S::Pending,    // inactive bracket child resized

            (S::Submitted,       E::Accept)        => S::Open,
            (S::Submitted,       E::Reject)        => S::Rejected,
            (S::Submitted,       E::PartialFill)   => S::PartiallyFilled, // fill before the ack
            (S::Submitted,       E::Fill)          => S::Filled,
            (S::Submitted,       E::CancelRequest) => S::Cancelling,
            (S::Submitted,       E::Cancel)        => S::Cancelled,
            (S::Submitted,       E::Expire)        => S::Expired,  // IOC/FOK with nothing filled
            (S::Submitted,       E::Fail)          => S::Failed,
            (S::Submitted,       E::Modify)        => S::Submitted,

            (S::Open,            E::PartialFill)   => S::PartiallyFilled,
            (S::Open,            E::Fill)          => S::Filled,
            (S::Open,            E::CancelRequest) => S::Cancelling,
            (S::Open,            E::Cancel)        => S::Cancelled,
            (S::Open,            E::Expire)        => S::Expired,
            (S::Open,            E::Modify)        => S::Open,

            (S::PartiallyFilled, E::PartialFill)   => S::PartiallyFilled,
            (S::PartiallyFilled, E::Fill)          => S::Filled,
            (S::PartiallyFilled, E::CancelRequest) => S::Cancelling,
            (S::PartiallyFilled, E::Cancel)        => S::Cancelled,
            (S::PartiallyFilled, E::Expire)        => S::Expired,
            (S::PartiallyFilled, E::Modify)        => S::PartiallyFilled,

            (S::Cancelling,      E::Accept)        => S::Cancelling, // ack overtaken by our cancel
            (S::Cancelling,      E::Reject)        => S::Rejected,   // the submission itself was refused
            (S::Cancelling,      E::PartialFill)   => S::Cancelling, // fills race the cancel
            (S::Cancelling,      E::Fill)          => S::Filled,
            (S::Cancelling,      E::Cancel)        => S::Cancelled,
            (S::Cancelling,      E::Expire)        => S::Expired,
            (S::Cancelling,      E::CancelRejectUnfilled) => S::Open,
            (S::Cancelling,      E::CancelRejectPartial)  => S::PartiallyFilled,

            (S::Cancelled,       E::PartialFill)   => S::Cancelled, // late fill
            (S::Cancelled,       E::Fill)          => S::Filled,    // late fill completing the order
            (S::Expired,         E::PartialFill)   => S::Expired,   // late fill
            (S::Expired,         E::Fill)          => S::Filled,    // late fill completing the order

            (from, event) => return Err(TransitionError { from, event }),
        };
        Ok(next)
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What happened to an order, reduced to what the transition table needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEventKind {
    /// Sent to the venue.
    Submit,
    /// The venue acknowledged it.
    Accept,
    /// Refused (by risk before submission, or by the venue).
    Reject,
    /// An execution that leaves quantity open.
    PartialFill,
    /// An execution that completes the order.
    Fill,
    /// We asked the venue to cancel it.
    CancelRequest,
    /// The venue refused our cancel and nothing is filled yet.
    CancelRejectUnfilled,
    /// The venue refused our cancel and part is already filled.
    CancelRejectPartial,
    /// Cancelled (confirmed by the venue, or before it ever left us).
    Cancel,
    /// Ended by its time in force.
    Expire,
    /// Could not be submitted.
    Fail,
    /// Price, quantity or stop price changed.
    Modify,
}

/// Every event kind, for exhaustive tests.
pub const ALL_EVENT_KINDS: [OrderEventKind; 12] = [
    OrderEventKind::Submit,
    OrderEventKind::Accept,
    OrderEventKind::Reject,
    OrderEventKind::PartialFill,
    OrderEventKind::Fill,
    OrderEventKind::CancelRequest,
    OrderEventKind::CancelRejectUnfilled,
    OrderEventKind::CancelRejectPartial,
    OrderEventKind::Cancel,
    OrderEventKind::Expire,
    OrderEventKind::Fail,
    OrderEventKind::Modify,
];

impl OrderEventKind {
    /// The snake_case name stored in the audit trail.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submit => "submit",
            Self::Accept => "accept",
            Self::Reject => "reject",
            Self::PartialFill => "partial_fill",
            Self::Fill => "fill",
            Self::CancelRequest => "cancel_request",
            Self::CancelRejectUnfilled => "cancel_reject_unfilled",
            Self::CancelRejectPartial => "cancel_reject_partial",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
            Self::Fail => "fail",
            Self::Modify => "modify",
        }
    }

    /// Parses the stored name back.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        ALL_EVENT_KINDS.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for OrderEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// An event that the transition table does not allow in the order's current status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("illegal order transition: '{event}' is not allowed in status '{from}'")]
pub struct TransitionError {
    /// The status the order was in (and stays in).
    pub from: OrderStatus,
    /// The refused event.
    pub event: OrderEventKind,
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEventKind as E;
    use OrderStatus as S;

    /// The expected table, written out independently of `on` as (status, event, next) rows.
    /// Every pair not listed here must be refused.
    #[rustfmt::skip]
    const EXPECTED: &[(S, E, S)] = &[
        (S::Pending, E::Submit, S::Submitted), (S::Pending, E::Reject, S::Rejected),
        (S::Pending, E::Cancel, S::Cancelled), (S::Pending, E::Fail, S::Failed),
        (S::Pending, E::Modify, S::Pending),
        (S::Submitted, E::Accept, S::Open), (S::Submitted, E::Reject, S::Rejected),
        (S::Submitted, E::PartialFill, S::PartiallyFilled), (S::Submitted, E::Fill, S::Filled),
        (S::Submitted, E::CancelRequest, S::Cancelling), (S::Submitted, E::Cancel, S::Cancelled),
        (S::Submitted, E::Expire, S::Expired), (S::Submitted, E::Fail, S::Failed),
        (S::Submitted, E::Modify, S::Submitted),
        (S::Open, E::PartialFill, S::PartiallyFilled), (S::Open, E::Fill, S::Filled),
        (S::Open, E::CancelRequest, S::Cancelling), (S::Open, E::Cancel, S::Cancelled),
        (S::Open, E::Expire, S::Expired), (S::Open, E::Modify, S::Open),
        (S::PartiallyFilled, E::PartialFill, S::PartiallyFilled), (S::PartiallyFilled, E::Fill, S::Filled),
        (S::PartiallyFilled, E::CancelRequest, S::Cancelling), (S::PartiallyFilled, E::Cancel, S::Cancelled),
        (S::PartiallyFilled, E::Expire, S::Expired), (S::PartiallyFilled, E::Modify, S::PartiallyFilled),
        (S::Cancelling, E::Accept, S::Cancelling), (S::Cancelling, E::Reject, S::Rejected),
        (S::Cancelling, E::PartialFill, S::Cancelling), (S::Cancelling, E::Fill, S::Filled),
        (S::Cancelling, E::Cancel, S::Cancelled), (S::Cancelling, E::Expire, S::Expired),
        (S::Cancelling, E::CancelRejectUnfilled, S::Open),
        (S::Cancelling, E::CancelRejectPartial, S::PartiallyFilled),
        (S::Cancelled, E::PartialFill, S::Cancelled), (S::Cancelled, E::Fill, S::Filled),
        (S::Expired, E::PartialFill, S::Expired), (S::Expired, E::Fill, S::Filled),
    ];

    #[test]
    fn every_status_event_pair_matches_the_expected_table() {
        let mut legal = 0;
        for from in ALL_STATUSES {
            for event in ALL_EVENT_KINDS {
                let expected = EXPECTED.iter().find(|(s, e, _)| *s == from && *e == event).map(|r| r.2);
                match (from.on(event), expected) {
                    (Ok(next), Some(want)) => {
                        assert_eq!(next, want, "{from} + {event}");
                        legal += 1;
                    }
                    (Err(err), None) => {
                        assert_eq!(err, TransitionError { from, event });
                    }
                    (got, want) => panic!("{from} + {event}: got {got:?}, expected {want:?}"),
                }
            }
        }
        assert_eq!(legal, EXPECTED.len());
        assert_eq!(ALL_STATUSES.len() * ALL_EVENT_KINDS.len(), 120);
    }

    #[test]
    fn filled_rejected_and_failed_accept_nothing() {
        for st in [S::Filled, S::Rejected, S::Failed] {
            for ev in ALL_EVENT_KINDS {
                assert!(st.on(ev).is_err(), "{st} accepted {ev}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for st in ALL_STATUSES {
            assert_eq!(S::parse(st.as_str()), Some(st));
        }
        for ev in ALL_EVENT_KINDS {
            assert_eq!(E::parse(ev.as_str()), Some(ev));
        }
        assert_eq!(S::parse("bogus"), None);
    }

    #[test]
    fn error_message_names_both_sides() {
        let msg = S::Filled.on(E::Cancel).unwrap_err().to_string();
        assert_eq!(msg, "illegal order transition: 'cancel' is not allowed in status 'filled'");
    }
}
