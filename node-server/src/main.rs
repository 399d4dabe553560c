//! `node-server`: runs the nodes, and the commands around them. Parses the command line and
//! calls the library; exit codes: 0 ok, 1 a check failed (`verify`), 2 an error.

use std::process::ExitCode;

use clap::Parser as _;
use node_server::cli::args::{self, Cli};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match args::run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("node-server: {}", cause_chain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-separated, each said once: an error whose message already
/// ends with its cause's (`"{path}: {source}"` with `source` also its cause) would otherwise
/// print the cause twice.
fn cause_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.ends_with(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{path}: {source}")]
    struct Repeats {
        path: String,
        source: std::io::Error,
    }

    #[test]
    fn each_cause_is_printed_once() {
        let io = std::io::Error::from_raw_os_error(21);
        let text = io.to_string();
        let e = anyhow::Error::new(Repeats {
            path: "ledger.json".into(),
            source: io,
        })
        .context("cannot open the ledger");
        assert_eq!(format!("{e:#}").matches(&text).count(), 2, "{e:#}");
        assert_eq!(
            cause_chain(&e),
            format!("cannot open the ledger: ledger.json: {text}")
        );
        let plain = anyhow::anyhow!("inner").context("outer");
        assert_eq!(cause_chain(&plain), "outer: inner");
    }
}
