//! Running counts of working orders, so pre-trade checks read them in O(1).

use crate::collections::FastMap;
use crate::model::{AccountId, Order, Side, StrategyId, Symbol};
use rust_decimal::Decimal;

/// Counts of non-terminal orders and the quantity still to fill on them.
#[derive(Debug, Default, Clone)]
pub struct OpenCounts {
    total: usize,
    by_strategy: FastMap<StrategyId, usize>,
    by_symbol: FastMap<Symbol, usize>,
    /// (buy, sell) quantity still to fill on orders that are not reduce-only.
    leaves: FastMap<(AccountId, Symbol), (Decimal, Decimal)>,
}

fn bump<K: std::hash::Hash + Eq + Clone>(map: &mut FastMap<K, usize>, key: &K, up: bool) {
    if up {
        *map.entry(key.clone()).or_default() += 1;
    } else if let Some(n) = map.get_mut(key) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(key);
        }
    }
}

/// What an order adds to the open buy/sell quantity: its leaves, unless reduce-only.
fn contribution(o: &Order) -> Decimal {
    if o.reduce_only {
        Decimal::ZERO
    } else {
        o.leaves_qty()
    }
}

impl OpenCounts {
    /// Counts an order that entered the working book.
    pub fn add(&mut self, o: &Order) {
        self.total += 1;
        bump(&mut self.by_strategy, &o.strategy_id, true);
        bump(&mut self.by_symbol, &o.symbol, true);
        self.shift_leaves(o, contribution(o));
    }

    /// Uncounts an order that left the working book, given what it contributed last.
    pub fn remove(&mut self, o: &Order, last_contribution: Decimal) {
        self.total = self.total.saturating_sub(1);
        bump(&mut self.by_strategy, &o.strategy_id, false);
        bump(&mut self.by_symbol, &o.symbol, false);
        self.shift_leaves(o, -last_contribution);
    }

    /// Records that a working order's open quantity moved from `before` to its current one.
    pub fn update(&mut self, o: &Order, before: Decimal) {
        let delta = contribution(o) - before;
        if !delta.is_zero() {
            self.shift_leaves(o, delta);
        }
    }

    fn shift_leaves(&mut self, o: &Order, delta: Decimal) {
        if delta.is_zero() {
            return;
        }
        let key = (o.account.clone(), o.symbol.clone());
        let entry = self.leaves.entry(key).or_default();
        match o.side {
            Side::Buy => entry.0 += delta,
            Side::Sell => entry.1 += delta,
        }
    }

    /// Working orders, all sources.
    #[must_use]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Working orders of one strategy.
    #[must_use]
    pub fn of_strategy(&self, strategy: &StrategyId) -> usize {
        self.by_strategy.get(strategy).copied().unwrap_or(0)
    }

    /// Working orders in one symbol.
    #[must_use]
    pub fn in_symbol(&self, symbol: &Symbol) -> usize {
        self.by_symbol.get(symbol).copied().unwrap_or(0)
    }

    /// (buy, sell) quantity still to fill on one account's orders in a symbol, reduce-only
    /// orders excluded.
    #[must_use]
    pub fn leaves(&self, account: &AccountId, symbol: &Symbol) -> (Decimal, Decimal) {
        self.leaves.get(&(account.clone(), symbol.clone())).copied().unwrap_or_default()
    }

    /// Open order contribution of one order, as [`OpenCounts::update`] expects for `before`.
    #[must_use]
    pub fn contribution(o: &Order) -> Decimal {
        contribution(o)
    }
}
