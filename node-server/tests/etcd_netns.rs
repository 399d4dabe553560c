//! The multi-host test bed itself: three etcd members on three hosts (network namespaces on
//! a bridge), a member killed, a host cut off and healed. Needs root (CI runs as root); says
//! SKIPPED otherwise.
#![cfg(feature = "etcd")]

#[path = "util/netns.rs"]
mod netns;

use netns::{root_or_skip, EtcdCluster, Net};

fn text(out: &std::process::Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `etcdctl get KEY --print-value-only` through member `i`, linearizable.
fn get(etcd: &EtcdCluster, i: usize, key: &str) -> String {
    let out = etcd.etcdctl(i, &["get", key, "--print-value-only"]);
    assert!(
        out.status.success(),
        "get {key} via m{}: {}",
        i + 1,
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn put(etcd: &EtcdCluster, i: usize, key: &str, value: &str) -> std::process::Output {
    etcd.etcdctl(i, &["put", key, value])
}

#[test]
fn three_members_on_three_hosts_form_one_healthy_cluster() {
    if !root_or_skip("three_members_on_three_hosts_form_one_healthy_cluster") {
        return;
    }
    let net = Net::new(3);
    // Each host has its own address and reaches the others over the bridge.
    for h in &net.hosts {
        let out = h
            .command("ip")
            .args(["-4", "-o", "addr", "show", "eth0"])
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains(&h.ip),
            "{}",
            text(&out)
        );
    }
    let etcd = EtcdCluster::on_hosts(&net);
    let members = etcd.etcdctl(0, &["member", "list"]);
    assert!(members.status.success(), "{}", text(&members));
    let list = String::from_utf8_lossy(&members.stdout);
    for h in &net.hosts {
        assert!(list.contains(&format!("http://{}:2379", h.ip)), "{list}");
    }
    assert_eq!(list.lines().count(), 3, "{list}");
    // A write through h1's member is read through h3's.
    assert!(put(&etcd, 0, "/bed/k", "from-h1").status.success());
    assert_eq!(get(&etcd, 2, "/bed/k"), "from-h1");
}

#[test]
fn with_one_member_killed_the_other_two_still_accept_writes() {
    if !root_or_skip("with_one_member_killed_the_other_two_still_accept_writes") {
        return;
    }
    let net = Net::new(3);
    let mut etcd = EtcdCluster::on_hosts(&net);
    etcd.kill9(1);
    // If m2 led, the two others elect a leader first (an election timeout or two).
    etcd.wait_healthy(&[0, 2]);
    for i in 0..20 {
        let out = put(&etcd, 0, &format!("/bed/k{i}"), &format!("v{i}"));
        assert!(out.status.success(), "put {i} with m2 down: {}", text(&out));
    }
    assert_eq!(get(&etcd, 2, "/bed/k19"), "v19");
    // The killed member comes back on its data dir and catches up.
    etcd.restart(1);
    etcd.wait_healthy(&[1]);
    assert_eq!(get(&etcd, 1, "/bed/k19"), "v19");
}

#[test]
fn a_cut_hosts_member_cannot_write_and_rejoins_after_heal() {
    if !root_or_skip("a_cut_hosts_member_cannot_write_and_rejoins_after_heal") {
        return;
    }
    let net = Net::new(3);
    let etcd = EtcdCluster::on_hosts(&net);
    net.cut(3);
    // h1 no longer reaches h3 at all.
    let ping = net
        .host(1)
        .command("nc")
        .args(["-z", "-w", "1", &net.host(3).ip, "2379"])
        .output()
        .unwrap();
    assert!(
        !ping.status.success(),
        "h1 still reaches h3: {}",
        text(&ping)
    );
    // The cut member has no quorum: its write times out (etcdctl's --command-timeout).
    let out = put(&etcd, 2, "/bed/cut", "from-h3");
    assert!(
        !out.status.success(),
        "a cut member accepted a write: {}",
        text(&out)
    );
    // The two others go on, and do not see h3's write.
    let out = put(&etcd, 0, "/bed/majority", "from-h1");
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(get(&etcd, 1, "/bed/cut"), "");
    net.heal(3);
    etcd.wait_healthy(&[2]);
    // h3's member has caught up with what the others wrote while it was away.
    assert_eq!(get(&etcd, 2, "/bed/majority"), "from-h1");
    // A write that timed out is not a write that failed: its proposal, held in a TCP buffer
    // during the cut, may still commit after the heal. Whatever happened, every member
    // agrees. (The store's claims compare the chain's head, so a late one cannot fork it.)
    let late = get(&etcd, 0, "/bed/cut");
    assert!(late.is_empty() || late == "from-h3", "{late:?}");
    assert_eq!(get(&etcd, 2, "/bed/cut"), late);
}
