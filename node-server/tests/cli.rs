//! The command line refuses what it cannot do as asked: a transaction that is not one line
//! (nothing is sent), a thread count the search would not run; and says each cause once.

mod util;

use util::*;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn submit_refuses_what_is_not_one_line_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::serve(dir.path(), &["--nodes", "1", "--difficulty", "1"]);
    let to = format!("127.0.0.1:{}", server.ports[0]);
    for (data, why) in [
        ("multi A\nmulti B", "U+000A at byte 7"),
        ("multi A\r\nmulti B", "U+000D at byte 7"),
        ("trailing return\r", "U+000D at byte 15"),
        ("escape \x1b[31m", "U+001B"),
        ("", "empty line"),
        (&"x".repeat(64 * 1024 + 1), "longer than 65536 bytes"),
    ] {
        let out = run(dir.path(), &["submit", data, "--to", &to]);
        assert_eq!(out.status.code(), Some(2), "{data:?}");
        assert!(out.stdout.is_empty(), "{data:?}: no race is shown");
        let err = stderr(&out);
        assert!(
            err.starts_with("node-server: refusing to send") && err.contains(why),
            "{data:?}: {err}"
        );
    }
    // Tab is allowed, as on the line protocol; this is the only connection the node saw.
    let out = run(dir.path(), &["submit", "tab\tinside", "--to", &to]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    server.wait_for(|o| o.contains("wins the POW competition"));
    let data: Vec<String> = server
        .ledger()
        .iter()
        .map(|e| e["transaction_data"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(data, ["tab\tinside"]);
    assert_eq!(server.output().matches("got connection").count(), 1);
}

#[test]
fn thread_counts_the_search_would_not_run_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["mine", "x", "--threads", "0"][..],
        &["mine", "x", "--threads", "257"],
        &[
            "node",
            "--name",
            "N",
            "--listen",
            "127.0.0.1:1",
            "--threads",
            "100000",
        ],
        &[
            "node",
            "--name",
            "N",
            "--listen",
            "127.0.0.1:1",
            "--threads",
            "0",
        ],
        &["serve", "--threads-per-node", "0"],
        &["serve", "--threads-per-node", "257"],
    ] {
        let out = run(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("is not in 1..=256"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    // The bounds themselves run, and are reported as given.
    for threads in ["1", "256"] {
        let out = run(
            dir.path(),
            &[
                "mine",
                "bounds",
                "--difficulty",
                "1",
                "--threads",
                threads,
                "--json",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(m["threads"].to_string(), threads);
    }
}

#[test]
fn an_error_says_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("a-directory")).unwrap();
    let out = run(
        dir.path(),
        &[
            "serve",
            "--base-port",
            &free_ports(3)[0].to_string(),
            "--ledger",
            "a-directory",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert_eq!(
        err.to_lowercase().matches("is a directory").count(),
        1,
        "{err}"
    );
    assert!(err.starts_with("node-server: "), "{err}");
}

/// Options that cannot mean what they say are refused before anything starts, each naming what
/// is wrong: a value that would wrap, a node named twice, an unsolvable difficulty, a name the
/// etcd mode would refuse (or that forges console lines), ports past 65535.
#[test]
fn options_that_cannot_hold_are_refused_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_ports(1)[0]);
    let node = |extra: &[&str]| {
        let mut args = vec!["node", "--listen", &listen];
        if !extra.contains(&"--name") {
            args.extend(["--name", "N"]);
        }
        args.extend(extra);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let long_name = "n".repeat(65);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (node(&["--target-time", "1000000000d"]), "--target-time"),
        (node(&["--target-time", "25h"]), "at most 1day"),
        (node(&["--bits", "256"]), "at most 8 bytes (64 bits)"),
        (node(&["--bits", "65"]), "--bits 65"),
        (node(&["--difficulty", "9"]), "--difficulty 9"),
        (node(&["--name", ""]), "node name"),
        (node(&["--name", "a/b"]), "node name"),
        (node(&["--name", &long_name]), "1 to 64 bytes"),
        (node(&["--name", "N\nNode2 won"]), "control characters"),
        (
            ["serve", "--hashrate", "Node1=1M,Node1=2M"]
                .map(str::to_owned)
                .into(),
            "Node1 is named twice",
        ),
        (
            ["serve", "--race", "Node1=lottery,Node1=lab"]
                .map(str::to_owned)
                .into(),
            "Node1 is named twice",
        ),
        (
            ["serve", "--base-port", "0", "--nodes", "2"]
                .map(str::to_owned)
                .into(),
            "--base-port 0",
        ),
        (
            ["serve", "--base-port", "65535", "--nodes", "2"]
                .map(str::to_owned)
                .into(),
            "past 65535",
        ),
        (
            ["mine", "x", "--bits", "256"].map(str::to_owned).into(),
            "at most 8 bytes (64 bits)",
        ),
        (
            ["submit", "x", "--count", "2", "--stagger", "100000000000d"]
                .map(str::to_owned)
                .into(),
            "--stagger",
        ),
        (
            ["submit", "x", "--count", "2", "--rate", "1e-300"]
                .map(str::to_owned)
                .into(),
            "at least 0.001 races per second",
        ),
    ];
    for (args, says) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run(dir.path(), &args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", stderr(&out));
    }
    // Nothing started, nothing written.
    assert!(!dir.path().join("ledger.json").exists());
    // The bounds themselves are taken.
    let out = run(dir.path(), &["mine", "x", "--bits", "0", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}
