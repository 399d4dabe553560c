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

/// How long an HTTP keep-alive connection may sit idle between requests.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest HTTP request head (request line and headers) a node reads.
pub const MAX_HTTP_HEADER_BYTES: usize = 16 * 1024;

/// Races one node admits at once (searching or queued to search); a transaction beyond
/// this gets a `busy` error reply. Each holds at most one line, so this bounds memory.
pub const MAX_RACES_IN_FLIGHT: usize = 1024;

/// Searches one node runs at once; admitted races beyond this wait their turn. Several,
/// so a long search does not hold up every short one behind it.
pub const MAX_CONCURRENT_SEARCHES: usize = 4;

/// Events a WebSocket viewer may fall behind by before it skips ahead (with a notice).
pub const WS_EVENT_BUFFER: usize = 1024;

/// How long one WebSocket frame may take to send before the viewer is dropped.
pub const WS_SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Recent events a late viewer is sent before the live stream.
pub const EVENT_HISTORY: usize = 512;

/// Winning claims the ledger writer commits in one write + fsync + rename.
pub const MAX_COMMIT_GROUP: usize = 1024;

/// Claims waiting for the ledger writer; more wait for room.
pub const LEDGER_QUEUE: usize = 4096;

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

/// A copy of a transaction recorded among the ledger's last this-many entries, reaching a node
/// that has not raced it, is still mined (and lost), so every node's time can be compared; an
/// older one is answered `recorded`.
pub const LATE_COPY_WINDOW: u64 = 1024;
