//! The terminal printer: the lab's lines, aligned, coloured on a terminal.
//!
//! ```text
//! Node2 got connection from 127.0.0.1:48756
//! Node2 received transaction: Gova and Emmanuel Blockchain Lab 3
//! Node2 started POW at 2025-02-13 19:16:07.019815
//! Node2 completed POW at 2025-02-13 19:16:07.087422
//! Node2 wins the POW competition!
//! Ledger updated with: {"node":"Node2",...}
//! Node3 finished POW, but another node already won.
//! ```

use std::io::{IsTerminal, Write};

use crate::events::{Event, EventKind, Sink};

/// Prints every event as one line on standard output.
pub struct Printer {
    width: usize,
    colour: bool,
}

const RESET: &str = "\x1b[0m";
const DIM: &str = "\x1b[2m";
const BOLD_GREEN: &str = "\x1b[1;32m";
const RED: &str = "\x1b[31m";
const NODE_COLOURS: [&str; 6] = [
    "\x1b[36m", "\x1b[35m", "\x1b[33m", "\x1b[34m", "\x1b[32m", "\x1b[91m",
];

impl Printer {
    /// A printer that pads node names to `width`; colours only on a terminal (and not when
    /// `NO_COLOR` is set).
    pub fn new(width: usize) -> Self {
        Self {
            width,
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    /// Prints a line that is not an event (such as `Node1 started on port 5000`).
    pub fn line(&self, node: &str, text: &str) {
        let line = format!("{} {text}", self.node(node));
        self.emit(&line);
    }

    fn emit(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        // A closed stdout must not stop the node.
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }

    fn node(&self, name: &str) -> String {
        let padded = format!("{name:<width$}", width = self.width);
        if !self.colour {
            return padded;
        }
        let digits: usize = name
            .bytes()
            .filter(u8::is_ascii_digit)
            .fold(0, |n, d| n * 10 + usize::from(d - b'0'));
        let colour = NODE_COLOURS[digits % NODE_COLOURS.len()];
        format!("{colour}{padded}{RESET}")
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        if self.colour {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_owned()
        }
    }

    /// The line for an event, or `None` for events the terminal does not show.
    pub fn format(&self, e: &Event) -> Option<String> {
        let node = self.node(&e.node);
        let data = e.transaction_data.as_deref().unwrap_or("");
        Some(match &e.kind {
            EventKind::Connected { peer } => format!("{node} got connection from {peer}"),
            EventKind::Received { peer } => match peer.strip_prefix("relay from ") {
                // From another host: say so, and when it reached that host.
                Some(origin) => format!(
                    "{node} received transaction: {data} {}",
                    self.paint(DIM, &format!("(relayed from {origin})"))
                ),
                None => format!("{node} received transaction: {data}"),
            },
            EventKind::Started { start_time, .. } => format!("{node} started POW at {start_time}"),
            EventKind::Completed { work, .. } => format!(
                "{node} completed POW at {} {}",
                work.end_time,
                self.paint(
                    DIM,
                    &format!(
                        "(time taken {} s, nonce {}, {} hashes)",
                        work.time_taken, work.nonce, work.hashes
                    )
                )
            ),
            EventKind::Won { .. } => {
                format!(
                    "{node} {}",
                    self.paint(BOLD_GREEN, "wins the POW competition!")
                )
            }
            EventKind::LedgerUpdated { entry } => format!(
                "{} {}",
                self.paint(BOLD_GREEN, "Ledger updated with:"),
                crate::json::to_string(entry).expect("entries serialize")
            ),
            EventKind::Lost {
                aborted: false,
                margin,
                ..
            } => format!(
                "{node} finished POW, but another node already won.{}",
                margin
                    .map(|m| self.paint(DIM, &format!(" ({m:+.6} s)")))
                    .unwrap_or_default()
            ),
            EventKind::Lost {
                aborted: true,
                winner,
                ..
            } => format!("{node} stopped POW: {winner} already won."),
            EventKind::Error { error } => {
                format!("{node} {}", self.paint(RED, &format!("error: {error}")))
            }
        })
    }
}

impl Sink for Printer {
    fn event(&self, e: &Event) {
        if let Some(line) = self.format(e) {
            self.emit(&line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use pow_core::chain::Entry;
    use pow_core::Hash32;

    use crate::events::Work;

    fn event(kind: EventKind) -> Event {
        Event {
            seq: 1,
            node: "Node1".into(),
            tx_id: None,
            transaction_data: Some(Arc::from("t")),
            difficulty: 0,
            at: "2026-11-24 04:16:47.724370".into(),
            at_us: 0,
            kind,
        }
    }

    #[test]
    fn small_times_are_plain_decimals() {
        let p = Printer {
            width: 5,
            colour: false,
        };
        let entry = Entry {
            node: "Node1".into(),
            transaction_data: "t".into(),
            nonce: 1,
            hash: Hash32::ZERO,
            time_taken: 4e-6,
            start_time: "2026-11-24 04:16:47.724370".into(),
            end_time: "2026-11-24 04:16:47.724374".into(),
            difficulty: 0,
            index: 0,
            tx_id: Hash32::digest(b"t"),
            prev_hash: Hash32::ZERO,
            entry_hash: Hash32::ZERO,
            ..Default::default()
        };
        let line = p
            .format(&event(EventKind::LedgerUpdated {
                entry: Box::new(entry),
            }))
            .unwrap();
        assert!(line.contains(r#""time_taken":0.000004,"#), "{line}");
        let work = Work {
            nonce: 1,
            hash: Hash32::ZERO,
            time_taken: 4e-6,
            hashes: 2,
            start_time: "s".into(),
            end_time: "e".into(),
            ..Default::default()
        };
        let line = p
            .format(&event(EventKind::Completed {
                work: work.clone(),
                kernel: "portable",
                threads: 1,
            }))
            .unwrap();
        assert!(line.contains("time taken 0.000004 s"), "{line}");
        let line = p
            .format(&event(EventKind::Lost {
                winner: "Node2".into(),
                margin: Some(4e-6),
                work: Some(work),
                aborted: false,
                hashes: None,
                time_taken: None,
                start_time: None,
            }))
            .unwrap();
        assert!(line.ends_with("(+0.000004 s)"), "{line}");
    }
}
