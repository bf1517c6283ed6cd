//! Strategy sub-ledgers: a strategy with a capital allocation trades its own account in the
//! OMS (its own cash, positions, P&L and buying power) on the shared account's capital.
//! Risk already checks such a strategy against its sub-ledger; this file moves the capital.

use super::{Engine, EngineError, Journal};
use crate::model::{AccountId, StrategyId};
use crate::venue::Venue;
use rust_decimal::Decimal;

/// One capital move from the shared account into a strategy's sub-ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funding {
    /// The strategy.
    pub strategy: StrategyId,
    /// Its sub-ledger account.
    pub account: AccountId,
    /// The capital moved, in the risk currency.
    pub capital: Decimal,
}

impl<V: Venue, J: Journal> Engine<V, J> {
    /// The account a strategy trades: its sub-ledger when it has a capital allocation, else
    /// `shared`.
    #[must_use]
    pub fn account_of(&self, strategy: &StrategyId, shared: &AccountId) -> AccountId {
        self.risk.allocation(strategy).map_or_else(|| shared.clone(), |a| a.account.clone())
    }

    /// Moves each allocation's capital from `shared` into its sub-ledger, in the risk
    /// currency. Both balances are journaled (balance rows, committed at the next commit) so
    /// the move is audited. Sub-ledgers that already exist (restored after a restart) are left
    /// alone, so calling this at every start funds each sub-ledger once.
    ///
    /// # Errors
    /// [`EngineError::Allocation`] when `shared` has less cash than the allocations still to
    /// fund (nothing is moved), or an allocation names the shared account itself.
    pub fn fund_allocations(&mut self, shared: &AccountId) -> Result<Vec<Funding>, EngineError> {
        let config = self.risk.config();
        let ccy = config.currency.clone();
        let mut todo = Vec::new();
        for (strategy, s) in &config.strategies {
            let Some(a) = &s.allocation else { continue };
            if a.account == *shared {
                return Err(EngineError::Allocation(format!(
                    "strategy {strategy}: allocation account {} is the shared account; give it its own",
                    a.account
                )));
            }
            if self.oms.portfolio(&a.account).is_none() {
                todo.push(Funding { strategy: strategy.clone(), account: a.account.clone(), capital: a.capital });
            }
        }
        let needed: Decimal = todo.iter().map(|f| f.capital).sum();
        let cash = self.oms.portfolio(shared).map_or(Decimal::ZERO, |p| p.cash(&ccy));
        if needed > cash {
            return Err(EngineError::Allocation(format!(
                "allocations need {needed} {ccy} but account {shared} holds {cash} {ccy}"
            )));
        }
        for f in &todo {
            self.oms.deposit(shared, &ccy, -f.capital);
            self.oms.deposit(&f.account, &ccy, f.capital);
            tracing::info!(strategy = %f.strategy, account = %f.account, capital = %f.capital, "Engine funded a sub-ledger");
        }
        Ok(todo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::NoJournal;
    use crate::model::{Currency, Instrument, Instruments};
    use crate::oms::{Oms, OmsConfig};
    use crate::risk::{Allocation, RiskConfig, RiskEngine, StrategyRisk};
    use crate::venue::sim::{SimConfig, SimVenue};

    fn engine(allocs: &[(&str, &str, i64)], cash: i64) -> Engine<SimVenue, NoJournal> {
        let instruments: Instruments = [Instrument::us_stock("AAPL")].into_iter().collect();
        let mut oms = Oms::new(instruments.clone(), OmsConfig::default());
        let usd = Currency::try_new("USD").unwrap();
        oms.deposit(&AccountId::try_new("shared").unwrap(), &usd, Decimal::from(cash));
        let mut config = RiskConfig::default();
        for (s, a, c) in allocs {
            let allocation = Some(Allocation { account: AccountId::try_new(*a).unwrap(), capital: Decimal::from(*c) });
            config
                .strategies
                .insert(StrategyId::try_new(*s).unwrap(), StrategyRisk { allocation, ..Default::default() });
        }
        Engine::new(oms, RiskEngine::new(config).unwrap(), SimVenue::new(SimConfig::default(), instruments), NoJournal)
    }

    #[test]
    fn capital_moves_once_from_the_shared_account() {
        let shared = AccountId::try_new("shared").unwrap();
        let usd = Currency::try_new("USD").unwrap();
        let mut e = engine(&[("a", "a_ledger", 3000), ("b", "b_ledger", 2000)], 10_000);
        let moved = e.fund_allocations(&shared).unwrap();
        assert_eq!(moved.iter().map(|f| f.capital).sum::<Decimal>(), Decimal::from(5000));
        let cash = |e: &Engine<_, _>, a: &str| e.oms().portfolio(&AccountId::try_new(a).unwrap()).unwrap().cash(&usd);
        assert_eq!(
            (cash(&e, "shared"), cash(&e, "a_ledger"), cash(&e, "b_ledger")),
            (5000.into(), 3000.into(), 2000.into())
        );
        assert!(e.fund_allocations(&shared).unwrap().is_empty(), "funded once");
        assert_eq!(cash(&e, "shared"), Decimal::from(5000));
        assert_eq!(e.account_of(&StrategyId::try_new("a").unwrap(), &shared).as_str(), "a_ledger");
        assert_eq!(e.account_of(&StrategyId::try_new("z").unwrap(), &shared), shared);
    }

    #[test]
    fn too_little_shared_cash_moves_nothing() {
        let shared = AccountId::try_new("shared").unwrap();
        let mut e = engine(&[("a", "a_ledger", 3000), ("b", "b_ledger", 2000)], 4000);
        let err = e.fund_allocations(&shared).unwrap_err().to_string();
        assert!(err.contains("need 5000 USD") && err.contains("holds 4000 USD"), "{err}");
        assert!(e.oms().portfolio(&AccountId::try_new("a_ledger").unwrap()).is_none());
        let mut e = engine(&[("a", "shared", 10)], 4000);
        assert!(e.fund_allocations(&shared).unwrap_err().to_string().contains("is the shared account"));
    }
}
