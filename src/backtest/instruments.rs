//! Which instrument a symbol in the data is: asset class, currencies, tick and lot.

use crate::model::{AssetClass, Currency, Instrument, Symbol};
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// ISO currencies that make a six-letter symbol an FX pair (`EURUSD`).
const FX_CURRENCIES: [&str; 16] =
    ["AUD", "CAD", "CHF", "CNH", "CZK", "DKK", "EUR", "GBP", "HKD", "JPY", "MXN", "NOK", "NZD", "SEK", "USD", "ZAR"];

/// Quote assets that mark a crypto pair when they end a symbol (`BTCUSDT`, `ETH-USD`).
const CRYPTO_QUOTES: [&str; 6] = ["USDT", "USDC", "BUSD", "FDUSD", "BTC", "ETH"];

/// Crypto base assets recognised with a plain `USD` quote or a `-PERP` suffix.
const CRYPTO_BASES: [&str; 8] = ["BTC", "ETH", "SOL", "XRP", "ADA", "DOGE", "BNB", "LTC"];

/// The asset class a symbol most likely is, by its shape: `EURUSD` → FX, `BTCUSDT`,
/// `BTC-PERP`, `ETH/USD` → crypto, anything else → US stock. Override per symbol where the
/// guess is wrong.
#[must_use]
pub fn guess_class(symbol: &str) -> AssetClass {
    let s = symbol.to_ascii_uppercase();
    let letters: String = s.chars().filter(char::is_ascii_alphabetic).collect();
    if letters.len() == 6
        && s.len() <= 7
        && FX_CURRENCIES.contains(&&letters[..3])
        && FX_CURRENCIES.contains(&&letters[3..])
    {
        return AssetClass::Fx;
    }
    let base_known = CRYPTO_BASES.iter().any(|b| letters.starts_with(b));
    if s.ends_with("-PERP")
        || CRYPTO_QUOTES.iter().any(|q| letters.ends_with(q) && letters.len() > q.len())
        || base_known
    {
        return AssetClass::Crypto;
    }
    AssetClass::Stock
}

/// Builds the instrument for `symbol` in `class`, trading in `currency`:
/// stocks in whole shares with a cent tick; crypto in 0.00001 units with a cent tick; FX in
/// whole units of the base currency with a 0.00001 tick.
#[must_use]
pub fn instrument_for(symbol: &Symbol, class: AssetClass, currency: &Currency) -> Instrument {
    let mut inst = Instrument::us_stock(symbol.as_str());
    inst.quote = currency.clone();
    match class {
        AssetClass::Stock => {}
        AssetClass::Crypto => {
            inst = Instrument::crypto(
                symbol.as_str(),
                symbol.as_str(),
                currency.as_str(),
                Decimal::new(1, 2),
                Decimal::new(1, 5),
            );
        }
        AssetClass::Fx => {
            let letters: String = symbol.as_str().chars().filter(char::is_ascii_alphabetic).collect();
            inst.asset_class = AssetClass::Fx;
            if let (Ok(base), Ok(quote)) = (Currency::try_new(&letters[..3]), Currency::try_new(&letters[3..6])) {
                inst.base = base;
                inst.quote = quote;
            }
            inst.tick_size = Decimal::new(1, 5);
        }
    }
    inst
}

/// Instruments for every symbol: `overrides` first, else [`guess_class`].
#[must_use]
pub fn instruments_for<'a>(
    symbols: impl IntoIterator<Item = &'a Symbol>,
    overrides: &BTreeMap<String, AssetClass>,
    currency: &Currency,
) -> crate::model::Instruments {
    let mut out = crate::model::Instruments::new();
    for s in symbols {
        let class = overrides.get(s.as_str()).copied().unwrap_or_else(|| guess_class(s.as_str()));
        out.insert(instrument_for(s, class, currency));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_guessed_from_the_symbol_shape() {
        for (s, want) in [
            ("ORCL", AssetClass::Stock),
            ("AAPL", AssetClass::Stock),
            ("EURUSD", AssetClass::Fx),
            ("GBP/USD", AssetClass::Fx),
            ("BTCUSDT", AssetClass::Crypto),
            ("BTC-PERP", AssetClass::Crypto),
            ("ETHBTC", AssetClass::Crypto),
            ("BTCUSD", AssetClass::Crypto),
            ("USDT", AssetClass::Stock),
        ] {
            assert_eq!(guess_class(s), want, "{s}");
        }
    }

    #[test]
    fn fx_instruments_take_their_currencies_from_the_pair() {
        let usd = Currency::try_new("USD").unwrap();
        let i = instrument_for(&Symbol::try_new("EURUSD").unwrap(), AssetClass::Fx, &usd);
        assert_eq!((i.base.as_str(), i.quote.as_str(), i.tick_size), ("EUR", "USD", Decimal::new(1, 5)));
        let c = instrument_for(&Symbol::try_new("BTC-PERP").unwrap(), AssetClass::Crypto, &usd);
        assert_eq!((c.asset_class, c.lot_size, c.quote.as_str()), (AssetClass::Crypto, Decimal::new(1, 5), "USD"));
    }
}
