//! Real `node-server node --etcd` processes on three hosts (network namespaces on a bridge),
//! one etcd member per host, and the faults of issue 10: a node killed and restarted, an etcd
//! member down, a host cut off, etcd entirely down, a node whose clock is off, a name taken
//! twice. Every client talks to its own host's node from inside that host.
//!
//! What every test checks at its end: each transaction a client got a `won`/`lost` answer for
//! is in the ledger exactly once, with the entry the client was shown; at most one client was
//! told `won` per transaction (exactly one where every node answered); the `ledger.json` of
//! every host ends byte-identical, holds as many entries as etcd's head says, and passes
//! `node-server verify`. Needs root (CI runs as root); says SKIPPED otherwise.
#![cfg(feature = "etcd")]

#[path = "util/netns.rs"]
mod netns;
mod util;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use netns::{root_or_skip, EtcdCluster, Host, Net};
use serde_json::Value;
use util::{Server, BIN, PATIENCE};

/// Every node listens on this port of its host.
const PORT: u16 = 5000;

/// The node whose host's `--listen` is `0.0.0.0` and that says where it is reached with
/// `--advertise` (the others listen on their host's address).
const ADVERTISED: usize = 2;

/// `faketime`'s preload library, which Debian's `faketime` package installs.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Three hosts, an etcd member on each, and a node per host (`Node1` on `h1`, …).
struct Bed {
    nodes: Vec<Option<Server>>,
    etcd: EtcdCluster,
    dir: tempfile::TempDir,
    /// Which etcd members run (for reading etcd's head).
    members_up: [bool; 3],
    /// Dropped last (fields drop in this order): the nodes and members first, then the
    /// hosts, and only then may the next test build its bed.
    net: Net,
}

impl Bed {
    /// The hosts and etcd, no node yet.
    fn new() -> Bed {
        let net = Net::new(3);
        let etcd = EtcdCluster::on_hosts(&net);
        let dir = tempfile::tempdir().unwrap();
        for n in 1..=3 {
            std::fs::create_dir(dir.path().join(format!("h{n}"))).unwrap();
        }
        Bed {
            net,
            etcd,
            dir,
            nodes: vec![None, None, None],
            members_up: [true; 3],
        }
    }

    /// The hosts, etcd, and the three nodes running.
    fn with_nodes() -> Bed {
        let mut bed = Bed::new();
        for n in 1..=3 {
            bed.start(n);
        }
        bed
    }

    fn host(&self, n: usize) -> &Host {
        self.net.host(n)
    }

    /// Where node `n` is reached.
    fn addr(&self, n: usize) -> SocketAddr {
        format!("{}:{PORT}", self.host(n).ip).parse().unwrap()
    }

    fn host_dir(&self, n: usize) -> PathBuf {
        self.dir.path().join(format!("h{n}"))
    }

    fn ledger_path(&self, n: usize) -> PathBuf {
        self.host_dir(n).join("ledger.json")
    }

    /// `node-server node` for node `n` on its host, as a user would start it: every etcd
    /// member's URL, its own host's first.
    fn node_command(&self, n: usize, name: &str, port: u16, env: &[(&str, &str)]) -> Command {
        let mut endpoints = self.etcd.endpoints();
        endpoints.rotate_left(n - 1);
        let ip = &self.host(n).ip;
        let listen = if n == ADVERTISED {
            format!("0.0.0.0:{port}")
        } else {
            format!("{ip}:{port}")
        };
        let mut cmd = self.host(n).command(BIN);
        cmd.args(["node", "--name", name, "--listen", &listen]);
        if n == ADVERTISED {
            cmd.args(["--advertise", &format!("{ip}:{port}")]);
        }
        cmd.args([
            "--etcd",
            &endpoints.join(","),
            "--ledger",
            &self.ledger_path(n).display().to_string(),
            "--difficulty",
            "2",
            "--threads",
            "1",
        ]);
        cmd.envs(env.iter().copied());
        cmd
    }

    /// Starts node `n` (again); returns once it listens (registered in the cluster).
    fn start(&mut self, n: usize) {
        self.start_with(n, &[], &[]);
    }

    fn start_with(&mut self, n: usize, args: &[&str], env: &[(&str, &str)]) {
        let mut cmd = self.node_command(n, &format!("Node{n}"), PORT, env);
        cmd.args(args);
        self.nodes[n - 1] = Some(Server::spawn_command(&self.host_dir(n), cmd, vec![PORT]));
    }

    fn node(&self, n: usize) -> &Server {
        self.nodes[n - 1].as_ref().expect("the node runs")
    }

    /// Sends `line` to node `n` from its own host; its reply, or `None` if the connection
    /// failed or closed without one.
    fn send(&self, n: usize, line: &str) -> Option<Value> {
        let addr = self.addr(n);
        self.host(n).enter(|| send_to(addr, line))
    }

    /// Sends each `(node, line)` at once, each from its node's host; the replies in order.
    fn send_all(&self, sends: &[(usize, String)]) -> Vec<Option<Value>> {
        std::thread::scope(|s| {
            let handles: Vec<_> = sends
                .iter()
                .map(|(n, line)| s.spawn(move || self.send(*n, line)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        })
    }

    /// The lab's way: `line` to the nodes in `to`, all at once. Each answer with its node.
    fn race(&self, to: &[usize], line: &str) -> Vec<(usize, Option<Value>)> {
        let sends: Vec<(usize, String)> = to.iter().map(|&n| (n, line.to_owned())).collect();
        to.iter().copied().zip(self.send_all(&sends)).collect()
    }

    /// `GET path` on node `n`, from its own host: status and JSON body.
    fn get(&self, n: usize, path: &str) -> (u16, Value) {
        let addr = self.addr(n);
        self.host(n).enter(|| http_get(addr, path))
    }

    /// The names `GET /cluster` on node `n` lists, sorted, and their addresses.
    fn cluster(&self, n: usize) -> Vec<(String, String)> {
        let (status, body) = self.get(n, "/cluster");
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["cluster"], "etcd", "{body}");
        let mut nodes: Vec<(String, String)> = body["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["name"].as_str().unwrap().to_owned(),
                    v["addr"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        nodes.sort();
        nodes
    }

    /// Waits until `GET /cluster` on node `n` lists exactly the nodes `live`, each at its
    /// host's address.
    fn wait_cluster(&self, n: usize, live: &[usize]) {
        let want: Vec<(String, String)> = live
            .iter()
            .map(|&m| (format!("Node{m}"), self.addr(m).to_string()))
            .collect();
        let start = Instant::now();
        loop {
            let got = self.cluster(n);
            if got == want {
                return;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "GET /cluster on Node{n}: {got:?}, expected {want:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The number of entries etcd's head says the ledger has, read with a quorum through a
    /// running member.
    fn etcd_entries(&self) -> Option<u64> {
        for i in (0..3).filter(|&i| self.members_up[i]) {
            let out = self
                .etcd
                .etcdctl(i, &["get", "/powrace/head", "--print-value-only"]);
            if out.status.success() {
                let text = String::from_utf8_lossy(&out.stdout);
                let text = text.trim();
                if text.is_empty() {
                    return Some(0);
                }
                let head: Value = serde_json::from_str(text).unwrap();
                return Some(head["index"].as_u64().unwrap() + 1);
            }
        }
        None
    }

    fn kill_member(&mut self, i: usize) {
        self.etcd.kill9(i);
        self.members_up[i] = false;
    }

    fn restart_member(&mut self, i: usize) {
        self.etcd.restart(i);
        self.members_up[i] = true;
    }

    /// Waits until the ledger files of `hosts` are byte-identical and hold every entry etcd
    /// has decided; then checks them (`verify` on each, each transaction once) and returns
    /// the entries.
    fn converged(&self, hosts: &[usize]) -> Vec<Value> {
        let start = Instant::now();
        let bytes = loop {
            let want = self.etcd_entries();
            let files: Vec<Vec<u8>> = hosts
                .iter()
                .map(|&n| std::fs::read(self.ledger_path(n)).unwrap_or_default())
                .collect();
            let same = files.windows(2).all(|w| w[0] == w[1]);
            let count = serde_json::from_slice::<Vec<Value>>(&files[0])
                .map(|l| l.len() as u64)
                .ok();
            if same && want.is_some() && count == want {
                break files.into_iter().next().unwrap();
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the hosts' ledgers did not converge: etcd has {want:?} entries, the files {:?}; \
                 identical: {same}\n{}",
                hosts
                    .iter()
                    .map(|&n| entries(&self.ledger_path(n)).len())
                    .collect::<Vec<_>>(),
                self.outputs()
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        for &n in hosts {
            assert_verifies(&self.ledger_path(n));
        }
        let ledger: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
        let mut seen = HashSet::new();
        for e in &ledger {
            assert!(
                seen.insert(e["tx_id"].as_str().unwrap().to_owned()),
                "recorded twice: {e}"
            );
        }
        ledger
    }

    /// Every node's output, for a failure message.
    fn outputs(&self) -> String {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                s.as_ref()
                    .map(|s| format!("--- Node{}:\n{}", i + 1, s.output()))
            })
            .collect()
    }

    /// Node `n`'s attempts (its host's attempts log), by transaction.
    fn attempts(&self, n: usize) -> HashMap<String, Vec<Value>> {
        let path = self.host_dir(n).join("ledger.attempts.jsonl");
        let mut out: HashMap<String, Vec<Value>> = HashMap::new();
        for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
            let a: Value = serde_json::from_str(line).unwrap();
            out.entry(a["transaction_data"].as_str().unwrap().to_owned())
                .or_default()
                .push(a);
        }
        out
    }
}

fn entries(path: &Path) -> Vec<Value> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// `node-server verify` on a host's ledger (with its attempts log): panics unless valid.
fn assert_verifies(ledger: &Path) {
    let out = Command::new(BIN)
        .arg("verify")
        .arg(ledger)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify {}: {}{}",
        ledger.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn send_to(addr: SocketAddr, line: &str) -> Option<Value> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).ok()?;
    if reply.is_empty() {
        return None;
    }
    Some(serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}")))
}

fn http_get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = util::http_get_at(addr, path);
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {body:?}: {e}")),
    )
}

/// What a client was told: its node, the transaction and the reply.
#[derive(Clone, Debug)]
struct Answer {
    node: usize,
    tx: String,
    reply: Value,
}

fn outcome(reply: &Value) -> &str {
    reply["outcome"].as_str().unwrap_or("")
}

/// Whether the reply's entry is this node's own claim.
fn is_own(reply: &Value) -> bool {
    let e = &reply["entry"];
    e["node"] == reply["node"] && e["start_time"] == reply["start_time"]
}

/// Checks the answers against the converged ledger: every `won`/`lost`/`recorded` answer's
/// entry is the ledger's at its index, its transaction is there once; `won` is told only to
/// the claim recorded, `lost` only to another; at most one `won` per transaction.
fn check_answers(ledger: &[Value], answers: &[Answer]) {
    let by_tx: HashMap<&str, &Value> = ledger
        .iter()
        .map(|e| (e["transaction_data"].as_str().unwrap(), e))
        .collect();
    let mut won: HashMap<&str, usize> = HashMap::new();
    for a in answers {
        let r = &a.reply;
        match outcome(r) {
            "won" | "lost" | "recorded" => {}
            _ => continue,
        }
        let entry = by_tx
            .get(a.tx.as_str())
            .unwrap_or_else(|| panic!("Node{} answered {r} but the ledger lacks it", a.node));
        assert_eq!(
            &&r["entry"], entry,
            "Node{}: the entry shown is the ledger's",
            a.node
        );
        assert_eq!(r["node"], format!("Node{}", a.node));
        match outcome(r) {
            "won" => {
                assert!(is_own(r), "won, but the entry is another claim: {r}");
                *won.entry(a.tx.as_str()).or_default() += 1;
            }
            "lost" => assert!(!is_own(r), "lost, but the entry is its own claim: {r}"),
            _ => {}
        }
    }
    for (tx, n) in won {
        assert_eq!(n, 1, "{tx}: {n} clients were told won");
    }
}

/// Every node of `to` answered `won` or `lost`, and exactly one `won`.
fn one_winner(tx: &str, replies: &[(usize, Option<Value>)]) -> Vec<Answer> {
    let mut won = 0;
    let mut out = Vec::new();
    for (n, r) in replies {
        let r = r
            .as_ref()
            .unwrap_or_else(|| panic!("{tx}: Node{n} did not answer"));
        match outcome(r) {
            "won" => won += 1,
            "lost" => {}
            _ => panic!("{tx}: Node{n} answered {r}"),
        }
        out.push(Answer {
            node: *n,
            tx: tx.to_owned(),
            reply: r.clone(),
        });
    }
    assert_eq!(won, 1, "{tx}: {replies:?}");
    out
}

fn unavailable(r: &Option<Value>) -> bool {
    r.as_ref()
        .is_some_and(|r| r["code"] == "ledger_unavailable" && r["error"].is_string())
}

/// Microseconds since the epoch of a ledger time (UTC).
fn micros(t: &str) -> i64 {
    chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S%.6f")
        .unwrap_or_else(|e| panic!("{t}: {e}"))
        .and_utc()
        .timestamp_micros()
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

/// Waits until `f` holds, for at most [`PATIENCE`]; panics with `what` otherwise.
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(
            start.elapsed() < PATIENCE,
            "not within {PATIENCE:?}: {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_transaction_sent_to_one_node_is_raced_by_all_three_and_sent_to_all_is_one_race() {
    if !root_or_skip("a_transaction_sent_to_one_node_is_raced_by_all_three") {
        return;
    }
    let bed = Bed::with_nodes();
    // Every node lists the three, each at the address it advertised.
    for n in 1..=3 {
        bed.wait_cluster(n, &[1, 2, 3]);
    }

    // Relay: each transaction reaches one node only (Node1, Node2, Node3 in turn).
    let mut answers = Vec::new();
    let single: Vec<(usize, String)> = (0..9)
        .map(|i| (1 + i % 3, format!("relay to one {i}")))
        .collect();
    for ((n, tx), r) in single.iter().zip(bed.send_all(&single)) {
        let r = r.unwrap_or_else(|| panic!("{tx}: Node{n} did not answer"));
        assert!(matches!(outcome(&r), "won" | "lost"), "{tx}: {r}");
        answers.push(Answer {
            node: *n,
            tx: tx.clone(),
            reply: r,
        });
    }
    // Every node raced each of them, once, and exactly one of them won.
    let start = Instant::now();
    loop {
        let logs: Vec<_> = (1..=3).map(|n| bed.attempts(n)).collect();
        let missing: Vec<(usize, &String)> = single
            .iter()
            .flat_map(|(_, tx)| {
                (1..=3)
                    .filter(|n| !logs[n - 1].contains_key(tx))
                    .map(move |n| (n, tx))
            })
            .collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "relayed races missing from attempts logs: {missing:?}\n{}",
            bed.outputs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs: Vec<_> = (1..=3).map(|n| bed.attempts(n)).collect();
    for (origin, tx) in &single {
        let mut won = 0;
        for (i, log) in logs.iter().enumerate() {
            let mine = &log[tx];
            assert_eq!(
                mine.len(),
                1,
                "Node{} raced {tx} {} times",
                i + 1,
                mine.len()
            );
            assert_eq!(mine[0]["node"], format!("Node{}", i + 1));
            match mine[0]["outcome"].as_str().unwrap() {
                "won" => won += 1,
                "lost" => {}
                other => panic!("{tx}: Node{}: {other}", i + 1),
            }
        }
        assert_eq!(won, 1, "{tx}: {logs:?}");
        // The relayed nodes say where it came from and when it reached that node.
        for n in (1..=3).filter(|n| n != origin) {
            let out = bed.node(n).output();
            let relayed = format!(
                "Node{n} received transaction: {tx} (relayed from Node{origin} (received there at "
            );
            assert!(out.contains(&relayed), "Node{n}:\n{out}");
        }
        let own = format!("Node{origin} received transaction: {tx}\n");
        assert!(bed.node(*origin).output().contains(&own));
    }

    // The lab's way: each transaction to all three at once is still one race, each node
    // mining it once.
    let all: Vec<String> = (0..8).map(|i| format!("lab to all {i}")).collect();
    for tx in &all {
        answers.extend(one_winner(tx, &bed.race(&[1, 2, 3], tx)));
    }
    eventually("every node's attempts log shows every race", || {
        all.iter()
            .all(|tx| (1..=3).all(|n| bed.attempts(n).contains_key(tx)))
    });
    for n in 1..=3 {
        let log = bed.attempts(n);
        for tx in &all {
            assert_eq!(log[tx].len(), 1, "Node{n} mined {tx} more than once");
        }
    }

    // A second Node2, on another host: refused, with the holder named.
    let out = bed
        .node_command(3, "Node2", PORT + 1, &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"Node2\" is taken by a live node at")
            && err.contains(&bed.addr(2).to_string()),
        "{err}"
    );
    // It exits while its recording task follows etcd: that ends with the runtime, no panic
    // (a thread blocking on the runtime panicked once here: "Tokio context ... being shutdown").
    assert!(!err.contains("panicked"), "{err}");
    // The first Node2 keeps its name and goes on.
    answers.extend(one_winner(
        "after the refusal",
        &bed.race(&[1, 2, 3], "after the refusal"),
    ));
    bed.wait_cluster(3, &[1, 2, 3]);

    let ledger = bed.converged(&[1, 2, 3]);
    assert_eq!(ledger.len(), single.len() + all.len() + 1);
    check_answers(&ledger, &answers);
}

#[test]
fn a_node_killed_mid_stream_leaves_the_others_going_and_catches_up_on_restart() {
    if !root_or_skip("a_node_killed_mid_stream_leaves_the_others_going") {
        return;
    }
    let mut bed = Bed::with_nodes();
    let mut answers = Vec::new();
    let mut round = 0;
    let mut next = |bed: &Bed, to: &[usize]| {
        round += 1;
        let tx = format!("stream {round}");
        let replies = bed.race(to, &tx);
        (tx, replies)
    };
    for cycle in 0..2 {
        // Transactions stream to all three while Node2 is killed at a random moment.
        let kill_after =
            Duration::from_millis(100 + (std::process::id() as u64 * 37 + cycle * 101) % 400);
        let streamed = std::thread::scope(|s| {
            let streaming = s.spawn(|| {
                let mut got = Vec::new();
                let t0 = Instant::now();
                while t0.elapsed() < kill_after + Duration::from_millis(600) {
                    got.push(next(&bed, &[1, 2, 3]));
                }
                got
            });
            std::thread::sleep(kill_after);
            let pid = bed.node(2).pid();
            // SAFETY: kill has no memory preconditions; the pid is our child.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
            streaming.join().unwrap()
        });
        let killed = Instant::now();
        bed.nodes[1].as_mut().unwrap().kill9();
        let mut died = false;
        for (tx, replies) in streamed {
            for (n, r) in replies {
                match r {
                    Some(r) if matches!(outcome(&r), "won" | "lost") => answers.push(Answer {
                        node: n,
                        tx: tx.clone(),
                        reply: r,
                    }),
                    // Only the killed node may leave its client without an answer.
                    None if n == 2 => died = true,
                    other => panic!("{tx}: Node{n}: {other:?}"),
                }
            }
        }
        assert!(died, "the kill landed after the stream");
        // The two others go on without it.
        for _ in 0..5 {
            let (tx, replies) = next(&bed, &[1, 3]);
            answers.extend(one_winner(&tx, &replies));
        }
        if cycle == 0 {
            // The cluster forgets Node2 once its lease runs out.
            bed.wait_cluster(1, &[1, 3]);
        }
        // Restarted on its ledger: it catches up and races again. The second time at once,
        // while its old lease still holds its name: a registration at its own address is
        // its own, which it waits out.
        let restarted = Instant::now();
        bed.start(2);
        // A lease lives NODE_LEASE_TTL_SECS (5 s) from its last renewal, at most 5/3 s before
        // the kill: 3 s after the kill the old registration certainly held the name still.
        if cycle == 1 && restarted - killed < Duration::from_secs(3) {
            let out = bed.node(2).output();
            assert!(
                out.contains("Node2 is still registered at") && out.contains("waiting up to"),
                "{out}"
            );
        }
        for _ in 0..3 {
            let (tx, replies) = next(&bed, &[1, 2, 3]);
            answers.extend(one_winner(&tx, &replies));
        }
        bed.wait_cluster(3, &[1, 2, 3]);
        let ledger = bed.converged(&[1, 2, 3]);
        check_answers(&ledger, &answers);
    }
}

#[test]
fn with_one_etcd_member_down_the_cluster_keeps_deciding() {
    if !root_or_skip("with_one_etcd_member_down_the_cluster_keeps_deciding") {
        return;
    }
    let mut bed = Bed::with_nodes();
    let mut answers = one_winner("before", &bed.race(&[1, 2, 3], "before"));
    // Node2's own member (its first endpoint) dies.
    bed.kill_member(1);
    bed.etcd.wait_healthy(&[0, 2]);
    for i in 0..10 {
        let tx = format!("one member down {i}");
        answers.extend(one_winner(&tx, &bed.race(&[1, 2, 3], &tx)));
    }
    let during = bed.converged(&[1, 2, 3]);
    assert_eq!(during.len(), 11);
    bed.restart_member(1);
    bed.etcd.wait_healthy(&[1]);
    answers.extend(one_winner("after", &bed.race(&[1, 2, 3], "after")));
    let ledger = bed.converged(&[1, 2, 3]);
    assert_eq!(ledger.len(), 12);
    check_answers(&ledger, &answers);
}

#[test]
fn a_host_cut_off_records_nothing_alone_answers_unavailable_and_converges_after_heal() {
    if !root_or_skip("a_host_cut_off_records_nothing_alone") {
        return;
    }
    let mut bed = Bed::with_nodes();
    let mut answers = Vec::new();
    for i in 0..3 {
        let tx = format!("before the cut {i}");
        answers.extend(one_winner(&tx, &bed.race(&[1, 2, 3], &tx)));
    }
    bed.net.cut(3);
    bed.members_up[2] = false;
    // h3's clients: its own transactions and copies of the others', all at once, while h1
    // and h2 race theirs.
    let apart: Vec<String> = (0..6).map(|i| format!("while apart {i}")).collect();
    let alone: Vec<String> = (0..3).map(|i| format!("h3 alone {i}")).collect();
    let mut sends: Vec<(usize, String)> = alone.iter().map(|t| (3, t.clone())).collect();
    sends.extend(apart.iter().take(3).map(|t| (3, t.clone())));
    let (h3_replies, majority) = std::thread::scope(|s| {
        let h3 = s.spawn(|| bed.send_all(&sends));
        let mut majority = Vec::new();
        for tx in &apart {
            majority.extend(one_winner(tx, &bed.race(&[1, 2], tx)));
        }
        (h3.join().unwrap(), majority)
    });
    answers.extend(majority);
    for ((_, tx), r) in sends.iter().zip(&h3_replies) {
        // The answer came (the read has no bound shorter than PATIENCE), and it is the
        // clear error.
        assert!(unavailable(r), "{tx}: Node3 answered {r:?}");
        assert_eq!(r.as_ref().unwrap()["node"], "Node3");
    }
    // Node3 recorded nothing of its own: its file is the beginning of the others'.
    let h1 = bed.converged(&[1, 2]);
    let h3 = entries(&bed.ledger_path(3));
    assert!(h3.len() <= h1.len());
    assert_eq!(h3[..], h1[..h3.len()], "h3's ledger forked");
    assert_verifies(&bed.ledger_path(3));
    // The cluster goes on without it and forgets it once its lease runs out.
    bed.wait_cluster(1, &[1, 2]);

    bed.net.heal(3);
    bed.members_up[2] = true;
    bed.etcd.wait_healthy(&[2]);
    // Node3's clients send theirs again: answered now (a claim that reached etcd during
    // the cut may have been recorded late; then it is answered from the record).
    for tx in alone.iter().chain(apart.iter().take(3)) {
        let start = Instant::now();
        let r = loop {
            let r = bed.send(3, tx);
            if !unavailable(&r) || start.elapsed() > PATIENCE {
                break r;
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let r = r.unwrap_or_else(|| panic!("{tx}: no answer after the heal"));
        assert!(
            matches!(outcome(&r), "won" | "lost" | "recorded"),
            "{tx}: {r}"
        );
        answers.push(Answer {
            node: 3,
            tx: tx.clone(),
            reply: r,
        });
    }
    answers.extend(one_winner(
        "after the heal",
        &bed.race(&[1, 2, 3], "after the heal"),
    ));
    bed.wait_cluster(1, &[1, 2, 3]);
    let ledger = bed.converged(&[1, 2, 3]);
    assert_eq!(ledger.len(), 3 + apart.len() + alone.len() + 1);
    check_answers(&ledger, &answers);
}

#[test]
fn with_etcd_entirely_down_nodes_stay_up_answer_unavailable_and_resume_by_themselves() {
    if !root_or_skip("with_etcd_entirely_down_nodes_stay_up") {
        return;
    }
    let mut bed = Bed::with_nodes();
    let mut answers = Vec::new();
    for i in 0..3 {
        let tx = format!("before the outage {i}");
        answers.extend(one_winner(&tx, &bed.race(&[1, 2, 3], &tx)));
    }
    let before = bed.converged(&[1, 2, 3]);
    let before_bytes = std::fs::read(bed.ledger_path(1)).unwrap();
    for i in 0..3 {
        bed.kill_member(i);
    }
    let during: Vec<String> = (0..2).map(|i| format!("during the outage {i}")).collect();
    for tx in &during {
        for (n, r) in bed.race(&[1, 2, 3], tx) {
            assert!(unavailable(&r), "{tx}: Node{n} answered {r:?}");
        }
    }
    // The nodes are up: they answer, and say the cluster's list is unavailable.
    for n in 1..=3 {
        let (status, body) = bed.get(n, "/status");
        assert_eq!(status, 200, "{body}");
        let (status, body) = bed.get(n, "/cluster");
        assert_eq!(
            (status, body["code"].as_str()),
            (503, Some("ledger_unavailable"))
        );
        // Nothing was lost or added.
        assert_eq!(std::fs::read(bed.ledger_path(n)).unwrap(), before_bytes);
    }
    for i in 0..3 {
        bed.restart_member(i);
    }
    bed.etcd.wait_healthy(&[0, 1, 2]);
    // No node restarted: each decides again by itself. The transactions refused during the
    // outage are sent again.
    for tx in &during {
        let start = Instant::now();
        let replies = loop {
            let replies = bed.race(&[1, 2, 3], tx);
            if !replies.iter().any(|(_, r)| unavailable(r)) || start.elapsed() > PATIENCE {
                break replies;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        answers.extend(one_winner(tx, &replies));
    }
    for n in 1..=3 {
        bed.wait_cluster(n, &[1, 2, 3]);
    }
    let ledger = bed.converged(&[1, 2, 3]);
    assert_eq!(ledger[..before.len()], before[..]);
    assert_eq!(ledger.len(), before.len() + during.len());
    check_answers(&ledger, &answers);
}

/// Transactions whose smallest difficulty-2 nonce is at least `min`: a capped node needs
/// long enough on them to be sure to lose.
fn slow_transactions(prefix: &str, count: usize, min: u64) -> Vec<String> {
    let d = pow_core::Difficulty::from_zero_bytes(2).unwrap();
    (0..)
        .map(|i| format!("{prefix} {i}"))
        .filter(|t| {
            pow_core::search::solve(t.as_bytes(), d)
                .solution
                .unwrap()
                .nonce
                >= min
        })
        .take(count)
        .collect()
}

#[test]
fn a_node_whose_clock_is_30_s_ahead_wins_by_etcds_order_and_shows_its_own_times() {
    if !root_or_skip("a_node_whose_clock_is_30_s_ahead") {
        return;
    }
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "this test needs Debian's faketime package (apt-get install faketime, or run .ci/run)"
    );
    let mut bed = Bed::new();
    // Node1 and Node2 are slow miners with true clocks; Node3 is fast, its wall clock 30 s
    // ahead. Were the race ordered by the times the nodes report, Node3 would lose every
    // race (its ends are 30 s "later"); ordered by etcd, it wins every one.
    for n in 1..=2 {
        bed.start_with(n, &["--hashrate", "100k"], &[]);
    }
    bed.start_with(
        3,
        &[],
        &[
            ("LD_PRELOAD", LIBFAKETIME),
            ("FAKETIME", "+30s"),
            ("FAKETIME_DONT_FAKE_MONOTONIC", "1"),
        ],
    );
    // At 100k hashes per second a nonce of 30,000 or more takes the slow nodes 0.3 s or
    // more; Node3 finds it in about a millisecond.
    let txs = slow_transactions("clock", 5, 30_000);
    let mut answers = Vec::new();
    for tx in &txs {
        let before = now_micros();
        let replies = bed.race(&[1, 2, 3], tx);
        answers.extend(one_winner(tx, &replies));
        for (n, r) in &replies {
            let r = r.as_ref().unwrap();
            let start = micros(r["start_time"].as_str().unwrap());
            let skew = start - before;
            if *n == 3 {
                assert_eq!(outcome(r), "won", "{tx}: {r}");
                // Its times are its own clock's: 30 s ahead of the test's.
                assert!((25_000_000..35_000_000).contains(&skew), "{r}");
            } else {
                assert_eq!(outcome(r), "lost", "{tx}: {r}");
                assert!((-5_000_000..5_000_000).contains(&skew), "{r}");
                // Its end is before the winner's on the wall clocks, which disagree: no
                // margin is made up from them.
                assert!(r["margin"].is_null(), "{r}");
            }
        }
    }
    let ledger = bed.converged(&[1, 2, 3]);
    assert_eq!(ledger.len(), txs.len());
    for e in &ledger {
        assert_eq!(e["node"], "Node3");
    }
    check_answers(&ledger, &answers);
}
