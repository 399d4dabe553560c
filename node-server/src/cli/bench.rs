//! `node-server bench`: the hash rate of every kernel this CPU runs at every thread count, the
//! time to solve difficulty 1–4 puzzles, and the lab's Python loop measured in the same run;
//! then every kernel on one thread over every layout of the changing digits (data lengths 1 to
//! 53, so a kernel slow on some transactions shows), races at the lab's difficulty through a
//! warm search pool against fresh threads, and how closely a pool holds a hash-rate cap.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use pow_core::engine::{Kernel, KERNEL_ENV};
use pow_core::search::pool::{Job, Mode, Pool};
use pow_core::search::{parallel, Outcome};
use pow_core::{Difficulty, Prepared};
use serde::{Serialize, Serializer};

/// The transaction every hash-rate measurement scans: the seed's first (34 bytes).
pub const BENCH_DATA: &str = "Gova and Emmanuel Blockchain Lab 3";

/// The transactions solved at each difficulty.
pub const SOLVE_DATA: [&str; 3] = [BENCH_DATA, "block 1", "block 2"];

/// Zero bits no measurement reaches: every nonce scanned is hashed until the time is up.
const UNREACHABLE_BITS: u64 = 96;

/// The lab's difficulty, in zero bytes: the races of the latency measurement.
const RACE_DIFFICULTY: u64 = 2;

/// The pause between races in the "parked" latency measurement: long enough that the pool's
/// workers have stopped spinning and sleep in the kernel, as between a node's real races.
const PARKED_GAP: Duration = Duration::from_millis(5);

/// Races per block: each way of racing runs a block in turn, then a steady-state slice.
const RACE_BLOCK: usize = 20;

/// One slice of the steady-state rate the races are compared with.
const STEADY_SLICE: Duration = Duration::from_millis(250);

/// Data lengths of the layout sweep: with 8-digit nonces the four changing digits start in
/// message word 1 to 12 of one final block, or (from 48 bytes) in the first of two blocks.
const LAYOUT_LENGTHS: [usize; 14] = [1, 5, 9, 13, 17, 21, 25, 29, 33, 37, 41, 45, 49, 53];

/// Where the layout sweep scans: 8-digit nonces.
const LAYOUT_FIRST_NONCE: u64 = 10_000_000;

/// The caps of the rate-cap measurement, in hashes per second.
const CAPS: [f64; 5] = [1e6, 4e6, 10e6, 50e6, 100e6];

/// Races at the lab's difficulty run under each cap (their time is set by the cap).
const CAPPED_RACES: usize = 40;

/// The caps of the abort-latency measurement (`None`: uncapped), in hashes per second.
const ABORT_CAPS: [Option<f64>; 3] = [None, Some(30e6), Some(1e6)];

/// How long a search runs before the abort-latency measurement stops it: a few chunks past its
/// start, so it is in its steady rhythm (hashing, or pacing under a cap).
const ABORT_AFTER: Duration = Duration::from_millis(3);

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
    /// Races at difficulty 2 per latency measurement (warm pool, parked pool, fresh threads);
    /// 0 skips the measurement.
    #[arg(long, default_value_t = 200)]
    pub races: usize,
    /// Seconds per rate-cap measurement (5 caps × 1 and 2 threads); 0 skips it.
    #[arg(long, default_value_t = 3.0)]
    pub cap_seconds: f64,
    /// Seconds per layout of the layout sweep (14 data lengths × every kernel, one thread);
    /// 0 skips it.
    #[arg(long, default_value_t = 0.25)]
    pub layout_seconds: f64,
    /// Searches stopped per abort-latency measurement (3 caps × 1 and 2 threads); 0 skips it.
    #[arg(long, default_value_t = 200)]
    pub aborts: usize,
    /// Print one JSON object with the same figures instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Every figure of one run, as `--json` prints it (one object, keys in alphabetical order):
/// one part per section of the table.
#[derive(Debug, Serialize)]
struct BenchReport {
    #[serde(flatten)]
    machine: Machine,
    #[serde(flatten)]
    hash_rates: HashRates,
    layouts: Layouts,
    #[serde(flatten)]
    solves: Solves,
    races: Races,
    rate_caps: RateCaps,
    abort_latency: AbortLatencies,
}

/// The machine: its cores, the CPU features the kernels depend on, and the node's kernel.
#[derive(Debug, Serialize)]
struct Machine {
    cores: usize,
    #[serde(serialize_with = "features_map")]
    cpu_features: Vec<(&'static str, bool)>,
    node_kernel: NodeKernel,
}

/// The kernel a node started here would mine with, or why it would refuse [`KERNEL_ENV`].
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum NodeKernel {
    Mines(&'static str),
    Refuses { error: String },
}

/// The hash rate of every kernel at every thread count, and of the lab's Python loop.
#[derive(Debug, Serialize)]
struct HashRates {
    data: &'static str,
    seconds_per_measurement: f64,
    rates: Vec<Rate>,
    python: Python,
}

/// The lab's Python loop: its rate, or why it could not be measured.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Python {
    Measured {
        #[serde(serialize_with = "rounded")]
        mhs: f64,
        nonces: u64,
    },
    Failed {
        error: String,
    },
}

/// Every kernel on one thread over every layout of the changing digits.
#[derive(Debug, Serialize)]
struct Layouts {
    data_lengths: [usize; LAYOUT_LENGTHS.len()],
    first_nonce: u64,
    threads: usize,
    /// Per kernel, MH/s at each of [`LAYOUT_LENGTHS`]; empty when skipped.
    #[serde(serialize_with = "layouts_map")]
    mhs: Vec<(Kernel, Vec<f64>)>,
}

/// The time to solve puzzles of difficulty 1–3 (and 4 with `--diff4`).
#[derive(Debug, Serialize)]
struct Solves {
    solve_kernel: &'static str,
    solve_threads: usize,
    solves: Vec<Solve>,
    difficulty_4: &'static str,
}

/// Races at the lab's difficulty, each way of racing; no runs when skipped.
#[derive(Debug, Serialize)]
struct Races {
    difficulty: u64,
    kernel: &'static str,
    parked_gap_ms: f64,
    runs: Vec<RaceLatency>,
}

/// How closely a pool holds each hash-rate cap; no runs when skipped.
#[derive(Debug, Serialize)]
struct RateCaps {
    kernel: &'static str,
    seconds: f64,
    races_per_cap: usize,
    runs: Vec<CapAccuracy>,
}

/// How fast a stopped search stops, under each cap; no runs when skipped.
#[derive(Debug, Serialize)]
struct AbortLatencies {
    kernel: &'static str,
    searches: usize,
    runs: Vec<AbortLatency>,
}

/// How fast a search stops once its race is decided elsewhere (`--on-loss abort`).
#[derive(Debug, Clone, Serialize)]
struct AbortLatency {
    threads: usize,
    /// The cap, MH/s (`None`: uncapped).
    #[serde(serialize_with = "rounded_opt")]
    cap_mhs: Option<f64>,
    /// The cancel flag raised to the search's outcome delivered, µs.
    stop_us: Spread,
}

/// Median and 99th percentile.
#[derive(Debug, Clone, Copy, Serialize)]
struct Spread {
    #[serde(serialize_with = "rounded")]
    median: f64,
    #[serde(serialize_with = "rounded")]
    p99: f64,
}

impl Spread {
    fn of(mut v: Vec<f64>) -> Spread {
        if v.is_empty() {
            return Spread {
                median: f64::NAN,
                p99: f64::NAN,
            };
        }
        v.sort_by(f64::total_cmp);
        let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
        Spread {
            median: at(0.5),
            p99: at(0.99),
        }
    }

    /// The same spread in other units: each figure times `scale`.
    fn scaled(self, scale: f64) -> Spread {
        Spread {
            median: self.median * scale,
            p99: self.p99 * scale,
        }
    }
}

/// Races at difficulty 2 run one way (warm pool, parked pool or fresh threads).
#[derive(Debug, Clone, Serialize)]
struct RaceLatency {
    how: &'static str,
    threads: usize,
    /// The steady-state rate measured between the blocks of races, MH/s.
    #[serde(serialize_with = "rounded")]
    steady_mhs: f64,
    races: usize,
    /// Submission to the first hash, µs.
    first_hash_us: Spread,
    /// Submission to the outcome, ms.
    solve_ms: Spread,
    /// Hashes over solve time, per race, MH/s.
    rate_mhs: Spread,
    /// All hashes over all solve time, MH/s.
    #[serde(serialize_with = "rounded")]
    aggregate_mhs: f64,
    #[serde(serialize_with = "rounded")]
    median_rate_percent_of_steady: f64,
    #[serde(serialize_with = "rounded")]
    aggregate_percent_of_steady: f64,
}

/// One hash-rate cap held over time, and over races at difficulty 2.
#[derive(Debug, Clone, Serialize)]
struct CapAccuracy {
    threads: usize,
    /// MH/s; `None`: uncapped (the pool's own full rate).
    #[serde(serialize_with = "rounded_opt")]
    cap_mhs: Option<f64>,
    /// Hashes per second over the whole measurement, in MH/s.
    #[serde(serialize_with = "rounded")]
    measured_mhs: f64,
    /// How far the measured rate is off the cap, %.
    #[serde(serialize_with = "rounded_opt")]
    error_percent: Option<f64>,
    /// The races' rates as % of the cap.
    race_rate_percent_of_cap: Option<CapRaces>,
}

/// The rates of races under a cap, % of the cap.
#[derive(Debug, Clone, Copy, Serialize)]
struct CapRaces {
    /// Median over the races of hashes / solve time.
    #[serde(serialize_with = "rounded")]
    median: f64,
    /// All the races' hashes / all their solve time.
    #[serde(serialize_with = "rounded")]
    all: f64,
}

/// One hash-rate measurement.
#[derive(Debug, Clone, Serialize)]
struct Rate {
    #[serde(serialize_with = "kernel_name")]
    kernel: Kernel,
    threads: usize,
    #[serde(serialize_with = "rounded")]
    mhs: f64,
    /// The rate over the Python loop's, when that was measured.
    #[serde(serialize_with = "rounded_opt")]
    speedup_vs_python: Option<f64>,
}

/// One solved (or cancelled) puzzle.
#[derive(Debug, Clone, Serialize)]
struct Solve {
    difficulty: u64,
    data: &'static str,
    nonce: Option<u64>,
    hashes: u64,
    #[serde(serialize_with = "rounded_us")]
    seconds: f64,
    #[serde(serialize_with = "rounded")]
    mhs: f64,
}

/// Serializes a figure to two decimals.
fn rounded<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(round2(*x))
}

/// Serializes a figure, if any, to two decimals.
fn rounded_opt<S: Serializer>(x: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    x.map(round2).serialize(s)
}

/// Serializes seconds to the microsecond.
fn rounded_us<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((x * 1e6).round() / 1e6)
}

fn kernel_name<S: Serializer>(k: &Kernel, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.name())
}

/// The CPU features as an object, feature → detected.
fn features_map<S: Serializer>(f: &[(&'static str, bool)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(f.iter().copied())
}

/// The layout sweep as an object, kernel → its rates to two decimals.
fn layouts_map<S: Serializer>(v: &[(Kernel, Vec<f64>)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(
        v.iter()
            .map(|(k, mhs)| (k.name(), mhs.iter().map(|&x| round2(x)).collect::<Vec<_>>())),
    )
}

/// Runs the benchmark and prints the table, each section as soon as it is measured (or, with
/// `--json`, the whole [`BenchReport`] at the end).
pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    check_args(&args)?;
    let kernels = kernels(&args.kernels)?;
    let show = !args.json;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let node_kernel = Kernel::from_env();
    let solve_kernel = node_kernel.clone().unwrap_or_else(|_| Kernel::fastest());

    let machine = Machine::detect(cores, node_kernel);
    if show {
        machine.print();
        HashRates::print_heading(args.seconds);
    }
    let hash_rates = HashRates::measure(&kernels, cores, &args);
    if show {
        hash_rates.print(&kernels, cores);
    }
    let layouts = Layouts::measure(&kernels, args.layout_seconds);
    if show {
        layouts.print();
    }
    let solves = Solves::measure(solve_kernel, cores, &args);
    if show {
        solves.print(args.diff4);
    }
    let races = Races::measure(solve_kernel, cores, args.races)?;
    if show {
        races.print(args.races);
    }
    let rate_caps = RateCaps::measure(solve_kernel, cores, args.cap_seconds)?;
    if show {
        rate_caps.print();
    }
    let abort_latency = AbortLatencies::measure(solve_kernel, cores, args.aborts)?;
    if show {
        abort_latency.print();
    }

    if args.json {
        let report = BenchReport {
            machine,
            hash_rates,
            layouts,
            solves,
            races,
            rate_caps,
            abort_latency,
        };
        // Through a `Value`, whose objects keep their keys in order.
        let report = serde_json::to_value(&report)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
    }
    Ok(())
}

/// Refuses a number of seconds that is not one.
fn check_args(args: &BenchArgs) -> anyhow::Result<()> {
    if !(args.seconds > 0.0 && args.seconds.is_finite()) {
        bail!("--seconds must be a positive number of seconds");
    }
    if !(args.solve_timeout > 0.0 && args.solve_timeout.is_finite()) {
        bail!("--solve-timeout must be a positive number of seconds");
    }
    if !(args.layout_seconds >= 0.0 && args.layout_seconds.is_finite()) {
        bail!("--layout-seconds must be a number of seconds (0 skips the sweep)");
    }
    if !(args.cap_seconds >= 0.0 && args.cap_seconds.is_finite()) {
        bail!("--cap-seconds must be a number of seconds (0 skips the measurement)");
    }
    Ok(())
}

/// The kernels `--kernels` names; every one this CPU runs when it names none.
fn kernels(names: &[String]) -> anyhow::Result<Vec<Kernel>> {
    if names.is_empty() {
        return Ok(Kernel::ALL
            .iter()
            .copied()
            .filter(|k| k.is_available())
            .collect());
    }
    names
        .iter()
        .map(|n| Kernel::by_name(n).with_context(|| format!("--kernels {n}")))
        .collect()
}

impl Machine {
    fn detect(cores: usize, node_kernel: Result<Kernel, impl std::fmt::Display>) -> Machine {
        Machine {
            cores,
            cpu_features: cpu_features(),
            node_kernel: match node_kernel {
                Ok(k) => NodeKernel::Mines(k.name()),
                Err(e) => NodeKernel::Refuses {
                    error: e.to_string(),
                },
            },
        }
    }

    fn print(&self) {
        println!(
            "powrace bench: {} cores, CPU features: {}",
            self.cores,
            self.cpu_features
                .iter()
                .map(|(f, on)| format!("{f}{}", if *on { "" } else { " (no)" }))
                .collect::<Vec<_>>()
                .join(" ")
        );
        match &self.node_kernel {
            NodeKernel::Mines(k) => println!("the node would mine with kernel {k}"),
            NodeKernel::Refuses { error } => {
                println!("the node would refuse {KERNEL_ENV}: {error}")
            }
        }
    }
}

impl HashRates {
    /// The section's first line, printed before the measurements start.
    fn print_heading(seconds: f64) {
        println!(
            "hash rate: data {BENCH_DATA:?} ({} bytes), {seconds:.1} s per measurement",
            BENCH_DATA.len(),
        );
    }

    fn measure(kernels: &[Kernel], cores: usize, args: &BenchArgs) -> HashRates {
        let mut rates = Vec::new();
        for &kernel in kernels {
            for threads in 1..=cores {
                let mhs = hash_rate(kernel, threads, Duration::from_secs_f64(args.seconds));
                rates.push(Rate {
                    kernel,
                    threads,
                    mhs,
                    speedup_vs_python: None,
                });
            }
        }
        let python = match python_rate(args.python_nonces) {
            Ok(mhs) => {
                for r in &mut rates {
                    r.speedup_vs_python = Some(r.mhs / mhs);
                }
                Python::Measured {
                    mhs,
                    nonces: args.python_nonces,
                }
            }
            Err(error) => Python::Failed { error },
        };
        HashRates {
            data: BENCH_DATA,
            seconds_per_measurement: args.seconds,
            rates,
            python,
        }
    }

    fn print(&self, kernels: &[Kernel], cores: usize) {
        println!();
        print!("{:<22}", "kernel (MH/s)");
        for t in 1..=cores {
            print!(
                "{:>12}",
                format!("{t} thread{}", if t == 1 { "" } else { "s" })
            );
        }
        println!("{:>10}{:>16}", "scaling", "vs Python (1t)");
        for &kernel in kernels {
            print!("{:<22}", kernel.name());
            let mine: Vec<&Rate> = self.rates.iter().filter(|r| r.kernel == kernel).collect();
            for r in &mine {
                print!("{:>12.1}", r.mhs);
            }
            let scaling = mine.last().map_or(1.0, |r| r.mhs) / mine[0].mhs;
            print!("{:>9.2}x", scaling);
            match mine[0].speedup_vs_python {
                Some(x) => println!("{x:>15.0}x"),
                None => println!("{:>16}", "n/a"),
            }
        }
        match &self.python {
            Python::Measured { mhs, nonces } => println!(
                "{:<22}{:>12.2}   (the lab's hashlib loop, {} nonces)",
                "python3", mhs, nonces
            ),
            Python::Failed { error } => println!("{:<22}{:>12}   ({error})", "python3", "n/a"),
        }
    }
}

impl Layouts {
    /// Every kernel over [`LAYOUT_LENGTHS`], `seconds` each (0: skipped).
    fn measure(kernels: &[Kernel], seconds: f64) -> Layouts {
        let mhs = if seconds > 0.0 {
            let time = Duration::from_secs_f64(seconds);
            kernels
                .iter()
                .map(|&k| {
                    (
                        k,
                        LAYOUT_LENGTHS.map(|len| layout_rate(k, len, time)).to_vec(),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        Layouts {
            data_lengths: LAYOUT_LENGTHS,
            first_nonce: LAYOUT_FIRST_NONCE,
            threads: 1,
            mhs,
        }
    }

    fn print(&self) {
        if self.mhs.is_empty() {
            return;
        }
        println!();
        println!(
            "by layout: one thread, nonces from {LAYOUT_FIRST_NONCE} (8 digits), data of each \
             length (MH/s; from 49 bytes the digits need two blocks)"
        );
        print!("{:<10}", "bytes");
        for len in LAYOUT_LENGTHS {
            print!("{len:>6}");
        }
        println!();
        for (k, v) in &self.mhs {
            print!("{:<10}", k.name());
            for x in v {
                print!("{x:>6.0}");
            }
            println!();
        }
    }
}

impl Solves {
    fn measure(kernel: Kernel, cores: usize, args: &BenchArgs) -> Solves {
        let mut solves = Vec::new();
        let top = if args.diff4 { 4 } else { 3 };
        for difficulty in 1..=top {
            for data in SOLVE_DATA {
                solves.push(solve(
                    kernel,
                    cores,
                    data,
                    difficulty,
                    Duration::from_secs_f64(args.solve_timeout),
                ));
            }
        }
        Solves {
            solve_kernel: kernel.name(),
            solve_threads: cores,
            solves,
            difficulty_4: if args.diff4 {
                "measured"
            } else {
                "skipped (pass --diff4)"
            },
        }
    }

    fn print(&self, diff4: bool) {
        println!();
        println!(
            "time to solve: kernel {}, {} thread{}",
            self.solve_kernel,
            self.solve_threads,
            if self.solve_threads == 1 { "" } else { "s" }
        );
        println!(
            "{:<11}{:<38}{:>12}{:>14}{:>11}{:>9}",
            "difficulty", "transaction", "nonce", "hashes", "seconds", "MH/s"
        );
        for s in &self.solves {
            println!(
                "{:<11}{:<38}{:>12}{:>14}{:>11.3}{:>9.1}",
                s.difficulty,
                format!("{:?}", s.data),
                s.nonce
                    .map_or_else(|| "cancelled".to_owned(), |n| n.to_string()),
                s.hashes,
                s.seconds,
                s.mhs
            );
        }
        if !diff4 {
            println!("{:<11}skipped (pass --diff4; ~4.3e9 hashes each)", 4);
        }
    }
}

impl Races {
    /// Races at the lab's difficulty: the pool against fresh threads, on every core, compared
    /// with the steady-state rate of the same kernel and thread count, measured in between;
    /// `races` each way (0: skipped).
    fn measure(kernel: Kernel, cores: usize, races: usize) -> anyhow::Result<Races> {
        let mut runs = Vec::new();
        if races > 0 {
            for threads in 1..=cores {
                runs.extend(race_latency(kernel, threads, races)?);
            }
        }
        Ok(Races {
            difficulty: RACE_DIFFICULTY,
            kernel: kernel.name(),
            parked_gap_ms: PARKED_GAP.as_secs_f64() * 1e3,
            runs,
        })
    }

    fn print(&self, races: usize) {
        if self.runs.is_empty() {
            return;
        }
        println!();
        println!(
            "races at difficulty {RACE_DIFFICULTY}: {races} distinct transactions each way, \
             kernel {}; 'steady' is the rate measured between blocks of {RACE_BLOCK} races",
            self.kernel,
        );
        println!(
            "{:<8}{:<34}{:>8}{:>22}{:>20}{:>20}{:>14}",
            "", "", "", "first hash (µs)", "solve (ms)", "MH/s per race", "% of steady"
        );
        println!(
            "{:<8}{:<34}{:>8}{:>11}{:>11}{:>10}{:>10}{:>10}{:>10}{:>14}",
            "threads",
            "",
            "steady",
            "median",
            "p99",
            "median",
            "p99",
            "median",
            "all",
            "median/all"
        );
        for l in &self.runs {
            println!(
                "{:<8}{:<34}{:>8.1}{:>11.1}{:>11.1}{:>10.3}{:>10.3}{:>10.1}{:>10.1}{:>8.0}/{:.0}",
                l.threads,
                l.how,
                l.steady_mhs,
                l.first_hash_us.median,
                l.first_hash_us.p99,
                l.solve_ms.median,
                l.solve_ms.p99,
                l.rate_mhs.median,
                l.aggregate_mhs,
                l.median_rate_percent_of_steady,
                l.aggregate_percent_of_steady,
            );
        }
    }
}

impl RateCaps {
    /// Every cap of [`CAPS`] (and none) on 1 and 2 threads, `seconds` each (0: skipped).
    fn measure(kernel: Kernel, cores: usize, seconds: f64) -> anyhow::Result<RateCaps> {
        let mut runs = Vec::new();
        if seconds > 0.0 {
            let time = Duration::from_secs_f64(seconds);
            for threads in 1..=cores.min(2) {
                runs.push(cap_accuracy(kernel, threads, None, time)?);
                for cap in CAPS {
                    runs.push(cap_accuracy(kernel, threads, Some(cap), time)?);
                }
            }
        }
        Ok(RateCaps {
            kernel: kernel.name(),
            seconds,
            races_per_cap: CAPPED_RACES,
            runs,
        })
    }

    fn print(&self) {
        if self.runs.is_empty() {
            return;
        }
        println!();
        println!(
            "hash-rate cap: kernel {}, {:.1} s per cap; then {CAPPED_RACES} races at difficulty \
             {RACE_DIFFICULTY} under it",
            self.kernel, self.seconds
        );
        println!(
            "{:<9}{:>12}{:>16}{:>10}{:>33}",
            "threads", "cap (MH/s)", "measured MH/s", "error", "race rate, % of cap: median/all"
        );
        for c in &self.runs {
            match (c.cap_mhs, c.error_percent, c.race_rate_percent_of_cap) {
                (Some(cap), Some(error), Some(races)) => println!(
                    "{:<9}{:>12.1}{:>16.3}{:>9.2}%{:>23.1}/{:.1}",
                    c.threads, cap, c.measured_mhs, error, races.median, races.all
                ),
                _ => println!("{:<9}{:>12}{:>16.3}", c.threads, "none", c.measured_mhs),
            }
        }
    }
}

impl AbortLatencies {
    /// `searches` stopped searches under every cap of [`ABORT_CAPS`] on 1 and 2 threads (0:
    /// skipped).
    fn measure(kernel: Kernel, cores: usize, searches: usize) -> anyhow::Result<AbortLatencies> {
        let mut runs = Vec::new();
        if searches > 0 {
            for threads in 1..=cores.min(2) {
                for cap in ABORT_CAPS {
                    runs.push(abort_latency(kernel, threads, cap, searches)?);
                }
            }
        }
        Ok(AbortLatencies {
            kernel: kernel.name(),
            searches,
            runs,
        })
    }

    fn print(&self) {
        if self.runs.is_empty() {
            return;
        }
        println!();
        println!(
            "abort latency: kernel {}, {} searches each stopped {} ms in; a race decided in this \
             process raises its losers' flags as it is decided, so this is decision -> loser \
             stopped",
            self.kernel,
            self.searches,
            ABORT_AFTER.as_millis()
        );
        println!(
            "{:<9}{:>12}{:>14}{:>12}",
            "threads", "cap (MH/s)", "median (µs)", "p99 (µs)"
        );
        for a in &self.runs {
            println!(
                "{:<9}{:>12}{:>14.1}{:>12.1}",
                a.threads,
                a.cap_mhs.map_or("none".to_owned(), |c| format!("{c:.1}")),
                a.stop_us.median,
                a.stop_us.p99
            );
        }
    }
}

/// Searches that cannot succeed, each stopped [`ABORT_AFTER`] in: the time from the cancel
/// flag to the outcome, as a node's losing search under `--on-loss abort`.
fn abort_latency(
    kernel: Kernel,
    threads: usize,
    cap: Option<f64>,
    n: usize,
) -> anyhow::Result<AbortLatency> {
    let pool = Pool::builder(threads, kernel)
        .name("bench-abort")
        .hash_rate(cap)
        .build()?;
    let never = Arc::new(Prepared::new(
        BENCH_DATA.as_bytes(),
        Difficulty::from_zero_bits(UNREACHABLE_BITS).expect("in range"),
    ));
    let mut stops = Vec::with_capacity(n);
    for _ in 0..n {
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        pool.search(
            Job {
                prepared: never.clone(),
                mode: Mode::Smallest,
                cancel: cancel.clone(),
            },
            Box::new(move |_| {
                let _ = tx.send(Instant::now());
            }),
        )?;
        std::thread::sleep(ABORT_AFTER);
        let raised = Instant::now();
        cancel.store(true, Ordering::Release);
        let stopped = rx.recv().context("the search pool dropped a job")?;
        stops.push(stopped.saturating_duration_since(raised).as_secs_f64());
    }
    Ok(AbortLatency {
        threads,
        cap_mhs: cap.map(|c| c / 1e6),
        stop_us: Spread::of(stops).scaled(1e6),
    })
}

/// Distinct transactions at the lab's difficulty.
fn race_transactions(n: usize, tag: &str) -> Vec<Arc<Prepared>> {
    let d = Difficulty::from_zero_bytes(RACE_DIFFICULTY).expect("in range");
    (0..n)
        .map(|i| {
            Arc::new(Prepared::new(
                format!("{BENCH_DATA} {tag} {i}").as_bytes(),
                d,
            ))
        })
        .collect()
}

/// Runs `job` on `pool` and waits for its outcome.
fn pool_solve(pool: &Pool, p: &Arc<Prepared>, cancel: Arc<AtomicBool>) -> anyhow::Result<Outcome> {
    let (tx, rx) = mpsc::channel();
    let job = Job {
        prepared: p.clone(),
        mode: Mode::Smallest,
        cancel,
    };
    pool.search(
        job,
        Box::new(move |o| {
            let _ = tx.send(o);
        }),
    )?;
    rx.recv().context("the search pool dropped a job")
}

/// The same races through a warm pool (back to back, and with workers parked in between) and
/// through fresh threads (`parallel::search`), in blocks that take turns with slices of the
/// steady-state rate, so that all see the same load on a shared machine; the answers must agree.
fn race_latency(kernel: Kernel, threads: usize, n: usize) -> anyhow::Result<Vec<RaceLatency>> {
    let txs = race_transactions(n, "race");
    let pool = Pool::builder(threads, kernel).name("bench-pool").build()?;
    // Warm up: the workers have run once and the code is in cache, as in a node that has raced.
    for p in race_transactions(5, "warm-up") {
        pool_solve(&pool, &p, Arc::default())?;
    }
    let never = Arc::new(AtomicBool::new(false));
    let steady_data = Prepared::new(
        BENCH_DATA.as_bytes(),
        Difficulty::from_zero_bits(UNREACHABLE_BITS).expect("in range"),
    );
    let (mut steady_hashes, mut steady_seconds) = (0u64, 0.0);
    let mut fresh = Vec::with_capacity(n);
    let mut warm = Vec::with_capacity(n);
    let mut parked = Vec::with_capacity(n);
    for block in txs.chunks(RACE_BLOCK) {
        for p in block {
            // As a node did before the pool: a thread per race, which starts the others.
            let submitted = Instant::now();
            let (p, never) = (p.clone(), never.clone());
            let mut o = std::thread::spawn(move || parallel::search(&p, threads, kernel, &never))
                .join()
                .map_err(|_| anyhow::anyhow!("a search thread panicked"))?;
            o.submitted = submitted;
            fresh.push(o);
        }
        for p in block {
            warm.push(pool_solve(&pool, p, never.clone())?);
        }
        for p in block {
            std::thread::sleep(PARKED_GAP);
            parked.push(pool_solve(&pool, p, never.clone())?);
        }
        let (o, seconds) = with_deadline(STEADY_SLICE, |cancel| {
            parallel::search(&steady_data, threads, kernel, cancel)
        });
        steady_hashes += o.hashes;
        steady_seconds += seconds;
    }
    let answers = |o: &[Outcome]| -> Vec<Option<u64>> {
        o.iter().map(|o| o.solution.map(|s| s.nonce)).collect()
    };
    if answers(&warm) != answers(&fresh) || answers(&parked) != answers(&fresh) {
        bail!("the pool's answers differ from parallel::search's");
    }
    let steady = steady_hashes as f64 / steady_seconds / 1e6;
    Ok(vec![
        summarize("fresh threads (spawn + parallel)", threads, steady, &fresh),
        summarize("pool, back to back", threads, steady, &warm),
        summarize("pool, parked (5 ms apart)", threads, steady, &parked),
    ])
}

fn summarize(
    how: &'static str,
    threads: usize,
    steady_mhs: f64,
    outcomes: &[Outcome],
) -> RaceLatency {
    let secs = |d: Option<Duration>| d.map_or(f64::NAN, |d| d.as_secs_f64());
    let hashes: u64 = outcomes.iter().map(|o| o.hashes).sum();
    let time: f64 = outcomes.iter().map(|o| o.elapsed().as_secs_f64()).sum();
    let rate_mhs = Spread::of(
        outcomes
            .iter()
            .map(|o| o.hashes as f64 / o.elapsed().as_secs_f64() / 1e6)
            .collect(),
    );
    let aggregate_mhs = hashes as f64 / time / 1e6;
    RaceLatency {
        how,
        threads,
        steady_mhs,
        races: outcomes.len(),
        first_hash_us: Spread::of(outcomes.iter().map(|o| secs(o.start_latency())).collect())
            .scaled(1e6),
        solve_ms: Spread::of(outcomes.iter().map(|o| o.elapsed().as_secs_f64()).collect())
            .scaled(1e3),
        rate_mhs,
        aggregate_mhs,
        median_rate_percent_of_steady: 100.0 * rate_mhs.median / steady_mhs,
        aggregate_percent_of_steady: 100.0 * aggregate_mhs / steady_mhs,
    }
}

/// The rate a pool capped at `cap` keeps over `time`, and over races at the lab's difficulty.
fn cap_accuracy(
    kernel: Kernel,
    threads: usize,
    cap: Option<f64>,
    time: Duration,
) -> anyhow::Result<CapAccuracy> {
    let pool = Pool::builder(threads, kernel)
        .name("bench-cap")
        .hash_rate(cap)
        .build()?;
    let never = Arc::new(Prepared::new(
        BENCH_DATA.as_bytes(),
        Difficulty::from_zero_bits(UNREACHABLE_BITS).expect("in range"),
    ));
    let cancel = Arc::new(AtomicBool::new(false));
    let stop = cancel.clone();
    let timer = std::thread::spawn(move || {
        std::thread::sleep(time);
        stop.store(true, Ordering::Release);
    });
    let o = pool_solve(&pool, &never, cancel)?;
    let _ = timer.join();
    let measured = o.hashes as f64 / o.elapsed().as_secs_f64();
    let mut ratios = Vec::new();
    let (mut hashes, mut seconds) = (0, 0.0);
    if let Some(cap) = cap {
        for p in race_transactions(CAPPED_RACES, "capped") {
            let o = pool_solve(&pool, &p, Arc::default())?;
            ratios.push(o.hashes as f64 / o.elapsed().as_secs_f64() / cap);
            hashes += o.hashes;
            seconds += o.elapsed().as_secs_f64();
        }
    }
    let race_ratio = Spread::of(ratios).median;
    Ok(CapAccuracy {
        threads,
        cap_mhs: cap.map(|c| c / 1e6),
        measured_mhs: measured / 1e6,
        error_percent: cap.map(|cap| 100.0 * (measured / cap - 1.0)),
        race_rate_percent_of_cap: cap.map(|cap| CapRaces {
            median: 100.0 * race_ratio,
            all: 100.0 * (hashes as f64 / seconds / cap),
        }),
    })
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

/// Million hashes per second of `kernel` on one thread over data of `len` bytes, from
/// [`LAYOUT_FIRST_NONCE`], for about `time`.
fn layout_rate(kernel: Kernel, len: usize, time: Duration) -> f64 {
    const STEP: u64 = 100_000;
    let data = vec![b'L'; len];
    let p = Prepared::new(
        &data,
        Difficulty::from_zero_bits(UNREACHABLE_BITS).expect("in range"),
    );
    let (mut hashed, mut at) = (0, LAYOUT_FIRST_NONCE);
    let t0 = Instant::now();
    while t0.elapsed() < time {
        hashed += kernel.scan(&p, at, at + STEP).hashed;
        at += STEP;
    }
    hashed as f64 / t0.elapsed().as_secs_f64() / 1e6
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
        mhs: outcome.hashes as f64 / seconds / 1e6,
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
