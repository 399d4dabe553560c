//! Relay: a transaction that reached one node is announced in etcd, so that every node of
//! the cluster races it once.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use etcd_client::{
    Compare, CompareOp, EventType, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse,
    WatchFilterType, WatchOptions, WatchStream,
};
use pow_core::Hash32;

use super::error::EtcdError;
use super::limits::{RELAY_SEEN_MEMORY, RELAY_TTL_SECS, WATCH_PROBE_AFTER};
use super::rpc::bounded;
use super::store::Store;

/// A transaction as it first reached the cluster.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Announcement {
    /// SHA-256 of the data: which race.
    pub tx_id: Hash32,
    /// The transaction.
    pub transaction_data: String,
    /// The node it reached first (the first to announce it).
    pub node: String,
    /// When it reached that node, by that node's clock (`YYYY-MM-DD HH:MM:SS.ffffff` UTC):
    /// shown so a head start from relay is visible, never used to order anything.
    pub received_at: String,
}

/// What [`Store::announce`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Announced {
    /// This node's announcement is the first: every node will be told.
    First,
    /// Another node announced it first.
    Already(Announcement),
    /// The race is decided already: nothing was announced.
    Decided,
}

impl Store {
    /// Announces a transaction that reached `node` at `received_at`, unless it is announced
    /// or decided already. The announcement lives until the race is decided (the winning
    /// claim removes it) or, at most, [`RELAY_TTL_SECS`].
    pub async fn announce(
        &self,
        node: &str,
        transaction_data: &str,
        received_at: &str,
    ) -> Result<Announced, EtcdError> {
        let a = Announcement {
            tx_id: Hash32::digest(transaction_data.as_bytes()),
            transaction_data: transaction_data.to_owned(),
            node: node.to_owned(),
            received_at: received_at.to_owned(),
        };
        let keys = self.keys();
        let (relay_key, tx_key) = (keys.relay(&a.tx_id), keys.tx(&a.tx_id));
        let value = serde_json::to_vec(&a).expect("an announcement serializes");
        // A lease that expired (etcd down for longer than its life) is granted anew once.
        for fresh in [false, true] {
            let lease = self.relay_lease(fresh).await?;
            let txn = Txn::new()
                .when([
                    Compare::version(relay_key.clone(), CompareOp::Equal, 0),
                    Compare::version(tx_key.clone(), CompareOp::Equal, 0),
                ])
                .and_then([TxnOp::put(
                    relay_key.clone(),
                    value.clone(),
                    Some(PutOptions::new().with_lease(lease)),
                )])
                .or_else([
                    TxnOp::get(relay_key.clone(), None),
                    TxnOp::get(tx_key.clone(), None),
                ]);
            let resp = match bounded("announce", self.client().txn(txn)).await {
                Err(EtcdError::Refused { detail, .. }) if !fresh && detail.contains("lease") => {
                    continue
                }
                other => other?,
            };
            if resp.succeeded() {
                return Ok(Announced::First);
            }
            let found: Vec<Option<Vec<u8>>> = resp
                .op_responses()
                .into_iter()
                .map(|op| match op {
                    TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.value().to_vec()),
                    _ => None,
                })
                .collect();
            if found.get(1).is_some_and(Option::is_some) {
                return Ok(Announced::Decided);
            }
            if let Some(Some(v)) = found.first() {
                return parse_announcement(v).map(Announced::Already);
            }
            // Both gone between the compare and the read cannot happen in one transaction;
            // an expired lease can: try once more.
        }
        Err(EtcdError::Protocol(
            "an announcement was neither written nor found".into(),
        ))
    }

    /// The announcements not yet decided, then each new one: see [`AnnouncementStream`].
    pub fn announcements(&self) -> AnnouncementStream {
        AnnouncementStream {
            store: self.clone(),
            ready: VecDeque::new(),
            watch: None,
            probing: false,
            seen: HashSet::new(),
            seen_order: VecDeque::new(),
        }
    }

    /// The lease announcements are attached to: one per half of [`RELAY_TTL_SECS`], so an
    /// announcement lives between half of it and all of it when no claim removes it.
    async fn relay_lease(&self, fresh: bool) -> Result<i64, EtcdError> {
        let mut lease = self.inner.relay_lease.lock().await;
        let half = Duration::from_secs(RELAY_TTL_SECS as u64 / 2);
        match *lease {
            Some((id, granted)) if !fresh && granted.elapsed() < half => Ok(id),
            _ => {
                let id = bounded(
                    "grant the relay lease",
                    self.client().lease_grant(RELAY_TTL_SECS, None),
                )
                .await?
                .id();
                *lease = Some((id, tokio::time::Instant::now()));
                Ok(id)
            }
        }
    }
}

fn parse_announcement(v: &[u8]) -> Result<Announcement, EtcdError> {
    serde_json::from_slice(v)
        .map_err(|e| EtcdError::Protocol(format!("an announcement does not parse: {e}")))
}

/// Announcements, each delivered once: first those standing when the stream starts, then
/// new ones as they are made. After a lost connection the next call reads the standing
/// announcements again and watches from there; those already delivered (the last
/// [`RELAY_SEEN_MEMORY`]) are skipped.
pub struct AnnouncementStream {
    store: Store,
    ready: VecDeque<Announcement>,
    watch: Option<WatchStream>,
    probing: bool,
    seen: HashSet<Hash32>,
    seen_order: VecDeque<Hash32>,
}

impl AnnouncementStream {
    /// The next announcement not delivered before. An error leaves the stream usable: call
    /// again to resume.
    pub async fn next(&mut self) -> Result<Announcement, EtcdError> {
        loop {
            while let Some(a) = self.ready.pop_front() {
                if self.seen.insert(a.tx_id) {
                    self.seen_order.push_back(a.tx_id);
                    if self.seen_order.len() > RELAY_SEEN_MEMORY {
                        if let Some(old) = self.seen_order.pop_front() {
                            self.seen.remove(&old);
                        }
                    }
                    return Ok(a);
                }
            }
            match self.watch.as_mut() {
                None => self.reopen().await?,
                Some(watch) => match tokio::time::timeout(WATCH_PROBE_AFTER, watch.message()).await
                {
                    Err(_) if self.probing => {
                        self.watch = None;
                        return Err(EtcdError::Timeout {
                            op: "watch announcements",
                            after: WATCH_PROBE_AFTER * 2,
                        });
                    }
                    Err(_) => {
                        self.probing = true;
                        if let Err(e) = watch.request_progress().await {
                            self.watch = None;
                            return Err(EtcdError::from_client("watch announcements", e));
                        }
                    }
                    Ok(Ok(Some(resp))) => {
                        self.probing = false;
                        if resp.canceled() || resp.compact_revision() > 0 {
                            self.watch = None;
                            continue;
                        }
                        self.take(&resp)?;
                    }
                    Ok(Ok(None)) => {
                        self.watch = None;
                        return Err(EtcdError::Unavailable {
                            op: "watch announcements",
                            detail: "the watch stream closed".into(),
                        });
                    }
                    Ok(Err(e)) => {
                        self.watch = None;
                        return Err(EtcdError::from_client("watch announcements", e));
                    }
                },
            }
        }
    }

    async fn reopen(&mut self) -> Result<(), EtcdError> {
        let prefix = self.store.keys().relay_prefix();
        let resp = bounded(
            "read announcements",
            self.store
                .client()
                .get(prefix.clone(), Some(GetOptions::new().with_prefix())),
        )
        .await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut standing: Vec<(i64, Announcement)> = Vec::new();
        for kv in resp.kvs() {
            standing.push((kv.create_revision(), parse_announcement(kv.value())?));
        }
        // In the order they were made.
        standing.sort_by_key(|(rev, _)| *rev);
        self.ready.extend(standing.into_iter().map(|(_, a)| a));
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(revision + 1)
            .with_filters([WatchFilterType::NoDelete]);
        let mut watch = bounded(
            "watch announcements",
            self.store.client().watch(prefix, Some(options)),
        )
        .await?;
        match bounded("watch announcements", watch.message()).await? {
            Some(resp) if resp.created() && !resp.canceled() => {
                self.watch = Some(watch);
                self.probing = false;
                self.take(&resp)
            }
            Some(resp) if resp.compact_revision() > 0 => Ok(()),
            _ => Err(EtcdError::Unavailable {
                op: "watch announcements",
                detail: "the watch was not created".into(),
            }),
        }
    }

    fn take(&mut self, resp: &etcd_client::WatchResponse) -> Result<(), EtcdError> {
        for event in resp.events() {
            if event.event_type() != EventType::Put {
                continue;
            }
            if let Some(kv) = event.kv() {
                self.ready.push_back(parse_announcement(kv.value())?);
            }
        }
        Ok(())
    }
}
