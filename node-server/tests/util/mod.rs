//! A small harness for driving the real `node-server` binary: start nodes on free ports in a
//! temp dir, talk to them with real `nc` or raw TCP, read the ledger, stop them.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_node-server");

/// How long a test waits for a server to come up or a reply to arrive before failing.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// `count` consecutive free ports on 127.0.0.1.
pub fn free_ports(count: u16) -> Vec<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 2_000) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let base = NEXT.fetch_add(count + 1, Ordering::SeqCst);
        let ports: Vec<u16> = (base..base + count).collect();
        if ports
            .iter()
            .all(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            return ports;
        }
    }
}

/// The known answers.
pub fn vectors() -> Vec<Value> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/vectors.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["vectors"].as_array().unwrap().clone()
}

/// Whether real `nc` (netcat-openbsd) is installed; tests that need it fail loudly without.
pub fn require_nc() {
    let ok = Command::new("nc")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "these tests need netcat-openbsd's nc: apt-get install netcat-openbsd (or run .ci/run)"
    );
}

/// A running `node-server` process.
pub struct Server {
    child: Option<Child>,
    pub dir: PathBuf,
    pub ports: Vec<u16>,
    pub out: Arc<Mutex<String>>,
}

impl Server {
    /// `node-server serve` with three nodes (or `--nodes`) on free ports, ledger in `dir`.
    pub fn serve(dir: &Path, extra: &[&str]) -> Server {
        let nodes = extra
            .iter()
            .position(|a| *a == "--nodes")
            .map_or(3, |i| extra[i + 1].parse().unwrap());
        let ports = free_ports(nodes);
        let ledger = dir.join("ledger.json");
        let mut args = vec![
            "serve".to_owned(),
            "--base-port".into(),
            ports[0].to_string(),
            "--ledger".into(),
            ledger.display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(dir, &args, ports)
    }

    /// One `node-server node` process.
    pub fn node(dir: &Path, name: &str, port: u16, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec![
            "node".into(),
            "--name".into(),
            name.into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--ledger".into(),
            dir.join("ledger.json").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn(dir, &args, vec![port])
    }

    pub fn spawn(dir: &Path, args: &[String], ports: Vec<u16>) -> Server {
        Self::spawn_env(dir, args, ports, &[])
    }

    /// [`spawn`](Self::spawn) with extra environment variables.
    pub fn spawn_env(
        dir: &Path,
        args: &[String],
        ports: Vec<u16>,
        env: &[(&str, String)],
    ) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
        Self::spawn_command(dir, cmd, ports)
    }

    /// Starts `cmd` (the binary, perhaps behind a wrapper such as `ip netns exec`) in `dir`,
    /// and waits until each of its `ports` says it started.
    pub fn spawn_command(dir: &Path, mut cmd: Command, ports: Vec<u16>) -> Server {
        let mut child = cmd
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node-server starts");
        let out = Arc::new(Mutex::new(String::new()));
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let out = out.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut o = out.lock().unwrap();
                    o.push_str(&line);
                    o.push('\n');
                }
            });
        }
        let mut server = Server {
            child: Some(child),
            dir: dir.to_owned(),
            ports,
            out,
        };
        let want = server.ports.len();
        server.wait_for(|o| o.matches("started on port").count() >= want);
        server
    }

    /// Waits until the output satisfies `pred`; panics with the output after [`PATIENCE`].
    pub fn wait_for(&mut self, pred: impl Fn(&str) -> bool) {
        let start = Instant::now();
        loop {
            if pred(&self.out.lock().unwrap()) {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
                std::thread::sleep(Duration::from_millis(100));
                panic!("server exited ({status}):\n{}", self.output());
            }
            assert!(
                start.elapsed() < PATIENCE,
                "server output so far:\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }

    pub fn ledger_path(&self) -> PathBuf {
        self.dir.join("ledger.json")
    }

    pub fn ledger(&self) -> Vec<Value> {
        read_ledger(&self.ledger_path())
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Sends a signal and waits for the exit; returns the exit status code.
    pub fn signal(&mut self, sig: &str) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args([sig, &child.id().to_string()])
            .status();
        child.wait().ok().and_then(|s| s.code())
    }

    /// SIGTERM and wait.
    pub fn stop(mut self) -> Option<i32> {
        self.signal("-TERM")
    }
}

impl Server {
    /// kill -9 and reap: a crash, not a shutdown.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends a signal without waiting.
    pub fn send_signal(&self, sig: &str) {
        let pid = self.pid().to_string();
        let ok = Command::new("kill").args([sig, &pid]).status().unwrap();
        assert!(ok.success(), "kill {sig} {pid}");
    }

    /// Waits up to `patience` for the process to exit by itself; its status, or None if it
    /// is still running (it is then killed when dropped).
    pub fn wait_exit(&mut self, patience: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        while start.elapsed() < patience {
            if let Some(status) = self.child.as_mut()?.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

pub fn read_ledger(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("ledger is not JSON: {e}\n{text}"));
    v.as_array().expect("the ledger is an array").clone()
}

/// Sends `line` (a newline is added) over raw TCP and reads one reply line.
pub fn send(port: u16, line: &str) -> Value {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).unwrap();
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).unwrap();
    serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}"))
}

/// Sends `line` (a newline is added) and reads one reply line; None if the connection fails
/// or ends without one (a node killed or stopping).
pub fn try_send(port: u16, line: &str) -> Option<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.write_all(format!("{line}\n").as_bytes()).ok()?;
    let mut reply = String::new();
    BufReader::new(s).read_line(&mut reply).ok()?;
    if reply.is_empty() {
        return None;
    }
    Some(serde_json::from_str(&reply).unwrap_or_else(|e| panic!("reply {reply:?}: {e}")))
}

/// `node-server verify` on `ledger` (with the attempts log beside it): panics unless valid.
pub fn assert_verifies(dir: &Path, ledger: &str) {
    let out = run(dir, &["verify", ledger]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Sends `count` transactions named `{prefix} {i}`, each to every port, all at once (one
/// thread per connection), and returns every reply.
pub fn race_many(ports: &[u16], prefix: &str, count: usize) -> Vec<Value> {
    let handles: Vec<_> = (0..count)
        .flat_map(|i| {
            ports.iter().map(move |&p| {
                let line = format!("{prefix} {i}");
                std::thread::spawn(move || send(p, &line))
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Sends `line` to every port at once (one thread each) and returns the replies by port.
pub fn race(ports: &[u16], line: &str) -> Vec<Value> {
    race_with(ports, line, send)
}

/// [`race`], for nodes that may not answer: `None` where a node gave no reply.
pub fn try_race(ports: &[u16], line: &str) -> Vec<Option<Value>> {
    race_with(ports, line, try_send)
}

fn race_with<T: Send + 'static>(ports: &[u16], line: &str, send: fn(u16, &str) -> T) -> Vec<T> {
    let handles: Vec<_> = ports
        .iter()
        .map(|&p| {
            let line = line.to_owned();
            std::thread::spawn(move || send(p, &line))
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

/// Runs the binary with `args` in `dir`.
pub fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// VmHWM (peak resident memory) of a running process, in bytes.
pub fn peak_memory(pid: u32) -> u64 {
    try_peak_memory(pid).expect("VmHWM in /proc/PID/status")
}

/// [`peak_memory`], or `None` once the process has exited.
pub fn try_peak_memory(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())?;
    Some(kb * 1024)
}

/// Runs the binary with `args` in `dir`, and measures it: its output, and its peak resident
/// memory in bytes (the largest `VmHWM` of `/proc/PID/status`, read every few milliseconds
/// until it exits; `ru_maxrss` will not do: it counts the test process the child was forked
/// from).
pub fn run_measured(dir: &Path, args: &[&str]) -> (Output, u64) {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            r.read_to_end(&mut out).unwrap();
            out
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut peak = 0;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        peak = peak.max(try_peak_memory(child.id()).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(5));
    };
    let output = Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    };
    (output, peak)
}

/// SHA-256(data ‖ nonce) in hex, by Python's hashlib: an answer independent of our code.
pub fn python_sha256(data: &str, nonce: u64) -> String {
    let out = Command::new("python3")
        .args([
            "-c",
            "import hashlib,sys; print(hashlib.sha256((sys.argv[1]+sys.argv[2]).encode()).hexdigest())",
            data,
            &nonce.to_string(),
        ])
        .output()
        .expect("python3 runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A plain HTTP/1.1 GET over a fresh connection: status and body (the body read to the end;
/// `Content-Length` bodies only).
pub fn http_get(port: u16, path: &str) -> (u16, String) {
    http_get_at(SocketAddr::from(([127, 0, 0, 1], port)), path)
}

/// [`http_get`] to any address (a node on another host).
pub fn http_get_at(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, PATIENCE).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        addr.ip()
    )
    .unwrap();
    let mut text = Vec::new();
    s.read_to_end(&mut text).unwrap();
    let text = String::from_utf8(text).expect("UTF-8 response");
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// Sends `lines` on one connection all at once (pipelined) and reads one reply per line.
pub fn pipeline(port: u16, lines: &[String]) -> Vec<Value> {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut all = String::new();
    for l in lines {
        all.push_str(l);
        all.push('\n');
    }
    let writer = {
        let mut w = s.try_clone().unwrap();
        std::thread::spawn(move || w.write_all(all.as_bytes()).unwrap())
    };
    let mut replies = Vec::with_capacity(lines.len());
    let mut r = BufReader::new(s);
    for l in lines {
        let mut reply = String::new();
        r.read_line(&mut reply).unwrap();
        replies
            .push(serde_json::from_str(&reply).unwrap_or_else(|e| panic!("{l}: {reply:?}: {e}")));
    }
    writer.join().unwrap();
    replies
}
