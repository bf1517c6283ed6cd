//! Limits at three levels (global, per strategy, per symbol), the tightest-wins resolution,
//! the serde [`RiskConfig`] with its defaults, and audited run-time changes.
//!
//! Every limit is optional at every level; `None` means "no limit at this level". For one
//! order, each field resolves to the tightest value set at the global level, the order's
//! strategy and the order's symbol: the smallest maximum, or for
//! [`LimitField::MinLlmConfidence`] the largest minimum. A strategy or symbol can therefore
//! tighten the global limits but never loosen them.
//!
//! Money limits are in the order's quote currency (see [`RiskConfig::currency`]); there is no
//! currency conversion.

use crate::model::{AccountId, AssetClass, Currency, StrategyId, Symbol, Timestamp};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// Where a limit or a trading state applies.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "level", content = "id")]
pub enum Scope {
    /// Everything.
    Global,
    /// One strategy (its orders, and its sub-ledger when it has an allocation).
    Strategy(StrategyId),
    /// One symbol.
    Symbol(Symbol),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Global => f.write_str("global"),
            Self::Strategy(s) => write!(f, "strategy:{s}"),
            Self::Symbol(s) => write!(f, "symbol:{s}"),
        }
    }
}

macro_rules! limits {
    ($($(#[$doc:meta])* $field:ident / $variant:ident => $min:literal,)+) => {
        /// The limits set at one level; `None` is "no limit here".
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Limits {
            $($(#[$doc])* pub $field: Option<Decimal>,)+
        }

        /// One field of [`Limits`], for run-time changes and audit records.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum LimitField {
            $($(#[$doc])* $variant,)+
        }

        impl LimitField {
            /// Every field, in declaration order.
            pub const ALL: &'static [LimitField] = &[$(LimitField::$variant,)+];

            /// The config key of the field.
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => stringify!($field),)+
                }
            }

            /// Parses a config key.
            #[must_use]
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $(stringify!($field) => Some(Self::$variant),)+
                    _ => None,
                }
            }

            /// Whether a larger value is tighter (a minimum) rather than looser (a maximum).
            #[must_use]
            fn is_minimum(self) -> bool {
                match self {
                    $(Self::$variant => $min,)+
                }
            }
        }

        impl Limits {
            /// Every field's value, in [`LimitField::ALL`] order.
            #[must_use]
            pub fn values(&self) -> [Option<Decimal>; LimitField::ALL.len()] {
                [$(self.$field,)+]
            }

            /// The value of one field.
            #[must_use]
            pub fn get(&self, field: LimitField) -> Option<Decimal> {
                match field {
                    $(LimitField::$variant => self.$field,)+
                }
            }

            /// Sets one field; returns the old value.
            pub fn set(&mut self, field: LimitField, value: Option<Decimal>) -> Option<Decimal> {
                match field {
                    $(LimitField::$variant => std::mem::replace(&mut self.$field, value),)+
                }
            }
        }
    };
}

limits! {
    /// Largest quantity of one US stock order (shares).
    max_order_qty_stock / MaxOrderQtyStock => false,
    /// Largest quantity of one crypto order (base units).
    max_order_qty_crypto / MaxOrderQtyCrypto => false,
    /// Largest quantity of one FX order (base units).
    max_order_qty_fx / MaxOrderQtyFx => false,
    /// Largest notional of one order.
    max_order_notional / MaxOrderNotional => false,
    /// Largest absolute position value in one symbol, per account and across accounts.
    max_position_notional / MaxPositionNotional => false,
    /// Largest Σ |position value|: global against the shared totals, strategy against its
    /// sub-ledger. Ignored at the symbol level.
    max_gross_exposure / MaxGrossExposure => false,
    /// Most open orders: global against all, strategy against its own, symbol against the
    /// symbol's.
    max_open_orders / MaxOpenOrders => false,
    /// Most orders one strategy may have accepted in any 60 s window.
    max_orders_per_minute / MaxOrdersPerMinute => false,
    /// Largest distance of a limit price from the last price, in percent.
    price_collar_pct / PriceCollarPct => false,
    /// Largest loss since the start of the trading day: global against the shared totals,
    /// strategy against its sub-ledger. Ignored at the symbol level.
    daily_loss_limit / DailyLossLimit => false,
    /// Largest drawdown from peak equity, in percent (same scopes as the daily loss).
    max_drawdown_pct / MaxDrawdownPct => false,
    /// Smallest confidence an order carrying LLM metadata must state, in `[0, 1]`.
    min_llm_confidence / MinLlmConfidence => true,
}

impl LimitField {
    /// The max-order-quantity field for an asset class.
    #[must_use]
    pub fn max_order_qty(asset_class: AssetClass) -> Self {
        match asset_class {
            AssetClass::Stock => Self::MaxOrderQtyStock,
            AssetClass::Crypto => Self::MaxOrderQtyCrypto,
            AssetClass::Fx => Self::MaxOrderQtyFx,
        }
    }

    /// The tighter of two values for this field (`None` is no limit).
    #[must_use]
    pub fn tighter(self, a: Option<Decimal>, b: Option<Decimal>) -> Option<Decimal> {
        match (a, b) {
            (Some(x), Some(y)) => Some(if self.is_minimum() { x.max(y) } else { x.min(y) }),
            (x, None) => x,
            (None, y) => y,
        }
    }

    /// Checks that a value makes sense for the field.
    ///
    /// # Errors
    /// [`LimitError::Invalid`] for a negative value, a percentage outside `(0, 100]`, a
    /// fractional count, or a confidence outside `[0, 1]`.
    pub fn validate(self, value: Decimal) -> Result<(), LimitError> {
        let bad = |why: &'static str| Err(LimitError::Invalid { field: self, value, why });
        if value.is_sign_negative() && !value.is_zero() {
            return bad("must not be negative");
        }
        match self {
            Self::PriceCollarPct | Self::MaxDrawdownPct if value.is_zero() || value > Decimal::ONE_HUNDRED => {
                bad("a percentage must be within (0, 100]")
            }
            Self::MaxOpenOrders | Self::MaxOrdersPerMinute if !value.fract().is_zero() => {
                bad("a count must be a whole number")
            }
            Self::MinLlmConfidence if value > Decimal::ONE => bad("a confidence must be within [0, 1]"),
            _ => Ok(()),
        }
    }
}

/// A limit value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitError {
    /// The value is out of the field's range.
    #[error("risk limit {} = {value} is invalid: {why}", field.as_str())]
    Invalid {
        /// The field.
        field: LimitField,
        /// The refused value.
        value: Decimal,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// What a loss-limit or drawdown breach does to trading at the breached scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachAction {
    /// Nothing but cancels and the kill switch (the default).
    #[default]
    Halt,
    /// Only reducing exits.
    ReduceOnly,
}

/// Which instant ends a trading day for the daily loss limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayBoundary {
    /// 16:00 America/New_York on weekdays (the US stock close; a weekend belongs to Monday).
    #[default]
    NewYorkClose,
    /// 00:00 UTC (crypto).
    UtcMidnight,
}

impl DayBoundary {
    /// The end of the trading day containing `ts` (a key that changes when a day ends).
    #[must_use]
    pub fn day_end(self, ts: Timestamp) -> Timestamp {
        let class = match self {
            Self::NewYorkClose => AssetClass::Stock,
            Self::UtcMidnight => AssetClass::Crypto,
        };
        crate::model::calendar::session_end(class, ts)
    }
}

/// The pattern-day-trader rule for US stocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PdtConfig {
    /// Whether the rule is enforced (default off).
    pub enabled: bool,
    /// Accounts with equity at or above this are exempt (default 25,000).
    pub min_equity: Decimal,
    /// Day trades allowed within the window (default 3).
    pub max_day_trades: u32,
    /// Window length in business days, today included (default 5).
    pub window_days: u32,
}

impl Default for PdtConfig {
    fn default() -> Self {
        Self { enabled: false, min_equity: Decimal::new(25_000, 0), max_day_trades: 3, window_days: 5 }
    }
}

/// A strategy's capital allocation: a virtual sub-ledger with its own account in the OMS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocation {
    /// The sub-ledger's account; the strategy's orders must name it.
    pub account: AccountId,
    /// The capital the engine deposits into it at start.
    pub capital: Decimal,
}

/// Per-strategy risk settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StrategyRisk {
    /// Its capital allocation, if it trades a sub-ledger.
    pub allocation: Option<Allocation>,
    /// Its limits (tighten the global ones).
    pub limits: Limits,
}

/// Risk configuration (the `[risk]` table). Every field has a default; see
/// [`RiskConfig::default`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RiskConfig {
    /// The currency money limits are stated in and the shared totals are read in (`USD`).
    pub currency: Currency,
    /// Global limits.
    pub global: Limits,
    /// Per-strategy settings.
    pub strategies: BTreeMap<StrategyId, StrategyRisk>,
    /// Per-symbol limits.
    pub symbols: BTreeMap<Symbol, Limits>,
    /// Refuse US stock orders outside the regular session (default on).
    pub market_hours: bool,
    /// What a daily-loss or drawdown breach does (default halt).
    pub on_breach: BreachAction,
    /// When the trading day ends for the daily loss limit (default 16:00 New York).
    pub day_boundary: DayBoundary,
    /// Pattern-day-trader rule (default off).
    pub pdt: PdtConfig,
    /// A limit counts as near breach at this percentage used (default 90).
    pub near_breach_pct: Decimal,
    /// Drawdown percentages that raise an alert when crossed (default 5 and 8).
    pub drawdown_alert_pcts: Vec<Decimal>,
}

impl Default for RiskConfig {
    /// The defaults:
    ///
    /// | limit | default |
    /// |---|---|
    /// | `max_order_qty_stock` | 100 shares |
    /// | `max_order_qty_crypto` | 1.0 unit |
    /// | `max_order_qty_fx` | 100,000 units |
    /// | `max_order_notional` | 10,000 |
    /// | `max_position_notional` | 10,000 |
    /// | `max_gross_exposure` | 100,000 |
    /// | `max_open_orders` | 50 |
    /// | `max_orders_per_minute` | 60 |
    /// | `price_collar_pct` | 5 |
    /// | `daily_loss_limit` | 2,000 |
    /// | `max_drawdown_pct` | 10 |
    /// | `min_llm_confidence` | 0.6 |
    ///
    /// in USD; market hours enforced; halt on breach; day ends 16:00 New York; PDT off;
    /// near breach at 90 %; drawdown alerts at 5 % and 8 %.
    fn default() -> Self {
        let d = |n: i64, scale: u32| Some(Decimal::new(n, scale));
        Self {
            currency: Currency::try_new("USD").expect("literal"),
            global: Limits {
                max_order_qty_stock: d(100, 0),
                max_order_qty_crypto: d(1, 0),
                max_order_qty_fx: d(100_000, 0),
                max_order_notional: d(10_000, 0),
                max_position_notional: d(10_000, 0),
                max_gross_exposure: d(100_000, 0),
                max_open_orders: d(50, 0),
                max_orders_per_minute: d(60, 0),
                price_collar_pct: d(5, 0),
                daily_loss_limit: d(2_000, 0),
                max_drawdown_pct: d(10, 0),
                min_llm_confidence: d(6, 1),
            },
            strategies: BTreeMap::new(),
            symbols: BTreeMap::new(),
            market_hours: true,
            on_breach: BreachAction::Halt,
            day_boundary: DayBoundary::NewYorkClose,
            pdt: PdtConfig::default(),
            near_breach_pct: Decimal::new(90, 0),
            drawdown_alert_pcts: vec![Decimal::new(5, 0), Decimal::new(8, 0)],
        }
    }
}

impl RiskConfig {
    /// Checks every limit at every level.
    ///
    /// # Errors
    /// The first [`LimitError`], naming the field and value.
    pub fn validate(&self) -> Result<(), LimitError> {
        let levels = std::iter::once(&self.global)
            .chain(self.strategies.values().map(|s| &s.limits))
            .chain(self.symbols.values());
        for limits in levels {
            for &field in LimitField::ALL {
                if let Some(v) = limits.get(field) {
                    field.validate(v)?;
                }
            }
        }
        Ok(())
    }
}

/// An audited change of one limit at one scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitChange {
    /// Where.
    pub scope: Scope,
    /// Which limit.
    pub field: LimitField,
    /// The value before (`None`: no limit).
    pub old: Option<Decimal>,
    /// The value after.
    pub new: Option<Decimal>,
    /// When.
    pub ts: Timestamp,
    /// Who changed it (user, API key name, `risk` for automatic changes).
    pub who: String,
    /// Why, when it was given ([`super::RiskEngine::set_limit_because`]).
    pub why: Option<String>,
}

/// The limits of one order, resolved over its three levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    values: [Option<Decimal>; LimitField::ALL.len()],
}

impl Resolved {
    /// Resolves every field: the tightest of the levels given.
    #[must_use]
    pub fn tightest(levels: &[Option<&Limits>]) -> Self {
        let mut present = levels.iter().flatten();
        // The first level's values as they are (most orders have only the global level).
        let mut values = present.next().map_or([None; LimitField::ALL.len()], |l| l.values());
        for limits in present {
            for ((slot, &field), value) in values.iter_mut().zip(LimitField::ALL).zip(limits.values()) {
                *slot = field.tighter(*slot, value);
            }
        }
        Self { values }
    }

    /// The resolved value of one field.
    #[must_use]
    pub fn get(&self, field: LimitField) -> Option<Decimal> {
        self.values[field as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    proptest::proptest! {
        /// Resolving equals the field-by-field tightest over the levels, whichever are set.
        #[test]
        fn tightest_is_the_tightest_of_each_field(
            sets in proptest::collection::vec(proptest::collection::vec(proptest::option::of(0i64..1000), LimitField::ALL.len()), 0..4),
            skip in proptest::collection::vec(proptest::bool::ANY, 4),
        ) {
            let limits: Vec<Limits> = sets
                .iter()
                .map(|vals| {
                    let mut l = Limits::default();
                    for (&field, v) in LimitField::ALL.iter().zip(vals) {
                        l.set(field, v.map(|m| Decimal::new(m, 1)));
                    }
                    l
                })
                .collect();
            let levels: Vec<Option<&Limits>> = limits.iter().zip(&skip).map(|(l, &s)| (!s).then_some(l)).collect();
            let resolved = Resolved::tightest(&levels);
            for &field in LimitField::ALL {
                let want = levels.iter().flatten().fold(None, |acc, l| field.tighter(acc, l.get(field)));
                proptest::prop_assert_eq!(resolved.get(field), want);
                proptest::prop_assert_eq!(limits.first().map(|l| l.values()[field as usize]), limits.first().map(|l| l.get(field)));
            }
        }
    }

    #[test]
    fn defaults_are_pinned() {
        let c = RiskConfig::default();
        let cases = [
            (LimitField::MaxOrderQtyStock, Some(dec!(100))),
            (LimitField::MaxOrderQtyCrypto, Some(dec!(1.0))),
            (LimitField::MaxOrderQtyFx, Some(dec!(100000))),
            (LimitField::MaxOrderNotional, Some(dec!(10000))),
            (LimitField::MaxPositionNotional, Some(dec!(10000))),
            (LimitField::MaxGrossExposure, Some(dec!(100000))),
            (LimitField::MaxOpenOrders, Some(dec!(50))),
            (LimitField::MaxOrdersPerMinute, Some(dec!(60))),
            (LimitField::PriceCollarPct, Some(dec!(5))),
            (LimitField::DailyLossLimit, Some(dec!(2000))),
            (LimitField::MaxDrawdownPct, Some(dec!(10))),
            (LimitField::MinLlmConfidence, Some(dec!(0.6))),
        ];
        assert_eq!(cases.len(), LimitField::ALL.len());
        for (field, want) in cases {
            assert_eq!(c.global.get(field), want, "{}", field.as_str());
        }
        assert_eq!(c.currency.as_str(), "USD");
        assert!(c.market_hours);
        assert_eq!((c.on_breach, c.day_boundary), (BreachAction::Halt, DayBoundary::NewYorkClose));
        assert_eq!(c.pdt, PdtConfig { enabled: false, min_equity: dec!(25000), max_day_trades: 3, window_days: 5 });
        assert_eq!((c.near_breach_pct, c.drawdown_alert_pcts.clone()), (dec!(90), vec![dec!(5), dec!(8)]));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn config_deserialises_over_defaults_and_refuses_unknown_keys() {
        let json = r#"{
            "global": {"max_position_notional": "5000", "price_collar_pct": 2},
            "strategies": {"momo": {"allocation": {"account": "momo", "capital": "20000"},
                                    "limits": {"max_orders_per_minute": 10}}},
            "symbols": {"BTCUSDT": {"max_order_qty_crypto": "0.5"}},
            "on_breach": "reduce_only"
        }"#;
        let c: RiskConfig = serde_json::from_str(json).unwrap();
        assert_eq!(c.global.max_position_notional, Some(dec!(5000)));
        assert_eq!(c.global.price_collar_pct, Some(dec!(2)));
        // Fields not named in a level are unset there (not the defaults).
        assert_eq!(c.global.max_order_qty_stock, None);
        let momo = &c.strategies[&StrategyId::try_new("momo").unwrap()];
        assert_eq!(momo.allocation.as_ref().map(|a| a.capital), Some(dec!(20000)));
        assert_eq!(momo.limits.max_orders_per_minute, Some(dec!(10)));
        assert_eq!(c.symbols[&Symbol::try_new("BTCUSDT").unwrap()].max_order_qty_crypto, Some(dec!(0.5)));
        assert_eq!(c.on_breach, BreachAction::ReduceOnly);
        assert!(c.market_hours);
        let err = serde_json::from_str::<RiskConfig>(r#"{"global": {"max_postion_notional": 1}}"#).unwrap_err();
        assert!(err.to_string().contains("max_postion_notional"), "{err}");
    }

    #[test]
    fn tightest_wins_per_field() {
        let global =
            Limits { max_order_notional: Some(dec!(1000)), min_llm_confidence: Some(dec!(0.5)), ..Limits::default() };
        let strategy = Limits { max_order_notional: Some(dec!(500)), ..Limits::default() };
        let symbol = Limits {
            max_order_notional: Some(dec!(800)),
            min_llm_confidence: Some(dec!(0.7)),
            price_collar_pct: Some(dec!(3)),
            ..Limits::default()
        };
        let r = Resolved::tightest(&[Some(&global), Some(&strategy), Some(&symbol)]);
        let cases = [
            (LimitField::MaxOrderNotional, Some(dec!(500))),
            (LimitField::MinLlmConfidence, Some(dec!(0.7))),
            (LimitField::PriceCollarPct, Some(dec!(3))),
            (LimitField::MaxOpenOrders, None),
        ];
        for (field, want) in cases {
            assert_eq!(r.get(field), want, "{}", field.as_str());
        }
        let only_global = Resolved::tightest(&[Some(&global), None, None]);
        assert_eq!(only_global.get(LimitField::MaxOrderNotional), Some(dec!(1000)));
    }

    #[test]
    fn field_validation_cases() {
        let cases = [
            (LimitField::MaxOrderNotional, dec!(-1), false),
            (LimitField::MaxOrderNotional, dec!(0), true),
            (LimitField::PriceCollarPct, dec!(0), false),
            (LimitField::PriceCollarPct, dec!(100), true),
            (LimitField::MaxDrawdownPct, dec!(100.5), false),
            (LimitField::MaxOpenOrders, dec!(2.5), false),
            (LimitField::MaxOrdersPerMinute, dec!(30), true),
            (LimitField::MinLlmConfidence, dec!(1.01), false),
            (LimitField::MinLlmConfidence, dec!(1), true),
        ];
        for (field, v, ok) in cases {
            assert_eq!(field.validate(v).is_ok(), ok, "{} = {v}", field.as_str());
        }
        let msg = LimitField::PriceCollarPct.validate(dec!(0)).unwrap_err().to_string();
        assert_eq!(msg, "risk limit price_collar_pct = 0 is invalid: a percentage must be within (0, 100]");
    }

    #[test]
    fn field_names_round_trip() {
        for &f in LimitField::ALL {
            assert_eq!(LimitField::parse(f.as_str()), Some(f));
        }
        assert_eq!(LimitField::max_order_qty(AssetClass::Crypto), LimitField::MaxOrderQtyCrypto);
    }
}
