//! The progress bar a backtest draws on a terminal (bars/s and ETA); silent otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;

/// Events between two redraws: drawing costs microseconds, a bar costs well under one.
const EVERY: u64 = 1 << 16;

/// A progress bar over price events, drawn on stderr only when it is a terminal.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A bar for about `total` events (unknown: a spinner with the count and rate), drawn
    /// only when `wanted` and stderr is a terminal.
    #[must_use]
    pub fn new(wanted: bool, total: Option<u64>) -> Self {
        if !wanted || !std::io::stderr().is_terminal() {
            return Self { bar: None };
        }
        let bar = match total {
            Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr_with_hz(4)),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4)),
        };
        let style = ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos} bars  {rate}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&rate(state.per_sec()));
        });
        bar.set_style(style);
        Self { bar: Some(bar) }
    }

    /// `events` processed so far (redraws every 65,536 events).
    #[inline]
    pub fn tick(&mut self, events: u64) {
        if events % EVERY == 0 {
            if let Some(bar) = &self.bar {
                if bar.length().is_some_and(|len| events > len) {
                    bar.set_length(events + events / 4);
                }
                bar.set_position(events);
            }
        }
    }

    /// The run is over: clears the bar.
    pub fn finish(&mut self, events: u64) {
        if let Some(bar) = self.bar.take() {
            bar.set_position(events);
            bar.finish_and_clear();
        }
    }

    /// Whether a bar is drawn.
    #[must_use]
    pub fn is_drawn(&self) -> bool {
        self.bar.is_some()
    }
}

/// A rate as whole bars per second with thousands separators (`458,824 bars/s`); no rate
/// yet (not finite, or negative) reads `0 bars/s`.
#[must_use]
pub fn rate(per_sec: f64) -> String {
    let whole = if per_sec.is_finite() && per_sec > 0.0 { per_sec.round() as u64 } else { 0 };
    let digits = whole.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 7);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out.push_str(" bars/s");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_whole_bars_per_second_with_thousands_separators() {
        assert_eq!(rate(458_824.141_6), "458,824 bars/s");
        assert_eq!(rate(1_500_000.6), "1,500,001 bars/s");
        assert_eq!(rate(999.4), "999 bars/s");
        assert_eq!(rate(1000.0), "1,000 bars/s");
        assert_eq!(rate(0.3), "0 bars/s");
        assert_eq!(rate(f64::NAN), "0 bars/s");
        assert_eq!(rate(f64::INFINITY), "0 bars/s");
        assert_eq!(rate(-5.0), "0 bars/s");
    }

    #[test]
    fn no_bar_when_not_wanted() {
        let mut p = Progress::new(false, Some(10));
        assert!(!p.is_drawn());
        p.tick(EVERY);
        p.finish(EVERY);
    }
}
