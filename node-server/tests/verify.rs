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

    // A missing file is an error, not a verdict.
    assert_eq!(
        verify(d, "nope.json", &[]).0,
        0,
        "a missing ledger is an empty, valid ledger"
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
