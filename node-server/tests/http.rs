//! The HTTP and WebSocket side of a node: `/events` streams a race in order with microsecond
//! timestamps; `/status`, `/ledger` and `POST /tx` answer in JSON.

mod util;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;
use util::*;

async fn next_json(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("an event in time")
            .expect("the stream is open")
            .expect("a frame");
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_each_race_in_order_on_every_node() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &[]);
    let mut sockets = Vec::new();
    for &p in &server.ports {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{p}/events"))
            .await
            .unwrap();
        let hello = next_json(&mut ws).await;
        assert_eq!(hello["type"], "hello");
        assert_eq!(hello["difficulty"], 2);
        sockets.push(ws);
    }
    let ports = server.ports.clone();
    let replies =
        tokio::task::spawn_blocking(move || race(&ports, "Gova and Emmanuel Blockchain Lab 3"))
            .await
            .unwrap();
    assert_eq!(replies.len(), 3);

    let mut winners = 0;
    for (i, ws) in sockets.iter_mut().enumerate() {
        let node = format!("Node{}", i + 1);
        let mut kinds = Vec::new();
        let mut last_seq = 0;
        let mut last_us = 0;
        loop {
            let e = next_json(ws).await;
            let kind = e["type"].as_str().unwrap().to_owned();
            if kind == "connected" {
                continue;
            }
            assert_eq!(e["node"], node.as_str());
            assert!(e["seq"].as_u64().unwrap() > last_seq, "seq increases");
            last_seq = e["seq"].as_u64().unwrap();
            let us = e["at_us"].as_i64().unwrap();
            assert!(us >= last_us, "time does not go back");
            last_us = us;
            assert!(pow_core::chain::is_timestamp(e["at"].as_str().unwrap()));
            // The text and the integer are the same instant, to the microsecond.
            let micros = e["at"].as_str().unwrap()[20..].parse::<i64>().unwrap();
            assert_eq!(us % 1_000_000, micros);
            assert_eq!(e["transaction_data"], "Gova and Emmanuel Blockchain Lab 3");
            assert_eq!(e["tx_id"].as_str().unwrap().len(), 64);
            match kind.as_str() {
                "completed" => {
                    assert_eq!(e["nonce"], 6907);
                    assert_eq!(
                        e["hash"],
                        "0000eeb41af536cd2de707b167f685e35dac64473dca6e6d2b2c3b57d00b563d"
                    );
                    assert!(e["time_taken"].as_f64().unwrap() > 0.0);
                    assert!(e["hashes"].as_u64().unwrap() >= 6908);
                    assert!(pow_core::chain::is_timestamp(
                        e["start_time"].as_str().unwrap()
                    ));
                    assert!(pow_core::chain::is_timestamp(
                        e["end_time"].as_str().unwrap()
                    ));
                }
                "won" => {
                    winners += 1;
                    assert_eq!(e["entry"]["node"], node.as_str());
                }
                "lost" => {
                    assert!(e["margin"].as_f64().unwrap() >= 0.0);
                    assert_ne!(e["winner"], node.as_str());
                }
                _ => {}
            }
            let done = kind == "lost" || kind == "ledger_updated";
            kinds.push(kind);
            if done {
                break;
            }
        }
        let expected_won = ["received", "started", "completed", "won", "ledger_updated"];
        let expected_lost = ["received", "started", "completed", "lost"];
        assert!(
            kinds == expected_won || kinds == expected_lost,
            "{node}: {kinds:?}"
        );
    }
    assert_eq!(winners, 1, "exactly one node won");

    // A late viewer gets the history first, marked as replay.
    let (mut late, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{}/events", server.ports[0]))
            .await
            .unwrap();
    assert_eq!(next_json(&mut late).await["type"], "hello");
    let first = next_json(&mut late).await;
    assert_eq!(first["replay"], true);
    late.close(None).await.unwrap();
}

fn http(port: u16, request: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn status_ledger_and_post_tx_speak_json() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "1"]);
    let p = server.ports[1];

    let (code, body) = http(
        p,
        "GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["node"], "Node2");
    assert_eq!(status["difficulty"], 1);
    assert_eq!(status["ledger_entries"], 0);
    assert!(status["kernel"].is_string() && status["threads"].as_u64().unwrap() >= 1);

    let tx = "posted over http";
    let req = format!(
        "POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{tx}",
        tx.len()
    );
    let (code, body) = http(p, &req);
    assert_eq!(code, 200, "{body}");
    let reply: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["outcome"], "won");
    assert_eq!(reply["transaction_data"], tx);
    let nonce = reply["nonce"].as_u64().unwrap();
    assert_eq!(python_sha256(tx, nonce), reply["hash"].as_str().unwrap());

    let json_tx = r#"{"transaction_data": "json body"}"#;
    let req = format!(
        "POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json_tx}",
        json_tx.len()
    );
    let (code, body) = http(p, &req);
    assert_eq!(code, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["transaction_data"],
        "json body"
    );

    let (code, body) = http(
        p,
        "GET /ledger HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let ledger: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ledger.as_array().unwrap().len(), 2);
    assert_eq!(
        ledger,
        Value::Array(server.ledger()),
        "/ledger is ledger.json"
    );

    // A page, and queries that say what is wrong with which parameter.
    let (code, body) = http(
        p,
        "GET /ledger?from=1&limit=5 HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()[0]["index"], 1);
    for (query, says) in [
        (
            "from=x&limit=5",
            r#"from must be a whole number (0 or more), not "x""#,
        ),
        (
            "from=0&limit=-1",
            r#"limit must be a whole number (0 or more), not "-1""#,
        ),
        ("from=0&limit=5&limit=6", "limit is given twice"),
        (
            "from=0&size=5",
            r#"unknown parameter "size": /ledger takes from and limit"#,
        ),
        ("from=0", "use /ledger, or /ledger?from=N&limit=M"),
    ] {
        let (code, body) = http(
            p,
            &format!(
                "GET /ledger?{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            ),
        );
        assert_eq!(code, 400, "{query}: {body}");
        let reply: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(reply["code"], "bad_request", "{query}: {body}");
        assert!(
            reply["error"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }

    // Metrics count what the event stream saw: two races at this node, each with a search.
    let (code, body) = http(
        p,
        "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    assert!(
        body.contains(r#"powrace_events_total{node="Node2",type="won"} 2"#),
        "{body}"
    );
    assert!(
        body.contains(r#"powrace_search_seconds_count{node="Node2"} 2"#),
        "{body}"
    );

    let req = "POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 3\r\n\r\na\0b";
    let (code, body) = http(p, req);
    assert_eq!(code, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "control_character"
    );
}

/// Sends a raw request and reads the whole answer: status, head (lower case), body.
fn exchange(port: u16, request: &[u8]) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(request).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let status = head[9..12].parse().unwrap();
    (status, head, raw[split + 4..].to_vec())
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .map(str::trim)
}

/// Real curl (the tests need it: `apt-get install curl`): exit code, stdout.
fn curl(args: &[&str]) -> (Option<i32>, Vec<u8>) {
    let out = std::process::Command::new("curl")
        .args(["--silent", "--max-time", "60"])
        .args(args)
        .output()
        .expect("these tests need curl: apt-get install curl (or run .ci/run)");
    (out.status.code(), out.stdout)
}

/// Real nc: sends `bytes`, returns the reply line.
fn nc(port: u16, bytes: &[u8]) -> Value {
    use std::io::Write;
    require_nc();
    let mut child = std::process::Command::new("nc")
        .args(["127.0.0.1", &port.to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("nc reply {:?}: {e}", String::from_utf8_lossy(&out.stdout)))
}

fn post(content_type: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut req = b"POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".to_vec();
    if let Some(t) = content_type {
        req.extend_from_slice(format!("Content-Type: {t}\r\n").as_bytes());
    }
    req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    req.extend_from_slice(body);
    req
}

/// Chunked, in pieces of `piece` bytes: no Content-Length.
fn post_chunked(content_type: &str, body: &[u8], piece: usize) -> Vec<u8> {
    let mut req = format!(
        "POST /tx HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes();
    for c in body.chunks(piece) {
        req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        req.extend_from_slice(c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    req
}

/// Every character of `s` as a `\uXXXX` escape (surrogate pairs beyond the BMP).
fn escape_all(s: &str) -> String {
    let mut out = String::new();
    for unit in s.encode_utf16() {
        out += &format!("\\u{unit:04x}");
    }
    out
}

/// The longest transaction, with characters JSON must escape and some it may: exactly
/// MAX_LINE_BYTES bytes.
fn longest_transaction(tag: &str) -> String {
    use node_server::limits::MAX_LINE_BYTES;
    let mut t = format!("{tag} \"quoted\" back\\slash\ttab Ωmega ₿ 🦀 ");
    while t.len() < MAX_LINE_BYTES {
        t.push('x');
    }
    assert_eq!(t.len(), MAX_LINE_BYTES);
    t
}

/// nc and every HTTP form of `POST /tx` (text with and without its line ending, chunked,
/// JSON in any case, escaped or not, chunked) give one transaction the same `tx_id` and
/// one entry, with the longest transaction a line may hold (which a JSON body encodes in
/// more than that many bytes).
#[test]
fn post_tx_agrees_with_nc_byte_for_byte() {
    use node_server::limits::MAX_LINE_BYTES;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let p = server.ports[0];
    let sent_json =
        |t: &str| serde_json::to_vec(&serde_json::json!({ "transaction_data": t })).unwrap();

    // First over JSON (a 65,536-byte transaction: its JSON is longer), then nc.
    let a = longest_transaction("A");
    let body = sent_json(&a);
    assert!(body.len() > MAX_LINE_BYTES + 2);
    let (code, _, won) = exchange(p, &post(Some("application/json"), &body));
    assert_eq!(code, 200, "{}", String::from_utf8_lossy(&won));
    let won: Value = serde_json::from_slice(&won).unwrap();
    assert_eq!(won["outcome"], "won");
    let by_nc = nc(p, format!("{a}\n").as_bytes());
    assert_eq!(by_nc["outcome"], "recorded", "{by_nc}");
    assert_eq!(by_nc["tx_id"], won["tx_id"]);

    // First nc, then every HTTP form.
    let b = longest_transaction("B");
    let first = nc(p, format!("{b}\r\n").as_bytes());
    assert_eq!(first["outcome"], "won", "{first}");
    let bb = b.as_bytes();
    let crlf = [bb, b"\r\n"].concat();
    let lf = [bb, b"\n"].concat();
    let forms: Vec<(&str, Vec<u8>)> = vec![
        ("text, Content-Length", post(None, bb)),
        ("text/plain with \\n", post(Some("text/plain"), &lf)),
        (
            "text/plain with \\r\\n",
            post(Some("text/plain; charset=utf-8"), &crlf),
        ),
        ("text, chunked", post_chunked("text/plain", &lf, 1000)),
        (
            "text, chunked in 1-byte pieces",
            post_chunked("text/plain", bb, 1),
        ),
        ("JSON", post(Some("application/json"), &sent_json(&b))),
        (
            "JSON, Application/JSON; charset, every character escaped",
            post(
                Some("Application/JSON; charset=UTF-8"),
                format!("{{ \"transaction_data\" : \"{}\" }}\n", escape_all(&b)).as_bytes(),
            ),
        ),
        (
            "JSON, chunked",
            post_chunked("application/json", &sent_json(&b), 4096),
        ),
    ];
    for (form, request) in forms {
        let (code, _, body) = exchange(p, &request);
        assert_eq!(code, 200, "{form}: {}", String::from_utf8_lossy(&body));
        let reply: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(reply["outcome"], "recorded", "{form}");
        assert_eq!(reply["tx_id"], first["tx_id"], "{form}");
        assert_eq!(reply["entry"], first["entry"], "{form}");
    }
    let data: Vec<Value> = server
        .ledger()
        .iter()
        .map(|e| e["transaction_data"].clone())
        .collect();
    assert_eq!(data, [Value::from(a), Value::from(b.clone())]);

    // What nc refuses, every HTTP form refuses, with the same code.
    let over = format!("{b}M");
    let refusals: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "text, one byte over",
            post(None, over.as_bytes()),
            413,
            "line_too_long",
        ),
        (
            "text, chunked, a megabyte",
            post_chunked("text/plain", &vec![b'x'; 1 << 20], 8192),
            413,
            "line_too_long",
        ),
        (
            "JSON, one byte over",
            post(Some("application/json"), &sent_json(&over)),
            413,
            "line_too_long",
        ),
        (
            "JSON, chunked, a megabyte of white space",
            post_chunked("application/json", &vec![b' '; 1 << 20], 8192),
            413,
            "body_too_large",
        ),
        (
            "two lines",
            post(None, b"multi A\nmulti B\n"),
            400,
            "control_character",
        ),
        (
            "a blank line after",
            post(None, b"one\n\n"),
            400,
            "control_character",
        ),
        ("nothing", post(None, b""), 400, "empty_line"),
        (
            "JSON array",
            post(Some("application/json"), br#"["x"]"#),
            400,
            "bad_request",
        ),
        (
            "JSON duplicate key",
            post(
                Some("application/json"),
                br#"{"transaction_data": "first", "transaction_data": "second"}"#,
            ),
            400,
            "bad_request",
        ),
        (
            "JSON newline inside",
            post(Some("application/json"), br#"{"transaction_data": "a\nb"}"#),
            400,
            "control_character",
        ),
    ];
    for (form, request, want_status, want_code) in refusals {
        let (code, _, body) = exchange(p, &request);
        let reply: Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{form}: {e}: {}", String::from_utf8_lossy(&body)));
        assert_eq!(
            (code, reply["code"].as_str().unwrap()),
            (want_status, want_code),
            "{form}: {reply}"
        );
    }
    assert_eq!(
        nc(p, format!("{over}\n").as_bytes())["code"],
        "line_too_long"
    );
    assert_eq!(server.ledger().len(), 2, "nothing more was recorded");

    // And real curl, chunked from a file, agrees too.
    let file = dir.path().join("tx.txt");
    std::fs::write(&file, &lf).unwrap();
    let (rc, out) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://127.0.0.1:{p}/tx"),
    ]);
    assert_eq!(rc, Some(0));
    let reply: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(reply["tx_id"], first["tx_id"]);
    assert_eq!(server.ledger().len(), 2);
}

#[test]
fn head_is_get_without_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let p = server.ports[0];
    for path in ["/", "/status", "/ledger", "/app.js"] {
        let get = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let (code, get_head, body) = exchange(p, get.as_bytes());
        assert_eq!(code, 200, "GET {path}");
        let head = get.replacen("GET", "HEAD", 1);
        let (code, head_head, nothing) = exchange(p, head.as_bytes());
        assert_eq!(code, 200, "HEAD {path}: {head_head}");
        assert!(nothing.is_empty(), "HEAD {path} sent a body");
        assert_eq!(
            header(&head_head, "content-type"),
            header(&get_head, "content-type")
        );
        if path != "/status" {
            // (/status's uptime changes its length.)
            assert_eq!(
                header(&head_head, "content-length"),
                Some(body.len().to_string().as_str()),
                "HEAD {path}"
            );
        }
    }
    let (code, head, _) = exchange(
        p,
        b"DELETE /status HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 405);
    assert!(header(&head, "allow").unwrap().contains("head"), "{head}");
}

/// Requests with an `Origin` are served only from the nodes' own origins (any node of the
/// process, by 127.0.0.1, localhost or [::1]) and from `--allow-origin`; CORS names exactly
/// them; a DNS name for the node is refused (DNS rebinding); no Origin (nc, curl) is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_origins_are_refused_on_every_route_and_the_nodes_own_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(
        dir.path(),
        &[
            "--difficulty",
            "1",
            "--allow-origin",
            "http://127.0.0.1:8080/",
        ],
    );
    let [p0, p1, p2] = [server.ports[0], server.ports[1], server.ports[2]];
    let request = |method: &str, path: &str, host: &str, origin: Option<&str>, body: &str| {
        let origin = origin.map_or(String::new(), |o| format!("Origin: {o}\r\n"));
        format!(
            "{method} {path} HTTP/1.1\r\nHost: {host}\r\n{origin}Connection: close\r\n\
             Content-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    };
    let own = [
        (p1, format!("http://127.0.0.1:{p0}")),
        (p0, format!("http://localhost:{p2}")),
        (p2, format!("http://[::1]:{p1}")),
        (p1, "http://127.0.0.1:8080".to_owned()),
    ];
    let foreign = [
        "http://evil.example",
        "https://127.0.0.1:8080",
        "http://127.0.0.1:8081",
        "null",
    ];
    for (i, (port, origin)) in own.iter().enumerate() {
        for (method, path) in [("GET", "/status"), ("GET", "/ledger"), ("POST", "/tx")] {
            let body = if method == "POST" {
                format!("own {i}")
            } else {
                String::new()
            };
            let host = format!("127.0.0.1:{port}");
            let (code, head, reply) = exchange(
                *port,
                request(method, path, &host, Some(origin), &body).as_bytes(),
            );
            assert_eq!(
                code,
                200,
                "{origin} {method} {path}: {}",
                String::from_utf8_lossy(&reply)
            );
            assert_eq!(
                header(&head, "access-control-allow-origin"),
                Some(origin.as_str())
            );
        }
        // A preflight (for a JSON POST) is answered with the same origin.
        let preflight = format!(
            "OPTIONS /tx HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n\
             Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: content-type\r\n\
             Connection: close\r\n\r\n"
        );
        let (code, head, _) = exchange(*port, preflight.as_bytes());
        assert_eq!(code, 204);
        assert_eq!(
            header(&head, "access-control-allow-origin"),
            Some(origin.as_str())
        );
        assert!(header(&head, "access-control-allow-methods")
            .unwrap()
            .contains("post"));
    }
    assert_eq!(
        server.ledger().len(),
        own.len(),
        "every allowed POST was raced"
    );

    for origin in foreign {
        for (method, path) in [
            ("GET", "/status"),
            ("GET", "/ledger"),
            ("GET", "/"),
            ("POST", "/tx"),
            ("OPTIONS", "/tx"),
        ] {
            let host = format!("127.0.0.1:{p0}");
            let (code, head, body) = exchange(
                p0,
                request(method, path, &host, Some(origin), "foreign").as_bytes(),
            );
            assert_eq!(code, 403, "{origin} {method} {path}");
            assert_eq!(header(&head, "access-control-allow-origin"), None);
            let error: Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(error["code"], "forbidden_origin", "{error}");
            assert_eq!(error["node"], "Node1");
        }
        // The WebSocket upgrade too.
        let mut ws =
            tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
                format!("ws://127.0.0.1:{p0}/events"),
            )
            .unwrap();
        ws.headers_mut().insert("origin", origin.parse().unwrap());
        match tokio_tungstenite::connect_async(ws).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 403, "{origin}");
                let error: Value = serde_json::from_slice(res.body().as_ref().unwrap()).unwrap();
                assert_eq!(error["code"], "forbidden_origin");
            }
            other => panic!("{origin}: the upgrade was not refused: {other:?}"),
        }
    }

    // DNS rebinding: a name that resolves to 127.0.0.1 makes Origin and Host agree, and its
    // same-origin GETs carry no Origin at all.
    let rebound = format!("rebind.example:{p0}");
    for origin in [Some(format!("http://{rebound}")), None] {
        let (code, _, body) = exchange(
            p0,
            request("GET", "/ledger", &rebound, origin.as_deref(), "").as_bytes(),
        );
        assert_eq!(code, 403, "{origin:?}");
        let error: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(error["code"], "forbidden_host");
    }
    let (code, _, _) = exchange(
        p0,
        request("POST", "/tx", &rebound, None, "rebound").as_bytes(),
    );
    assert_eq!(code, 403);

    // With no Origin (nc, curl, the CLI) everything is served, and a viewer is welcome.
    let (code, head, _) = exchange(
        p0,
        request("GET", "/status", "localhost", None, "").as_bytes(),
    );
    assert_eq!(code, 200);
    assert_eq!(header(&head, "access-control-allow-origin"), None);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{p0}/events"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    let mut allowed =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://localhost:{p2}/events"
        ))
        .unwrap();
    allowed
        .headers_mut()
        .insert("origin", format!("http://localhost:{p0}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(allowed).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "hello");
    assert_eq!(
        server.ledger().len(),
        own.len(),
        "no foreign POST was recorded"
    );
}

/// `--allow-origin` takes origins only, and says why not.
#[test]
fn allow_origin_refuses_what_is_not_an_origin() {
    let dir = tempfile::tempdir().unwrap();
    for bad in ["127.0.0.1:8080", "http://a/b", "*", "http://a:x"] {
        let out = run(dir.path(), &["serve", "--allow-origin", bad]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("is not a web origin"), "{bad}: {err}");
    }
}
