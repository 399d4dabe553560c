//! Putting nodes together: open the ledger and attempts log, bind, print the lab's start-up
//! lines, serve until shutdown, then drain.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use pow_core::engine::Kernel;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::events::attempts::{self, AttemptsLog};
use crate::events::metrics::Metrics;
use crate::events::printer::Printer;
use crate::events::{EventBus, Sink};
use crate::ledger::{Ledger, LedgerError};
use crate::limits::SHUTDOWN_GRACE;
use crate::net::origins::Origins;
use crate::race::cluster::ClusterSettings;
use crate::race::lock_arbiter::LockArbiter;
use crate::race::node::{Node, NodeConfig, OnLoss, SharedByNodes};
use crate::race::{Arbiter, Searches};
use crate::settings::{HashRate, PerNode, Threads};
use pow_core::chain::RaceMode;

/// The threads each node searches with when not told: the machine's cores shared by the
/// nodes, at least one. Three nodes on two cores get one thread each: more would only
/// time-slice the same cores and make every node slower.
pub fn default_threads(nodes: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / nodes.max(1)).max(1)
}

/// What to run.
pub struct Options {
    /// The nodes, each with its listener.
    pub nodes: Vec<(NodeConfig, TcpListener)>,
    /// The ledger file.
    pub ledger: PathBuf,
    /// Print the terminal lines.
    pub print: bool,
    /// The web origins allowed besides the nodes' own, which `run` adds; shared, so more can
    /// be added while the nodes run.
    pub origins: Arc<Origins>,
    /// Race with nodes on other hosts through etcd (`--etcd`), each node advertised at the
    /// address given (one per node, in order); `None`: every node is on this host.
    pub cluster: Option<(ClusterSettings, Vec<String>)>,
}

/// The settings every node of `serve` shares, and those given per node.
#[derive(Clone, Debug)]
pub struct NodeSettings {
    /// Leading zero bytes (the starting difficulty when retargeting).
    pub difficulty: u32,
    /// Leading zero bits instead, when given.
    pub bits: Option<u32>,
    /// Search threads (default: [`default_threads`]).
    pub threads: PerNode<Threads>,
    /// The search kernel.
    pub kernel: Kernel,
    /// What a loser does.
    pub on_loss: OnLoss,
    /// Lab race or lottery.
    pub race: PerNode<RaceMode>,
    /// Hash-rate caps.
    pub hash_rate: PerNode<HashRate>,
    /// Retargeting's target race time.
    pub target_time: Option<std::time::Duration>,
}

/// Builds node settings named `Node1`, `Node2`, ...; a per-node setting naming another node is
/// refused.
pub fn node_configs(count: usize, s: &NodeSettings) -> anyhow::Result<Vec<NodeConfig>> {
    let names: Vec<String> = (1..=count).map(|i| format!("Node{i}")).collect();
    s.threads.check_names("--threads-per-node", &names)?;
    s.race.check_names("--race", &names)?;
    s.hash_rate.check_names("--hashrate", &names)?;
    Ok(names
        .into_iter()
        .map(|name| NodeConfig {
            threads: s
                .threads
                .get(&name)
                .map_or_else(|| default_threads(count), |t| t.0),
            race: s.race.get(&name).copied().unwrap_or_default(),
            hash_rate: s.hash_rate.get(&name).map(|h| h.0),
            name,
            difficulty: s.difficulty,
            bits: s.bits,
            kernel: s.kernel,
            on_loss: s.on_loss,
            target_time: s.target_time,
        })
        .collect())
}

/// The difficulty rule a node's claims are mined under (see [`pow_core::chain::ChainRule`]).
pub fn chain_rule(config: &NodeConfig) -> pow_core::chain::ChainRule {
    match config.target_time {
        Some(t) => pow_core::chain::ChainRule::Retarget {
            target_time_us: t.as_micros().max(1) as u64,
        },
        None => pow_core::chain::ChainRule::Bits(
            config.bits.unwrap_or(config.difficulty.saturating_mul(8)),
        ),
    }
}

/// Binds `addr`, saying which port is taken when it is.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (is another node-server running there?)"))
}

/// Serves every node until `shutdown` is cancelled, then stops accepting, stops searches,
/// lets decided races finish committing (up to [`SHUTDOWN_GRACE`]) and returns.
pub async fn run(options: Options, shutdown: CancellationToken) -> anyhow::Result<()> {
    raise_fd_limit();
    let ledger = open_ledger(&options)?;
    // One arbiter feeds the file at a time: refused here if another process feeds it from
    // another (held until this function returns).
    let owner = match &options.cluster {
        None => crate::ledger::owner::Owner::File,
        Some((settings, _)) => settings.owner(),
    };
    let _owner = crate::ledger::owner::claim(ledger.paths(), &owner)
        .context("refusing to start on this ledger")?;
    let (arbiter, membership) = start_arbiter(&options, &ledger).await?;
    let attempts_path = attempts::path_for(ledger.path());
    let attempts_log = Arc::new(
        AttemptsLog::open(&attempts_path)
            .with_context(|| format!("cannot open {}", attempts_path.display()))?,
    );
    let attempts: Arc<dyn Sink> = attempts_log.clone();
    let width = options
        .nodes
        .iter()
        .map(|(c, _)| c.name.len())
        .max()
        .unwrap_or(5);
    let printer = Arc::new(Printer::new(width));
    let since = crate::clock::Stamp::now().text();
    let mut peers = Vec::new();
    for (config, listener) in &options.nodes {
        peers.push(crate::race::ClusterNode {
            name: config.name.clone(),
            addr: listener.local_addr()?.to_string(),
            since: since.clone(),
        });
    }
    let shared = SharedByNodes {
        arbiter: arbiter.clone(),
        searches: Arc::new(Searches::default()),
        metrics: Arc::new(Metrics::new()),
        peers: Arc::new(peers),
    };
    // Every node's page may talk to every node of the process.
    for (_, listener) in &options.nodes {
        options.origins.add_node(listener.local_addr()?);
    }
    let tracker = TaskTracker::new();
    let mut servers = Vec::new();
    let mut nodes = Vec::new();
    for (config, listener) in options.nodes {
        let mut sinks: Vec<Arc<dyn Sink>> = vec![attempts.clone(), shared.metrics.clone()];
        if options.print {
            sinks.push(printer.clone());
        }
        let port = listener.local_addr()?.port();
        let bus = EventBus::new(&config.name, config.difficulty, sinks);
        let node = Node::new(config, &shared, bus)?;
        if options.print {
            printer.line(node.name(), &format!("started on port {port}"));
        }
        nodes.push(node.clone());
        servers.push(tokio::spawn(crate::net::server::run(
            listener,
            node,
            options.origins.clone(),
            shutdown.clone(),
            tracker.clone(),
        )));
    }
    if let Some(m) = membership {
        tokio::spawn(m.run(nodes.clone(), options.origins.clone(), shutdown.clone()));
    }
    shutdown.cancelled().await;
    stop(
        &shared.searches,
        servers,
        tracker,
        &nodes,
        arbiter.as_ref(),
        attempts_log,
    )
    .await;
    Ok(())
}

/// Opens and verifies the ledger, refusing a damaged one (saying what to do about it) and one
/// whose chain is mined at another difficulty than the nodes'; says how much was loaded when
/// the nodes print.
fn open_ledger(options: &Options) -> anyhow::Result<Arc<Ledger>> {
    let (ledger, loaded) = Ledger::open(&options.ledger).map_err(|e| match e {
        LedgerError::Malformed { .. } | LedgerError::Invalid { .. } => {
            let path = options.ledger.display();
            anyhow::Error::new(e).context(format!(
                "refusing to start on a damaged ledger, which is left untouched; run \
                 `node-server verify {path}` to see the first bad entry, then restore {path} \
                 from a backup or move it aside (the entries before the bad one can be kept \
                 by cutting the array there)"
            ))
        }
        other => anyhow::Error::new(other).context("cannot open the ledger"),
    })?;
    if options.print && loaded.entries > 0 {
        println!(
            "{}: {} entries ({:.1} MB) loaded and verified in {:.3} s",
            options.ledger.display(),
            loaded.entries,
            loaded.bytes as f64 / 1e6,
            loaded.seconds
        );
    }
    // The chain's first entry fixes the difficulty of every entry: a node held to another
    // could only lose, or win entries that do not verify.
    if let Some(chain) = ledger.rule() {
        for (config, _) in &options.nodes {
            let own = chain_rule(config);
            anyhow::ensure!(
                own == chain,
                "{} is mined at {own}, but {} holds a chain at {chain} (its first entry fixes \
                 it for every entry): start it with the chain's difficulty, or give another \
                 --ledger",
                config.name,
                options.ledger.display()
            );
        }
    }
    Ok(ledger)
}

/// The arbiter of the races: the ledger file's own, or the etcd cluster's (with this process's
/// membership in it).
async fn start_arbiter(
    options: &Options,
    ledger: &Arc<Ledger>,
) -> anyhow::Result<(Arc<dyn Arbiter>, Option<crate::race::cluster::Membership>)> {
    Ok(match &options.cluster {
        None => (
            Arc::new(
                LockArbiter::new(ledger.clone())
                    .context("cannot start the ledger's writer thread")?,
            ),
            None,
        ),
        Some((settings, advertised)) => {
            let names: Vec<(String, String)> = options
                .nodes
                .iter()
                .map(|(c, _)| c.name.clone())
                .zip(advertised.iter().cloned())
                .collect();
            let rule = options
                .nodes
                .first()
                .map(|(c, _)| chain_rule(c))
                .context("no node to run")?;
            let (arbiter, membership) =
                crate::race::cluster::start(settings, ledger.clone(), &names, rule).await?;
            (arbiter, Some(membership))
        }
    })
}

/// Stops accepting, stops the searches, lets decided races finish committing (up to
/// [`SHUTDOWN_GRACE`]) and flushes the attempts log.
async fn stop(
    searches: &Searches,
    servers: Vec<tokio::task::JoinHandle<()>>,
    tracker: TaskTracker,
    nodes: &[Arc<Node>],
    arbiter: &dyn Arbiter,
    attempts_log: Arc<AttemptsLog>,
) {
    searches.stop_all();
    for s in servers {
        let _ = s.await;
    }
    tracker.close();
    let drained = async {
        tracker.wait().await;
        // Races whose client has gone are not connection tasks; wait for them too.
        for node in nodes {
            node.drain().await;
        }
        arbiter.flush().await;
    };
    if tokio::time::timeout(SHUTDOWN_GRACE, drained).await.is_err() {
        tracing::warn!("some connections or races were still open at shutdown");
    }
    // Every attempt of the races that ended is in the log before the process exits (bounded:
    // a log on a disk that hangs does not hold the exit forever).
    let flushed = tokio::task::spawn_blocking(move || attempts_log.flush());
    if tokio::time::timeout(SHUTDOWN_GRACE, flushed).await.is_err() {
        tracing::warn!("the attempts log was not flushed at shutdown");
    }
}

/// Raises the soft limit on open files to the hard limit: each node may hold
/// [`MAX_CONNECTIONS`](crate::limits::MAX_CONNECTIONS) connections, and a common soft limit
/// of 1024 would let a flood on one node starve the others of file descriptors.
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                tracing::warn!("cannot raise the open-files limit");
            }
        }
    }
}

/// A token cancelled by SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending().await } } => {}
        }
        t.cancel();
    });
    token
}
