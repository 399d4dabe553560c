//! The key schema, under one prefix (default [`DEFAULT_PREFIX`]):
//!
//! | key | value | written |
//! |---|---|---|
//! | `{prefix}head` | the last entry (JSON), absent while the ledger is empty | with every decided group; its `mod_revision` is what a claim compares |
//! | `{prefix}entries/{index:020}` | the entry at `index` (JSON, as in `ledger.json`) | once, never changed or deleted: the ledger itself |
//! | `{prefix}tx/{tx_id}` | the decimal index of the transaction's entry | once, by the winning claim; its absence is "not decided" |
//! | `{prefix}settings` | the race's difficulty rule (JSON: `zero_bits` or `target_time_us`) | once, by the first node to join; every later node must have the same |
//! | `{prefix}nodes/{name}` | [`NodeInfo`](super::NodeInfo) (JSON) | by a live node, attached to its lease |
//! | `{prefix}relay/{tx_id}` | [`Announcement`](super::Announcement) (JSON) | by the first node a transaction reached, with a [`RELAY_TTL_SECS`](super::RELAY_TTL_SECS) lease; removed by the winning claim |
//!
//! Indexes are zero-padded to 20 digits (every `u64`) so that etcd's byte order is the
//! ledger's order and a range read returns entries in order. `tx_id` is lower-case hex.

use pow_core::Hash32;

use super::error::EtcdError;

/// The key prefix when none is given: several races can share one etcd under different
/// prefixes (`/powrace/classA/`, `/powrace/classB/`).
pub const DEFAULT_PREFIX: &str = "/powrace/";

/// The keys of one race under its prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keys {
    prefix: String,
}

const HEAD: &str = "head";
const SETTINGS: &str = "settings";
const ENTRIES: &str = "entries/";
const TX: &str = "tx/";
const NODES: &str = "nodes/";
const RELAY: &str = "relay/";

impl Keys {
    /// Keys under `prefix`, which must start and end with `/` and hold only printable ASCII
    /// without spaces, so that two races never share a key and keys print plainly.
    pub fn new(prefix: &str) -> Result<Keys, EtcdError> {
        let ok = prefix.len() >= 2
            && prefix.starts_with('/')
            && prefix.ends_with('/')
            && prefix.bytes().all(|b| b.is_ascii_graphic())
            && !prefix.contains("//");
        if !ok {
            return Err(EtcdError::Config(format!(
                "key prefix {prefix:?} must start and end with '/', e.g. \"/powrace/\" or \"/powrace/lab3/\", with printable characters and no spaces"
            )));
        }
        Ok(Keys {
            prefix: prefix.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The chain's head: the last entry.
    pub fn head(&self) -> String {
        format!("{}{HEAD}", self.prefix)
    }

    /// The race's settings (its difficulty rule).
    pub fn settings(&self) -> String {
        format!("{}{SETTINGS}", self.prefix)
    }

    /// The entry at `index`.
    pub fn entry(&self, index: u64) -> String {
        format!("{}{ENTRIES}{index:020}", self.prefix)
    }

    /// Every entry key starts with this.
    pub fn entries_prefix(&self) -> String {
        format!("{}{ENTRIES}", self.prefix)
    }

    /// The index of an entry key, if `key` is one.
    pub fn entry_index(&self, key: &[u8]) -> Option<u64> {
        let digits = key.strip_prefix(self.entries_prefix().as_bytes())?;
        if digits.len() != 20 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    /// Whether a transaction is decided, and at which index.
    pub fn tx(&self, tx_id: &Hash32) -> String {
        format!("{}{TX}{tx_id}", self.prefix)
    }

    /// A live node's registration.
    pub fn node(&self, name: &str) -> String {
        format!("{}{NODES}{name}", self.prefix)
    }

    /// Every node key starts with this.
    pub fn nodes_prefix(&self) -> String {
        format!("{}{NODES}", self.prefix)
    }

    /// A transaction's announcement.
    pub fn relay(&self, tx_id: &Hash32) -> String {
        format!("{}{RELAY}{tx_id}", self.prefix)
    }

    /// Every announcement key starts with this.
    pub fn relay_prefix(&self) -> String {
        format!("{}{RELAY}", self.prefix)
    }
}

/// The first key after every key that starts with `prefix` (etcd's range end for a prefix).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sort_like_the_ledger_and_parse_back() {
        let k = Keys::new("/powrace/lab/").unwrap();
        assert_eq!(k.entry(7), "/powrace/lab/entries/00000000000000000007");
        assert!(k.entry(9) < k.entry(10) && k.entry(99_999) < k.entry(100_000));
        assert!(k.entry(u64::MAX) < String::from_utf8(prefix_end(&k.entries_prefix())).unwrap());
        assert_eq!(k.entry_index(k.entry(123).as_bytes()), Some(123));
        assert_eq!(k.entry_index(k.entry(u64::MAX).as_bytes()), Some(u64::MAX));
        assert_eq!(k.entry_index(b"/powrace/lab/entries/12"), None);
        assert_eq!(
            k.entry_index(b"/powrace/other/entries/00000000000000000007"),
            None
        );
        let tx = Hash32::digest(b"a");
        assert_eq!(k.tx(&tx), format!("/powrace/lab/tx/{}", tx));
        assert_eq!(prefix_end("/p/entries/"), b"/p/entries0");
    }

    #[test]
    fn a_bad_prefix_is_refused() {
        for bad in [
            "",
            "/",
            "powrace/",
            "/powrace",
            "/pow race/",
            "//x/",
            "/a\n/",
        ] {
            assert!(
                matches!(Keys::new(bad), Err(EtcdError::Config(_))),
                "{bad:?}"
            );
        }
        assert!(Keys::new("/a/b/").is_ok());
    }
}
