//! Identifier newtypes. Ids are never bare strings or integers in the engine.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;
use thiserror::Error;

/// Why a piece of text cannot be used as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The id was empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// Which kind of id.
        kind: &'static str,
    },
    /// The id is longer than the venue-safe maximum.
    #[error("{kind} '{value}' is {len} characters long; the maximum is {max}")]
    TooLong {
        /// Which kind of id.
        kind: &'static str,
        /// The offending text.
        value: String,
        /// Its length.
        len: usize,
        /// The allowed maximum.
        max: usize,
    },
    /// The id holds a character outside its allowed set.
    #[error("{kind} '{value}' contains '{ch}'; allowed are A-Z, a-z, 0-9, '_' and '-'")]
    BadChar {
        /// Which kind of id.
        kind: &'static str,
        /// The offending text.
        value: String,
        /// The first bad character.
        ch: char,
    },
}

/// The texts of the id kinds whose values come from a small set (symbols, currencies,
/// accounts, strategies): equal texts share one allocation, so comparing two such ids ends
/// at the pointer. Equality never depends on it (different pointers still compare the text);
/// past [`INTERN_MAX`] texts new ones are simply not shared.
static INTERNED: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<Arc<str>>>> =
    std::sync::OnceLock::new();

/// How many distinct texts the interner keeps at most (a guard against a feed of endless
/// distinct symbols turning it into a leak).
const INTERN_MAX: usize = 100_000;

/// The shared allocation for `s` (made on first use).
fn intern(s: &str) -> Arc<str> {
    let set = INTERNED.get_or_init(Default::default);
    // A poisoned lock only means another thread panicked mid-insert; the set is still valid.
    let mut set = set.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(shared) = set.get(s) {
        return shared.clone();
    }
    let text: Arc<str> = Arc::from(s);
    if set.len() < INTERN_MAX {
        set.insert(text.clone());
    }
    text
}

/// The text of a new id: shared (see [`intern`]) for the kinds marked `interned`.
macro_rules! id_text {
    (interned, $s:expr) => {
        intern($s)
    };
    (owned, $s:expr) => {
        Arc::from($s)
    };
}

macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $sharing:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Eq, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(Arc<str>);

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                // Clones share their text: most comparisons end at the pointer.
                Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
            }
        }

        impl Ord for $name {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                // By text, as equality; a shared text is equal without reading it (ordered
                // maps keyed by ids look up clones of their keys).
                if Arc::ptr_eq(&self.0, &other.0) {
                    std::cmp::Ordering::Equal
                } else {
                    self.0.cmp(&other.0)
                }
            }
        }

        impl PartialOrd for $name {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }

        impl std::hash::Hash for $name {
            fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
                self.0.hash(state); // by text, as equality
            }
        }

        impl $name {
            /// Builds the id from text; empty text is refused.
            ///
            /// # Errors
            /// [`IdError::Empty`] when `s` is empty.
            pub fn try_new(s: impl Into<String>) -> Result<Self, IdError> {
                let s = s.into();
                if s.is_empty() {
                    return Err(IdError::Empty { kind: $kind });
                }
                Ok(Self(id_text!($sharing, s.as_str())))
            }

            /// Builds the id from borrowed text with a single allocation (for ids made on a
            /// hot path); empty text is refused, as by `try_new`.
            ///
            /// # Errors
            /// [`IdError::Empty`] when `s` is empty.
            pub fn try_from_str(s: &str) -> Result<Self, IdError> {
                if s.is_empty() {
                    return Err(IdError::Empty { kind: $kind });
                }
                Ok(Self(id_text!($sharing, s)))
            }

            /// The id as text.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                Self::try_new(s)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0.to_string()
            }
        }
    };
}

text_id!(
    /// An instrument's symbol as the venue spells it (`AAPL`, `BTCUSDT`).
    Symbol,
    "symbol",
    interned
);
text_id!(
    /// A strategy's id: the file stem of its Lua script, or a name for API/manual flow.
    StrategyId,
    "strategy id",
    interned
);
text_id!(
    /// The venue's own id for an order, known once the venue acknowledges it.
    VenueOrderId,
    "venue order id",
    owned
);
text_id!(
    /// The venue's id for one execution; a second fill with the same id is a duplicate.
    TradeId,
    "trade id",
    owned
);
text_id!(
    /// An account (or a strategy's virtual sub-ledger) that holds cash and positions.
    AccountId,
    "account id",
    interned
);
text_id!(
    /// A currency or asset code (`USD`, `USDT`, `BTC`).
    Currency,
    "currency",
    interned
);

/// The longest client order id any supported venue accepts (Alpaca allows 128, Binance 36).
pub const CLIENT_ORDER_ID_MAX: usize = 36;

/// Our id for an order, sent to the venue so every submission is idempotent.
///
/// At most 36 characters of `[A-Za-z0-9_-]`. Derived deterministically from the strategy and
/// its intent sequence number (see [`ClientOrderId::derive`]) so that a restart re-derives the
/// same id for the same intent, and a resubmission after a timeout is recognised by the venue.
#[derive(Debug, Clone, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientOrderId(Arc<str>);

impl PartialEq for ClientOrderId {
    fn eq(&self, other: &Self) -> bool {
        // Clones share their text: most comparisons end at the pointer.
        Arc::ptr_eq(&self.0, &other.0) || self.0 == other.0
    }
}

impl std::hash::Hash for ClientOrderId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state); // by text, as equality
    }
}

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// 64-bit FNV-1a: a stable, dependency-free hash for id derivation (not for security).
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn push_base36(out: &mut String, mut n: u64) {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut buf = [0u8; 13];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.extend(buf[i..].iter().map(|b| char::from(*b)));
}

impl ClientOrderId {
    /// Validates text as a client order id.
    ///
    /// # Errors
    /// [`IdError`] when it is empty, longer than 36 characters, or holds a character outside
    /// `[A-Za-z0-9_-]`.
    pub fn try_new(s: impl Into<String>) -> Result<Self, IdError> {
        const KIND: &str = "client order id";
        let s = s.into();
        if s.is_empty() {
            return Err(IdError::Empty { kind: KIND });
        }
        if s.len() > CLIENT_ORDER_ID_MAX {
            return Err(IdError::TooLong { kind: KIND, len: s.len(), value: s, max: CLIENT_ORDER_ID_MAX });
        }
        if let Some(ch) = s.chars().find(|c| !allowed(*c)) {
            return Err(IdError::BadChar { kind: KIND, value: s, ch });
        }
        Ok(Self(s.into()))
    }

    /// Derives the id of a strategy's `seq`-th order intent.
    ///
    /// Shape: `<prefix>-<hash>-<seq>` where `prefix` is the first 12 venue-safe characters of
    /// the strategy id, `hash` 8 hex digits of a stable hash of the whole strategy id (so two
    /// strategies sharing a prefix never collide), and `seq` the sequence in base 36. The
    /// longest result is 12 + 1 + 8 + 1 + 13 = 35 characters.
    #[must_use]
    pub fn derive(strategy: &StrategyId, seq: u64) -> Self {
        Self::derive_from_prefix(&Self::prefix_for(strategy), seq)
    }

    /// The `<prefix>-<hash>-` part of [`ClientOrderId::derive`] for a strategy; callers that
    /// derive many ids compute it once.
    #[must_use]
    pub fn prefix_for(strategy: &StrategyId) -> String {
        let prefix: String = strategy.as_str().chars().map(|c| if allowed(c) { c } else { '_' }).take(12).collect();
        let hash = fnv1a(strategy.as_str().as_bytes()) as u32;
        format!("{prefix}-{hash:08x}-")
    }

    /// As [`ClientOrderId::prefix_for`] inside a namespace (a backtest run's id): the hash
    /// covers `namespace/strategy`, so runs stored in one database never share an id. An
    /// empty namespace gives exactly [`ClientOrderId::prefix_for`].
    #[must_use]
    pub fn prefix_in(namespace: &str, strategy: &StrategyId) -> String {
        if namespace.is_empty() {
            return Self::prefix_for(strategy);
        }
        let prefix: String = strategy.as_str().chars().map(|c| if allowed(c) { c } else { '_' }).take(12).collect();
        let hash = fnv1a(format!("{namespace}/{}", strategy.as_str()).as_bytes()) as u32;
        format!("{prefix}-{hash:08x}-")
    }

    /// [`ClientOrderId::derive`] with the prefix from [`ClientOrderId::prefix_for`].
    #[must_use]
    pub fn derive_from_prefix(prefix: &str, seq: u64) -> Self {
        let mut s = String::with_capacity(prefix.len() + 13);
        s.push_str(prefix);
        push_base36(&mut s, seq);
        Self(s.into())
    }

    /// Derives the id of a bracket child from its entry's id (`role` is `sl` or `tp`).
    ///
    /// Keeps the 36-character limit by shortening the entry part when needed.
    #[must_use]
    pub fn child(&self, role: &str) -> Self {
        let room = CLIENT_ORDER_ID_MAX - role.len() - 1;
        let base = if self.0.len() > room { &self.0[..room] } else { &self.0 };
        Self(format!("{base}_{role}").into())
    }

    /// The id as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl TryFrom<String> for ClientOrderId {
    type Error = IdError;
    fn try_from(s: String) -> Result<Self, IdError> {
        Self::try_new(s)
    }
}

impl From<ClientOrderId> for String {
    fn from(id: ClientOrderId) -> String {
        id.0.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> StrategyId {
        StrategyId::try_new(s).unwrap()
    }

    #[test]
    fn symbols_and_currencies_share_their_text_and_trade_ids_do_not() {
        let (a, b) = (Symbol::try_new(String::from("INTERN1")).unwrap(), Symbol::try_from_str("INTERN1").unwrap());
        assert!(Arc::ptr_eq(&a.0, &b.0), "equal symbols made apart share one text");
        let (c, d) = (Currency::try_new("XIN").unwrap(), Currency::try_new("XIN").unwrap());
        assert!(Arc::ptr_eq(&c.0, &d.0));
        let (t, u) = (TradeId::try_new("t-intern").unwrap(), TradeId::try_new("t-intern").unwrap());
        assert!(!Arc::ptr_eq(&t.0, &u.0), "trade ids are unbounded: never interned");
        assert_eq!(t, u, "equality reads the text when the pointers differ");
        assert_ne!(Symbol::try_new("INTERN2").unwrap(), a);
        // Past the cap a text is not shared, and still equal to its interned twin.
        let unshared = Symbol(Arc::from("INTERN1"));
        assert!(!Arc::ptr_eq(&unshared.0, &a.0));
        assert_eq!(unshared, a);
    }

    #[test]
    fn derive_is_deterministic_and_venue_safe() {
        let a = ClientOrderId::derive(&sid("sma_cross"), 42);
        let b = ClientOrderId::derive(&sid("sma_cross"), 42);
        assert_eq!(a, b);
        assert_ne!(a, ClientOrderId::derive(&sid("sma_cross"), 43));
        assert!(a.as_str().starts_with("sma_cross-"), "{a}");
        assert!(a.as_str().ends_with("-16"), "42 in base 36 is 16: {a}");
        // The derived id passes its own validation.
        assert_eq!(ClientOrderId::try_new(a.as_str()).unwrap(), a);
    }

    #[test]
    fn equality_is_by_text_not_by_allocation() {
        let a = Symbol::try_new("AAPL").unwrap();
        assert_eq!(a, a.clone());
        assert_eq!(a, Symbol::try_new("AAPL").unwrap());
        assert_ne!(a, Symbol::try_new("MSFT").unwrap());
        let c = ClientOrderId::try_new("x-1").unwrap();
        assert_eq!(c, ClientOrderId::try_new(String::from("x-1")).unwrap());
        assert_ne!(c, ClientOrderId::try_new("x-2").unwrap());
    }

    #[test]
    fn base36_digits() {
        let enc = |n| {
            let mut s = String::new();
            push_base36(&mut s, n);
            s
        };
        assert_eq!(enc(0), "0");
        assert_eq!(enc(35), "z");
        assert_eq!(enc(36), "10");
        assert_eq!(enc(u64::MAX), "3w5e11264sgsf");
    }

    #[test]
    fn derive_separates_strategies_sharing_a_long_prefix() {
        let a = ClientOrderId::derive(&sid("a very long strategy name one"), u64::MAX);
        let b = ClientOrderId::derive(&sid("a very long strategy name two"), u64::MAX);
        assert_ne!(a, b);
        assert!(a.as_str().len() <= CLIENT_ORDER_ID_MAX, "{} chars", a.as_str().len());
        assert!(a.as_str().starts_with("a_very_long_-"), "{a}");
        ClientOrderId::try_new(a.as_str()).unwrap();
    }

    #[test]
    fn child_ids_stay_valid() {
        let entry = ClientOrderId::derive(&sid("a very long strategy name one"), u64::MAX);
        let sl = entry.child("sl");
        assert!(sl.as_str().ends_with("_sl"));
        ClientOrderId::try_new(sl.as_str()).unwrap();
        assert_ne!(sl, entry.child("tp"));
    }

    #[test]
    fn validation_names_the_problem() {
        assert!(matches!(ClientOrderId::try_new(""), Err(IdError::Empty { .. })));
        assert!(matches!(ClientOrderId::try_new("x".repeat(37)), Err(IdError::TooLong { len: 37, .. })));
        assert!(matches!(ClientOrderId::try_new("ab c"), Err(IdError::BadChar { ch: ' ', .. })));
        assert!(ClientOrderId::try_new("x".repeat(36)).is_ok());
        let err = ClientOrderId::try_new("a/b").unwrap_err().to_string();
        assert!(err.contains("'/'"), "{err}");
    }
}
