//! Every limit of a node, named in one place. The README's "Limits" table lists them.

use std::time::Duration;

/// The longest transaction line, in bytes, not counting its `\n` (or `\r\n`).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Connections one node serves at once; one more is told so and closed.
pub const MAX_CONNECTIONS: usize = 512;

/// From accept, the time a client has to send one whole line (or an HTTP request line).
/// Counted from accept, not from the last byte: drip-feeding does not extend it.
pub const LINE_DEADLINE: Duration = Duration::from_secs(10);

/// After the last reply, how long a line client may stay silent before the node closes the
/// connection. `nc` sends its line and waits for the server to close: this is what makes the
/// lab's command return right after its reply, while a client that pipelines several lines
/// (or sends its next one within this time) is still answered line by line.
pub const REPLY_LINGER: Duration = Duration::from_millis(200);

/// How long one reply line may take to send before the node drops the connection: a client
/// that sends lines but never reads its replies cannot hold a connection (and its memory)
/// forever.
pub const REPLY_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections refused with [`MAX_CONNECTIONS`] that the node keeps open at once for a
/// lingering close (so the error line is not lost to a reset). Beyond this a refused
/// connection gets its error line and is closed at once: a flood must not use up the file
/// descriptors the other nodes of the process need.
pub const MAX_LINGERING_REFUSALS: usize = 64;

/// A connection refused with [`MAX_CONNECTIONS`] (and within [`MAX_LINGERING_REFUSALS`]) is
/// given this long to send its first line, so that an HTTP client is answered in HTTP (503)
/// and a line client with the `too_many_connections` line. One that sends nothing gets the
/// line. Beyond `MAX_LINGERING_REFUSALS`, only what has already arrived is looked at.
pub const REFUSAL_SNIFF_TIME: Duration = Duration::from_secs(1);

/// Beyond [`MAX_LINGERING_REFUSALS`], a refused connection is answered from what it has
/// already sent, at most this many bytes, read without waiting; then it is closed at once.
pub const REFUSAL_PEEK_BYTES: usize = 1024;

/// After an error that closes a connection, how long the node keeps reading (and discarding)
/// what the client is still sending, so that the error reaches it before the close (closing
/// with unread data would reset the connection and could destroy the error in flight).
pub const LINGERING_CLOSE: Duration = Duration::from_secs(1);

/// How many bytes the node reads and discards at most during a [`LINGERING_CLOSE`].
pub const LINGERING_CLOSE_BYTES: usize = 4 * 1024 * 1024;

/// How long an HTTP keep-alive connection may sit idle between requests.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest HTTP request head (request line and headers) a node reads.
pub const MAX_HTTP_HEADER_BYTES: usize = 16 * 1024;

/// The largest JSON body of `POST /tx`: a transaction of [`MAX_LINE_BYTES`] with every
/// character escaped as `\uXXXX` (6 bytes for each byte), and 1 KiB for the key and white
/// space. The limit on the transaction itself is `MAX_LINE_BYTES`, decoded, as for a line.
/// Over it: 413 `body_too_large`, refused while the body streams in (a chunked body too).
pub const MAX_TX_JSON_BYTES: usize = 6 * MAX_LINE_BYTES + 1024;

/// The longest reply line `submit` reads from a node, `\n` included: a reply carries its
/// transaction twice (in the reply and in its entry), each JSON-escaped to at most twice its
/// length, and its figures. A peer that sends more without a newline is no node: `submit`
/// stops reading and says so.
pub const MAX_REPLY_LINE_BYTES: usize = 4 * MAX_LINE_BYTES + 16 * 1024;

/// The longest line of an attempts log (a file, or `GET /attempts`), `\n` included: an
/// attempt carries its transaction JSON-escaped (at most twice its length) and its figures.
/// A longer line is no attempt: it is read no further than this. Reading a log skips it and
/// counts it; `GET /attempts` leaves it out; `report --cluster` refuses a node that sends
/// one.
pub const MAX_ATTEMPT_LINE_BYTES: usize = 2 * MAX_LINE_BYTES + 16 * 1024;

/// The largest `GET /cluster` body `report --cluster` reads (a node list).
pub const MAX_CLUSTER_BODY_BYTES: u64 = 1024 * 1024;

/// Races one node admits at once (searching or queued to search); a transaction beyond
/// this gets a `busy` error reply. Each holds at most one line, so this bounds memory.
pub const MAX_RACES_IN_FLIGHT: usize = 1024;

/// Searches one node runs at once; admitted races beyond this wait their turn. Several,
/// so a long search does not hold up every short one behind it.
pub const MAX_CONCURRENT_SEARCHES: usize = 4;

/// WebSocket viewers one node serves at once (each also holds one of its
/// [`MAX_CONNECTIONS`]); one more gets 503 `too_many_viewers` instead of the upgrade. A
/// viewer costs some 150 KB (buffers and its share of the history): 64 per node bound them
/// to ~10 MB, and leave the rest of the connections to clients that race.
pub const MAX_VIEWERS: usize = 64;

/// The largest message (and frame) a WebSocket viewer may send, in bytes. Viewers have
/// nothing to say: this fits a close or a ping (at most 125 bytes each). One over it is
/// dropped as soon as the frame's header announces it, before its payload is buffered.
pub const WS_MAX_INCOMING_MESSAGE: usize = 1024;

/// The most a WebSocket viewer's write buffer holds, in bytes: the largest event frame (a
/// `won` event carries the transaction twice, in the event and in its entry, each JSON-escaped
/// to at most twice its length) with room for the pongs owed. A viewer whose buffer is full
/// (one that pings and never reads the pongs) is owed no more: pongs are dropped, and the
/// viewer itself once a send or a pong waits past [`WS_SEND_TIMEOUT`].
pub const WS_MAX_WRITE_BUFFER: usize = 4 * MAX_LINE_BYTES + 64 * 1024;

/// Events a WebSocket viewer may fall behind by before it skips ahead (with a notice).
pub const WS_EVENT_BUFFER: usize = 1024;

/// How long one WebSocket frame may take to send before the viewer is dropped.
pub const WS_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Recent events a late viewer is sent before the live stream.
pub const EVENT_HISTORY: usize = 512;

/// Decided races the ledger writer records in one commit (append, sync, rename) at most; more
/// wait for the next. (Races waiting to be recorded are bounded by `MAX_RACES_IN_FLIGHT` per
/// node.)
pub const MAX_COMMIT_GROUP: usize = 1024;

/// Attempts waiting for the attempts log writer; more wait for room.
pub const ATTEMPTS_QUEUE: usize = 4096;

/// How long SIGINT/SIGTERM waits for decided races to commit before exiting.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

/// The longest a node waits on the ledger (its decision lock, or recording a decided race)
/// before answering `ledger_unavailable`: a process stopped while holding a ledger lock must not
/// freeze the others. A decided race is still recorded once the ledger is free.
pub const LEDGER_WAIT: Duration = Duration::from_secs(5);

/// Transactions each node remembers having raced (the most recent), so a copy it has raced
/// already is answered from the ledger instead of mined again.
pub const RACED_MEMORY: usize = 65_536;

/// Answers to races a node ran on a transaction relayed from another host (the most recent),
/// kept for the client whose own copy reaches the node after that race ended: it gets the
/// node's own `won`/`lost`, not `recorded`.
pub const RELAYED_REPLIES: usize = 1024;

/// A copy of a transaction recorded among the ledger's last this-many entries, reaching a node
/// that has not raced it, is still mined (and lost), so every node's time can be compared; an
/// older one is answered `recorded`.
pub const LATE_COPY_WINDOW: u64 = 1024;

/// The longest node name, in bytes (the same rule in one process, several, or on etcd).
pub const MAX_NODE_NAME_BYTES: usize = 64;

/// The hardest difficulty a node mines or `mine` searches, in zero bits (8 bytes): a search
/// tries at most 2^64 nonces, which are not expected to hold a hash with more zero bits.
/// (`verify` still checks any difficulty a SHA-256 digest can have.)
pub const MAX_MINING_BITS: u32 = 64;

/// The longest `--target-time`: a race a day.
pub const MAX_TARGET_TIME: Duration = Duration::from_secs(24 * 3600);

/// The longest `submit --stagger` between two nodes of one race.
pub const MAX_STAGGER: Duration = Duration::from_secs(60);

/// The lowest `submit --rate`: one race in 1,000 s.
pub const MIN_BATCH_RATE: f64 = 0.001;
