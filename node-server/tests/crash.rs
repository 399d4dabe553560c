//! Crashes and faults: kill -9 mid-commit, a damaged ledger at start, two servers on one
//! ledger, a full or read-only disk, SIGINT and SIGTERM. The ledger stays valid, answered
//! transactions stay recorded, nothing is recorded twice.

mod util;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::Value;
use util::*;

fn ledger_counts(path: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    if path.exists() {
        for e in read_ledger(path) {
            *counts
                .entry(e["transaction_data"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    counts
}

#[test]
fn kill_9_during_a_stream_of_commits_loses_no_answered_transaction() {
    const KILLS: usize = 50;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // Kill timings vary run to run; the seed is printed, so a failing run can be replayed.
    eprintln!("kill -9 timings: seed {seed}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger.json");
    let mut sent: HashSet<String> = HashSet::new();
    let mut unanswered: Vec<String> = Vec::new();
    let mut recorded_unanswered = 0;
    for round in 0..=KILLS {
        let mut server = Server::serve(dir.path(), &["--difficulty", "1"]);
        // The restart finishes what the last crash left unanswered: mined now, found already
        // recorded (the crash came between the commit and the reply), or decided before the
        // crash and recorded now (the crash came between the decision and the commit: the
        // resend loses to the dead process's claim, which stands).
        for (i, tx) in std::mem::take(&mut unanswered).into_iter().enumerate() {
            let reply = send(server.ports[i % 3], &tx);
            match reply["outcome"].as_str() {
                Some("won") => {}
                Some("recorded") | Some("lost") => recorded_unanswered += 1,
                _ => panic!("resending {tx:?}: {reply}"),
            }
        }
        if round == KILLS {
            break;
        }
        // One client per node streams transactions until the node dies.
        let answered = Arc::new(Mutex::new(Vec::new()));
        let lost = Arc::new(Mutex::new(Vec::new()));
        let clients: Vec<_> = server
            .ports
            .iter()
            .map(|&port| {
                let (answered, lost) = (answered.clone(), lost.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        let tx = format!("round {round} port {port} tx {i}");
                        match try_send(port, &tx) {
                            Some(r) if r["outcome"] == "won" => answered.lock().unwrap().push(tx),
                            Some(r) => panic!("{tx}: {r}"),
                            None => {
                                lost.lock().unwrap().push(tx);
                                return;
                            }
                        }
                    }
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(5 + rng.next_u64() % 46));
        server.kill9();
        for c in clients {
            c.join().unwrap();
        }
        let answered = answered.lock().unwrap().clone();
        unanswered = lost.lock().unwrap().clone();
        sent.extend(answered.iter().cloned());
        sent.extend(unanswered.iter().cloned());

        // After every crash: the file parses, verifies, and holds every answered transaction
        // (a crash before the first commit leaves no file, and nothing answered).
        let counts = ledger_counts(&ledger);
        if ledger.exists() {
            assert_verifies(dir.path(), "ledger.json");
        } else {
            assert!(answered.is_empty(), "answered, yet no ledger");
        }
        for tx in &answered {
            assert_eq!(
                counts.get(tx),
                Some(&1),
                "answered {tx:?} is not in the ledger"
            );
        }
    }
    let counts = ledger_counts(&ledger);
    assert_verifies(dir.path(), "ledger.json");
    assert_eq!(
        counts.keys().cloned().collect::<HashSet<_>>(),
        sent,
        "every transaction recorded, nothing else"
    );
    assert!(counts.values().all(|&n| n == 1), "nothing recorded twice");
    eprintln!(
        "{KILLS} kills, {} transactions, {recorded_unanswered} committed but unanswered at a kill",
        sent.len()
    );
}

/// Runs `serve` (or `node`) on a damaged ledger: it must exit 2, name the file and the first
/// bad entry, say how to recover, and leave the file as it was.
#[test]
fn a_truncated_or_corrupted_ledger_stops_the_start_and_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::serve(dir.path(), &["--difficulty", "1"]);
    for i in 0..3 {
        race(&server.ports, &format!("entry {i}"));
    }
    drop(server);
    let path = dir.path().join("ledger.json");
    let good = std::fs::read(&path).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    // Byte offset of entry 1's nonce value, to corrupt one character of the JSON there.
    let second = text.match_indices("\"nonce\"").nth(1).unwrap().0;

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() * 3 / 5].to_vec(), "entry 1"),
        ("cut at the end", good[..good.len() - 4].to_vec(), "entry 2"),
        (
            "a byte of JSON corrupted",
            {
                let mut b = good.clone();
                b[second + "\"nonce\"".len()] = b'#';
                b
            },
            "entry 1",
        ),
        (
            "an index changed",
            text.replacen("\"index\": 2", "\"index\": 7", 1)
                .into_bytes(),
            "entry 2",
        ),
        ("not JSON at all", b"\x00\x01garbage".to_vec(), "ledger"),
    ];
    for (what, bytes, names) in cases {
        std::fs::write(&path, &bytes).unwrap();
        let port = free_ports(1)[0].to_string();
        for args in [
            vec!["serve", "--nodes", "1", "--base-port", &port],
            vec!["node", "--name", "NodeX", "--listen"],
        ] {
            let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            if args[0] == "node" {
                args.push(format!("127.0.0.1:{port}"));
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = run(dir.path(), &args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what}: {err}");
            assert!(err.contains("ledger.json"), "{what}: {err}");
            assert!(err.contains(names), "{what}: expected {names:?} in {err}");
            assert!(err.contains("node-server verify"), "{what}: {err}");
            assert_eq!(
                std::fs::read(&path).unwrap(),
                bytes,
                "{what}: the ledger is never overwritten"
            );
        }
        // What the message advises finds the same entry.
        let out = run(dir.path(), &["verify", "ledger.json"]);
        assert_eq!(out.status.code(), Some(1), "{what}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(names),
            "{what}"
        );
    }
}

#[test]
fn two_serve_processes_on_one_ledger_record_one_winner_per_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::serve(dir.path(), &["--difficulty", "1"]);
    let b = Server::serve(dir.path(), &["--difficulty", "1"]);
    let ports: Vec<u16> = a.ports.iter().chain(&b.ports).copied().collect();
    const TXS: usize = 40;
    let mut won = 0;
    for i in 0..TXS {
        let replies = race(&ports, &format!("shared ledger {i}"));
        won += replies.iter().filter(|r| r["outcome"] == "won").count();
        assert!(
            replies
                .iter()
                .all(|r| r["outcome"] == "won" || r["outcome"] == "lost"),
            "{replies:?}"
        );
        let winners: HashSet<&Value> = replies.iter().map(|r| &r["entry"]).collect();
        assert_eq!(winners.len(), 1, "every node names the same entry");
    }
    assert_eq!(won, TXS, "one winner per transaction across both processes");
    let counts = ledger_counts(&dir.path().join("ledger.json"));
    assert_eq!(counts.len(), TXS);
    assert!(counts.values().all(|&n| n == 1));
    assert_verifies(dir.path(), "ledger.json");
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    /// Mounts a 256 KiB tmpfs at `dir`; None (and why, on stderr) when this host won't.
    fn mount(dir: &Path) -> Option<Tmpfs> {
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
            .arg(dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Tmpfs(dir.to_owned())),
            Ok(o) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs ({}); run as root (CI does) to test a full disk",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                eprintln!("SKIPPED: cannot run mount ({e}); run as root to test a full disk");
                None
            }
        }
    }

    /// Makes the directory read-only for new opens (a read-only bind mount over it), or
    /// writable again (unmounts that). `remount,ro` of the tmpfs itself is refused while the
    /// node holds its attempts log open for writing.
    fn read_only(&self, on: bool) {
        let cmds: Vec<Vec<&str>> = if on {
            vec![
                vec!["mount", "--bind"],
                vec!["mount", "-o", "remount,bind,ro"],
            ]
        } else {
            vec![vec!["umount"]]
        };
        for cmd in cmds {
            let mut c = Command::new(cmd[0]);
            c.args(&cmd[1..]);
            if cmd.get(1) == Some(&"--bind") {
                c.arg(&self.0);
            }
            let ok = c.arg(&self.0).status().unwrap();
            assert!(ok.success(), "{cmd:?}");
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // The read-only bind mount, if a failed test left it, then the tmpfs.
        for _ in 0..2 {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

/// Fills the file system at `dir`; returns the filler's path.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    filler
}

fn no_temp_files(dir: &Path) {
    let temps: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(temps.is_empty(), "half-written files left: {temps:?}");
}

/// Mounting a small tmpfs works as root (CI runs as root), and gives both conditions: a full
/// disk (fill it) and a read-only one (`mount -o remount,ro`), which root cannot bypass the
/// way it bypasses `chmod`. Elsewhere the test says it is skipped.
#[test]
fn a_full_or_read_only_disk_gets_ledger_error_and_the_node_recovers() {
    let outer = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(outer.path()) else {
        return;
    };
    let dir = fs.0.clone();
    let server = Server::serve(&dir, &["--nodes", "1", "--difficulty", "1"]);
    let port = server.ports[0];
    assert_eq!(send(port, "before the disk filled")["outcome"], "won");
    let before = std::fs::read(dir.join("ledger.json")).unwrap();

    // Full: the reply is an error, the ledger is the old one, nothing half-written is left.
    let filler = fill(&dir);
    let reply = send(port, "while the disk is full");
    assert_eq!(reply["code"], "ledger_error", "{reply}");
    assert_eq!(reply["node"], "Node1");
    assert_eq!(std::fs::read(dir.join("ledger.json")).unwrap(), before);
    no_temp_files(&dir);
    // The node keeps serving: the next transaction is answered too.
    assert_eq!(send(port, "still full")["code"], "ledger_error");
    std::fs::remove_file(filler).unwrap();
    let reply = send(port, "while the disk is full");
    assert_eq!(
        reply["outcome"], "won",
        "commits again once space returns: {reply}"
    );

    // Read-only: the same.
    fs.read_only(true);
    let reply = send(port, "while read-only");
    fs.read_only(false);
    assert_eq!(reply["code"], "ledger_error", "{reply}");
    no_temp_files(&dir);
    assert_eq!(send(port, "while read-only")["outcome"], "won");

    let counts = ledger_counts(&dir.join("ledger.json"));
    let mut recorded: Vec<&str> = counts.keys().map(String::as_str).collect();
    recorded.sort();
    assert_eq!(
        recorded,
        [
            "before the disk filled",
            "while read-only",
            "while the disk is full"
        ]
    );
    assert_verifies(&dir, "ledger.json");
    drop(server);
}

/// SIGINT and SIGTERM while clients stream transactions: the node stops accepting, every
/// race it answered is recorded, none it refused is, and it exits 0.
#[test]
fn sigint_and_sigterm_finish_decided_races_and_exit_0() {
    for sig in ["-INT", "-TERM"] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = Server::serve(dir.path(), &["--difficulty", "1"]);
        let ports = server.ports.clone();
        let replies = Arc::new(Mutex::new(Vec::new()));
        let clients: Vec<_> = (0..6)
            .map(|c| {
                let (port, replies) = (ports[c % 3], replies.clone());
                std::thread::spawn(move || {
                    for i in 0.. {
                        let tx = format!("{c} {i}");
                        let reply = try_send(port, &tx);
                        let stop = reply.is_none();
                        replies.lock().unwrap().push((tx, reply));
                        if stop {
                            return;
                        }
                    }
                })
            })
            .collect();
        // Until some races are answered.
        while replies.lock().unwrap().len() < 30 {
            std::thread::sleep(Duration::from_millis(5));
        }
        server.send_signal(sig);
        let status = server.wait_exit(Duration::from_secs(10));
        assert!(status.is_some(), "{sig}: still running 10 s later");
        assert_eq!(status.unwrap().code(), Some(0), "{sig}");
        for c in clients {
            c.join().unwrap();
        }
        for &p in &ports {
            assert!(
                try_send(p, "after exit").is_none(),
                "{sig}: still accepting"
            );
        }
        let counts = ledger_counts(&dir.path().join("ledger.json"));
        assert_verifies(dir.path(), "ledger.json");
        let replies = replies.lock().unwrap();
        let mut won = 0;
        for (tx, reply) in replies.iter() {
            match reply {
                Some(r) if r["outcome"] == "won" => {
                    won += 1;
                    assert_eq!(counts.get(tx), Some(&1), "{sig}: answered {tx} is missing")
                }
                Some(r) => {
                    assert_eq!(r["code"], "shutting_down", "{sig}: {r}");
                    assert_eq!(counts.get(tx), None, "{sig}: refused {tx} is recorded");
                }
                // Never read by the node (it stopped accepting), so never raced.
                None => assert_eq!(counts.get(tx), None, "{sig}: unanswered {tx} is recorded"),
            }
        }
        assert!(won >= 30);
        assert_eq!(counts.len(), won, "{sig}: only answered races are recorded");
    }
}

/// Issue 14 §6: an early entry edited inside the previous version (`ledger.json.d/a` or `b`)
/// was appended to and published: the next race answered `won` and `verify` failed, then
/// alternated between valid and invalid. A copy that is not the previous version byte for
/// byte is never appended to.
#[test]
fn a_changed_stale_copy_is_never_published() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    let port = server.ports[0];
    // More than a few KiB, so the edit is far from the end.
    for i in 0..12 {
        assert_eq!(send(port, &format!("early {i}"))["outcome"], "won");
    }
    let current = std::fs::metadata(d.join("ledger.json")).unwrap().ino();
    let stale = ["a", "b"]
        .map(|c| d.join("ledger.json.d").join(c))
        .into_iter()
        .find(|p| std::fs::metadata(p).map(|m| m.ino()).ok() != Some(current))
        .expect("a previous version");
    let text = std::fs::read_to_string(&stale).unwrap();
    assert!(text.contains("\"early 0\""), "{text}");
    // In place, same length (as an editor saving over it would, or `sed -i` then a copy back).
    let edited = text.replacen("\"early 0\"", "\"EARLY 0\"", 1);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&stale)
        .unwrap()
        .write_all_at(edited.as_bytes(), 0)
        .unwrap();
    for i in 0..4 {
        let reply = send(port, &format!("later {i}"));
        assert_eq!(reply["outcome"], "won", "{reply}");
        assert_verifies(d, "ledger.json");
    }
    drop(server);
    // A restart loads it (an invalid version published at a crash once stopped the node).
    let server = Server::serve(d, &["--difficulty", "1", "--nodes", "1"]);
    assert_eq!(send(server.ports[0], "after a restart")["outcome"], "won");
    drop(server);
    assert_eq!(read_ledger(&d.join("ledger.json")).len(), 17);
    assert_verifies(d, "ledger.json");
}
