//! Hostile clients: oversized, malformed, silent, slow and flooding clients each get their
//! error (or are dropped) while honest clients on the same server are still answered, and the
//! ledger records nothing it should not.

mod util;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_util::StreamExt;
use node_server::limits::{
    LINE_DEADLINE, MAX_CONNECTIONS, MAX_LINE_BYTES, REPLY_SEND_TIMEOUT, WS_SEND_TIMEOUT,
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
    let res = http(b"GET /no/such/path HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(res.starts_with("HTTP/1.1 404"), "{res}");
    let body: Value = serde_json::from_str(res.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["code"], "not_found");
    assert_eq!(body["node"], "Node1");

    let mut big = b"GET /status HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    let res = http(&big);
    assert!(res.starts_with("HTTP/1.1 431"), "{res}");

    let res = http(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
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
    s.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status: Value = serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(status["races"], 1, "one search");
}
