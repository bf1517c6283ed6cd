//! Bracket rules as pure functions: how far the children of an entry are released, and how
//! one child's fills shrink or cancel its sibling (OCO).

use crate::model::{BracketRole, ClientOrderId, Order, OrderRequest, OrderType, TimeInForce};
use rust_decimal::Decimal;

/// Builds the pending stop-loss and take-profit children of a bracket entry.
///
/// Children are reduce-only GTC orders on the other side for the entry's whole quantity;
/// they stay pending (not at the venue) until the entry fills.
#[must_use]
pub fn children(entry: &Order, req: &OrderRequest) -> Vec<Order> {
    let Some(spec) = req.bracket else { return Vec::new() };
    let mut out = Vec::with_capacity(2);
    let base = |order_type, limit_price, stop_price| OrderRequest {
        side: req.side.opposite(),
        order_type,
        limit_price,
        stop_price,
        trailing: None,
        tif: TimeInForce::Gtc,
        reduce_only: true,
        bracket: None,
        ..req.clone()
    };
    let mut push = |role: BracketRole, tag: &str, child_req: OrderRequest| {
        let mut child = Order::new(entry.cid.child(tag), &child_req, entry.ts_init);
        child.parent = Some(entry.cid.clone());
        child.role = Some(role);
        out.push(child);
    };
    if let Some(sl) = spec.stop_loss {
        push(BracketRole::StopLoss, "sl", base(OrderType::Stop, None, Some(sl)));
    }
    if let Some(tp) = spec.take_profit {
        push(BracketRole::TakeProfit, "tp", base(OrderType::Limit, Some(tp), None));
    }
    out
}

/// The quantity a child should work once its entry has `entry_filled` of `entry_qty` filled:
/// its full quantity pro rata, floored to the lot size.
#[must_use]
pub fn released_qty(child_full_qty: Decimal, entry_filled: Decimal, entry_qty: Decimal, lot: Decimal) -> Decimal {
    if entry_qty.is_zero() {
        return Decimal::ZERO;
    }
    let raw = child_full_qty * entry_filled / entry_qty;
    if lot.is_zero() {
        raw
    } else {
        (raw / lot).floor() * lot
    }
}

/// What to do with a sibling after its partner filled (OCO).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiblingAction {
    /// Leave it.
    Keep,
    /// Cancel it: the partner completed.
    Cancel(ClientOrderId),
    /// Shrink it to this total quantity: the partner partly closed the position.
    Shrink(ClientOrderId, Decimal),
}

/// Decides the sibling's fate after `child` filled (partly or fully).
#[must_use]
pub fn after_child_fill(child: &Order, sibling: &Order) -> SiblingAction {
    if sibling.status().is_terminal() {
        return SiblingAction::Keep;
    }
    if child.status().is_terminal() || child.leaves_qty().is_zero() {
        return SiblingAction::Cancel(sibling.cid.clone());
    }
    // The position left to protect is what the partner has not yet closed.
    let target = sibling.filled_qty() + child.leaves_qty();
    if target < sibling.qty() && target > sibling.filled_qty() {
        SiblingAction::Shrink(sibling.cid.clone(), target)
    } else {
        SiblingAction::Keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn release_is_pro_rata_and_floored_to_the_lot() {
        assert_eq!(released_qty(dec!(10), dec!(4), dec!(10), dec!(1)), dec!(4));
        assert_eq!(released_qty(dec!(10), dec!(10), dec!(10), dec!(1)), dec!(10));
        // a child for 5 of an entry of 10 with 3 filled: 1.5 → floor to 1
        assert_eq!(released_qty(dec!(5), dec!(3), dec!(10), dec!(1)), dec!(1));
        assert_eq!(released_qty(dec!(0.5), dec!(0.3), dec!(0.5), dec!(0.001)), dec!(0.3));
        assert_eq!(released_qty(dec!(1), dec!(0), dec!(0), dec!(1)), dec!(0));
    }
}
