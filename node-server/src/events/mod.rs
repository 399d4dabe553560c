//! Every step of a race as one typed stream per node.
//!
//! A node [`emit`](EventBus::emit)s an [`Event`] for each step: connected, received, started,
//! completed, won, lost, ledger updated, error. The stream is consumed by [`Sink`]s called in
//! order as the event happens (the terminal printer, the attempts log) and by any number of
//! subscribers (each WebSocket viewer), who first get the recent history.

pub mod attempts;
pub mod metrics;
pub mod printer;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use pow_core::chain::Entry;
use pow_core::Hash32;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::clock::Stamp;
use crate::limits::{EVENT_HISTORY, WS_EVENT_BUFFER};

/// One step of a race at one node. Serialized, this is the WebSocket schema (README, "Events").
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    /// Increasing per node, from 1.
    pub seq: u64,
    /// The node's name.
    pub node: Arc<str>,
    /// SHA-256 of the transaction data (absent on `connected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tx_id: Option<Hash32>,
    /// The transaction (absent on `connected`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_data: Option<Arc<str>>,
    /// The node's difficulty, in zero bytes.
    pub difficulty: u32,
    /// When it happened, `YYYY-MM-DD HH:MM:SS.ffffff` UTC.
    pub at: String,
    /// When it happened, microseconds since the Unix epoch.
    pub at_us: i64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// The figures of one finished proof of work.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Work {
    /// The nonce found.
    pub nonce: u64,
    /// Its hash.
    pub hash: Hash32,
    /// Seconds from start to end, unrounded (monotonic clock).
    pub time_taken: f64,
    /// Nonces hashed.
    pub hashes: u64,
    /// When the search started.
    pub start_time: String,
    /// When the search ended.
    pub end_time: String,
    /// The difficulty it was mined at, in zero bits.
    pub difficulty_bits: u32,
    /// How the race was run.
    pub race: pow_core::chain::RaceMode,
    /// Seconds from the transaction's arrival at the node to its first hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<f64>,
}

/// What happened, with the figures that belong to it.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A client connected (the lab's "got connection from").
    Connected {
        /// The client's address.
        peer: String,
    },
    /// A transaction arrived.
    Received {
        /// Where it came from (`nc` peer address or `http`).
        peer: String,
    },
    /// This node started its proof of work.
    Started {
        /// Same as `at`.
        start_time: String,
        /// The search kernel.
        kernel: &'static str,
        /// Threads searching.
        threads: usize,
    },
    /// This node found the nonce.
    Completed {
        /// The figures.
        #[serde(flatten)]
        work: Work,
        /// The search kernel.
        kernel: &'static str,
        /// Threads searching.
        threads: usize,
    },
    /// This node was first: its entry is durable in the ledger.
    Won {
        /// The figures.
        #[serde(flatten)]
        work: Work,
        /// The recorded entry.
        entry: Box<Entry>,
        /// The `entry_hash` of the ledger's first entry: which ledger the entry is in.
        ledger_id: Hash32,
    },
    /// Another node was first.
    Lost {
        /// The winner's name.
        winner: String,
        /// This node's end minus the winner's end, seconds (absent when aborted).
        #[serde(skip_serializing_if = "Option::is_none")]
        margin: Option<f64>,
        /// This node's figures (absent when aborted).
        #[serde(flatten)]
        work: Option<Work>,
        /// The search was stopped as soon as the race was decided (`--on-loss abort`).
        aborted: bool,
        /// Aborted: nonces hashed before stopping.
        #[serde(skip_serializing_if = "Option::is_none")]
        hashes: Option<u64>,
        /// Aborted: seconds spent before stopping.
        #[serde(skip_serializing_if = "Option::is_none")]
        time_taken: Option<f64>,
        /// Aborted: when the search started.
        #[serde(skip_serializing_if = "Option::is_none")]
        start_time: Option<String>,
    },
    /// The ledger gained an entry (sent by the winning node).
    LedgerUpdated {
        /// The entry.
        entry: Box<Entry>,
    },
    /// A race at this node failed (for example, the ledger could not be written).
    Error {
        /// What went wrong.
        error: String,
    },
}

impl EventKind {
    /// The `type` field's value.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Connected { .. } => "connected",
            Self::Received { .. } => "received",
            Self::Started { .. } => "started",
            Self::Completed { .. } => "completed",
            Self::Won { .. } => "won",
            Self::Lost { .. } => "lost",
            Self::LedgerUpdated { .. } => "ledger_updated",
            Self::Error { .. } => "error",
        }
    }
}

/// Something that sees every event of a node as it happens, in order. Sinks run on the
/// emitting task: they must be quick (print a line, queue a record).
pub trait Sink: Send + Sync {
    /// Called once per event.
    fn event(&self, event: &Event);
}

/// One node's event stream.
pub struct EventBus {
    node: Arc<str>,
    difficulty: u32,
    seq: AtomicU64,
    sinks: Vec<Arc<dyn Sink>>,
    live: broadcast::Sender<Arc<Event>>,
    // Held while sending on `live`, so a subscriber's history and live stream neither overlap
    // nor leave a gap.
    history: Mutex<VecDeque<Arc<Event>>>,
}

impl EventBus {
    /// A bus for `node` that calls `sinks` on every event.
    pub fn new(node: &str, difficulty: u32, sinks: Vec<Arc<dyn Sink>>) -> Self {
        let (live, _) = broadcast::channel(WS_EVENT_BUFFER);
        Self {
            node: node.into(),
            difficulty,
            seq: AtomicU64::new(0),
            sinks,
            live,
            history: Mutex::new(VecDeque::with_capacity(EVENT_HISTORY)),
        }
    }

    /// Records an event about transaction `tx` (if any) and hands it to every consumer.
    pub fn emit(&self, tx: Option<(&Hash32, &Arc<str>)>, kind: EventKind) -> Arc<Event> {
        let now = Stamp::now();
        let mut history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let event = Arc::new(Event {
            seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
            node: self.node.clone(),
            tx_id: tx.map(|(id, _)| *id),
            transaction_data: tx.map(|(_, data)| data.clone()),
            difficulty: self.difficulty,
            at: now.text(),
            at_us: now.micros(),
            kind,
        });
        for sink in &self.sinks {
            sink.event(&event);
        }
        if history.len() == EVENT_HISTORY {
            history.pop_front();
        }
        history.push_back(event.clone());
        // No subscriber is not an error: events are still kept in the history.
        let _ = self.live.send(event.clone());
        event
    }

    /// The recent history and a receiver for everything after it.
    pub fn subscribe(&self) -> (Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>) {
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.live.subscribe();
        (history.iter().cloned().collect(), rx)
    }

    /// The node's name.
    pub fn node(&self) -> &str {
        &self.node
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Collect(Mutex<Vec<String>>);
    impl Sink for Collect {
        fn event(&self, e: &Event) {
            self.0.lock().unwrap().push(e.kind.name().to_owned());
        }
    }

    #[test]
    fn sinks_history_and_subscribers_see_the_same_order() {
        let sink = Arc::new(Collect(Mutex::new(vec![])));
        let bus = EventBus::new("Node1", 2, vec![sink.clone()]);
        let tx = Hash32::digest(b"t");
        let data: Arc<str> = "t".into();
        bus.emit(Some((&tx, &data)), EventKind::Received { peer: "x".into() });
        let (history, mut rx) = bus.subscribe();
        bus.emit(
            Some((&tx, &data)),
            EventKind::Error {
                error: "boom".into(),
            },
        );
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].seq, 1);
        let next = rx.try_recv().unwrap();
        assert_eq!(next.seq, 2);
        assert_eq!(*sink.0.lock().unwrap(), ["received", "error"]);
        let json = serde_json::to_value(&*next).unwrap();
        assert_eq!(json["type"], "error");
        assert_eq!(json["node"], "Node1");
        assert_eq!(json["tx_id"], tx.to_string());
        assert!(json["at_us"].as_i64().unwrap() > 1_700_000_000_000_000);
    }
}
