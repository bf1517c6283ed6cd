//! The equity and drawdown chart: SVG with labels, PNG without text.
//!
//! One picture, two panels: the equity curve with each symbol's buy-and-hold line (normalised
//! to start cash) on top, the drawdown below. The x axis is days since the run's start. The
//! PNG is drawn by the same code on a bitmap, but with NO text (no axis labels, no legend):
//! plotters' bitmap text needs a font file at run time, and a fresh machine may have none.
//! The SVG names its fonts and lets the viewer render them, so it carries every label.

use super::{Report, ReportError};
use plotters::coord::Shift;
use plotters::prelude::*;
use rust_decimal::prelude::ToPrimitive;

/// Chart size in pixels.
const SIZE: (u32, u32) = (1000, 640);
/// Height of the equity panel.
const TOP: u32 = 420;
const PALETTE: [RGBColor; 6] = [
    RGBColor(230, 126, 34),
    RGBColor(39, 174, 96),
    RGBColor(142, 68, 173),
    RGBColor(127, 140, 141),
    RGBColor(22, 160, 133),
    RGBColor(192, 57, 43),
];

struct Series {
    name: String,
    points: Vec<(f64, f64)>,
}

struct ChartData {
    equity: Vec<(f64, f64)>,
    drawdown: Vec<(f64, f64)>,
    benchmarks: Vec<Series>,
}

fn days(report: &Report, ts: i64) -> f64 {
    (ts - report.start.0) as f64 / 86_400e9
}

fn data(report: &Report) -> ChartData {
    let equity = report.equity_curve.iter().map(|p| (days(report, p.ts.0), p.equity.to_f64().unwrap_or(0.0))).collect();
    let drawdown = report.equity_curve.iter().map(|p| (days(report, p.ts.0), -100.0 * p.drawdown)).collect();
    let benchmarks = report
        .benchmarks
        .iter()
        .map(|b| Series {
            name: format!("buy & hold {}", b.symbol),
            points: b.curve.iter().map(|(ts, v)| (days(report, ts.0), v.to_f64().unwrap_or(0.0))).collect(),
        })
        .collect();
    ChartData { equity, drawdown, benchmarks }
}

/// Range covering every value, widened when empty or flat so the axes are never degenerate.
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs() * 1e-6).max(1e-9);
    (lo - pad)..(hi + pad)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &ChartData, text: bool) -> Result<(), String>
where
    DB::ErrorType: 'static,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(TOP);
    let xs = d.equity.iter().chain(d.benchmarks.iter().flat_map(|b| b.points.iter())).map(|p| p.0);
    let x = range(xs);
    let y = range(d.equity.iter().chain(d.benchmarks.iter().flat_map(|b| b.points.iter())).map(|p| p.1));
    let (label_x, label_y) = if text { (30, 80) } else { (0, 0) };

    let mut builder = ChartBuilder::on(&top);
    builder.margin(12).x_label_area_size(label_x).y_label_area_size(label_y);
    if text {
        builder.caption("Equity and buy-and-hold (normalised to start cash)", ("sans-serif", 18));
    }
    let mut chart = builder.build_cartesian_2d(x.clone(), y).map_err(err)?;
    if text {
        chart.configure_mesh().x_desc("days since start").y_desc("equity").draw().map_err(err)?;
    }
    for (i, b) in d.benchmarks.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let series =
            chart.draw_series(LineSeries::new(b.points.iter().copied(), color.stroke_width(1))).map_err(err)?;
        if text {
            series.label(b.name.as_str()).legend(move |(x, y)| PathElement::new([(x, y), (x + 18, y)], color));
        }
    }
    let series = chart.draw_series(LineSeries::new(d.equity.iter().copied(), BLUE.stroke_width(2))).map_err(err)?;
    if text {
        series.label("strategy equity").legend(|(x, y)| PathElement::new([(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(err)?;
    }

    let dd = range(d.drawdown.iter().map(|p| p.1).chain([0.0]));
    let mut builder = ChartBuilder::on(&bottom);
    builder.margin(12).x_label_area_size(label_x).y_label_area_size(label_y);
    if text {
        builder.caption("Drawdown (%)", ("sans-serif", 16));
    }
    let mut chart = builder.build_cartesian_2d(x, dd.start.min(-1e-9)..0.0).map_err(err)?;
    if text {
        chart.configure_mesh().x_desc("days since start").y_desc("% below peak").draw().map_err(err)?;
    }
    chart.draw_series(AreaSeries::new(d.drawdown.iter().copied(), 0.0, RED.mix(0.3)).border_style(RED)).map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The chart as SVG text (deterministic for the same report).
pub(crate) fn svg(report: &Report) -> Result<String, ReportError> {
    let d = data(report);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, &d, true).map_err(|message| ReportError::Chart { file: "equity.svg", message })?;
    }
    Ok(out)
}

/// The chart as PNG bytes, without text (see the module docs).
pub(crate) fn png(report: &Report) -> Result<Vec<u8>, ReportError> {
    let fail = |message: String| ReportError::Chart { file: "equity.png", message };
    let d = data(report);
    let mut rgb = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, &d, false).map_err(fail)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(|e| fail(e.to_string()))?;
    writer.write_image_data(&rgb).map_err(|e| fail(e.to_string()))?;
    writer.finish().map_err(|e| fail(e.to_string()))?;
    Ok(out)
}
