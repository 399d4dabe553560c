//! The network side of a node: one TCP port that speaks two protocols, told apart by the
//! connection's first line. An HTTP request line, in any of its forms (`GET /status
//! HTTP/1.1`, `GET http://host/status HTTP/1.1`, `CONNECT host:443 HTTP/1.1`, `OPTIONS *
//! HTTP/1.1`, the HTTP/2 preface `PRI * HTTP/2.0`), is answered in HTTP: HTTP/1.x by the HTTP
//! and WebSocket routes ([`crate::net::http`]), the HTTP/2 preface with an HTTP/2 GOAWAY
//! (`HTTP_1_1_REQUIRED`), any other version with 505. Anything else is the lab's line
//! protocol ([`crate::net::protocol`]), as sent by `nc`.
//!
//! A connection over [`MAX_CONNECTIONS`] is refused in the protocol it speaks: 503 to HTTP,
//! a `too_many_connections` line otherwise.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::EventKind;
use crate::limits::{
    HTTP_IDLE_TIMEOUT, LINE_DEADLINE, LINGERING_CLOSE, LINGERING_CLOSE_BYTES, MAX_CONNECTIONS,
    MAX_HTTP_HEADER_BYTES, MAX_LINE_BYTES, MAX_LINGERING_REFUSALS, REFUSAL_PEEK_BYTES,
    REFUSAL_SNIFF_TIME, REPLY_LINGER, REPLY_SEND_TIMEOUT,
};
use crate::net::http::{ConnectionSlot, Routes};
use crate::net::origins::Origins;
use crate::net::protocol::{self, ErrorCode, ErrorReply, LineError};
use crate::race::node::Node;

/// Serves `node` on `listener` until `shutdown` is cancelled, admitting web pages by
/// `origins`. Connection tasks are tracked by `tracker`, so the caller can wait for them to
/// finish.
pub async fn run(
    listener: TcpListener,
    node: Arc<Node>,
    origins: Arc<Origins>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let routes = crate::net::http::routes(node.clone(), origins, shutdown.clone());
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let refusals = Arc::new(Semaphore::new(MAX_LINGERING_REFUSALS));
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(node = node.name(), "accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            // Wait for the first line (to answer in its protocol) and linger (so the answer
            // is not lost to a reset) only while few refusals are doing so: each holds a file
            // descriptor for up to REFUSAL_SNIFF_TIME + LINGERING_CLOSE, and a flood of them
            // would starve the other nodes of this process.
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                let node = node.clone();
                tracker.spawn(async move {
                    refuse_over_limit(stream, &node).await;
                    drop(refusal);
                });
            } else {
                // What has already arrived decides; a fresh socket's send buffer is empty,
                // so the answer fits without waiting.
                let mut first = [0u8; REFUSAL_PEEK_BYTES];
                let n = stream.try_read(&mut first).unwrap_or(0);
                let _ = stream.try_write(&over_limit_answer(&node, &first[..n]));
            }
            continue;
        };
        let (node, routes, shutdown) = (node.clone(), routes.clone(), shutdown.clone());
        tracker.spawn(handle(stream, peer, node, routes, shutdown, permit));
    }
}

/// The answer to a connection over [`MAX_CONNECTIONS`] whose first bytes are `first`: 503
/// if they are an HTTP request line, else the `too_many_connections` line.
fn over_limit_answer(node: &Node, first: &[u8]) -> Vec<u8> {
    let error = format!("too many connections: this node serves {MAX_CONNECTIONS} at once");
    let code = ErrorCode::TooManyConnections;
    let first_line = first
        .iter()
        .position(|&b| b == b'\n')
        .map_or(FirstLine::Other, |end| request_line(&first[..end]));
    match first_line {
        FirstLine::Http1 | FirstLine::OtherHttp => {
            http_error(node, 503, "Service Unavailable", &error, code)
        }
        // It could not read a 503; it is refused whatever the load.
        FirstLine::Http2Preface => http2_refusal(node),
        FirstLine::Other => error_reply(node, &error, code),
    }
}

const VERSION_ERROR: &str = "this node speaks HTTP/1.1 (and HTTP/1.0) only";

/// 505, for a request line of an HTTP version other than 1.0 and 1.1.
fn version_not_supported(node: &Node) -> Vec<u8> {
    http_error(
        node,
        505,
        "HTTP Version Not Supported",
        VERSION_ERROR,
        ErrorCode::HttpVersionNotSupported,
    )
}

/// The answer to the HTTP/2 preface, in HTTP/2 (an HTTP/2 client cannot read an HTTP/1.1
/// status line: curl reports an "empty reply"): the server's preface (an empty SETTINGS
/// frame), then GOAWAY with error `HTTP_1_1_REQUIRED` (RFC 9113, section 7), its debug data
/// the JSON error.
fn http2_refusal(node: &Node) -> Vec<u8> {
    const SETTINGS: u8 = 0x4;
    const GOAWAY: u8 = 0x7;
    const HTTP_1_1_REQUIRED: u32 = 0xd;
    let frame = |kind: u8, payload: &[u8]| {
        // length (24 bits), type, flags, stream 0
        let mut f = (payload.len() as u32).to_be_bytes()[1..].to_vec();
        f.extend_from_slice(&[kind, 0, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    };
    let debug = crate::json::to_vec(&ErrorReply {
        error: VERSION_ERROR.to_owned(),
        code: ErrorCode::HttpVersionNotSupported,
        node: node.name().to_owned(),
    })
    .expect("errors serialize");
    let mut goaway = 0u32.to_be_bytes().to_vec(); // last stream id: none was processed
    goaway.extend_from_slice(&HTTP_1_1_REQUIRED.to_be_bytes());
    goaway.extend_from_slice(&debug);
    let mut out = frame(SETTINGS, &[]);
    out.extend_from_slice(&frame(GOAWAY, &goaway));
    out
}

/// Refuses a connection over [`MAX_CONNECTIONS`] in its own protocol: reads its first line
/// (for up to [`REFUSAL_SNIFF_TIME`] and [`MAX_HTTP_HEADER_BYTES`]), answers, closes.
async fn refuse_over_limit(mut stream: TcpStream, node: &Node) {
    let deadline = Instant::now() + REFUSAL_SNIFF_TIME;
    let mut first = BytesMut::with_capacity(1024);
    while !first.contains(&b'\n') && first.len() < MAX_HTTP_HEADER_BYTES {
        first.reserve(1024);
        match timeout_at(deadline, stream.read_buf(&mut first)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => break,
        }
    }
    send(&mut stream, &over_limit_answer(node, &first)).await;
    lingering_close(stream).await;
}

/// A whole HTTP/1.1 error response with the JSON error body; the connection then closes.
fn http_error(node: &Node, status: u16, reason: &str, error: &str, code: ErrorCode) -> Vec<u8> {
    let body = crate::json::to_vec(&ErrorReply {
        error: error.to_owned(),
        code,
        node: node.name().to_owned(),
    })
    .expect("errors serialize");
    let retry = if status == 503 {
        "retry-after: 1\r\n"
    } else {
        ""
    };
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n{retry}connection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    out
}

async fn refuse(mut stream: TcpStream, node: &Node, error: String, code: ErrorCode) {
    send(&mut stream, &error_reply(node, &error, code)).await;
    lingering_close(stream).await;
}

/// Writes a reply; false if it failed or took longer than [`REPLY_SEND_TIMEOUT`] (a client
/// that does not read its replies), and the connection must close.
async fn send(stream: &mut TcpStream, bytes: &[u8]) -> bool {
    matches!(
        tokio::time::timeout(REPLY_SEND_TIMEOUT, stream.write_all(bytes)).await,
        Ok(Ok(()))
    )
}

/// Shuts down the write side, then reads and drops what the client still sends (bounded in
/// time and bytes) so the kernel does not reset the connection over unread data.
async fn lingering_close(mut stream: TcpStream) {
    let _ = stream.shutdown().await;
    let deadline = Instant::now() + LINGERING_CLOSE;
    let mut sink = vec![0u8; 16 * 1024];
    let mut total = 0;
    while total < LINGERING_CLOSE_BYTES {
        match timeout_at(deadline, stream.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => total += n,
            _ => break,
        }
    }
}

/// What a connection's first line is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FirstLine {
    /// An HTTP/1.0 or HTTP/1.1 request line: served by the HTTP routes.
    Http1,
    /// The HTTP/2 connection preface, `PRI * HTTP/2.0` (`curl --http2-prior-knowledge`):
    /// answered with HTTP/2's own refusal, a GOAWAY with `HTTP_1_1_REQUIRED`.
    Http2Preface,
    /// A request line of another HTTP version (`HTTP/3.0`, `HTTP/0.9`, ...): answered 505.
    OtherHttp,
    /// Not HTTP: a transaction line.
    Other,
}

/// Tells an HTTP request line from a transaction: `METHOD SP request-target SP HTTP/x.y`,
/// the method a token, the target in origin-form (`/status`), absolute-form
/// (`http://host/status`), authority-form (`host:443`) or asterisk-form (`*`). "GET the
/// milk" has no HTTP version: it is a transaction.
pub fn request_line(line: &[u8]) -> FirstLine {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let Some((method, rest)) = split_once(line, b' ') else {
        return FirstLine::Other;
    };
    let Some((target, version)) = rsplit_once(rest, b' ') else {
        return FirstLine::Other;
    };
    if !is_token(method) || !is_request_target(target) {
        return FirstLine::Other;
    }
    match version {
        b"HTTP/1.1" | b"HTTP/1.0" => FirstLine::Http1,
        b"HTTP/2.0" if method == b"PRI" && target == b"*" => FirstLine::Http2Preface,
        v if is_http_version(v) => FirstLine::OtherHttp,
        _ => FirstLine::Other,
    }
}

fn split_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().position(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

fn rsplit_once(s: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = s.iter().rposition(|&b| b == sep)?;
    Some((&s[..i], &s[i + 1..]))
}

/// An HTTP token (RFC 9110 `tchar`s), as methods are.
fn is_token(s: &[u8]) -> bool {
    !s.is_empty()
        && s.iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// `HTTP/` digits `.` digits (`HTTP/2` too).
fn is_http_version(v: &[u8]) -> bool {
    let Some(number) = v.strip_prefix(b"HTTP/") else {
        return false;
    };
    let (major, minor) = split_once(number, b'.').unwrap_or((number, b"0"));
    [major, minor]
        .iter()
        .all(|n| !n.is_empty() && n.iter().all(u8::is_ascii_digit))
}

/// Whether `t` begins like one of the four forms of request target and is printable ASCII
/// (a space inside is left to the HTTP parser to refuse, with 400).
fn is_request_target(t: &[u8]) -> bool {
    if t.is_empty() || !t.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return false;
    }
    if t[0] == b'/' || t == b"*" {
        return true;
    }
    // absolute-form: scheme "://"
    if let Some(i) = t.windows(3).position(|w| w == b"://") {
        let scheme = &t[..i];
        return scheme.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
    }
    // authority-form: host ":" port
    match rsplit_once(t, b':') {
        Some((host, port)) => {
            !host.is_empty()
                && !port.is_empty()
                && port.iter().all(u8::is_ascii_digit)
                && host
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b"-._~[]:%".contains(&b))
        }
        None => false,
    }
}

enum Read {
    Data,
    Eof,
    TimedOut,
    Shutdown,
    Failed,
}

async fn read_more(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    until: Instant,
    shutdown: &CancellationToken,
) -> Read {
    buf.reserve(8 * 1024);
    tokio::select! {
        _ = shutdown.cancelled() => Read::Shutdown,
        r = timeout_at(until, stream.read_buf(buf)) => match r {
            Err(_) => Read::TimedOut,
            Ok(Ok(0)) => Read::Eof,
            Ok(Ok(_)) => Read::Data,
            Ok(Err(_)) => Read::Failed,
        },
    }
}

async fn handle(
    mut stream: TcpStream,
    peer: SocketAddr,
    node: Arc<Node>,
    routes: Routes,
    shutdown: CancellationToken,
    slot: OwnedSemaphorePermit,
) {
    let deadline = Instant::now() + LINE_DEADLINE;
    let mut buf = BytesMut::with_capacity(1024);
    // Read the first line (or all there is, at EOF) to tell HTTP from a transaction line.
    let mut eof = false;
    let first_line_end = loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            break Some(i);
        }
        if buf.len() > MAX_LINE_BYTES.max(MAX_HTTP_HEADER_BYTES) + 1 {
            break None;
        }
        match read_more(&mut stream, &mut buf, deadline, &shutdown).await {
            Read::Data => {}
            Read::Eof => {
                eof = true;
                break None;
            }
            Read::TimedOut => {
                let error = format!(
                    "no complete line within {} s of connecting",
                    LINE_DEADLINE.as_secs()
                );
                return refuse(stream, &node, error, ErrorCode::LineTimeout).await;
            }
            Read::Shutdown | Read::Failed => return,
        }
    };
    // A first line cut short by the end of the stream is told apart the same way.
    let end = first_line_end.or(eof.then_some(buf.len()));
    match end.map_or(FirstLine::Other, |end| request_line(&buf[..end])) {
        FirstLine::Http1 => {
            let slot = Arc::new(ConnectionSlot::new(slot));
            return serve_http(stream, buf.freeze(), routes, slot, shutdown).await;
        }
        FirstLine::OtherHttp => {
            send(&mut stream, &version_not_supported(&node)).await;
            return lingering_close(stream).await;
        }
        FirstLine::Http2Preface => {
            send(&mut stream, &http2_refusal(&node)).await;
            return lingering_close(stream).await;
        }
        FirstLine::Other => {}
    }
    node.events().emit(
        None,
        EventKind::Connected {
            peer: peer.to_string(),
        },
    );
    lines(stream, peer, node, buf, eof, deadline, shutdown).await;
}

/// The line protocol: a reply per line, in order; see [`crate::net::protocol`] for the rules.
async fn lines(
    mut stream: TcpStream,
    peer: SocketAddr,
    node: Arc<Node>,
    mut buf: BytesMut,
    mut eof: bool,
    mut deadline: Instant,
    shutdown: CancellationToken,
) {
    let peer = peer.to_string();
    let mut answered = false;
    loop {
        while let Some(i) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(i + 1);
            match answer(&mut stream, &node, &peer, &line[..i]).await {
                Answered::KeepOpen => {}
                Answered::Close => return lingering_close(stream).await,
                // It does not read: lingering would wait on it for nothing.
                Answered::SendFailed => return,
            }
            answered = true;
            deadline = Instant::now() + LINE_DEADLINE;
        }
        if buf.len() > MAX_LINE_BYTES + 1 {
            let reply = error_reply(
                &node,
                &LineError::TooLong.to_string(),
                LineError::TooLong.code(),
            );
            send(&mut stream, &reply).await;
            return lingering_close(stream).await;
        }
        if eof {
            // A last line without its newline still counts.
            if !buf.is_empty() {
                let line = buf.split();
                answer(&mut stream, &node, &peer, &line).await;
            }
            let _ = stream.shutdown().await;
            return;
        }
        let waiting_for_more = buf.is_empty() && answered;
        let until = if waiting_for_more {
            deadline.min(Instant::now() + REPLY_LINGER)
        } else {
            deadline
        };
        match read_more(&mut stream, &mut buf, until, &shutdown).await {
            Read::Data => {}
            Read::Eof => eof = true,
            Read::TimedOut if waiting_for_more => {
                let _ = stream.shutdown().await;
                return;
            }
            Read::TimedOut => {
                let error = format!("no complete line within {} s", LINE_DEADLINE.as_secs());
                send(
                    &mut stream,
                    &error_reply(&node, &error, ErrorCode::LineTimeout),
                )
                .await;
                return lingering_close(stream).await;
            }
            Read::Shutdown | Read::Failed => return,
        }
    }
}

fn error_reply(node: &Node, error: &str, code: ErrorCode) -> Vec<u8> {
    protocol::to_line(&ErrorReply {
        error: error.to_owned(),
        code,
        node: node.name().to_owned(),
    })
}

/// What became of a connection after one answer.
enum Answered {
    /// Sent; the connection stays open for the next line.
    KeepOpen,
    /// Sent; the connection must close.
    Close,
    /// The reply could not be sent (within [`REPLY_SEND_TIMEOUT`]).
    SendFailed,
}

/// Answers one line.
async fn answer(stream: &mut TcpStream, node: &Arc<Node>, peer: &str, raw: &[u8]) -> Answered {
    let (reply, keep_open) = match protocol::parse_line(raw) {
        Ok(data) => match node.submit(data, peer).await {
            Ok(reply) => (protocol::to_line(&reply), true),
            Err(e) => (error_reply(node, &e.to_string(), e.code()), true),
        },
        Err(e) => (
            error_reply(node, &e.to_string(), e.code()),
            e != LineError::TooLong,
        ),
    };
    match (send(stream, &reply).await, keep_open) {
        (false, _) => Answered::SendFailed,
        (true, true) => Answered::KeepOpen,
        (true, false) => Answered::Close,
    }
}

/// A stream that first yields bytes already read from it.
struct Rewind {
    prefix: Bytes,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

async fn serve_http(
    stream: TcpStream,
    prefix: Bytes,
    routes: Routes,
    slot: Arc<ConnectionSlot>,
    shutdown: CancellationToken,
) {
    let io = hyper_util::rt::TokioIo::new(Rewind {
        prefix,
        inner: stream,
    });
    let routes = hyper_util::service::TowerToHyperService::new(warp::service(routes));
    // Every request carries the connection's slot, so a WebSocket viewer can keep it.
    let service = hyper::service::service_fn(move |mut request: hyper::Request<_>| {
        request.extensions_mut().insert(slot.clone());
        hyper::service::Service::call(&routes, request)
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HTTP_IDLE_TIMEOUT)
        .max_buf_size(MAX_HTTP_HEADER_BYTES)
        .serve_connection(io, service)
        .with_upgrades();
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            // Finish the request under way, then close instead of waiting on keep-alive.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("http connection: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_is_told_from_transactions_in_every_request_line_form() {
        use FirstLine::*;
        for (line, want) in [
            (&b"GET / HTTP/1.1\r"[..], Http1),
            (b"POST /tx HTTP/1.0", Http1),
            (b"GET http://127.0.0.1/status HTTP/1.1", Http1),
            (b"GET https://example.com:8443/a?b HTTP/1.1\r", Http1),
            (b"CONNECT 127.0.0.1:5000 HTTP/1.1", Http1),
            (b"CONNECT example.com:443 HTTP/1.1\r", Http1),
            (b"CONNECT [::1]:443 HTTP/1.1", Http1),
            (b"OPTIONS * HTTP/1.1", Http1),
            (b"get / HTTP/1.1", Http1),
            (b"BREW /pot HTTP/1.1", Http1),
            // A malformed target is still HTTP, for the parser to answer 400.
            (b"GET /a b HTTP/1.1", Http1),
            (b"PRI * HTTP/2.0\r", Http2Preface),
            (b"PRI * HTTP/2.0", Http2Preface),
            (b"GET / HTTP/2.0", OtherHttp),
            (b"GET / HTTP/2", OtherHttp),
            (b"GET / HTTP/3.0", OtherHttp),
            (b"GET / HTTP/0.9", OtherHttp),
            (b"GET / HTTP/1.2", OtherHttp),
            (b"GET the milk", Other),
            (b"GET / milk", Other),
            (b"GET /index.html", Other),
            (b"Gova and Emmanuel Blockchain Lab 3", Other),
            (b"Alice pays HTTP/1.1", Other),
            (b"Alice pays Bob HTTP/1.1", Other),
            (b"SM\r", Other),
            (b"Host: x\r", Other),
            (b"GET / HTTP/", Other),
            (b"GET / HTTP/1.x", Other),
            (b"GET \xc3\xa9 HTTP/1.1", Other),
            (b" GET / HTTP/1.1", Other),
            (b"", Other),
        ] {
            assert_eq!(
                request_line(line),
                want,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
