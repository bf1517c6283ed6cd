//! Writing a [`Report`] out: terminal summary, `report.json`, `trades.csv`, `equity.csv`,
//! `equity.svg`, `equity.png` and one self-contained `report.html`.
//!
//! Every file is a pure function of the report, so the same report gives the same bytes.

use super::{chart, Report, ReportError, RoundTrip, TradeStats};
use rust_decimal::Decimal;
use std::fmt::Write as _;
use std::path::Path;

/// Most round trips listed in `report.html` (all are in `trades.csv`).
pub const HTML_TRADE_ROWS: usize = 500;

/// `0.1234` → `12.34%`, `null` → `n/a`.
fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |v| format!("{:.2}%", v * 100.0))
}

fn num(x: Option<f64>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.3}"))
}

fn money(x: Option<Decimal>) -> String {
    x.map_or_else(|| "n/a".to_owned(), |v| v.round_dp(2).to_string())
}

/// A duration in seconds as `3d 4h 5m` (or seconds when short).
fn duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "n/a".to_owned();
    }
    let s = secs.round() as i64;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3_600, (s % 3_600) / 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m {}s", s % 60),
        (0, h, m) => format!("{h}h {m}m"),
        (d, h, m) => format!("{d}d {h}h {m}m"),
    }
}

/// The headline rows shared by the terminal summary and the HTML metrics table.
fn headline(r: &Report) -> Vec<(&'static str, String)> {
    let p = &r.portfolio;
    let t = &r.trades;
    let c = &r.currency;
    let mut rows = vec![
        ("Period", format!("{} → {} ({})", r.start, r.end, duration(r.span_secs))),
        ("Start cash", format!("{} {c}", p.start_cash)),
        ("Final equity", format!("{} {c}", p.final_equity.round_dp(2))),
        ("Net profit", format!("{} {c}", p.net_profit.round_dp(2))),
        ("Total return", pct(p.total_return)),
        ("CAGR", pct(p.cagr)),
        ("Annualised volatility", pct(p.annual_volatility)),
        ("Sharpe", num(p.sharpe)),
        ("Sortino", num(p.sortino)),
        ("Calmar", num(p.calmar)),
        ("Max drawdown", format!("{} ({} {c})", pct(Some(p.max_drawdown)), p.max_drawdown_money.round_dp(2))),
        ("Max drawdown duration", duration(p.max_drawdown_duration_secs)),
        ("Exposure time", pct(p.exposure_time)),
        ("Fees paid", format!("{} {c}", p.fees_paid.round_dp(2))),
        ("Turnover", format!("{} {c}", p.turnover.round_dp(2))),
        ("Fills", p.fills.to_string()),
        ("Round trips (closed)", t.trades.to_string()),
        ("Win rate", pct(t.win_rate)),
        ("Profit factor", num(t.profit_factor)),
        ("Average win", money(t.avg_win)),
        ("Average loss", money(t.avg_loss)),
        ("Expectancy", money(t.expectancy)),
        ("Average holding time", t.avg_holding_secs.map_or_else(|| "n/a".to_owned(), duration)),
        ("Open positions", format!("{} (unrealised {})", t.open_positions, t.unrealized_pnl.round_dp(2))),
        ("Fingerprint", r.fingerprint.clone()),
    ];
    rows.extend(data_row(&r.extra).map(|v| ("Data", v)));
    rows.extend(rejections_row(&r.extra).map(|v| ("Orders refused by risk", v)));
    rows
}

/// `name 3, other 1` for a JSON object of counts (zero counts left out); `None` when empty.
fn counts(map: Option<&serde_json::Value>) -> Option<(u64, String)> {
    let map = map?.as_object()?;
    let parts: Vec<(String, u64)> =
        map.iter().filter_map(|(k, v)| v.as_u64().filter(|n| *n > 0).map(|n| (k.clone(), n))).collect();
    if parts.is_empty() {
        return None;
    }
    let total = parts.iter().map(|(_, n)| n).sum();
    Some((total, parts.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")))
}

/// What the data held, from the runner's `data` extra: events, gaps (and the largest), bad
/// rows skipped by reason. `None` for a report without one.
fn data_row(extra: &std::collections::BTreeMap<String, serde_json::Value>) -> Option<String> {
    let data = extra.get("data")?;
    let mut row = format!("{} price events", data.get("events")?.as_u64()?);
    let gaps = data.get("gaps").and_then(serde_json::Value::as_u64).unwrap_or(0);
    if gaps > 0 {
        let largest = data
            .get("inputs")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|i| i.get("largest_gaps")?.get(0)?.get("seconds")?.as_i64())
            .max();
        let _ = write!(row, ", {gaps} gap{}", if gaps == 1 { "" } else { "s" });
        if let Some(secs) = largest {
            let _ = write!(row, " (largest {})", duration(secs as f64));
        }
    }
    if let Some((total, by_reason)) = counts(data.get("skipped")) {
        let _ = write!(row, ", {total} bad row{} skipped ({by_reason})", if total == 1 { "" } else { "s" });
    }
    Some(row)
}

/// Orders the risk checks refused, by reason, from the runner's `risk_rejections` extra.
fn rejections_row(extra: &std::collections::BTreeMap<String, serde_json::Value>) -> Option<String> {
    counts(extra.get("risk_rejections")).map(|(total, by_reason)| format!("{total} ({by_reason})"))
}

const GROUP_HEADERS: [&str; 10] =
    ["", "trades", "win rate", "profit factor", "avg win", "avg loss", "expectancy", "net P&L", "fees", "open"];

fn group_row(g: &TradeStats) -> [String; 10] {
    [
        g.key.clone(),
        g.trades.to_string(),
        pct(g.win_rate),
        num(g.profit_factor),
        money(g.avg_win),
        money(g.avg_loss),
        money(g.expectancy),
        g.net_pnl.round_dp(2).to_string(),
        g.fees.round_dp(2).to_string(),
        g.open_positions.to_string(),
    ]
}

/// The terminal summary.
pub(crate) fn summary(r: &Report) -> String {
    let mut s = String::new();
    let rows = headline(r);
    let w = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let _ = writeln!(s, "Backtest report");
    for (k, v) in &rows {
        let _ = writeln!(s, "  {k:<w$}  {v}");
    }
    let tables: [(&str, &[TradeStats]); 3] =
        [("By strategy", &r.by_strategy), ("By symbol", &r.by_symbol), ("By LLM provider", &r.by_llm_provider)];
    for (title, groups) in tables {
        if groups.is_empty() {
            continue;
        }
        let _ = writeln!(s, "{title}");
        let rows: Vec<[String; 10]> = groups.iter().map(group_row).collect();
        let widths: Vec<usize> = (0..10)
            .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([GROUP_HEADERS[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |cells: &[String]| {
            let mut l = String::from(" ");
            for (i, c) in cells.iter().enumerate() {
                if i == 0 {
                    let _ = write!(l, " {c:<w$}", w = widths[i]);
                } else {
                    let _ = write!(l, "  {c:>w$}", w = widths[i]);
                }
            }
            l
        };
        let _ = writeln!(s, "{}", line(&GROUP_HEADERS.map(str::to_owned)));
        for row in &rows {
            let _ = writeln!(s, "{}", line(row));
        }
    }
    if !r.benchmarks.is_empty() {
        let _ = writeln!(s, "Buy and hold");
        for b in &r.benchmarks {
            let _ = writeln!(
                s,
                "  {}: return {}, CAGR {}, max drawdown {}",
                b.symbol,
                pct(b.total_return),
                pct(b.cagr),
                pct(Some(b.max_drawdown))
            );
        }
    }
    if r.calibration.iter().any(|b| b.trades > 0) {
        let _ = writeln!(s, "LLM calibration (confidence → hit rate, net P&L)");
        for b in r.calibration.iter().filter(|b| b.trades > 0) {
            let _ = writeln!(
                s,
                "  {}: {} trades, hit rate {}, net {}",
                b.bucket,
                b.trades,
                pct(b.hit_rate),
                b.net_pnl.round_dp(2)
            );
        }
    }
    match r.reconcile() {
        Ok(_) => {
            let _ = writeln!(s, "Equity reconciles with trades and fees.");
        }
        Err(e) => {
            let _ = writeln!(s, "WARNING: {e}");
        }
    }
    for w in &r.warnings {
        let _ = writeln!(s, "WARNING: {w}");
    }
    s
}

/// `report.json`: pretty JSON with a final newline.
pub(crate) fn json(r: &Report) -> String {
    // Serialising plain data with string keys cannot fail.
    let mut s = serde_json::to_string_pretty(r).unwrap_or_default();
    s.push('\n');
    s
}

/// Builds a CSV file in memory; `name` names it in an error.
fn csv_bytes(
    name: &str,
    write: impl FnOnce(&mut csv::Writer<Vec<u8>>) -> csv::Result<()>,
) -> Result<Vec<u8>, ReportError> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: std::io::Error| ReportError::Io { path: name.into(), source: e };
    write(&mut w).map_err(|e| io(std::io::Error::other(e.to_string())))?;
    w.into_inner().map_err(|e| io(std::io::Error::other(e.to_string())))
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `trades.csv`: closed round trips in closing order, then open positions (status `open`).
pub(crate) fn trades_csv(r: &Report) -> Result<Vec<u8>, ReportError> {
    csv_bytes("trades.csv", |w| {
        w.write_record([
            "position_id",
            "status",
            "strategy",
            "symbol",
            "direction",
            "opened_at",
            "closed_at",
            "holding_secs",
            "max_qty",
            "open_qty",
            "avg_entry",
            "avg_exit",
            "realized_pnl",
            "fees",
            "net_pnl",
            "mark",
            "unrealized_pnl",
            "turnover",
            "bookings",
            "llm_provider",
            "llm_model",
            "llm_confidence",
        ])?;
        for t in r.round_trips.iter().chain(&r.open_positions) {
            w.write_record([
                t.position_id.to_string(),
                if t.is_open() { "open" } else { "closed" }.to_owned(),
                t.strategy.clone(),
                t.symbol.clone(),
                t.direction.to_owned(),
                t.opened_at.to_string(),
                opt(t.closed_at),
                t.holding_secs(r.end).to_string(),
                t.max_qty.to_string(),
                t.open_qty.to_string(),
                t.avg_entry.to_string(),
                opt(t.avg_exit),
                t.realized_pnl.to_string(),
                t.fees.to_string(),
                t.net_pnl.to_string(),
                opt(t.mark),
                t.unrealized_pnl.to_string(),
                t.turnover.to_string(),
                t.bookings.to_string(),
                t.llm_provider.clone().unwrap_or_default(),
                t.llm_model.clone().unwrap_or_default(),
                opt(t.llm_confidence),
            ])?;
        }
        Ok(())
    })
}

/// `equity.csv`: the sampled equity curve.
pub(crate) fn equity_csv(r: &Report) -> Result<Vec<u8>, ReportError> {
    csv_bytes("equity.csv", |w| {
        w.write_record(["ts", "ts_ns", "equity", "gross_exposure", "drawdown"])?;
        for p in &r.equity_curve {
            w.write_record([
                p.ts.to_string(),
                p.ts.0.to_string(),
                p.equity.to_string(),
                p.gross_exposure.to_string(),
                p.drawdown.to_string(),
            ])?;
        }
        Ok(())
    })
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn table<S: AsRef<str>>(out: &mut String, headers: &[&str], rows: impl IntoIterator<Item = Vec<S>>) {
    out.push_str("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for c in &row {
            let _ = write!(out, "<td>{}</td>", escape(c.as_ref()));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>\n");
}

const CSS: &str =
    "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0 1.5em}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}td:first-child,th:first-child{text-align:left}\
th{background:#f0f0f0}pre{background:#f7f7f7;padding:1em;overflow:auto}.warn{color:#a00}";

fn trip_row(t: &RoundTrip, end: crate::model::Timestamp) -> Vec<String> {
    vec![
        t.position_id.to_string(),
        t.strategy.clone(),
        t.symbol.clone(),
        t.direction.to_owned(),
        t.opened_at.to_string(),
        opt(t.closed_at),
        duration(t.holding_secs(end)),
        t.avg_entry.round_dp(8).to_string(),
        opt(t.avg_exit),
        t.net_pnl.round_dp(2).to_string(),
        t.fees.round_dp(2).to_string(),
        t.llm_provider.clone().unwrap_or_default(),
        opt(t.llm_confidence),
    ]
}

const TRIP_HEADERS: [&str; 13] = [
    "position",
    "strategy",
    "symbol",
    "direction",
    "opened",
    "closed",
    "held",
    "avg entry",
    "avg exit",
    "net P&L",
    "fees",
    "LLM",
    "confidence",
];

/// `report.html`: one self-contained file; `chart_svg` is inlined.
pub(crate) fn html(r: &Report, chart_svg: &str) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Backtest report {}</title><style>{CSS}</style></head><body>\n",
        escape(&r.fingerprint[..r.fingerprint.len().min(12)])
    );
    o.push_str("<h1>Backtest report</h1>\n");
    table(&mut o, &["Metric", "Value"], headline(r).into_iter().map(|(k, v)| vec![k.to_owned(), v]));
    match r.reconcile() {
        Ok(_) => o.push_str("<p>Equity reconciles with trades and fees.</p>\n"),
        Err(e) => {
            let _ = writeln!(o, "<p class=\"warn\">{}</p>", escape(&e.to_string()));
        }
    }
    for w in &r.warnings {
        let _ = writeln!(o, "<p class=\"warn\">Warning: {}</p>", escape(w));
    }
    o.push_str("<h2>Equity and drawdown</h2>\n");
    o.push_str(chart_svg.trim_start_matches(|c: char| c != '<'));
    o.push('\n');
    let groups: [(&str, &[TradeStats]); 3] =
        [("By strategy", &r.by_strategy), ("By symbol", &r.by_symbol), ("By LLM provider", &r.by_llm_provider)];
    for (title, g) in groups {
        let _ = writeln!(o, "<h2>{title}</h2>");
        if g.is_empty() {
            o.push_str("<p>None.</p>\n");
        } else {
            table(&mut o, &GROUP_HEADERS, g.iter().map(|g| group_row(g).to_vec()));
        }
    }
    o.push_str("<h2>Buy and hold</h2>\n");
    table(
        &mut o,
        &["symbol", "first price", "last price", "return", "CAGR", "max drawdown", "longest drawdown"],
        r.benchmarks.iter().map(|b| {
            vec![
                b.symbol.clone(),
                b.first_price.to_string(),
                b.last_price.to_string(),
                pct(b.total_return),
                pct(b.cagr),
                pct(Some(b.max_drawdown)),
                duration(b.max_drawdown_duration_secs),
            ]
        }),
    );
    o.push_str("<h2>LLM calibration</h2>\n<p>Closed round trips opened by orders carrying LLM metadata; a hit is a net P&amp;L above 0.</p>\n");
    table(
        &mut o,
        &["confidence", "trades", "hits", "hit rate", "mean confidence", "net P&L", "avg P&L"],
        r.calibration.iter().map(|b| {
            vec![
                b.bucket.clone(),
                b.trades.to_string(),
                b.hits.to_string(),
                pct(b.hit_rate),
                num(b.mean_confidence),
                b.net_pnl.round_dp(2).to_string(),
                money(b.avg_pnl),
            ]
        }),
    );
    o.push_str("<h2>Open positions</h2>\n<p>Marked at the last price seen; not counted as round trips.</p>\n");
    table(&mut o, &TRIP_HEADERS, r.open_positions.iter().map(|t| trip_row(t, r.end)));
    let shown = r.round_trips.len().min(HTML_TRADE_ROWS);
    let _ = writeln!(o, "<h2>Round trips</h2>\n<p>{} closed round trips", r.round_trips.len());
    if shown < r.round_trips.len() {
        let _ =
            write!(o, "; the first {shown} are shown, {} omitted (all are in trades.csv)", r.round_trips.len() - shown);
    }
    o.push_str(".</p>\n");
    table(&mut o, &TRIP_HEADERS, r.round_trips[..shown].iter().map(|t| trip_row(t, r.end)));
    if !r.extra.is_empty() {
        o.push_str("<h2>Run</h2>\n");
        for (k, v) in &r.extra {
            let text = serde_json::to_string_pretty(v).unwrap_or_default();
            let _ = writeln!(o, "<h3>{}</h3>\n<pre>{}</pre>", escape(k), escape(&text));
        }
    }
    o.push_str("<h2>Conventions</h2>\n<ul>");
    for rule in r.conventions.rules {
        let _ = write!(o, "<li>{}</li>", escape(rule));
    }
    o.push_str("</ul>\n</body></html>\n");
    o
}

impl Report {
    /// Writes `report.json`, `trades.csv`, `equity.csv`, `equity.svg` (equity and drawdown
    /// panels), `equity.png` (the same chart without text) and `report.html` into `dir`,
    /// creating it if needed.
    ///
    /// # Errors
    /// [`ReportError::Io`] naming the file that could not be written; [`ReportError::Chart`]
    /// when a chart cannot be drawn.
    pub fn write_files(&self, dir: &Path) -> Result<(), ReportError> {
        std::fs::create_dir_all(dir).map_err(|source| ReportError::Io { path: dir.to_path_buf(), source })?;
        let svg = chart::svg(self)?;
        let files: [(&str, Vec<u8>); 6] = [
            ("report.json", json(self).into_bytes()),
            ("trades.csv", trades_csv(self)?),
            ("equity.csv", equity_csv(self)?),
            ("equity.png", chart::png(self)?),
            ("report.html", html(self, &svg).into_bytes()),
            ("equity.svg", svg.into_bytes()),
        ];
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(|source| ReportError::Io { path, source })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_covers_markup_and_quotes() {
        assert_eq!(escape(r#"<b>"a" & 'b'</b>"#), "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(42.0), "42s");
        assert_eq!(duration(125.0), "2m 5s");
        assert_eq!(duration(3_660.0), "1h 1m");
        assert_eq!(duration(90_061.0), "1d 1h 1m");
        assert_eq!(duration(f64::NAN), "n/a");
    }

    #[test]
    fn data_and_risk_rows_come_from_the_runner_extras() {
        let extra = |v: serde_json::Value| {
            v.as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        // Before: skipped rows, gaps and refused orders were only in report.json's extras.
        let e = extra(serde_json::json!({
            "data": {"events": 5, "gaps": 2, "skipped": {"malformed": 6, "high_below_low": 1, "unsorted": 0},
                     "inputs": [{"largest_gaps": [{"seconds": 90_000}]}, {"largest_gaps": [{"seconds": 604_800}]}]},
            "risk_rejections": {"MAX_ORDER_QTY": 206, "REDUCE_ONLY_WOULD_INCREASE": 206}
        }));
        assert_eq!(
            data_row(&e).unwrap(),
            "5 price events, 2 gaps (largest 7d 0h 0m), 7 bad rows skipped (high_below_low 1, malformed 6)"
        );
        assert_eq!(rejections_row(&e).unwrap(), "412 (MAX_ORDER_QTY 206, REDUCE_ONLY_WOULD_INCREASE 206)");
        let clean = extra(serde_json::json!({"data": {"events": 1, "gaps": 0, "skipped": {}}, "risk_rejections": {}}));
        assert_eq!(data_row(&clean).unwrap(), "1 price events");
        assert_eq!(rejections_row(&clean), None);
        assert_eq!(data_row(&extra(serde_json::json!({}))), None);
    }
}
