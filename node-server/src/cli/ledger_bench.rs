//! `node-server bench-ledger`: what a race costs as the ledger grows. For each ledger size it
//! writes a ledger of that many entries, starts the real `node-server serve` on it (timing the
//! start, which loads and verifies the whole ledger), and measures races sent to all three
//! nodes by one client and by many, a page of the ledger, and the process's memory.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use anyhow::{bail, Context};
use pow_core::chain::{Entry, NewEntry};
use serde_json::{json, Value};

use crate::ledger::format;

/// Arguments of `node-server bench-ledger`.
#[derive(Debug, clap::Args)]
pub struct LedgerBenchArgs {
    /// Ledger sizes to measure (entries).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1000,10000,100000,1000000"
    )]
    pub sizes: Vec<u64>,
    /// Races the single client runs at each size (after a warm-up).
    #[arg(long, default_value_t = 300)]
    pub races: usize,
    /// Concurrent clients in the many-clients measurement.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Races each of the many clients runs.
    #[arg(long, default_value_t = 40)]
    pub races_per_client: usize,
    /// Difficulty of the races (zero bytes).
    #[arg(long, default_value_t = 1)]
    pub difficulty: u32,
    /// Where to write the ledgers (default: a temporary directory, removed afterwards).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Only write a valid ledger of `--entries` entries to this path (a fixture), and exit.
    #[arg(long, requires = "entries")]
    pub generate: Option<PathBuf>,
    /// Entries for `--generate`.
    #[arg(long)]
    pub entries: Option<u64>,
}

/// Writes a valid ledger of `n` entries at difficulty 0 (any nonce solves it; the history's
/// proof of work is not what is measured) to `path`, streaming.
pub fn write_ledger(path: &Path, n: u64) -> anyhow::Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    out.write_all(b"[")?;
    let mut prev: Option<Entry> = None;
    for i in 0..n {
        let data = format!("history transaction {i}");
        let e = NewEntry {
            node: format!("Node{}", i % 3 + 1),
            hash: pow_core::puzzle::hash(data.as_bytes(), 0),
            transaction_data: data,
            nonce: 0,
            time_taken: 0.000_123_456,
            start_time: "2026-01-01 00:00:00.000000".into(),
            end_time: "2026-01-01 00:00:00.000123".into(),
            difficulty: 0,
            ..Default::default()
        }
        .chain_onto(prev.as_ref());
        out.write_all(if i == 0 { b"\n  " } else { b",\n  " })?;
        out.write_all(&format::entry_text(&e))?;
        prev = Some(e);
    }
    out.write_all(if n == 0 { b"]\n" } else { format::TAIL })?;
    out.flush()?;
    Ok(())
}

fn free_base(count: u16) -> u16 {
    let mut base = 30_000 + (std::process::id() % 1000) as u16 * 10;
    loop {
        if (base..base + count).all(|p| TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return base;
        }
        base += count + 1;
    }
}

struct Serving {
    child: Child,
    ports: Vec<u16>,
    started_in: f64,
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn serve(ledger: &Path, difficulty: u32) -> anyhow::Result<Serving> {
    let base = free_base(3);
    let t0 = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .args([
            "serve",
            "--base-port",
            &base.to_string(),
            "--difficulty",
            &difficulty.to_string(),
            "--ledger",
        ])
        .arg(ledger)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    let mut up = 0;
    while up < 3 {
        match lines.next() {
            Some(line) => {
                if line?.contains("started on port") {
                    up += 1;
                }
            }
            None => bail!("node-server serve exited before its nodes started"),
        }
    }
    let started_in = t0.elapsed().as_secs_f64();
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(Serving {
        child,
        ports: (base..base + 3).collect(),
        started_in,
    })
}

/// One race: the transaction to every node at once; the time until the last reply.
fn race(ports: &[u16], tx: &str) -> anyhow::Result<f64> {
    let t0 = Instant::now();
    let handles: Vec<_> = ports
        .iter()
        .map(|&p| {
            let line = format!("{tx}\n");
            std::thread::spawn(move || -> anyhow::Result<Value> {
                let mut s = TcpStream::connect(("127.0.0.1", p))?;
                s.set_nodelay(true)?;
                s.write_all(line.as_bytes())?;
                let mut reply = String::new();
                BufReader::new(s).read_line(&mut reply)?;
                Ok(serde_json::from_str(&reply)?)
            })
        })
        .collect();
    for h in handles {
        let r = h.join().expect("client thread")?;
        if r.get("outcome").is_none() {
            bail!("race {tx:?}: {r}");
        }
    }
    Ok(t0.elapsed().as_secs_f64())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn get(port: u16, path: &str) -> anyhow::Result<(f64, usize)> {
    let t0 = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )?;
    let mut body = Vec::new();
    s.read_to_end(&mut body)?;
    Ok((t0.elapsed().as_secs_f64(), body.len()))
}

fn vm_hwm_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs the benchmark and prints its table (or JSON).
pub fn run(args: LedgerBenchArgs) -> anyhow::Result<()> {
    if let (Some(path), Some(n)) = (&args.generate, args.entries) {
        return write_ledger(path, n);
    }
    let tmp;
    let dir = match &args.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("powrace-bench-ledger-{}", std::process::id()));
            std::fs::create_dir_all(&tmp)?;
            tmp.clone()
        }
    };
    let mut rows = Vec::new();
    if !args.json {
        println!(
            "{:>9} {:>9} {:>9} | {:>22} | {:>31} | {:>9} {:>8}",
            "entries",
            "file MB",
            "start s",
            "1 client: p50 / p99 ms",
            "N clients: p50 / p99 ms, races/s",
            "page ms",
            "RSS MB"
        );
    }
    for &n in &args.sizes {
        rows.push(measure_size(&dir, n, &args)?);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "difficulty": args.difficulty,
                "clients": args.clients,
                "rows": rows
            }))?
        );
    } else {
        println!(
            "(difficulty {}, {} races by one client, {} clients x {} races; each race sent to all three nodes)",
            args.difficulty, args.races, args.clients, args.races_per_client
        );
    }
    if args.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// One row of the table: a ledger of `n` entries written in `dir`, started, raced against by
/// one client and then many, paged and measured; printed unless the output is JSON.
fn measure_size(dir: &Path, n: u64, args: &LedgerBenchArgs) -> anyhow::Result<Value> {
    let case = dir.join(format!("ledger-{n}"));
    let _ = std::fs::remove_dir_all(&case);
    std::fs::create_dir_all(&case)?;
    let path = case.join("ledger.json");
    write_ledger(&path, n)?;
    let size_mb = std::fs::metadata(&path)?.len() as f64 / 1e6;
    let server = serve(&path, args.difficulty)?;
    // Warm up (the first commit writes the second copy of the ledger once).
    for i in 0..20 {
        race(&server.ports, &format!("warm-up {n} {i}"))?;
    }
    let mut one: Vec<f64> = (0..args.races)
        .map(|i| race(&server.ports, &format!("one client {n} {i}")))
        .collect::<anyhow::Result<_>>()?;
    one.sort_by(f64::total_cmp);
    let t0 = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|c| {
            let (ports, k) = (server.ports.clone(), args.races_per_client);
            std::thread::spawn(move || -> anyhow::Result<Vec<f64>> {
                (0..k)
                    .map(|i| race(&ports, &format!("many clients {n} {c} {i}")))
                    .collect()
            })
        })
        .collect();
    let mut many = Vec::new();
    for c in clients {
        many.extend(c.join().expect("client")?);
    }
    let wall = t0.elapsed().as_secs_f64();
    many.sort_by(f64::total_cmp);
    let throughput = many.len() as f64 / wall;
    let total = n + 20 + args.races as u64 + many.len() as u64;
    let mut pages: Vec<f64> = (0..20)
        .map(|_| {
            get(
                server.ports[0],
                &format!("/ledger?from={}&limit=100", total - 100),
            )
            .map(|r| r.0)
        })
        .collect::<anyhow::Result<_>>()?;
    pages.sort_by(f64::total_cmp);
    let rss = vm_hwm_mb(server.child.id());
    let row = json!({
        "entries": n,
        "file_mb": size_mb,
        "start_s": server.started_in,
        "one_client_ms": {"p50": percentile(&one, 0.5) * 1e3, "p99": percentile(&one, 0.99) * 1e3},
        "many_clients": args.clients,
        "many_clients_ms": {"p50": percentile(&many, 0.5) * 1e3, "p99": percentile(&many, 0.99) * 1e3},
        "races_per_s": throughput,
        "page_ms": percentile(&pages, 0.5) * 1e3,
        "rss_mb": rss,
    });
    if !args.json {
        println!(
            "{:>9} {:>9.1} {:>9.2} | {:>10.2} / {:>9.2} | {:>9.2} / {:>9.2}, {:>9.0} | {:>9.2} {:>8.1}",
            n,
            size_mb,
            server.started_in,
            percentile(&one, 0.5) * 1e3,
            percentile(&one, 0.99) * 1e3,
            percentile(&many, 0.5) * 1e3,
            percentile(&many, 0.99) * 1e3,
            throughput,
            percentile(&pages, 0.5) * 1e3,
            rss
        );
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&case);
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ledgers_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.json");
        for n in [0, 1, 7] {
            write_ledger(&path, n).unwrap();
            assert_eq!(crate::ledger::load(&path).unwrap().len() as u64, n);
        }
    }
}
