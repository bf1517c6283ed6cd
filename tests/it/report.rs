//! The backtest report on a scripted run: hand-computed metrics, reconciliation with the
//! books, byte-identical files, HTML escaping, calibration and edge cases.
//!
//! The run is booked by a small accountant built on the production netting math
//! (`model::Position`), so trades, fees and equity come from the real code, not from the
//! numbers the test expects.

use crate::support::{acct, at, sid, sym, t0, usd};
use luatrade::model::{
    ClientOrderId, Fill, Liquidity, LlmMeta, Position, PositionId, Side, Symbol, Timestamp, Trade, TradeId, TradeKind,
};
use luatrade::report::{Recorder, RecorderConfig, Report, ReportError};
use proptest::prelude::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::collections::BTreeMap;

const DAY: i64 = 86_400;

/// Books fills with `Position` netting math, keeps cash, and feeds a [`Recorder`].
struct Run {
    rec: Recorder,
    cash: Decimal,
    positions: BTreeMap<String, Position>,
    marks: BTreeMap<String, Decimal>,
    next_id: u64,
    seq: u64,
}

impl Run {
    fn new(cash: Decimal) -> Self {
        Self::with_config(RecorderConfig::new(cash, usd()))
    }

    fn with_config(config: RecorderConfig) -> Self {
        Self {
            cash: config.start_cash,
            rec: Recorder::new(config),
            positions: BTreeMap::new(),
            marks: BTreeMap::new(),
            next_id: 1,
            seq: 0,
        }
    }

    /// A price for `symbol` at `ts`: feeds the recorder and marks the position.
    fn price(&mut self, symbol: &Symbol, ts: Timestamp, px: Decimal) {
        self.rec.on_price(symbol, ts, px);
        self.marks.insert(symbol.as_str().to_owned(), px);
        if let Some(p) = self.positions.get_mut(symbol.as_str()) {
            p.mark_to(px, ts);
        }
    }

    /// Portfolio state after the event at `ts`.
    fn equity(&mut self, ts: Timestamp) {
        let open = self.positions.values().filter(|p| p.is_open());
        let (mv, gross) =
            open.fold((Decimal::ZERO, Decimal::ZERO), |(mv, g), p| (mv + p.market_value(), g + p.market_value().abs()));
        self.rec.on_equity(ts, self.cash + mv, gross);
    }

    #[allow(clippy::too_many_arguments, reason = "one scripted fill, every fact spelled out")]
    fn fill(
        &mut self,
        strategy: &str,
        symbol: &Symbol,
        side: Side,
        qty: Decimal,
        px: Decimal,
        fee: Decimal,
        ts: Timestamp,
        llm: Option<&LlmMeta>,
    ) {
        self.seq += 1;
        let fill = Fill {
            trade_id: TradeId::try_new(format!("T{}", self.seq)).unwrap(),
            cid: ClientOrderId::try_new(format!("C{}", self.seq)).unwrap(),
            symbol: symbol.clone(),
            side,
            qty,
            price: px,
            fee,
            fee_currency: usd(),
            liquidity: Liquidity::Taker,
            ts,
        };
        self.cash -= side.sign() * qty * px + fee;
        let key = symbol.as_str().to_owned();
        let (kind, position_id, opened, realized) = match self.positions.get_mut(&key).filter(|p| p.is_open()) {
            None => {
                let id = self.new_id();
                self.positions
                    .insert(key.clone(), Position::open(id, acct(), symbol.clone(), usd(), side, qty, px, fee, ts));
                (TradeKind::Entry, id, None, Decimal::ZERO)
            }
            Some(p) => {
                let closing = p.closing_part(side, qty);
                if closing.is_zero() || closing == qty {
                    let a = p.apply(side, qty, px, fee, ts, false);
                    (a.kind, p.id, None, a.realized)
                } else {
                    let old = p.id;
                    let fee_close = fee * closing / qty;
                    let a = p.apply(side, closing, px, fee_close, ts, false);
                    let id = self.new_id();
                    let new =
                        Position::open(id, acct(), symbol.clone(), usd(), side, qty - closing, px, fee - fee_close, ts);
                    self.positions.insert(key.clone(), new);
                    (TradeKind::Reversal, old, Some(id), a.realized)
                }
            }
        };
        let trade = Trade {
            trade_id: fill.trade_id.clone(),
            cid: fill.cid.clone(),
            strategy_id: sid(strategy),
            account: acct(),
            symbol: symbol.clone(),
            side,
            qty,
            price: px,
            fee,
            kind,
            position_id,
            opened_position_id: opened,
            realized_pnl: realized,
            ts,
        };
        self.rec.on_fill(&fill, &sid(strategy), llm);
        self.rec.on_trade(&trade, llm);
    }

    fn new_id(&mut self) -> PositionId {
        self.next_id += 1;
        PositionId(self.next_id - 1)
    }
}

fn day(n: i64) -> Timestamp {
    at(n * DAY)
}

/// The hand-computed run: one symbol, daily prices, fee 1 per fill, start cash 1,000.
///
/// | day | price | fill               | cash                   | equity |
/// |-----|-------|--------------------|------------------------|--------|
/// | 0   | 10    | buy 10 @ 10        | 1000 − 100 − 1 = 899   | 999    |
/// | 1   | 12    | sell 10 @ 12       | 899 + 120 − 1 = 1018   | 1018   |  round trip 1: +20 − 2 = +18
/// | 2   | 12    | sell 5 @ 12 (short)| 1018 + 60 − 1 = 1077   | 1017   |
/// | 3   | 14    | buy 5 @ 14         | 1077 − 70 − 1 = 1006   | 1006   |  round trip 2: −10 − 2 = −12
/// | 4   | 10    | buy 10 @ 10        | 1006 − 100 − 1 = 905   | 1005   |
/// | 5   | 9     | sell 10 @ 9        | 905 + 90 − 1 = 994     | 994    |  round trip 3: −10 − 2 = −12
fn scripted() -> Report {
    let x = sym("X");
    let mut run = Run::new(dec!(1000));
    let script = [
        (dec!(10), Side::Buy, dec!(10)),
        (dec!(12), Side::Sell, dec!(10)),
        (dec!(12), Side::Sell, dec!(5)),
        (dec!(14), Side::Buy, dec!(5)),
        (dec!(10), Side::Buy, dec!(10)),
        (dec!(9), Side::Sell, dec!(10)),
    ];
    for (d, (px, side, qty)) in (0..).zip(script) {
        run.price(&x, day(d), px);
        run.fill("s1", &x, side, qty, px, dec!(1), day(d), None);
        run.equity(day(d));
    }
    run.rec.finish(day(5))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-12 * b.abs().max(1.0)
}

#[test]
fn metrics_match_hand_computed_values() {
    let r = scripted();
    let p = &r.portfolio;
    assert_eq!(p.final_equity, dec!(994));
    // 994 / 1000 − 1
    assert!(close(p.total_return.unwrap(), -0.006), "{:?}", p.total_return);
    // Peak 1018 (day 1), trough 994 (day 5): 24 / 1018; never recovered, so 1 → 5 = 4 days.
    assert!(close(p.max_drawdown, 24.0 / 1018.0), "{}", p.max_drawdown);
    assert_eq!(p.max_drawdown_money, dec!(24));
    assert_eq!(p.max_drawdown_duration_secs, (4 * DAY) as f64);
    assert_eq!((p.max_drawdown_peak_at, p.max_drawdown_trough_at), (Some(day(1)), Some(day(5))));
    // Returns r = 1018/999−1, 1017/1018−1, 1006/1017−1, 1005/1006−1, 994/1005−1
    //   = 0.0190190, −0.0009823, −0.0108161, −0.0009940, −0.0109453
    // mean = −0.00094375, sample stdev = 0.01220666; daily spacing → 365.25 periods a year.
    // Sharpe = −0.00094375 / 0.01220666 × √365.25 = −1.47759
    // volatility = 0.01220666 × √365.25 = 0.233288
    // downside dev = √((0.0009823² + 0.0108161² + 0.0009940² + 0.0109453²) / 5) = 0.00691000
    // Sortino = −0.00094375 / 0.00691000 × √365.25 = −2.61019
    let rs: Vec<f64> = [(1018.0, 999.0), (1017.0, 1018.0), (1006.0, 1017.0), (1005.0, 1006.0), (994.0, 1005.0)]
        .iter()
        .map(|(b, a)| b / a - 1.0)
        .collect();
    assert!((p.sharpe.unwrap() - -1.477_589_220_286_93).abs() < 1e-9, "{:?}", p.sharpe);
    assert!((p.annual_volatility.unwrap() - 0.233_287_812_779_66).abs() < 1e-9);
    assert!((p.sortino.unwrap() - -2.610_192_091_288_63).abs() < 1e-9, "{:?}", p.sortino);
    assert!(close(rs.iter().sum::<f64>() / 5.0, -0.000_943_746_905_920_717));
    assert_eq!(r.conventions.periods_per_year, Some(365.25));
    // CAGR = 0.994^(365.25 / 5) − 1 = −0.355719; Calmar = −0.355719 / 0.0235756 = −15.0884
    assert!((p.cagr.unwrap() - -0.355_718_916_721_335).abs() < 1e-9, "{:?}", p.cagr);
    assert!((p.calmar.unwrap() - -15.088_410_717_596_6).abs() < 1e-6, "{:?}", p.calmar);
    // In the market day 0→1, 2→3, 4→5: 3 of 5 days.
    assert!(close(p.exposure_time.unwrap(), 0.6));
    // Fees 6 × 1; turnover 100 + 120 + 60 + 70 + 100 + 90 = 540.
    assert_eq!((p.fees_paid, p.turnover, p.fills), (dec!(6), dec!(540), 6));

    // Round trips +18, −12, −12.
    let t = &r.trades;
    assert_eq!((t.trades, t.wins, t.losses), (3, 1, 2));
    assert!(close(t.win_rate.unwrap(), 1.0 / 3.0));
    assert!(close(t.profit_factor.unwrap(), 18.0 / 24.0)); // 18 / |−24|
    assert_eq!((t.avg_win, t.avg_loss), (Some(dec!(18)), Some(dec!(-12))));
    assert_eq!(t.expectancy, Some(dec!(-2))); // (18 − 12 − 12) / 3
    assert_eq!(t.avg_holding_secs, Some(DAY as f64));
    let nets: Vec<Decimal> = r.round_trips.iter().map(|t| t.net_pnl).collect();
    assert_eq!(nets, [dec!(18), dec!(-12), dec!(-12)]);
    assert_eq!(r.round_trips[1].direction, "short");

    // Buy and hold X: 10 → 9 = −10 %; peak 14 (day 3) → 9: 5/14 deep.
    let b = &r.benchmarks[0];
    assert!(close(b.total_return.unwrap(), -0.1));
    assert!(close(b.max_drawdown, 5.0 / 14.0));
    assert!(r.reconcile().is_ok(), "{:?}", r.reconcile());
    assert_eq!(r.metric("win_rate"), t.win_rate);
    assert_eq!(r.metric("expectancy"), Some(-2.0));
    assert_eq!(r.metric("no_such_metric"), None);
}

fn llm(provider: &str, confidence: f64) -> LlmMeta {
    LlmMeta::try_new(provider, "m1", "price <looks> cheap & \"fair\"", confidence).unwrap()
}

/// Two symbols, two strategies, adds, partial exits, a reversal, LLM orders and an open
/// position at the end.
fn mixed() -> Report {
    let (a, b) = (sym("AAA"), sym("BBB"));
    let mut run = Run::new(dec!(10000));
    let l1 = llm("openai", 0.72);
    let l2 = llm("anthropic", 0.95);
    for i in 0..40i64 {
        let t = at(i * 3600);
        let pa = dec!(100) + Decimal::from(i % 7) - Decimal::from(i / 10);
        let pb = dec!(50.25) + Decimal::from((i * 3) % 5) / dec!(4);
        run.price(&a, t, pa);
        run.price(&b, t, pb);
        match i {
            1 => run.fill("trend", &a, Side::Buy, dec!(3), pa, dec!(0.30), t, Some(&l1)),
            3 => run.fill("trend", &a, Side::Buy, dec!(2), pa, dec!(0.20), t, Some(&l1)),
            5 => run.fill("trend", &a, Side::Sell, dec!(1.5), pa, dec!(0.15), t, None),
            8 => run.fill("trend", &a, Side::Sell, dec!(7), pa, dec!(0.70), t, Some(&l2)), // reversal to short 3.5
            12 => run.fill("trend", &a, Side::Buy, dec!(3.5), pa, dec!(0.35), t, None),
            2 => run.fill("meanrev", &b, Side::Sell, dec!(10), pb, dec!(0.5), t, None),
            9 => run.fill("meanrev", &b, Side::Buy, dec!(10), pb, dec!(0.5), t, None),
            20 => run.fill("meanrev", &b, Side::Buy, dec!(4), pb, dec!(0.2), t, Some(&l1)), // open at the end
            _ => {}
        }
        run.equity(t);
    }
    run.rec.finish(at(40 * 3600))
}

#[test]
fn equity_reconciles_with_trades_and_fees_to_the_cent() {
    let r = mixed();
    let rec = r.reconcile().expect("reconciles");
    assert_eq!(rec.start_cash + rec.realized_pnl - rec.fees + rec.unrealized_pnl, rec.final_equity);
    assert_eq!(r.open_positions.len(), 1, "the BBB long is still open");
    assert_eq!(r.open_positions[0].symbol, "BBB");
    assert!(
        !r.open_positions[0].unrealized_pnl.is_zero()
            || r.open_positions[0].mark == Some(r.open_positions[0].avg_entry)
    );
    // The reversal closed one round trip and opened another owned by the anthropic order.
    assert_eq!(r.trades.trades, 3);
    assert_eq!(r.by_strategy.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), ["meanrev", "trend"]);
    assert_eq!(
        r.by_llm_provider.iter().map(|g| (g.key.as_str(), g.trades)).collect::<Vec<_>>(),
        [("anthropic", 1), ("openai", 1)]
    );
    // Fees per round trip add up to the fees of all bookings.
    let trip_fees: Decimal = r.round_trips.iter().chain(&r.open_positions).map(|t| t.fees).sum();
    assert_eq!(trip_fees, rec.fees);
    assert_eq!(rec.fees, r.portfolio.fees_paid);
}

#[test]
fn reconcile_names_a_mismatch() {
    let x = sym("X");
    let mut run = Run::new(dec!(1000));
    run.price(&x, t0(), dec!(10));
    run.fill("s", &x, Side::Buy, dec!(1), dec!(10), dec!(0.1), t0(), None);
    // The runner forgot the fee: equity is a cent (0.1) too high.
    run.rec.on_equity(t0(), dec!(1000), dec!(10));
    let r = run.rec.finish(t0());
    let err = r.reconcile().unwrap_err();
    assert!(matches!(err, ReportError::Unreconciled { difference, .. } if difference == dec!(0.1)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("fees 0.1") && msg.contains("difference 0.1") && msg.contains("999.9"), "{msg}");
    assert!(r.summary().contains("WARNING: equity does not reconcile"), "{}", r.summary());
}

fn files(r: &Report) -> (tempfile::TempDir, BTreeMap<String, Vec<u8>>) {
    let dir = tempfile::tempdir().unwrap();
    r.write_files(dir.path()).unwrap();
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        out.insert(e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap());
    }
    (dir, out)
}

#[test]
fn same_inputs_give_byte_identical_files() {
    let mut r1 = mixed();
    let mut r2 = mixed();
    for r in [&mut r1, &mut r2] {
        r.set_extra("run_id", serde_json::json!("run-1"));
        r.set_extra("data", serde_json::json!({"rows": 80, "skipped": 0}));
    }
    assert_eq!(r1.fingerprint(), r2.fingerprint());
    assert_eq!(r1.fingerprint().len(), 64);
    let (_d1, f1) = files(&r1);
    let (_d2, f2) = files(&r2);
    let names: Vec<&str> = f1.keys().map(String::as_str).collect();
    assert_eq!(names, ["equity.csv", "equity.png", "equity.svg", "report.html", "report.json", "trades.csv"]);
    for (name, bytes) in &f1 {
        assert!(!bytes.is_empty(), "{name} is empty");
        assert!(f2[name] == *bytes, "{name} differs between two identical runs");
    }
    assert_eq!(&f1["equity.png"][..8], b"\x89PNG\r\n\x1a\n");
    let json: serde_json::Value = serde_json::from_slice(&f1["report.json"]).unwrap();
    assert_eq!(json["extra"]["run_id"], "run-1");
    assert_eq!(
        json["portfolio"]["fees_paid"],
        serde_json::json!(r1.portfolio.fees_paid.to_string()),
        "money as exact strings"
    );
    assert_eq!(json["fingerprint"], r1.fingerprint());
    let trades = String::from_utf8(f1["trades.csv"].clone()).unwrap();
    assert_eq!(trades.lines().count(), 1 + 3 + 1, "header, 3 closed, 1 open");
    assert!(trades.lines().last().unwrap().contains(",open,"));
    let svg = String::from_utf8(f1["equity.svg"].clone()).unwrap();
    assert!(svg.contains("buy &amp; hold AAA") && svg.contains("Drawdown"), "legend and drawdown panel");
    // A different fill changes the fingerprint.
    let other = scripted();
    assert_ne!(other.fingerprint(), r1.fingerprint());
}

#[test]
fn html_escapes_every_text_it_shows() {
    let evil = sym("<X&>");
    let mut run = Run::new(dec!(1000));
    run.price(&evil, t0(), dec!(10));
    run.fill(
        "<script>alert(1)</script>",
        &evil,
        Side::Buy,
        dec!(1),
        dec!(10),
        dec!(0),
        t0(),
        Some(&llm("<b>prov</b>", 0.5)),
    );
    run.price(&evil, at(60), dec!(11));
    run.fill("<script>alert(1)</script>", &evil, Side::Sell, dec!(1), dec!(11), dec!(0), at(60), None);
    run.equity(at(60));
    let mut r = run.rec.finish(at(60));
    r.set_extra("<inputs>", serde_json::json!({"file": "a<b>.csv"}));
    let (_d, f) = files(&r);
    let html = String::from_utf8(f["report.html"].clone()).unwrap();
    assert!(!html.contains("<script>"), "raw script tag in html");
    assert!(!html.contains("<b>prov"));
    assert!(!html.contains("<X&>") && !html.contains("<inputs>") && !html.contains("a<b>"));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(html.contains("&lt;b&gt;prov&lt;/b&gt;"));
    assert!(html.contains("&lt;X&amp;&gt;"));
    assert!(html.contains("&lt;inputs&gt;"));
    assert!(html.contains("<svg") && html.contains("<table>"), "chart and tables inline");
}

#[test]
fn calibration_buckets_hit_rate_and_pnl() {
    let x = sym("X");
    let mut run = Run::new(dec!(1000));
    // (confidence, exit price): entries at 10, one unit, no fees → net = exit − 10.
    let cases = [(0.30, 11), (0.55, 9), (0.59, 12), (0.60, 13), (0.90, 8), (1.00, 14), (0.95, 10)];
    for (i, (c, exit)) in (0i64..).zip(cases) {
        let meta = llm("p", c);
        run.price(&x, at(i * 10), dec!(10));
        run.fill("s", &x, Side::Buy, dec!(1), dec!(10), dec!(0), at(i * 10), Some(&meta));
        run.price(&x, at(i * 10 + 5), Decimal::from(exit));
        run.fill("s", &x, Side::Sell, dec!(1), Decimal::from(exit), dec!(0), at(i * 10 + 5), None);
        run.equity(at(i * 10 + 5));
    }
    let r = run.rec.finish(at(100));
    let table: Vec<(String, usize, usize, Decimal)> =
        r.calibration.iter().map(|b| (b.bucket.clone(), b.trades, b.hits, b.net_pnl)).collect();
    assert_eq!(
        table,
        [
            ("[0.0, 0.5)".to_owned(), 1, 1, dec!(1)), // 0.30: +1
            ("[0.5, 0.6)".to_owned(), 2, 1, dec!(1)), // 0.55: −1, 0.59: +2
            ("[0.6, 0.7)".to_owned(), 1, 1, dec!(3)), // 0.60: +3
            ("[0.7, 0.8)".to_owned(), 0, 0, dec!(0)),
            ("[0.8, 0.9)".to_owned(), 0, 0, dec!(0)),
            ("[0.9, 1.0]".to_owned(), 3, 1, dec!(2)), // 0.90: −2, 1.00: +4, 0.95: 0 (a scratch is no hit)
        ]
    );
    assert_eq!(r.calibration[5].hit_rate, Some(1.0 / 3.0));
    assert!(close(r.calibration[1].mean_confidence.unwrap(), 0.57));
    assert_eq!(r.calibration[3].hit_rate, None);
    assert_eq!(r.by_llm_provider[0].trades, 7);
}

fn json_of(r: &Report) -> String {
    let (_d, f) = files(r);
    String::from_utf8(f["report.json"].clone()).unwrap()
}

#[test]
fn no_trades_and_no_events_are_reported_without_nan() {
    let r = Recorder::new(RecorderConfig::new(dec!(500), usd())).finish(t0());
    assert_eq!((r.trades.trades, r.portfolio.final_equity), (0, dec!(500)));
    assert_eq!((r.trades.win_rate, r.trades.profit_factor, r.trades.expectancy), (None, None, None));
    assert_eq!((r.portfolio.sharpe, r.portfolio.cagr, r.portfolio.exposure_time), (None, None, None));
    assert!(r.reconcile().is_ok());
    let json = json_of(&r);
    assert!(!json.contains("NaN") && json.contains("\"win_rate\": null"), "{json}");
    assert!(r.summary().contains("Win rate") && r.summary().contains("n/a"));
}

#[test]
fn one_bar_gives_a_zero_return_and_null_ratios() {
    let x = sym("X");
    let mut run = Run::new(dec!(100));
    run.price(&x, t0(), dec!(5));
    run.equity(t0());
    let r = run.rec.finish(t0());
    assert_eq!(r.portfolio.total_return, Some(0.0));
    assert_eq!((r.portfolio.sharpe, r.portfolio.annual_volatility, r.portfolio.cagr), (None, None, None));
    assert_eq!(r.benchmarks[0].total_return, Some(0.0));
    assert!(!json_of(&r).contains("NaN"));
}

#[test]
fn all_losing_trades_give_profit_factor_zero_and_all_winning_null() {
    let x = sym("X");
    let mut run = Run::new(dec!(1000));
    for i in 0..3 {
        run.price(&x, at(i * 10), dec!(10));
        run.fill("s", &x, Side::Buy, dec!(1), dec!(10), dec!(0.5), at(i * 10), None);
        run.fill("s", &x, Side::Sell, dec!(1), dec!(10), dec!(0.5), at(i * 10 + 1), None);
        run.equity(at(i * 10 + 1));
    }
    let r = run.rec.finish(at(30));
    assert_eq!((r.trades.trades, r.trades.losses, r.trades.wins), (3, 3, 0));
    assert_eq!(r.trades.profit_factor, Some(0.0));
    assert_eq!(r.trades.win_rate, Some(0.0));
    assert_eq!((r.trades.avg_win, r.trades.avg_loss), (None, Some(dec!(-1))));
    assert!(r.reconcile().is_ok());

    let mut run = Run::new(dec!(1000));
    run.price(&x, t0(), dec!(10));
    run.fill("s", &x, Side::Buy, dec!(1), dec!(10), dec!(0), t0(), None);
    run.price(&x, at(1), dec!(11));
    run.fill("s", &x, Side::Sell, dec!(1), dec!(11), dec!(0), at(1), None);
    run.equity(at(1));
    let r = run.rec.finish(at(1));
    assert_eq!((r.trades.wins, r.trades.profit_factor), (1, None), "no loss: profit factor undefined → null");
    assert!(json_of(&r).contains("\"profit_factor\": null"));
}

#[test]
fn bookings_without_an_entry_are_kept_and_warned_about() {
    let x = sym("X");
    let mut rec = Recorder::new(RecorderConfig::new(dec!(1000), usd()));
    rec.on_price(&x, t0(), dec!(10));
    let trade = Trade {
        trade_id: TradeId::try_new("T9").unwrap(),
        cid: ClientOrderId::try_new("C9").unwrap(),
        strategy_id: sid("s"),
        account: acct(),
        symbol: x.clone(),
        side: Side::Sell,
        qty: dec!(2),
        price: dec!(10),
        fee: dec!(0.2),
        kind: TradeKind::Exit,
        position_id: PositionId(77),
        opened_position_id: None,
        realized_pnl: dec!(4),
        ts: t0(),
    };
    rec.on_trade(&trade, None);
    rec.on_equity(t0(), dec!(1003.8), dec!(0));
    let r = rec.finish(t0());
    assert_eq!(r.round_trips.len(), 1);
    assert_eq!(r.round_trips[0].net_pnl, dec!(3.8));
    assert!(r.warnings.iter().any(|w| w.contains("T9") && w.contains("no entry")), "{:?}", r.warnings);
    assert!(r.reconcile().is_ok());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any sequence of fills booked by the production netting math reconciles, and closed plus
    /// open round trips carry every fee.
    #[test]
    fn prop_any_run_reconciles(steps in proptest::collection::vec((0u8..2, 1u32..50, 80u32..120, 0u32..30), 1..60)) {
        let syms = [sym("A"), sym("B")];
        let mut run = Run::with_config(RecorderConfig { max_curve_points: 16, ..RecorderConfig::new(dec!(100000), usd()) });
        for (i, (s, qty, px, fee)) in (0i64..).zip(steps) {
            let symbol = &syms[usize::from(s % 2)];
            let px = Decimal::from(px) / dec!(4);
            let side = if (qty + i as u32) % 3 == 0 { Side::Sell } else { Side::Buy };
            let qty = Decimal::from(qty) / dec!(10);
            run.price(symbol, at(i * 60), px);
            run.fill("p", symbol, side, qty, px, Decimal::from(fee) / dec!(100), at(i * 60), None);
            run.equity(at(i * 60));
        }
        let r = run.rec.finish(at(10_000));
        prop_assert!(r.reconcile().is_ok(), "{:?}", r.reconcile().err().map(|e| e.to_string()));
        let fees: Decimal = r.round_trips.iter().chain(&r.open_positions).map(|t| t.fees).sum();
        prop_assert_eq!(fees, r.portfolio.fees_paid);
        prop_assert!(r.equity_curve.len() <= 17, "bounded curve plus the final point");
        prop_assert!(r.warnings.is_empty(), "{:?}", r.warnings);
    }
}

#[test]
fn summary_shows_the_headline_figures() {
    let s = scripted().summary();
    println!("{s}");
    let line = |label: &str| s.lines().find(|l| l.trim_start().starts_with(label)).unwrap_or_default().to_owned();
    assert!(line("Total return").ends_with("-0.60%"), "{s}");
    assert!(line("Max drawdown ").ends_with("2.36% (24 USD)"), "{s}");
    assert!(line("Profit factor").ends_with("0.750"), "{s}");
    assert!(line("Win rate").ends_with("33.33%"), "{s}");
    assert!(line("Average holding time").ends_with("1d 0h 0m"), "{s}");
    assert!(s.contains("Equity reconciles with trades and fees."), "{s}");
    assert!(s.contains("By strategy") && s.contains("X: return -10.00%"), "{s}");
}
