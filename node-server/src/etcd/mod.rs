//! Deciding races across hosts on etcd: the store layer an etcd arbiter is built on
//! (feature `etcd`).
//!
//! Every host's nodes talk to one etcd cluster through a [`Store`]. etcd (Raft, a quorum of
//! fsynced members) is the only thing that decides; wall clocks never order anything.
//!
//! - [`Store::connect`]: several endpoints with failover, user/password, TLS.
//! - [`Store::claim`] / [`Store::submit`]: exactly one winner per transaction, and one total
//!   order of entries with the hash chain intact (retargeting's rules included), decided by
//!   one etcd transaction per group of claims (compare-and-swap on the chain's head).
//! - [`Store::follow`]: every entry in order from an index, then the new ones as they are
//!   decided ([`EntryStream`]), resuming by itself after a disconnect or a compaction.
//! - [`Store::register`] / [`Store::nodes`]: a node name unique cluster-wide, held by a
//!   lease; the live nodes with their addresses.
//! - [`Store::announce`] / [`Store::announcements`]: relaying a transaction that reached one
//!   node to every node of the cluster.
//!
//! The key schema is in [`keys`]; every bound is a named constant (in `limits.rs`, re-exported
//! here). This module only declares and re-exports: its children use one another, never it.

mod decide;
mod error;
mod follow;
pub mod keys;
mod limits;
mod members;
mod nodes;
mod relay;
mod rpc;
mod store;

pub use decide::{Compaction, Decided};
pub use error::EtcdError;
pub use follow::EntryStream;
pub use keys::{Keys, DEFAULT_PREFIX};
pub use limits::{
    CLAIM_DEADLINE, CLAIM_QUEUE, COMPACT_EVERY_ENTRIES, COMPACT_KEEP_REVISIONS, CONNECT_TIMEOUT,
    DECIDE_REQUEST_TIMEOUT, ENTRY_PAGE, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, MAX_CLAIMS_PER_TXN,
    MAX_NODE_ADDR_BYTES, MAX_TXN_BYTES, NODE_KEEPALIVE_EVERY, NODE_LEASE_TTL_SECS, READ_DEADLINE,
    RELAY_SEEN_MEMORY, RELAY_TTL_SECS, REQUEST_TIMEOUT, RETRY_BACKOFF_MAX, RETRY_BACKOFF_MIN,
    WATCH_PROBE_AFTER,
};
pub use nodes::{NodeInfo, Registration};
pub use relay::{Announced, Announcement, AnnouncementStream};
pub use store::{EtcdOptions, Store, TlsFiles};

pub use crate::limits::MAX_NODE_NAME_BYTES;
