//! A test bed of several hosts on one machine: network namespaces on a bridge, each with a
//! private address (10.213.x.y/24), whose links a test can cut and heal; and real etcd
//! members, one per host or on loopback.
//!
//! Everything is named `prt…` with this process's id, so parallel tests and test binaries do
//! not collide, and the leftovers of a run that died (kill -9, a crash) are removed by the
//! next run: a name whose process is gone is deleted. [`Net`] and [`EtcdCluster`] remove
//! what they made when dropped, also when a test panics.
//!
//! Use from a test file with `#[path = "util/netns.rs"] mod netns;`.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU16, AtomicU32, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

/// Every namespace, bridge and veth this bed makes starts with this.
pub const PREFIX: &str = "prt";

/// How long a test waits for etcd to become healthy.
pub const ETCD_PATIENCE: Duration = Duration::from_secs(60);

/// The most hosts one [`Net`] has (veth names carry the host number as one hex digit).
pub const MAX_HOSTS: usize = 15;

/// Whether this process runs as root (namespaces, veths and bridges need it).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `true` when the test can run; otherwise prints a loud SKIPPED line (not root).
pub fn root_or_skip(test: &str) -> bool {
    if is_root() {
        return true;
    }
    eprintln!("SKIPPED: {test}: needs root and ip netns");
    false
}

/// Runs `ip` with `args`; panics with its output when it fails.
pub fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .expect("iproute2's ip runs (apt-get install iproute2)");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ip_quiet(args: &[&str]) -> Output {
    Command::new("ip").args(args).output().expect("ip runs")
}

/// Whether process `pid` is running (a zombie is not: it has exited, its parent has not
/// reaped it yet).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// The pid in a `prt-PID-…` name.
fn run_pid(name: &str) -> Option<u32> {
    name.strip_prefix(&format!("{PREFIX}-"))?
        .split('-')
        .next()?
        .parse()
        .ok()
}

/// Reaps the leftovers of dead runs, once per process.
fn reap_once() {
    static REAP: Once = Once::new();
    REAP.call_once(reap_dead_runs);
}

/// Removes what runs whose process is gone left behind. Only what this bed makes is touched:
/// `prt-PID-…` namespaces and temp dirs, `prbPPPPPP…` bridges and `prvPPPPPP…` veths (PID in
/// hex), and etcd members started with `--initial-cluster-token prt-PID-…`.
pub fn reap_dead_runs() {
    // etcd members on loopback of a dead run (those in namespaces go with their namespace).
    if let Ok(procs) = std::fs::read_dir("/proc") {
        for p in procs.flatten() {
            let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmdline) = std::fs::read(p.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmdline
                .split(|&b| b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            let is_etcd = args.first().is_some_and(|a| a.ends_with("etcd"));
            let token = args
                .iter()
                .position(|a| a == "--initial-cluster-token")
                .and_then(|i| args.get(i + 1));
            if let (true, Some(run)) = (is_etcd, token.and_then(|t| run_pid(t))) {
                if !alive(run) {
                    // SAFETY: kill has no memory preconditions; this is a member a dead run of
                    // this harness started.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
    }
    if let Ok(dirs) = std::fs::read_dir(std::env::temp_dir()) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            if run_pid(&name).is_some_and(|pid| !alive(pid)) {
                let _ = std::fs::remove_dir_all(d.path());
            }
        }
    }
    let listed = ip_quiet(&["netns", "list"]);
    for line in String::from_utf8_lossy(&listed.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(pid) = run_pid(name) else {
            continue;
        };
        if !alive(pid) {
            kill_inside(name);
            let _ = ip_quiet(&["netns", "del", name]);
        }
    }
    let links = ip_quiet(&["-o", "link", "show"]);
    for line in String::from_utf8_lossy(&links.stdout).lines() {
        let Some(name) = line.split(": ").nth(1) else {
            continue;
        };
        let name = name.split('@').next().unwrap_or(name);
        let ours =
            name.starts_with(&format!("{PREFIX}b")) || name.starts_with(&format!("{PREFIX}v"));
        if !ours || name.len() < 10 {
            continue;
        }
        if let Ok(pid) = u32::from_str_radix(&name[4..10], 16) {
            if !alive(pid) {
                let _ = ip_quiet(&["link", "del", name]);
            }
        }
    }
}

/// Kills (-9) every process inside namespace `ns`: the etcd members of a dead run.
fn kill_inside(ns: &str) {
    let pids = ip_quiet(&["netns", "pids", ns]);
    for pid in String::from_utf8_lossy(&pids.stdout).split_whitespace() {
        if let Ok(pid) = pid.parse::<i32>() {
            // SAFETY: kill has no memory preconditions; the pid is inside our namespace.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
}

/// One host: a network namespace with one address.
pub struct Host {
    /// `h1`, `h2`, …
    pub name: String,
    /// The namespace's name (`ip netns exec NS …`).
    pub ns: String,
    /// Its address on the bridge.
    pub ip: String,
    /// The root-side end of its veth pair: down = the host is cut off.
    veth: String,
}

impl Host {
    /// `program` to be run inside the namespace (`ip netns exec NS program`); add arguments
    /// and spawn or run it.
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns, program]);
        c
    }

    /// Runs `f` on a thread inside the namespace: every socket it opens is the host's.
    pub fn enter<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let path = self.ns_path();
        std::thread::scope(|s| {
            s.spawn(move || {
                enter_ns(&path);
                f()
            })
            .join()
            .expect("the thread inside the namespace panicked")
        })
    }

    /// A Tokio runtime whose threads all live inside the namespace: a client spawned on it
    /// connects from this host.
    pub fn runtime(&self) -> tokio::runtime::Runtime {
        let path = self.ns_path();
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .on_thread_start(move || enter_ns(&path))
            .build()
            .expect("a runtime")
    }

    fn ns_path(&self) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.ns))
    }
}

fn enter_ns(path: &Path) {
    let f = File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // SAFETY: setns with a valid namespace fd only changes this thread's network namespace.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(
        rc,
        0,
        "setns {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Several hosts on one bridge.
pub struct Net {
    bridge: String,
    /// The hosts, `h1` first.
    pub hosts: Vec<Host>,
    /// Held while this bed exists: one multi-host bed at a time per test binary. Several
    /// beds at once (three etcd members and three nodes each) starve each other on a 2-core
    /// machine until etcd's elections and requests time out, which is not what the tests
    /// are about. Released after the bed is removed (fields drop after `Drop::drop`).
    _one_at_a_time: std::sync::MutexGuard<'static, ()>,
}

/// See [`Net`]'s `_one_at_a_time`.
static ONE_BED: std::sync::Mutex<()> = std::sync::Mutex::new(());

impl Net {
    /// `count` hosts `h1..hN`, each in its own namespace with address `10.213.S.N`, all on
    /// one new bridge, and every link up.
    pub fn new(count: usize) -> Net {
        assert!((1..=MAX_HOSTS).contains(&count), "1 to {MAX_HOSTS} hosts");
        reap_once();
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::SeqCst) % 256;
        let pid = std::process::id();
        let bridge = format!("{PREFIX}b{pid:06x}{n:02x}");
        let subnet = 1 + (pid as usize * 7 + n as usize) % 250;
        let mut net = Net {
            bridge: bridge.clone(),
            hosts: Vec::new(),
            // A test that panicked while holding it poisoned it; its bed is gone all the same.
            _one_at_a_time: ONE_BED.lock().unwrap_or_else(|e| e.into_inner()),
        };
        // From here on, Drop removes whatever was made, also if a step below fails.
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["link", "set", &bridge, "up"]);
        for i in 1..=count {
            let host = Host {
                name: format!("h{i}"),
                ns: format!("{PREFIX}-{pid}-{n}-h{i}"),
                ip: format!("10.213.{subnet}.{i}"),
                veth: format!("{PREFIX}v{pid:06x}{n:02x}{i:x}"),
            };
            ip(&["netns", "add", &host.ns]);
            net.hosts.push(host);
            let host = net.hosts.last().unwrap();
            ip(&["-n", &host.ns, "link", "set", "lo", "up"]);
            ip(&[
                "link", "add", &host.veth, "type", "veth", "peer", "name", "eth0", "netns",
                &host.ns,
            ]);
            ip(&["link", "set", &host.veth, "master", &bridge]);
            ip(&["link", "set", &host.veth, "up"]);
            ip(&[
                "-n",
                &host.ns,
                "addr",
                "add",
                &format!("{}/24", host.ip),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &host.ns, "link", "set", "eth0", "up"]);
        }
        net
    }

    /// Host `hN` (1-based, like its name).
    pub fn host(&self, n: usize) -> &Host {
        &self.hosts[n - 1]
    }

    /// Takes the host's link down: it can reach no other host, and none can reach it.
    pub fn cut(&self, n: usize) {
        ip(&["link", "set", &self.host(n).veth, "down"]);
    }

    /// Brings the host's link back up.
    pub fn heal(&self, n: usize) {
        ip(&["link", "set", &self.host(n).veth, "up"]);
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for h in &self.hosts {
            kill_inside(&h.ns);
            // Deleting the namespace deletes its end of the veth pair, and so the pair.
            let _ = ip_quiet(&["netns", "del", &h.ns]);
            let _ = ip_quiet(&["link", "del", &h.veth]);
        }
        let _ = ip_quiet(&["link", "del", &self.bridge]);
    }
}

/// `count` consecutive free ports on 127.0.0.1, above the ephemeral range (so that no
/// outgoing connection holds one) and apart from the other harness's.
pub fn free_ports(count: u16) -> Vec<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let _ = NEXT.compare_exchange(
        0,
        61_000 + (std::process::id() % 200) as u16 * 20,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let mut base = NEXT.fetch_add(count, Ordering::SeqCst);
        if base > 65_000 {
            NEXT.store(61_000, Ordering::SeqCst);
            base = NEXT.fetch_add(count, Ordering::SeqCst);
        }
        let ports: Vec<u16> = (base..base + count).collect();
        if ports
            .iter()
            .all(|&p| TcpListener::bind(("127.0.0.1", p)).is_ok())
        {
            return ports;
        }
    }
}

/// Where a member runs.
#[derive(Clone)]
enum Place {
    Loopback,
    Netns(String),
}

impl Place {
    fn command(&self, program: &str) -> Command {
        match self {
            Place::Loopback => Command::new(program),
            Place::Netns(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, program]);
                c
            }
        }
    }
}

struct Member {
    name: String,
    place: Place,
    client_url: String,
    peer_url: String,
    data_dir: PathBuf,
    log: PathBuf,
    extra: Vec<String>,
    child: Option<Child>,
}

/// Real etcd members (Debian's `/usr/bin/etcd`), their data in a temp dir.
pub struct EtcdCluster {
    members: Vec<Member>,
    /// Extra `etcdctl` flags (TLS files).
    ctl: Vec<String>,
    initial_cluster: String,
    token: String,
    /// The members' data dirs and logs.
    pub dir: tempfile::TempDir,
}

impl EtcdCluster {
    /// `count` members on 127.0.0.1, free ports; healthy when this returns.
    pub fn loopback(count: usize) -> EtcdCluster {
        Self::loopback_with(count, &[], &[])
    }

    /// As [`loopback`](Self::loopback), with extra flags for every member (TLS, quotas) and
    /// for `etcdctl` (its TLS files).
    pub fn loopback_with(count: usize, extra: &[String], ctl: &[String]) -> EtcdCluster {
        let ports = free_ports(2 * count as u16);
        let scheme = if extra.iter().any(|a| a.starts_with("--cert-file")) {
            "https"
        } else {
            "http"
        };
        let places = (0..count)
            .map(|i| {
                (
                    Place::Loopback,
                    format!("{scheme}://127.0.0.1:{}", ports[2 * i]),
                    format!("http://127.0.0.1:{}", ports[2 * i + 1]),
                )
            })
            .collect();
        Self::start(places, extra, ctl)
    }

    /// One member on each host of `net` (client port 2379, peer port 2380 on the host's
    /// address); healthy when this returns.
    pub fn on_hosts(net: &Net) -> EtcdCluster {
        let places = net
            .hosts
            .iter()
            .map(|h| {
                (
                    Place::Netns(h.ns.clone()),
                    format!("http://{}:2379", h.ip),
                    format!("http://{}:2380", h.ip),
                )
            })
            .collect();
        Self::start(places, &[], &[])
    }

    fn start(
        places: Vec<(Place, String, String)>,
        extra: &[String],
        ctl: &[String],
    ) -> EtcdCluster {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let token = format!(
            "{PREFIX}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        reap_once();
        // Named after this run, so that a later run removes it if this one dies.
        let dir = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}-{}-", std::process::id()))
            .tempdir()
            .unwrap();
        let members: Vec<Member> = places
            .into_iter()
            .enumerate()
            .map(|(i, (place, client_url, peer_url))| Member {
                name: format!("m{}", i + 1),
                place,
                client_url,
                peer_url,
                data_dir: dir.path().join(format!("m{}.etcd", i + 1)),
                log: dir.path().join(format!("m{}.log", i + 1)),
                extra: extra.to_vec(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}={}", m.name, m.peer_url))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = EtcdCluster {
            members,
            ctl: ctl.to_vec(),
            initial_cluster,
            token,
            dir,
        };
        for i in 0..cluster.members.len() {
            cluster.spawn(i);
        }
        let all: Vec<usize> = (0..cluster.members.len()).collect();
        cluster.wait_healthy(&all);
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let (initial_cluster, token) = (self.initial_cluster.clone(), self.token.clone());
        let m = &mut self.members[i];
        let log = File::options()
            .create(true)
            .append(true)
            .open(&m.log)
            .unwrap();
        let mut cmd = m.place.command("etcd");
        cmd.args([
            "--name",
            &m.name,
            "--data-dir",
            &m.data_dir.display().to_string(),
            "--listen-client-urls",
            &m.client_url,
            "--advertise-client-urls",
            &m.client_url,
            "--listen-peer-urls",
            &m.peer_url,
            "--initial-advertise-peer-urls",
            &m.peer_url,
            "--initial-cluster",
            &initial_cluster,
            "--initial-cluster-token",
            &token,
            "--initial-cluster-state",
            "new",
        ])
        .args(&m.extra)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log);
        m.child = Some(cmd.spawn().expect(
            "etcd starts (Debian's etcd-server: apt-get install etcd-server, or run .ci/run)",
        ));
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| m.client_url.clone()).collect()
    }

    /// Member `i`'s client URL (0-based).
    pub fn endpoint(&self, i: usize) -> String {
        self.members[i].client_url.clone()
    }

    /// Member `i`'s log so far.
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.members[i].log).unwrap_or_default()
    }

    /// kill -9 member `i` (a crash: no goodbye to the others).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.members[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts member `i` again on its data dir; returns at once (see
    /// [`wait_healthy`](Self::wait_healthy)).
    pub fn restart(&mut self, i: usize) {
        self.kill9(i);
        self.spawn(i);
    }

    /// Wipes member `i`: kill -9, its data dir removed, a fresh member started on the same
    /// URLs (of a one-member cluster: a new, empty etcd where the old one was); returns at
    /// once (see [`wait_healthy`](Self::wait_healthy)).
    pub fn wipe(&mut self, i: usize) {
        self.kill9(i);
        let _ = std::fs::remove_dir_all(&self.members[i].data_dir);
        self.spawn(i);
    }

    /// `etcdctl` (v3 API) against member `i`, from where that member runs, with a bounded
    /// command time.
    pub fn etcdctl(&self, i: usize, args: &[&str]) -> Output {
        let m = &self.members[i];
        let mut cmd = m.place.command("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &m.client_url,
                "--dial-timeout=2s",
                "--command-timeout=3s",
            ])
            .args(args);
        cmd.args(&self.ctl);
        cmd.output().expect("etcdctl runs")
    }

    /// Waits until each of `members` answers `endpoint health` (a quorum read); panics with
    /// their logs after [`ETCD_PATIENCE`].
    pub fn wait_healthy(&self, members: &[usize]) {
        let start = Instant::now();
        for &i in members {
            loop {
                if self.etcdctl(i, &["endpoint", "health"]).status.success() {
                    break;
                }
                if start.elapsed() > ETCD_PATIENCE {
                    panic!(
                        "etcd member {} not healthy after {ETCD_PATIENCE:?}; its log:\n{}",
                        self.members[i].name,
                        self.log(i)
                    );
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill9(i);
        }
    }
}
