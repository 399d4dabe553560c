//! Every bound of the etcd store, named: timeouts and deadlines, retries, keep-alives, sizes
//! of transactions, pages and queues, leases, compaction. A leaf: the store's modules read
//! these, and [`etcd`](super) re-exports them.

use std::time::Duration;

/// How long opening a TCP (and TLS) connection to one endpoint may take before the client
/// tries another.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one request to etcd may take (a read, one transaction, a lease grant) before it
/// counts as unanswered. A member cut off from the quorum never answers a write: this is
/// what turns that into an error.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one request of the decider (a claim transaction, or a read it needs) may take
/// before it is sent again; shorter than [`REQUEST_TIMEOUT`]. The client sends each request to
/// a random ready member, and a connection to a member whose host was just cut off stays
/// "ready" until its keep-alive ping times out (`KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT`): a
/// claim retried every second rather than every two reaches a live member well within its
/// deadline. Resending is safe: each attempt compares the head it chains onto, so an attempt
/// that did commit makes the next one fail and read what was decided.
pub const DECIDE_REQUEST_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a claim may wait for its decision, from the moment it is submitted: requests are
/// retried (on another endpoint when one fails) until then, and the claim is then answered
/// [`EtcdError::Unavailable`](super::EtcdError::Unavailable). A claim that timed out may
/// still have been recorded; the entry stream tells, and claiming again is answered from the
/// record.
pub const CLAIM_DEADLINE: Duration = Duration::from_secs(6);

/// How long a read (entries, the head, the nodes) retries an unavailable cluster before it
/// says so: a member that just died, or a connection that must be made again after an
/// outage, costs one failed request, not an error.
pub const READ_DEADLINE: Duration = Duration::from_secs(6);

/// HTTP/2 keep-alive pings on a connection with a request or watch open and nothing received
/// for this long, so a dead link is noticed within `KEEPALIVE_INTERVAL + KEEPALIVE_TIMEOUT`
/// (watches also probe on their own, every [`WATCH_PROBE_AFTER`]). Longer than etcd's
/// `--grpc-keepalive-min-time` (5 s by default), and never on an idle connection: etcd answers pings more frequent than that, or
/// on a connection with no stream open, with a GOAWAY ("too many pings") that drops the
/// connection and every watch on it. At 1 s, and pinging idle connections, the nodes' watches
/// broke every few seconds whenever no race ran.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(6);

/// How long a keep-alive ping may go unanswered before the connection is dropped.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The first pause before retrying an unavailable cluster; it doubles up to
/// [`RETRY_BACKOFF_MAX`].
pub const RETRY_BACKOFF_MIN: Duration = Duration::from_millis(50);

/// The longest pause between retries.
pub const RETRY_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Claims decided in one etcd transaction, at most. Each takes three operations (the
/// transaction's key, its entry, its announcement's removal) plus one for the head, under
/// etcd's default `--max-txn-ops` of 128.
pub const MAX_CLAIMS_PER_TXN: usize = 40;

/// The largest etcd transaction the store sends, in bytes of keys and values, under etcd's
/// default `--max-request-bytes` of 1.5 MiB. A single claim (a 64 KiB line at most) always
/// fits.
pub const MAX_TXN_BYTES: usize = 1024 * 1024;

/// Claims waiting for the decider; more wait for room.
pub const CLAIM_QUEUE: usize = 4096;

/// Entries read per request when catching up.
pub const ENTRY_PAGE: usize = 512;

/// When a watch has been silent this long, the stream asks etcd for a progress report; if
/// that is not answered within the same time either, the watch counts as lost and is
/// reopened.
pub const WATCH_PROBE_AFTER: Duration = Duration::from_secs(3);

/// A node's lease, in seconds: a node that stops renewing it (killed, cut off) frees its name
/// this long after its last renewal.
pub const NODE_LEASE_TTL_SECS: i64 = 5;

/// How often a node renews its lease: three tries per lease period.
pub const NODE_KEEPALIVE_EVERY: Duration =
    Duration::from_millis(NODE_LEASE_TTL_SECS as u64 * 1000 / 3);

/// The longest node address, in bytes.
pub const MAX_NODE_ADDR_BYTES: usize = 256;

/// How long an announcement lives when no claim removes it (every node crashed before
/// deciding): the garbage relay can leave is bounded by this.
pub const RELAY_TTL_SECS: i64 = 600;

/// Announcements an [`AnnouncementStream`](super::AnnouncementStream) remembers, to deliver
/// each one once even across reconnections.
pub const RELAY_SEEN_MEMORY: usize = 65_536;

/// The store compacts etcd's history every this many entries (see
/// [`Compaction`](super::Compaction)).
pub const COMPACT_EVERY_ENTRIES: u64 = 10_000;

/// Revisions of history kept behind the newest when compacting: a watcher that lost its
/// connection less than this many revisions ago resumes from the history; one further back
/// re-reads the entries it missed by index (entries themselves are never compacted away).
pub const COMPACT_KEEP_REVISIONS: i64 = 100_000;
