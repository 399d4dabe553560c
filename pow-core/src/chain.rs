//! The ledger's entry and its tamper-evident hash chain, checked without I/O.
//!
//! Each entry carries its position (`index`), the `entry_hash` of the entry before it
//! (`prev_hash`, all zeros for the first) and its own `entry_hash`: SHA-256 over a canonical
//! binary encoding of every other field ([`Entry::compute_hash`]). Changing any field, or
//! removing, inserting or reordering entries, breaks the chain at that entry. Removing entries
//! from the *end* leaves a valid shorter chain; the node cross-checks its attempts log for that.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

use sha2::{Digest, Sha256};

use crate::puzzle::{self, VerifyError};
use crate::{Difficulty, Hash32};

/// Domain separation for [`Entry::compute_hash`]; bump the version with the encoding.
pub const ENTRY_HASH_DOMAIN: &[u8] = b"powrace-ledger-entry-v1\0";

/// The timestamp layout of `start_time` and `end_time`: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// One winning proof of work, as recorded in `ledger.json`. The first seven fields are the
/// lab's, with its names and types.
#[derive(Clone, Debug, PartialEq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(deny_unknown_fields)
)]
pub struct Entry {
    /// The winning node's name, e.g. `Node2`.
    pub node: String,
    /// The transaction, as received (without its line ending).
    pub transaction_data: String,
    /// The smallest nonce that meets the difficulty.
    pub nonce: u64,
    /// `SHA-256(transaction_data ‖ decimal(nonce))`.
    pub hash: Hash32,
    /// The winner's time, start to end, in seconds, unrounded.
    pub time_taken: f64,
    /// When the winner started, `YYYY-MM-DD HH:MM:SS.ffffff` UTC.
    pub start_time: String,
    /// When the winner finished, same format.
    pub end_time: String,
    /// Leading zero bytes required of `hash`.
    pub difficulty: u32,
    /// Position in the ledger, from 0.
    pub index: u64,
    /// SHA-256 of `transaction_data`: what makes copies of one transaction one race.
    pub tx_id: Hash32,
    /// `entry_hash` of the entry before, all zeros for the first.
    pub prev_hash: Hash32,
    /// [`Entry::compute_hash`] of this entry.
    pub entry_hash: Hash32,
}

/// What a new entry brings: everything but its place in the chain.
#[derive(Clone, Debug, PartialEq)]
pub struct NewEntry {
    /// The winning node's name.
    pub node: String,
    /// The transaction.
    pub transaction_data: String,
    /// The smallest nonce that meets the difficulty.
    pub nonce: u64,
    /// `SHA-256(transaction_data ‖ decimal(nonce))`.
    pub hash: Hash32,
    /// The winner's time, seconds, unrounded.
    pub time_taken: f64,
    /// When the winner started, `YYYY-MM-DD HH:MM:SS.ffffff` UTC.
    pub start_time: String,
    /// When the winner finished.
    pub end_time: String,
    /// Leading zero bytes required of `hash`.
    pub difficulty: u32,
}

impl NewEntry {
    /// The entry that follows `prev` (or starts the chain): its index, `tx_id`, `prev_hash`
    /// and `entry_hash` filled in.
    pub fn chain_onto(self, prev: Option<&Entry>) -> Entry {
        Entry {
            tx_id: Hash32::digest(self.transaction_data.as_bytes()),
            node: self.node,
            transaction_data: self.transaction_data,
            nonce: self.nonce,
            hash: self.hash,
            time_taken: self.time_taken,
            start_time: self.start_time,
            end_time: self.end_time,
            difficulty: self.difficulty,
            index: prev.map_or(0, |p| p.index + 1),
            prev_hash: prev.map_or(Hash32::ZERO, |p| p.entry_hash),
            entry_hash: Hash32::ZERO,
        }
        .seal()
    }
}

impl Entry {
    /// SHA-256 over the domain tag and every field but `entry_hash`, each length-prefixed or
    /// fixed-width, big-endian; `time_taken` by its IEEE-754 bits.
    pub fn compute_hash(&self) -> Hash32 {
        let mut h = Sha256::new();
        h.update(ENTRY_HASH_DOMAIN);
        h.update(self.index.to_be_bytes());
        h.update(self.prev_hash.0);
        h.update(self.tx_id.0);
        for s in [
            &self.node,
            &self.transaction_data,
            &self.start_time,
            &self.end_time,
        ] {
            h.update((s.len() as u64).to_be_bytes());
            h.update(s.as_bytes());
        }
        h.update(self.difficulty.to_be_bytes());
        h.update(self.nonce.to_be_bytes());
        h.update(self.hash.0);
        h.update(self.time_taken.to_bits().to_be_bytes());
        Hash32(h.finalize().into())
    }

    /// Sets `entry_hash` from the other fields.
    pub fn seal(mut self) -> Self {
        self.entry_hash = self.compute_hash();
        self
    }

    /// Checks this entry alone: its transaction id, its proof of work, its times and its own
    /// hash. [`verify_chain`] adds the links between entries.
    pub fn verify(&self) -> Result<(), EntryError> {
        if Hash32::digest(self.transaction_data.as_bytes()) != self.tx_id {
            return Err(EntryError::TxIdMismatch);
        }
        puzzle::verify_claim(
            self.transaction_data.as_bytes(),
            self.nonce,
            &self.hash,
            u64::from(self.difficulty),
        )
        .map_err(EntryError::Puzzle)?;
        for (field, value) in [
            ("start_time", &self.start_time),
            ("end_time", &self.end_time),
        ] {
            if !is_timestamp(value) {
                return Err(EntryError::BadTimestamp { field });
            }
        }
        // The layout sorts as text, so this compares the instants.
        if self.end_time < self.start_time {
            return Err(EntryError::EndBeforeStart);
        }
        if !(self.time_taken.is_finite() && self.time_taken >= 0.0) {
            return Err(EntryError::BadTimeTaken);
        }
        let computed = self.compute_hash();
        if computed != self.entry_hash {
            return Err(EntryError::EntryHashMismatch {
                computed,
                recorded: self.entry_hash,
            });
        }
        Ok(())
    }

    /// The difficulty as a [`Difficulty`].
    pub fn difficulty(&self) -> Result<Difficulty, VerifyError> {
        Difficulty::from_zero_bytes(u64::from(self.difficulty)).map_err(VerifyError::from)
    }
}

/// Whether `s` has the layout `YYYY-MM-DD HH:MM:SS.ffffff` with plausible field values.
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 26 {
        return false;
    }
    let shape_ok = b.iter().enumerate().all(|(i, &c)| match i {
        4 | 7 => c == b'-',
        10 => c == b' ',
        13 | 16 => c == b':',
        19 => c == b'.',
        _ => c.is_ascii_digit(),
    });
    let num = |r: core::ops::Range<usize>| -> u32 {
        b[r].iter().fold(0, |n, &c| n * 10 + u32::from(c - b'0'))
    };
    shape_ok
        && (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 61
}

/// Why one entry does not hold.
#[derive(Clone, Debug, PartialEq)]
pub enum EntryError {
    /// `index` is not the entry's position.
    IndexMismatch {
        /// The position in the ledger.
        expected: u64,
        /// The recorded index.
        found: u64,
    },
    /// `prev_hash` is not the previous entry's `entry_hash`.
    BrokenLink {
        /// The previous entry's hash (zeros for the first entry).
        expected: Hash32,
        /// The recorded `prev_hash`.
        found: Hash32,
    },
    /// `tx_id` is not SHA-256 of `transaction_data`.
    TxIdMismatch,
    /// The proof of work does not hold.
    Puzzle(VerifyError),
    /// A timestamp is not `YYYY-MM-DD HH:MM:SS.ffffff`.
    BadTimestamp {
        /// Which field.
        field: &'static str,
    },
    /// `end_time` is before `start_time`.
    EndBeforeStart,
    /// `time_taken` is negative or not a number.
    BadTimeTaken,
    /// `entry_hash` is not the hash of the entry's fields: a field was changed.
    EntryHashMismatch {
        /// The hash of the fields as they are.
        computed: Hash32,
        /// The recorded `entry_hash`.
        recorded: Hash32,
    },
    /// The transaction is already recorded by an earlier entry.
    DuplicateTransaction {
        /// The earlier entry's index.
        first_index: u64,
    },
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::IndexMismatch { expected, found } => write!(
                f,
                "index is {found} but the entry is at position {expected} (an entry was removed, inserted or moved)"
            ),
            Self::BrokenLink { expected, found } => write!(
                f,
                "prev_hash {found} is not the previous entry's entry_hash {expected} (an entry before it was changed, removed or moved)"
            ),
            Self::TxIdMismatch => f.write_str("tx_id is not SHA-256 of transaction_data"),
            Self::Puzzle(e) => write!(f, "proof of work does not hold: {e}"),
            Self::BadTimestamp { field } => {
                write!(f, "{field} is not a timestamp of the form YYYY-MM-DD HH:MM:SS.ffffff")
            }
            Self::EndBeforeStart => f.write_str("end_time is before start_time"),
            Self::BadTimeTaken => f.write_str("time_taken is negative or not a number"),
            Self::EntryHashMismatch { computed, recorded } => write!(
                f,
                "entry_hash {recorded} does not match the entry's fields ({computed}): a field was changed"
            ),
            Self::DuplicateTransaction { first_index } => {
                write!(f, "the transaction is already recorded at index {first_index}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EntryError {}

/// The first entry of a ledger that does not hold, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainError {
    /// The entry's position in the ledger (0-based).
    pub position: usize,
    /// Why it does not hold.
    pub reason: EntryError,
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "entry {}: {}", self.position, self.reason)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ChainError {}

/// Checks every entry and every link, in order, and returns the last `entry_hash` (the
/// chain's head; zeros for an empty ledger).
pub fn verify_chain(entries: &[Entry]) -> Result<Hash32, ChainError> {
    let mut prev = Hash32::ZERO;
    let mut seen: BTreeMap<Hash32, u64> = BTreeMap::new();
    for (position, e) in entries.iter().enumerate() {
        let fail = |reason| ChainError { position, reason };
        if e.index != position as u64 {
            return Err(fail(EntryError::IndexMismatch {
                expected: position as u64,
                found: e.index,
            }));
        }
        if e.prev_hash != prev {
            return Err(fail(EntryError::BrokenLink {
                expected: prev,
                found: e.prev_hash,
            }));
        }
        e.verify().map_err(fail)?;
        if let Some(&first_index) = seen.get(&e.tx_id) {
            return Err(fail(EntryError::DuplicateTransaction { first_index }));
        }
        seen.insert(e.tx_id, e.index);
        prev = e.entry_hash;
    }
    Ok(prev)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// A solved entry at difficulty 1, linked onto `prev`.
    fn entry(data: &str, prev: Option<&Entry>) -> Entry {
        let d = Difficulty::from_zero_bytes(1).unwrap();
        let sol = crate::search::solve(data.as_bytes(), d).solution.unwrap();
        NewEntry {
            node: "Node1".into(),
            transaction_data: data.into(),
            nonce: sol.nonce,
            hash: sol.hash,
            time_taken: 0.001_234_567,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.021050".into(),
            difficulty: 1,
        }
        .chain_onto(prev)
    }

    fn ledger(n: usize) -> Vec<Entry> {
        let mut out: Vec<Entry> = Vec::new();
        for i in 0..n {
            let next = entry(&alloc::format!("tx {i}"), out.last());
            out.push(next);
        }
        out
    }

    #[test]
    fn a_sealed_chain_verifies() {
        let l = ledger(4);
        assert_eq!(verify_chain(&l), Ok(l[3].entry_hash));
        assert_eq!(verify_chain(&[]), Ok(Hash32::ZERO));
    }

    #[test]
    fn every_kind_of_tampering_names_the_entry() {
        let l = ledger(4);
        let pos = |r: Result<Hash32, ChainError>| r.unwrap_err().position;

        let mut t = l.clone();
        t[2].time_taken += 1e-9;
        assert_eq!(pos(verify_chain(&t)), 2);

        let mut t = l.clone();
        t[1].node = "Node3".into();
        assert!(matches!(
            verify_chain(&t).unwrap_err().reason,
            EntryError::EntryHashMismatch { .. }
        ));

        let mut t = l.clone();
        t[1].nonce += 1;
        assert_eq!(pos(verify_chain(&t)), 1);

        let mut t = l.clone();
        t.remove(1);
        assert_eq!(pos(verify_chain(&t)), 1);

        let mut t = l.clone();
        t.swap(1, 2);
        assert_eq!(pos(verify_chain(&t)), 1);

        let mut t = l.clone();
        let extra = entry("inserted", Some(&t[1]));
        t.insert(2, extra);
        assert_eq!(pos(verify_chain(&t)), 3);
    }

    #[test]
    fn a_duplicate_transaction_is_refused() {
        let mut l = ledger(2);
        let dup = entry("tx 0", Some(&l[1]));
        l.push(dup);
        assert_eq!(
            verify_chain(&l).unwrap_err().reason,
            EntryError::DuplicateTransaction { first_index: 0 }
        );
    }

    #[test]
    fn timestamps_are_checked() {
        assert!(is_timestamp("2025-02-13 19:16:07.019815"));
        assert!(!is_timestamp("2025-02-13 19:16:07"));
        assert!(!is_timestamp("2025-13-13 19:16:07.019815"));
        assert!(!is_timestamp("2025-02-13T19:16:07.019815"));
    }
}
