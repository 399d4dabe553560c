//! One difficulty per chain (issue 14, item 9): the chain's first entry fixes the difficulty
//! of every entry. A node at another difficulty is refused on a ledger that has a chain, a
//! claim mined at another difficulty is refused by the arbiter (nothing recorded), and
//! `verify` holds every entry to the chain's rule, not to the entry's own field.

mod util;

use std::time::{Duration, Instant};

use pow_core::chain::{Entry, NewEntry};
use pow_core::Difficulty;
use util::{free_ports, read_ledger, run, try_send, Server};

/// An entry mined at `bytes` zero bytes, chained onto `prev`.
fn mined(data: &str, bytes: u32, prev: Option<&Entry>) -> Entry {
    let d = Difficulty::from_zero_bytes(u64::from(bytes)).unwrap();
    let s = pow_core::search::solve(data.as_bytes(), d)
        .solution
        .unwrap();
    NewEntry {
        node: "Node1".into(),
        transaction_data: data.into(),
        nonce: s.nonce,
        hash: s.hash,
        time_taken: 0.001,
        start_time: "2026-12-05 08:00:00.000000".into(),
        end_time: "2026-12-05 08:00:00.001000".into(),
        difficulty: bytes,
        ..Default::default()
    }
    .chain_onto(prev)
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A node at difficulty 0 started on a difficulty-1 ledger is refused, naming both; before,
/// it started and won every race with `nonce: 0`.
#[test]
fn a_node_at_another_difficulty_is_refused_on_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let r = try_send(server.ports[0], "at one").expect("a reply");
    assert_eq!(r["outcome"], "won", "{r}");
    drop(server);
    let port = free_ports(1)[0].to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(util::BIN)
        .args([
            "node",
            "--name",
            "Easy",
            "--listen",
            &listen,
            "--difficulty",
            "0",
        ])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "it started:\n{t}");
    assert!(
        t.contains("Easy is mined at difficulty 0 (0 zero bits)")
            && t.contains("a chain at difficulty 1 (8 zero bits)"),
        "{t}"
    );
}

/// Two processes on one empty ledger, at difficulties 1 and 0: the first entry (difficulty 1)
/// fixes the chain, and the other's claims are refused (`withdrawn`, nothing recorded); the
/// ledger verifies. Before, the easy node won with `nonce: 0, difficulty: 0` and `verify`
/// said valid.
#[test]
fn a_claim_at_another_difficulty_is_refused_and_nothing_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let hard = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let port = free_ports(1)[0];
    let easy = Server::node(dir.path(), "Easy", port, &["--difficulty", "0"]);
    let r = try_send(hard.ports[0], "first").expect("a reply");
    assert_eq!(r["outcome"], "won", "{r}");
    for i in 0..5 {
        let r = try_send(port, &format!("easy {i}")).expect("a reply");
        assert_eq!(r["code"], "withdrawn", "{r}");
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("difficulty 1 (8 zero bits)"),
            "{r}"
        );
    }
    let ledger = read_ledger(&dir.path().join("ledger.json"));
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    drop((hard, easy));
    util::assert_verifies(dir.path(), "ledger.json");
}

/// `verify` on a chain whose second entry is a valid proof of work at an easier difficulty
/// than the first's: exit 1 naming entry 1. Before, it said valid (each entry was checked
/// against its own `difficulty`).
#[test]
fn verify_holds_every_entry_to_the_chains_difficulty() {
    let dir = tempfile::tempdir().unwrap();
    let first = mined("hard", 1, None);
    let easy = mined("easy", 0, Some(&first));
    let text_of = |entries: &[Entry]| serde_json::to_string_pretty(entries).unwrap();
    std::fs::write(
        dir.path().join("mixed.json"),
        text_of(&[first.clone(), easy]),
    )
    .unwrap();
    let out = run(dir.path(), &["verify", "mixed.json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("entry 1: mined at difficulty 0 (0 zero bits), but the chain's first entry fixes difficulty 1 (8 zero bits)"),
        "{}",
        text(&out)
    );
    let same = mined("same", 1, Some(&first));
    std::fs::write(dir.path().join("same.json"), text_of(&[first, same])).unwrap();
    util::assert_verifies(dir.path(), "same.json");
}
