//! The Lua ↔ Rust boundary: order tables become [`OrderRequest`]s once, here, with numbers
//! quantized to the instrument's tick and lot; Rust data become plain Lua tables.
//!
//! Quantization follows LUA.md §8: `(x / tick).round() * tick` in integer ticks, which is
//! exact and cheaper than `Decimal::from_f64`. Every refusal is a message the caller raises
//! at the strategy's own line.

use super::{OpenOrder, StrategyView};
use crate::model::{
    AccountId, BracketSpec, Instrument, LlmMeta, Modification, OrderRequest, OrderType, Side, StrategyId, Symbol,
    TimeInForce, TrailingOffset,
};
use mlua::{Lua, Table, Value};
use rust_decimal::prelude::{FromPrimitive, ToPrimitive};
use rust_decimal::Decimal;

/// Largest whole number of ticks or lots an f64 holds exactly.
const MAX_STEPS: f64 = 9.0e15;

/// A Lua number as f64, or a message naming the field and what it got.
pub(crate) fn number(field: &str, v: &Value) -> Result<f64, String> {
    let x = match v {
        Value::Number(x) => *x,
        Value::Integer(i) => *i as f64,
        other => return Err(format!("field '{field}' must be a number, got {}", other.type_name())),
    };
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("field '{field}' must be a finite number, got {x}"))
    }
}

fn string(field: &str, v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.to_string_lossy()),
        other => Err(format!("field '{field}' must be a string, got {}", other.type_name())),
    }
}

fn boolean(field: &str, v: &Value) -> Result<bool, String> {
    match v {
        Value::Boolean(b) => Ok(*b),
        other => Err(format!("field '{field}' must be a boolean, got {}", other.type_name())),
    }
}

/// A price rounded to the nearest tick; refuses non-finite, non-positive and zero-tick results.
pub(crate) fn quantize_price(field: &str, x: f64, tick: Decimal) -> Result<Decimal, String> {
    if x <= 0.0 {
        return Err(format!("field '{field}' must be > 0, got {x}"));
    }
    let p = if tick.is_zero() {
        Decimal::from_f64(x).ok_or_else(|| format!("field '{field}' is out of range: {x}"))?
    } else {
        let steps = (x / tick.to_f64().unwrap_or(f64::NAN)).round();
        if !steps.is_finite() || steps > MAX_STEPS {
            return Err(format!("field '{field}' is out of range: {x}"));
        }
        Decimal::from(steps as i64) * tick
    };
    if p <= Decimal::ZERO {
        return Err(format!("field '{field}' rounds to zero at tick {tick}: {x}"));
    }
    Ok(p.normalize())
}

/// A quantity floored to whole lots (never more than asked); refuses zero results.
pub(crate) fn quantize_qty(field: &str, x: f64, lot: Decimal) -> Result<Decimal, String> {
    if x <= 0.0 {
        return Err(format!("field '{field}' must be > 0, got {x}"));
    }
    let q = if lot.is_zero() {
        Decimal::from_f64(x).ok_or_else(|| format!("field '{field}' is out of range: {x}"))?
    } else {
        // The epsilon keeps 0.3 / 0.1 = 2.9999999999999996 at 3 lots.
        let steps = (x / lot.to_f64().unwrap_or(f64::NAN) + 1e-9).floor();
        if !steps.is_finite() || steps > MAX_STEPS {
            return Err(format!("field '{field}' is out of range: {x}"));
        }
        Decimal::from(steps as i64) * lot
    };
    if q <= Decimal::ZERO {
        return Err(format!("{field} {x} is less than one lot ({lot})"));
    }
    Ok(q.normalize())
}

/// The fields of an order table, checked for names and types, before quantization.
#[derive(Default)]
struct RawOrder {
    symbol: Option<String>,
    side: Option<Side>,
    qty: Option<f64>,
    notional: Option<f64>,
    order_type: Option<OrderType>,
    limit_price: Option<f64>,
    stop_price: Option<f64>,
    trailing_amount: Option<f64>,
    trailing_percent: Option<f64>,
    tif: Option<TimeInForce>,
    stop_loss: Option<f64>,
    take_profit: Option<f64>,
    reduce_only: bool,
    reasoning: Option<String>,
    confidence: Option<f64>,
    provider: Option<String>,
    model: Option<String>,
}

const ORDER_FIELDS: &str = "symbol, qty, notional, type, limit_price, stop_price, trailing_amount, \
     trailing_percent, tif, stop_loss, take_profit, reduce_only, reasoning, confidence, provider, model";

/// Calls `f` with each key and value of `t` in `pairs` order, stopping at its first refusal.
///
/// Cheaper than `Table::pairs`, which keeps a second reference to every key while iterating.
fn each_field(t: &Table, mut f: impl FnMut(Value, Value) -> Result<(), String>) -> Result<(), String> {
    let mut refused = None;
    let walked = t.for_each::<Value, Value>(|k, v| {
        f(k, v).map_err(|m| {
            refused = Some(m);
            mlua::Error::runtime("refused")
        })
    });
    match (refused, walked) {
        (Some(m), _) => Err(m),
        (None, Err(e)) => Err(e.to_string()),
        (None, Ok(())) => Ok(()),
    }
}

fn read_order(t: &Table, allow_side: bool) -> Result<RawOrder, String> {
    let mut r = RawOrder::default();
    each_field(t, |k, v| read_order_field(&mut r, allow_side, k, &v))?;
    Ok(r)
}

/// Reads one field of an order table into `r`.
fn read_order_field(r: &mut RawOrder, allow_side: bool, k: Value, v: &Value) -> Result<(), String> {
    let Value::String(k) = k else {
        return Err(format!("order fields are named (got a key of type {}); allowed: {ORDER_FIELDS}", k.type_name()));
    };
    let key = k.to_str().map_err(|e| e.to_string())?;
    match &*key {
        "symbol" => r.symbol = Some(string("symbol", v)?),
        "side" if allow_side => {
            let s = string("side", v)?;
            r.side = Some(Side::parse(&s).ok_or_else(|| format!("field 'side' must be 'buy' or 'sell', got '{s}'"))?);
        }
        "qty" => r.qty = Some(number("qty", v)?),
        "notional" => r.notional = Some(number("notional", v)?),
        "type" => {
            let s = string("type", v)?;
            r.order_type = Some(OrderType::parse(&s).ok_or_else(|| {
                format!("field 'type' must be market, limit, stop, stop_limit or trailing_stop, got '{s}'")
            })?);
        }
        "limit_price" => r.limit_price = Some(number("limit_price", v)?),
        "stop_price" => r.stop_price = Some(number("stop_price", v)?),
        "trailing_amount" => r.trailing_amount = Some(number("trailing_amount", v)?),
        "trailing_percent" => r.trailing_percent = Some(number("trailing_percent", v)?),
        "tif" => {
            let s = string("tif", v)?;
            r.tif = Some(
                TimeInForce::parse(&s).ok_or_else(|| format!("field 'tif' must be gtc, day, ioc or fok, got '{s}'"))?,
            );
        }
        "stop_loss" => r.stop_loss = Some(number("stop_loss", v)?),
        "take_profit" => r.take_profit = Some(number("take_profit", v)?),
        "reduce_only" => r.reduce_only = boolean("reduce_only", v)?,
        "reasoning" => r.reasoning = Some(string("reasoning", v)?),
        "confidence" => r.confidence = Some(number("confidence", v)?),
        "provider" => r.provider = Some(string("provider", v)?),
        "model" => r.model = Some(string("model", v)?),
        other => return Err(format!("unknown order field '{other}'; allowed: {ORDER_FIELDS}")),
    }
    Ok(())
}

/// What converting an order table needs besides the table.
pub(crate) struct OrderContext<'a> {
    /// The emitting strategy.
    pub strategy: &'a StrategyId,
    /// Its account.
    pub account: &'a AccountId,
    /// The world.
    pub view: &'a dyn StrategyView,
    /// The last price the host saw for a symbol (for `notional` without a limit price).
    pub last_price: &'a dyn Fn(&Symbol) -> Option<f64>,
}

/// Converts `ctx:buy{..}` / `ctx:sell{..}` / `ctx:check{..}` to a validated order request.
/// `side` is `None` for `ctx:check`, whose table names its side.
pub(crate) fn order_from_table(t: &Table, side: Option<Side>, cx: &OrderContext<'_>) -> Result<OrderRequest, String> {
    let r = read_order(t, side.is_none())?;
    let side = side.or(r.side).ok_or("field 'side' ('buy' or 'sell') is required")?;
    let symbol_text = r.symbol.ok_or("field 'symbol' is required")?;
    let symbol = Symbol::try_from_str(&symbol_text).map_err(|e| e.to_string())?;
    let inst: Instrument = cx.view.instrument(&symbol).ok_or_else(|| format!("unknown instrument '{symbol_text}'"))?;
    let tick = inst.tick_size;
    let price = |field: &str, x: Option<f64>| x.map(|x| quantize_price(field, x, tick)).transpose();

    let order_type = match r.order_type {
        Some(t) => t,
        None if r.trailing_amount.is_some() || r.trailing_percent.is_some() => OrderType::TrailingStop,
        None => match (r.limit_price, r.stop_price) {
            (Some(_), Some(_)) => OrderType::StopLimit,
            (Some(_), None) => OrderType::Limit,
            (None, Some(_)) => OrderType::Stop,
            (None, None) => OrderType::Market,
        },
    };
    let limit_price = price("limit_price", r.limit_price)?;
    let stop_price = price("stop_price", r.stop_price)?;
    let trailing = match (r.trailing_amount, r.trailing_percent) {
        (Some(_), Some(_)) => return Err("give trailing_amount or trailing_percent, not both".into()),
        (Some(a), None) => Some(TrailingOffset::Amount(quantize_price("trailing_amount", a, tick)?)),
        (None, Some(p)) => Some(TrailingOffset::Percent(
            Decimal::from_f64(p).ok_or_else(|| format!("field 'trailing_percent' is out of range: {p}"))?.round_dp(4),
        )),
        (None, None) => None,
    };
    let qty = match (r.qty, r.notional) {
        (Some(_), Some(_)) => return Err("give qty or notional, not both".into()),
        (Some(q), None) => quantize_qty("qty", q, inst.lot_size)?,
        (None, Some(n)) => {
            let px = r
                .limit_price
                .or((cx.last_price)(&symbol))
                .ok_or_else(|| format!("notional needs a limit_price or a price seen for '{symbol_text}'"))?;
            quantize_qty("notional / price", n / px, inst.lot_size)?
        }
        (None, None) => return Err("field 'qty' (or 'notional') is required".into()),
    };
    let bracket = match (r.stop_loss, r.take_profit) {
        (None, None) => None,
        (sl, tp) => Some(BracketSpec { stop_loss: price("stop_loss", sl)?, take_profit: price("take_profit", tp)? }),
    };
    let llm = match (r.reasoning, r.confidence, r.provider, r.model) {
        (None, None, None, None) => None,
        (reasoning, Some(c), provider, model) => Some(
            LlmMeta::try_new(
                provider.unwrap_or_else(|| "unknown".into()),
                model.unwrap_or_else(|| "unknown".into()),
                reasoning.unwrap_or_default(),
                c,
            )
            .map_err(|e| e.to_string())?,
        ),
        _ => return Err("LLM fields (reasoning, provider, model) need 'confidence' in [0, 1]".into()),
    };
    let request = OrderRequest {
        account: cx.account.clone(),
        strategy_id: cx.strategy.clone(),
        symbol,
        side,
        order_type,
        qty,
        limit_price,
        stop_price,
        trailing,
        tif: r.tif.unwrap_or(TimeInForce::Gtc),
        reduce_only: r.reduce_only,
        bracket,
        llm,
        provenance: None,
    };
    request.validate(&inst).map_err(|e| format!("invalid order: {e}"))?;
    Ok(request)
}

/// Converts `ctx:modify(id, {qty=, limit_price=, stop_price=})` using the order's instrument.
pub(crate) fn modification_from_table(t: &Table, inst: &Instrument) -> Result<Modification, String> {
    let mut m = Modification::default();
    each_field(t, |k, v| {
        let key = match &k {
            Value::String(s) => s.to_string_lossy(),
            other => return Err(format!("modify fields are named (got a key of type {})", other.type_name())),
        };
        match key.as_str() {
            "qty" => m.qty = Some(quantize_qty("qty", number("qty", &v)?, inst.lot_size)?),
            "limit_price" => {
                m.limit_price = Some(quantize_price("limit_price", number("limit_price", &v)?, inst.tick_size)?)
            }
            "stop_price" => {
                m.stop_price = Some(quantize_price("stop_price", number("stop_price", &v)?, inst.tick_size)?)
            }
            other => return Err(format!("unknown modify field '{other}'; allowed: qty, limit_price, stop_price")),
        }
        Ok(())
    })?;
    if m == Modification::default() {
        return Err("modify needs at least one of qty, limit_price, stop_price".into());
    }
    Ok(m)
}

/// A Decimal as a Lua number (display precision; money stays Decimal in Rust).
///
/// `mantissa / 10^scale` in f64 is correctly rounded while the mantissa fits in 53 bits,
/// and several times cheaper than `Decimal::to_f64`; larger mantissas take the slow path.
pub(crate) fn f(x: Decimal) -> f64 {
    let m = x.mantissa();
    if m.unsigned_abs() < (1u128 << 53) {
        // Through i64: the mantissa fits, and an i128 → f64 conversion is a software routine.
        #[allow(clippy::cast_possible_truncation, reason = "checked above: |m| < 2^53")]
        let m = m as i64;
        m as f64 / POW10[x.scale() as usize]
    } else {
        x.to_f64().unwrap_or(f64::NAN)
    }
}

const POW10: [f64; 29] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28,
];

/// Open orders as an array of plain tables.
pub(crate) fn orders_table(lua: &Lua, orders: &[OpenOrder]) -> mlua::Result<Table> {
    let list = lua.create_table_with_capacity(orders.len(), 0)?;
    for o in orders {
        let t = lua.create_table_with_capacity(0, 9)?;
        t.raw_set("id", o.cid.as_str())?;
        t.raw_set("symbol", o.symbol.as_str())?;
        t.raw_set("side", o.side.as_str())?;
        t.raw_set("type", o.order_type.as_str())?;
        t.raw_set("qty", f(o.qty))?;
        t.raw_set("filled_qty", f(o.filled_qty))?;
        t.raw_set("limit_price", o.limit_price.map(f))?;
        t.raw_set("stop_price", o.stop_price.map(f))?;
        t.raw_set("status", format!("{:?}", o.status).to_lowercase())?;
        list.raw_push(t)?;
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn prices_round_to_the_nearest_tick_exactly() {
        assert_eq!(quantize_price("p", 101.25, dec!(0.01)), Ok(dec!(101.25)));
        assert_eq!(quantize_price("p", 101.257, dec!(0.01)), Ok(dec!(101.26)));
        assert_eq!(quantize_price("p", 0.1 + 0.2, dec!(0.01)), Ok(dec!(0.3)));
        assert_eq!(quantize_price("p", 10.03, dec!(0.05)), Ok(dec!(10.05)));
        assert!(quantize_price("p", 0.001, dec!(0.01)).unwrap_err().contains("rounds to zero"));
        assert!(quantize_price("p", -1.0, dec!(0.01)).unwrap_err().contains("> 0"));
    }

    #[test]
    fn quantities_floor_to_whole_lots() {
        assert_eq!(quantize_qty("qty", 0.3, dec!(0.1)), Ok(dec!(0.3)));
        assert_eq!(quantize_qty("qty", 10.9, dec!(1)), Ok(dec!(10)));
        assert_eq!(quantize_qty("qty", 0.123456, dec!(0.001)), Ok(dec!(0.123)));
        assert!(quantize_qty("qty", 0.5, dec!(1)).unwrap_err().contains("less than one lot"));
    }

    #[test]
    fn decimals_become_the_nearest_f64() {
        for d in [dec!(2.179012), dec!(101.25), dec!(-0.1), dec!(0), dec!(123456789.123456789)] {
            assert_eq!(f(d), d.to_f64().unwrap(), "{d}");
        }
        assert_eq!(f(Decimal::MAX), Decimal::MAX.to_f64().unwrap());
    }

    /// A key/value pair as text, to compare two walks over one table.
    fn show(k: &Value, v: &Value) -> String {
        format!("{k:?}={v:?}")
    }

    proptest::proptest! {
        #[test]
        fn each_field_walks_like_pairs_and_stops_at_the_first_refusal(
            keys in proptest::collection::vec("[a-e]{1,2}", 0..8),
            ints in proptest::collection::vec(1i32..6, 0..4),
            stop in 0usize..10,
        ) {
            let lua = Lua::new();
            let t = lua.create_table().unwrap();
            for (i, k) in keys.iter().enumerate() {
                t.raw_set(k.as_str(), i as f64 + 0.5).unwrap();
            }
            for i in &ints {
                t.raw_set(*i, "x").unwrap();
            }
            let mut expected = Vec::new();
            for pair in t.pairs::<Value, Value>() {
                let (k, v) = pair.unwrap();
                expected.push(show(&k, &v));
            }
            let mut seen = Vec::new();
            let walked = each_field(&t, |k, v| {
                seen.push(show(&k, &v));
                if seen.len() == stop { Err(format!("refused at {stop}")) } else { Ok(()) }
            });
            if stop >= 1 && stop <= expected.len() {
                proptest::prop_assert_eq!(walked, Err(format!("refused at {stop}")));
                proptest::prop_assert_eq!(&seen[..], &expected[..stop]);
            } else {
                proptest::prop_assert_eq!(walked, Ok(()));
                proptest::prop_assert_eq!(seen, expected);
            }
        }
    }

    #[test]
    fn numbers_must_be_finite_numbers() {
        assert_eq!(number("qty", &Value::Number(2.5)), Ok(2.5));
        assert_eq!(
            number("qty", &Value::Number(f64::NAN)).unwrap_err(),
            "field 'qty' must be a finite number, got NaN"
        );
        assert_eq!(number("qty", &Value::Boolean(true)).unwrap_err(), "field 'qty' must be a number, got boolean");
    }
}
