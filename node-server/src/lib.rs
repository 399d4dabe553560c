//! powrace's node server: proof-of-work nodes that race for one ledger.
//!
//! # Layout
//! - [`app`]: putting nodes together; start-up and graceful shutdown.
//! - [`node`]: one node: mines a transaction at most once and asks the arbiter if it won.
//! - [`race`]: who decides the winner: the [`race::Arbiter`] interface, and stopping losers.
//! - `etcd` (feature `etcd`): the store an arbiter across hosts is built on: claims decided
//!   by etcd transactions, the entries in order, node names, relay.
//! - [`ledger`]: `ledger.json`: format, durable group commits, the cross-process lock, loading.
//! - [`events`]: every step of a race as one typed stream per node.
//! - [`printer`]: the lab's terminal lines, from the events.
//! - [`metrics`]: Prometheus counters from the event stream (`GET /metrics`).
//! - [`attempts`]: the attempts log (JSON Lines) and the per-node report.
//! - [`plot`]: the report's charts as one SVG or PNG (`report --plot`).
//! - [`server`]: the TCP port: tells `nc` lines from HTTP by the first line.
//! - [`protocol`]: the line protocol's request, reply and error formats.
//! - [`http`]: the HTTP and WebSocket routes (warp).
//! - [`origins`]: which web pages may talk to a node (`Origin`, `Host`, `--allow-origin`).
//! - [`json`]: JSON as the node writes it (floats in plain decimal).
//! - [`assets`]: the dashboard's files, built into the binary.
//! - [`client`]: `submit`, the race from a client's side.
//! - [`commands`]: `mine` and `verify`.
//! - [`report`]: `report`: the nodes compared, and the experiment's figures, in bounded memory.
//! - [`bench`](mod@bench): `node-server bench`.
//! - [`ledger_bench`]: `node-server bench-ledger`: what a race costs as the ledger grows.
//! - [`limits`]: every limit, named.
//! - [`settings`]: settings given per node on the command line (`Node1=2,Node3=1`), hash rates.
//! - [`recent`]: a map that keeps only its newest keys (bounded memories).
//! - [`clock`]: microsecond UTC timestamps, and the host's monotonic clock.
//! - [`cluster`]: nodes on several hosts (`--etcd`): registration, relay, the cluster's pages.
#![warn(missing_docs)]

pub mod app;
pub mod assets;
pub mod attempts;
pub mod bench;
pub mod client;
pub mod clock;
pub mod cluster;
pub mod commands;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod events;
pub mod http;
pub mod json;
pub mod ledger;
pub mod ledger_bench;
pub mod limits;
pub mod metrics;
pub mod node;
pub mod origins;
pub mod plot;
pub mod printer;
pub mod protocol;
pub mod race;
pub mod recent;
pub mod report;
pub mod server;
pub mod settings;
