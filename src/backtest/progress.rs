//! The progress bar a backtest draws on a terminal (bars/s and ETA); silent otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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
            "{spinner} [{elapsed_precise}] {wide_bar} {human_pos} bars  {per_sec}  ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bar_when_not_wanted() {
        let mut p = Progress::new(false, Some(10));
        assert!(!p.is_drawn());
        p.tick(EVERY);
        p.finish(EVERY);
    }
}
