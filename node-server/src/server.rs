//! The network side of a node: one TCP port that speaks two protocols, told apart by the
//! connection's first line. An HTTP request line (`GET /status HTTP/1.1`) goes to the HTTP
//! and WebSocket routes ([`crate::http`]); anything else is the lab's line protocol
//! ([`crate::protocol`]), as sent by `nc`.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{timeout_at, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::EventKind;
use crate::http::Routes;
use crate::limits::{
    HTTP_IDLE_TIMEOUT, LINE_DEADLINE, MAX_CONNECTIONS, MAX_HTTP_HEADER_BYTES, MAX_LINE_BYTES,
    MAX_LINGERING_REFUSALS, REPLY_LINGER, REPLY_SEND_TIMEOUT,
};
use crate::node::Node;
use crate::protocol::{self, ErrorCode, ErrorReply, LineError};

/// After an error that closes a connection, how long the node keeps reading (and discarding)
/// what the client is still sending, so that the error line reaches it before the close.
const LINGERING_CLOSE: std::time::Duration = std::time::Duration::from_secs(1);
/// How much it reads at most while doing so.
const LINGERING_CLOSE_BYTES: usize = 4 * 1024 * 1024;

/// Serves `node` on `listener` until `shutdown` is cancelled. Connection tasks are tracked
/// by `tracker`, so the caller can wait for them to finish.
pub async fn run(
    listener: TcpListener,
    node: Arc<Node>,
    shutdown: CancellationToken,
    tracker: TaskTracker,
) {
    let routes = crate::http::routes(node.clone(), shutdown.clone());
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
            let error = format!("too many connections: this node serves {MAX_CONNECTIONS} at once");
            let line = error_reply(&node, &error, ErrorCode::TooManyConnections);
            // A fresh socket's send buffer is empty: the line fits without waiting.
            let _ = stream.try_write(&line);
            // Linger (so the line is not lost to a reset) only while few refusals are
            // lingering: each holds a file descriptor for up to a second, and a flood of
            // them would starve the other nodes of this process.
            if let Ok(refusal) = refusals.clone().try_acquire_owned() {
                tracker.spawn(async move {
                    lingering_close(stream).await;
                    drop(refusal);
                });
            }
            continue;
        };
        let (node, routes, shutdown) = (node.clone(), routes.clone(), shutdown.clone());
        tracker.spawn(async move {
            handle(stream, peer, node, routes, shutdown).await;
            drop(permit);
        });
    }
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

/// Whether a first line is an HTTP/1.x request line: `METHOD SP target SP HTTP/1.x`.
pub fn is_http_request_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    !method.is_empty()
        && method.iter().all(u8::is_ascii_uppercase)
        && (target.starts_with(b"/") || target == b"*")
        && (version == b"HTTP/1.1" || version == b"HTTP/1.0")
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
    if let Some(end) = first_line_end {
        if is_http_request_line(&buf[..end]) {
            return serve_http(stream, buf.freeze(), routes, shutdown).await;
        }
    }
    node.events().emit(
        None,
        EventKind::Connected {
            peer: peer.to_string(),
        },
    );
    lines(stream, peer, node, buf, eof, deadline, shutdown).await;
}

/// The line protocol: a reply per line, in order; see [`crate::protocol`] for the rules.
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

async fn serve_http(stream: TcpStream, prefix: Bytes, routes: Routes, shutdown: CancellationToken) {
    let io = hyper_util::rt::TokioIo::new(Rewind {
        prefix,
        inner: stream,
    });
    let service = hyper_util::service::TowerToHyperService::new(warp::service(routes));
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
    fn http_is_told_from_transactions() {
        assert!(is_http_request_line(b"GET / HTTP/1.1\r"));
        assert!(is_http_request_line(b"POST /tx HTTP/1.0"));
        assert!(!is_http_request_line(b"GET the milk"));
        assert!(!is_http_request_line(b"Gova and Emmanuel Blockchain Lab 3"));
        assert!(!is_http_request_line(b"get / HTTP/1.1"));
        assert!(!is_http_request_line(b"GET / HTTP/1.1 extra"));
    }
}
