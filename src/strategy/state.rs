//! `ctx.state` to JSON, walked by hand so a value that cannot be saved is reported with its
//! key path (`ctx.state.levels[3]`), not as a bare serde error.
//!
//! Plain data only: booleans, finite numbers, strings, and tables whose keys are either all
//! strings (a JSON object) or exactly `1..n` (a JSON array). Functions, userdata, threads,
//! NaN/inf, mixed or sparse numeric keys and cycles are refused. A table reachable twice
//! without a cycle is saved twice (it comes back as two tables).

use mlua::{Table, Value};
use serde_json::{Map, Number, Value as Json};

/// Tables nested deeper than this are refused (a guard, far beyond real strategy state).
const MAX_DEPTH: usize = 64;

/// `value` (the contents of `ctx.state`) as JSON.
///
/// # Errors
/// A message naming the offending key path and what it holds.
pub(crate) fn to_json(value: &Value) -> Result<Json, String> {
    let mut path = String::from("ctx.state");
    let mut open = Vec::new();
    walk(value, &mut path, &mut open)
}

fn walk(value: &Value, path: &mut String, open: &mut Vec<(usize, usize)>) -> Result<Json, String> {
    match value {
        Value::Nil => Ok(Json::Null),
        Value::Boolean(b) => Ok(Json::Bool(*b)),
        Value::Integer(i) => Ok(Json::from(*i)),
        // Luau has one number type: integral values are saved as JSON integers.
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Ok(Json::from(*n as i64)),
        Value::Number(n) => Number::from_f64(*n)
            .map(Json::Number)
            .ok_or_else(|| format!("{path} is {n}, which JSON cannot hold; store nil (or a flag) instead")),
        Value::String(s) => Ok(Json::String(s.to_string_lossy())),
        Value::Table(t) => table(t, path, open),
        other => Err(format!(
            "{path} holds a {}; state must be plain data (booleans, numbers, strings and tables of them)",
            other.type_name()
        )),
    }
}

fn table(t: &Table, path: &mut String, open: &mut Vec<(usize, usize)>) -> Result<Json, String> {
    let ptr = t.to_pointer() as usize;
    if let Some(&(_, len)) = open.iter().find(|(p, _)| *p == ptr) {
        return Err(format!("{path} refers back to {} (a cycle); state must be a tree", &path[..len]));
    }
    if open.len() >= MAX_DEPTH {
        return Err(format!("{path} is nested more than {MAX_DEPTH} tables deep"));
    }
    let mut strings: Vec<(String, Value)> = Vec::new();
    let mut numbered: Vec<(i64, Value)> = Vec::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(|e| format!("{path}: {e}"))?;
        match k {
            Value::String(s) => strings.push((s.to_string_lossy(), v)),
            Value::Integer(i) => numbered.push((i, v)),
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => numbered.push((n as i64, v)),
            other => {
                return Err(format!(
                    "{path} has a {} key; state tables need string keys or a list 1..n",
                    other.type_name()
                ))
            }
        }
    }
    if !strings.is_empty() && !numbered.is_empty() {
        return Err(format!(
            "{path} mixes string keys ('{}') and numeric keys ({}); use one kind per table",
            strings[0].0, numbered[0].0
        ));
    }
    // An error anywhere abandons the whole walk, so `open` needs no unwinding on errors.
    let base = path.len();
    open.push((ptr, base));
    let out = if numbered.is_empty() {
        let mut map = Map::new();
        for (k, v) in &strings {
            path.push('.');
            path.push_str(k);
            let j = walk(v, path, open);
            path.truncate(base);
            map.insert(k.clone(), j?);
        }
        Json::Object(map)
    } else {
        numbered.sort_unstable_by_key(|(i, _)| *i);
        let mut list = Vec::with_capacity(numbered.len());
        for (expected, (i, v)) in (1..).zip(&numbered) {
            if *i != expected {
                return Err(format!(
                    "{path} has key {i} where a list needs {expected}; numeric keys must form a list 1..n \
                     (use string keys for a sparse table)"
                ));
            }
            path.push_str(&format!("[{i}]"));
            let j = walk(v, path, open);
            path.truncate(base);
            list.push(j?);
        }
        Json::Array(list)
    };
    open.pop();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    fn json_of(src: &str) -> Result<Json, String> {
        let lua = Lua::new();
        let v: Value = lua.load(src).eval().unwrap();
        to_json(&v)
    }

    #[test]
    fn plain_data_becomes_json() {
        let j =
            json_of("return {n = 3, x = 1.5, name = 'a', ok = true, list = {10, 20}, nested = {deep = {}}}").unwrap();
        assert_eq!(j["n"], 3);
        assert_eq!(j["x"], 1.5);
        assert_eq!(j["name"], "a");
        assert_eq!(j["ok"], true);
        assert_eq!(j["list"], serde_json::json!([10, 20]));
        assert_eq!(j["nested"]["deep"], serde_json::json!({}));
    }

    #[test]
    fn values_that_cannot_be_saved_are_named_by_their_key_path() {
        let cases = [
            ("return {cb = function() end}", "ctx.state.cb holds a function"),
            ("return {a = {b = {print}}}", "ctx.state.a.b[1] holds a function"),
            ("local t = {} t.me = {up = t} return t", "ctx.state.me.up refers back to ctx.state (a cycle)"),
            ("return {warm = 0/0}", "ctx.state.warm is NaN"),
            ("return {x = {[1] = 1, [3] = 3}}", "ctx.state.x has key 3 where a list needs 2"),
            ("return {x = {1, y = 2}}", "ctx.state.x mixes string keys"),
            ("return {co = coroutine.create(function() end)}", "ctx.state.co holds a thread"),
        ];
        for (src, want) in cases {
            let err = json_of(src).unwrap_err();
            assert!(err.contains(want), "{src}: {err}");
        }
    }

    #[test]
    fn a_table_shared_without_a_cycle_is_saved_twice() {
        let j = json_of("local s = {1} return {a = s, b = s}").unwrap();
        assert_eq!(j["a"], j["b"]);
    }
}
