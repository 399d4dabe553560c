//! The store on three hosts: a real 3-member etcd cluster, one member per network namespace,
//! a store client on each host, and a host cut off from the others while all of them claim.
//! Needs root (CI runs as root); says SKIPPED otherwise.
#![cfg(feature = "etcd")]

#[path = "util/etcd.rs"]
mod etcd_util;
#[path = "util/netns.rs"]
mod netns;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use etcd_util::{all_entries, claim};
use netns::{root_or_skip, EtcdCluster, Net};
use node_server::etcd::Decided as Decision;
use node_server::etcd::{EtcdOptions, Store, CLAIM_DEADLINE, REQUEST_TIMEOUT};
use pow_core::chain::NewEntry as Claim;
use pow_core::chain::{verify_chain, Entry};
use pow_core::Hash32;
use tokio::runtime::Runtime;

const PATIENCE: Duration = Duration::from_secs(60);

/// Runs `fut` on the host's runtime (its worker threads live in the host's namespace).
fn on<T: Send + 'static>(rt: &Runtime, fut: impl Future<Output = T> + Send + 'static) -> T {
    rt.block_on(rt.spawn(fut)).expect("the task ran")
}

/// Each host claims every transaction of `txs` (as its own node) at once; the decisions by
/// host.
fn claim_everywhere(
    rts: &[Runtime],
    stores: &[Store],
    hosts: &[usize],
    txs: &[String],
) -> Vec<Vec<(String, Decision)>> {
    let handles: Vec<_> = hosts
        .iter()
        .map(|&h| {
            let store = stores[h].clone();
            let txs = txs.to_vec();
            rts[h].spawn(async move {
                let tasks: Vec<_> = txs
                    .iter()
                    .map(|t| {
                        let (store, c) = (store.clone(), claim(&format!("Node{}", h + 1), t));
                        tokio::spawn(async move { store.claim(c).await })
                    })
                    .collect();
                let mut out = Vec::new();
                for (t, task) in txs.iter().zip(tasks) {
                    let d = task
                        .await
                        .unwrap()
                        .unwrap_or_else(|e| panic!("h{}: {t}: {e}", h + 1));
                    out.push((t.clone(), d));
                }
                out
            })
        })
        .collect();
    hosts
        .iter()
        .zip(handles)
        .map(|(&h, j)| rts[h].block_on(j).unwrap())
        .collect()
}

fn winners(decisions: &[Vec<(String, Decision)>]) -> HashMap<String, Entry> {
    let mut won: HashMap<String, Entry> = HashMap::new();
    for per_host in decisions {
        for (t, d) in per_host {
            if let Decision::Won(e) = d {
                assert!(won.insert(t.clone(), e.clone()).is_none(), "{t} won twice");
            }
        }
    }
    for per_host in decisions {
        for (t, d) in per_host {
            let (Decision::Won(e) | Decision::Lost(e)) = d;
            assert_eq!(
                Some(e),
                won.get(t),
                "{t}: every host is told the one winner"
            );
        }
    }
    won
}

#[test]
fn a_host_cut_off_decides_nothing_forks_nothing_and_converges_after_heal() {
    if !root_or_skip("a_host_cut_off_decides_nothing_forks_nothing_and_converges_after_heal") {
        return;
    }
    let net = Net::new(3);
    let etcd = EtcdCluster::on_hosts(&net);
    let rts: Vec<Runtime> = net.hosts.iter().map(|h| h.runtime()).collect();
    // Each host's client knows every member, its own first.
    let stores: Vec<Store> = (0..3)
        .map(|h| {
            let mut endpoints = etcd.endpoints();
            endpoints.rotate_left(h);
            on(&rts[h], async move {
                Store::connect(EtcdOptions::new(endpoints)).await.unwrap()
            })
        })
        .collect();

    // All three hosts race the same 40 transactions.
    let txs: Vec<String> = (0..40).map(|i| format!("together {i}")).collect();
    let won = winners(&claim_everywhere(&rts, &stores, &[0, 1, 2], &txs));
    assert_eq!(won.len(), 40);

    net.cut(3);
    // h1 and h2 keep deciding, while h3's claims (some of the same transactions, some its
    // own) all fail within the bound with the unavailable error.
    let apart: Vec<String> = (0..30).map(|i| format!("apart {i}")).collect();
    let h3_claims: Vec<Claim> = (0..4)
        .map(|i| claim("Node3", &format!("alone {i}")))
        .chain((0..4).map(|i| claim("Node3", &apart[i])))
        .collect();
    let h3 = {
        let (store, claims) = (stores[2].clone(), h3_claims.clone());
        rts[2].spawn(async move {
            let tasks: Vec<_> = claims
                .into_iter()
                .map(|c| {
                    let store = store.clone();
                    tokio::spawn(async move {
                        let t0 = Instant::now();
                        (store.claim(c).await, t0.elapsed())
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        })
    };
    let apart_won = winners(&claim_everywhere(&rts, &stores, &[0, 1], &apart));
    assert_eq!(apart_won.len(), 30);
    for (result, took) in rts[2].block_on(h3).unwrap() {
        let err = result.expect_err("a cut-off host decided a race");
        assert!(err.is_unavailable(), "{err}");
        // The promised bound: the claim deadline, plus the last request's own.
        assert!(
            took <= CLAIM_DEADLINE + REQUEST_TIMEOUT * 2,
            "{took:?}: {err}"
        );
    }

    net.heal(3);
    etcd.wait_healthy(&[2]);
    // h3 claims the same again (what a node does after an unavailable answer): each is
    // answered from the record, the same for everyone.
    let start = Instant::now();
    let again = loop {
        let (store, claims) = (stores[2].clone(), h3_claims.clone());
        let result = on(&rts[2], async move {
            let mut out = Vec::new();
            for c in claims {
                out.push(store.claim(c).await?);
            }
            Ok::<_, node_server::etcd::EtcdError>(out)
        });
        match result {
            Ok(r) => break r,
            Err(e) if e.is_unavailable() && start.elapsed() < PATIENCE => {}
            Err(e) => panic!("after the heal: {e}"),
        }
    };
    for (c, d) in h3_claims.iter().zip(&again) {
        let tx = &c.transaction_data;
        match apart_won.get(tx) {
            // Decided by h1 or h2 while h3 was away: h3 lost to that entry.
            Some(e) => assert_eq!(d, &Decision::Lost(e.clone()), "{tx}"),
            // Its own transactions: h3's claim, recorded once (now, or late from the cut).
            None => assert!(
                matches!(d, Decision::Won(e) if e.node == "Node3"),
                "{tx}: {d:?}"
            ),
        }
    }

    // Every host reads the same chain: no fork, every decision in it once.
    let chains: Vec<Vec<Entry>> = (0..3)
        .map(|h| {
            let store = stores[h].clone();
            on(&rts[h], async move { all_entries(&store).await })
        })
        .collect();
    assert_eq!(chains[0].len(), 40 + 30 + 4);
    verify_chain(&chains[0]).unwrap();
    assert_eq!(chains[1], chains[0]);
    assert_eq!(chains[2], chains[0]);
    for e in won.values().chain(apart_won.values()) {
        assert_eq!(&chains[0][e.index as usize], e);
    }
    // And a follower on each host, from the start, ends with that chain too.
    for (h, rt) in rts.iter().enumerate() {
        let (store, want) = (stores[h].clone(), chains[0].clone());
        let got = on(rt, async move {
            let mut stream = store.follow(0, Hash32::ZERO);
            let mut got = Vec::new();
            while got.len() < want.len() {
                match tokio::time::timeout(PATIENCE, stream.next()).await {
                    Ok(Ok(e)) => got.push(e),
                    Ok(Err(e)) if e.is_unavailable() => {}
                    other => panic!("{other:?}"),
                }
            }
            got
        });
        assert_eq!(got, chains[0], "h{}", h + 1);
    }
    for rt in rts {
        rt.shutdown_background();
    }
}
