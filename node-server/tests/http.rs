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
        "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["node"], "Node2");
    assert_eq!(status["difficulty"], 1);
    assert_eq!(status["ledger_entries"], 0);
    assert!(status["kernel"].is_string() && status["threads"].as_u64().unwrap() >= 1);

    let tx = "posted over http";
    let req = format!(
        "POST /tx HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{tx}",
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
        "POST /tx HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json_tx}",
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
        "GET /ledger HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(code, 200);
    let ledger: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ledger.as_array().unwrap().len(), 2);
    assert_eq!(
        ledger,
        Value::Array(server.ledger()),
        "/ledger is ledger.json"
    );

    // Metrics count what the event stream saw: two races at this node, each with a search.
    let (code, body) = http(
        p,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
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

    let req = "POST /tx HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 3\r\n\r\na\0b";
    let (code, body) = http(p, req);
    assert_eq!(code, 400);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["code"],
        "control_character"
    );
}
