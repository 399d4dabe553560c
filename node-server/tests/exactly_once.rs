//! Exactly once, attacked the way the world will: readers hammering the ledger during thousands
//! of commits, several processes, a process stopped while it holds a ledger lock, a stepped
//! wall clock, a ledger reached through a symbolic link. (Issue 8 §1, §2, §4, §5, §8.)

mod util;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use util::*;

/// Transactions each node gets in the load test, over this many pipelined connections per node.
const LOAD_TXS: usize = 2000;
const CONNS_PER_NODE: usize = 10;

/// What the readers saw: problems, and how many reads they made.
#[derive(Default)]
struct Seen {
    problems: Vec<String>,
    reads: usize,
}

/// Starts reader threads that loop until `stop`: `GET /ledger` (whole), `GET /status`,
/// `GET /ledger?from=&limit=` pages, and the file itself read from disk. Each checks that what
/// it read is valid JSON and that the ledger never shrinks.
fn readers(port: u16, file: &Path, stop: &Arc<AtomicBool>) -> Vec<std::thread::JoinHandle<Seen>> {
    let mut handles = Vec::new();
    for kind in ["ledger", "ledger", "status", "status", "page", "file"] {
        let (stop, file) = (stop.clone(), file.to_owned());
        handles.push(std::thread::spawn(move || {
            let mut seen = Seen::default();
            let mut last = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let count = match kind {
                    "ledger" => {
                        let (code, body) = http_get(port, "/ledger");
                        serde_json::from_str::<Value>(&body)
                            .ok()
                            .filter(|_| code == 200)
                            .and_then(|v| v.as_array().map(Vec::len))
                    }
                    "status" => {
                        let (code, body) = http_get(port, "/status");
                        serde_json::from_str::<Value>(&body)
                            .ok()
                            .filter(|_| code == 200)
                            .and_then(|v| v["ledger_entries"].as_u64())
                            .map(|n| n as usize)
                    }
                    "page" => {
                        let from = last.saturating_sub(50);
                        let (code, body) =
                            http_get(port, &format!("/ledger?from={from}&limit=100"));
                        serde_json::from_str::<Value>(&body)
                            .ok()
                            .filter(|_| code == 200)
                            .and_then(|v| {
                                let a = v.as_array()?;
                                // A page's entries are the ones at its indexes.
                                a.iter()
                                    .enumerate()
                                    .all(|(i, e)| e["index"] == from + i)
                                    .then_some(from + a.len())
                            })
                    }
                    _ => match std::fs::read(&file) {
                        Err(_) => Some(0),
                        Ok(bytes) => serde_json::from_slice::<Value>(&bytes)
                            .ok()
                            .and_then(|v| v.as_array().map(Vec::len)),
                    },
                };
                seen.reads += 1;
                match count {
                    None => seen.problems.push(format!(
                        "{kind}: not a valid answer after {} reads",
                        seen.reads
                    )),
                    Some(n) if n < last && kind != "page" => seen
                        .problems
                        .push(format!("{kind}: the ledger shrank from {last} to {n}")),
                    Some(n) => last = last.max(n),
                }
                if seen.problems.len() > 5 {
                    break;
                }
            }
            seen
        }));
    }
    handles
}

/// Issue 8 §1: 5,007 `won` replies for 5,000 transactions with two threads on `GET /ledger`; a
/// won answer overwritten. Every `won` must be durable and stay the entry for its transaction.
#[test]
fn won_answers_stay_won_while_readers_hammer_the_ledger_during_thousands_of_commits() {
    for on_loss in ["finish", "abort"] {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::serve(dir.path(), &["--difficulty", "1", "--on-loss", on_loss]);
        let stop = Arc::new(AtomicBool::new(false));
        let watchers = readers(server.ports[0], &server.ledger_path(), &stop);
        // Each transaction goes to all three nodes, on connection i % CONNS of each.
        let mut clients = Vec::new();
        for &port in &server.ports {
            for c in 0..CONNS_PER_NODE {
                let lines: Vec<String> = (c..LOAD_TXS)
                    .step_by(CONNS_PER_NODE)
                    .map(|i| format!("{on_loss} load {i}"))
                    .collect();
                clients.push(std::thread::spawn(move || pipeline(port, &lines)));
            }
        }
        let replies: Vec<Value> = clients
            .into_iter()
            .flat_map(|c| c.join().unwrap())
            .collect();
        stop.store(true, Ordering::Relaxed);
        for w in watchers {
            let seen = w.join().unwrap();
            assert!(seen.problems.is_empty(), "{on_loss}: {:?}", seen.problems);
            assert!(seen.reads > 0);
        }
        let mut won: HashMap<String, usize> = HashMap::new();
        for r in &replies {
            match r["outcome"].as_str() {
                Some("won") => {
                    *won.entry(r["transaction_data"].as_str().unwrap().into())
                        .or_default() += 1
                }
                Some("lost" | "aborted" | "recorded") => {}
                _ => panic!("{on_loss}: {r}"),
            }
        }
        assert_eq!(
            won.len(),
            LOAD_TXS,
            "{on_loss}: a transaction without a winner"
        );
        assert!(
            won.values().all(|&n| n == 1),
            "{on_loss}: a transaction with two `won` replies"
        );
        let ledger = server.ledger();
        assert_eq!(ledger.len(), LOAD_TXS);
        for r in &replies {
            let i = r["entry"]["index"].as_u64().unwrap() as usize;
            assert_eq!(
                ledger[i], r["entry"],
                "{on_loss}: a reply's entry is not the file's"
            );
        }
        assert_verifies(dir.path(), "ledger.json");
    }
}

/// Issue 8 §2: across processes the recorded winner is the first to finish; no loser finished
/// before its winner, no negative margin (in replies or in `report`).
#[test]
fn separate_processes_record_the_first_to_finish() {
    const TXS: usize = 300;
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
                &["--difficulty", "1"],
            )
        })
        .collect();
    // Readers on every process too: each process's own rereads race its own commits (this
    // found a reread that applied an older version over a newer one).
    let stop = Arc::new(AtomicBool::new(false));
    let watchers: Vec<_> = ports
        .iter()
        .flat_map(|&p| readers(p, &dir.path().join("ledger.json"), &stop))
        .collect();
    let mut clients = Vec::new();
    for &port in &ports {
        for c in 0..CONNS_PER_NODE {
            let lines: Vec<String> = (c..TXS)
                .step_by(CONNS_PER_NODE)
                .map(|i| format!("processes {i}"))
                .collect();
            clients.push(std::thread::spawn(move || pipeline(port, &lines)));
        }
    }
    let replies: Vec<Value> = clients
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    stop.store(true, Ordering::Relaxed);
    for w in watchers {
        let seen = w.join().unwrap();
        assert!(seen.problems.is_empty(), "{:?}", seen.problems);
    }
    drop(nodes);
    let micros = |r: &Value, f: &str| {
        let t = r[f].as_str().unwrap();
        chrono_like_micros(t)
    };
    let mut winners = HashSet::new();
    for r in &replies {
        match r["outcome"]
            .as_str()
            .unwrap_or_else(|| panic!("not an outcome: {r}"))
        {
            "won" => assert!(winners.insert(r["tx_id"].as_str().unwrap().to_owned())),
            "lost" => {
                let (own, winner) = (micros(r, "end_time"), micros(&r["entry"], "end_time"));
                assert!(
                    own + 2 >= winner,
                    "a node that finished {} µs before the winner lost: {r}",
                    winner - own
                );
                if let Some(m) = r["margin"].as_f64() {
                    assert!(m >= 0.0, "negative margin: {r}");
                }
            }
            "recorded" => {}
            other => panic!("{other}: {r}"),
        }
    }
    assert_eq!(winners.len(), TXS);
    assert_verifies(dir.path(), "ledger.json");
    let out = run(dir.path(), &["report"]);
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{report}");
    assert!(
        !report.contains("+-") && !report.contains(" -0."),
        "{report}"
    );
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` → microseconds of the day plus days since an epoch, enough to
/// compare two stamps of one run.
fn chrono_like_micros(t: &str) -> i64 {
    let p = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    let days = p(0..4) * 400 + p(5..7) * 31 + p(8..10);
    ((days * 24 + p(11..13)) * 60 + p(14..16)) * 60_000_000 + p(17..19) * 1_000_000 + p(20..26)
}

/// The byte of `ledger.json.lock` that is the commit lock, and the decision lock's.
const COMMIT_LOCK: u8 = 0;
const DECIDE_LOCK: u8 = 1;

/// Holds one of the ledger's locks (`slot`, a byte of `ledger.json.lock`) with a POSIX record
/// lock taken by python3 for `secs`, as a process stopped while holding it would.
fn hold_lock(dir: &Path, slot: u8, secs: u64) -> std::process::Child {
    let path = dir.join("ledger.json.lock");
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import fcntl, sys, time\n\
             f = open(sys.argv[1], 'a')\n\
             fcntl.lockf(f, fcntl.LOCK_EX, 1, int(sys.argv[2]))\n\
             print('held', flush=True)\n\
             time.sleep(float(sys.argv[3]))",
            path.to_str().unwrap(),
            &slot.to_string(),
            &secs.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    // Until it holds it.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "held");
    child
}

/// Issue 8 §5: a process stopped while it holds a ledger lock froze every other node. Every
/// wait is bounded: the others answer with a clear error, lose nothing, and go on.
#[test]
fn a_held_ledger_lock_gets_a_clear_error_in_bounded_time_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    let port = server.ports[0];
    assert_eq!(send(port, "before")["outcome"], "won");

    // The commit lock held (a stopped process in the middle of a commit): the race is decided,
    // the client is told within the bound that it will be recorded, and it is, once free.
    let mut holder = hold_lock(d, COMMIT_LOCK, 8);
    let t0 = Instant::now();
    let reply = send(port, "during a held commit lock");
    assert_eq!(reply["code"], "ledger_unavailable", "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("will be recorded"),
        "{reply}"
    );
    assert!(
        t0.elapsed() < Duration::from_secs(8),
        "answered only when the lock came back"
    );
    holder.wait().unwrap();
    let deadline = Instant::now() + PATIENCE;
    while !server
        .ledger()
        .iter()
        .any(|e| e["transaction_data"] == "during a held commit lock")
    {
        assert!(
            Instant::now() < deadline,
            "the decided race was never recorded"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        send(port, "during a held commit lock")["outcome"],
        "recorded"
    );

    // The decision lock held: nothing is decided, the client is told so, and a retry after
    // the lock comes back races and wins.
    let mut holder = hold_lock(d, DECIDE_LOCK, 8);
    let reply = send(port, "during a held decision lock");
    assert_eq!(reply["code"], "ledger_unavailable", "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("nothing was recorded"),
        "{reply}"
    );
    holder.wait().unwrap();
    assert_eq!(send(port, "during a held decision lock")["outcome"], "won");
    assert_eq!(send(port, "after")["outcome"], "won");
    let ledger = server.ledger();
    let txs: Vec<&str> = ledger
        .iter()
        .map(|e| e["transaction_data"].as_str().unwrap())
        .collect();
    assert_eq!(
        txs,
        [
            "before",
            "during a held commit lock",
            "during a held decision lock",
            "after"
        ]
    );
    assert_verifies(d, "ledger.json");
}

/// Issue 8 §5 as reported: SIGSTOP of one `node` process (at random moments, under load) must
/// not freeze the others; every transaction answered `won` or `lost` is recorded once.
#[test]
fn a_stopped_node_process_does_not_freeze_the_others() {
    const ROUNDS: usize = 3;
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
                &["--difficulty", "1"],
            )
        })
        .collect();
    let answered = Arc::new(Mutex::new(Vec::<Value>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    // Clients of Node2 and Node3 stream transactions the whole time; Node1 gets copies too.
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (answered, stop, ports) = (answered.clone(), stop.clone(), ports.clone());
            std::thread::spawn(move || {
                // Copies for the node that gets stopped go through one sender of their own,
                // which waits while that node is stopped (never a thread per copy).
                let (copies, pending) = std::sync::mpsc::channel::<String>();
                let p0 = ports[0];
                let copier = std::thread::spawn(move || {
                    for tx in pending {
                        try_send(p0, &tx);
                    }
                });
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let tx = format!("client {c} tx {i}");
                    i += 1;
                    let to = [ports[1 + c % 2]];
                    for r in race(&to, &tx) {
                        answered.lock().unwrap().push(r);
                    }
                    let _ = copies.send(tx);
                }
                drop(copies);
                copier.join().unwrap();
            })
        })
        .collect();
    let mut seed = std::process::id() as u64 | 1;
    for _ in 0..ROUNDS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        std::thread::sleep(Duration::from_millis(100 + seed % 400));
        nodes[0].send_signal("-STOP");
        std::thread::sleep(Duration::from_secs(7));
        nodes[0].send_signal("-CONT");
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    // Let anything decided be recorded.
    std::thread::sleep(Duration::from_secs(1));
    let answered = answered.lock().unwrap();
    assert!(
        answered.len() > 20,
        "the other nodes kept answering: {}",
        answered.len()
    );
    for r in answered.iter() {
        assert!(
            r["outcome"].is_string() || r["code"] == "ledger_unavailable",
            "unexpected answer: {r}"
        );
    }
    drop(nodes);
    let ledger = read_ledger(&dir.path().join("ledger.json"));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &ledger {
        *counts
            .entry(e["transaction_data"].as_str().unwrap())
            .or_default() += 1;
    }
    assert!(counts.values().all(|&n| n == 1), "recorded twice");
    for r in answered
        .iter()
        .filter(|r| r["outcome"] == "won" || r["outcome"] == "lost")
    {
        let tx = r["transaction_data"].as_str().unwrap();
        assert_eq!(counts.get(tx), Some(&1), "answered {tx:?} is not recorded");
    }
    assert_verifies(dir.path(), "ledger.json");
}

/// Issue 8 §8: one process with `--ledger shared/ledger.json`, another with `--ledger
/// ledger.json`, a symbolic link to it: one ledger, one winner per transaction, and the link
/// stays a link.
#[test]
fn a_ledger_reached_through_a_symbolic_link_is_the_same_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("shared")).unwrap();
    std::os::unix::fs::symlink("shared/ledger.json", d.join("ledger.json")).unwrap();
    let ports = free_ports(2);
    let a = Server::spawn(
        d,
        &[
            "node",
            "--name",
            "NodeA",
            "--listen",
            &format!("127.0.0.1:{}", ports[0]),
            "--ledger",
            "shared/ledger.json",
            "--difficulty",
            "1",
        ]
        .map(String::from),
        vec![ports[0]],
    );
    let b = Server::spawn(
        d,
        &[
            "node",
            "--name",
            "NodeB",
            "--listen",
            &format!("127.0.0.1:{}", ports[1]),
            "--ledger",
            "ledger.json",
            "--difficulty",
            "1",
        ]
        .map(String::from),
        vec![ports[1]],
    );
    let replies = race_many(&ports, "linked", 100);
    drop((a, b));
    assert_eq!(
        replies.iter().filter(|r| r["outcome"] == "won").count(),
        100
    );
    assert!(std::fs::symlink_metadata(d.join("ledger.json"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert_eq!(read_ledger(&d.join("shared/ledger.json")).len(), 100);
    assert!(
        !d.join("ledger.json.d").exists(),
        "side files belong beside the real file"
    );
    assert_verifies(d, "shared/ledger.json");
}

/// `faketime`'s preload library, which Debian's `faketime` package installs.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// Issue 8 §4: a wall-clock step back during a race produced an entry ending an hour before it
/// started, which failed `verify` and stopped the node from restarting. The clock is stepped
/// back an hour, then forward two, while difficulty-3 races run.
#[test]
fn a_stepped_wall_clock_never_makes_an_entry_fail_verify_or_stops_a_node() {
    assert!(
        Path::new(LIBFAKETIME).exists(),
        "this test needs Debian's faketime package (apt-get install faketime, or run .ci/run)"
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let offset = d.join("faketime");
    std::fs::write(&offset, "+0\n").unwrap();
    let ports = free_ports(3);
    let args: Vec<String> = [
        "serve",
        "--base-port",
        &ports[0].to_string(),
        "--difficulty",
        "3",
        "--threads-per-node",
        "1",
        "--ledger",
        "ledger.json",
    ]
    .map(String::from)
    .to_vec();
    let env = [
        ("LD_PRELOAD", LIBFAKETIME.to_owned()),
        ("FAKETIME_TIMESTAMP_FILE", offset.display().to_string()),
        ("FAKETIME_NO_CACHE", "1".to_owned()),
        // Only the wall clock steps; the monotonic clock never does.
        ("FAKETIME_DONT_FAKE_MONOTONIC", "1".to_owned()),
    ];
    let server = Server::spawn_env(d, &args, ports.clone(), &env);
    for (i, step) in ["-3600", "+3600"].iter().enumerate() {
        let ports = ports.clone();
        let tx = format!("stepped {i}");
        let racing = std::thread::spawn(move || race(&ports, &tx));
        std::thread::sleep(Duration::from_millis(30));
        std::fs::write(&offset, format!("{step}\n")).unwrap();
        for r in racing.join().unwrap() {
            assert!(r["outcome"] == "won" || r["outcome"] == "lost", "{r}");
            assert!(r["end_time"].as_str() >= r["start_time"].as_str(), "{r}");
        }
    }
    drop(server);
    assert_verifies(d, "ledger.json");
    // The steps took effect: the second race started an hour before the first.
    let l = read_ledger(&d.join("ledger.json"));
    let start = |i: usize| chrono_like_micros(l[i]["start_time"].as_str().unwrap());
    assert!(start(0) - start(1) > 3_000_000_000, "{l:?}");
    // And it restarts on its own ledger (at the chain's difficulty, which its first entry fixes).
    let server = Server::serve(d, &["--difficulty", "3"]);
    assert_eq!(send(server.ports[0], "after the steps")["outcome"], "won");
    drop(server);
    assert_verifies(d, "ledger.json");
}

/// Issue 8 §10: a failed start leaves nothing behind (no lock files, no side directory).
#[test]
fn a_failed_start_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ledger.json"), "[{\"node\": 1}]").unwrap();
    let ports = free_ports(3);
    let out = run(d, &["serve", "--base-port", &ports[0].to_string()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().count(),
        1,
        "one line, the cause chain once: {err}"
    );
    let left: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["ledger.json"]);
}

/// Issue 14 §11: under `--on-loss abort`, losing searches went on until the winner's commit was
/// durable (a disk sync later), so many ran to completion as `lost` instead of `aborted`. The
/// decision now stops them as it is taken. Made visible by holding the commit lock while the
/// race is decided: two slow lottery miners (1 MH/s, ~0.26 s for 18 bits) against a fast one
/// (~2 ms). Stopped only at the commit, nearly every slow loser finishes within the 3 s the lock
/// is held (each with probability 1 - e^-11); stopped at the decision, one finishes only by
/// finding its nonce within the same fraction of a millisecond as the winner (~4·10⁻⁴ each).
/// (A node that had not started its search when the race was decided starts it stopped: it
/// answers `aborted` after no hashes.)
#[test]
fn losers_stop_when_the_race_is_decided_not_when_it_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::serve(
        d,
        &[
            "--race",
            "lottery",
            "--bits",
            "18",
            "--on-loss",
            "abort",
            "--threads-per-node",
            "1",
            "--hashrate",
            "Node2=1M,Node3=1M",
        ],
    );
    // A first race makes the decision log (made under both locks, so it would wait for the
    // held commit lock and the race would be decided only when the lock comes back).
    assert_eq!(send(server.ports[0], "warm-up")["outcome"], "won");
    const RACES: usize = 4;
    let mut outcomes: Vec<String> = Vec::new();
    for i in 0..RACES {
        let tx = format!("decided while the commit waits {i}");
        let mut holder = hold_lock(d, COMMIT_LOCK, 3);
        let replies = race(&server.ports, &tx);
        holder.wait().unwrap();
        let winners: Vec<&Value> = replies.iter().filter(|r| r["outcome"] == "won").collect();
        assert_eq!(winners.len(), 1, "{replies:?}");
        for r in &replies {
            assert_eq!(r["entry"], winners[0]["entry"], "{r}");
        }
        outcomes.extend(replies.iter().filter(|r| r["outcome"] != "won").map(|r| {
            format!(
                "{} {} (margin {})",
                r["node"].as_str().unwrap(),
                r["outcome"].as_str().unwrap(),
                r["margin"]
            )
        }));
    }
    let lost = outcomes.iter().filter(|o| o.contains(" lost ")).count();
    assert!(
        outcomes
            .iter()
            .all(|o| [" lost ", " aborted ", " recorded "]
                .iter()
                .any(|w| o.contains(w))),
        "{outcomes:?}"
    );
    assert!(
        lost <= 1,
        "{lost} of {} losers ran to completion after the race was decided: {outcomes:?}",
        outcomes.len()
    );
    assert_eq!(server.ledger().len(), RACES + 1);
    assert_verifies(d, "ledger.json");
}

/// The transactions of `ledger` (a file), in order.
fn ledger_txs(path: &Path) -> Vec<String> {
    read_ledger(path)
        .iter()
        .map(|e| e["transaction_data"].as_str().unwrap().to_owned())
        .collect()
}

/// Issue 14 §3: `rm ledger.json` while the nodes run (the lab's way to start over) left
/// the transactions of the old ledger unrecordable until a restart: the decision log still
/// listed their decisions, so a claim waited for an entry that would never appear.
#[test]
fn a_removed_ledger_is_a_new_chain_for_the_decision_log_too() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    let port = server.ports[0];
    assert_eq!(send(port, "tx-before")["outcome"], "won");
    assert_eq!(send(port, "tx-before")["outcome"], "recorded");
    std::fs::remove_file(d.join("ledger.json")).unwrap();
    assert_eq!(send(port, "tx-after")["outcome"], "won");
    let reply = send(port, "tx-before");
    assert_eq!(reply["outcome"], "won", "{reply}");
    assert_eq!(
        ledger_txs(&d.join("ledger.json")),
        ["tx-after", "tx-before"]
    );
    drop(server);
    assert_verifies(d, "ledger.json");
}

/// Issue 14 §4: `truncate -s0 ledger.json.d/claims` while the nodes ran made the next claim
/// refill it with NUL bytes; every race then failed (`claims: bad header`), restart included.
/// A damaged log whose decisions are all recorded is reset, and the races go on.
#[test]
fn a_truncated_decision_log_is_reset_and_races_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let claims = d.join("ledger.json.d/claims");
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    let port = server.ports[0];
    for i in 0..3 {
        assert_eq!(send(port, &format!("before {i}"))["outcome"], "won");
    }
    let status = Command::new("truncate")
        .args(["-s0", claims.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    for i in 0..3 {
        let reply = send(port, &format!("after {i}"));
        assert_eq!(reply["outcome"], "won", "{reply}");
    }
    assert!(
        !std::fs::read(&claims).unwrap().contains(&0),
        "the log was filled with NUL bytes"
    );
    drop(server);
    // A log cut inside its header (a crash, or a careless hand) after a restart.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&claims)
        .unwrap()
        .set_len(10)
        .unwrap();
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    let reply = send(server.ports[0], "after a restart");
    assert_eq!(reply["outcome"], "won", "{reply}");
    drop(server);
    assert_eq!(
        ledger_txs(&d.join("ledger.json")),
        [
            "before 0",
            "before 1",
            "before 2",
            "after 0",
            "after 1",
            "after 2",
            "after a restart"
        ]
    );
    assert_verifies(d, "ledger.json");
}

/// Issue 14 §4: a damaged decision log that holds a decision the ledger lacks is not reset
/// silently: the client is told which file and what to do.
#[test]
fn a_damaged_decision_log_with_unrecorded_decisions_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let claims = d.join("ledger.json.d/claims");
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    assert_eq!(send(server.ports[0], "recorded")["outcome"], "won");
    drop(server);
    // Its one decision, made another transaction's (never recorded), behind a broken header.
    let text = std::fs::read_to_string(&claims).unwrap();
    let record = text.lines().nth(1).expect("one decision").to_owned();
    let mut v: Value = serde_json::from_str(&record).unwrap();
    v["tx_id"] = Value::String("ab".repeat(32));
    let damaged = format!("{{\"generation\":{}\n{v}\n", "9".repeat(40));
    std::fs::write(&claims, damaged).unwrap();
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    let reply = send(server.ports[0], "another");
    assert_eq!(reply["code"], "ledger_error", "{reply}");
    let error = reply["error"].as_str().unwrap();
    assert!(
        error.contains("ledger.json.d/claims") && error.contains("remove"),
        "{reply}"
    );
    assert_eq!(ledger_txs(&d.join("ledger.json")), ["recorded"]);
}

/// Issue 14 §13: `rm -rf ledger.json.d` during a burst with two `serve` processes on one
/// ledger: the lock files vanished, the processes locked different files, and winners were
/// told `ledger_error` although their entry was in the ledger. Here four `node` processes
/// (one node each, so a node's name names its process), the directory deleted every few
/// milliseconds: one winner per transaction, and no answer contradicts the ledger.
#[test]
fn deleting_the_side_directory_during_a_burst_splits_no_lock_and_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_owned();
    let ports = free_ports(4);
    let nodes: Vec<Server> = ports
        .iter()
        .enumerate()
        .map(|(i, &p)| Server::node(&d, &format!("Node{}", i + 1), p, &["--difficulty", "1"]))
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    // Readers on one process: every read of the ledger is whole and it never shrinks.
    let watchers = readers(ports[0], &d.join("ledger.json"), &stop);
    let deleter = {
        let (stop, side) = (stop.clone(), d.join("ledger.json.d"));
        std::thread::spawn(move || {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                if std::fs::remove_dir_all(&side).is_ok() {
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            n
        })
    };
    const TXS: usize = 300;
    let mut replies: Vec<(String, Value)> = Vec::new();
    for round in 0..TXS / 10 {
        let handles: Vec<_> = (0..10)
            .map(|i| {
                let ports = ports.clone();
                let line = format!("burst {}", round * 10 + i);
                std::thread::spawn(move || (line.clone(), race(&ports, &line)))
            })
            .collect();
        for h in handles {
            let (line, rs) = h.join().unwrap();
            replies.extend(rs.into_iter().map(|r| (line.clone(), r)));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let deleted = deleter.join().unwrap();
    let seen: Vec<Seen> = watchers.into_iter().map(|h| h.join().unwrap()).collect();
    let problems: Vec<&String> = seen.iter().flat_map(|s| &s.problems).collect();
    assert!(problems.is_empty(), "readers saw: {problems:?}");
    // Let answered-unavailable decisions be recorded before reading the ledger.
    std::thread::sleep(Duration::from_millis(500));
    drop(nodes);
    let ledger = read_ledger(&d.join("ledger.json"));
    let by_tx: HashMap<&str, &Value> = ledger
        .iter()
        .map(|e| (e["transaction_data"].as_str().unwrap(), e))
        .collect();
    assert_eq!(by_tx.len(), ledger.len(), "a transaction recorded twice");
    let mut won: HashMap<&str, usize> = HashMap::new();
    let mut contradictions = Vec::new();
    for (line, r) in &replies {
        let recorded = by_tx.get(line.as_str());
        match (r["outcome"].as_str(), r["code"].as_str()) {
            (Some("won"), _) => {
                *won.entry(line).or_default() += 1;
                if recorded != Some(&&r["entry"]) {
                    contradictions.push(format!("won but not recorded as shown: {r}"));
                }
            }
            (Some("lost"), _) if recorded != Some(&&r["entry"]) => {
                contradictions.push(format!("lost to an entry not recorded: {r}"));
            }
            (Some("lost"), _) => {}
            (None, Some("ledger_error" | "withdrawn"))
                if recorded.is_some_and(|e| e["node"] == r["node"]) =>
            {
                contradictions.push(format!("{line}: told nothing was recorded: {r}"));
            }
            (None, Some("ledger_error" | "withdrawn" | "ledger_unavailable")) => {}
            _ => contradictions.push(format!("unexpected reply: {r}")),
        }
    }
    assert!(
        won.values().all(|&n| n == 1),
        "two winners: {:?}",
        won.iter().filter(|(_, &n)| n > 1).collect::<Vec<_>>()
    );
    assert!(
        contradictions.is_empty(),
        "{} of {} answers contradict the ledger (side directory deleted {deleted} times):\n{}",
        contradictions.len(),
        replies.len(),
        contradictions.join("\n")
    );
    assert!(deleted > 0, "the side directory was never deleted");
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for (_, r) in &replies {
        let what = r["outcome"].as_str().or(r["code"].as_str()).unwrap_or("?");
        *outcomes.entry(what.to_owned()).or_default() += 1;
    }
    eprintln!(
        "answers {outcomes:?}; side directory deleted {deleted} times; {} reads",
        seen.iter().map(|s| s.reads).sum::<usize>()
    );
    assert_verifies(&d, "ledger.json");
}
