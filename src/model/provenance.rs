//! Where a strategy order came from: which version of which script, in which callback, and
//! (for orders placed while handling a signal) which signal. Stored with the order so "why
//! did it buy?" is answerable from the database.

use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// The strategy callback that emitted an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Callback {
    /// `on_start(ctx)`.
    Start,
    /// `on_bar(ctx, bar)`.
    Bar,
    /// `on_tick(ctx, tick)` (trades and quotes).
    Tick,
    /// `on_signal(ctx, signal)`.
    Signal,
    /// `on_fill(ctx, fill)`.
    Fill,
    /// `on_order(ctx, order)`.
    Order,
    /// `on_stop(ctx)`.
    Stop,
    /// `on_reload(ctx, old_state)`.
    Reload,
}

/// A callback name that is not one of the eight strategy callbacks.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown strategy callback '{0}' (expected on_start, on_bar, on_tick, on_signal, on_fill, on_order, on_stop or on_reload)")]
pub struct UnknownCallback(pub String);

impl Callback {
    /// Every callback, in a fixed order.
    pub const ALL: [Callback; 8] = [
        Callback::Start,
        Callback::Bar,
        Callback::Tick,
        Callback::Signal,
        Callback::Fill,
        Callback::Order,
        Callback::Stop,
        Callback::Reload,
    ];

    /// The Lua name (`on_bar`, …), as stored.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Callback::Start => "on_start",
            Callback::Bar => "on_bar",
            Callback::Tick => "on_tick",
            Callback::Signal => "on_signal",
            Callback::Fill => "on_fill",
            Callback::Order => "on_order",
            Callback::Stop => "on_stop",
            Callback::Reload => "on_reload",
        }
    }

    /// Parses a Lua callback name.
    ///
    /// # Errors
    /// [`UnknownCallback`] for any other text.
    pub fn parse(s: &str) -> Result<Self, UnknownCallback> {
        Self::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownCallback(s.to_owned()))
    }
}

impl fmt::Display for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The signal a strategy was handling when it placed an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalRef {
    /// The signal's id (from its source, or derived from provider, time and symbol).
    pub id: String,
    /// Who sent it (LLM provider).
    pub provider: String,
}

/// Which script version and callback emitted an order. Shared (`Arc`) between every order
/// one callback emits, so carrying it costs a pointer copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// SHA-256 of the script file's bytes, 64 lowercase hex digits.
    pub script_hash: Arc<str>,
    /// Reload generation of the strategy: 0 when first loaded, +1 per successful reload.
    pub generation: u32,
    /// The callback that emitted the order.
    pub callback: Callback,
    /// The signal being handled, for orders emitted by `on_signal`.
    pub signal: Option<SignalRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_names_round_trip_and_unknown_names_are_refused() {
        for c in Callback::ALL {
            assert_eq!(Callback::parse(c.as_str()), Ok(c));
        }
        let err = Callback::parse("on_tock").unwrap_err().to_string();
        assert!(err.contains("'on_tock'") && err.contains("on_bar"), "{err}");
    }
}
