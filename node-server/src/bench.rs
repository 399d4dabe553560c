//! `node-server bench`: the hash rate of every kernel this CPU runs at every thread count, the
//! time to solve difficulty 1–4 puzzles, and the lab's Python loop measured in the same run.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pow_core::engine::{Kernel, KERNEL_ENV};
use pow_core::search::parallel;
use pow_core::{Difficulty, Prepared};
use serde_json::{json, Value};

/// The transaction every hash-rate measurement scans: the seed's first (34 bytes).
pub const BENCH_DATA: &str = "Gova and Emmanuel Blockchain Lab 3";

/// The transactions solved at each difficulty.
pub const SOLVE_DATA: [&str; 3] = [BENCH_DATA, "block 1", "block 2"];

/// Zero bits no measurement reaches: every nonce scanned is hashed until the time is up.
const UNREACHABLE_BITS: u64 = 96;

/// The lab's loop, run by `python3 -c` over `argv[1]` nonces; prints the seconds it took.
/// Difficulty 8 so it never stops early.
const PYTHON_LOOP: &str = "import hashlib, sys, time
d = sys.argv[2]
diff = 8
n = int(sys.argv[1])
t = time.perf_counter()
for nonce in range(n):
    if hashlib.sha256((d + str(nonce)).encode()).hexdigest().startswith('0' * 2 * diff):
        break
print(time.perf_counter() - t)";

/// Arguments of `node-server bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Seconds per hash-rate measurement (one per kernel and thread count).
    #[arg(long, default_value_t = 2.0)]
    pub seconds: f64,
    /// Also solve difficulty 4 puzzles (~4.3·10^9 hashes each: tens of seconds).
    #[arg(long)]
    pub diff4: bool,
    /// Cancel a solve that takes longer than this many seconds (reported as cancelled).
    #[arg(long, default_value_t = 120.0)]
    pub solve_timeout: f64,
    /// Nonces the Python loop hashes.
    #[arg(long, default_value_t = 1_000_000)]
    pub python_nonces: u64,
    /// Measure only these kernels (comma-separated names); default: every one this CPU runs.
    #[arg(long, value_delimiter = ',')]
    pub kernels: Vec<String>,
    /// Print one JSON object with the same figures instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// One hash-rate measurement.
#[derive(Debug, Clone)]
struct Rate {
    kernel: Kernel,
    threads: usize,
    mhs: f64,
}

/// One solved (or cancelled) puzzle.
#[derive(Debug, Clone)]
struct Solve {
    difficulty: u64,
    data: &'static str,
    nonce: Option<u64>,
    hashes: u64,
    seconds: f64,
}

/// Runs the benchmark and prints the table (or JSON).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number of seconds");
    }
    if !(args.solve_timeout > 0.0 && args.solve_timeout.is_finite()) {
        bail!("--solve-timeout must be a positive number of seconds");
    }
    let kernels: Vec<Kernel> = if args.kernels.is_empty() {
        Kernel::ALL
            .iter()
            .copied()
            .filter(|k| k.is_available())
            .collect()
    } else {
        args.kernels
            .iter()
            .map(|n| Kernel::by_name(n).with_context(|| format!("--kernels {n}")))
            .collect::<anyhow::Result<_>>()?
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let node_kernel = Kernel::from_env();
    let solve_kernel = node_kernel.clone().unwrap_or_else(|_| Kernel::fastest());

    if !args.json {
        println!(
            "powrace bench: {cores} cores, CPU features: {}",
            cpu_features()
                .iter()
                .map(|(f, on)| format!("{f}{}", if *on { "" } else { " (no)" }))
                .collect::<Vec<_>>()
                .join(" ")
        );
        match &node_kernel {
            Ok(k) => println!("the node would mine with kernel {}", k.name()),
            Err(e) => println!("the node would refuse {KERNEL_ENV}: {e}"),
        }
        println!(
            "hash rate: data {BENCH_DATA:?} ({} bytes), {:.1} s per measurement",
            BENCH_DATA.len(),
            args.seconds
        );
    }

    let mut rates = Vec::new();
    for &kernel in &kernels {
        for threads in 1..=cores {
            let mhs = hash_rate(kernel, threads, Duration::from_secs_f64(args.seconds));
            rates.push(Rate {
                kernel,
                threads,
                mhs,
            });
        }
    }
    let python = python_rate(args.python_nonces);

    let mut solves = Vec::new();
    let top = if args.diff4 { 4 } else { 3 };
    for difficulty in 1..=top {
        for data in SOLVE_DATA {
            solves.push(solve(
                solve_kernel,
                cores,
                data,
                difficulty,
                Duration::from_secs_f64(args.solve_timeout),
            ));
        }
    }

    if args.json {
        let report = json!({
            "cores": cores,
            "cpu_features": cpu_features().iter().map(|(f, on)| (f.to_string(), Value::Bool(*on))).collect::<serde_json::Map<_, _>>(),
            "node_kernel": node_kernel.as_ref().map(|k| k.name().to_owned()).map_err(|e| e.to_string()).map_or_else(|e| json!({"error": e}), Value::String),
            "data": BENCH_DATA,
            "seconds_per_measurement": args.seconds,
            "rates": rates.iter().map(|r| json!({
                "kernel": r.kernel.name(),
                "threads": r.threads,
                "mhs": round2(r.mhs),
                "speedup_vs_python": python.as_ref().ok().map(|p| round2(r.mhs / p)),
            })).collect::<Vec<_>>(),
            "python": match &python {
                Ok(mhs) => json!({"mhs": round2(*mhs), "nonces": args.python_nonces}),
                Err(e) => json!({"error": e}),
            },
            "solve_kernel": solve_kernel.name(),
            "solve_threads": cores,
            "solves": solves.iter().map(|s| json!({
                "difficulty": s.difficulty,
                "data": s.data,
                "nonce": s.nonce,
                "hashes": s.hashes,
                "seconds": (s.seconds * 1e6).round() / 1e6,
                "mhs": round2(s.hashes as f64 / s.seconds / 1e6),
            })).collect::<Vec<_>>(),
            "difficulty_4": if args.diff4 { "measured" } else { "skipped (pass --diff4)" },
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }

    println!();
    print!("{:<22}", "kernel (MH/s)");
    for t in 1..=cores {
        print!(
            "{:>12}",
            format!("{t} thread{}", if t == 1 { "" } else { "s" })
        );
    }
    println!("{:>10}{:>16}", "scaling", "vs Python (1t)");
    for &kernel in &kernels {
        print!("{:<22}", kernel.name());
        let mine: Vec<&Rate> = rates.iter().filter(|r| r.kernel == kernel).collect();
        for r in &mine {
            print!("{:>12.1}", r.mhs);
        }
        let scaling = mine.last().map_or(1.0, |r| r.mhs) / mine[0].mhs;
        print!("{:>9.2}x", scaling);
        match &python {
            Ok(p) => println!("{:>15.0}x", mine[0].mhs / p),
            Err(_) => println!("{:>16}", "n/a"),
        }
    }
    match &python {
        Ok(p) => println!(
            "{:<22}{:>12.2}   (the lab's hashlib loop, {} nonces)",
            "python3", p, args.python_nonces
        ),
        Err(e) => println!("{:<22}{:>12}   ({e})", "python3", "n/a"),
    }

    println!();
    println!(
        "time to solve: kernel {}, {cores} thread{}",
        solve_kernel.name(),
        if cores == 1 { "" } else { "s" }
    );
    println!(
        "{:<11}{:<38}{:>12}{:>14}{:>11}{:>9}",
        "difficulty", "transaction", "nonce", "hashes", "seconds", "MH/s"
    );
    for s in &solves {
        println!(
            "{:<11}{:<38}{:>12}{:>14}{:>11.3}{:>9.1}",
            s.difficulty,
            format!("{:?}", s.data),
            s.nonce
                .map_or_else(|| "cancelled".to_owned(), |n| n.to_string()),
            s.hashes,
            s.seconds,
            s.hashes as f64 / s.seconds / 1e6
        );
    }
    if !args.diff4 {
        println!("{:<11}skipped (pass --diff4; ~4.3e9 hashes each)", 4);
    }
    Ok(())
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Million hashes per second of `kernel` on `threads` threads over `time`.
fn hash_rate(kernel: Kernel, threads: usize, time: Duration) -> f64 {
    let p = Prepared::new(
        BENCH_DATA.as_bytes(),
        Difficulty::from_zero_bits(UNREACHABLE_BITS).expect("in range"),
    );
    let (outcome, seconds) =
        with_deadline(time, |cancel| parallel::search(&p, threads, kernel, cancel));
    outcome.hashes as f64 / seconds / 1e6
}

/// Solves `data` at `difficulty` zero bytes, cancelling after `timeout`.
fn solve(
    kernel: Kernel,
    threads: usize,
    data: &'static str,
    difficulty: u64,
    timeout: Duration,
) -> Solve {
    let p = Prepared::new(
        data.as_bytes(),
        Difficulty::from_zero_bytes(difficulty).expect("in range"),
    );
    let (outcome, seconds) = with_deadline(timeout, |cancel| {
        parallel::search(&p, threads, kernel, cancel)
    });
    Solve {
        difficulty,
        data,
        nonce: outcome.solution.map(|s| s.nonce),
        hashes: outcome.hashes,
        seconds,
    }
}

/// Runs `f` with a flag that is raised after `limit` (or never, if `f` returns first); gives
/// its result and the seconds it took.
fn with_deadline<T>(limit: Duration, f: impl FnOnce(&AtomicBool) -> T) -> (T, f64) {
    let cancel = AtomicBool::new(false);
    let (done, wait) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        let cancel = &cancel;
        s.spawn(move || {
            if wait.recv_timeout(limit) == Err(mpsc::RecvTimeoutError::Timeout) {
                cancel.store(true, Ordering::Release);
            }
        });
        let start = Instant::now();
        let out = f(cancel);
        let seconds = start.elapsed().as_secs_f64();
        drop(done);
        (out, seconds)
    })
}

/// The lab's Python loop's rate in MH/s, or why it could not run.
fn python_rate(nonces: u64) -> Result<f64, String> {
    let out = Command::new("python3")
        .args(["-c", PYTHON_LOOP, &nonces.to_string(), BENCH_DATA])
        .output()
        .map_err(|e| format!("python3 is not available: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "python3 failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let seconds: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| format!("python3 printed no time: {e}"))?;
    Ok(nonces as f64 / seconds / 1e6)
}

/// The CPU features the kernels depend on, as detected at run time.
fn cpu_features() -> Vec<(&'static str, bool)> {
    #[cfg(target_arch = "x86_64")]
    {
        vec![
            ("sha", std::arch::is_x86_feature_detected!("sha")),
            ("sse4.1", std::arch::is_x86_feature_detected!("sse4.1")),
            ("avx2", std::arch::is_x86_feature_detected!("avx2")),
            ("avx512f", std::arch::is_x86_feature_detected!("avx512f")),
            ("avx512vl", std::arch::is_x86_feature_detected!("avx512vl")),
            ("avx512bw", std::arch::is_x86_feature_detected!("avx512bw")),
        ]
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}
