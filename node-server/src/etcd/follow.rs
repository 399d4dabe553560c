//! Reading the ledger from etcd in order and following it as it grows.

use std::collections::VecDeque;

use etcd_client::{EventType, WatchFilterType, WatchOptions, WatchStream};
use pow_core::chain::Entry;
use pow_core::Hash32;

use super::error::EtcdError;
use super::limits::{ENTRY_PAGE, WATCH_PROBE_AFTER};
use super::rpc::{bounded, parse_entry};
use super::store::Store;

impl Store {
    /// Every entry from `index` on, then each new one as it is decided: see [`EntryStream`].
    /// `prev_hash` is the `entry_hash` of the entry at `index - 1` (zeros from 0), so that
    /// the stream checks the chain from its first entry on.
    pub fn follow(&self, index: u64, prev_hash: Hash32) -> EntryStream {
        EntryStream::new(self.clone(), index, prev_hash, None)
    }

    /// As [`follow`](Self::follow), but first watching from `revision` (one past
    /// [`EntryStream::revision`] of the last entry applied), which costs no read when etcd
    /// still has that history. When it does not (compacted), or the revision does not match
    /// the index, the stream reads by index instead: the entries are the same either way.
    pub fn follow_from(&self, index: u64, prev_hash: Hash32, revision: i64) -> EntryStream {
        EntryStream::new(self.clone(), index, prev_hash, Some(revision))
    }
}

/// Every entry from a given index on, in order, each checked and linked to the one before;
/// then each new entry as it is decided, on any host.
///
/// It catches up by reading pages by index, then watches the entry keys from the revision
/// it read at. When the watch breaks (a member dies, the link goes down, etcd compacted the
/// revision it would resume from), the next call to [`next`](Self::next) reads again by
/// index from the first entry it has not returned, then watches again: entries are never
/// deleted, so resuming never depends on etcd's history. Each host that applies the entries
/// it is given, in the order given, ends with the same ledger.
pub struct EntryStream {
    store: Store,
    next_index: u64,
    prev_hash: Hash32,
    /// Entries read or watched, not yet returned, with the revision that wrote each.
    ready: VecDeque<(Entry, i64)>,
    watch: Option<WatchStream>,
    /// The member the watch is on (see [`Members`](super::members::Members)).
    watch_member: usize,
    probing: bool,
    /// A revision to watch from before reading anything (see [`Store::follow_from`]).
    resume: Option<i64>,
    revision: i64,
}

impl EntryStream {
    pub(crate) fn new(store: Store, index: u64, prev_hash: Hash32, resume: Option<i64>) -> Self {
        Self {
            store,
            next_index: index,
            prev_hash,
            ready: VecDeque::new(),
            watch: None,
            watch_member: 0,
            probing: false,
            resume,
            revision: 0,
        }
    }

    /// The index of the next entry [`next`](Self::next) returns.
    pub fn position(&self) -> u64 {
        self.next_index
    }

    /// The etcd revision that wrote the last entry returned (0 before the first): a host that
    /// keeps it with its ledger can resume with [`Store::follow_from`] from `revision + 1`.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The next entry, waiting for it to be decided if need be. An error
    /// ([`EtcdError::Unavailable`] or [`EtcdError::Timeout`] within about
    /// [`WATCH_PROBE_AFTER`] twice, when the connection is lost) leaves the stream where it
    /// was: call again to resume. [`EtcdError::Protocol`] means etcd holds an entry that does
    /// not link to the one before: the stream does not go past it.
    pub async fn next(&mut self) -> Result<Entry, EtcdError> {
        loop {
            if let Some((entry, revision)) = self.ready.pop_front() {
                return self.accept(entry, revision);
            }
            if let (None, Some(revision)) = (&self.watch, self.resume.take()) {
                self.open_watch(revision).await?;
                continue;
            }
            if self.watch.is_none() {
                let (entries, revision) = self
                    .store
                    .entries_with_revisions(self.next_index, ENTRY_PAGE)
                    .await?;
                let full = entries.len() == ENTRY_PAGE;
                self.ready.extend(entries);
                if full {
                    continue;
                }
                self.open_watch(revision + 1).await?;
                continue;
            }
            self.wait_on_watch().await?;
        }
    }

    /// The next entry if one is decided already or within `wait`; `None` otherwise.
    pub async fn next_within(
        &mut self,
        wait: std::time::Duration,
    ) -> Result<Option<Entry>, EtcdError> {
        match tokio::time::timeout(wait, self.next()).await {
            Ok(r) => r.map(Some),
            // Dropping `next` midway loses nothing: entries are buffered before they are
            // returned, and the watch is reopened by index if it was cut.
            Err(_) => Ok(None),
        }
    }

    fn accept(&mut self, entry: Entry, revision: i64) -> Result<Entry, EtcdError> {
        if entry.index != self.next_index || entry.prev_hash != self.prev_hash {
            let e = EtcdError::Protocol(format!(
                "entry {} does not follow entry {} (index {}, prev_hash {} where {} was expected)",
                self.next_index,
                self.next_index.wrapping_sub(1),
                entry.index,
                entry.prev_hash,
                self.prev_hash
            ));
            self.ready.push_front((entry, revision));
            return Err(e);
        }
        self.next_index += 1;
        self.prev_hash = entry.entry_hash;
        self.revision = revision;
        Ok(entry)
    }

    async fn open_watch(&mut self, revision: i64) -> Result<(), EtcdError> {
        let keys = self.store.keys();
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision)
            .with_filters([WatchFilterType::NoDelete]);
        let (member, mut client) = self.store.members().pinned();
        let opened = async {
            let mut watch = bounded(
                "watch entries",
                client.watch(keys.entries_prefix(), Some(options)),
            )
            .await?;
            // The first answer says whether the watch exists (or was refused: compacted).
            let first = bounded("watch entries", watch.message()).await?;
            Ok::<_, EtcdError>((watch, first))
        };
        let (watch, first) = match opened.await {
            Ok(w) => w,
            Err(e) => {
                if e.is_unavailable() {
                    self.store.members().failed(member);
                }
                return Err(e);
            }
        };
        self.watch_member = member;
        match first {
            Some(resp) if resp.created() && !resp.canceled() => {
                self.watch = Some(watch);
                self.probing = false;
                self.take_events(&resp)
            }
            // Compacted between the read and the watch: read again by index.
            Some(resp) if resp.compact_revision() > 0 => Ok(()),
            Some(resp) => {
                self.store.members().failed(member);
                Err(EtcdError::Unavailable {
                    op: "watch entries",
                    detail: format!("watch not created: {}", resp.cancel_reason()),
                })
            }
            None => {
                self.store.members().failed(member);
                Err(EtcdError::Unavailable {
                    op: "watch entries",
                    detail: "the watch stream closed".into(),
                })
            }
        }
    }

    async fn wait_on_watch(&mut self) -> Result<(), EtcdError> {
        let watch = self.watch.as_mut().expect("a watch is open");
        let result = match tokio::time::timeout(WATCH_PROBE_AFTER, watch.message()).await {
            Err(_) if self.probing => {
                self.watch = None;
                Err(EtcdError::Timeout {
                    op: "watch entries",
                    after: WATCH_PROBE_AFTER * 2,
                })
            }
            Err(_) => {
                // Silence is normal when no race is decided; ask etcd to prove the watch is
                // alive.
                self.probing = true;
                match watch.request_progress().await {
                    Ok(()) => Ok(()),
                    Err(e) => {
                        self.watch = None;
                        Err(EtcdError::from_client("watch entries", e))
                    }
                }
            }
            Ok(Err(e)) => {
                self.watch = None;
                Err(EtcdError::from_client("watch entries", e))
            }
            Ok(Ok(None)) => {
                self.watch = None;
                Err(EtcdError::Unavailable {
                    op: "watch entries",
                    detail: "the watch stream closed".into(),
                })
            }
            Ok(Ok(Some(resp))) => {
                self.probing = false;
                if resp.canceled() || resp.compact_revision() > 0 {
                    // Read the rest by index, then watch again (elsewhere, if the member
                    // cancelled it: it has lost its leader).
                    self.watch = None;
                    if resp.compact_revision() == 0 {
                        self.store.members().failed(self.watch_member);
                    }
                    Ok(())
                } else {
                    self.take_events(&resp)
                }
            }
        };
        if matches!(&result, Err(e) if e.is_unavailable()) {
            self.store.members().failed(self.watch_member);
        }
        result
    }

    /// Queues the watched entries that come next; anything out of order drops the watch so
    /// the next read by index sets it straight.
    fn take_events(&mut self, resp: &etcd_client::WatchResponse) -> Result<(), EtcdError> {
        let keys = self.store.keys().clone();
        for event in resp.events() {
            if event.event_type() != EventType::Put {
                continue;
            }
            let Some(kv) = event.kv() else { continue };
            let Some(index) = keys.entry_index(kv.key()) else {
                continue;
            };
            let expected = self.next_index + self.ready.len() as u64;
            if index < expected {
                continue;
            }
            if index > expected {
                self.watch = None;
                return Ok(());
            }
            self.ready
                .push_back((parse_entry(index, kv.value())?, kv.mod_revision()));
        }
        Ok(())
    }
}
