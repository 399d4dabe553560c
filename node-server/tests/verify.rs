//! `node-server verify` catches every kind of tampering and names the first bad entry.

mod util;

use std::path::Path;

use serde_json::Value;
use util::*;

type Tamper = Box<dyn Fn(&mut Vec<Value>)>;

fn write(path: &Path, entries: &[Value]) {
    std::fs::write(path, serde_json::to_string_pretty(entries).unwrap()).unwrap();
}

fn verify(dir: &Path, file: &str, extra: &[&str]) -> (i32, String) {
    let mut args = vec!["verify", file];
    args.extend_from_slice(extra);
    let out = run(dir, &args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap(), text)
}

#[test]
fn verify_catches_every_kind_of_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "1"]);
    for i in 0..5 {
        race(&server.ports, &format!("entry {i}"));
    }
    drop(server);
    let d = dir.path();
    let good = read_ledger(&d.join("ledger.json"));
    assert_eq!(good.len(), 5);
    assert_eq!(verify(d, "ledger.json", &[]).0, 0);
    assert_eq!(verify(d, "ledger.json", &["--smallest"]).0, 0);

    let cases: Vec<(&str, Tamper, &str)> = vec![
        (
            "time_taken changed",
            Box::new(|l| l[2]["time_taken"] = (l[2]["time_taken"].as_f64().unwrap() * 0.5).into()),
            "entry 2",
        ),
        (
            "winner changed",
            Box::new(|l| l[1]["node"] = "Node9".into()),
            "entry 1",
        ),
        (
            "nonce changed",
            Box::new(|l| l[3]["nonce"] = (l[3]["nonce"].as_u64().unwrap() + 1).into()),
            "entry 3",
        ),
        (
            "data changed",
            Box::new(|l| l[0]["transaction_data"] = "entry X".into()),
            "entry 0",
        ),
        (
            "entry removed",
            Box::new(|l| {
                l.remove(2);
            }),
            "entry 2",
        ),
        ("entries reordered", Box::new(|l| l.swap(1, 3)), "entry 1"),
        (
            "entry duplicated",
            Box::new(|l| {
                let e = l[1].clone();
                l.insert(2, e);
            }),
            "entry 2",
        ),
        (
            "field added",
            Box::new(|l| l[4]["bonus"] = 1.into()),
            "entry 4",
        ),
    ];
    for (what, tamper, names) in cases {
        let mut l = good.clone();
        tamper(&mut l);
        write(&d.join("tampered.json"), &l);
        let (code, text) = verify(d, "tampered.json", &["--attempts", "ledger.attempts.jsonl"]);
        assert_eq!(code, 1, "{what}: {text}");
        assert!(text.contains(names), "{what}: expected {names:?} in {text}");
    }

    // The end cut off: a valid shorter chain, caught by the attempts log.
    write(&d.join("tampered.json"), &good[..3]);
    let (code, text) = verify(d, "tampered.json", &["--attempts", "ledger.attempts.jsonl"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("entry 3") && text.contains("missing"),
        "{text}"
    );

    // A truncated file names the last entry that parses.
    let bytes = std::fs::read(d.join("ledger.json")).unwrap();
    std::fs::write(d.join("tampered.json"), &bytes[..bytes.len() * 3 / 5]).unwrap();
    let (code, text) = verify(d, "tampered.json", &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("truncated"), "{text}");

    // A missing file is an error (exit 2, saying so), not "valid: 0 entries".
    let (code, text) = verify(d, "nope.json", &[]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("nope.json") && text.contains("No such file"),
        "{text}"
    );
}

#[test]
fn a_node_refuses_to_start_on_a_tampered_ledger_and_leaves_it_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "1"]);
    race(&server.ports, "one");
    race(&server.ports, "two");
    drop(server);
    let path = dir.path().join("ledger.json");
    let mut l = read_ledger(&path);
    l[1]["nonce"] = 1.into();
    write(&path, &l);
    let before = std::fs::read(&path).unwrap();
    let ports = free_ports(3);
    let out = run(dir.path(), &["serve", "--base-port", &ports[0].to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ledger.json") && err.contains("entry 1"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the ledger is never overwritten"
    );
}

/// `rm ledger.json` is the lab's way to start over: the attempts log beside it still holds the
/// old ledger's wins, and must not make the clean new ledger "INVALID" (issue 8 §7).
#[test]
fn a_ledger_started_over_verifies_and_the_old_wins_are_named_not_held_against_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::serve(d, &["--difficulty", "1"]);
    for i in 0..3 {
        race(&server.ports, &format!("old {i}"));
    }
    std::fs::remove_file(d.join("ledger.json")).unwrap();
    race(&server.ports, "new 0");
    // The attempts log is written a moment after the replies: wait for the new win in it
    // before the node is killed (a kill -9 loses what its writer had not written yet).
    let log = d.join("ledger.attempts.jsonl");
    let deadline = std::time::Instant::now() + util::PATIENCE;
    while !std::fs::read_to_string(&log).is_ok_and(|t| {
        t.lines()
            .any(|l| l.contains("\"new 0\"") && l.contains("\"won\""))
    }) {
        assert!(
            std::time::Instant::now() < deadline,
            "the new win never reached {log:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    drop(server);
    assert_eq!(read_ledger(&d.join("ledger.json")).len(), 1);
    let (code, text) = verify(d, "ledger.json", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("1 recorded wins cross-checked"), "{text}");
    assert!(
        text.contains("3 wins belong to another ledger") && text.contains("started over"),
        "{text}"
    );
    // The new ledger's own wins are still checked: cut its one entry and it is caught... as
    // an empty ledger, which cannot be told from one started over, and says so.
    std::fs::write(d.join("ledger.json"), "[]\n").unwrap();
    let (code, text) = verify(d, "ledger.json", &[]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("either it was started over, or every entry was removed"),
        "{text}"
    );
}

/// A duplicate key makes readers disagree on what the entry says (a JSON reader keeping the
/// first `node` sees another winner than one keeping the last): it is not an entry.
#[test]
fn an_entry_with_a_duplicate_key_is_refused_by_verify_and_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::serve(d, &["--difficulty", "1"]);
    race(&server.ports, "one");
    race(&server.ports, "two");
    drop(server);
    let path = d.join("ledger.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let winner = read_ledger(&path)[1]["node"].as_str().unwrap().to_owned();
    let at = text.rfind(&format!("\"node\": \"{winner}\"")).unwrap();
    let forged = format!("{}\"node\": \"Mallory\",\n    {}", &text[..at], &text[at..]);
    std::fs::write(&path, &forged).unwrap();
    let (code, out) = verify(d, "ledger.json", &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("entry 1") && out.contains("duplicate field `node`"),
        "{out}"
    );
    let ports = free_ports(3);
    let out = run(d, &["serve", "--base-port", &ports[0].to_string()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate field `node`"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), forged);
}
