//! Every shipped file in examples/data loads through the public loaders, with the row count,
//! first and last bar checked against the file's own text.

use luatrade::data::{
    open, BadRowPolicy, DataFormat, DataSpec, EventSource, LoadOptions, MarketEvent, MergedStream, RowProblem,
};
use luatrade::model::Timestamp;
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

fn drain(source: &mut dyn EventSource) -> Vec<MarketEvent> {
    let mut out = Vec::new();
    while let Some(e) = source.next_event().unwrap() {
        out.push(e);
    }
    out
}

/// A bar's time and open, high, low, close, volume.
type Row = (Timestamp, [Decimal; 5]);

fn bar_tuple(e: &MarketEvent) -> Row {
    let MarketEvent::Bar(_, b) = e else { panic!("not a bar: {e:?}") };
    (b.ts, [b.open, b.high, b.low, b.close, b.volume])
}

/// The first and last data row of a `timestamp,open,high,low,close,volume` file, parsed by
/// plain string splitting and chrono (independent of the loader's parser).
fn csv_ends(path: &Path) -> (usize, Row, Row) {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<&str> = text.lines().skip(1).filter(|l| !l.is_empty()).collect();
    let parse = |line: &str| {
        let c: Vec<&str> = line.split(',').collect();
        let ts = Timestamp::parse_rfc3339(c[0]).unwrap();
        let d = |i: usize| Decimal::from_str(c[i]).unwrap();
        (ts, [d(1), d(2), d(3), d(4), d(5)])
    };
    (rows.len(), parse(rows[0]), parse(rows[rows.len() - 1]))
}

#[test]
fn every_shipped_csv_loads_whole() {
    for (file, symbol, rows) in [
        ("orcl_1d_1995-2014.csv", "ORCL", 5036),
        ("ftx_btc-perp_1m_2022-01.csv", "FTX", 45_031),
        ("fxcm_gbpusd_bid_1m_2012-02.csv", "FXCM", 30_117),
        ("eurusd_1h_2017-2018.csv", "EURUSD", 5000),
    ] {
        let path = Path::new("examples/data").join(file);
        let mut src = open(&DataSpec::new(&path), &LoadOptions::default()).unwrap();
        let events = drain(src.as_mut());
        let (n, first, last) = csv_ends(&path);
        assert_eq!((events.len(), n), (rows, rows), "{file}");
        assert_eq!(bar_tuple(&events[0]), first, "{file}");
        assert_eq!(bar_tuple(&events[rows - 1]), last, "{file}");
        assert!(events.iter().all(|e| e.symbol().as_str() == symbol), "{file}");
        let rep = src.report();
        assert_eq!((rep.rows_read, rep.events, rep.skipped_total()), (rows as u64, rows as u64, 0), "{file}");
        assert_eq!(rep.format, DataFormat::Ohlcv);
        assert_eq!((rep.first_ts, rep.last_ts), (Some(first.0), Some(last.0)), "{file}");
    }
}

#[test]
fn shipped_gaps_match_the_data_readme() {
    let gaps = |file: &str| {
        let mut src = open(&DataSpec::new(Path::new("examples/data").join(file)), &LoadOptions::default()).unwrap();
        drain(src.as_mut());
        src.report()
    };
    // "every minute present (no gaps)".
    assert_eq!(gaps("ftx_btc-perp_1m_2022-01.csv").gaps, 0);
    // Daily stock bars: weekends and single holidays are not gaps.
    let orcl = gaps("orcl_1d_1995-2014.csv");
    assert_eq!(orcl.typical_spacing_ns, Some(86_400_000_000_000));
    assert!(orcl.largest_gaps.iter().all(|g| g.seconds > 4 * 86_400), "{orcl:?}");
    // FX 1m: "the longest is 2 days 3 minutes".
    let fx = gaps("fxcm_gbpusd_bid_1m_2012-02.csv");
    assert_eq!(fx.largest_gaps[0].seconds, 2 * 86_400 + 180, "{fx:?}");
    assert!(fx.gaps >= 4 && fx.gaps <= 111, "{}", fx.gaps);
}

#[test]
fn derived_kline_and_alpaca_files_match_their_sources() {
    // Binance layout: the first week of the FTX file, same bars.
    let mut kline =
        open(&"BTC-PERP=examples/data/btcperp-1m-2022-01-01_07-kline.csv".parse().unwrap(), &LoadOptions::default())
            .unwrap();
    let k = drain(kline.as_mut());
    assert_eq!(kline.report().format, DataFormat::BinanceKline);
    let week = LoadOptions {
        from: Some(Timestamp::parse_rfc3339("2022-01-01T00:00:00Z").unwrap()),
        to: Some(Timestamp::parse_rfc3339("2022-01-08T00:00:00Z").unwrap()),
        ..LoadOptions::default()
    };
    let mut ftx = open(&"BTC-PERP=examples/data/ftx_btc-perp_1m_2022-01.csv".parse().unwrap(), &week).unwrap();
    let f = drain(ftx.as_mut());
    assert_eq!(k.len(), 10_080);
    assert_eq!(k, f);
    // Alpaca shape: every ORCL bar.
    let mut alpaca =
        open(&DataSpec::new("examples/data/orcl_1d_1995-2014_alpaca.json"), &LoadOptions::default()).unwrap();
    let a = drain(alpaca.as_mut());
    let mut csv = open(&DataSpec::new("examples/data/orcl_1d_1995-2014.csv"), &LoadOptions::default()).unwrap();
    assert_eq!(a, drain(csv.as_mut()));
    assert_eq!(alpaca.report().format, DataFormat::AlpacaBars);
}

#[test]
fn shipped_files_merge_in_time_order() {
    let specs = [
        "ORCL=examples/data/orcl_1d_1995-2014.csv",
        "EURUSD=examples/data/eurusd_1h_2017-2018.csv",
        "BTC-PERP=examples/data/ftx_btc-perp_1m_2022-01.csv",
    ];
    let sources = specs.iter().map(|s| open(&s.parse().unwrap(), &LoadOptions::default()).unwrap()).collect();
    let mut m = MergedStream::new(sources).unwrap();
    let (mut n, mut prev) = (0u64, Timestamp(i64::MIN));
    while let Some(e) = m.next_event().unwrap() {
        assert!(e.ts() >= prev);
        prev = e.ts();
        n += 1;
    }
    let rep = m.report();
    assert_eq!((n, rep.events, rep.rows_read), (55_067, 55_067, 55_067));
    assert_eq!(rep.first_ts, Some(Timestamp::parse_rfc3339("1995-01-03T00:00:00Z").unwrap()));
    assert_eq!(rep.last_ts, Some(Timestamp::parse_rfc3339("2022-02-01T05:31:00Z").unwrap()));
    let json = serde_json::to_string(&rep).unwrap();
    assert!(json.contains("\"symbol\":\"EURUSD\"") && json.contains("\"format\":\"ohlcv\""), "{json}");
}

#[test]
fn a_damaged_copy_is_rejected_or_skipped_with_counts() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("examples/data/orcl_1d_1995-2014.csv").unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[10] = lines[9].clone(); // duplicate timestamp at line 11
    lines[100] = lines[100].replacen(',', ",-", 1); // negative open at line 101
    lines.swap(200, 201); // line 202 goes back in time
    let path = dir.path().join("orcl_damaged.csv");
    std::fs::write(&path, lines.join("\n")).unwrap();
    let spec = DataSpec::new(&path);
    let mut src = open(&spec, &LoadOptions::default()).unwrap();
    let err = loop {
        match src.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("damage not found"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.starts_with(&format!("{}:11: timestamp", path.display())), "{err}");
    let mut src = open(&spec, &LoadOptions { on_bad: BadRowPolicy::Skip, ..LoadOptions::default() }).unwrap();
    let n = drain(src.as_mut()).len();
    let rep = src.report();
    assert_eq!(n, 5036 - 3);
    assert_eq!(rep.skipped.get(&RowProblem::Duplicate), Some(&1));
    assert_eq!(rep.skipped.get(&RowProblem::NonPositivePrice), Some(&1));
    assert_eq!(rep.skipped.get(&RowProblem::Unsorted), Some(&1));
    let lines: Vec<usize> = rep.skipped_examples.iter().map(|s| s.line).collect();
    assert_eq!(lines, [11, 101, 202]);
}
