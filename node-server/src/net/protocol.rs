//! The wire formats: a transaction line in, one JSON reply line out.
//!
//! A line is the transaction's data, UTF-8, ending in `\n` (a `\r\n` ending is the same line).
//! The reply is one JSON object on one line: a [`Reply`] for a race, or an [`ErrorReply`].
//! Connection rules (README, "Protocol"): a line over [`MAX_LINE_BYTES`] gets an error and
//! the connection closes (the stream cannot be resynchronised cheaply); any other bad line
//! gets an error and the connection stays open for the next line.

use pow_core::chain::Entry;
use pow_core::Hash32;
use serde::{Deserialize, Serialize};

use crate::limits::MAX_LINE_BYTES;

/// How this node's race ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// This node was first; `entry` is its durable ledger entry.
    Won,
    /// Another node was first; this node's figures and its margin to the winner.
    Lost,
    /// This node's search stopped when another node won (`--on-loss abort`).
    Aborted,
    /// The transaction was already in the ledger; nothing was mined.
    Recorded,
}

/// One node's answer to a transaction: the reply line of `nc` and the body of `POST /tx`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// This node.
    pub node: String,
    /// How its race ended.
    pub outcome: Outcome,
    /// SHA-256 of the transaction data.
    pub tx_id: Hash32,
    /// The transaction.
    pub transaction_data: String,
    /// Zero bytes required.
    pub difficulty: u32,
    /// The node whose entry is recorded.
    pub winner: String,
    /// The nonce (this node's own when it mined, else the recorded one).
    pub nonce: u64,
    /// Its hash.
    pub hash: Hash32,
    /// This node's start, when it mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    /// This node's end, when it mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    /// This node's time in seconds, unrounded, when it mined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_taken: Option<f64>,
    /// Nonces this node hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<u64>,
    /// Lost: this node's end minus the winner's end, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub margin: Option<f64>,
    /// The ledger entry of the winner.
    pub entry: Entry,
}

/// A request the node refused or could not complete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorReply {
    /// What went wrong, for people.
    pub error: String,
    /// What went wrong, for programs (see [`ErrorCode`]).
    pub code: ErrorCode,
    /// The node that answered.
    pub node: String,
}

/// The machine-readable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The line is longer than [`MAX_LINE_BYTES`]; the connection closes.
    LineTooLong,
    /// The line is not UTF-8.
    NotUtf8,
    /// The line holds a control character (tab is allowed).
    ControlCharacter,
    /// The line is empty.
    EmptyLine,
    /// No whole line arrived within the deadline; the connection closes.
    LineTimeout,
    /// The node has too many connections; the connection closes.
    TooManyConnections,
    /// The node has too many races in flight; try again.
    Busy,
    /// The ledger could not record the race (disk full, read-only, ...); nothing was written.
    LedgerError,
    /// The ledger could not be reached in time (a process holding its lock is stopped, or
    /// etcd is unreachable); the message says whether the decision stands.
    LedgerUnavailable,
    /// The race's decision was withdrawn before it was recorded; nothing was recorded, and the
    /// transaction can be sent again.
    Withdrawn,
    /// The node is shutting down.
    ShuttingDown,
    /// The node's search failed (an internal error); nothing was recorded.
    SearchFailed,
    /// An HTTP request the node does not serve.
    BadRequest,
    /// No such HTTP path.
    NotFound,
    /// An HTTP request from a web page whose origin is not allowed (`--allow-origin`): 403.
    ForbiddenOrigin,
    /// An HTTP request naming the node by a host name no allowed origin has (a DNS
    /// rebinding defence): 403.
    ForbiddenHost,
    /// The node has as many WebSocket viewers as it serves: 503.
    TooManyViewers,
    /// An HTTP version other than 1.0 and 1.1 (HTTP/2 prior knowledge, for one): 505.
    HttpVersionNotSupported,
    /// An HTTP request body larger than any transaction could need: 413.
    BodyTooLarge,
}

/// Why a line is not a transaction.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Longer than [`MAX_LINE_BYTES`].
    #[error("line is longer than {MAX_LINE_BYTES} bytes")]
    TooLong,
    /// Not UTF-8.
    #[error("line is not valid UTF-8 (first bad byte at offset {at})")]
    NotUtf8 {
        /// Byte offset of the first invalid byte.
        at: usize,
    },
    /// A control character other than tab.
    #[error("line holds control character U+{code:04X} at byte {at}; only tab is allowed")]
    ControlCharacter {
        /// Byte offset.
        at: usize,
        /// The character.
        code: u32,
    },
    /// Nothing but the line ending.
    #[error("empty line: send the transaction data, then a newline")]
    Empty,
}

impl LineError {
    /// The code for an [`ErrorReply`].
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::TooLong => ErrorCode::LineTooLong,
            Self::NotUtf8 { .. } => ErrorCode::NotUtf8,
            Self::ControlCharacter { .. } => ErrorCode::ControlCharacter,
            Self::Empty => ErrorCode::EmptyLine,
        }
    }
}

/// Turns one line (without its `\n`) into transaction data: strips one trailing `\r`, and
/// refuses what is too long, not UTF-8, empty, or holds control characters.
pub fn parse_line(raw: &[u8]) -> Result<&str, LineError> {
    parse_transaction(raw.strip_suffix(b"\r").unwrap_or(raw))
}

/// Checks transaction data that comes without a line ending (the string of a JSON body, a
/// command-line argument): the rules of [`parse_line`] once the ending is gone.
pub fn parse_transaction(raw: &[u8]) -> Result<&str, LineError> {
    if raw.len() > MAX_LINE_BYTES {
        return Err(LineError::TooLong);
    }
    let text = std::str::from_utf8(raw).map_err(|e| LineError::NotUtf8 {
        at: e.valid_up_to(),
    })?;
    if text.is_empty() {
        return Err(LineError::Empty);
    }
    if let Some((at, c)) = text
        .char_indices()
        .find(|&(_, c)| c.is_control() && c != '\t')
    {
        return Err(LineError::ControlCharacter {
            at,
            code: u32::from(c),
        });
    }
    Ok(text)
}

/// Serializes a reply as one line, newline included (floats in plain decimal: [`crate::json`]).
pub fn to_line<T: Serialize>(value: &T) -> Vec<u8> {
    let mut line = crate::json::to_vec(value).expect("replies serialize");
    line.push(b'\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_checked() {
        assert_eq!(parse_line(b"hello"), Ok("hello"));
        assert_eq!(parse_line(b"hello\r"), Ok("hello"));
        assert_eq!(parse_line(b"tab\there"), Ok("tab\there"));
        assert_eq!(parse_line("Ωmega ₿".as_bytes()), Ok("Ωmega ₿"));
        assert_eq!(parse_line(b""), Err(LineError::Empty));
        assert_eq!(parse_line(b"\r"), Err(LineError::Empty));
        assert_eq!(parse_line(b"a\xffb"), Err(LineError::NotUtf8 { at: 1 }));
        assert_eq!(
            parse_line(b"a\0b"),
            Err(LineError::ControlCharacter { at: 1, code: 0 })
        );
        assert_eq!(
            parse_line(&vec![b'a'; MAX_LINE_BYTES]).map(str::len),
            Ok(MAX_LINE_BYTES)
        );
        assert_eq!(
            parse_line(&vec![b'a'; MAX_LINE_BYTES + 1]),
            Err(LineError::TooLong)
        );
        // Without a line ending, a carriage return is a control character like any other.
        assert_eq!(parse_transaction(b"tab\there"), Ok("tab\there"));
        assert_eq!(
            parse_transaction(b"hello\r"),
            Err(LineError::ControlCharacter { at: 5, code: 13 })
        );
        assert_eq!(
            parse_transaction(b"multi A\nmulti B"),
            Err(LineError::ControlCharacter { at: 7, code: 10 })
        );
    }

    #[test]
    fn error_reply_is_one_json_line() {
        let e = ErrorReply {
            error: LineError::Empty.to_string(),
            code: LineError::Empty.code(),
            node: "Node1".into(),
        };
        let line = to_line(&e);
        assert_eq!(line.iter().filter(|&&b| b == b'\n').count(), 1);
        let back: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(back["code"], "empty_line");
    }
}
