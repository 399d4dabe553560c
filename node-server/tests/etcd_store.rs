//! The etcd store against a real etcd on loopback (a fresh member on free ports in a temp
//! dir per test): one winner per transaction and one chain under concurrent clients, node
//! names held by leases, the entry stream through restarts and compaction, relay.
#![cfg(feature = "etcd")]

#[path = "util/etcd.rs"]
mod etcd_util;
#[path = "util/netns.rs"]
mod netns;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use etcd_util::{all_entries, claim, claim_at, claim_with};
use netns::EtcdCluster;
use node_server::etcd::Decided as Decision;
use node_server::etcd::{Announced, EtcdError, EtcdOptions, NodeInfo, Store};
use pow_core::chain::NewEntry as Claim;
use pow_core::chain::{verify_chain, Entry};
use pow_core::Hash32;

/// How long a test waits for something the cluster promises to do eventually.
const PATIENCE: Duration = Duration::from_secs(30);

fn options(etcd: &EtcdCluster, prefix: &str) -> EtcdOptions {
    let mut o = EtcdOptions::new(etcd.endpoints());
    o.prefix = prefix.to_owned();
    o
}

async fn connect(etcd: &EtcdCluster, prefix: &str) -> Store {
    Store::connect(options(etcd, prefix))
        .await
        .unwrap_or_else(|e| panic!("connect: {e}"))
}

fn entry_of(d: &Decision) -> &Entry {
    match d {
        Decision::Won(e) | Decision::Lost(e) => e,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_clients_claiming_every_transaction_at_once_get_one_winner_each_and_one_chain() {
    const ROUNDS: usize = 4;
    const TXS: usize = 200;
    let etcd = EtcdCluster::loopback(1);
    for round in 0..ROUNDS {
        let prefix = format!("/powrace/round{round}/");
        let mut stores = Vec::new();
        for _ in 0..3 {
            stores.push(connect(&etcd, &prefix).await);
        }
        let claims: Vec<Vec<Claim>> = (0..TXS)
            .map(|i| {
                (0..3)
                    .map(|c| claim(&format!("Node{}", c + 1), &format!("round {round} tx {i}")))
                    .collect()
            })
            .collect();
        // Every claim of every client in flight at once: 3 × 200 concurrent claims.
        let mut tasks = Vec::new();
        for (i, per_tx) in claims.iter().enumerate() {
            for (c, cl) in per_tx.iter().enumerate() {
                let (store, cl) = (stores[c].clone(), cl.clone());
                tasks.push(tokio::spawn(async move { (i, c, store.claim(cl).await) }));
            }
        }
        let mut by_tx: HashMap<usize, Vec<(usize, Decision)>> = HashMap::new();
        for t in tasks {
            let (i, c, d) = t.await.unwrap();
            let d = d.unwrap_or_else(|e| panic!("round {round} tx {i} client {c}: {e}"));
            by_tx.entry(i).or_default().push((c, d));
        }
        let entries = all_entries(&stores[0]).await;
        assert_eq!(
            entries.len(),
            TXS,
            "round {round}: one entry per transaction"
        );
        verify_chain(&entries).unwrap_or_else(|e| panic!("round {round}: {e}"));
        for (i, decisions) in &by_tx {
            let won: Vec<_> = decisions
                .iter()
                .filter(|(_, d)| matches!(d, Decision::Won(_)))
                .collect();
            assert_eq!(won.len(), 1, "round {round} tx {i}: {decisions:?}");
            let (winner, Decision::Won(entry)) = won[0] else {
                unreachable!()
            };
            assert_eq!(entry.node, format!("Node{}", winner + 1));
            assert_eq!(
                &entries[entry.index as usize], entry,
                "the answer is the record"
            );
            for (_, d) in decisions {
                assert_eq!(entry_of(d), entry, "every client is told the same winner");
            }
        }
        // The chain is the one every client reads.
        for s in &stores[1..] {
            assert_eq!(all_entries(s).await, entries);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_follow_etcds_order_not_the_claims_clocks() {
    let etcd = EtcdCluster::loopback(1);
    let (a, b) = (connect(&etcd, "/p/").await, connect(&etcd, "/p/").await);
    // Node1's clock is ahead: its claim says it finished later, but it reached etcd first.
    let late_clock = claim_at("Node1", "clock skew", 59);
    let early_clock = claim_at("Node2", "clock skew", 1);
    let first = a.claim(late_clock.clone()).await.unwrap();
    let second = b.claim(early_clock).await.unwrap();
    let Decision::Won(entry) = first else {
        panic!("{first:?}")
    };
    assert_eq!(second, Decision::Lost(entry.clone()));
    assert_eq!(
        entry.end_time, late_clock.end_time,
        "times are the node's own"
    );
    // The same for the chain's order: entry 1 says it ended before entry 0 did.
    let next = b.claim(claim_at("Node2", "after", 0)).await.unwrap();
    let Decision::Won(next) = next else {
        panic!("{next:?}")
    };
    assert_eq!(next.index, 1);
    assert!(next.end_time < entry.end_time);
    verify_chain(&all_entries(&a).await).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_made_again_is_answered_from_the_record_and_a_bad_one_is_refused() {
    let etcd = EtcdCluster::loopback(1);
    let store = connect(&etcd, "/p/").await;
    let c = claim("Node1", "again");
    let Decision::Won(e) = store.claim(c.clone()).await.unwrap() else {
        panic!("the first claim wins")
    };
    // A retry after a timeout looks like this: it must not be told it lost to itself.
    assert_eq!(
        store.claim(c.clone()).await.unwrap(),
        Decision::Won(e.clone())
    );
    // The same node's other search of it (other times) lost to the recorded one.
    assert_eq!(
        store.claim(claim_at("Node1", "again", 30)).await.unwrap(),
        Decision::Lost(e.clone())
    );
    let mut bad = claim("Node2", "bad");
    bad.nonce += 1;
    assert!(matches!(
        store.claim(bad).await,
        Err(EtcdError::BadClaim(_))
    ));
    assert_eq!(all_entries(&store).await, vec![e]);
    // Two races under two prefixes are two ledgers.
    let other = connect(&etcd, "/q/").await;
    assert!(matches!(
        other.claim(c).await.unwrap(),
        Decision::Won(Entry { index: 0, .. })
    ));
    assert!(matches!(
        Store::connect(options(&etcd, "no-slashes")).await,
        Err(EtcdError::Config(_))
    ));
}

fn info(name: &str, addr: &str) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        addr: addr.into(),
        since: "2025-02-13 19:16:07.000000".into(),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn a_node_name_is_unique_while_its_holder_lives_and_frees_itself_when_it_dies() {
    let etcd = EtcdCluster::loopback(1);
    let rt = runtime();
    // The first Node2 lives in its own runtime, as if in its own process.
    let holder_rt = runtime();
    let holder = holder_rt.block_on(async {
        let s = connect(&etcd, "/p/").await;
        s.register(info("Node2", "10.0.0.2:5000")).await.unwrap()
    });
    assert!(holder.is_alive());
    let other = rt.block_on(connect(&etcd, "/p/"));
    rt.block_on(async {
        let err = other
            .register(info("Node2", "10.0.0.9:5000"))
            .await
            .unwrap_err();
        match &err {
            EtcdError::NameTaken { name, holder_addr } => {
                assert_eq!(
                    (name.as_str(), holder_addr.as_str()),
                    ("Node2", "10.0.0.2:5000")
                )
            }
            e => panic!("{e}"),
        }
        assert!(err.to_string().contains("\"Node2\" is taken"), "{err}");
        let n3 = other
            .register(info("Node3", "10.0.0.3:5000"))
            .await
            .unwrap();
        assert_eq!(
            other.nodes().await.unwrap(),
            vec![
                info("Node2", "10.0.0.2:5000"),
                info("Node3", "10.0.0.3:5000")
            ]
        );
        // Released: free at once.
        n3.release().await.unwrap();
        assert_eq!(
            other.nodes().await.unwrap(),
            vec![info("Node2", "10.0.0.2:5000")]
        );
        assert!(matches!(
            other.register(info("bad/name", "x")).await,
            Err(EtcdError::Config(_))
        ));
    });
    // The holder dies: its runtime stops (no more renewals) and nothing revokes its lease.
    holder_rt.shutdown_background();
    std::mem::forget(holder);
    rt.block_on(async {
        assert!(matches!(
            other.register(info("Node2", "10.0.0.9:5000")).await,
            Err(EtcdError::NameTaken { .. })
        ));
        // The lease expires by itself and the name is free.
        let start = Instant::now();
        let reg = loop {
            match other.register(info("Node2", "10.0.0.9:5000")).await {
                Ok(r) => break r,
                Err(EtcdError::NameTaken { .. }) => {}
                Err(e) => panic!("{e}"),
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the dead holder's name was never freed"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(
            other.nodes().await.unwrap(),
            vec![info("Node2", "10.0.0.9:5000")]
        );
        // And a live registration keeps it: renewals outlast several lease periods.
        tokio::time::sleep(Duration::from_secs(
            node_server::etcd::NODE_LEASE_TTL_SECS as u64 * 2,
        ))
        .await;
        assert!(reg.is_alive());
        assert_eq!(
            other.nodes().await.unwrap(),
            vec![info("Node2", "10.0.0.9:5000")]
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_renew_its_lease_is_told_and_registers_again_when_etcd_returns() {
    let mut etcd = EtcdCluster::loopback(1);
    let store = connect(&etcd, "/p/").await;
    let reg = store
        .register(info("Node1", "127.0.0.1:5000"))
        .await
        .unwrap();
    etcd.kill9(0);
    tokio::time::timeout(PATIENCE, reg.lost())
        .await
        .expect("the registration says it is lost once the lease cannot be renewed");
    assert!(!reg.is_alive());
    // While etcd is down, registering is a clear unavailable error.
    let err = store
        .register(info("Node1", "127.0.0.1:5000"))
        .await
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    etcd.restart(0);
    etcd.wait_healthy(&[0]);
    // etcd renews every lease when it restarts, so the old key lives one more period.
    let start = Instant::now();
    let again = loop {
        match store.register(info("Node1", "127.0.0.1:5000")).await {
            Ok(r) => break r,
            Err(e) if e.is_unavailable() || matches!(e, EtcdError::NameTaken { .. }) => {}
            Err(e) => panic!("{e}"),
        }
        assert!(start.elapsed() < PATIENCE, "could not register again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(again.is_alive());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_stream_reads_in_order_then_follows_new_entries() {
    let etcd = EtcdCluster::loopback(1);
    let (writer, reader) = (connect(&etcd, "/p/").await, connect(&etcd, "/p/").await);
    for i in 0..20 {
        writer
            .claim(claim("Node1", &format!("before {i}")))
            .await
            .unwrap();
    }
    let mut stream = reader.follow(0, Hash32::ZERO);
    let w = writer.clone();
    let more = tokio::spawn(async move {
        for i in 0..30 {
            w.claim(claim("Node2", &format!("during {i}")))
                .await
                .unwrap();
        }
    });
    let mut got = Vec::new();
    while got.len() < 50 {
        got.push(
            tokio::time::timeout(PATIENCE, stream.next())
                .await
                .expect("the next entry arrives")
                .unwrap(),
        );
    }
    more.await.unwrap();
    verify_chain(&got).unwrap();
    assert_eq!(got, all_entries(&writer).await);
    assert_eq!(stream.position(), 50);
    assert!(stream
        .next_within(Duration::from_millis(300))
        .await
        .unwrap()
        .is_none());
    // From the middle: the stream checks the link to the entry before.
    let mut mid = reader.follow(25, got[24].entry_hash);
    assert_eq!(mid.next().await.unwrap(), got[25]);
    let mut wrong = reader.follow(25, Hash32::ZERO);
    assert!(matches!(wrong.next().await, Err(EtcdError::Protocol(_))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entry_stream_resumes_by_itself_after_etcd_is_killed_and_restarted() {
    let mut etcd = EtcdCluster::loopback(1);
    let (writer, reader) = (connect(&etcd, "/p/").await, connect(&etcd, "/p/").await);
    for i in 0..10 {
        writer
            .claim(claim("Node1", &format!("a {i}")))
            .await
            .unwrap();
    }
    let mut stream = reader.follow(0, Hash32::ZERO);
    let mut got = Vec::new();
    while got.len() < 10 {
        got.push(stream.next().await.unwrap());
    }
    etcd.kill9(0);
    // Down: the stream says so within its bound, and stays where it was.
    let err = tokio::time::timeout(PATIENCE, stream.next())
        .await
        .expect("a dead etcd is an error, not a hang")
        .unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    assert_eq!(stream.position(), 10);
    let claim_err = writer
        .claim(claim("Node1", "while down"))
        .await
        .unwrap_err();
    assert!(claim_err.is_unavailable(), "{claim_err}");
    etcd.restart(0);
    etcd.wait_healthy(&[0]);
    for i in 0..10 {
        writer
            .claim(claim("Node1", &format!("b {i}")))
            .await
            .unwrap();
    }
    let start = Instant::now();
    let mut errors = 0;
    while got.len() < 20 {
        match stream.next().await {
            Ok(e) => got.push(e),
            Err(e) if e.is_unavailable() => errors += 1,
            Err(e) => panic!("{e}"),
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{errors} errors, {} entries",
            got.len()
        );
    }
    verify_chain(&got).unwrap();
    assert_eq!(got, all_entries(&writer).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_resuming_from_a_compacted_revision_reads_what_it_missed_by_index() {
    let etcd = EtcdCluster::loopback(1);
    let (writer, reader) = (connect(&etcd, "/p/").await, connect(&etcd, "/p/").await);
    for i in 0..10 {
        writer
            .claim(claim("Node1", &format!("a {i}")))
            .await
            .unwrap();
    }
    let mut stream = reader.follow(0, Hash32::ZERO);
    let mut first = Vec::new();
    while first.len() < 10 {
        first.push(stream.next().await.unwrap());
    }
    let resume_at = stream.revision() + 1;
    drop(stream);
    for i in 0..40 {
        writer
            .claim(claim("Node2", &format!("b {i}")))
            .await
            .unwrap();
    }
    let expected = all_entries(&writer).await;
    // Before compaction, resuming from the revision replays the history.
    let mut from_history = reader.follow_from(10, first[9].entry_hash, resume_at);
    for e in &expected[10..] {
        assert_eq!(&from_history.next().await.unwrap(), e);
    }
    // Compact everything up to now: that revision is gone from etcd's history.
    let (_, now) = writer.entries(0, 1).await.unwrap();
    writer.compact(now).await.unwrap();
    let mut stream = reader.follow_from(10, first[9].entry_hash, resume_at);
    let mut rest = Vec::new();
    while rest.len() < 40 {
        rest.push(
            tokio::time::timeout(PATIENCE, stream.next())
                .await
                .expect("entries arrive")
                .unwrap(),
        );
    }
    assert_eq!(rest, expected[10..]);
    // The entries themselves survive compaction: they are the ledger.
    assert_eq!(all_entries(&reader).await, expected);
    verify_chain(&expected).unwrap();
    // A revision that does not match the index (too new) also ends in the right entries.
    let mut off = reader.follow_from(5, expected[4].entry_hash, now);
    assert_eq!(off.next().await.unwrap(), expected[5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_announcement_reaches_every_node_once_and_goes_when_the_race_is_decided() {
    let etcd = EtcdCluster::loopback(1);
    let (a, b) = (connect(&etcd, "/p/").await, connect(&etcd, "/p/").await);
    let standing = a
        .announce("Node1", "standing", "2025-02-13 19:16:00.000000")
        .await
        .unwrap();
    assert_eq!(standing, Announced::First);
    let mut watcher = b.announcements();
    // A stream starting now gets what stands first.
    let first = watcher.next().await.unwrap();
    assert_eq!(
        (first.node.as_str(), first.transaction_data.as_str()),
        ("Node1", "standing")
    );
    assert_eq!(
        a.announce("Node1", "relay me", "2025-02-13 19:16:07.000001")
            .await
            .unwrap(),
        Announced::First
    );
    // Node3 got the same line later: it learns who had it first, and when (that node's clock).
    let Announced::Already(seen) = b
        .announce("Node3", "relay me", "2025-02-13 19:16:07.500000")
        .await
        .unwrap()
    else {
        panic!("the second announcement finds the first")
    };
    assert_eq!(seen.node, "Node1");
    assert_eq!(seen.received_at, "2025-02-13 19:16:07.000001");
    assert_eq!(seen.tx_id, Hash32::digest(b"relay me"));
    let next = tokio::time::timeout(PATIENCE, watcher.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next, seen);
    // Delivered once: nothing more comes for it.
    assert!(
        tokio::time::timeout(Duration::from_millis(500), watcher.next())
            .await
            .is_err()
    );
    // Decided: the claim removes the announcement, and it is not announced again.
    assert!(matches!(
        b.claim(claim("Node3", "relay me")).await.unwrap(),
        Decision::Won(_)
    ));
    assert_eq!(
        a.announce("Node2", "relay me", "2025-02-13 19:16:08.000000")
            .await
            .unwrap(),
        Announced::Decided
    );
    let out = etcd.etcdctl(0, &["get", "--prefix", "--keys-only", "/p/relay/"]);
    let keys = String::from_utf8_lossy(&out.stdout);
    assert!(
        keys.contains(&Hash32::digest(b"standing").to_string()),
        "{keys}"
    );
    assert!(
        !keys.contains(&Hash32::digest(b"relay me").to_string()),
        "{keys}"
    );
    let mut late = a.announcements();
    assert_eq!(late.next().await.unwrap().transaction_data, "standing");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), late.next())
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_fail_over_to_live_members_and_resume_by_themselves_after_a_total_outage() {
    let mut etcd = EtcdCluster::loopback(3);
    let store = connect(&etcd, "/p/").await;
    for i in 0..10 {
        store
            .claim(claim("Node1", &format!("all up {i}")))
            .await
            .unwrap();
    }
    // The first endpoint's member dies: the two others are a quorum and the client fails
    // over to them.
    etcd.kill9(0);
    for i in 0..30 {
        let d = store.claim(claim("Node1", &format!("one down {i}"))).await;
        assert!(matches!(d, Ok(Decision::Won(_))), "{i}: {d:?}");
    }
    // A second one dies: no quorum. The claim is answered, with the unavailable error (the
    // decider gives up at its deadline rather than waiting for a quorum).
    etcd.kill9(1);
    let err = store.claim(claim("Node1", "no quorum")).await.unwrap_err();
    assert!(err.is_unavailable(), "{err}");
    // Both come back: the same store decides again, without being reconnected.
    etcd.restart(0);
    etcd.restart(1);
    etcd.wait_healthy(&[0, 1, 2]);
    let start = Instant::now();
    loop {
        match store.claim(claim("Node1", "back")).await {
            Ok(d) => {
                assert!(matches!(d, Decision::Won(_)), "{d:?}");
                break;
            }
            Err(e) if e.is_unavailable() && start.elapsed() < PATIENCE => {}
            Err(e) => panic!("{e}"),
        }
    }
    let entries = all_entries(&store).await;
    verify_chain(&entries).unwrap();
    // Every claim is there, once, in the order answered. "no quorum" may have been recorded
    // late (a timed-out claim is not a refused one), but only in its place: after the claims
    // answered before it, before the one made once the cluster was back.
    let mut want: Vec<String> = (0..10).map(|i| format!("all up {i}")).collect();
    want.extend((0..30).map(|i| format!("one down {i}")));
    want.push("back".into());
    let mut got: Vec<String> = entries.iter().map(|e| e.transaction_data.clone()).collect();
    if let Some(at) = got.iter().position(|t| t == "no quorum") {
        assert_eq!(at, 40, "{got:?}");
        got.remove(at);
    }
    assert_eq!(got, want);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_compacts_etcds_history_but_never_the_entries() {
    let etcd = EtcdCluster::loopback(1);
    let mut o = options(&etcd, "/p/");
    o.compaction = Some(node_server::etcd::Compaction {
        every_entries: 10,
        keep_revisions: 5,
    });
    let store = Store::connect(o).await.unwrap();
    for i in 0..25 {
        store
            .claim(claim("Node1", &format!("c {i}")))
            .await
            .unwrap();
    }
    // Old revisions of the head are gone: reading it as of revision 2 is refused.
    let start = Instant::now();
    loop {
        let out = etcd.etcdctl(0, &["get", "/p/head", "--rev=2"]);
        let said = String::from_utf8_lossy(&out.stderr).to_string();
        if !out.status.success() && said.contains("compacted") {
            break;
        }
        assert!(start.elapsed() < PATIENCE, "never compacted: {said}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let entries = all_entries(&store).await;
    assert_eq!(entries.len(), 25);
    verify_chain(&entries).unwrap();
    let mut stream = store.follow(0, Hash32::ZERO);
    for e in &entries {
        assert_eq!(&stream.next().await.unwrap(), e);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retargeted_claim_for_a_place_another_race_took_is_refused_and_the_chain_holds() {
    const TARGET_US: u64 = 1_000_000;
    let at = |node: &str, data: &str, bits: u32| claim_with(node, data, bits, 7, Some(TARGET_US));
    // What the chain asks of its next entry, by pow-core's rules (the independent answer).
    let next_bits = |entries: &[Entry]| {
        let mut check = pow_core::chain::ChainCheck::new();
        for e in entries {
            check.link(e).unwrap();
        }
        check.next_bits(TARGET_US, 8)
    };
    let etcd = EtcdCluster::loopback(1);
    let (a, b) = (connect(&etcd, "/p/").await, connect(&etcd, "/p/").await);
    let window = pow_core::retarget::RETARGET_INTERVAL;
    for i in 0..window - 1 {
        let d = a.claim(at("Node1", &format!("r {i}"), 8)).await.unwrap();
        assert!(matches!(d, Decision::Won(_)), "{d:?}");
    }
    // Node2 mines for the window's last place, at what the chain gives it now...
    let now = next_bits(&all_entries(&a).await);
    assert_eq!(now, 8);
    let stale = at("Node2", "stale", now);
    // ...but Node1 records another race there first, and the next place is retargeted.
    let d = a.claim(at("Node1", "last of the window", 8)).await.unwrap();
    assert!(matches!(d, Decision::Won(Entry { index, .. }) if index as usize == window - 1));
    let then = next_bits(&all_entries(&a).await);
    assert_ne!(
        then, now,
        "fast races at 8 bits make the next window harder"
    );
    // B's decider has not seen the chain: it reads the rules from etcd and refuses the claim.
    match b.claim(stale).await {
        Err(EtcdError::Retarget { expected, found }) => assert_eq!((expected, found), (then, now)),
        other => panic!("{other:?}"),
    }
    assert_eq!(all_entries(&a).await.len(), window);
    // Mined again at the new difficulty, it is recorded; the chain passes pow-core's checks.
    let d = b.claim(at("Node2", "stale", then)).await.unwrap();
    assert!(matches!(d, Decision::Won(Entry { index, .. }) if index as usize == window));
    verify_chain(&all_entries(&b).await).unwrap();
}
