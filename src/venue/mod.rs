//! Venues: where orders execute. `sim` is the built-in simulated exchange (the embedded
//! default); live venues come later behind the same events.
//!
//! Must not know about strategies.

pub mod sim;

use crate::data::MarketEvent;
use crate::model::{ClientOrderId, Fill, Modification, Order, Timestamp, VenueOrderId};
use rust_decimal::Decimal;

/// An execution venue as the engine drives it: requests go in, [`VenueEvent`]s come out.
///
/// The simulated venue answers synchronously into `out`; a live venue forwards requests to
/// its connection task and reports events later through the engine's input.
pub trait Venue {
    /// Sends a new order (already committed to the store).
    fn submit(&mut self, order: &Order, ts: Timestamp, out: &mut Vec<VenueEvent>);
    /// Asks to cancel an order.
    fn cancel(&mut self, cid: &ClientOrderId, ts: Timestamp, out: &mut Vec<VenueEvent>);
    /// Asks to modify an order.
    fn modify(&mut self, cid: &ClientOrderId, change: &Modification, ts: Timestamp, out: &mut Vec<VenueEvent>);
    /// Lets the venue see a price event (the simulated venue matches on it; live venues ignore it).
    fn on_market(&mut self, event: &MarketEvent, out: &mut Vec<VenueEvent>);
}

/// What a venue reports about an order. The OMS applies these through the status table.
#[derive(Debug, Clone, PartialEq)]
pub enum VenueEvent {
    /// The venue acknowledged the order.
    Accepted {
        /// Our id.
        cid: ClientOrderId,
        /// The venue's id.
        venue_order_id: VenueOrderId,
        /// When.
        ts: Timestamp,
    },
    /// The venue refused the order.
    Rejected {
        /// Our id.
        cid: ClientOrderId,
        /// Why, in the venue's words.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// An execution.
    Filled(Fill),
    /// The order was cancelled (on our request, or by the venue).
    Cancelled {
        /// Our id.
        cid: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// The venue refused our cancel.
    CancelRejected {
        /// Our id.
        cid: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// The order ended by its time in force (DAY at session end, IOC/FOK remainder).
    Expired {
        /// Our id.
        cid: ClientOrderId,
        /// When.
        ts: Timestamp,
    },
    /// A modification took effect.
    Modified {
        /// Our id.
        cid: ClientOrderId,
        /// What changed.
        change: Modification,
        /// When.
        ts: Timestamp,
    },
    /// The venue refused a modification; the order is unchanged.
    ModifyRejected {
        /// Our id.
        cid: ClientOrderId,
        /// Why.
        reason: String,
        /// When.
        ts: Timestamp,
    },
    /// A trailing stop's trigger price moved (ratcheted favourably). Not a status change.
    TrailingStopMoved {
        /// Our id.
        cid: ClientOrderId,
        /// The new trigger price.
        stop_price: Decimal,
        /// When.
        ts: Timestamp,
    },
}

impl VenueEvent {
    /// The order the event is about.
    #[must_use]
    pub fn cid(&self) -> &ClientOrderId {
        match self {
            Self::Accepted { cid, .. }
            | Self::Rejected { cid, .. }
            | Self::Cancelled { cid, .. }
            | Self::CancelRejected { cid, .. }
            | Self::Expired { cid, .. }
            | Self::Modified { cid, .. }
            | Self::ModifyRejected { cid, .. }
            | Self::TrailingStopMoved { cid, .. } => cid,
            Self::Filled(f) => &f.cid,
        }
    }
}

impl Venue for sim::SimVenue {
    fn submit(&mut self, order: &Order, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        sim::SimVenue::submit(self, order, ts, out);
    }
    fn cancel(&mut self, cid: &ClientOrderId, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        sim::SimVenue::cancel(self, cid, ts, out);
    }
    fn modify(&mut self, cid: &ClientOrderId, change: &Modification, ts: Timestamp, out: &mut Vec<VenueEvent>) {
        sim::SimVenue::modify(self, cid, change, ts, out);
    }
    fn on_market(&mut self, event: &MarketEvent, out: &mut Vec<VenueEvent>) {
        sim::SimVenue::on_market(self, event, out);
    }
}
