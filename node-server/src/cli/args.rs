//! The command line: clap's structs for every subcommand, the checks between their options,
//! and the subcommands dispatched to the library. `anyhow` lives here, at the edge.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::app::{self, Options};
use crate::cli::client::{self, Answer};
use crate::cli::commands::{self, Verdict};
use crate::json;
use crate::net::origins::{Origin, Origins};
use crate::race::cluster::ClusterSettings;
use crate::race::node::{NodeConfig, OnLoss};
use crate::settings::{HashRate, PerNode, Threads};
use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use pow_core::chain::RaceMode;
use pow_core::engine::Kernel;
use pow_core::search::parallel::MAX_THREADS;
use pow_core::Difficulty;

use crate::limits::{MAX_MINING_BITS, MAX_STAGGER, MAX_TARGET_TIME, MIN_BATCH_RATE};

/// Proof-of-work nodes racing for one ledger. With no command, runs `serve` with its
/// defaults: Node1..Node3 on 127.0.0.1:5000-5002, difficulty 2, ledger ./ledger.json.
#[derive(Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run several nodes in this process (the default command).
    Serve(ServeArgs),
    /// Run one node in its own process; nodes sharing a ledger file still record one winner.
    Node(NodeArgs),
    /// Send a transaction to every node at once and show the race.
    Submit(SubmitArgs),
    /// Solve one puzzle (the lab's pow.py).
    Mine(MineArgs),
    /// Check every hash, difficulty and link of a ledger: exit 0 when valid, 1 when not.
    Verify(VerifyArgs),
    /// Compare the nodes from the attempts log: wins, mean and median time, hash rate.
    Report(ReportArgs),
    /// Measure the search engine: hash rate per kernel and thread count.
    Bench(crate::cli::bench::BenchArgs),
    /// Measure what a race, a commit, a page and a start cost as the ledger grows (1k to 1M).
    BenchLedger(crate::cli::ledger_bench::LedgerBenchArgs),
}

#[derive(Args)]
struct Common {
    /// Leading zero bytes ("00" pairs in hex) a hash must have.
    #[arg(long, default_value_t = 2)]
    difficulty: u32,
    /// Leading zero bits instead of bytes (steps of 2x; entries then record `difficulty_bits`).
    #[arg(long, conflicts_with = "difficulty", value_name = "B")]
    bits: Option<u32>,
    /// The ledger file.
    #[arg(long, default_value = "ledger.json")]
    ledger: PathBuf,
    /// What a losing node does once the race is decided.
    #[arg(long, value_enum, default_value_t = OnLoss::Finish)]
    on_loss: OnLoss,
    /// Search kernel (default: the fastest this CPU runs, or $POWRACE_KERNEL).
    #[arg(long)]
    kernel: Option<String>,
    /// Retarget the difficulty toward this race time (500ms, 2s; off by default): every 16
    /// entries the difficulty in bits follows the chain's measured hash rate, so every node
    /// and `verify` compute it from the ledger; `--difficulty` is where it starts.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    target_time: Option<std::time::Duration>,
    /// A web origin whose pages may use the nodes (repeatable), e.g. http://127.0.0.1:8080.
    /// The nodes' own pages always may; requests from other pages get 403.
    #[arg(long = "allow-origin", value_name = "URL")]
    allow_origin: Vec<Origin>,
    #[command(flatten)]
    etcd: EtcdArgs,
}

/// Racing with nodes on other hosts, through etcd (needs a build with `--features etcd`).
#[derive(Args)]
struct EtcdArgs {
    /// etcd client URLs, comma-separated (several fail over): race with every node registered
    /// there, and keep this host's ledger as the cluster decides it.
    #[arg(long, value_delimiter = ',', value_name = "URLS")]
    etcd: Vec<String>,
    /// The key prefix of this race in etcd (several races can share one etcd).
    #[arg(long, value_name = "PREFIX", requires = "etcd")]
    etcd_prefix: Option<String>,
    /// etcd user (with authentication on); the password is read from `--etcd-password-file`
    /// or $POWRACE_ETCD_PASSWORD.
    #[arg(long, value_name = "USER", requires = "etcd")]
    etcd_user: Option<String>,
    /// A file holding the etcd user's password.
    #[arg(long, value_name = "PATH", requires = "etcd_user")]
    etcd_password_file: Option<PathBuf>,
    /// TLS: the CA that signed the etcd members' certificates.
    #[arg(long, value_name = "PEM", requires = "etcd")]
    etcd_ca: Option<PathBuf>,
    /// TLS: the client certificate, for members that require one.
    #[arg(long, value_name = "PEM", requires = "etcd_key")]
    etcd_cert: Option<PathBuf>,
    /// TLS: the client certificate's key.
    #[arg(long, value_name = "PEM", requires = "etcd_cert")]
    etcd_key: Option<PathBuf>,
}

impl EtcdArgs {
    /// The cluster to join, or `None` without `--etcd`; `advertised` are the nodes' addresses.
    fn cluster(
        &self,
        advertised: Vec<String>,
    ) -> anyhow::Result<Option<(ClusterSettings, Vec<String>)>> {
        if self.etcd.is_empty() {
            return Ok(None);
        }
        let user = match &self.etcd_user {
            None => None,
            Some(u) => {
                let password = match &self.etcd_password_file {
                    Some(p) => std::fs::read_to_string(p)
                        .with_context(|| format!("cannot read {}", p.display()))?
                        .trim_end_matches(['\n', '\r'])
                        .to_owned(),
                    None => std::env::var("POWRACE_ETCD_PASSWORD").context(
                        "--etcd-user needs --etcd-password-file or $POWRACE_ETCD_PASSWORD",
                    )?,
                };
                Some((u.clone(), password))
            }
        };
        Ok(Some((
            ClusterSettings {
                endpoints: self.etcd.clone(),
                prefix: self.etcd_prefix.clone(),
                user,
                ca: self.etcd_ca.clone(),
                cert: self.etcd_cert.clone(),
                key: self.etcd_key.clone(),
            },
            advertised,
        )))
    }
}

impl Common {
    fn origins(&self) -> Arc<Origins> {
        let origins = Arc::new(Origins::new());
        for o in &self.allow_origin {
            origins.add(o.clone());
        }
        origins
    }
}

/// Threads for one search: 1 to pow-core's `MAX_THREADS` (256).
fn threads_arg() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::new().range(1..=MAX_THREADS as u64)
}

#[derive(Args)]
struct ServeArgs {
    /// How many nodes.
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    /// The first node's port; the others follow.
    #[arg(long, default_value_t = 5000)]
    base_port: u16,
    /// The address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Search threads per node, 1 to 256: one figure for every node, or per node
    /// (`Node1=2,Node2=1`; unnamed nodes keep the default: cores / nodes, at least 1).
    #[arg(long, value_name = "T | NAME=T,...")]
    threads_per_node: Option<PerNode<Threads>>,
    /// How each node races: `lab` (every node from nonce 0: the smallest nonce, the same
    /// answer everywhere) or `lottery` (each node from its own start; the first nonce found
    /// wins): for every node, or per node (`Node1=lottery,...`).
    #[arg(long, value_name = "MODE | NAME=MODE,...")]
    race: Option<PerNode<RaceMode>>,
    /// Cap the nodes' hash rates (4M, 500k, 2000000 hashes per second): for every node, or per
    /// node (`Node1=4M,Node3=500k`), so one machine hosts strong and weak miners.
    #[arg(long, value_name = "RATE | NAME=RATE,...")]
    hashrate: Option<PerNode<HashRate>>,
    /// With `--etcd`: the host other machines reach these nodes at (default: `--bind`, which
    /// must then be a specific address).
    #[arg(long, value_name = "HOST")]
    advertise_host: Option<String>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct NodeArgs {
    /// The node's name, as it appears in the ledger (1 to 64 bytes; no '/', '=', ',', spaces
    /// or control characters).
    #[arg(long, value_parser = parse_node_name)]
    name: String,
    /// Address and port to listen on.
    #[arg(long)]
    listen: SocketAddr,
    /// With `--etcd`: the `host:port` other machines reach this node at (default: `--listen`,
    /// which must then be a specific address).
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Search threads, 1 to 256 (default: all cores).
    #[arg(long, value_parser = threads_arg())]
    threads: Option<usize>,
    /// `lab` (from nonce 0, the smallest nonce) or `lottery` (from this node's own start).
    #[arg(long, default_value = "lab", value_name = "MODE")]
    race: RaceMode,
    /// Cap this node's hash rate (4M, 500k, 2000000 hashes per second).
    #[arg(long, value_name = "RATE")]
    hashrate: Option<HashRate>,
    #[command(flatten)]
    common: Common,
}

#[derive(Args)]
struct SubmitArgs {
    /// The transaction (with `--count`, the prefix of each numbered transaction).
    data: String,
    /// Send a batch of this many numbered transactions (`DATA RUN-I`), one race after
    /// another, with a progress bar on a terminal, and print a summary.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// With `--count`: start at most this many races per second (e.g. `5` or `5/s`).
    #[arg(long, value_name = "R/s", requires = "count", value_parser = parse_rate)]
    rate: Option<f64>,
    /// With `--count`: send each race to the nodes this far apart (e.g. `1ms`), in a random
    /// order, as the lab's `tee` into three `nc`s starts them one after another: shows what
    /// arrival order does to a race.
    #[arg(long, value_name = "DURATION", requires = "count", value_parser = parse_stagger)]
    stagger: Option<std::time::Duration>,
    /// The nodes, comma-separated.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "127.0.0.1:5000,127.0.0.1:5001,127.0.0.1:5002"
    )]
    to: Vec<String>,
    /// Print the replies as JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct MineArgs {
    /// The transaction.
    data: String,
    /// Leading zero bytes.
    #[arg(long, default_value_t = 2, conflicts_with = "bits")]
    difficulty: u64,
    /// Leading zero bits instead of bytes (steps of 2x).
    #[arg(long)]
    bits: Option<u64>,
    /// Search threads, 1 to 256 (default: all cores).
    #[arg(long, value_parser = threads_arg())]
    threads: Option<usize>,
    /// Search kernel.
    #[arg(long)]
    kernel: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct VerifyArgs {
    /// The ledger file.
    #[arg(default_value = "ledger.json")]
    path: PathBuf,
    /// Also check that every lab race's nonce is the smallest that solves its puzzle (a
    /// lottery's nonce is the first its winner found).
    #[arg(long)]
    smallest: bool,
    /// Cross-check the attempts log (default: the one beside the ledger, if present).
    #[arg(long)]
    attempts: Option<PathBuf>,
}

#[derive(Args)]
struct ReportArgs {
    /// The ledger whose attempts log to read.
    #[arg(long, default_value = "ledger.json")]
    ledger: PathBuf,
    /// The attempts log (default: the one beside the ledger).
    #[arg(long)]
    attempts: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Also draw the charts (win vs hash share, race times, difficulty, wasted work) into this
    /// file: `.svg` or `.png`.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Compare every node of a cluster: ask the node at HOST:PORT for the live nodes, and each
    /// of them for its attempts (instead of the attempts log beside the ledger).
    #[arg(long, value_name = "HOST:PORT", conflicts_with = "attempts")]
    cluster: Option<String>,
}

fn kernel(name: Option<&str>) -> anyhow::Result<Kernel> {
    Ok(match name {
        Some(n) => Kernel::by_name(n)?,
        None => Kernel::from_env()?,
    })
}

fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The host part of the address other machines reach a node at: the listening address,
/// unless it is "any address" (then the user must say, when it matters).
fn advertised_host(ip: IpAddr, needed: bool) -> anyhow::Result<String> {
    anyhow::ensure!(
        !(needed && ip.is_unspecified()),
        "listening on {ip}: say which address other hosts reach this node at \
         (--advertise HOST:PORT on `node`, --advertise-host HOST on `serve`)"
    );
    Ok(match ip {
        IpAddr::V6(v6) => format!("[{v6}]"),
        v4 => v4.to_string(),
    })
}

fn parse_node_name(s: &str) -> Result<String, String> {
    crate::settings::check_node_name(s).map(|()| s.to_owned())
}

/// A difficulty a search can be expected to meet: at most [`MAX_MINING_BITS`].
fn mining_difficulty(bits: Option<u64>, bytes: u64) -> anyhow::Result<Difficulty> {
    let (d, given) = match bits {
        Some(b) => (Difficulty::from_zero_bits(b)?, format!("--bits {b}")),
        None => (
            Difficulty::from_zero_bytes(bytes)?,
            format!("--difficulty {bytes}"),
        ),
    };
    anyhow::ensure!(
        d.zero_bits() <= MAX_MINING_BITS,
        "{given}: at most {} bytes ({MAX_MINING_BITS} bits) can be mined: a search tries at \
         most 2^64 nonces, which are not expected to hold a hash with more zero bits",
        MAX_MINING_BITS / 8
    );
    Ok(d)
}

/// Checks the settings every node shares.
fn check_common(c: &mut Common) -> anyhow::Result<()> {
    mining_difficulty(c.bits.map(u64::from), u64::from(c.difficulty))?;
    if let Some(b) = c.bits {
        c.difficulty = b / 8;
    }
    if let Some(t) = c.target_time {
        anyhow::ensure!(
            t.as_micros() >= 1,
            "--target-time must be at least a microsecond"
        );
        anyhow::ensure!(
            t <= MAX_TARGET_TIME,
            "--target-time {}: at most {}",
            humantime::format_duration(t),
            humantime::format_duration(MAX_TARGET_TIME)
        );
        anyhow::ensure!(
            c.bits.unwrap_or(c.difficulty * 8) >= 1,
            "--target-time starts from --difficulty (or --bits), which must then be at least 1"
        );
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut c = args.common;
    check_common(&mut c)?;
    anyhow::ensure!(args.nodes >= 1, "--nodes must be at least 1");
    anyhow::ensure!(
        args.base_port != 0 || args.nodes == 1,
        "--base-port 0 (any free port) works for one node only; give the first of {} free \
         ports",
        args.nodes
    );
    anyhow::ensure!(
        usize::from(args.base_port) + args.nodes - 1 <= usize::from(u16::MAX),
        "--base-port {} --nodes {}: the ports would run past {}",
        args.base_port,
        args.nodes,
        u16::MAX
    );
    let kernel = kernel(c.kernel.as_deref())?;
    let configs = app::node_configs(
        args.nodes,
        &app::NodeSettings {
            difficulty: c.difficulty,
            bits: c.bits,
            threads: args.threads_per_node.unwrap_or_default(),
            kernel,
            on_loss: c.on_loss,
            race: args.race.unwrap_or_default(),
            hash_rate: args.hashrate.unwrap_or_default(),
            target_time: c.target_time,
        },
    )?;
    let mut nodes = Vec::new();
    let mut advertised = Vec::new();
    for (i, config) in configs.into_iter().enumerate() {
        let port = u16::try_from(usize::from(args.base_port) + i).expect("checked above");
        let host = match &args.advertise_host {
            Some(h) => h.clone(),
            None => advertised_host(args.bind, !c.etcd.etcd.is_empty())?,
        };
        advertised.push(format!("{host}:{port}"));
        nodes.push((config, app::bind(SocketAddr::new(args.bind, port)).await?));
    }
    let cluster = c.etcd.cluster(advertised)?;
    let shutdown = app::shutdown_on_signals();
    app::run(
        Options {
            nodes,
            origins: c.origins(),
            ledger: c.ledger,
            print: true,
            cluster,
        },
        shutdown,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn node(args: NodeArgs) -> anyhow::Result<ExitCode> {
    let mut c = args.common;
    check_common(&mut c)?;
    let config = NodeConfig {
        name: args.name,
        difficulty: c.difficulty,
        bits: c.bits,
        threads: args.threads.unwrap_or_else(all_cores),
        kernel: kernel(c.kernel.as_deref())?,
        on_loss: c.on_loss,
        race: args.race,
        hash_rate: args.hashrate.map(|h| h.0),
        target_time: c.target_time,
    };
    let advertised = match args.advertise {
        Some(a) => a,
        None => format!(
            "{}:{}",
            advertised_host(args.listen.ip(), !c.etcd.etcd.is_empty())?,
            args.listen.port()
        ),
    };
    let cluster = c.etcd.cluster(vec![advertised])?;
    let listener = app::bind(args.listen).await?;
    let shutdown = app::shutdown_on_signals();
    app::run(
        Options {
            nodes: vec![(config, listener)],
            origins: c.origins(),
            ledger: c.ledger,
            print: true,
            cluster,
        },
        shutdown,
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

/// `5`, `5/s` or `0.5/s`: races per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches("/s").trim();
    match n.parse::<f64>() {
        Ok(r) if r.is_finite() && r >= MIN_BATCH_RATE => Ok(r),
        Ok(r) if r.is_finite() && r > 0.0 => {
            Err(format!("{s:?}: at least {MIN_BATCH_RATE} races per second"))
        }
        _ => Err(format!(
            "{s:?} is not a rate (races per second, e.g. 5 or 0.5/s)"
        )),
    }
}

/// `1ms`: a stagger, at most [`MAX_STAGGER`].
fn parse_stagger(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("{s:?}: {e}"))?;
    if d > MAX_STAGGER {
        return Err(format!(
            "{s:?}: at most {}",
            humantime::format_duration(MAX_STAGGER)
        ));
    }
    Ok(d)
}

async fn submit_batch(args: &SubmitArgs, count: u64) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(count);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} races, {per_sec}, ETA {eta} {msg}",
            )
            .expect("a valid template"),
        );
        b
    });
    let json = args.json;
    let summary = client::batch(
        &args.data,
        count,
        args.rate,
        args.stagger,
        &args.to,
        |_, answers| {
            if json {
                for (_, a) in answers {
                    if let Answer::Race(r) = a {
                        if let Ok(line) = json::to_string(r) {
                            println!("{line}");
                        }
                    }
                }
            }
            if let Some(b) = &bar {
                b.inc(1);
            }
        },
    )
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    if json {
        eprintln!("{}", json::to_string(&summary)?);
    } else {
        let wins: Vec<String> = summary
            .wins
            .iter()
            .map(|(n, w)| format!("{n} won {w}"))
            .collect();
        println!(
            "{} races in {:.1} s: {}; {} undecided, {} error answers. `node-server report` \
             compares the nodes.",
            summary.races,
            summary.seconds,
            wins.join(", "),
            summary.races - summary.decided,
            summary.errors
        );
    }
    Ok(if summary.errors == 0 && summary.decided == summary.races {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    if let Some(count) = args.count {
        return submit_batch(&args, count).await;
    }
    let answers = client::submit(&args.data, &args.to).await?;
    let ok = answers.iter().all(|(_, a)| matches!(a, Answer::Race(_)));
    if args.json {
        for (addr, a) in &answers {
            let line = match a {
                Answer::Race(r) => json::to_string(r)?,
                Answer::Refused(e) => json::to_string(e)?,
                Answer::Failed(e) => json::to_string(&serde_json::json!({"error": e, "to": addr}))?,
            };
            println!("{line}");
        }
    } else {
        print!("{}", client::table(&answers));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

fn mine(args: MineArgs) -> anyhow::Result<ExitCode> {
    let difficulty = mining_difficulty(args.bits, args.difficulty)?;
    let threads = args.threads.unwrap_or_else(all_cores);
    let m = commands::mine(
        &args.data,
        difficulty,
        threads,
        kernel(args.kernel.as_deref())?,
    )?;
    if args.json {
        println!("{}", json::to_string(&m)?);
    } else {
        println!(
            "nonce: {}\nhash: {}\ntime_taken: {}",
            m.nonce, m.hash, m.time_taken
        );
        println!(
            "start_time: {}\nend_time: {}\nhashes: {} ({:.2} MH/s, {} kernel, {} threads)",
            m.start_time,
            m.end_time,
            m.hashes,
            m.hash_rate / 1e6,
            m.kernel,
            m.threads
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    let sibling = crate::events::attempts::path_for(&args.path);
    let attempts = args
        .attempts
        .or_else(|| sibling.exists().then_some(sibling));
    match commands::verify(&args.path, args.smallest, attempts.as_deref())? {
        Verdict::Valid {
            entries,
            head,
            notes,
        } => {
            println!(
                "{}: valid: {entries} entries, head {head}",
                args.path.display()
            );
            for note in notes {
                println!("note: {note}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Invalid(why) => {
            println!("INVALID {why}");
            Ok(ExitCode::from(1))
        }
    }
}

fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let (report, log) = match &args.cluster {
        Some(addr) => {
            let (report, sources) = crate::experiment::report::build_cluster(addr)?;
            (
                report,
                PathBuf::from(format!("the attempts of {}", sources.join(", "))),
            )
        }
        None => {
            let log = args
                .attempts
                .unwrap_or_else(|| crate::events::attempts::path_for(&args.ledger));
            (crate::experiment::report::build(&log)?, log)
        }
    };
    if args.json {
        println!("{}", crate::json::to_string(&report)?);
    } else {
        print!("{}", crate::experiment::report::text(&report, &log));
    }
    if let Some(path) = &args.plot {
        crate::experiment::report::plot(&report, path)?;
        if !args.json {
            println!("charts: {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

impl ServeArgs {
    fn parse_from_defaults() -> Self {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Defaults::parse_from(["node-server"]).serve
    }
}

/// Runs `cli`'s command (`serve` with its defaults when none is given): the exit code of a
/// command that ran, or the error that stopped it.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let command = cli
        .command
        .unwrap_or_else(|| Command::Serve(ServeArgs::parse_from_defaults()));
    match command {
        Command::Mine(a) => mine(a),
        Command::Verify(a) => verify(a),
        Command::Report(a) => report(a),
        Command::Bench(a) => crate::cli::bench::run(a).map(|()| ExitCode::SUCCESS),
        Command::BenchLedger(a) => crate::cli::ledger_bench::run(a).map(|()| ExitCode::SUCCESS),
        other => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")
            .and_then(|rt| {
                let result = rt.block_on(async {
                    match other {
                        Command::Serve(a) => serve(a).await,
                        Command::Node(a) => node(a).await,
                        Command::Submit(a) => submit(a).await,
                        _ => unreachable!("handled above"),
                    }
                });
                // Whatever still runs (a ledger write waiting on another process's lock)
                // gets the same grace as the shutdown itself, not forever.
                rt.shutdown_timeout(crate::limits::SHUTDOWN_GRACE);
                result
            }),
    }
}
