//! powrace's node server (work in progress).
pub mod assets;
pub mod bench;
