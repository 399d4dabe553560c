//! powrace's node server: proof-of-work nodes that race for one ledger.
//!
//! # Layout
//! Folders by what each part serves:
//! - [`app`]: putting nodes together; start-up and graceful shutdown.
//! - [`race`]: who decides the winner: the [`race::Arbiter`] interface, and stopping losers.
//!   - [`race::node`]: one node: mines a transaction at most once and asks the arbiter if it won.
//!   - [`race::lock_arbiter`]: one host: the ledger's decide lock decides, a log records.
//!   - `race::etcd_arbiter` (feature `etcd`): several hosts: etcd decides.
//!   - [`race::cluster`]: nodes on several hosts (`--etcd`): registration, relay, the
//!     cluster's pages.
//! - `etcd` (feature `etcd`): the store an arbiter across hosts is built on: claims decided
//!   by etcd transactions, the entries in order, node names, relay.
//! - [`ledger`]: `ledger.json`: format, durable group commits, the cross-process lock, loading.
//! - [`events`]: every step of a race as one typed stream per node, and its consumers:
//!   - [`events::printer`]: the lab's terminal lines.
//!   - [`events::metrics`]: Prometheus counters (`GET /metrics`).
//!   - [`events::attempts`]: the attempts log (JSON Lines) and the per-node report.
//! - [`net`]: the network: one port, two protocols.
//!   - [`net::server`]: the TCP port: tells `nc` lines from HTTP by the first line.
//!   - [`net::protocol`]: the line protocol's request, reply and error formats.
//!   - [`net::http`]: the HTTP and WebSocket routes (warp).
//!   - [`net::origins`]: which web pages may talk to a node (`Origin`, `Host`,
//!     `--allow-origin`).
//!   - [`net::assets`]: the dashboard's files, built into the binary.
//! - [`experiment`]: what the attempts logs say.
//!   - [`experiment::report`]: `report`: the nodes compared, and the experiment's figures, in
//!     bounded memory.
//!   - [`experiment::plot`]: the report's charts as one SVG or PNG (`report --plot`).
//! - [`cli`]: the command line.
//!   - [`cli::args`]: clap's structs for every subcommand, and the dispatch to the library.
//!   - [`cli::client`]: `submit`, the race from a client's side.
//!   - [`cli::commands`]: `mine` and `verify`.
//!   - [`cli::bench`](mod@cli::bench): `node-server bench`.
//!   - [`cli::ledger_bench`]: `node-server bench-ledger`: what a race costs as the ledger
//!     grows.
//!
//! Small leaves shared by all:
//! - [`limits`]: every limit, named.
//! - [`settings`]: settings given per node on the command line (`Node1=2,Node3=1`), hash rates.
//! - [`json`]: JSON as the node writes it (floats in plain decimal).
//! - [`recent`]: a map that keeps only its newest keys (bounded memories).
//! - [`clock`]: microsecond UTC timestamps, and the host's monotonic clock.
#![warn(missing_docs)]

pub mod app;
pub mod cli;
pub mod clock;
#[cfg(feature = "etcd")]
pub mod etcd;
pub mod events;
pub mod experiment;
pub mod json;
pub mod ledger;
pub mod limits;
pub mod net;
pub mod race;
pub mod recent;
pub mod settings;
