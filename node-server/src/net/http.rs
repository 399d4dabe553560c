//! A node's HTTP and WebSocket routes (warp), served on the same port as the line protocol:
//! the dashboard page, `/status`, `/ledger`, `/metrics`, `POST /tx` and the `/events`
//! WebSocket.
//!
//! - Every request from a web page (one with an `Origin`) must come from an allowed origin,
//!   and every request must name the node by an allowed host ([`crate::net::origins`]); otherwise
//!   403. CORS headers allow exactly the allowed origins.
//! - `POST /tx` takes the transaction as the line protocol does, byte for byte: a text body is
//!   one line (one trailing `\n` or `\r\n` is its ending), a JSON body is an object with one
//!   key, `transaction_data`, whose string is the transaction itself.
//! - A viewer on `/events` keeps its connection's slot, counts against [`MAX_VIEWERS`], and
//!   may send nothing bigger than [`WS_MAX_INCOMING_MESSAGE`]; what the node owes it (events,
//!   pongs) is held up to [`WS_MAX_WRITE_BUFFER`], and a viewer that does not take it within
//!   [`WS_SEND_TIMEOUT`] is dropped.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::{Buf, BytesMut};
use futures_util::{SinkExt, Stream, StreamExt};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use warp::filters::BoxedFilter;
use warp::http::{header, HeaderValue, StatusCode};
use warp::ws::{Message, WebSocket};
use warp::{Filter, Rejection, Reply};

use crate::events::attempts::{self, Line};
use crate::events::Event;
use crate::ledger::MAX_PAGE_ENTRIES;
use crate::limits::{
    MAX_ATTEMPT_LINE_BYTES, MAX_LINE_BYTES, MAX_TX_JSON_BYTES, MAX_VIEWERS,
    WS_MAX_INCOMING_MESSAGE, WS_MAX_WRITE_BUFFER, WS_SEND_TIMEOUT,
};
use crate::net::origins::{Origins, Refused};
use crate::net::protocol::{self, ErrorCode, ErrorReply, LineError};
use crate::race::node::Node;

/// The routes of one node, boxed so they can be named and cloned per connection.
pub type Routes = BoxedFilter<(Box<dyn Reply>,)>;

/// A connection's place among the [`MAX_CONNECTIONS`](crate::limits::MAX_CONNECTIONS) of its
/// node, taken by the server when it accepts and held until the connection ends. The server
/// puts it on every request of an HTTP connection (a request extension,
/// `Arc<ConnectionSlot>`), so that a connection upgraded to a WebSocket hands it on to its
/// viewer here.
#[derive(Debug)]
pub struct ConnectionSlot(
    // Held, never read: dropping it frees the slot.
    #[allow(dead_code)] OwnedSemaphorePermit,
);

impl ConnectionSlot {
    /// The slot that `permit` (from the node's connection semaphore) holds.
    pub fn new(permit: OwnedSemaphorePermit) -> Self {
        Self(permit)
    }
}

/// The largest text body of `POST /tx`: the longest line and its `\r\n`.
const MAX_TX_TEXT_BYTES: usize = MAX_LINE_BYTES + 2;

/// A JSON reply with a status, floats in plain decimal ([`crate::json`]).
fn json_reply<T: serde::Serialize>(value: &T, status: StatusCode) -> Box<dyn Reply> {
    let body = crate::json::to_vec(value).expect("replies serialize");
    Box::new(warp::reply::with_status(
        warp::reply::with_header(body, header::CONTENT_TYPE, "application/json"),
        status,
    ))
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

/// A request refused by the origin rules.
#[derive(Debug)]
struct Forbidden(Refused);
impl warp::reject::Reject for Forbidden {}

/// A `POST /tx` whose `content-length` is over the limit (for JSON when `.0`).
#[derive(Debug)]
struct BodyTooLarge(bool);
impl warp::reject::Reject for BodyTooLarge {}

/// What every route of [`routes`] answers with: a reply, or a rejection for the next route.
type Route = (Box<dyn Reply>,);

/// Builds the routes for `node`, admitting browsers by `origins`; WebSockets close when
/// `shutdown` is cancelled.
pub fn routes(node: Arc<Node>, origins: Arc<Origins>, shutdown: CancellationToken) -> Routes {
    // The order of the `.or`s decides which route a request matches: the page, on any path,
    // comes last.
    let api = status_route(&node)
        .or(ledger_route(&node))
        .unify()
        .or(cluster_route(&node))
        .unify()
        .or(attempts_route(&node))
        .unify()
        .or(tx_route(&node))
        .unify()
        .or(events_route(&node, shutdown))
        .unify()
        .or(metrics_route(&node))
        .unify()
        .or(preflight_route())
        .unify()
        .or(page_route())
        .unify()
        .recover({
            let node = node.clone();
            move |r| rejection(node.clone(), r)
        })
        .unify();

    origin_guard(origins)
        .and(api)
        .map(with_cors)
        .recover(move |r| rejection(node.clone(), r))
        .unify()
        .boxed()
}

/// Hands each request its own reference to `node`.
fn with_node(node: &Arc<Node>) -> impl Filter<Extract = (Arc<Node>,), Error = Infallible> + Clone {
    let node = node.clone();
    warp::any().map(move || node.clone())
}

/// GET or HEAD: HEAD is GET without the body (hyper leaves the body out).
fn read() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::get().or(warp::head()).unify()
}

/// `GET /status`: the node's configuration and counters.
fn status_route(node: &Arc<Node>) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::path!("status")
        .and(read())
        .and(with_node(node))
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
                    "race": c.race,
                    "difficulty_bits": node.next_difficulty().0,
                    "target_time_s": c.target_time.map(|t| t.as_secs_f64()),
                    "hash_rate_cap": c.hash_rate,
                    "ledger_entries": node.arbiter().ledger().len(),
                    "ledger_head": node.arbiter().ledger().head(),
                }),
                StatusCode::OK,
            )
        })
}

/// `GET /ledger?…`: a page of the ledger ([`LedgerQuery`]).
fn ledger_route(node: &Arc<Node>) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::path!("ledger")
        .and(read())
        .and(warp::query::<Vec<(String, String)>>())
        .and(with_node(node))
        .map(
            |q: Vec<(String, String)>, node: Arc<Node>| match LedgerQuery::parse(&q) {
                Ok(q) => ledger_reply(&node, q),
                Err(why) => error(&node, StatusCode::BAD_REQUEST, ErrorCode::BadRequest, why),
            },
        )
}

/// `GET /cluster`: the etcd cluster's nodes, or this process's peers.
fn cluster_route(node: &Arc<Node>) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::path!("cluster")
        .and(read())
        .and(with_node(node))
        .then(|node: Arc<Node>| async move {
            match node.arbiter().cluster() {
                Some(nodes) => match nodes.await {
                    Ok(nodes) => {
                        json_reply(&json!({"cluster": "etcd", "nodes": nodes}), StatusCode::OK)
                    }
                    Err(e) => error(
                        &node,
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorCode::LedgerUnavailable,
                        format!("the cluster's node list is unavailable: {e}"),
                    ),
                },
                None => json_reply(
                    &json!({"cluster": null, "nodes": node.peers()}),
                    StatusCode::OK,
                ),
            }
        })
}

/// `POST /tx`: a transaction raced as the line protocol races it.
fn tx_route(node: &Arc<Node>) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::path!("tx")
        .and(warp::post())
        .and(warp::header::optional::<String>("content-type"))
        .and(warp::header::optional::<u64>("content-length"))
        .and_then(
            |content_type: Option<String>, length: Option<u64>| async move {
                let json = is_json(content_type.as_deref());
                let limit = if json {
                    MAX_TX_JSON_BYTES
                } else {
                    MAX_TX_TEXT_BYTES
                };
                // Refused before a byte of the body is read; a chunked body is counted as it comes.
                match length {
                    Some(n) if n > limit as u64 => Err(warp::reject::custom(BodyTooLarge(json))),
                    _ => Ok((json, limit)),
                }
            },
        )
        .untuple_one()
        .and(warp::body::stream())
        .and(with_node(node))
        .then(
            |json: bool, limit: usize, body, node: Arc<Node>| async move {
                match read_body(body, limit).await {
                    Ok(body) => submit(&node, json, &body).await,
                    Err(BodyError::TooLarge) => too_large(&node, json),
                    Err(BodyError::Failed(e)) => error(
                        &node,
                        StatusCode::BAD_REQUEST,
                        ErrorCode::BadRequest,
                        format!("cannot read the body: {e}"),
                    ),
                }
            },
        )
}

/// `/events`: the WebSocket of a viewer, one of at most [`MAX_VIEWERS`] at once.
fn events_route(
    node: &Arc<Node>,
    shutdown: CancellationToken,
) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    let viewers = Arc::new(Semaphore::new(MAX_VIEWERS));
    warp::path!("events")
        .and(warp::ws())
        .and(warp::ext::optional::<Arc<ConnectionSlot>>())
        .and(with_node(node))
        .map(
            move |ws: warp::ws::Ws, slot: Option<Arc<ConnectionSlot>>, node: Arc<Node>| {
                let Ok(seat) = viewers.clone().try_acquire_owned() else {
                    return error(
                        &node,
                        StatusCode::SERVICE_UNAVAILABLE,
                        ErrorCode::TooManyViewers,
                        format!("this node serves {MAX_VIEWERS} viewers at once; try again later"),
                    );
                };
                let shutdown = shutdown.clone();
                // Viewers have nothing to send: a close or a ping at most. What the node
                // sends a viewer (events, and the pongs it owes) is held up to a limit.
                let ws = ws
                    .max_frame_size(WS_MAX_INCOMING_MESSAGE)
                    .max_message_size(WS_MAX_INCOMING_MESSAGE)
                    .max_write_buffer_size(WS_MAX_WRITE_BUFFER);
                Box::new(ws.on_upgrade(move |socket| async move {
                    viewer(socket, node, shutdown).await;
                    // The viewer holds its seat and its connection's slot to the end.
                    drop((seat, slot));
                })) as Box<dyn Reply>
            },
        )
}

/// `GET /attempts`: the node's attempts log.
fn attempts_route(node: &Arc<Node>) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::path!("attempts")
        .and(read())
        .and(with_node(node))
        .map(|node: Arc<Node>| attempts_reply(&node))
}

/// `GET /metrics`: Prometheus text.
fn metrics_route(node: &Arc<Node>) -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::path!("metrics")
        .and(read())
        .and(with_node(node))
        .map(|node: Arc<Node>| {
            Box::new(warp::reply::with_header(
                node.metrics().render(),
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )) as Box<dyn Reply>
        })
}

/// A CORS preflight (or a plain OPTIONS, `OPTIONS *` included), on any path. Other methods
/// pass by as not found, not as 405: a GET of an unknown path is a 404.
fn preflight_route() -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    warp::method()
        .and_then(|method: warp::http::Method| async move {
            if method == warp::http::Method::OPTIONS {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
        .and(warp::header::optional::<String>(
            "access-control-request-headers",
        ))
        .map(|request_headers: Option<String>| {
            let mut res = warp::reply::Response::new(Default::default());
            *res.status_mut() = StatusCode::NO_CONTENT;
            let h = res.headers_mut();
            h.insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOWED_METHODS),
            );
            if request_headers.is_some() {
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    HeaderValue::from_static("content-type"),
                );
            }
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static("600"),
            );
            Box::new(res) as Box<dyn Reply>
        })
}

/// GET or HEAD of any other path: the dashboard's files ([`crate::assets`]).
fn page_route() -> impl Filter<Extract = Route, Error = Rejection> + Clone {
    read()
        .and(warp::path::full())
        .and_then(|path: warp::path::FullPath| async move {
            match crate::net::assets::get(path.as_str()) {
                Some((bytes, content_type)) => Ok(Box::new(warp::reply::with_header(
                    bytes,
                    header::CONTENT_TYPE,
                    content_type,
                )) as Box<dyn Reply>),
                None => Err(warp::reject::not_found()),
            }
        })
}

/// Lets a request through only from an allowed origin to an allowed host (else [`Forbidden`]),
/// with its `Origin`.
fn origin_guard(
    origins: Arc<Origins>,
) -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    warp::header::optional::<String>("origin")
        .and(warp::host::optional())
        .and_then(
            move |origin: Option<String>, host: Option<warp::host::Authority>| {
                let verdict = origins.check(origin.as_deref(), host.as_ref().map(|h| h.as_str()));
                async move {
                    match verdict {
                        Ok(()) => Ok(origin),
                        Err(refused) => Err(warp::reject::custom(Forbidden(refused))),
                    }
                }
            },
        )
}

/// The CORS headers of a reply to a request from `origin` (one the guard let through).
fn with_cors(origin: Option<String>, reply: Box<dyn Reply>) -> Box<dyn Reply> {
    let mut res = reply.into_response();
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("origin"));
    // Only an allowed origin gets here: let its page read the answer.
    if let Some(Ok(origin)) = origin.map(HeaderValue::try_from) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        // A page's view of another node's ledger needs its length.
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-ledger-entries"),
        );
    }
    Box::new(res) as Box<dyn Reply>
}

const ALLOWED_METHODS: &str = "GET, HEAD, POST, OPTIONS";

async fn rejection(node: Arc<Node>, r: Rejection) -> Result<Box<dyn Reply>, Infallible> {
    if let Some(Forbidden(refused)) = r.find() {
        let code = match refused {
            Refused::Origin(_) => ErrorCode::ForbiddenOrigin,
            Refused::Host(_) => ErrorCode::ForbiddenHost,
        };
        return Ok(error(
            &node,
            StatusCode::FORBIDDEN,
            code,
            refused.to_string(),
        ));
    }
    if let Some(BodyTooLarge(json)) = r.find() {
        return Ok(too_large(&node, *json));
    }
    let (status, code, message) = if r.is_not_found() {
        (
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no such path".to_owned(),
        )
    } else if r.find::<warp::reject::MethodNotAllowed>().is_some() {
        let mut res = error(
            &node,
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::BadRequest,
            "method not allowed".to_owned(),
        )
        .into_response();
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS));
        return Ok(Box::new(res));
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
#[derive(Debug, Default)]
struct LedgerQuery {
    from: Option<u64>,
    limit: Option<u64>,
}

impl LedgerQuery {
    /// The query's pairs, or what is wrong with which parameter.
    fn parse(pairs: &[(String, String)]) -> Result<Self, String> {
        let mut q = LedgerQuery::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "from" => &mut q.from,
                "limit" => &mut q.limit,
                _ => {
                    return Err(format!(
                        "unknown parameter {name:?}: /ledger takes from and limit"
                    ))
                }
            };
            if slot.is_some() {
                return Err(format!("{name} is given twice"));
            }
            *slot = Some(value.parse().map_err(|_| {
                format!("{name} must be a whole number (0 or more), not {value:?}")
            })?);
        }
        Ok(q)
    }
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

/// `GET /attempts`: this node's lines of the attempts log (JSON Lines), streamed in bounded
/// memory, so `report --cluster` can gather every node's attempts, each once. A line over
/// [`MAX_ATTEMPT_LINE_BYTES`] is no attempt: it is read no further and left out.
fn attempts_reply(node: &Arc<Node>) -> Box<dyn Reply> {
    use std::io::BufRead;
    let path = attempts::path_for(node.arbiter().ledger().path());
    let name = node.name().to_owned();
    let reader = match std::fs::File::open(&path) {
        Ok(f) => Some(std::io::BufReader::new(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return error(
                node,
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::LedgerError,
                format!("{}: {e}", path.display()),
            )
        }
    };
    // Each step reads up to a chunk's worth of this node's lines, off the async runtime.
    let body = futures_util::stream::unfold(reader, move |reader| {
        let (name, path) = (name.clone(), path.clone());
        async move {
            let mut reader = reader?;
            let (chunk, reader) = tokio::task::spawn_blocking(move || {
                let mut out = Vec::new();
                let mut line = Vec::new();
                while out.len() < crate::ledger::STREAM_CHUNK {
                    match attempts::read_line(&mut reader, &mut line) {
                        Ok(Line::End) | Err(_) => return (out, None),
                        Ok(Line::TooLong) => {
                            tracing::warn!(
                                "{}: a line longer than {MAX_ATTEMPT_LINE_BYTES} bytes (no \
                                 attempt is that long) left out of GET /attempts",
                                path.display()
                            );
                            if reader.skip_until(b'\n').is_err() {
                                return (out, None);
                            }
                            continue;
                        }
                        Ok(Line::Read) => {}
                    }
                    #[derive(serde::Deserialize)]
                    struct Who {
                        node: String,
                    }
                    if serde_json::from_slice::<Who>(&line).is_ok_and(|w| w.node == name)
                        && line.ends_with(b"\n")
                    {
                        out.extend_from_slice(&line);
                    }
                }
                (out, Some(reader))
            })
            .await
            .ok()?;
            if chunk.is_empty() && reader.is_none() {
                return None;
            }
            Some((Ok::<_, std::io::Error>(bytes::Bytes::from(chunk)), reader))
        }
    });
    Box::new(warp::reply::with_header(
        warp::reply::stream(body),
        header::CONTENT_TYPE,
        "application/jsonl",
    ))
}

/// 413: a text body over the longest line is a line too long; a JSON body over its limit
/// is too large whatever it holds.
fn too_large(node: &Node, json: bool) -> Box<dyn Reply> {
    let (code, message) = if json {
        (
            ErrorCode::BodyTooLarge,
            format!(
                "a JSON body is at most {MAX_TX_JSON_BYTES} bytes (a {MAX_LINE_BYTES}-byte \
                 transaction, every character escaped)"
            ),
        )
    } else {
        (ErrorCode::LineTooLong, LineError::TooLong.to_string())
    };
    error(node, StatusCode::PAYLOAD_TOO_LARGE, code, message)
}

/// Whether a `content-type` is JSON: `application/json`, in any case, with any parameters.
fn is_json(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|t| {
        t.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/json")
    })
}

enum BodyError {
    TooLarge,
    Failed(warp::Error),
}

/// Reads a body of at most `limit` bytes, stopping as soon as it is over: a chunked body
/// cannot make the node hold more.
async fn read_body<B: Buf>(
    body: impl Stream<Item = Result<B, warp::Error>>,
    limit: usize,
) -> Result<BytesMut, BodyError> {
    let mut out = BytesMut::new();
    futures_util::pin_mut!(body);
    while let Some(chunk) = body.next().await {
        let mut chunk = chunk.map_err(BodyError::Failed)?;
        if out.len() + chunk.remaining() > limit {
            return Err(BodyError::TooLarge);
        }
        while chunk.has_remaining() {
            let part = chunk.chunk();
            out.extend_from_slice(part);
            let n = part.len();
            chunk.advance(n);
        }
    }
    Ok(out)
}

/// The JSON body of `POST /tx`: exactly `{"transaction_data": "..."}` (an object, that key
/// once, nothing else: serde refuses a repeated or an unknown key).
#[derive(serde::Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = r#"an object {"transaction_data": "..."}"#
)]
struct TxBody {
    transaction_data: String,
}

impl TxBody {
    /// Parses a body. A derived struct also takes its fields as a JSON array (`["..."]`),
    /// which is not the object the route documents: that is refused here.
    fn parse(body: &[u8]) -> Result<TxBody, serde_json::Error> {
        if body.trim_ascii_start().starts_with(b"[") {
            return Err(serde::de::Error::invalid_type(
                serde::de::Unexpected::Seq,
                &r#"an object {"transaction_data": "..."}"#,
            ));
        }
        serde_json::from_slice(body)
    }
}

/// Turns a `POST /tx` body into the transaction, by the line protocol's rules.
fn transaction(json: bool, body: &[u8]) -> Result<String, (StatusCode, ErrorCode, String)> {
    let refused = |e: LineError| {
        let status = if e == LineError::TooLong {
            StatusCode::PAYLOAD_TOO_LARGE
        } else {
            StatusCode::BAD_REQUEST
        };
        (status, e.code(), e.to_string())
    };
    if json {
        let TxBody {
            transaction_data: data,
        } = TxBody::parse(body).map_err(|e| {
            (
                StatusCode::BAD_REQUEST,
                ErrorCode::BadRequest,
                format!("expected {{\"transaction_data\": \"...\"}}: {e}"),
            )
        })?;
        // The string is the transaction itself: no line ending to strip.
        protocol::parse_transaction(data.as_bytes()).map_err(refused)?;
        Ok(data)
    } else {
        // One line: its `\n` (or `\r\n`) ending, then exactly what `nc` would send.
        let line = body.strip_suffix(b"\n").unwrap_or(body);
        protocol::parse_line(line)
            .map(str::to_owned)
            .map_err(refused)
    }
}

/// `POST /tx`: the body is the transaction (plain text, one line), or JSON
/// `{"transaction_data": "..."}` with `content-type: application/json`.
async fn submit(node: &Arc<Node>, json: bool, body: &[u8]) -> Box<dyn Reply> {
    let data = match transaction(json, body) {
        Ok(data) => data,
        Err((status, code, message)) => return error(node, status, code, message),
    };
    match node.submit(&data, "http").await {
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

fn text_message(value: &serde_json::Value) -> Message {
    Message::text(crate::json::to_string(value).expect("events serialize"))
}

fn event_message(event: &Event, replay: bool) -> Message {
    let mut value = serde_json::to_value(event).expect("events serialize");
    if replay {
        value["replay"] = json!(true);
    }
    text_message(&value)
}

/// One WebSocket viewer: a hello, the recent history, then live events. A viewer that falls
/// behind skips ahead with a notice; one that stops reading is dropped after a send timeout
/// (an event's, or a pong's: a viewer that pings without reading is dropped too); one that
/// sends more than a control frame's worth is dropped.
async fn viewer(socket: WebSocket, node: Arc<Node>, shutdown: CancellationToken) {
    let (mut tx, mut rx) = socket.split();
    let (history, mut live) = node.events().subscribe();
    let c = node.config();
    let hello = text_message(&json!({
        "type": "hello",
        "node": c.name,
        "difficulty": c.difficulty,
        "kernel": c.kernel.name(),
        "threads": c.threads,
        "on_loss": c.on_loss,
        "race": c.race,
        "difficulty_bits": node.next_difficulty().0,
        "target_time_s": c.target_time.map(|t| t.as_secs_f64()),
        "hash_rate_cap": c.hash_rate,
        "server_time": crate::clock::Stamp::now().text(),
    }));
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
                // A ping is owed a pong (queued by the WebSocket, within its write buffer):
                // sent before the next ping is read, or the viewer is dropped. One that pings
                // and never reads cannot make the node queue pongs for it.
                Some(Ok(m)) if m.is_ping() => {
                    if !matches!(
                        tokio::time::timeout(WS_SEND_TIMEOUT, tx.flush()).await,
                        Ok(Ok(()))
                    ) {
                        return;
                    }
                    continue;
                }
                Some(Ok(_)) => continue,
                // Over WS_MAX_INCOMING_MESSAGE, a protocol error, or gone: drop it.
                _ => return,
            },
            event = live.recv() => match event {
                Ok(e) => event_message(&e, false),
                Err(RecvError::Lagged(skipped)) => text_message(
                    &json!({"type": "notice", "node": c.name, "skipped": skipped,
                           "notice": "this viewer fell behind; events were skipped"}),
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
    let _ = tokio::time::timeout(WS_SEND_TIMEOUT, tx.send(Message::close())).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(json: bool, body: &[u8]) -> String {
        transaction(json, body).unwrap_or_else(|e| panic!("{body:?}: {e:?}"))
    }

    fn code(json: bool, body: &[u8]) -> (u16, ErrorCode) {
        let (status, code, _) = transaction(json, body).unwrap_err();
        (status.as_u16(), code)
    }

    #[test]
    fn text_bodies_follow_the_line_protocol() {
        assert_eq!(ok(false, b"tx"), "tx");
        assert_eq!(ok(false, b"tx\n"), "tx");
        assert_eq!(ok(false, b"tx\r\n"), "tx");
        assert_eq!(ok(false, b"tx\r"), "tx");
        assert_eq!(ok(false, b"tab\there"), "tab\there");
        assert_eq!(code(false, b"tx\r\r\n"), (400, ErrorCode::ControlCharacter));
        assert_eq!(code(false, b"a\nb"), (400, ErrorCode::ControlCharacter));
        assert_eq!(code(false, b"a\nb\n"), (400, ErrorCode::ControlCharacter));
        assert_eq!(code(false, b"tx\n\n"), (400, ErrorCode::ControlCharacter));
        assert_eq!(code(false, b""), (400, ErrorCode::EmptyLine));
        assert_eq!(code(false, b"\n"), (400, ErrorCode::EmptyLine));
        assert_eq!(code(false, b"\xff"), (400, ErrorCode::NotUtf8));
        let longest = vec![b'L'; MAX_LINE_BYTES];
        assert_eq!(ok(false, &longest).len(), MAX_LINE_BYTES);
        assert_eq!(
            ok(false, &[&longest[..], b"\r\n"].concat()).len(),
            MAX_LINE_BYTES
        );
        assert_eq!(
            code(false, &[&longest[..], b"M"].concat()),
            (413, ErrorCode::LineTooLong)
        );
    }

    #[test]
    fn json_bodies_are_one_object_with_one_key() {
        assert_eq!(ok(true, br#"{"transaction_data": "tx"}"#), "tx");
        assert_eq!(ok(true, br#" { "transaction_data" : "\u0074x" } "#), "tx");
        assert_eq!(
            ok(true, "{\"transaction_data\":\"Ωmega\\t₿\"}".as_bytes()),
            "Ωmega\t₿"
        );
        for bad in [
            &br#"["tx"]"#[..],
            br#""tx""#,
            br#"{}"#,
            br#"{"transaction_data": "a", "transaction_data": "b"}"#,
            br#"{"transaction_data": "a", "node": "Mallory"}"#,
            br#"{"transaction_data": 5}"#,
            br#"{"transaction_data": "a"} trailing"#,
            br#"{"transaction_data": "\ud800"}"#,
            b"not json",
        ] {
            assert_eq!(
                code(true, bad),
                (400, ErrorCode::BadRequest),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        // Each refusal says what is wrong.
        let says = |body: &[u8]| transaction(true, body).unwrap_err().2;
        for (body, what) in [
            (
                &br#"["tx"]"#[..],
                "invalid type: sequence, expected an object",
            ),
            (
                br#""tx""#,
                "invalid type: string \"tx\", expected an object",
            ),
            (br#"{}"#, "missing field `transaction_data`"),
            (
                br#"{"transaction_data": "a", "transaction_data": "b"}"#,
                "duplicate field `transaction_data`",
            ),
            (
                br#"{"transaction_data": "a", "node": "Mallory"}"#,
                "unknown field `node`, expected `transaction_data`",
            ),
        ] {
            let message = says(body);
            assert!(
                message.starts_with(r#"expected {"transaction_data": "..."}: "#)
                    && message.contains(what),
                "{}: {message}",
                String::from_utf8_lossy(body)
            );
        }
        // The decoded string is checked, without a line ending to strip.
        assert_eq!(
            code(true, br#"{"transaction_data": "a\nb"}"#),
            (400, ErrorCode::ControlCharacter)
        );
        assert_eq!(
            code(true, br#"{"transaction_data": "a\r"}"#),
            (400, ErrorCode::ControlCharacter)
        );
        assert_eq!(
            code(true, br#"{"transaction_data": ""}"#),
            (400, ErrorCode::EmptyLine)
        );
        // The limit is on the transaction, not on its JSON: every byte escaped still fits.
        let longest = "L".repeat(MAX_LINE_BYTES);
        let escaped = format!(
            "{{\"transaction_data\": \"{}\"}}",
            "\\u004c".repeat(MAX_LINE_BYTES)
        );
        assert!(escaped.len() <= MAX_TX_JSON_BYTES);
        assert_eq!(ok(true, escaped.as_bytes()), longest);
        let over = format!("{{\"transaction_data\": \"{longest}M\"}}");
        assert_eq!(code(true, over.as_bytes()), (413, ErrorCode::LineTooLong));
    }

    #[test]
    fn event_frames_write_small_margins_as_plain_decimals() {
        use crate::events::{EventKind, Work};
        let event = Event {
            seq: 7,
            node: "Node2".into(),
            tx_id: None,
            transaction_data: Some("t".into()),
            difficulty: 1,
            at: "2026-11-24 04:16:47.724370".into(),
            at_us: 1,
            kind: EventKind::Lost {
                winner: "Node1".into(),
                margin: Some(4e-6),
                work: Some(Work {
                    nonce: 1,
                    hash: pow_core::Hash32::ZERO,
                    time_taken: 1e-7,
                    hashes: 2,
                    start_time: "s".into(),
                    end_time: "e".into(),
                    ..Default::default()
                }),
                aborted: false,
                hashes: None,
                time_taken: None,
                start_time: None,
            },
        };
        for replay in [false, true] {
            let message = event_message(&event, replay);
            let text = message.to_str().unwrap();
            assert!(text.contains(r#""margin":0.000004,"#), "{text}");
            assert!(text.contains(r#""time_taken":0.0000001,"#), "{text}");
            let back: serde_json::Value = serde_json::from_str(text).unwrap();
            assert_eq!(back["margin"].as_f64(), Some(4e-6));
            assert_eq!(back["replay"].as_bool(), replay.then_some(true));
        }
    }

    #[test]
    fn json_is_told_by_its_media_type_in_any_case() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("Application/JSON")));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some(" APPLICATION/JSON ;charset=UTF-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/jsonx")));
        assert!(!is_json(None));
    }
}
