//! Hash maps for the hot path, keyed by our own ids.
//!
//! The standard library's SipHash resists hash flooding but costs more than the rest of a
//! lookup on short id strings; every order touches a dozen maps, so the engine uses FxHash.
//! Keys here are ids the engine created or validated, and insertion-ordered maps keep every
//! iteration that reaches output deterministic.

/// The hasher used by every engine map.
pub type FastHasher = rustc_hash::FxBuildHasher;
/// A `HashMap` with [`FastHasher`].
pub type FastMap<K, V> = std::collections::HashMap<K, V, FastHasher>;
/// A `HashSet` with [`FastHasher`].
pub type FastSet<K> = std::collections::HashSet<K, FastHasher>;
/// An insertion-ordered map with [`FastHasher`].
pub type FastIndexMap<K, V> = indexmap::IndexMap<K, V, FastHasher>;
/// An insertion-ordered set with [`FastHasher`].
pub type FastIndexSet<K> = indexmap::IndexSet<K, FastHasher>;
