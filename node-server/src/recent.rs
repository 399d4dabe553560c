//! [`Recent`]: a map that remembers only its newest keys, for memories that must not grow
//! with history (transactions a node raced, winners' end stamps).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map of at most `capacity` keys; inserting a new key beyond it forgets the oldest.
#[derive(Debug)]
pub struct Recent<K, V> {
    map: HashMap<K, V>,
    order: VecDeque<K>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> Recent<K, V> {
    /// An empty map holding at most `capacity` keys.
    pub fn new(capacity: usize) -> Self {
        Recent {
            map: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Sets `key` to `value` (a key already there keeps its place in the order).
    pub fn insert(&mut self, key: K, value: V) {
        if self.map.insert(key.clone(), value).is_none() {
            self.order.push_back(key);
            if self.order.len() > self.capacity {
                if let Some(old) = self.order.pop_front() {
                    self.map.remove(&old);
                }
            }
        }
    }

    /// The value for `key`, if remembered.
    pub fn get(&self, key: &K) -> Option<&V> {
        self.map.get(key)
    }

    /// Whether `key` is remembered.
    pub fn contains(&self, key: &K) -> bool {
        self.map.contains_key(key)
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &K) {
        if self.map.remove(key).is_some() {
            self.order.retain(|k| k != key);
        }
    }

    /// Keys remembered.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_key_is_forgotten_first() {
        let mut r = Recent::new(2);
        r.insert(1, "a");
        r.insert(2, "b");
        r.insert(1, "a again");
        r.insert(3, "c");
        assert!(!r.contains(&1) && r.contains(&2) && r.contains(&3));
        assert_eq!(r.get(&3), Some(&"c"));
        r.remove(&2);
        assert_eq!(r.len(), 1);
    }
}
