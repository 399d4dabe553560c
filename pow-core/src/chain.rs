//! The ledger's entry and its tamper-evident hash chain, checked without I/O.
//!
//! Each entry carries its position (`index`), the `entry_hash` of the entry before it
//! (`prev_hash`, all zeros for the first) and its own `entry_hash`: SHA-256 over a canonical
//! binary encoding of every other field ([`Entry::compute_hash`]). Changing any field, or
//! removing, inserting or reordering entries, breaks the chain at that entry. Removing entries
//! from the *end* leaves a valid shorter chain; the node cross-checks its attempts log for that.
//!
//! Entries of the lab's race carry the lab's fields and the chain's. An experiment adds up to
//! three more, only when they differ from the lab: `race` (`"lottery"`: each node searched its
//! own part of the nonce space, so the nonce need not be the smallest), `difficulty_bits` (the
//! difficulty in zero bits, when it is not a whole number of bytes or is retargeted) and
//! `target_time_us` (the race was retargeted: its difficulty is the one [`crate::retarget`]
//! gives from the entries before it). [`ChainCheck`] applies every rule between entries.

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

use sha2::{Digest, Sha256};

use crate::puzzle::{self, VerifyError};
use crate::{Difficulty, Hash32};

/// Domain separation for [`Entry::compute_hash`]; bump the version with the encoding.
pub const ENTRY_HASH_DOMAIN: &[u8] = b"powrace-ledger-entry-v1\0";

/// Marks the experiment's fields in [`Entry::compute_hash`].
pub const ENTRY_HASH_EXTENSION: &[u8] = b"ext1";

/// The timestamp layout of `start_time` and `end_time`: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
pub const TIME_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.6f";

/// How a race was run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(rename_all = "snake_case")
)]
pub enum RaceMode {
    /// The lab's race: every node searches from nonce 0, and the answer is the smallest nonce.
    #[default]
    Lab,
    /// A lottery: each node searches its own part of the nonce space; the first valid nonce
    /// found wins (real proof of work: wins follow hash rate).
    Lottery,
}

impl core::str::FromStr for RaceMode {
    type Err = &'static str;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "lab" => Ok(RaceMode::Lab),
            "lottery" => Ok(RaceMode::Lottery),
            _ => Err("a race is `lab` or `lottery`"),
        }
    }
}

impl RaceMode {
    /// Whether this is the lab's race.
    pub fn is_lab(&self) -> bool {
        *self == RaceMode::Lab
    }

    /// The name on every interface: `lab` or `lottery`.
    pub fn name(self) -> &'static str {
        match self {
            RaceMode::Lab => "lab",
            RaceMode::Lottery => "lottery",
        }
    }
}

/// One winning proof of work, as recorded in `ledger.json`. The first seven fields are the
/// lab's, with its names and types.
#[derive(Clone, Debug, Default, PartialEq)]
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
    /// Leading zero bytes required of `hash` (with `difficulty_bits`, the whole bytes of it).
    pub difficulty: u32,
    /// How the race was run (absent: the lab's race).
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "RaceMode::is_lab")
    )]
    pub race: RaceMode,
    /// Leading zero bits required of `hash`, when not `8 × difficulty`.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub difficulty_bits: Option<u32>,
    /// The target race time of a retargeted chain, in microseconds.
    #[cfg_attr(
        feature = "serde",
        serde(default, skip_serializing_if = "Option::is_none")
    )]
    pub target_time_us: Option<u64>,
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
#[derive(Clone, Debug, Default, PartialEq)]
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
    /// Leading zero bytes required of `hash` (the whole bytes of `difficulty_bits`).
    pub difficulty: u32,
    /// How the race was run.
    pub race: RaceMode,
    /// Leading zero bits, when not `8 × difficulty`.
    pub difficulty_bits: Option<u32>,
    /// The target race time of a retargeted chain, in microseconds.
    pub target_time_us: Option<u64>,
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
            race: self.race,
            difficulty_bits: self.difficulty_bits,
            target_time_us: self.target_time_us,
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
        // The experiment's fields, only when one differs from the lab's race, so every lab
        // entry hashes exactly as before they existed.
        if !self.race.is_lab() || self.difficulty_bits.is_some() || self.target_time_us.is_some() {
            h.update(ENTRY_HASH_EXTENSION);
            h.update([match self.race {
                RaceMode::Lab => 0u8,
                RaceMode::Lottery => 1,
            }]);
            match self.difficulty_bits {
                Some(b) => h.update([[1u8].as_slice(), &b.to_be_bytes()].concat()),
                None => h.update([0u8]),
            }
            match self.target_time_us {
                Some(t) => h.update([[1u8].as_slice(), &t.to_be_bytes()].concat()),
                None => h.update([0u8]),
            }
        }
        Hash32(h.finalize().into())
    }

    /// The difficulty in zero bits: `difficulty_bits`, or `8 × difficulty`.
    pub fn zero_bits(&self) -> u32 {
        self.difficulty_bits
            .unwrap_or(self.difficulty.saturating_mul(8))
    }

    /// How long the race took in whole microseconds, as retargeting counts it.
    pub fn race_micros(&self) -> u64 {
        crate::retarget::micros_from_secs(self.time_taken)
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
        if let Some(bits) = self.difficulty_bits {
            if bits / 8 != self.difficulty {
                return Err(EntryError::DifficultyBytesMismatch {
                    bits,
                    bytes: self.difficulty,
                });
            }
        }
        let difficulty = self.difficulty().map_err(EntryError::Puzzle)?;
        puzzle::check_claim(
            self.transaction_data.as_bytes(),
            self.nonce,
            &self.hash,
            difficulty,
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

    /// The difficulty as a [`Difficulty`] (in bits when the entry gives them).
    pub fn difficulty(&self) -> Result<Difficulty, VerifyError> {
        match self.difficulty_bits {
            Some(bits) => Difficulty::from_zero_bits(u64::from(bits)),
            None => Difficulty::from_zero_bytes(u64::from(self.difficulty)),
        }
        .map_err(VerifyError::from)
    }
}

/// Parses a timestamp in the ledger's layout, `YYYY-MM-DD HH:MM:SS.ffffff` (UTC): the one
/// parser of `start_time` and `end_time` for the nodes, `verify` and the page. Every field has
/// its fixed width (so the text sorts as the instants do) and the date must exist
/// (`2025-02-31` does not).
pub fn parse_timestamp(s: &str) -> Option<chrono::NaiveDateTime> {
    let shape_ok = s.len() == 26
        && s.bytes().enumerate().all(|(i, c)| match i {
            4 | 7 => c == b'-',
            10 => c == b' ',
            13 | 16 => c == b':',
            19 => c == b'.',
            _ => c.is_ascii_digit(),
        });
    if !shape_ok {
        return None;
    }
    chrono::NaiveDateTime::parse_from_str(s, TIME_FORMAT).ok()
}

/// Whether `s` is a timestamp in the ledger's layout that names a real instant
/// ([`parse_timestamp`]).
pub fn is_timestamp(s: &str) -> bool {
    parse_timestamp(s).is_some()
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
    /// `difficulty` is not the whole bytes of `difficulty_bits`.
    DifficultyBytesMismatch {
        /// The recorded bits.
        bits: u32,
        /// The recorded bytes.
        bytes: u32,
    },
    /// The entry was mined at a difficulty other than its chain's ([`ChainRule`]): the chain's
    /// first entry fixes it.
    WrongDifficulty {
        /// The chain's rule.
        expected: ChainRule,
        /// The entry's.
        found: ChainRule,
    },
    /// A retargeted entry's difficulty is not the one the entries before it give.
    WrongRetarget {
        /// The difficulty the rule gives, in zero bits.
        expected: u32,
        /// The recorded difficulty, in zero bits.
        found: u32,
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
            Self::DifficultyBytesMismatch { bits, bytes } => write!(
                f,
                "difficulty {bytes} is not the whole bytes of difficulty_bits {bits}"
            ),
            Self::WrongDifficulty { expected, found } => write!(
                f,
                "mined at {found}, but the chain's first entry fixes {expected} for every entry"
            ),
            Self::WrongRetarget { expected, found } => write!(
                f,
                "difficulty_bits {found} is not what retargeting gives from the entries before \
                 it ({expected}): the difficulty was forged"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for EntryError {}

/// The difficulty every entry of a chain is mined at, fixed by its first entry: a number of
/// zero bits, or a retarget target (each entry's bits are then the rule's, see
/// [`crate::retarget`]). A race is fair only if every claim in it is held to the same rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChainRule {
    /// Every entry at this many zero bits.
    Bits(u32),
    /// Retargeted toward this race time, in microseconds.
    Retarget {
        /// The target race time.
        target_time_us: u64,
    },
}

impl ChainRule {
    /// The rule an entry was mined under (its own fields).
    pub fn of(e: &Entry) -> ChainRule {
        Self::from_fields(e.target_time_us, e.difficulty_bits, e.difficulty)
    }

    /// The rule a new entry was mined under.
    pub fn of_new(e: &NewEntry) -> ChainRule {
        Self::from_fields(e.target_time_us, e.difficulty_bits, e.difficulty)
    }

    /// From an entry's `target_time_us`, `difficulty_bits` and `difficulty`.
    pub fn from_fields(target_time_us: Option<u64>, bits: Option<u32>, bytes: u32) -> ChainRule {
        match target_time_us {
            Some(target_time_us) => ChainRule::Retarget { target_time_us },
            None => ChainRule::Bits(bits.unwrap_or(bytes.saturating_mul(8))),
        }
    }
}

impl fmt::Display for ChainRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ChainRule::Bits(b) if b % 8 == 0 => write!(f, "difficulty {} ({b} zero bits)", b / 8),
            ChainRule::Bits(b) => write!(f, "{b} zero bits"),
            ChainRule::Retarget { target_time_us } => write!(
                f,
                "a difficulty retargeted toward {}.{:06} s races",
                target_time_us / 1_000_000,
                target_time_us % 1_000_000
            ),
        }
    }
}

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

/// The rules between entries, applied one entry at a time: the index is the position, the
/// link is the previous entry's hash, every entry is mined under the chain's [`ChainRule`]
/// (the first entry's), and a retargeted entry's difficulty is the one the entries before it
/// give ([`crate::retarget`]): the first entry's difficulty is free (the starting point),
/// every later one is the rule's.
///
/// It keeps only the last entry's hash and the last retarget window, so a verifier can check a
/// ledger of any length, page by page, in constant memory. Each entry's own checks
/// ([`Entry::verify`]) and duplicate transactions are the caller's: they are independent of
/// order (and can be spread over threads), or need an index of every transaction.
#[derive(Clone, Debug)]
pub struct ChainCheck {
    next_index: u64,
    prev: Hash32,
    rule: Option<ChainRule>,
    retarget: Option<(u64, crate::retarget::Schedule)>,
}

impl Default for ChainCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainCheck {
    /// A check from the start of a ledger.
    pub fn new() -> Self {
        ChainCheck {
            next_index: 0,
            prev: Hash32::ZERO,
            rule: None,
            retarget: None,
        }
    }

    /// The chain's difficulty rule: its first entry's (`None` before the first).
    pub fn rule(&self) -> Option<ChainRule> {
        self.rule
    }

    /// The index the next entry must have.
    pub fn next_index(&self) -> u64 {
        self.next_index
    }

    /// The `entry_hash` of the last entry checked (zeros before the first): the chain's head.
    pub fn head(&self) -> Hash32 {
        self.prev
    }

    /// Checks that `e` follows the entries checked so far (index, link, the chain's
    /// difficulty rule, retargeted difficulty), and takes it as the last one.
    pub fn link(&mut self, e: &Entry) -> Result<(), EntryError> {
        if e.index != self.next_index {
            return Err(EntryError::IndexMismatch {
                expected: self.next_index,
                found: e.index,
            });
        }
        if e.prev_hash != self.prev {
            return Err(EntryError::BrokenLink {
                expected: self.prev,
                found: e.prev_hash,
            });
        }
        let rule = ChainRule::of(e);
        if let Some(expected) = self.rule {
            if rule != expected {
                return Err(EntryError::WrongDifficulty {
                    expected,
                    found: rule,
                });
            }
        }
        // Nothing is changed until the entry is known to link: a refused entry leaves the
        // check as it was, so the next entry is checked against the same chain (the file
        // arbiter drops a claim mined for a place another race took and goes on with the rest).
        match e.target_time_us {
            None => self.retarget = None,
            Some(target) => {
                let race = crate::retarget::Race {
                    time_us: e.race_micros(),
                    bits: e.zero_bits(),
                };
                match self.retarget.as_mut() {
                    Some((t, schedule)) if *t == target => {
                        let expected = schedule.next_bits();
                        if race.bits != expected {
                            return Err(EntryError::WrongRetarget {
                                expected,
                                found: race.bits,
                            });
                        }
                        schedule.push(race);
                    }
                    _ => {
                        let rule =
                            crate::retarget::Retarget::new(target, race.bits).map_err(|_| {
                                EntryError::WrongRetarget {
                                    expected: race.bits.clamp(
                                        crate::retarget::MIN_BITS,
                                        crate::retarget::MAX_BITS,
                                    ),
                                    found: race.bits,
                                }
                            })?;
                        let mut schedule = rule.schedule();
                        schedule.push(race);
                        self.retarget = Some((target, schedule));
                    }
                }
            }
        }
        self.next_index += 1;
        self.prev = e.entry_hash;
        self.rule = Some(rule);
        Ok(())
    }

    /// The difficulty, in zero bits, that retargeting gives the next entry of a chain with
    /// target `target_us`: the rule's if the last entries were of that chain, else `start`
    /// (a new chain starts where it likes).
    pub fn next_bits(&self, target_us: u64, start: u32) -> u32 {
        match &self.retarget {
            Some((t, schedule)) if *t == target_us => schedule.next_bits(),
            _ => start,
        }
    }
}

/// Checks every entry and every link, in order, and returns the last `entry_hash` (the
/// chain's head; zeros for an empty ledger).
pub fn verify_chain(entries: &[Entry]) -> Result<Hash32, ChainError> {
    let mut check = ChainCheck::new();
    let mut seen: BTreeMap<Hash32, u64> = BTreeMap::new();
    for (position, e) in entries.iter().enumerate() {
        let fail = |reason| ChainError { position, reason };
        check.link(e).map_err(fail)?;
        e.verify().map_err(fail)?;
        if let Some(&first_index) = seen.get(&e.tx_id) {
            return Err(fail(EntryError::DuplicateTransaction { first_index }));
        }
        seen.insert(e.tx_id, e.index);
    }
    Ok(check.head())
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
            ..Default::default()
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

    /// A lab entry written before the experiment's fields existed hashes exactly as it did.
    #[cfg(feature = "serde")]
    #[test]
    fn a_lab_entry_from_before_the_extension_still_verifies() {
        let json = r#"{"node": "Node1", "transaction_data": "pinned lab entry", "nonce": 49, "hash": "0078aa2dbcc64e43ceb844a7d815379ba3984448599e617392e6a7e177c0228f", "time_taken": 0.000242324, "start_time": "2026-11-29 23:20:41.113301", "end_time": "2026-11-29 23:20:41.113543", "difficulty": 1, "index": 0, "tx_id": "6e5698dd4fb10e1ea30150623b98f13212c2d1efdacbe2e67d522bc02313bfb5", "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000", "entry_hash": "eedcf64ab4b97333cbf742e2d3cb7eb63d9478df415e07495c8eb2e25a340e48"}"#;
        let e: Entry = serde_json::from_str(json).unwrap();
        assert_eq!(e.race, RaceMode::Lab);
        assert_eq!(e.verify(), Ok(()));
        // And it serializes without the experiment's fields.
        let back = serde_json::to_string(&e).unwrap();
        assert!(!back.contains("race") && !back.contains("bits") && !back.contains("target"));
    }

    /// Mines `data` at `bits` zero bits from nonce `from` (a lottery starts anywhere).
    fn mined(data: &str, bits: u32, from: u64) -> (u64, Hash32) {
        let d = Difficulty::from_zero_bits(u64::from(bits)).unwrap();
        (from..)
            .map(|n| (n, crate::puzzle::hash(data.as_bytes(), n)))
            .find(|(_, h)| d.is_met_by(&h.0))
            .unwrap()
    }

    fn experiment(
        data: &str,
        bits: u32,
        target: Option<u64>,
        secs: f64,
        prev: Option<&Entry>,
    ) -> Entry {
        let (nonce, hash) = mined(data, bits, 1_000_003);
        NewEntry {
            node: "Node2".into(),
            transaction_data: data.into(),
            nonce,
            hash,
            time_taken: secs,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:08.019815".into(),
            difficulty: bits / 8,
            race: RaceMode::Lottery,
            difficulty_bits: Some(bits),
            target_time_us: target,
        }
        .chain_onto(prev)
    }

    #[test]
    fn lottery_entries_in_bits_verify_and_their_fields_are_hashed() {
        let e = experiment("lottery", 11, None, 0.5, None);
        assert_eq!(verify_chain(core::slice::from_ref(&e)), Ok(e.entry_hash));
        for tamper in [
            |e: &mut Entry| e.race = RaceMode::Lab,
            |e: &mut Entry| e.difficulty_bits = Some(10),
            |e: &mut Entry| e.target_time_us = Some(1),
        ] {
            let mut t = e.clone();
            tamper(&mut t);
            assert!(matches!(
                t.verify(),
                Err(EntryError::EntryHashMismatch { .. })
            ));
        }
        // Bits the hash does not have, and bytes that are not the bits' whole bytes.
        let mut t = e.clone();
        t.difficulty_bits = Some(40);
        t.difficulty = 5;
        assert!(matches!(t.seal().verify(), Err(EntryError::Puzzle(_))));
        let mut t = e.clone();
        t.difficulty = 0;
        assert_eq!(
            t.seal().verify(),
            Err(EntryError::DifficultyBytesMismatch { bits: 11, bytes: 0 })
        );
    }

    /// `n` entries of a chain retargeted to `target` µs whose races run twice too fast (the
    /// rule raises the difficulty at each window, from 4 bits), each at the difficulty the rule
    /// gives it, and the check that linked them.
    fn retargeted_chain(n: usize, target: u64) -> (Vec<Entry>, ChainCheck) {
        let mut chain: Vec<Entry> = Vec::new();
        let mut check = ChainCheck::new();
        for i in 0..n {
            let bits = check.next_bits(target, 4);
            let data = alloc::format!("retarget {i}");
            let e = experiment(&data, bits, Some(target), 0.25, chain.last());
            check.link(&e).unwrap();
            chain.push(e);
        }
        (chain, check)
    }

    /// A retargeted chain whose difficulties follow the rule verifies; one forged difficulty
    /// (a valid proof of work at an easier difficulty than the rule gives) is caught there.
    #[test]
    fn a_retargeted_chain_verifies_and_a_forged_difficulty_is_caught() {
        let target = 500_000;
        let (chain, _) = retargeted_chain(40, target);
        assert_eq!(verify_chain(&chain), Ok(chain[39].entry_hash));
        let bits: Vec<u32> = chain.iter().map(Entry::zero_bits).collect();
        assert_eq!(
            (bits[0], bits[15], bits[16], bits[32]),
            (4, 4, 5, 6),
            "{bits:?}"
        );
        // Forge entry 20's difficulty one bit easier, with a valid proof of work for it.
        let mut forged = chain[..20].to_vec();
        let e = experiment(
            "retarget 20",
            bits[20] - 1,
            Some(target),
            0.25,
            forged.last(),
        );
        forged.push(e);
        let err = verify_chain(&forged).unwrap_err();
        assert_eq!(err.position, 20);
        assert_eq!(
            err.reason,
            EntryError::WrongRetarget {
                expected: bits[20],
                found: bits[20] - 1
            }
        );
    }

    /// A refused entry changes nothing: after a claim mined for a place another race took is
    /// refused (the file arbiter drops it and goes on), the next entry is checked against the
    /// same chain. It did not: the refusal took the retarget schedule out of the check, the
    /// next entry started a new schedule, and an entry the rule refuses was let through (the
    /// ledger's own check then refused the commit: "the difficulty was forged").
    #[test]
    fn a_refused_entry_leaves_the_check_as_it_was() {
        let target = 500_000;
        let (chain, mut check) = retargeted_chain(20, target);
        let want = check.next_bits(target, 4);
        assert_eq!(want, 5, "the rule raised the difficulty at the window");
        let wrong = experiment("late", want - 1, Some(target), 0.25, chain.last());
        assert!(matches!(
            check.link(&wrong),
            Err(EntryError::WrongRetarget { .. })
        ));
        assert_eq!(check.next_bits(target, 4), want);
        assert_eq!(check.next_index(), 20);
        // Still refused a second time, and the right one still links.
        assert!(check.link(&wrong).is_err());
        let right = experiment("right", want, Some(target), 0.25, chain.last());
        check.link(&right).unwrap();
    }

    /// The chain's first entry fixes the difficulty: a valid proof of work at another one
    /// (easier or harder, or retargeted in a chain that is not) does not verify.
    #[test]
    fn every_entry_is_held_to_the_first_entrys_difficulty() {
        let first = experiment("first", 12, None, 0.5, None);
        for (bits, target) in [(4, None), (13, None), (12, Some(500_000))] {
            let e = experiment("second", bits, target, 0.5, Some(&first));
            let err = verify_chain(&[first.clone(), e.clone()]).unwrap_err();
            assert_eq!(err.position, 1);
            assert_eq!(
                err.reason,
                EntryError::WrongDifficulty {
                    expected: ChainRule::Bits(12),
                    found: ChainRule::of(&e)
                }
            );
        }
        let same = experiment("second", 12, None, 0.5, Some(&first));
        assert_eq!(verify_chain(&[first, same.clone()]), Ok(same.entry_hash));
    }

    #[test]
    fn timestamps_are_checked() {
        assert!(is_timestamp("2025-02-13 19:16:07.019815"));
        assert!(!is_timestamp("2025-02-13 19:16:07"));
        assert!(!is_timestamp("2025-13-13 19:16:07.019815"));
        assert!(!is_timestamp("2025-02-13T19:16:07.019815"));
        // Dates that do not exist, and fields out of range.
        for s in [
            "2025-02-31 10:00:00.000000",
            "2025-02-29 10:00:00.000000",
            "2025-04-31 10:00:00.000000",
            "2025-00-10 10:00:00.000000",
            "2025-01-00 10:00:00.000000",
            "2025-01-10 24:00:00.000000",
            "2025-01-10 10:60:00.000000",
            "2025-01-10 10:00:61.000000",
        ] {
            assert!(!is_timestamp(s), "{s}");
        }
        assert!(is_timestamp("2024-02-29 23:59:59.999999"));
    }
}
