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

/// The place of `key` in `map`, trying `hint` first (where the previous lookup found its
/// key) and remembering the answer: a feed that asks for the same key again and again compares
/// one key instead of hashing it. Correct whatever the hint holds (it is checked by key).
#[inline]
pub fn index_with_hint<K: std::hash::Hash + Eq, V>(
    map: &FastIndexMap<K, V>,
    hint: &mut usize,
    key: &K,
) -> Option<usize> {
    match map.get_index(*hint) {
        Some((k, _)) if k == key => Some(*hint),
        _ => {
            let i = map.get_index_of(key)?;
            *hint = i;
            Some(i)
        }
    }
}

/// A map for a handful of keys (the currencies one account holds): a short vector sorted by
/// key, searched linearly, so a lookup is a couple of key comparisons (the id types compare
/// pointers first) instead of a tree or a hash. Iterates in key order, as a `BTreeMap`.
#[derive(Debug, Clone)]
pub struct SmallMap<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> Self {
        Self { entries: Vec::new() }
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    /// The value of `key`, if any.
    #[inline]
    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key` to change in place, if any.
    #[inline]
    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Sets `key` to `value`, returning the value it replaced.
    pub fn insert(&mut self, key: K, value: V) -> Option<V> {
        match self.entries.binary_search_by(|(k, _)| k.cmp(&key)) {
            Ok(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            Err(i) => {
                self.entries.insert(i, (key, value));
                None
            }
        }
    }

    /// Every entry in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.entries.iter().map(|(k, v)| (k, v))
    }
}

#[cfg(test)]
mod tests {
    use super::{index_with_hint, FastIndexMap, SmallMap};
    use std::collections::BTreeMap;

    #[test]
    fn a_hint_is_used_only_when_it_holds_the_key() {
        let mut m: FastIndexMap<&str, u32> = [("a", 1), ("b", 2), ("c", 3)].into_iter().collect();
        let mut hint = 0;
        assert_eq!(index_with_hint(&m, &mut hint, &"c"), Some(2));
        assert_eq!(hint, 2, "remembered");
        assert_eq!(index_with_hint(&m, &mut hint, &"c"), Some(2));
        m.shift_remove("b"); // "c" moves to 1; the hint now points past the end
        assert_eq!(index_with_hint(&m, &mut hint, &"c"), Some(1));
        m.insert("d", 4); // the old place of "c" (2) now holds "d"
        hint = 2;
        assert_eq!(index_with_hint(&m, &mut hint, &"c"), Some(1), "a hint holding another key is not trusted");
        assert_eq!(index_with_hint(&m, &mut hint, &"z"), None);
        assert_eq!(hint, 1, "a miss leaves the hint as it was");
    }

    #[test]
    fn small_map_behaves_as_a_btree_map() {
        let mut small = SmallMap::default();
        let mut tree = BTreeMap::new();
        for (i, k) in ["USD", "BNB", "EUR", "USD", "AAA", "BNB", "ZZZ"].into_iter().enumerate() {
            assert_eq!(small.insert(k.to_owned(), i), tree.insert(k.to_owned(), i), "insert {k}");
            if let (Some(a), Some(b)) = (small.get_mut(&"EUR".to_owned()), tree.get_mut("EUR")) {
                *a += 10;
                *b += 10;
            }
        }
        assert_eq!(small.iter().collect::<Vec<_>>(), tree.iter().collect::<Vec<_>>());
        assert_eq!(small.get(&"BNB".to_owned()), Some(&5));
        assert_eq!(small.get(&"GBP".to_owned()), None);
    }
}
