//! What a trader asks a monitor to do: levels relative to the entry, validated once.
//!
//! Sign conventions (the position's side is the side of its entry: `Buy` = long, `Sell` =
//! short). An *adverse* level (stop-loss) lies on the losing side of the entry, a *favourable*
//! level (take-profit, trailing activation, break-even trigger) on the winning side:
//!
//! | level | long, adverse | long, favourable | short, adverse | short, favourable |
//! | --- | --- | --- | --- | --- |
//! | `Price(p)` | `p` | `p` | `p` | `p` |
//! | `Percent(x)` | `entry × (1 − x/100)` | `entry × (1 + x/100)` | `entry × (1 + x/100)` | `entry × (1 − x/100)` |
//! | `Amount(a)` | `entry − a` | `entry + a` | `entry + a` | `entry − a` |
//!
//! So a long's 5 % stop from 100 is 95, a short's is 105. `Percent` and `Amount` values are
//! positive; a resolved level must be positive and strictly on its side of the entry (a long's
//! stop below the entry, its target above), else [`SpecError`] says which field and why.

use crate::model::{Side, TrailingOffset};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// A price level given absolutely or relative to the entry price (see the module docs for
/// signs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Level {
    /// An absolute price.
    Price(Decimal),
    /// A percentage of the entry price (`5` means 5 %).
    Percent(Decimal),
    /// A price distance from the entry.
    Amount(Decimal),
}

/// Which side of the entry a level lies on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// The losing side (stops).
    Adverse,
    /// The winning side (targets, activation, break-even trigger).
    Favourable,
}

impl Level {
    /// The absolute price of this level for a position on `side` entered at `entry`, on the
    /// adverse (`favourable == false`) or favourable side. No validation.
    #[must_use]
    pub fn resolve(self, entry: Decimal, side: Side, favourable: bool) -> Decimal {
        let dir = if favourable { Direction::Favourable } else { Direction::Adverse };
        self.resolve_dir(entry, side, dir)
    }

    pub(crate) fn resolve_dir(self, entry: Decimal, side: Side, dir: Direction) -> Decimal {
        // +1 when the level lies above the entry.
        let up = match (side, dir) {
            (Side::Buy, Direction::Favourable) | (Side::Sell, Direction::Adverse) => true,
            (Side::Buy, Direction::Adverse) | (Side::Sell, Direction::Favourable) => false,
        };
        let distance = match self {
            Self::Price(p) => return p,
            Self::Percent(x) => entry * x / Decimal::ONE_HUNDRED,
            Self::Amount(a) => a,
        };
        if up {
            entry + distance
        } else {
            entry - distance
        }
    }

    /// Resolves and validates the level for `field` (a name used in errors).
    pub(crate) fn checked(
        self,
        field: &'static str,
        entry: Decimal,
        side: Side,
        dir: Direction,
    ) -> Result<Decimal, SpecError> {
        match self {
            Self::Percent(v) | Self::Amount(v) | Self::Price(v) if v <= Decimal::ZERO => {
                return Err(SpecError::NotPositive { field, value: v });
            }
            _ => {}
        }
        let level = self.resolve_dir(entry, side, dir);
        if level <= Decimal::ZERO {
            return Err(SpecError::ResolvesNonPositive { field, level, entry });
        }
        let wrong = match (side, dir) {
            (Side::Buy, Direction::Adverse) | (Side::Sell, Direction::Favourable) => level >= entry,
            (Side::Buy, Direction::Favourable) | (Side::Sell, Direction::Adverse) => level <= entry,
        };
        if wrong {
            let must = if matches!((side, dir), (Side::Buy, Direction::Adverse) | (Side::Sell, Direction::Favourable)) {
                "below"
            } else {
                "above"
            };
            return Err(SpecError::WrongSide { field, level, entry, position: side_name(side), must });
        }
        Ok(level)
    }
}

/// "long" for a buy entry, "short" for a sell entry.
#[must_use]
pub(crate) fn side_name(side: Side) -> &'static str {
    match side {
        Side::Buy => "long",
        Side::Sell => "short",
    }
}

/// A trailing stop: follows the best price since activation by `offset`, only favourably.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailing {
    /// Distance from the best price (amount, or percent of the best price).
    pub offset: TrailingOffset,
    /// The trail starts only once price reaches this favourable level; `None` starts it at
    /// the entry price.
    pub activation: Option<Level>,
}

/// Break-even: once the favourable excursion reaches `after`, the stop moves to the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakEven {
    /// The favourable level whose touch moves the stop.
    pub after: Level,
    /// Adds the per-unit fees given at arming to the break-even price (beyond the entry,
    /// away from the market), so the exit covers them.
    pub plus_fees: bool,
}

/// Every protective exit one position can have. All fields are optional; an empty spec arms
/// nothing but still lets the position be killed or closed manually through the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MonitorSpec {
    /// Stop-loss level (adverse).
    pub stop_loss: Option<Level>,
    /// Take-profit level (favourable).
    pub take_profit: Option<Level>,
    /// Trailing stop.
    pub trailing: Option<Trailing>,
    /// Break-even stop move.
    pub break_even: Option<BreakEven>,
    /// Exit once the position has been held this long (nanoseconds, > 0).
    pub max_holding_nanos: Option<i64>,
}

/// A spec's levels resolved against one entry price and side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Resolved {
    pub stop_loss: Option<Decimal>,
    pub take_profit: Option<Decimal>,
    pub activation: Option<Decimal>,
    pub break_even_at: Option<Decimal>,
}

impl MonitorSpec {
    /// Checks the spec for a position on `side` entered at `entry`.
    ///
    /// # Errors
    /// [`SpecError`] naming the first offending field.
    pub fn validate(&self, side: Side, entry: Decimal) -> Result<(), SpecError> {
        self.resolve(side, entry).map(|_| ())
    }

    /// Resolves every level without validation (for an entry that moved after arming).
    pub(crate) fn levels(&self, side: Side, entry: Decimal) -> Resolved {
        use Direction::{Adverse, Favourable};
        Resolved {
            stop_loss: self.stop_loss.map(|l| l.resolve_dir(entry, side, Adverse)),
            take_profit: self.take_profit.map(|l| l.resolve_dir(entry, side, Favourable)),
            activation: self.trailing.and_then(|t| t.activation).map(|l| l.resolve_dir(entry, side, Favourable)),
            break_even_at: self.break_even.map(|b| b.after.resolve_dir(entry, side, Favourable)),
        }
    }

    /// Validates and resolves every level.
    pub(crate) fn resolve(&self, side: Side, entry: Decimal) -> Result<Resolved, SpecError> {
        use Direction::{Adverse, Favourable};
        let sl = self.stop_loss.map(|l| l.checked("stop_loss", entry, side, Adverse)).transpose()?;
        let tp = self.take_profit.map(|l| l.checked("take_profit", entry, side, Favourable)).transpose()?;
        let mut activation = None;
        if let Some(t) = self.trailing {
            let v = t.offset.value();
            if v <= Decimal::ZERO {
                return Err(SpecError::NotPositive { field: "trailing.offset", value: v });
            }
            if matches!(t.offset, TrailingOffset::Percent(p) if p >= Decimal::ONE_HUNDRED) {
                return Err(SpecError::PercentTooLarge { field: "trailing.offset", value: v });
            }
            activation = t.activation.map(|l| l.checked("trailing.activation", entry, side, Favourable)).transpose()?;
        }
        let be = self.break_even.map(|b| b.after.checked("break_even.after", entry, side, Favourable)).transpose()?;
        if let Some(n) = self.max_holding_nanos {
            if n <= 0 {
                return Err(SpecError::HoldingNotPositive { nanos: n });
            }
        }
        Ok(Resolved { stop_loss: sl, take_profit: tp, activation, break_even_at: be })
    }
}

/// Why a [`MonitorSpec`] cannot protect a position.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SpecError {
    /// A price, percent, amount or offset is zero or negative.
    #[error("{field} must be positive, got {value}")]
    NotPositive {
        /// The field (`stop_loss`, `trailing.offset`, …).
        field: &'static str,
        /// The value given.
        value: Decimal,
    },
    /// A relative level resolves to a price of zero or below.
    #[error("{field} resolves to {level} from the entry {entry}; a price must be positive")]
    ResolvesNonPositive {
        /// The field.
        field: &'static str,
        /// The resolved price.
        level: Decimal,
        /// The entry price.
        entry: Decimal,
    },
    /// A level lies on the wrong side of the entry (a long's stop above its entry, …).
    #[error("{field} {level} is not {must} the {position} entry {entry}")]
    WrongSide {
        /// The field.
        field: &'static str,
        /// The resolved price.
        level: Decimal,
        /// The entry price.
        entry: Decimal,
        /// "long" or "short".
        position: &'static str,
        /// "below" or "above": where it must lie.
        must: &'static str,
    },
    /// A trailing percent of 100 or more (the stop would sit at zero or below).
    #[error("{field} percent must be below 100, got {value}")]
    PercentTooLarge {
        /// The field.
        field: &'static str,
        /// The value given.
        value: Decimal,
    },
    /// `max_holding_nanos` is zero or negative.
    #[error("max_holding_nanos must be positive, got {nanos}")]
    HoldingNotPositive {
        /// The value given.
        nanos: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn levels_resolve_with_documented_signs() {
        use Level::{Amount, Percent, Price};
        // (level, side, favourable, entry 100 → expected)
        let cases = [
            (Percent(dec!(5)), Side::Buy, false, dec!(95)),
            (Percent(dec!(5)), Side::Sell, false, dec!(105)),
            (Percent(dec!(5)), Side::Buy, true, dec!(105)),
            (Percent(dec!(5)), Side::Sell, true, dec!(95)),
            (Amount(dec!(2.5)), Side::Buy, false, dec!(97.5)),
            (Amount(dec!(2.5)), Side::Sell, false, dec!(102.5)),
            (Amount(dec!(2.5)), Side::Buy, true, dec!(102.5)),
            (Amount(dec!(2.5)), Side::Sell, true, dec!(97.5)),
            (Price(dec!(91)), Side::Buy, false, dec!(91)),
            (Price(dec!(91)), Side::Sell, true, dec!(91)),
        ];
        for (level, side, fav, want) in cases {
            assert_eq!(level.resolve(dec!(100), side, fav), want, "{level:?} {side} fav={fav}");
        }
        // 1.5 % of 123.40 = 1.851 → long stop 121.549
        assert_eq!(Percent(dec!(1.5)).resolve(dec!(123.40), Side::Buy, false), dec!(121.549));
    }

    #[test]
    fn validation_names_field_and_reason() {
        use Level::{Amount, Percent, Price};
        let spec = |f: fn(&mut MonitorSpec)| {
            let mut s = MonitorSpec::default();
            f(&mut s);
            s
        };
        let cases: [(MonitorSpec, Side, &str); 9] = [
            (
                spec(|s| s.stop_loss = Some(Price(dec!(105)))),
                Side::Buy,
                "stop_loss 105 is not below the long entry 100",
            ),
            (
                spec(|s| s.stop_loss = Some(Price(dec!(95)))),
                Side::Sell,
                "stop_loss 95 is not above the short entry 100",
            ),
            (
                spec(|s| s.take_profit = Some(Price(dec!(100)))),
                Side::Buy,
                "take_profit 100 is not above the long entry 100",
            ),
            (spec(|s| s.stop_loss = Some(Percent(dec!(-5)))), Side::Buy, "stop_loss must be positive, got -5"),
            (
                spec(|s| s.stop_loss = Some(Amount(dec!(100)))),
                Side::Buy,
                "stop_loss resolves to 0 from the entry 100; a price must be positive",
            ),
            (
                spec(|s| s.trailing = Some(Trailing { offset: TrailingOffset::Percent(dec!(100)), activation: None })),
                Side::Buy,
                "trailing.offset percent must be below 100, got 100",
            ),
            (
                spec(|s| s.trailing = Some(Trailing { offset: TrailingOffset::Amount(dec!(0)), activation: None })),
                Side::Sell,
                "trailing.offset must be positive, got 0",
            ),
            (
                spec(|s| s.break_even = Some(BreakEven { after: Price(dec!(99)), plus_fees: false })),
                Side::Buy,
                "break_even.after 99 is not above the long entry 100",
            ),
            (spec(|s| s.max_holding_nanos = Some(0)), Side::Buy, "max_holding_nanos must be positive, got 0"),
        ];
        for (spec, side, want) in cases {
            let err = spec.validate(side, dec!(100)).unwrap_err();
            assert_eq!(err.to_string(), want);
        }
        let ok = MonitorSpec {
            stop_loss: Some(Percent(dec!(5))),
            take_profit: Some(Amount(dec!(10))),
            trailing: Some(Trailing { offset: TrailingOffset::Percent(dec!(2)), activation: Some(Percent(dec!(1))) }),
            break_even: Some(BreakEven { after: Amount(dec!(3)), plus_fees: true }),
            max_holding_nanos: Some(60),
        };
        assert_eq!(
            ok.resolve(Side::Sell, dec!(100)),
            Ok(Resolved {
                stop_loss: Some(dec!(105)),
                take_profit: Some(dec!(90)),
                activation: Some(dec!(99)),
                break_even_at: Some(dec!(97)),
            })
        );
    }

    #[test]
    fn spec_round_trips_through_json() {
        let s = MonitorSpec {
            stop_loss: Some(Level::Percent(dec!(5))),
            take_profit: Some(Level::Price(dec!(120.5))),
            trailing: Some(Trailing { offset: TrailingOffset::Amount(dec!(2)), activation: None }),
            break_even: Some(BreakEven { after: Level::Amount(dec!(3)), plus_fees: true }),
            max_holding_nanos: Some(5),
        };
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""stop_loss":{"kind":"percent","value":"5"}"#), "{json}");
        assert_eq!(serde_json::from_str::<MonitorSpec>(&json).unwrap(), s);
    }
}
