//! A host's `ledger.json` against etcd's chain (issue 14, item 1): a client is told `won` or
//! `lost` only when its host's file holds the decided entry at its index; a host whose file
//! and etcd disagree says so once, names the first differing index, answers no race and keeps
//! its file; and one file is never fed by two arbiters at once (an etcd node and a plain node,
//! or two etcd races under different prefixes). Real `node-server` processes on a real etcd
//! on loopback.
#![cfg(feature = "etcd")]

#[path = "util/netns.rs"]
mod netns;
mod util;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use netns::EtcdCluster;
use serde_json::Value;
use util::{free_ports, read_ledger, try_race, try_send, Server, BIN, PATIENCE};

/// The line of a host whose file is not the cluster's.
const DIVERGED: &str = "THIS HOST'S LEDGER IS NOT THE CLUSTER'S";

/// A `node --etcd` process on `dir/ledger.json`.
fn etcd_node(dir: &Path, name: &str, port: u16, etcd: &EtcdCluster, extra: &[&str]) -> Server {
    let endpoint = etcd.endpoint(0);
    let mut args = vec!["--etcd", endpoint.as_str()];
    args.extend_from_slice(extra);
    Server::node(dir, name, port, &args)
}

/// Runs a node that is expected to refuse to start: its output once it exits, or once
/// [`REFUSAL_PATIENCE`] has passed (it is killed then: it started).
fn refused_node(dir: &Path, name: &str, port: u16, extra: &[&str]) -> Output {
    let ledger = dir.join("ledger.json").display().to_string();
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .args([
            "node", "--name", name, "--listen", &listen, "--ledger", &ledger,
        ])
        .args(extra)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() && start.elapsed() < REFUSAL_PATIENCE {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// How long a node that should refuse to start is given to exit.
const REFUSAL_PATIENCE: Duration = Duration::from_secs(20);

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn outcome(reply: &Value) -> &str {
    reply["outcome"].as_str().unwrap_or("")
}

/// Waits until `f` holds, for at most [`PATIENCE`]; panics with `what` otherwise.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// etcd is wiped under two running nodes (stopped, its data removed, a fresh one started on
/// the same URL) and a third host joins the new etcd: the two old hosts' files hold entries
/// the new chain does not. Every race after that is decided in the new etcd; the two old
/// hosts must answer none of them `won`/`lost` (their files hold other entries at those
/// indexes), must say so once naming entry 0, must keep their files byte for byte, and a
/// restart on such a file is refused naming entry 0.
#[test]
fn after_etcd_is_wiped_hosts_with_the_old_chain_answer_no_race_and_keep_their_files() {
    let mut etcd = EtcdCluster::loopback(1);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports = free_ports(3);
    let a = etcd_node(dirs[0].path(), "Node1", ports[0], &etcd, &[]);
    let b = etcd_node(dirs[1].path(), "Node2", ports[1], &etcd, &[]);
    for t in ["before-1", "before-2"] {
        for r in try_race(&ports[..2], t) {
            let r = r.expect("a reply");
            assert!(matches!(outcome(&r), "won" | "lost"), "{t}: {r}");
        }
    }
    let files: Vec<_> = dirs.iter().map(|d| d.path().join("ledger.json")).collect();
    eventually("both files hold the two entries", || {
        files[..2]
            .iter()
            .all(|f| f.exists() && read_ledger(f).len() == 2)
    });
    let before: Vec<Vec<u8>> = files[..2]
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect();

    etcd.wipe(0);
    etcd.wait_healthy(&[0]);
    let c = etcd_node(dirs[2].path(), "Node3", ports[2], &etcd, &[]);
    for i in 0..3 {
        let t = format!("after-{i}");
        let replies = try_race(&ports, &t);
        for (n, r) in replies.iter().enumerate().take(2) {
            let r = r.as_ref().expect("a reply");
            assert!(
                r["error"].as_str().is_some_and(|e| e.contains(DIVERGED)),
                "host {}: {t} answered from a ledger that does not hold etcd's entry: {r}",
                n + 1
            );
        }
        let r = replies[2].as_ref().expect("a reply");
        assert!(matches!(outcome(r), "won" | "lost"), "{t}: {r}");
        assert_eq!(r["entry"]["index"], i, "{t}: {r}");
    }
    let c_ledger = read_ledger(&files[2]);
    assert_eq!(c_ledger.len(), 3, "the new chain, on the new host");
    for (n, f) in files[..2].iter().enumerate() {
        assert_eq!(
            std::fs::read(f).unwrap(),
            before[n],
            "host {} rewrote its file",
            n + 1
        );
    }
    // Once, loudly, at the first index that differs.
    for (n, node) in [&a, &b].into_iter().enumerate() {
        let out = node.output();
        assert_eq!(
            out.lines()
                .filter(|l| l.contains(DIVERGED) && l.contains("ERROR"))
                .count(),
            1,
            "host {}: the divergence is logged once:\n{out}",
            n + 1
        );
        assert!(
            out.contains(&format!("{DIVERGED}: entry 0 of")),
            "host {}: names entry 0:\n{out}",
            n + 1
        );
    }
    drop((a, b, c));
    // A restart on the old file is refused, naming the first entry that differs.
    let endpoint = etcd.endpoint(0);
    let out = refused_node(dirs[1].path(), "Node2", ports[1], &["--etcd", &endpoint]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{DIVERGED}: entry 0 of")),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&files[1]).unwrap(), before[1]);
}

/// An etcd node and a plain node on one `ledger.json` (either started first): the second is
/// refused at start, naming the arbiter that owns the file, and the file is not touched.
/// Before, both answered `won` at the same indexes and the file held only one of them.
#[test]
fn an_etcd_node_and_a_plain_node_cannot_share_a_ledger() {
    let etcd = EtcdCluster::loopback(1);
    let endpoint = etcd.endpoint(0);
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);

    let a = etcd_node(dir.path(), "Node1", ports[0], &etcd, &[]);
    let r = try_send(ports[0], "first").expect("a reply");
    assert_eq!(outcome(&r), "won", "{r}");
    let file = dir.path().join("ledger.json");
    let before = std::fs::read(&file).unwrap();
    let out = refused_node(dir.path(), "Node2", ports[1], &[]);
    assert!(
        !out.status.success(),
        "a plain node started:\n{}",
        text(&out)
    );
    assert!(
        text(&out).contains(&format!(
            "the etcd race at {endpoint} with key prefix /powrace/"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(std::fs::read(&file).unwrap(), before);
    assert_eq!(a.stop(), Some(0));

    // The other way round, on a fresh file.
    let dir = tempfile::tempdir().unwrap();
    let plain = Server::node(dir.path(), "Node2", ports[1], &[]);
    let r = try_send(ports[1], "plain").expect("a reply");
    assert_eq!(outcome(&r), "won", "{r}");
    let out = refused_node(dir.path(), "Node1", ports[0], &["--etcd", &endpoint]);
    assert!(
        !out.status.success(),
        "an etcd node started:\n{}",
        text(&out)
    );
    assert!(text(&out).contains("the file arbiter"), "{}", text(&out));
    assert_eq!(read_ledger(&dir.path().join("ledger.json")).len(), 1);
    drop(plain);
}

/// Two races on one etcd under different `--etcd-prefix` values (which the README allows),
/// started from one directory, so on one `ledger.json`: the second is refused naming both
/// prefixes. Before, both clients were told `won` at index 0 and the file held one entry.
#[test]
fn two_etcd_races_cannot_share_a_ledger() {
    let etcd = EtcdCluster::loopback(1);
    let endpoint = etcd.endpoint(0);
    let dir = tempfile::tempdir().unwrap();
    let ports = free_ports(2);
    let a = etcd_node(
        dir.path(),
        "Node1",
        ports[0],
        &etcd,
        &["--etcd-prefix", "/a/"],
    );
    let out = refused_node(
        dir.path(),
        "Node2",
        ports[1],
        &["--etcd", &endpoint, "--etcd-prefix", "/b/"],
    );
    assert!(
        !out.status.success(),
        "a second race started:\n{}",
        text(&out)
    );
    let t = text(&out);
    assert!(
        t.contains("with key prefix /a/") && t.contains("with key prefix /b/"),
        "{t}"
    );
    // The same race from the same directory is welcome.
    let b = etcd_node(
        dir.path(),
        "Node2",
        ports[1],
        &etcd,
        &["--etcd-prefix", "/a/"],
    );
    let replies = try_race(&ports, "one race");
    let won = replies
        .iter()
        .filter(|r| r.as_ref().is_some_and(|r| outcome(r) == "won"))
        .count();
    assert_eq!(won, 1, "{replies:?}");
    drop((a, b));
}

/// A node at another difficulty than the cluster's (recorded in etcd by the first node to
/// join) is refused at join, naming both; before, a `--difficulty 0` node joined a
/// difficulty-2 cluster and won races with `nonce: 0, difficulty: 0`, and a `--difficulty 2`
/// node in a difficulty-1 cluster could never win.
#[test]
fn a_node_at_another_difficulty_cannot_join_the_cluster() {
    let etcd = EtcdCluster::loopback(1);
    let endpoint = etcd.endpoint(0);
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let ports = free_ports(2);
    // Nothing decided yet: the settings alone say what the cluster races at.
    let a = etcd_node(
        dirs[0].path(),
        "Node1",
        ports[0],
        &etcd,
        &["--difficulty", "2"],
    );
    let out = refused_node(
        dirs[1].path(),
        "Node2",
        ports[1],
        &["--etcd", &endpoint, "--difficulty", "0"],
    );
    let t = text(&out);
    assert!(!out.status.success(), "it joined:\n{t}");
    assert!(
        t.contains("this node races at difficulty 0 (0 zero bits)")
            && t.contains("races at difficulty 2 (16 zero bits)"),
        "{t}"
    );
    assert!(!dirs[1].path().join("ledger.json").exists());
    let r = try_send(ports[0], "at two").expect("a reply");
    assert_eq!(outcome(&r), "won", "{r}");
    drop(a);
}
