//! Hostile clients: oversized, malformed, silent, slow and flooding clients each get their
//! error (or are dropped) while honest clients on the same server are still answered, and the
//! ledger records nothing it should not. Hostile peers and files too: the CLI and the node read
//! what they are sent in bounded memory.

mod util;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_util::StreamExt;
use node_server::ledger::STREAM_CHUNK;
use node_server::limits::{
    LINE_DEADLINE, MAX_ATTEMPT_LINE_BYTES, MAX_CONNECTIONS, MAX_LINE_BYTES, MAX_REPLY_LINE_BYTES,
    MAX_VIEWERS, REPLY_SEND_TIMEOUT, WS_MAX_INCOMING_MESSAGE, WS_MAX_WRITE_BUFFER, WS_SEND_TIMEOUT,
};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use util::*;

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

fn read_json_line(r: &mut impl BufRead) -> Value {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply {line:?}: {e}"))
}

/// Reads until the peer closes; true if it did (EOF or reset) rather than time out.
fn closes(r: &mut impl Read) -> bool {
    let mut sink = [0u8; 64 * 1024];
    loop {
        match r.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

fn ledger_data(server: &Server) -> Vec<String> {
    server
        .ledger()
        .iter()
        .map(|e| e["transaction_data"].as_str().unwrap().to_owned())
        .collect()
}

/// Shrinks a socket's receive buffer, so a client that does not read fills it quickly.
fn small_receive_buffer(fd: i32) {
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt reads `size` for the given length; `fd` is an open socket.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
}

#[test]
fn a_16_mib_line_is_refused_and_the_node_still_serves_others() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let s = connect(port);
    let mut writer = s.try_clone().unwrap();
    let flood = std::thread::spawn(move || {
        let chunk = vec![b'a'; 1024 * 1024];
        for _ in 0..16 {
            if writer.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    let mut r = BufReader::new(s.try_clone().unwrap());
    let reply = read_json_line(&mut r);
    assert_eq!(reply["code"], "line_too_long", "{reply}");
    assert_eq!(reply["node"], "Node1");
    assert!(closes(&mut r), "the connection closes after line_too_long");
    flood.join().unwrap();
    s.shutdown(std::net::Shutdown::Both).ok();
    // Others are still served, and the flood recorded nothing.
    assert_eq!(send(port, "after the 16 MiB line")["outcome"], "won");
    assert_eq!(ledger_data(&server), ["after the 16 MiB line"]);
}

#[test]
fn a_line_of_max_line_bytes_is_raced_and_one_byte_more_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let longest = "L".repeat(MAX_LINE_BYTES);
    let reply = send(port, &longest);
    assert_eq!(reply["outcome"], "won", "{}", reply["code"]);
    assert_eq!(
        reply["transaction_data"].as_str().unwrap().len(),
        MAX_LINE_BYTES
    );
    // With a CRLF ending it is still the longest line, and the same transaction.
    let crlf = send(port, &format!("{longest}\r"));
    assert_eq!(crlf["outcome"], "recorded", "{crlf}");
    assert_eq!(crlf["tx_id"], reply["tx_id"]);

    let mut s = connect(port);
    s.write_all(format!("{longest}M\n").as_bytes()).unwrap();
    let mut r = BufReader::new(s);
    let refused = read_json_line(&mut r);
    assert_eq!(refused["code"], "line_too_long", "{refused}");
    assert!(closes(&mut r));
    assert_eq!(ledger_data(&server), [longest]);
}

#[test]
fn bad_lines_get_an_error_each_and_the_connection_stays_open() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let mut s = connect(server.ports[0]);
    // All pipelined in one write: each line gets its reply, in order.
    s.write_all(
        b"bad \xff\xfe utf8\nnul\0inside\nescape \x1b[31m\ndel\x7f\n\n\r\nfine\tafter all\n",
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let codes: Vec<Value> = (0..7).map(|_| read_json_line(&mut r)).collect();
    let got: Vec<&str> = codes
        .iter()
        .map(|v| v["code"].as_str().or(v["outcome"].as_str()).unwrap())
        .collect();
    assert_eq!(
        got,
        [
            "not_utf8",
            "control_character",
            "control_character",
            "control_character",
            "empty_line",
            "empty_line",
            "won"
        ]
    );
    assert!(codes[..6].iter().all(|v| v["node"] == "Node1"));
    assert!(closes(&mut r), "closed once the client is quiet");
    assert_eq!(ledger_data(&server), ["fine\tafter all"]);
}

#[test]
fn crlf_and_lf_endings_are_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "2", "--difficulty", "1"]);
    let crlf = send(server.ports[0], "line ending\r");
    let lf = send(server.ports[1], "line ending");
    assert_eq!(crlf["outcome"], "won");
    assert_eq!(lf["outcome"], "lost");
    assert_eq!(crlf["tx_id"], lf["tx_id"]);
    assert_eq!(crlf["entry"], lf["entry"]);
    assert_eq!(ledger_data(&server), ["line ending"]);
}

/// One test, so the deadlines (10 s each) run side by side: a flood of connections on one
/// node, a silent and a drip-feeding client on another, an honest client on a third.
#[test]
fn silent_drip_feeding_and_flooding_clients_do_not_stop_an_honest_one() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "1"]);
    let [flooded, honest, slow] = [server.ports[0], server.ports[1], server.ports[2]];

    let silent = std::thread::spawn(move || {
        let mut r = BufReader::new(connect(slow));
        let reply = read_json_line(&mut r);
        (reply, closes(&mut r))
    });
    let drip = std::thread::spawn(move || {
        let s = connect(slow);
        s.set_nonblocking(true).unwrap();
        let mut w = s.try_clone().unwrap();
        let line = b"drip drip drip drip drip drip";
        let mut sent = 0;
        let mut got = Vec::new();
        // One byte a second; the deadline counts from accept, so it ends this long before
        // the line would be complete.
        for &b in line {
            let mut buf = [0u8; 1024];
            match (&s).read(&mut buf) {
                Ok(n) if n > 0 => {
                    got.extend_from_slice(&buf[..n]);
                    break;
                }
                _ => {}
            }
            if w.write_all(&[b]).is_err() {
                break;
            }
            sent += 1;
            std::thread::sleep(Duration::from_secs(1));
        }
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut r = BufReader::new(s);
        r.read_until(b'\n', &mut got).unwrap();
        let reply: Value = serde_json::from_slice(&got).unwrap();
        (reply, sent, line.len())
    });

    const FLOOD: usize = 1000;
    let flood: Vec<TcpStream> = (0..FLOOD).map(|_| connect(flooded)).collect();
    // The node accepts in order: the first MAX_CONNECTIONS hold a slot, the rest are refused.
    for s in &flood[MAX_CONNECTIONS..] {
        let mut r = BufReader::new(s);
        let reply = read_json_line(&mut r);
        assert_eq!(reply["code"], "too_many_connections", "{reply}");
        assert!(closes(&mut r));
    }
    let reply = send(honest, "honest during the flood");
    assert_eq!(reply["outcome"], "won", "{reply}");
    // The honest race was decided while every admitted flood connection was still held
    // open and unanswered (their deadline had not passed).
    for s in &flood[..MAX_CONNECTIONS] {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 1];
        let r = (&*s).read(&mut buf);
        assert_eq!(
            r.map_err(|e| e.kind()).err(),
            Some(ErrorKind::WouldBlock),
            "a flood connection was answered or closed before the honest race"
        );
        s.set_nonblocking(false).unwrap();
    }
    for s in &flood[..MAX_CONNECTIONS] {
        let mut r = BufReader::new(s);
        let reply = read_json_line(&mut r);
        assert_eq!(reply["code"], "line_timeout", "{reply}");
    }

    let (reply, closed) = silent.join().unwrap();
    assert_eq!(reply["code"], "line_timeout", "{reply}");
    assert_eq!(reply["node"], "Node3");
    assert!(closed);
    let (reply, sent, len) = drip.join().unwrap();
    assert_eq!(reply["code"], "line_timeout", "{reply}");
    assert!(
        sent <= LINE_DEADLINE.as_secs() as usize + 2 && sent < len,
        "the deadline was extended: {sent} bytes sent"
    );
    assert_eq!(ledger_data(&server), ["honest during the flood"]);
}

#[test]
fn http_unknown_paths_get_404_json_and_oversized_headers_431() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let http = |request: &[u8]| {
        let mut s = connect(port);
        s.write_all(request).unwrap();
        let mut text = Vec::new();
        let _ = s.read_to_end(&mut text);
        String::from_utf8_lossy(&text).into_owned()
    };
    let res = http(b"GET /no/such/path HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(res.starts_with("HTTP/1.1 404"), "{res}");
    let body: Value = serde_json::from_str(res.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["node"], "Node1");

    let mut big = b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let res = http(&big);
    assert!(res.starts_with("HTTP/1.1 431"), "{res}");

    let res = http(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(res.starts_with("HTTP/1.1 200"), "{res}");
    assert!(!server.ledger_path().exists(), "nothing was recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_viewer_that_never_reads_does_not_hold_up_the_race_or_other_viewers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let url = format!("ws://127.0.0.1:{port}/events");

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    small_receive_buffer(socket.as_raw_fd());
    let stream = socket.connect(([127, 0, 0, 1], port).into()).await.unwrap();
    let (mut stuck, _) = tokio_tungstenite::client_async(url.as_str(), stream)
        .await
        .unwrap();

    const RACES: usize = 40;
    let (mut reader, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let watcher = tokio::spawn(async move {
        let mut won = 0;
        while let Some(Ok(m)) = reader.next().await {
            if let Message::Text(t) = m {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["type"] == "won" {
                    won += 1;
                    if won == RACES {
                        return won;
                    }
                }
            }
        }
        won
    });

    // Big transactions, so the stuck viewer's buffers fill within a few races.
    let replies = tokio::task::spawn_blocking(move || {
        (0..RACES)
            .map(|i| send(port, &format!("{i:04} {}", "v".repeat(32 * 1024))))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert!(replies.iter().all(|r| r["outcome"] == "won"));
    assert_eq!(
        tokio::time::timeout(PATIENCE, watcher)
            .await
            .unwrap()
            .unwrap(),
        RACES,
        "the reading viewer saw every race"
    );

    // By now the stuck viewer's sends have waited past the timeout: it was dropped (or
    // told it skipped events). Either way it never gets the whole stream.
    tokio::time::sleep(WS_SEND_TIMEOUT + Duration::from_secs(2)).await;
    let (mut won, mut notice, mut dropped) = (0, false, false);
    while let Ok(next) = tokio::time::timeout(Duration::from_secs(5), stuck.next()).await {
        match next {
            Some(Ok(Message::Text(t))) => {
                let v: Value = serde_json::from_str(&t).unwrap();
                won += usize::from(v["type"] == "won");
                notice |= v["type"] == "notice";
            }
            Some(Ok(_)) => {}
            // Closed without a close frame: dropped.
            Some(Err(_)) | None => {
                dropped = true;
                break;
            }
        }
    }
    assert!(
        notice || (dropped && won < RACES),
        "the stuck viewer got {won} of {RACES} races; notice {notice}, dropped {dropped}"
    );
    assert_eq!(server.ledger().len(), RACES);
}

#[test]
fn a_client_that_never_reads_its_replies_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let s = connect(port);
    small_receive_buffer(s.as_raw_fd());
    // The same big line again and again: the first is raced, the rest are answered from the
    // ledger with two copies of it each, many times what the socket buffers hold.
    const LINES: usize = 200;
    let line = format!("{}\n", "r".repeat(60 * 1024));
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        for _ in 0..LINES {
            if w.write_all(line.as_bytes()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(REPLY_SEND_TIMEOUT + Duration::from_secs(3));
    let mut r = BufReader::new(s);
    let mut replies = 0;
    loop {
        let mut l = String::new();
        match r.read_line(&mut l) {
            // The end, or a reply cut short when the node dropped the connection.
            Ok(0) | Err(_) => break,
            Ok(_) if !l.ends_with('\n') => break,
            Ok(_) => {
                let v: Value = serde_json::from_str(&l).unwrap();
                let want = if replies == 0 { "won" } else { "recorded" };
                assert_eq!(v["outcome"], want);
                replies += 1;
            }
        }
    }
    writer.join().unwrap();
    assert!(
        replies < LINES,
        "the node waited on a client that does not read"
    );
    assert_eq!(send(port, "served after")["outcome"], "won");
    assert_eq!(server.ledger().len(), 2);
}

#[test]
fn the_same_transaction_twice_at_the_same_instant_is_mined_once() {
    let dir = tempfile::tempdir().unwrap();
    // Difficulty 3: the search lasts long enough for both copies to arrive while it runs.
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "3"]);
    let port = server.ports[0];
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
    let both: Vec<_> = (0..2)
        .map(|_| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let mut s = connect(port);
                barrier.wait();
                s.write_all(b"block 4\n").unwrap();
                read_json_line(&mut BufReader::new(s))
            })
        })
        .collect();
    let replies: Vec<Value> = both.into_iter().map(|h| h.join().unwrap()).collect();
    // Both joined the one search: both were told they won, with the same entry.
    assert!(replies.iter().all(|r| r["outcome"] == "won"), "{replies:?}");
    assert_eq!(replies[0]["entry"], replies[1]["entry"]);
    assert_eq!(replies[0]["nonce"], 5011988);
    assert_eq!(ledger_data(&server), ["block 4"]);
    let mut s = connect(port);
    s.write_all(b"GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(status["races"], 1, "one search");
}

/// Real curl (these tests need it: `apt-get install curl`): exit code, stdout.
fn curl(args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--max-time", "60"])
        .args(args)
        .output()
        .expect("these tests need curl: apt-get install curl (or run .ci/run)");
    (out.status.code(), out.stdout)
}

/// Sends `request`, reads to the close.
fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    let mut s = connect(port);
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn body_json(response: &[u8]) -> Value {
    let at = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("not HTTP: {:?}", String::from_utf8_lossy(response)));
    serde_json::from_slice(&response[at + 4..]).unwrap()
}

/// HTTP in every request-line form is answered in HTTP, never raced: HTTP/2 prior
/// knowledge, absolute-form (`--request-target`, `--proxy`), authority-form (`CONNECT`),
/// asterisk-form, other versions. "GET the milk" is still a transaction.
#[test]
fn http_in_every_request_line_form_is_answered_as_http_and_never_raced() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let p = server.ports[0];
    let base = format!("http://127.0.0.1:{p}");

    // curl speaks HTTP/2 from the first byte: the node answers in HTTP/2, a GOAWAY
    // HTTP_1_1_REQUIRED, which curl 7.88 reports as an HTTP/2 error (exit 16); a curl that
    // retries over HTTP/1.1 on it gets the status.
    let (rc, out) = curl(&["--http2-prior-knowledge", &format!("{base}/status")]);
    match rc {
        Some(0) => assert_eq!(
            serde_json::from_slice::<Value>(&out).unwrap()["node"],
            "Node1"
        ),
        rc => assert_eq!(rc, Some(16), "{}", String::from_utf8_lossy(&out)),
    }
    // The same bytes by hand: the server's SETTINGS, then GOAWAY with the JSON error.
    let answer = exchange(p, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0");
    assert_eq!(
        &answer[..9],
        b"\0\0\0\x04\0\0\0\0\0",
        "an empty SETTINGS frame"
    );
    let goaway = &answer[9..];
    let len = u32::from_be_bytes([0, goaway[0], goaway[1], goaway[2]]) as usize;
    assert_eq!(goaway[3], 0x7, "GOAWAY");
    assert_eq!(
        &goaway[9..17],
        &[0, 0, 0, 0, 0, 0, 0, 0xd],
        "HTTP_1_1_REQUIRED"
    );
    let error: Value = serde_json::from_slice(&goaway[17..9 + len]).unwrap();
    assert_eq!(error["code"], "http_version_not_supported");

    // absolute-form, as a proxy client sends it: served by its path.
    let (rc, out) = curl(&[
        "--request-target",
        &format!("{base}/status"),
        &format!("{base}/"),
    ]);
    assert_eq!(rc, Some(0));
    let status: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(status["node"], "Node1");
    let res = exchange(
        p,
        format!("GET {base}/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(
        res.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&res)
    );
    // Through the node as a proxy, to another site: refused, it is not that site.
    let (rc, out) = curl(&[
        "--proxy",
        &base,
        "--write-out",
        "%{http_code}",
        "-o",
        "/dev/null",
        "http://example.com/status",
    ]);
    assert_eq!((rc, out.as_slice()), (Some(0), &b"403"[..]));
    // authority-form: CONNECT, as a tunnelling proxy client sends it.
    let (rc, out) = curl(&[
        "--proxytunnel",
        "--proxy",
        &base,
        "--write-out",
        "%{http_connect}",
        "http://example.com/",
    ]);
    assert_ne!(rc, Some(0), "the tunnel was refused");
    assert_eq!(out, b"403");
    let (rc, out) = curl(&[
        "-X",
        "CONNECT",
        "--request-target",
        &format!("127.0.0.1:{p}"),
        "--write-out",
        "%{http_code}",
        "-o",
        "/dev/null",
        &format!("{base}/"),
    ]);
    assert_eq!((rc, out.as_slice()), (Some(0), &b"405"[..]));
    // asterisk-form.
    let (rc, out) = curl(&[
        "-X",
        "OPTIONS",
        "--request-target",
        "*",
        "--write-out",
        "%{http_code}",
        &format!("{base}/"),
    ]);
    assert_eq!((rc, out.as_slice()), (Some(0), &b"204"[..]));
    // Any other version: 505, with the JSON error.
    for version in ["HTTP/3.0", "HTTP/1.2", "HTTP/0.9", "HTTP/2"] {
        let res = exchange(
            p,
            format!("GET /status {version}\r\nHost: 127.0.0.1\r\n\r\n").as_bytes(),
        );
        assert!(
            res.starts_with(b"HTTP/1.1 505 "),
            "{version}: {}",
            String::from_utf8_lossy(&res)
        );
        assert_eq!(body_json(&res)["code"], "http_version_not_supported");
    }
    assert!(!server.ledger_path().exists(), "nothing was raced");

    // No HTTP version: a transaction like any other.
    assert_eq!(send(p, "GET the milk")["outcome"], "won");
    assert_eq!(send(p, "GET /index.html")["outcome"], "won");
    assert_eq!(ledger_data(&server), ["GET the milk", "GET /index.html"]);
}

/// Connects a WebSocket viewer to /events; Err(the HTTP response) when refused.
async fn viewer(
    port: u16,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    (u16, Value),
> {
    match tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}/events")).await {
        Ok((ws, _)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            let body = res.body().as_deref().unwrap_or_default();
            Err((res.status().as_u16(), serde_json::from_slice(body).unwrap()))
        }
        Err(e) => panic!("viewer: {e}"),
    }
}

/// Viewers are capped at MAX_VIEWERS (503 `too_many_viewers` for one more), each keeps its
/// connection's slot, and a connection over MAX_CONNECTIONS is refused in its own protocol:
/// HTTP (curl, a WebSocket) gets 503 with the JSON error, a line client the error line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viewers_are_capped_hold_their_slots_and_http_is_refused_in_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let mut viewers = Vec::new();
    for _ in 0..MAX_VIEWERS {
        viewers.push(viewer(port).await.expect("a viewer within the cap"));
    }
    let (status, error) = viewer(port).await.expect_err("one viewer too many");
    assert_eq!(status, 503);
    assert_eq!(error["code"], "too_many_viewers", "{error}");
    assert_eq!(error["node"], "Node1");

    // Fill the node's remaining slots with silent line clients: the viewers hold theirs.
    let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS - MAX_VIEWERS)
        .map(|_| connect(port))
        .collect();
    // The node accepts in order: every one of them holds a slot before the next is refused.
    let mut s = connect(port);
    s.write_all(b"over the limit\n").unwrap();
    let reply = read_json_line(&mut BufReader::new(&s));
    assert_eq!(reply["code"], "too_many_connections", "{reply}");
    // HTTP over the limit: 503 in HTTP, from curl and from a raw request.
    let (rc, out) = tokio::task::spawn_blocking(move || {
        curl(&["--include", &format!("http://127.0.0.1:{port}/status")])
    })
    .await
    .unwrap();
    assert_eq!(rc, Some(0));
    assert!(
        out.starts_with(b"HTTP/1.1 503 "),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert_eq!(body_json(&out)["code"], "too_many_connections");
    let (status, error) = viewer(port).await.expect_err("no slot for a viewer");
    assert_eq!(
        (status, error["code"].as_str()),
        (503, Some("too_many_connections"))
    );

    // A viewer that leaves frees its seat and its slot.
    drop(silent);
    let mut gone = viewers.pop().unwrap();
    gone.close(None).await.unwrap();
    while gone.next().await.is_some() {}
    // The node frees them as it sees the close: try until it has.
    let start = std::time::Instant::now();
    let mut again = loop {
        match viewer(port).await {
            Ok(ws) => break ws,
            Err(refused) => assert!(start.elapsed() < PATIENCE, "still refused: {refused:?}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let hello: Value = match again.next().await {
        Some(Ok(Message::Text(t))) => serde_json::from_str(&t).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(hello["type"], "hello");
    assert!(
        !server.ledger_path().exists(),
        "the refused line was not raced"
    );
}

/// 20 viewers each start a 15 MiB frame (300 MiB of attack): each is dropped as soon as its
/// frame's header announces more than WS_MAX_INCOMING_MESSAGE, and the node's peak memory
/// grows by a small fraction of the attack (it grew by over 1.6 GB before the limit).
#[test]
fn viewers_sending_huge_frames_are_dropped_without_the_node_growing() {
    const ATTACKERS: usize = 20;
    const FRAME: u64 = 15 << 20;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    assert_eq!(send(port, "warm up")["outcome"], "won");
    let before = peak_memory(server.pid());

    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            std::thread::spawn(move || {
                let mut s = raw_viewer(port, false);
                // A masked binary frame announcing FRAME bytes, then all but its last byte.
                let mut frame = vec![0x82, 0x80 | 127];
                frame.extend_from_slice(&FRAME.to_be_bytes());
                frame.extend_from_slice(&[1, 2, 3, 4]);
                s.set_write_timeout(Some(PATIENCE)).unwrap();
                let mut sent = 0u64;
                let chunk = vec![0x5a; 1 << 20];
                let mut dropped = s.write_all(&frame).is_err();
                while !dropped && sent < FRAME - 1 {
                    let n = chunk.len().min((FRAME - 1 - sent) as usize);
                    dropped = s.write_all(&chunk[..n]).is_err();
                    sent += n as u64;
                }
                (dropped, s)
            })
        })
        .collect();
    let attackers: Vec<(bool, TcpStream)> =
        attackers.into_iter().map(|a| a.join().unwrap()).collect();
    let grew = peak_memory(server.pid()).saturating_sub(before);
    let attack = ATTACKERS as u64 * FRAME;
    println!(
        "peak memory {} KiB before, grew by {} KiB under a {} MiB attack",
        before >> 10,
        grew >> 10,
        attack >> 20
    );
    assert!(
        grew < attack / 10,
        "the node's peak memory grew by {} MiB under a {} MiB attack",
        grew >> 20,
        attack >> 20
    );
    for (dropped, mut s) in attackers {
        // Dropped: the writes failed, or the node closed its end.
        assert!(dropped || closes(&mut s), "an attacker was not dropped");
    }
    // And it still serves viewers and races.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut ws = viewer(port).await.unwrap();
        assert!(matches!(ws.next().await, Some(Ok(Message::Text(_)))));
    });
    assert_eq!(send(port, "after the attack")["outcome"], "won");
}

/// Opens a raw WebSocket to `/events` on `port` (the upgrade, its 101 read byte by byte): the
/// attacks below write frames by hand. With `small_window`, the socket's receive buffer is
/// shrunk before it connects (so the window it offers stays small), and what the node sends
/// it fills the node's socket buffer quickly.
fn raw_viewer(port: u16, small_window: bool) -> TcpStream {
    let mut s = if small_window {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .unwrap();
        let s = rt.block_on(async {
            let socket = tokio::net::TcpSocket::new_v4().unwrap();
            small_receive_buffer(socket.as_raw_fd());
            socket.connect(([127, 0, 0, 1], port).into()).await.unwrap()
        });
        let s = s.into_std().unwrap();
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(PATIENCE)).unwrap();
        s
    } else {
        connect(port)
    };
    s.write_all(
        format!(
            "GET /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Viewers that send 125-byte pings as fast as they can and never read (so the pongs they
/// are owed can never be sent): the node's peak memory stays within what its write-buffer
/// limit allows per viewer, each of them is dropped, and the node still serves a viewer and a
/// race. Before the limit the node queued a pong per ping: it grew by gigabytes in seconds
/// (this test stops its attack once the node has grown past the bound).
#[test]
fn viewers_pinging_without_reading_are_dropped_without_the_node_growing() {
    const ATTACKERS: usize = 4;
    // Longer than the node's send timeout, so an attacker it keeps is seen to be kept.
    let attack = WS_SEND_TIMEOUT * 3;
    // Per viewer: its write buffer, its read buffer (tungstenite's 128 KiB) and its frame in
    // progress; and 16 MiB for the node's own allocations under load.
    let bound = (ATTACKERS * (WS_MAX_WRITE_BUFFER + (128 << 10) + WS_MAX_INCOMING_MESSAGE)) as u64
        + (16 << 20);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    assert_eq!(send(port, "warm up")["outcome"], "won");
    let pid = server.pid();
    let before = peak_memory(pid);

    // Attack until the time is up or the node has grown past the bound.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut s = raw_viewer(port, true);
                // Masked pings of 125 bytes, many to a write.
                let mut ping = vec![0x89, 0x80 | 125, 1, 2, 3, 4];
                ping.extend((0..125u8).map(|i| i ^ [1, 2, 3, 4][usize::from(i % 4)]));
                let frames = ping.repeat(512);
                s.set_write_timeout(Some(Duration::from_millis(200)))
                    .unwrap();
                let (mut at, mut sent, mut dropped) = (0, 0u64, false);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Whole frames only, across writes: the node must see pings, not garbage.
                    match s.write(&frames[at..]) {
                        Ok(n) => {
                            sent += n as u64;
                            at = (at + n) % frames.len();
                        }
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(_) => {
                            dropped = true;
                            break;
                        }
                    }
                }
                (dropped, sent, s)
            })
        })
        .collect();
    let start = std::time::Instant::now();
    while start.elapsed() < attack && peak_memory(pid) < before + bound {
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let attackers: Vec<(bool, u64, TcpStream)> =
        attackers.into_iter().map(|a| a.join().unwrap()).collect();
    let grew = peak_memory(pid).saturating_sub(before);
    let pings: u64 = attackers.iter().map(|a| a.1).sum::<u64>() / 131;
    println!(
        "peak memory {} KiB before, grew by {} KiB under {pings} pings (bound {} KiB)",
        before >> 10,
        grew >> 10,
        bound >> 10
    );
    assert!(
        grew < bound,
        "the node's peak memory grew by {} MiB under {pings} pings (bound {} MiB)",
        grew >> 20,
        bound >> 20
    );
    for (dropped, _, mut s) in attackers {
        // Dropped: the writes failed, or the node closes its end (after what it had sent).
        assert!(
            dropped || closes(&mut s),
            "a pinging viewer was not dropped"
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut ws = viewer(port).await.unwrap();
        assert!(matches!(ws.next().await, Some(Ok(Message::Text(_)))));
    });
    assert_eq!(send(port, "after the pings")["outcome"], "won");
}

/// Peak resident memory the CLI may have for itself (runtime, buffers, the report's figures),
/// besides the lines it holds: it peaks well under this reading a good log.
const CLI_OWN_MEMORY: u64 = 32 << 20;

/// How much a fake peer streams at most: past every limit, yet bounded, so a test of the
/// unfixed code ends (holding all of it).
const ENDLESS: u64 = 256 << 20;

/// Writes `x` to `s` without a newline until `ENDLESS` bytes or the reader stops reading (the
/// write fails); returns how many bytes went out.
fn stream_without_newline(s: &mut TcpStream) -> u64 {
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    let chunk = vec![b'x'; 64 << 10];
    let mut sent = 0;
    while sent < ENDLESS && s.write_all(&chunk).is_ok() {
        sent += chunk.len() as u64;
    }
    sent
}

/// Reads an HTTP request head off `s`; returns its request line.
fn request_line(s: &TcpStream) -> String {
    let mut r = BufReader::new(s);
    let mut first = String::new();
    r.read_line(&mut first).unwrap();
    let mut header = String::new();
    while r.read_line(&mut header).unwrap() > 2 {
        header.clear();
    }
    first
}

/// `submit --to` a peer that answers with an endless line: `submit` stops reading at the
/// longest reply a node can send, says the peer is not a node, and exits 2, in bounded memory
/// (it held the whole stream before: 3 GB in 5.5 s, for up to `SUBMIT_TIMEOUT`).
#[test]
fn submit_to_a_peer_sending_an_endless_line_stops_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        assert_eq!(line, "endless\n");
        stream_without_newline(&mut s)
    });
    let (out, peak) = run_measured(dir.path(), &["submit", "--to", &addr, "endless"]);
    let sent = peer.join().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!(
        "submit: peak memory {} KiB; the peer sent {} KiB",
        peak >> 10,
        sent >> 10
    );
    assert_eq!(out.status.code(), Some(2), "{stdout}");
    assert!(
        stdout.contains(&format!("{MAX_REPLY_LINE_BYTES} bytes without a newline"))
            && stdout.contains("not a node"),
        "{stdout}"
    );
    assert!(sent < ENDLESS, "submit read the whole stream");
    let bound = CLI_OWN_MEMORY + 4 * MAX_REPLY_LINE_BYTES as u64;
    assert!(peak < bound, "submit peaked at {} MiB", peak >> 20);
}

/// `report --cluster` against a peer whose `/attempts` is one endless line: refused at the
/// longest attempts line, naming the URL, exit 2, in bounded memory (6.5 GB in 20 s before).
#[test]
fn report_cluster_refuses_an_endless_attempts_line_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let peer = {
        let addr = addr.clone();
        std::thread::spawn(move || {
            let mut sent = 0;
            for _ in 0..2 {
                let (mut s, _) = listener.accept().unwrap();
                let request = request_line(&s);
                if request.starts_with("GET /cluster ") {
                    let body = format!(
                        r#"{{"cluster":null,"nodes":[{{"name":"Mallory","addr":"{addr}"}}]}}"#
                    );
                    write!(
                        s,
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .unwrap();
                } else {
                    assert!(request.starts_with("GET /attempts "), "{request}");
                    s.write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Type: application/jsonl\r\n\
                          Connection: close\r\n\r\n",
                    )
                    .unwrap();
                    sent = stream_without_newline(&mut s);
                }
            }
            sent
        })
    };
    let (out, peak) = run_measured(dir.path(), &["report", "--cluster", &addr]);
    let sent = peer.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!(
        "report --cluster: peak memory {} KiB; the peer sent {} KiB",
        peak >> 10,
        sent >> 10
    );
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("http://{addr}/attempts"))
            && stderr.contains(&format!("longer than {MAX_ATTEMPT_LINE_BYTES} bytes"))
            && stderr.contains("not an attempts log"),
        "{stderr}"
    );
    assert!(sent < ENDLESS, "report read the whole stream");
    let bound = CLI_OWN_MEMORY + 4 * MAX_ATTEMPT_LINE_BYTES as u64;
    assert!(peak < bound, "report peaked at {} MiB", peak >> 20);
}

/// A node whose attempts log holds a 128 MiB line (no attempt is that long): three
/// `GET /attempts` at once leave it out and serve the attempts around it, the node's memory
/// growing by at most a few lines' worth (one request peaked at 301 MB before, three at 791
/// MB); `report --attempts` skips it, says so, and counts the others, in bounded memory.
#[test]
fn a_huge_line_in_the_attempts_log_is_left_out_in_bounded_memory() {
    const HUGE: usize = 128 << 20;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    let log = dir.path().join("ledger.attempts.jsonl");
    // The log is written a moment after the reply: wait for the attempt's line.
    let logged = |tx: &str| {
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(&log).is_ok_and(|t| t.contains(&format!("\"{tx}\""))) {
            assert!(
                start.elapsed() < PATIENCE,
                "{tx} never reached the attempts log"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    assert_eq!(send(port, "before the huge line")["outcome"], "won");
    logged("before the huge line");
    {
        let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
        let mut huge = br#"{"node":"Node1","junk":""#.to_vec();
        huge.resize(HUGE, b'j');
        huge.extend_from_slice(b"\"}\n");
        f.write_all(&huge).unwrap();
    }
    assert_eq!(send(port, "after the huge line")["outcome"], "won");
    logged("after the huge line");

    let before = peak_memory(server.pid());
    let readers: Vec<_> = (0..3)
        .map(|_| {
            std::thread::spawn(move || {
                curl(&[
                    "--silent",
                    "--fail",
                    &format!("http://127.0.0.1:{port}/attempts"),
                ])
            })
        })
        .collect();
    for r in readers {
        let (rc, body) = r.join().unwrap();
        assert_eq!(rc, Some(0));
        let body = String::from_utf8(body).unwrap();
        let served: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let txs: Vec<&str> = served
            .iter()
            .map(|a| a["transaction_data"].as_str().unwrap_or("(no attempt)"))
            .collect();
        assert_eq!(txs, ["before the huge line", "after the huge line"]);
    }
    let grew = peak_memory(server.pid()).saturating_sub(before);
    println!(
        "GET /attempts x3: the node's peak memory grew by {} KiB",
        grew >> 10
    );
    let bound = (16 << 20) + 3 * (MAX_ATTEMPT_LINE_BYTES + STREAM_CHUNK) as u64;
    assert!(
        grew < bound,
        "the node's peak memory grew by {} MiB",
        grew >> 20
    );
    drop(server);

    let path = log.to_str().unwrap();
    let (out, peak) = run_measured(dir.path(), &["report", "--attempts", path]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("report --attempts: peak memory {} KiB", peak >> 10);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.starts_with("2 attempts in "), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "1 lines longer than {MAX_ATTEMPT_LINE_BYTES} bytes skipped"
        )),
        "{stdout}"
    );
    let bound = CLI_OWN_MEMORY + 4 * MAX_ATTEMPT_LINE_BYTES as u64;
    assert!(peak < bound, "report peaked at {} MiB", peak >> 20);
}
