//! Measures, not tested: claim → durable decision latency and decided races per second, for
//! the file ledger on one host, etcd with 3 members on loopback, and etcd with 3 members on 3
//! hosts (network namespaces; needs root). Run by hand:
//!
//! ```sh
//! cargo test --release -p node-server --features etcd --test etcd_bench -- --ignored --nocapture
//! ```
#![cfg(feature = "etcd")]

#[path = "util/etcd.rs"]
mod etcd_util;
#[path = "util/netns.rs"]
mod netns;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use etcd_util::claim;
use netns::{root_or_skip, EtcdCluster, Net};
use node_server::clock::Start;
use node_server::etcd::{EtcdOptions, Store};
use node_server::ledger::Ledger;
use node_server::race::lock_arbiter::LockArbiter;
use node_server::race::Arbiter;
use pow_core::chain::NewEntry as Claim;
use tokio::runtime::Runtime;

/// Claims one after the other, for the latency of an uncontended claim.
const SEQUENTIAL: usize = 400;
/// Races for the throughput figure; each is claimed by three nodes.
const RACES: usize = 2000;
/// Races in flight at once during the throughput run.
const IN_FLIGHT: usize = 64;

type Decide = Arc<dyn Fn(Claim) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn store_decider(store: Store) -> Decide {
    Arc::new(move |c| {
        let store = store.clone();
        Box::pin(async move {
            store.claim(c).await.expect("decided");
        })
    })
}

/// The one-host default: the file arbiter, which stamps the finish itself (the claim's times
/// are the arbiter's, not the pre-solved ones).
fn file_decider(arbiter: Arc<LockArbiter>) -> Decide {
    Arc::new(move |c| {
        let arbiter = arbiter.clone();
        Box::pin(async move {
            let claim = node_server::race::Claim {
                node: c.node,
                transaction_data: c.transaction_data,
                nonce: c.nonce,
                hash: c.hash,
                difficulty: c.difficulty,
                difficulty_bits: c.difficulty_bits,
                race: c.race,
                target_time_us: c.target_time_us,
                start: Start::now(),
            };
            // `submit` is for the search's own thread: it may wait (boundedly) for the lock.
            let submitted = tokio::task::spawn_blocking(move || arbiter.submit(claim))
                .await
                .unwrap()
                .expect("submitted");
            submitted.decision.await.expect("decided");
        })
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn median_p99(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| ms(v[((v.len() - 1) as f64 * q).round() as usize]);
    (at(0.5), at(0.99))
}

/// One row: the three nodes' deciders (one per host, or the same one thrice).
async fn measure(label: &str, nodes: [Decide; 3]) -> String {
    let tag = label.replace(' ', "-");
    // Claims are solved beforehand: only deciding is timed.
    let seq: Vec<Claim> = (0..SEQUENTIAL)
        .map(|i| claim("Node1", &format!("{tag} seq {i}")))
        .collect();
    let mut lat = Vec::with_capacity(SEQUENTIAL);
    for c in seq {
        let t0 = Instant::now();
        nodes[0](c).await;
        lat.push(t0.elapsed());
    }
    let (seq_med, seq_p99) = median_p99(lat);

    let races: Vec<[Claim; 3]> = (0..RACES)
        .map(|i| {
            let data = format!("{tag} race {i}");
            [
                claim("Node1", &data),
                claim("Node2", &data),
                claim("Node3", &data),
            ]
        })
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let t0 = Instant::now();
    let mut tasks = Vec::with_capacity(RACES);
    for race in races {
        let permit = permits.clone().acquire_owned().await.unwrap();
        let nodes = nodes.clone();
        tasks.push(tokio::spawn(async move {
            let start = Instant::now();
            let [a, b, c] = race;
            tokio::join!(nodes[0](a), nodes[1](b), nodes[2](c));
            drop(permit);
            start.elapsed()
        }));
    }
    let mut race_lat = Vec::with_capacity(RACES);
    for t in tasks {
        race_lat.push(t.await.unwrap());
    }
    let per_s = RACES as f64 / t0.elapsed().as_secs_f64();
    let (load_med, load_p99) = median_p99(race_lat);
    format!(
        "| {label} | {seq_med:.2} | {seq_p99:.2} | {per_s:.0} | {load_med:.2} | {load_p99:.2} |"
    )
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
#[ignore = "a benchmark: run by hand with --ignored --nocapture"]
fn bench_claim_to_decision() {
    let mut rows = vec![
        "| arbiter | claim → decision, median (ms) | p99 (ms) | races/s (3 claims each, 64 in flight) | race under load, median (ms) | p99 (ms) |".to_owned(),
        "|---|---|---|---|---|---|".to_owned(),
    ];
    let rt = runtime();

    let dir = tempfile::tempdir().unwrap();
    let (ledger, _) = Ledger::open(&dir.path().join("ledger.json")).unwrap();
    let d = file_decider(Arc::new(LockArbiter::new(ledger).unwrap()));
    rows.push(rt.block_on(measure("file ledger, one host", [d.clone(), d.clone(), d])));
    eprintln!("{}", rows.last().unwrap());

    {
        let etcd = EtcdCluster::loopback(3);
        let nodes = [0, 1, 2].map(|h| {
            let mut endpoints = etcd.endpoints();
            endpoints.rotate_left(h);
            store_decider(
                rt.block_on(Store::connect(EtcdOptions::new(endpoints)))
                    .unwrap(),
            )
        });
        rows.push(rt.block_on(measure("etcd, 3 members on loopback", nodes)));
        eprintln!("{}", rows.last().unwrap());
    }

    if root_or_skip("bench_claim_to_decision (the namespaces row)") {
        let net = Net::new(3);
        let etcd = EtcdCluster::on_hosts(&net);
        let host_rts: Vec<Runtime> = net.hosts.iter().map(|h| h.runtime()).collect();
        let nodes = [0, 1, 2].map(|h| {
            let mut endpoints = etcd.endpoints();
            endpoints.rotate_left(h);
            let rt = &host_rts[h];
            // Connected from inside the host: its decider and connections live there.
            store_decider(
                rt.block_on(rt.spawn(Store::connect(EtcdOptions::new(endpoints))))
                    .unwrap()
                    .unwrap(),
            )
        });
        rows.push(rt.block_on(measure("etcd, 3 members on 3 hosts (namespaces)", nodes)));
        for r in host_rts {
            r.shutdown_background();
        }
    }
    println!("\n{}", rows.join("\n"));
}

/// etcd's database size per entry, after compaction and defragmentation: what a ledger of a
/// million entries costs the cluster (`--quota-backend-bytes`).
#[test]
#[ignore = "a measurement: run by hand with --ignored --nocapture"]
fn bench_etcd_bytes_per_entry() {
    const ENTRIES: usize = 10_000;
    let etcd = EtcdCluster::loopback(1);
    let rt = runtime();
    let store = rt
        .block_on(Store::connect(EtcdOptions::new(etcd.endpoints())))
        .unwrap();
    let size = || {
        let out = etcd.etcdctl(0, &["endpoint", "status", "-w", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v[0]["Status"]["dbSize"].as_u64().unwrap()
    };
    let empty = size();
    let claims: Vec<Claim> = (0..ENTRIES)
        .map(|i| claim("Node1", &format!("Gova and Emmanuel Blockchain Lab {i}")))
        .collect();
    rt.block_on(async {
        let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
        let mut tasks = Vec::new();
        for c in claims {
            let permit = permits.clone().acquire_owned().await.unwrap();
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store.claim(c).await.unwrap();
                drop(permit);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let (_, now) = store.entries(0, 1).await.unwrap();
        store.compact(now).await.unwrap();
    });
    let ctl = |args: &[&str]| assert!(etcd.etcdctl(0, args).status.success());
    ctl(&["defrag"]);
    let full = size();
    println!(
        "{ENTRIES} entries: etcd db {} -> {} bytes after compaction and defrag: {:.0} bytes per entry",
        empty,
        full,
        (full - empty) as f64 / ENTRIES as f64
    );
}
