//! Trading state (active, reducing-only, halted) at three levels, with audited transitions.
//!
//! The state that applies to an order is the most restrictive of the global state, its
//! strategy's and its symbol's. Owns no limits and no positions.

use super::limits::Scope;
use crate::collections::FastMap;
use crate::model::{StrategyId, Symbol, Timestamp};
use serde::{Deserialize, Serialize};

/// Whether new orders may be placed. Ordered from least to most restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    /// Every order that passes the checks.
    #[default]
    Active,
    /// Only orders that reduce a position (reduce-only orders, monitor exits, flattening).
    ReducingOnly,
    /// Nothing but cancels and the kill switch's flattening.
    Halted,
}

impl TradingState {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::ReducingOnly => "reducing_only",
            Self::Halted => "halted",
        }
    }
}

/// An audited change of trading state at one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StateChange {
    /// Where.
    pub scope: Scope,
    /// State before.
    pub prev: TradingState,
    /// State after.
    pub current: TradingState,
    /// Why (a reject-code-like text or a user's note).
    pub reason: String,
    /// When.
    pub ts: Timestamp,
    /// Who (user, API key name, `risk` for a breach).
    pub who: String,
}

/// The trading state at every level. Unset levels are active.
#[derive(Debug, Clone, Default)]
pub struct TradingStates {
    global: TradingState,
    strategies: FastMap<StrategyId, TradingState>,
    symbols: FastMap<Symbol, TradingState>,
}

impl TradingStates {
    /// The state at one scope.
    #[must_use]
    pub fn get(&self, scope: &Scope) -> TradingState {
        match scope {
            Scope::Global => self.global,
            Scope::Strategy(s) => self.strategies.get(s).copied().unwrap_or_default(),
            Scope::Symbol(s) => self.symbols.get(s).copied().unwrap_or_default(),
        }
    }

    /// The most restrictive state for an order of `strategy` in `symbol`, and the scope it
    /// comes from (the broadest one on a tie).
    #[must_use]
    pub fn effective(&self, strategy: &StrategyId, symbol: &Symbol) -> (TradingState, Scope) {
        let mut best = (self.global, None);
        if let Some(&s) = self.strategies.get(strategy) {
            if s > best.0 {
                best = (s, Some(Scope::Strategy(strategy.clone())));
            }
        }
        if let Some(&s) = self.symbols.get(symbol) {
            if s > best.0 {
                best = (s, Some(Scope::Symbol(symbol.clone())));
            }
        }
        (best.0, best.1.unwrap_or(Scope::Global))
    }

    /// Sets the state at one scope; returns the audit record, or `None` when it was already
    /// in that state.
    pub fn set(
        &mut self,
        scope: Scope,
        state: TradingState,
        reason: &str,
        who: &str,
        ts: Timestamp,
    ) -> Option<StateChange> {
        let slot = match &scope {
            Scope::Global => &mut self.global,
            Scope::Strategy(s) => self.strategies.entry(s.clone()).or_default(),
            Scope::Symbol(s) => self.symbols.entry(s.clone()).or_default(),
        };
        let prev = std::mem::replace(slot, state);
        (prev != state).then(|| StateChange {
            scope,
            prev,
            current: state,
            reason: reason.to_owned(),
            ts,
            who: who.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> StrategyId {
        StrategyId::try_new(s).unwrap()
    }
    fn sym(s: &str) -> Symbol {
        Symbol::try_new(s).unwrap()
    }

    #[test]
    fn most_restrictive_level_applies() {
        use TradingState::{Active, Halted, ReducingOnly};
        // (global, strategy, symbol, expected state, expected scope)
        let cases = [
            (Active, Active, Active, Active, Scope::Global),
            (Active, ReducingOnly, Active, ReducingOnly, Scope::Strategy(sid("a"))),
            (ReducingOnly, Active, Halted, Halted, Scope::Symbol(sym("X"))),
            (Halted, ReducingOnly, ReducingOnly, Halted, Scope::Global),
            (ReducingOnly, ReducingOnly, Active, ReducingOnly, Scope::Global),
        ];
        for (g, st, sy, want, want_scope) in cases {
            let mut s = TradingStates::default();
            s.set(Scope::Global, g, "t", "test", Timestamp(0));
            s.set(Scope::Strategy(sid("a")), st, "t", "test", Timestamp(0));
            s.set(Scope::Symbol(sym("X")), sy, "t", "test", Timestamp(0));
            assert_eq!(s.effective(&sid("a"), &sym("X")), (want, want_scope.clone()), "{g:?} {st:?} {sy:?}");
            // Another strategy and symbol only see the global state.
            assert_eq!(s.effective(&sid("b"), &sym("Y")).0, g);
        }
    }

    #[test]
    fn set_audits_changes_only() {
        let mut s = TradingStates::default();
        let change = s.set(Scope::Global, TradingState::Halted, "DAILY_LOSS_LIMIT", "risk", Timestamp(5)).unwrap();
        assert_eq!(
            change,
            StateChange {
                scope: Scope::Global,
                prev: TradingState::Active,
                current: TradingState::Halted,
                reason: "DAILY_LOSS_LIMIT".into(),
                ts: Timestamp(5),
                who: "risk".into(),
            }
        );
        assert_eq!(s.set(Scope::Global, TradingState::Halted, "again", "risk", Timestamp(6)), None);
        assert_eq!(s.get(&Scope::Global), TradingState::Halted);
        assert_eq!(s.get(&Scope::Symbol(sym("X"))), TradingState::Active);
    }
}
