//! A node's HTTP and WebSocket routes (warp), served on the same port as the line protocol:
//! the dashboard page, `/status`, `/ledger`, `POST /tx` and the `/events` WebSocket.

use std::convert::Infallible;
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;
use warp::filters::BoxedFilter;
use warp::http::StatusCode;
use warp::ws::{Message, WebSocket};
use warp::{Filter, Rejection, Reply};

use crate::events::Event;
use crate::ledger::MAX_PAGE_ENTRIES;
use crate::limits::{MAX_LINE_BYTES, WS_SEND_TIMEOUT};
use crate::node::Node;
use crate::protocol::{self, ErrorCode, ErrorReply};

/// The routes of one node, boxed so they can be named and cloned per connection.
pub type Routes = BoxedFilter<(Box<dyn Reply>,)>;

/// A JSON reply with a status.
fn json_reply<T: serde::Serialize>(value: &T, status: StatusCode) -> Box<dyn Reply> {
    Box::new(warp::reply::with_status(warp::reply::json(value), status))
}

fn error(node: &Node, status: StatusCode, code: ErrorCode, error: String) -> Box<dyn Reply> {
    json_reply(
        &ErrorReply {
            error,
            code,
            node: node.name().to_owned(),
        },
        status,
    )
}

/// Builds the routes for `node`; WebSockets close when `shutdown` is cancelled.
pub fn routes(node: Arc<Node>, shutdown: CancellationToken) -> Routes {
    let with_node = {
        let node = node.clone();
        warp::any().map(move || node.clone())
    };

    let status = warp::path!("status")
        .and(warp::get())
        .and(with_node.clone())
        .map(|node: Arc<Node>| {
            let c = node.config();
            json_reply(
                &json!({
                    "node": c.name,
                    "difficulty": c.difficulty,
                    "kernel": c.kernel.name(),
                    "threads": c.threads,
                    "in_flight": node.in_flight(),
                    "races": node.races(),
                    "uptime_s": node.uptime(),
                    "on_loss": c.on_loss,
                    "ledger_entries": node.arbiter().ledger().len(),
                    "ledger_head": node.arbiter().ledger().head(),
                }),
                StatusCode::OK,
            )
        });

    let ledger = warp::path!("ledger")
        .and(warp::get())
        .and(warp::query::<LedgerQuery>())
        .and(with_node.clone())
        .map(|q: LedgerQuery, node: Arc<Node>| ledger_reply(&node, q));

    let tx = warp::path!("tx")
        .and(warp::post())
        .and(warp::body::content_length_limit(MAX_LINE_BYTES as u64 + 2))
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::body::bytes())
        .and(with_node.clone())
        .then(
            |content_type: Option<String>, body: bytes::Bytes, node: Arc<Node>| async move {
                submit(&node, content_type.as_deref(), &body).await
            },
        );

    let events = warp::path!("events")
        .and(warp::ws())
        .and(with_node.clone())
        .map(move |ws: warp::ws::Ws, node: Arc<Node>| {
            let shutdown = shutdown.clone();
            Box::new(ws.on_upgrade(move |socket| viewer(socket, node, shutdown))) as Box<dyn Reply>
        });

    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_node.clone())
        .map(|node: Arc<Node>| {
            Box::new(warp::reply::with_header(
                node.metrics().render(),
                "content-type",
                "text/plain; version=0.0.4; charset=utf-8",
            )) as Box<dyn Reply>
        });

    let page =
        warp::get()
            .and(warp::path::full())
            .and_then(|path: warp::path::FullPath| async move {
                match crate::assets::get(path.as_str()) {
                    Some((bytes, content_type)) => Ok(Box::new(warp::reply::with_header(
                        bytes,
                        "content-type",
                        content_type,
                    )) as Box<dyn Reply>),
                    None => Err(warp::reject::not_found()),
                }
            });

    let cors = warp::cors()
        .allow_any_origin()
        .allow_methods(["GET", "POST", "OPTIONS"])
        .allow_headers(["content-type"]);

    status
        .or(ledger)
        .unify()
        .or(tx)
        .unify()
        .or(events)
        .unify()
        .or(metrics)
        .unify()
        .or(page)
        .unify()
        .recover(move |r| rejection(node.clone(), r))
        .unify()
        .with(cors)
        .map(|r| Box::new(r) as Box<dyn Reply>)
        .boxed()
}

async fn rejection(node: Arc<Node>, r: Rejection) -> Result<Box<dyn Reply>, Infallible> {
    let (status, code, message) = if r.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such path".to_owned(),
        )
    } else if r.find::<warp::reject::PayloadTooLarge>().is_some() {
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::LineTooLong,
            format!("transaction is longer than {MAX_LINE_BYTES} bytes"),
        )
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest,
            "method not allowed".to_owned(),
        )
    } else {
        (
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("{r:?}"),
        )
    };
    Ok(error(&node, status, code, message))
}

/// `GET /ledger`'s query: both or neither.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct LedgerQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

/// `GET /ledger`: the whole ledger, streamed in constant memory; with `from` and `limit`, a
/// page of it (`x-ledger-entries` says how many entries the ledger has).
fn ledger_reply(node: &Arc<Node>, q: LedgerQuery) -> Box<dyn Reply> {
    let ledger = node.arbiter().ledger();
    let failed = |e: Arc<crate::ledger::LedgerError>| {
        error(
            node,
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::LedgerError,
            e.to_string(),
        )
    };
    match (q.from, q.limit) {
        (None, None) => match ledger.stream() {
            Ok(chunks) => {
                let len = chunks.len();
                // Each chunk is read off the async runtime's threads.
                let body = futures_util::stream::unfold(Some(chunks), |chunks| async move {
                    let mut chunks = chunks?;
                    let (next, chunks) =
                        tokio::task::spawn_blocking(move || (chunks.next(), chunks))
                            .await
                            .ok()?;
                    Some((next?.map(bytes::Bytes::from), Some(chunks)))
                });
                Box::new(warp::reply::with_header(
                    warp::reply::with_header(
                        warp::reply::stream(body),
                        "content-type",
                        "application/json",
                    ),
                    "content-length",
                    len.to_string(),
                ))
            }
            Err(e) => failed(e),
        },
        (Some(from), Some(limit)) if (1..=MAX_PAGE_ENTRIES).contains(&limit) => {
            match ledger.page(from, limit) {
                Ok((text, total)) => Box::new(warp::reply::with_header(
                    warp::reply::with_header(text, "content-type", "application/json"),
                    "x-ledger-entries",
                    total.to_string(),
                )),
                Err(e) => failed(e),
            }
        }
        _ => error(
            node,
            StatusCode::BAD_REQUEST,
            ErrorCode::BadRequest,
            format!("use /ledger, or /ledger?from=N&limit=M with 1 <= M <= {MAX_PAGE_ENTRIES}"),
        ),
    }
}

/// `POST /tx`: the body is the transaction (plain text, one line), or JSON
/// `{"transaction_data": "..."}` with `content-type: application/json`.
async fn submit(node: &Arc<Node>, content_type: Option<&str>, body: &[u8]) -> Box<dyn Reply> {
    let is_json = content_type.is_some_and(|t| t.starts_with("application/json"));
    let owned;
    let raw: &[u8] = if is_json {
        #[derive(serde::Deserialize)]
        struct Tx {
            transaction_data: String,
        }
        match serde_json::from_slice::<Tx>(body) {
            Ok(tx) => {
                owned = tx.transaction_data;
                owned.as_bytes()
            }
            Err(e) => {
                return error(
                    node,
                    StatusCode::BAD_REQUEST,
                    ErrorCode::BadRequest,
                    format!("expected {{\"transaction_data\": \"...\"}}: {e}"),
                )
            }
        }
    } else {
        body.strip_suffix(b"\n").unwrap_or(body)
    };
    let data = match protocol::parse_line(raw) {
        Ok(d) => d,
        Err(e) => {
            let status = if e == protocol::LineError::TooLong {
                StatusCode::PAYLOAD_TOO_LARGE
            } else {
                StatusCode::BAD_REQUEST
            };
            return error(node, status, e.code(), e.to_string());
        }
    };
    match node.submit(data, "http").await {
        Ok(reply) => json_reply(&reply, StatusCode::OK),
        Err(e) => {
            let status = match e.code() {
                ErrorCode::Busy | ErrorCode::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            error(node, status, e.code(), e.to_string())
        }
    }
}

fn event_message(event: &Event, replay: bool) -> Message {
    let mut value = serde_json::to_value(event).expect("events serialize");
    if replay {
        value["replay"] = json!(true);
    }
    Message::text(value.to_string())
}

/// One WebSocket viewer: a hello, the recent history, then live events. A viewer that falls
/// behind skips ahead with a notice; one that stops reading is dropped after a send timeout.
async fn viewer(socket: WebSocket, node: Arc<Node>, shutdown: CancellationToken) {
    let (mut tx, mut rx) = socket.split();
    let (history, mut live) = node.events().subscribe();
    let c = node.config();
    let hello = json!({
        "type": "hello",
        "node": c.name,
        "difficulty": c.difficulty,
        "kernel": c.kernel.name(),
        "threads": c.threads,
        "on_loss": c.on_loss,
        "server_time": crate::clock::Stamp::now().text(),
    });
    let hello = Message::text(hello.to_string());
    if !matches!(
        tokio::time::timeout(WS_SEND_TIMEOUT, tx.send(hello)).await,
        Ok(Ok(()))
    ) {
        return;
    }
    for event in history {
        if !matches!(
            tokio::time::timeout(WS_SEND_TIMEOUT, tx.send(event_message(&event, true))).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    loop {
        let msg = tokio::select! {
            _ = shutdown.cancelled() => break,
            incoming = rx.next() => match incoming {
                Some(Ok(m)) if m.is_close() => break,
                Some(Ok(_)) => continue,
                _ => break,
            },
            event = live.recv() => match event {
                Ok(e) => event_message(&e, false),
                Err(RecvError::Lagged(skipped)) => Message::text(
                    json!({"type": "notice", "node": c.name, "skipped": skipped,
                           "notice": "this viewer fell behind; events were skipped"})
                        .to_string(),
                ),
                Err(RecvError::Closed) => break,
            },
        };
        if !matches!(
            tokio::time::timeout(WS_SEND_TIMEOUT, tx.send(msg)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
    let _ = tx.send(Message::close()).await;
}
