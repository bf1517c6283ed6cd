//! LLM (or any external) trading signals: the type strategies receive in `on_signal`, and a
//! JSONL loader that skips malformed lines and reports them by line number.

use crate::model::{Symbol, Timestamp};
use rust_decimal::Decimal;
use serde::Deserialize;

/// What a signal suggests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalAction {
    /// Go long / buy.
    Buy,
    /// Go short / sell.
    Sell,
    /// Do nothing (hold, neutral). Never approval for anything.
    Hold,
    /// Reach this signed position size.
    Target(Decimal),
}

/// One signal, e.g. an LLM's suggestion with its reasoning.
#[derive(Debug, Clone, PartialEq)]
pub struct Signal {
    /// Its id: the JSONL `id` field, or `<provider>:<ts nanos>:<symbol>` when absent.
    /// Orders placed while handling it record it in their provenance.
    pub id: String,
    /// The instrument.
    pub symbol: Symbol,
    /// The suggestion.
    pub action: SignalAction,
    /// Confidence in `[0, 1]`.
    pub confidence: f64,
    /// Why.
    pub reasoning: String,
    /// Who (LLM provider).
    pub provider: String,
    /// Which model.
    pub model: String,
    /// When it was made.
    pub ts: Timestamp,
    /// How far ahead it looks, seconds.
    pub horizon_secs: Option<i64>,
    /// How long it stays valid, seconds; an expired signal is not delivered.
    pub ttl_secs: Option<i64>,
}

impl Signal {
    /// Whether the signal is past its time to live at `now`.
    #[must_use]
    pub fn is_expired(&self, now: Timestamp) -> bool {
        self.ttl_secs.is_some_and(|ttl| now > self.ts.plus_secs(ttl))
    }

    /// Whether it is a hold/neutral signal.
    #[must_use]
    pub fn is_hold(&self) -> bool {
        self.action == SignalAction::Hold
    }

    /// Writes the Lua view: `{symbol, side, target, confidence, reasoning, provider, model,
    /// ts, horizon, ttl}` (`side` is `buy`, `sell`, `hold` or `target`).
    pub(crate) fn fill_table(&self, t: &mlua::Table) -> mlua::Result<()> {
        let side = match self.action {
            SignalAction::Buy => "buy",
            SignalAction::Sell => "sell",
            SignalAction::Hold => "hold",
            SignalAction::Target(x) => {
                t.raw_set("target", super::convert::f(x))?;
                "target"
            }
        };
        t.raw_set("id", self.id.as_str())?;
        t.raw_set("symbol", self.symbol.as_str())?;
        t.raw_set("side", side)?;
        t.raw_set("confidence", self.confidence)?;
        t.raw_set("reasoning", self.reasoning.as_str())?;
        t.raw_set("provider", self.provider.as_str())?;
        t.raw_set("model", self.model.as_str())?;
        t.raw_set("ts", self.ts.nanos() as f64 / 1e9)?;
        t.raw_set("horizon", self.horizon_secs)?;
        t.raw_set("ttl", self.ttl_secs)
    }
}

/// A JSONL line that could not be read as a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalLineError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    id: Option<String>,
    symbol: String,
    #[serde(default)]
    side: Option<String>,
    #[serde(default)]
    target: Option<Decimal>,
    confidence: f64,
    #[serde(default)]
    reasoning: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    model: String,
    ts: String,
    #[serde(default)]
    horizon_secs: Option<i64>,
    #[serde(default)]
    ttl_secs: Option<i64>,
}

fn parse_line(line: &str) -> Result<Signal, String> {
    let r: Raw = serde_json::from_str(line).map_err(|e| e.to_string())?;
    if !(0.0..=1.0).contains(&r.confidence) {
        return Err(format!("confidence must be within [0, 1], got {}", r.confidence));
    }
    let action = match (r.side.as_deref(), r.target) {
        (Some("buy" | "long"), None) => SignalAction::Buy,
        (Some("sell" | "short"), None) => SignalAction::Sell,
        (Some("hold" | "neutral" | "flat"), None) => SignalAction::Hold,
        (None, Some(t)) => SignalAction::Target(t),
        (Some(s), None) => return Err(format!("side must be buy, sell, hold or neutral, got '{s}'")),
        (Some(_), Some(_)) => return Err("give side or target, not both".into()),
        (None, None) => return Err("side or target is required".into()),
    };
    let ts = Timestamp::parse_rfc3339(&r.ts).map_err(|e| format!("ts '{}': {e}", r.ts))?;
    let symbol = Symbol::try_new(r.symbol).map_err(|e| e.to_string())?;
    let id = match r.id {
        Some(id) if id.trim().is_empty() => return Err("id must not be empty".into()),
        Some(id) => id,
        None => format!("{}:{}:{symbol}", r.provider, ts.nanos()),
    };
    Ok(Signal {
        id,
        symbol,
        action,
        confidence: r.confidence,
        reasoning: r.reasoning,
        provider: r.provider,
        model: r.model,
        ts,
        horizon_secs: r.horizon_secs,
        ttl_secs: r.ttl_secs,
    })
}

/// Reads signals from JSONL text, one object per line; blank lines are ignored. Malformed
/// lines are skipped and reported with their line number; every good line is kept. A
/// leading UTF-8 byte-order mark (some Windows editors write one) is not part of line 1.
#[must_use]
pub fn load_signals_jsonl(text: &str) -> (Vec<Signal>, Vec<SignalLineError>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(s) => ok.push(s),
            Err(message) => bad.push(SignalLineError { line: i + 1, message }),
        }
    }
    (ok, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_byte_order_mark_is_not_part_of_the_first_line() {
        let line = r#"{"symbol":"ORCL","side":"buy","confidence":0.8,"reasoning":"r","provider":"p","model":"m","ts":"2014-01-02T00:00:00Z"}"#;
        let (ok, bad) = load_signals_jsonl(&format!("\u{feff}{line}\n{line}\n"));
        assert!(bad.is_empty(), "{bad:?}");
        assert_eq!(ok.len(), 2);
        // Only at the start: a mark inside the file is still a bad line, with its number.
        let (ok, bad) = load_signals_jsonl(&format!("{line}\n\u{feff}{line}\n"));
        assert_eq!((ok.len(), bad.len(), bad[0].line), (1, 1, 2));
    }

    #[test]
    fn malformed_lines_are_reported_and_skipped() {
        let text = concat!(
            r#"{"symbol":"ORCL","side":"buy","confidence":0.8,"reasoning":"earnings","provider":"p","model":"m","ts":"2014-01-02T00:00:00Z","ttl_secs":86400}"#,
            "\n",
            "not json\n",
            "\n",
            r#"{"symbol":"ORCL","side":"sideways","confidence":0.5,"ts":"2014-01-02T00:00:00Z"}"#,
            "\n",
            r#"{"symbol":"ORCL","side":"hold","confidence":0.5,"ts":"2014-01-03T00:00:00Z"}"#,
            "\n",
            r#"{"symbol":"ORCL","side":"buy","confidence":1.5,"ts":"2014-01-03T00:00:00Z"}"#,
        );
        let (ok, bad) = load_signals_jsonl(text);
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].action, SignalAction::Buy);
        assert_eq!(ok[0].reasoning, "earnings");
        assert_eq!(ok[0].id, "p:1388620800000000000:ORCL", "derived when the line has no id");
        assert_eq!(ok[1].action, SignalAction::Hold);
        assert_eq!(bad.iter().map(|e| e.line).collect::<Vec<_>>(), vec![2, 4, 6]);
        assert!(bad[1].message.contains("sideways"), "{}", bad[1].message);
        assert!(bad[2].message.contains("[0, 1]"), "{}", bad[2].message);
    }

    #[test]
    fn signal_ids_come_from_the_line_and_must_not_be_empty() {
        let (ok, bad) = load_signals_jsonl(concat!(
            r#"{"id":"sig-7","symbol":"X","side":"buy","confidence":0.9,"ts":"2014-01-02T00:00:00Z"}"#,
            "\n",
            r#"{"id":" ","symbol":"X","side":"buy","confidence":0.9,"ts":"2014-01-02T00:00:00Z"}"#,
        ));
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].id, "sig-7");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].line, 2);
        assert!(bad[0].message.contains("id must not be empty"), "{}", bad[0].message);
    }

    #[test]
    fn ttl_expires_signals() {
        let (ok, _) = load_signals_jsonl(
            r#"{"symbol":"X","side":"buy","confidence":0.9,"ts":"2014-01-02T00:00:00Z","ttl_secs":60}"#,
        );
        let s = &ok[0];
        assert!(!s.is_expired(s.ts.plus_secs(60)));
        assert!(s.is_expired(s.ts.plus_secs(61)));
    }
}
