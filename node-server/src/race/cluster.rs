//! Nodes on several hosts (`serve --etcd` / `node --etcd`): connecting to etcd, registering
//! the nodes under unique names, relaying transactions between hosts, and letting the
//! cluster's pages talk to these nodes. The deciding is [`crate::race::etcd_arbiter`]'s.
//!
//! Built only with the `etcd` feature (its client needs `protoc` to build); without it,
//! asking for a cluster is a clear error.

use std::path::PathBuf;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::ledger::Ledger;
use crate::net::origins::Origins;
use crate::race::node::Node;
use crate::race::Arbiter;

/// How to reach the cluster, from the command line.
#[derive(Clone, Debug, Default)]
pub struct ClusterSettings {
    /// etcd client URLs.
    pub endpoints: Vec<String>,
    /// The key prefix of this race (several races can share one etcd).
    pub prefix: Option<String>,
    /// etcd user and password.
    pub user: Option<(String, String)>,
    /// TLS: the CA of the members' certificates.
    pub ca: Option<PathBuf>,
    /// TLS: the client certificate.
    pub cert: Option<PathBuf>,
    /// TLS: its private key.
    pub key: Option<PathBuf>,
}

impl ClusterSettings {
    /// The arbiter these settings feed a ledger from (see [`crate::ledger::owner`]).
    pub fn owner(&self) -> crate::ledger::owner::Owner {
        #[cfg(feature = "etcd")]
        let default = crate::etcd::DEFAULT_PREFIX;
        #[cfg(not(feature = "etcd"))]
        let default = "/powrace/";
        crate::ledger::owner::Owner::Etcd {
            endpoints: self.endpoints.clone(),
            prefix: self.prefix.clone().unwrap_or_else(|| default.to_owned()),
        }
    }
}

/// What a running cluster membership holds: the nodes' registrations (their names, held by
/// leases) and the relay.
pub struct Membership {
    #[cfg(feature = "etcd")]
    store: crate::etcd::Store,
    #[cfg(feature = "etcd")]
    registrations: Vec<crate::etcd::Registration>,
}

#[cfg(not(feature = "etcd"))]
/// Without the `etcd` feature there is no cluster to join.
pub async fn start(
    _settings: &ClusterSettings,
    _ledger: Arc<Ledger>,
    _nodes: &[(String, String)],
    _rule: pow_core::chain::ChainRule,
) -> anyhow::Result<(Arc<dyn Arbiter>, Membership)> {
    anyhow::bail!(
        "this node-server was built without etcd support; build it with \
         `cargo build --release -p node-server --features etcd` (which needs protoc: \
         apt-get install protobuf-compiler)"
    )
}

/// Connects to etcd, agrees on the race's difficulty `rule` with the cluster (another is
/// refused, naming both), starts the etcd arbiter on `ledger`, and registers `nodes` (name,
/// advertised `host:port`): a name taken by a live node elsewhere is refused.
#[cfg(feature = "etcd")]
pub async fn start(
    settings: &ClusterSettings,
    ledger: Arc<Ledger>,
    nodes: &[(String, String)],
    rule: pow_core::chain::ChainRule,
) -> anyhow::Result<(Arc<dyn Arbiter>, Membership)> {
    use anyhow::Context as _;

    use crate::etcd::{EtcdOptions, NodeInfo, Store, TlsFiles};

    let mut options = EtcdOptions::new(settings.endpoints.clone());
    if let Some(p) = &settings.prefix {
        options.prefix = p.clone();
    }
    options.user = settings.user.clone();
    if settings.ca.is_some() || settings.cert.is_some() || settings.key.is_some() {
        options.tls = Some(TlsFiles {
            ca: settings.ca.clone(),
            cert: settings.cert.clone(),
            key: settings.key.clone(),
            domain: None,
        });
    }
    let store = Store::connect(options)
        .await
        .with_context(|| format!("cannot reach etcd at {}", settings.endpoints.join(",")))?;
    store
        .agree_rule(rule)
        .await
        .context("refusing to join the cluster")?;
    let arbiter = crate::race::etcd_arbiter::EtcdArbiter::start(store.clone(), ledger).await?;
    let mut registrations = Vec::new();
    for (name, addr) in nodes {
        let info = NodeInfo {
            name: name.clone(),
            addr: addr.clone(),
            since: crate::clock::Stamp::now().text(),
        };
        registrations.push(
            register(&store, info)
                .await
                .with_context(|| format!("cannot register {name} in the cluster"))?,
        );
    }
    Ok((
        Arc::new(arbiter),
        Membership {
            store,
            registrations,
        },
    ))
}

/// Registers a node. A name held at this node's own address is the node's previous run's (two
/// live nodes cannot listen at one address), killed before it could free it: the node waits
/// for etcd to free it (one lease period at most), where a name held elsewhere is refused.
#[cfg(feature = "etcd")]
async fn register(
    store: &crate::etcd::Store,
    info: crate::etcd::NodeInfo,
) -> Result<crate::etcd::Registration, crate::etcd::EtcdError> {
    use crate::etcd::{EtcdError, NODE_LEASE_TTL_SECS};
    use std::time::Duration;
    let wait = Duration::from_secs(NODE_LEASE_TTL_SECS as u64 + 2);
    let until = tokio::time::Instant::now() + wait;
    let mut told = false;
    loop {
        match store.register(info.clone()).await {
            Err(EtcdError::NameTaken { holder_addr, .. })
                if holder_addr == info.addr && tokio::time::Instant::now() < until =>
            {
                if !told {
                    tracing::warn!(
                        "{} is still registered at {}, this node's own address: its previous \
                         run stopped without leaving (killed, crashed); waiting up to {} s for \
                         etcd to free the name",
                        info.name,
                        info.addr,
                        wait.as_secs()
                    );
                    told = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
}

impl Membership {
    /// Runs until `shutdown`: races every transaction announced by another node of the
    /// cluster on this process's `nodes`, keeps the nodes registered, and lets the cluster's
    /// pages use these nodes.
    pub async fn run(
        self,
        nodes: Vec<Arc<Node>>,
        origins: Arc<Origins>,
        shutdown: CancellationToken,
    ) {
        #[cfg(feature = "etcd")]
        {
            let Membership {
                store,
                registrations,
            } = self;
            let relay = {
                let (store, nodes) = (store.clone(), nodes.clone());
                async move {
                    let mut announcements = store.announcements();
                    loop {
                        match announcements.next().await {
                            Ok(a) => {
                                for node in nodes.iter().filter(|n| n.name() != a.node) {
                                    let (node, a) = (node.clone(), a.clone());
                                    tokio::spawn(async move {
                                        let _ = node
                                            .relay(&a.transaction_data, &a.node, &a.received_at)
                                            .await;
                                    });
                                }
                            }
                            Err(e) => {
                                tracing::warn!("relay from the cluster: {e}; retrying");
                                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                            }
                        }
                    }
                }
            };
            let pages = {
                let store = store.clone();
                async move {
                    loop {
                        if let Ok(list) = store.nodes().await {
                            for n in list {
                                if let Ok(o) = format!("http://{}", n.addr).parse() {
                                    origins.add(o);
                                }
                            }
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
                    }
                }
            };
            // Each node keeps its name: a registration lost while etcd was unreachable is
            // taken again when etcd answers (dropping one revokes its lease).
            let names = futures_util::future::join_all(registrations.into_iter().map(|mut r| {
                let store = store.clone();
                async move {
                    loop {
                        r.lost().await;
                        let info = r.info().clone();
                        tracing::warn!(
                            "{} lost its place in the cluster (etcd unreachable for longer than \
                             its lease); registering again",
                            info.name
                        );
                        // etcd, restarted, renews every lease it had: the old one would hold
                        // the name one more period. It is ours; free it (best effort).
                        let _ = r.release().await;
                        r = loop {
                            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                            match register(&store, info.clone()).await {
                                Ok(again) => break again,
                                Err(e) => tracing::warn!("registering {} again: {e}", info.name),
                            }
                        };
                    }
                }
            }));
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = relay => {}
                _ = pages => {}
                _ = names => {}
            }
        }
        #[cfg(not(feature = "etcd"))]
        {
            let _ = (self, nodes, origins);
            shutdown.cancelled().await;
        }
    }
}
