//! The decider: one task per [`Store`](super::Store) that decides claims in groups, each
//! group in one etcd transaction.
//!
//! The transaction compares "none of these transactions is decided" (`version(tx/…) == 0`)
//! and "the head is the one we chained onto" (`mod_revision(head)`), and then writes each
//! transaction's key, each entry at its index and the new head. etcd applies transactions
//! one at a time in Raft's order, so of two hosts that chained onto the same head only one
//! succeeds; the other gets the decided transactions and the new head in the same answer and
//! tries again with what is left. Order comes from etcd's log alone, never from a clock.
//!
//! Retargeted claims (`target_time_us`) are checked against the rules between entries
//! ([`ChainCheck`]) at the place each would take, read from etcd up to the head the
//! transaction compares: one mined at a difficulty the chain no longer gives that place is
//! refused ([`EtcdError::Retarget`]) and never written, so the chain in etcd always passes
//! `verify`.
//!
//! A request that times out may still commit. A retry therefore chains onto the same head
//! again, so that if the first attempt did commit, the retry's compares fail and etcd answers
//! what was decided: a claim whose transaction turns out decided is `Won` if the recorded
//! entry is this very claim, `Lost` otherwise. So a claim is never told `Won` unless its entry is
//! committed, and never told `Lost` when it won.
//!
//! What a claim is answered ([`Decided`]) and the history compaction the decider runs after
//! its commits ([`Compaction`]) are defined here, where they are made.

use std::collections::{HashMap, VecDeque};

use etcd_client::{Client, Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
use pow_core::chain::{ChainCheck, ChainRule, Entry, EntryError, NewEntry as Claim};
use pow_core::Hash32;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::error::EtcdError;
use super::keys::Keys;
use super::limits::{
    CLAIM_DEADLINE, COMPACT_EVERY_ENTRIES, COMPACT_KEEP_REVISIONS, DECIDE_REQUEST_TIMEOUT,
    ENTRY_PAGE, MAX_CLAIMS_PER_TXN, MAX_TXN_BYTES, RETRY_BACKOFF_MAX, RETRY_BACKOFF_MIN,
};
use super::members::Members;
use super::rpc::{bounded, bounded_for, parse_entry, read_page};

/// What etcd decided for a claim. The arbiter adds what only it knows (the loser's margin,
/// from its own clocks) to make the race's [`Decision`](crate::race::Decision).
#[derive(Clone, Debug, PartialEq)]
pub enum Decided {
    /// This claim was first: its entry, committed in etcd.
    Won(Entry),
    /// Another claim was first: the recorded entry.
    Lost(Entry),
}

impl Decided {
    /// The recorded entry, won or lost.
    pub fn entry(&self) -> &Entry {
        match self {
            Decided::Won(e) | Decided::Lost(e) => e,
        }
    }
}

/// The store's own compaction of etcd's history. Entries are never removed by it (they are
/// live keys); it drops superseded versions of the head and deleted announcements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Compaction {
    /// Compact when the ledger crosses a multiple of this many entries.
    pub every_entries: u64,
    /// Keep this many revisions of history behind the newest.
    pub keep_revisions: i64,
}

impl Default for Compaction {
    fn default() -> Self {
        Self {
            every_entries: COMPACT_EVERY_ENTRIES,
            keep_revisions: COMPACT_KEEP_REVISIONS,
        }
    }
}

type Answer = Result<Decided, EtcdError>;

pub(crate) struct ClaimRequest {
    claim: Claim,
    tx_id: Hash32,
    /// Bytes this claim adds to a transaction, about.
    size: usize,
    deadline: Instant,
    reply: oneshot::Sender<Answer>,
}

/// A claim checked by itself and ready to queue, with the receiver of its answer.
pub(crate) fn request(
    claim: Claim,
) -> Result<(ClaimRequest, oneshot::Receiver<Answer>), EtcdError> {
    let alone = claim.clone().chain_onto(None);
    alone.verify().map_err(EtcdError::BadClaim)?;
    let json = serde_json::to_vec(&alone).expect("an entry serializes");
    let (reply, answer) = oneshot::channel();
    Ok((
        ClaimRequest {
            tx_id: alone.tx_id,
            // The entry twice (its key and, for the last of a group, the head), plus keys.
            size: json.len() * 2 + 256,
            claim,
            deadline: Instant::now() + CLAIM_DEADLINE,
            reply,
        },
        answer,
    ))
}

/// What the decider knows of the chain's end.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    /// The last entry; `None` while the ledger is empty.
    pub(crate) entry: Option<Entry>,
    /// The head key's `mod_revision` (0 while it does not exist).
    pub(crate) rev: i64,
}

impl Head {
    fn next_index(&self) -> u64 {
        self.entry.as_ref().map_or(0, |e| e.index + 1)
    }
}

pub(crate) async fn read_head(client: &Client, keys: &Keys) -> Result<Head, EtcdError> {
    let resp = bounded_for(
        "read the head",
        DECIDE_REQUEST_TIMEOUT,
        client.clone().get(keys.head(), None),
    )
    .await?;
    head_from(resp.kvs().first())
}

fn head_from(kv: Option<&etcd_client::KeyValue>) -> Result<Head, EtcdError> {
    match kv {
        None => Ok(Head {
            entry: None,
            rev: 0,
        }),
        Some(kv) => {
            let entry: Entry = serde_json::from_slice(kv.value())
                .map_err(|e| EtcdError::Protocol(format!("the head is not a ledger entry: {e}")))?;
            Ok(Head {
                entry: Some(entry),
                rev: kv.mod_revision(),
            })
        }
    }
}

/// Whether `entry` records exactly this claim (and not another node's, or another search of
/// the same node's).
fn is_this_claim(entry: &Entry, claim: &Claim) -> bool {
    entry.node == claim.node
        && entry.transaction_data == claim.transaction_data
        && entry.nonce == claim.nonce
        && entry.hash == claim.hash
        && entry.time_taken.to_bits() == claim.time_taken.to_bits()
        && entry.start_time == claim.start_time
        && entry.end_time == claim.end_time
        && entry.difficulty == claim.difficulty
        && entry.race == claim.race
        && entry.difficulty_bits == claim.difficulty_bits
        && entry.target_time_us == claim.target_time_us
}

fn decision_for(entry: Entry, claim: &Claim) -> Decided {
    if is_this_claim(&entry, claim) {
        Decided::Won(entry)
    } else {
        Decided::Lost(entry)
    }
}

/// Decides queued claims until every [`Store`](super::Store) handle is gone.
pub(crate) async fn run(
    members: Members,
    keys: Keys,
    compaction: Option<Compaction>,
    mut rx: mpsc::Receiver<ClaimRequest>,
) {
    let mut head: Option<Head> = None;
    // The rules between entries (retargeting) as of some index; read from etcd only once a
    // retargeted claim needs them, then kept up with what this decider commits.
    let mut rules: Option<ChainCheck> = None;
    let mut backlog: VecDeque<ClaimRequest> = VecDeque::new();
    loop {
        if backlog.is_empty() {
            match rx.recv().await {
                Some(r) => backlog.push_back(r),
                None => return,
            }
        }
        while backlog.len() < MAX_CLAIMS_PER_TXN * 2 {
            match rx.try_recv() {
                Ok(r) => backlog.push_back(r),
                Err(_) => break,
            }
        }
        // A group: in submission order, within etcd's limits on operations and bytes; the
        // first claim always goes, whatever its size.
        let mut group = Vec::new();
        let mut bytes = 0;
        while let Some(r) = backlog.front() {
            if !group.is_empty()
                && (group.len() == MAX_CLAIMS_PER_TXN || bytes + r.size > MAX_TXN_BYTES)
            {
                break;
            }
            bytes += r.size;
            group.push(backlog.pop_front().expect("front exists"));
        }
        let committed = decide_group(&members, &keys, &mut head, &mut rules, group).await;
        if let (Some(c), Some((first, last, revision))) = (compaction, committed) {
            if first / c.every_entries != (last + 1) / c.every_entries {
                let target = revision - c.keep_revisions;
                if target > 0 {
                    let client = members.pinned().1;
                    tokio::spawn(async move {
                        if let Err(e) = compact(&client, target).await {
                            tracing::warn!("etcd compaction to revision {target} failed: {e}");
                        }
                    });
                }
            }
        }
    }
}

/// Compacts etcd's history up to `revision`; already compacted is fine.
pub(crate) async fn compact(client: &Client, revision: i64) -> Result<(), EtcdError> {
    match bounded("compact", client.clone().compact(revision, None)).await {
        Ok(_) => Ok(()),
        Err(EtcdError::Refused { detail, .. }) if detail.contains("compacted") => Ok(()),
        Err(e) => Err(e),
    }
}

/// What one transaction attempt found.
enum Attempt {
    /// Every claim of the attempt won: their entries, and etcd's revision.
    Committed { entries: Vec<Entry>, revision: i64 },
    /// Some transactions were decided already (their indexes) and/or the head moved.
    Conflict {
        decided: Vec<(Hash32, u64)>,
        head: Box<Head>,
    },
}

/// Decides one group; answers every claim in it. Returns the indexes it committed and the
/// revision, for compaction.
async fn decide_group(
    members: &Members,
    keys: &Keys,
    head: &mut Option<Head>,
    rules: &mut Option<ChainCheck>,
    group: Vec<ClaimRequest>,
) -> Option<(u64, u64, i64)> {
    let mut unique = first_claims(&group);
    let mut recorded: HashMap<Hash32, Result<Entry, EtcdError>> = HashMap::new();
    let mut committed = None;
    let mut backoff = RETRY_BACKOFF_MIN;
    let mut last_error: Option<EtcdError> = None;
    loop {
        let now = Instant::now();
        unique.retain(|&i| {
            let r = &group[i];
            if r.deadline <= now {
                let e = last_error.clone().unwrap_or(EtcdError::Timeout {
                    op: "claim",
                    after: CLAIM_DEADLINE,
                });
                recorded.insert(r.tx_id, Err(e));
                false
            } else {
                true
            }
        });
        if unique.is_empty() {
            break;
        }
        // Each attempt on the pinned member; one that finds it unavailable moves the pin.
        let (member, client) = members.pinned();
        let client = &client;
        if let Some(h) = head.as_ref() {
            // Every claim at the chain's difficulty (the compare on the head holds it at
            // commit).
            keep_by_difficulty(&group, &mut unique, &mut recorded, h.entry.as_ref());
            if unique.is_empty() {
                break;
            }
        }
        let retargeted = unique
            .iter()
            .any(|&i| group[i].claim.target_time_us.is_some());
        if let (true, Some(h)) = (retargeted, head.as_ref()) {
            // Retargeting: each claim must have been mined at the difficulty the chain gives
            // the place it would take. The compare on the head makes the check hold at commit.
            match catch_up(client, keys, rules, h.next_index()).await {
                Ok(check) => {
                    keep_by_rules(&group, &mut unique, &mut recorded, check, h.entry.as_ref())
                }
                Err(e) if e.is_unavailable() => {
                    members.failed(member);
                    *head = None;
                    last_error = Some(e);
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
                    continue;
                }
                Err(e) => {
                    fail_rest(&group, &unique, &mut recorded, e);
                    break;
                }
            }
            if unique.is_empty() {
                break;
            }
        }
        let outcome = match head.clone() {
            Some(h) => attempt(client, keys, &h, unique.iter().map(|&i| &group[i])).await,
            None => read_head(client, keys).await.map(|h| Attempt::Conflict {
                decided: Vec::new(),
                head: Box::new(h),
            }),
        };
        match outcome {
            Ok(Attempt::Committed { entries, revision }) => {
                committed = Some(take_commit(head, rules, &mut recorded, entries, revision));
                break;
            }
            Ok(Attempt::Conflict { decided, head: h }) => {
                *head = Some(*h);
                backoff = RETRY_BACKOFF_MIN;
                if decided.is_empty() {
                    continue;
                }
                match read_entries(client, keys, &decided).await {
                    Ok(entries) => {
                        for e in entries {
                            unique.retain(|&i| group[i].tx_id != e.tx_id);
                            recorded.insert(e.tx_id, Ok(e));
                        }
                    }
                    Err(e) => {
                        if !e.is_unavailable() {
                            fail_rest(&group, &unique, &mut recorded, e);
                            break;
                        }
                        members.failed(member);
                        last_error = Some(e);
                    }
                }
            }
            Err(e) if e.is_unavailable() => {
                // The attempt may have committed. The next one, chained onto the same head,
                // finds out: its compares fail, and etcd answers what was decided and the
                // new head.
                let timed_out = matches!(e, EtcdError::Timeout { .. });
                last_error = Some(e);
                members.failed(member);
                if timed_out {
                    // A whole request time has passed (most likely on a connection to a
                    // member that is cut off): again at once, on the next member.
                    continue;
                }
                let earliest = unique.iter().map(|&i| group[i].deadline).min();
                let pause = earliest.map_or(backoff, |d| {
                    backoff.min(d.saturating_duration_since(Instant::now()))
                });
                tokio::time::sleep(pause).await;
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            }
            Err(e) => {
                *head = None;
                fail_rest(&group, &unique, &mut recorded, e);
                break;
            }
        }
    }
    answer_group(group, &recorded);
    committed
}

/// The claims of `group` that go into the etcd transaction (their places in it): each
/// transaction once, by its first claim; later copies in the group are answered from the same
/// record.
fn first_claims(group: &[ClaimRequest]) -> Vec<usize> {
    let mut unique: Vec<usize> = Vec::new();
    let mut seen: HashMap<Hash32, usize> = HashMap::new();
    for (i, r) in group.iter().enumerate() {
        seen.entry(r.tx_id).or_insert_with(|| {
            unique.push(i);
            i
        });
    }
    unique
}

/// Takes in what an attempt committed at `revision`: the new head, the rules advanced over
/// the entries, and the entries as the claims' records. Returns the first and last index
/// committed and the revision.
fn take_commit(
    head: &mut Option<Head>,
    rules: &mut Option<ChainCheck>,
    recorded: &mut HashMap<Hash32, Result<Entry, EtcdError>>,
    entries: Vec<Entry>,
    revision: i64,
) -> (u64, u64, i64) {
    let committed = (entries[0].index, entries[entries.len() - 1].index, revision);
    *head = Some(Head {
        entry: entries.last().cloned(),
        rev: revision,
    });
    if let Some(check) = rules.as_mut() {
        if check.next_index() == entries[0].index {
            for e in &entries {
                // They were checked against this very chain before the commit.
                let _ = check.link(e);
            }
        }
    }
    for e in entries {
        recorded.insert(e.tx_id, Ok(e));
    }
    committed
}

/// Answers every claim of `group` from the records of its transactions (closed: none).
fn answer_group(group: Vec<ClaimRequest>, recorded: &HashMap<Hash32, Result<Entry, EtcdError>>) {
    for r in group {
        let answer = match recorded.get(&r.tx_id) {
            Some(Ok(entry)) => Ok(decision_for(entry.clone(), &r.claim)),
            Some(Err(e)) => Err(e.clone()),
            None => Err(EtcdError::Closed),
        };
        let _ = r.reply.send(answer);
    }
}

/// The rules as of index `upto`: `rules` advanced over the entries etcd holds before it.
async fn catch_up<'a>(
    client: &Client,
    keys: &Keys,
    rules: &'a mut Option<ChainCheck>,
    upto: u64,
) -> Result<&'a ChainCheck, EtcdError> {
    let check = rules.get_or_insert_with(ChainCheck::new);
    if check.next_index() > upto {
        // Ahead of the head we compare against (cannot happen: the chain only grows); start
        // over rather than check against the wrong place.
        *check = ChainCheck::new();
    }
    while check.next_index() < upto {
        let from = check.next_index();
        let (page, _) = read_page(client, keys, from, ENTRY_PAGE).await?;
        if page.is_empty() {
            return Err(EtcdError::Protocol(format!(
                "the head is entry {} but entry {from} is missing",
                upto - 1
            )));
        }
        for (e, _) in page.iter().take_while(|(e, _)| e.index < upto) {
            check.link(e).map_err(|err| {
                EtcdError::Protocol(format!("entry {} breaks the chain's rules: {err}", e.index))
            })?;
        }
    }
    Ok(check)
}

/// Drops (answering [`EtcdError::Difficulty`]) the claims mined under another difficulty rule
/// than the chain's: its head's (every entry has the first entry's), or on an empty chain the
/// first claim's of the group.
fn keep_by_difficulty(
    group: &[ClaimRequest],
    unique: &mut Vec<usize>,
    recorded: &mut HashMap<Hash32, Result<Entry, EtcdError>>,
    head: Option<&Entry>,
) {
    let mut chain = head.map(ChainRule::of);
    unique.retain(|&i| {
        let claim = ChainRule::of_new(&group[i].claim);
        match chain {
            Some(chain) if chain != claim => {
                recorded.insert(group[i].tx_id, Err(EtcdError::Difficulty { chain, claim }));
                false
            }
            _ => {
                chain = Some(claim);
                true
            }
        }
    });
}

/// Drops (answering [`EtcdError::Retarget`]) the claims mined at a difficulty retargeting does
/// not give the place each would take after `head`, the claims before it in the group kept.
fn keep_by_rules(
    group: &[ClaimRequest],
    unique: &mut Vec<usize>,
    recorded: &mut HashMap<Hash32, Result<Entry, EtcdError>>,
    check: &ChainCheck,
    head: Option<&Entry>,
) {
    let mut check = check.clone();
    let mut prev = head.cloned();
    unique.retain(|&i| {
        let e = group[i].claim.clone().chain_onto(prev.as_ref());
        // `link` consumes the retarget window even when it refuses: try it on a copy.
        let mut trial = check.clone();
        match trial.link(&e) {
            Ok(()) => {
                check = trial;
                prev = Some(e);
                true
            }
            Err(EntryError::WrongRetarget { expected, found }) => {
                recorded.insert(e.tx_id, Err(EtcdError::Retarget { expected, found }));
                false
            }
            Err(other) => {
                recorded.insert(
                    e.tx_id,
                    Err(EtcdError::Protocol(format!(
                        "a claim does not chain: {other}"
                    ))),
                );
                false
            }
        }
    });
}

fn fail_rest(
    group: &[ClaimRequest],
    unique: &[usize],
    recorded: &mut HashMap<Hash32, Result<Entry, EtcdError>>,
    e: EtcdError,
) {
    for &i in unique {
        recorded.insert(group[i].tx_id, Err(e.clone()));
    }
}

/// One etcd transaction for these claims, chained onto `head`.
async fn attempt<'a>(
    client: &Client,
    keys: &Keys,
    head: &Head,
    claims: impl Iterator<Item = &'a ClaimRequest>,
) -> Result<Attempt, EtcdError> {
    let mut compares = Vec::new();
    let mut writes = Vec::new();
    let mut reads = Vec::new();
    let mut entries: Vec<Entry> = Vec::new();
    let mut tx_ids = Vec::new();
    for r in claims {
        let prev = entries.last().or(head.entry.as_ref());
        let entry = r.claim.clone().chain_onto(prev);
        let tx_key = keys.tx(&entry.tx_id);
        compares.push(Compare::version(tx_key.clone(), CompareOp::Equal, 0));
        writes.push(TxnOp::put(tx_key.clone(), entry.index.to_string(), None));
        writes.push(TxnOp::put(
            keys.entry(entry.index),
            serde_json::to_vec(&entry).expect("an entry serializes"),
            None,
        ));
        // The announcement has done its work once the race is decided.
        writes.push(TxnOp::delete(keys.relay(&entry.tx_id), None));
        reads.push(TxnOp::get(tx_key, None));
        tx_ids.push(entry.tx_id);
        entries.push(entry);
    }
    let last = entries.last().expect("a group has a claim");
    compares.push(Compare::mod_revision(
        keys.head(),
        CompareOp::Equal,
        head.rev,
    ));
    writes.push(TxnOp::put(
        keys.head(),
        serde_json::to_vec(last).expect("an entry serializes"),
        None,
    ));
    reads.push(TxnOp::get(keys.head(), None));
    debug_assert_eq!(entries[0].index, head.next_index());
    let txn = Txn::new().when(compares).and_then(writes).or_else(reads);
    let resp = bounded_for(
        "decide claims",
        DECIDE_REQUEST_TIMEOUT,
        client.clone().txn(txn),
    )
    .await?;
    if resp.succeeded() {
        let revision = resp.header().map_or(0, |h| h.revision());
        return Ok(Attempt::Committed { entries, revision });
    }
    let mut decided = Vec::new();
    let responses = resp.op_responses();
    if responses.len() != tx_ids.len() + 1 {
        return Err(EtcdError::Protocol(format!(
            "a failed claim transaction answered {} reads, not {}",
            responses.len(),
            tx_ids.len() + 1
        )));
    }
    let mut new_head = None;
    for (i, op) in responses.iter().enumerate() {
        let TxnOpResponse::Get(get) = op else {
            return Err(EtcdError::Protocol(
                "a failed claim transaction answered something else than reads".into(),
            ));
        };
        if i == tx_ids.len() {
            new_head = Some(head_from(get.kvs().first())?);
        } else if let Some(kv) = get.kvs().first() {
            let index = std::str::from_utf8(kv.value())
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| {
                    EtcdError::Protocol(format!(
                        "{} does not hold an index",
                        String::from_utf8_lossy(kv.key())
                    ))
                })?;
            decided.push((tx_ids[i], index));
        }
    }
    Ok(Attempt::Conflict {
        decided,
        head: Box::new(new_head.expect("the head was read")),
    })
}

/// The entries at these indexes, in one read-only transaction.
async fn read_entries(
    client: &Client,
    keys: &Keys,
    at: &[(Hash32, u64)],
) -> Result<Vec<Entry>, EtcdError> {
    let reads: Vec<TxnOp> = at
        .iter()
        .map(|&(_, index)| TxnOp::get(keys.entry(index), None))
        .collect();
    let resp = bounded_for(
        "read decided entries",
        DECIDE_REQUEST_TIMEOUT,
        client.clone().txn(Txn::new().and_then(reads)),
    )
    .await?;
    let mut out = Vec::with_capacity(at.len());
    for (op, &(tx_id, index)) in resp.op_responses().iter().zip(at) {
        let kv = match op {
            TxnOpResponse::Get(get) => get.kvs().first(),
            _ => None,
        }
        .ok_or_else(|| {
            EtcdError::Protocol(format!(
                "transaction {tx_id} is decided at index {index}, but no entry is there"
            ))
        })?;
        let entry = parse_entry(index, kv.value())?;
        if entry.tx_id != tx_id {
            return Err(EtcdError::Protocol(format!(
                "transaction {tx_id} is decided at index {index}, which holds another transaction"
            )));
        }
        out.push(entry);
    }
    Ok(out)
}
