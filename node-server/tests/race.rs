//! The race end to end: the real binary, real `nc`, the known answers, exactly one winner.

mod util;

use std::collections::HashSet;

use serde_json::Value;
use util::*;

fn outcomes(replies: &[Value]) -> Vec<String> {
    let mut o: Vec<String> = replies
        .iter()
        .map(|r| r["outcome"].as_str().unwrap().to_owned())
        .collect();
    o.sort();
    o
}

#[test]
fn the_labs_exact_command_with_real_nc() {
    require_nc();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &[]);
    let [p0, p1, p2] = [server.ports[0], server.ports[1], server.ports[2]];
    for (data, nonce, hash) in [
        (
            "Gova and Emmanuel Blockchain Lab 3",
            6907,
            "0000eeb41af536cd2de707b167f685e35dac64473dca6e6d2b2c3b57d00b563d",
        ),
        (
            "Gova and Emmanuel Blockchain Lab 3 WOW",
            94380,
            "00001ddedd5567c96c531f7fa49d883b881edc9a935c46514b69d61a2fd5d424",
        ),
    ] {
        // The lab's command, verbatim but for the ports. Its stdout closes only when all three
        // nc processes have exited: each must exit by itself after its reply.
        let cmd = format!(
            "echo \"{data}\" | tee >(nc localhost {p0}) >(nc localhost {p1}) >(nc localhost {p2}) > /dev/null"
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &cmd])
            .output()
            .unwrap();
        assert!(out.status.success());
        let replies: Vec<Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
            .collect();
        assert_eq!(replies.len(), 3, "one reply line per nc");
        assert_eq!(outcomes(&replies), ["lost", "lost", "won"]);
        let nodes: HashSet<&str> = replies
            .iter()
            .map(|r| r["node"].as_str().unwrap())
            .collect();
        assert_eq!(nodes, HashSet::from(["Node1", "Node2", "Node3"]));
        let winner = replies.iter().find(|r| r["outcome"] == "won").unwrap();
        for r in &replies {
            assert_eq!(r["nonce"], nonce);
            assert_eq!(r["hash"], hash);
            assert_eq!(r["winner"], winner["node"]);
            for f in ["start_time", "end_time"] {
                assert!(
                    pow_core::chain::is_timestamp(r[f].as_str().unwrap()),
                    "{f}: {}",
                    r[f]
                );
            }
            assert!(r["time_taken"].as_f64().unwrap() > 0.0);
            if r["outcome"] == "lost" {
                assert!(r["margin"].as_f64().unwrap() >= 0.0);
            }
        }
        assert_eq!(python_sha256(data, nonce), hash);
    }
    let ledger = server.ledger();
    assert_eq!(ledger.len(), 2);
    assert_eq!(
        ledger[0]["transaction_data"],
        "Gova and Emmanuel Blockchain Lab 3"
    );
    assert_eq!(ledger[0]["nonce"], 6907);
    assert_eq!(ledger[1]["nonce"], 94380);
    let out = server.output();
    for line in [
        "Node1 started on port",
        "got connection from",
        "received transaction: Gova and Emmanuel Blockchain Lab 3",
        "started POW at ",
        "completed POW at ",
        "wins the POW competition!",
        "Ledger updated with: {",
        "finished POW, but another node already won.",
    ] {
        assert!(out.contains(line), "missing {line:?} in:\n{out}");
    }
    assert_eq!(out.matches("wins the POW competition!").count(), 2);
}

#[test]
fn a_full_race_over_tcp_gives_every_known_answer() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "2"]);
    let mut recorded = 0;
    for v in vectors().iter().filter(|v| v["difficulty"] == 2) {
        let data = v["transaction_data"].as_str().unwrap();
        let replies = race(&server.ports, data);
        if data.is_empty() {
            // The nodes refuse an empty line; pow-core and `mine` cover this vector.
            assert!(
                replies.iter().all(|r| r["code"] == "empty_line"),
                "{replies:?}"
            );
            continue;
        }
        assert_eq!(outcomes(&replies), ["lost", "lost", "won"], "{}", v["why"]);
        for r in &replies {
            assert_eq!(r["nonce"], v["nonce"], "{}", v["why"]);
            assert_eq!(r["hash"], v["hash"], "{}", v["why"]);
            assert_eq!(r["transaction_data"], data);
        }
        recorded += 1;
    }
    assert_eq!(server.ledger().len(), recorded);
    assert_verifies(dir.path(), "ledger.json");
}

#[test]
fn mine_gives_the_known_answers() {
    let dir = tempfile::tempdir().unwrap();
    for v in vectors() {
        let data = v["transaction_data"].as_str().unwrap();
        let d = v["difficulty"].to_string();
        let out = run(dir.path(), &["mine", data, "--difficulty", &d, "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let m: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(m["nonce"], v["nonce"], "{}", v["why"]);
        assert_eq!(m["hash"], v["hash"], "{}", v["why"]);
        assert!(m["time_taken"].as_f64().unwrap() >= 0.0);
        let nonce = v["nonce"].as_u64().unwrap();
        assert_eq!(
            python_sha256(data, nonce),
            v["hash"].as_str().unwrap(),
            "hashlib agrees"
        );
    }
    // Zero bits: 12 bits is between 1 and 2 bytes.
    let out = run(dir.path(), &["mine", "hello", "--bits", "12", "--json"]);
    let m: Value = serde_json::from_slice(&out.stdout).unwrap();
    let hash = m["hash"].as_str().unwrap();
    assert!(hash.starts_with("000"), "{hash}");
    let out = run(dir.path(), &["mine", "hello", "--difficulty", "40"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("out of range"));
}

#[test]
fn exactly_one_entry_per_transaction_under_load() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "1"]);
    const TXS: usize = 300;
    let replies = race_many(&server.ports, "load transaction", TXS);
    let odd: Vec<&Value> = replies
        .iter()
        .filter(|r| r["outcome"] != "won" && r["outcome"] != "lost")
        .take(3)
        .collect();
    assert!(odd.is_empty(), "{odd:#?}");
    let won = replies.iter().filter(|r| r["outcome"] == "won").count();
    assert_eq!(won, TXS, "exactly one winner per transaction");
    assert!(replies
        .iter()
        .all(|r| r["outcome"] == "won" || r["outcome"] == "lost"));
    let ledger = server.ledger();
    assert_eq!(ledger.len(), TXS);
    let unique: HashSet<&str> = ledger
        .iter()
        .map(|e| e["transaction_data"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), TXS);
    assert_verifies(dir.path(), "ledger.json");
    // The first node to finish is the one recorded: in every race, no loser ended before the
    // winner (the timestamps' layout sorts as text).
    for r in replies.iter().filter(|r| r["outcome"] == "lost") {
        assert!(
            r["end_time"].as_str().unwrap() >= r["entry"]["end_time"].as_str().unwrap(),
            "a loser finished first: {r}"
        );
    }
    // Every reply's entry is the one in the file.
    for r in replies {
        let i = r["entry"]["index"].as_u64().unwrap() as usize;
        assert_eq!(ledger[i], r["entry"]);
    }
}

#[test]
fn separate_node_processes_sharing_one_ledger_record_one_winner() {
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(3);
    let nodes: Vec<Server> = ports
        .iter()
        .enumerate()
        .map(|(i, &p)| {
            Server::node(
                dir.path(),
                &format!("Node{}", i + 1),
                p,
                &["--difficulty", "1", "--threads", "1"],
            )
        })
        .collect();
    const TXS: usize = 100;
    let replies = race_many(&ports, "multi-process", TXS);
    assert_eq!(
        replies.iter().filter(|r| r["outcome"] == "won").count(),
        TXS
    );
    let ledger = read_ledger(&dir.path().join("ledger.json"));
    assert_eq!(ledger.len(), TXS);
    assert_verifies(dir.path(), "ledger.json");
    drop(nodes);
}

#[test]
fn a_restart_records_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &[]);
    race(&server.ports, "before the restart");
    assert_eq!(server.stop(), Some(0), "SIGTERM exits cleanly");
    let server = Server::serve(dir.path(), &[]);
    let replies = race(&server.ports, "before the restart");
    assert_eq!(outcomes(&replies), ["recorded", "recorded", "recorded"]);
    assert!(replies.iter().all(|r| r["entry"]["index"] == 0));
    let replies = race(&server.ports, "after the restart");
    assert_eq!(outcomes(&replies), ["lost", "lost", "won"]);
    let ledger = server.ledger();
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[1]["prev_hash"], ledger[0]["entry_hash"]);
    let report = run(dir.path(), &["report"]);
    let text = String::from_utf8_lossy(&report.stdout);
    for node in ["Node1", "Node2", "Node3"] {
        assert!(text.contains(node), "{text}");
    }
}

#[test]
fn on_loss_abort_stops_the_losers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--on-loss", "abort", "--difficulty", "3"]);
    let replies = race(&server.ports, "block 4");
    let o = outcomes(&replies);
    assert_eq!(o.iter().filter(|o| *o == "won").count(), 1, "{o:?}");
    assert!(
        o.iter()
            .all(|o| o == "won" || o == "aborted" || o == "lost"),
        "{o:?}"
    );
    let won = replies.iter().find(|r| r["outcome"] == "won").unwrap();
    assert_eq!(won["nonce"], 5011988);
    // An aborted node hashed less than the whole way to the answer.
    for r in replies.iter().filter(|r| r["outcome"] == "aborted") {
        assert!(r["hashes"].as_u64().unwrap() <= 5_011_989, "{r}");
    }
}

#[test]
fn submit_prints_the_race_as_a_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &[]);
    let to: Vec<String> = server
        .ports
        .iter()
        .map(|p| format!("127.0.0.1:{p}"))
        .collect();
    let out = run(
        dir.path(),
        &["submit", "hello from submit", "--to", &to.join(",")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let entry = &server.ledger()[0];
    let winner = entry["node"].as_str().unwrap();
    for node in ["Node1", "Node2", "Node3"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(node))
            .unwrap_or_else(|| panic!("{text}"));
        let expected = if node == winner { " won " } else { " lost " };
        assert!(row.contains(expected), "{row}");
    }
    assert!(
        text.contains(&format!(
            "winner: {winner} (ledger index 0), nonce {}",
            entry["nonce"]
        )),
        "{text}"
    );

    // --json: one reply per node; a node that is down is an error, and the exit code says so.
    let down = free_ports(1)[0];
    let out = run(
        dir.path(),
        &[
            "submit",
            "hello from submit",
            "--json",
            "--to",
            &format!("{},127.0.0.1:{down}", to[0]),
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["outcome"], "recorded");
    assert!(
        lines[1]["error"]
            .as_str()
            .unwrap()
            .contains("cannot connect"),
        "{}",
        lines[1]
    );
}
