//! The network: the one port and what it speaks.
//!
//! - [`server`]: the TCP port: tells `nc` lines from HTTP by the first line.
//! - [`protocol`]: the line protocol's request, reply and error formats.
//! - [`http`]: the HTTP and WebSocket routes (warp).
//! - [`origins`]: which web pages may talk to a node (`Origin`, `Host`, `--allow-origin`).
//! - [`assets`]: the dashboard's files, built into the binary.

pub mod assets;
pub mod http;
pub mod origins;
pub mod protocol;
pub mod server;
