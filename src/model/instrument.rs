//! Instruments: what can be traded, in which currency, and in which increments.

use super::ids::{Currency, Symbol};
use crate::collections::FastIndexMap;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// The kind of market an instrument trades in; it decides trading hours and default limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetClass {
    /// US equities: regular session 09:30–16:00 America/New_York, weekdays.
    Stock,
    /// Crypto spot: trades 24/7; a trading day ends at 00:00 UTC.
    Crypto,
    /// Spot FX: trades 24/5; a trading day ends at 17:00 America/New_York.
    Fx,
}

impl AssetClass {
    /// The lowercase name used in config, the database and messages.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stock => "stock",
            Self::Crypto => "crypto",
            Self::Fx => "fx",
        }
    }
}

/// A tradable instrument and its increments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instrument {
    /// The venue's symbol.
    pub symbol: Symbol,
    /// Market kind.
    pub asset_class: AssetClass,
    /// What is bought or sold (`AAPL`, `BTC`).
    pub base: Currency,
    /// What prices, cash and P&L are in (`USD`, `USDT`).
    pub quote: Currency,
    /// Smallest price increment; every price must be a multiple of it.
    pub tick_size: Decimal,
    /// Smallest quantity increment; every quantity must be a multiple of it.
    pub lot_size: Decimal,
    /// Smallest order quantity.
    pub min_qty: Decimal,
    /// Smallest order notional (price × quantity) in the quote currency; zero for none.
    pub min_notional: Decimal,
    /// Whether new orders may be placed (a halted or delisted instrument is not tradable).
    pub tradable: bool,
}

/// Why a price or quantity does not fit an instrument.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IncrementError {
    /// The price is not a multiple of the tick size.
    #[error("price {price} for {symbol} is not a multiple of the tick size {tick}")]
    OffTick {
        /// The instrument.
        symbol: Symbol,
        /// The offending price.
        price: Decimal,
        /// Its tick size.
        tick: Decimal,
    },
    /// The quantity is not a multiple of the lot size.
    #[error("quantity {qty} for {symbol} is not a multiple of the lot size {lot}")]
    OffLot {
        /// The instrument.
        symbol: Symbol,
        /// The offending quantity.
        qty: Decimal,
        /// Its lot size.
        lot: Decimal,
    },
}

/// Whether `x` is a whole multiple of `step` (a zero step accepts everything).
#[must_use]
pub fn is_multiple(x: Decimal, step: Decimal) -> bool {
    step.is_zero() || (x % step).is_zero()
}

impl Instrument {
    /// A US stock in USD with a one-cent tick and whole-share lots.
    ///
    /// # Panics
    /// Panics if `symbol` is empty (a programming error in a test or example).
    #[must_use]
    pub fn us_stock(symbol: &str) -> Self {
        Self {
            symbol: Symbol::try_new(symbol).expect("non-empty symbol"),
            asset_class: AssetClass::Stock,
            base: Currency::try_new(symbol).expect("non-empty symbol"),
            quote: Currency::try_new("USD").expect("literal"),
            tick_size: Decimal::new(1, 2),
            lot_size: Decimal::ONE,
            min_qty: Decimal::ONE,
            min_notional: Decimal::ZERO,
            tradable: true,
        }
    }

    /// A crypto spot pair with the given increments and a 5-unit minimum notional.
    ///
    /// # Panics
    /// Panics if a code is empty (a programming error in a test or example).
    #[must_use]
    pub fn crypto(symbol: &str, base: &str, quote: &str, tick_size: Decimal, lot_size: Decimal) -> Self {
        Self {
            symbol: Symbol::try_new(symbol).expect("non-empty symbol"),
            asset_class: AssetClass::Crypto,
            base: Currency::try_new(base).expect("non-empty base"),
            quote: Currency::try_new(quote).expect("non-empty quote"),
            tick_size,
            lot_size,
            min_qty: lot_size,
            min_notional: Decimal::new(5, 0),
            tradable: true,
        }
    }

    /// Checks that `price` is on the tick grid.
    ///
    /// # Errors
    /// [`IncrementError::OffTick`] otherwise.
    pub fn check_price(&self, price: Decimal) -> Result<(), IncrementError> {
        if is_multiple(price, self.tick_size) {
            Ok(())
        } else {
            Err(IncrementError::OffTick { symbol: self.symbol.clone(), price, tick: self.tick_size })
        }
    }

    /// Checks that `qty` is on the lot grid.
    ///
    /// # Errors
    /// [`IncrementError::OffLot`] otherwise.
    pub fn check_qty(&self, qty: Decimal) -> Result<(), IncrementError> {
        if is_multiple(qty, self.lot_size) {
            Ok(())
        } else {
            Err(IncrementError::OffLot { symbol: self.symbol.clone(), qty, lot: self.lot_size })
        }
    }

    /// Rounds a price to the nearest tick (half away from zero).
    #[must_use]
    pub fn round_price(&self, price: Decimal) -> Decimal {
        if self.tick_size.is_zero() {
            return price;
        }
        (price / self.tick_size).round_dp_with_strategy(0, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
            * self.tick_size
    }

    /// Rounds a quantity down to a whole number of lots (never up: never trade more than asked).
    #[must_use]
    pub fn floor_qty(&self, qty: Decimal) -> Decimal {
        if self.lot_size.is_zero() {
            return qty;
        }
        (qty / self.lot_size).floor() * self.lot_size
    }
}

/// An instrument was asked for that is not configured.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("instrument {0} is not known; add it to the instruments in the config")]
pub struct UnknownInstrument(pub Symbol);

/// The set of instruments the engine knows, by symbol.
#[derive(Debug, Clone, Default)]
pub struct Instruments(FastIndexMap<Symbol, Instrument>);

impl Instruments {
    /// An empty set.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces an instrument.
    pub fn insert(&mut self, instrument: Instrument) {
        self.0.insert(instrument.symbol.clone(), instrument);
    }

    /// Looks an instrument up.
    ///
    /// # Errors
    /// [`UnknownInstrument`] when the symbol is not configured.
    pub fn get(&self, symbol: &Symbol) -> Result<&Instrument, UnknownInstrument> {
        self.0.get(symbol).ok_or_else(|| UnknownInstrument(symbol.clone()))
    }

    /// Every instrument, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &Instrument> {
        self.0.values()
    }
}

impl FromIterator<Instrument> for Instruments {
    fn from_iter<T: IntoIterator<Item = Instrument>>(iter: T) -> Self {
        let mut set = Self::new();
        for i in iter {
            set.insert(i);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn tick_and_lot_grid() {
        let btc = Instrument::crypto("BTCUSDT", "BTC", "USDT", dec!(0.01), dec!(0.00001));
        assert!(btc.check_price(dec!(42000.01)).is_ok());
        assert!(matches!(btc.check_price(dec!(42000.005)), Err(IncrementError::OffTick { .. })));
        assert!(btc.check_qty(dec!(0.00123)).is_ok());
        assert!(matches!(btc.check_qty(dec!(0.000125)), Err(IncrementError::OffLot { .. })));
        assert_eq!(btc.round_price(dec!(42000.005)), dec!(42000.01));
        assert_eq!(btc.floor_qty(dec!(0.000129)), dec!(0.00012));
    }

    #[test]
    fn unknown_instrument_is_an_error_naming_it() {
        let set: Instruments = [Instrument::us_stock("AAPL")].into_iter().collect();
        assert!(set.get(&Symbol::try_new("AAPL").unwrap()).is_ok());
        let err = set.get(&Symbol::try_new("MSFT").unwrap()).unwrap_err();
        assert!(err.to_string().contains("MSFT"));
    }
}
