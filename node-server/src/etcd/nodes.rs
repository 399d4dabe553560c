//! Node names, unique across the cluster, held by a lease.

use std::time::Duration;

use etcd_client::{Client, Compare, CompareOp, GetOptions, PutOptions, Txn, TxnOp, TxnOpResponse};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::error::EtcdError;
use super::limits::{
    MAX_NODE_ADDR_BYTES, NODE_KEEPALIVE_EVERY, NODE_LEASE_TTL_SECS, REQUEST_TIMEOUT,
    RETRY_BACKOFF_MAX,
};
use super::rpc::{bounded, retrying};
use super::store::Store;

/// A live node, as registered.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeInfo {
    /// Its name, e.g. `Node2`: unique among live nodes.
    pub name: String,
    /// Where it listens, e.g. `10.0.0.2:5000`.
    pub addr: String,
    /// When it registered, by its own clock (`YYYY-MM-DD HH:MM:SS.ffffff` UTC): shown, never
    /// compared.
    pub since: String,
}

impl NodeInfo {
    fn check(&self) -> Result<(), EtcdError> {
        crate::settings::check_node_name(&self.name).map_err(EtcdError::Config)?;
        if self.addr.len() > MAX_NODE_ADDR_BYTES || self.addr.chars().any(char::is_control) {
            return Err(EtcdError::Config(format!(
                "node address {:?}: at most {MAX_NODE_ADDR_BYTES} bytes, no control characters",
                self.addr
            )));
        }
        Ok(())
    }
}

/// A node's hold on its name. The lease is renewed every [`NODE_KEEPALIVE_EVERY`]; when it
/// cannot be renewed for [`NODE_LEASE_TTL_SECS`] (the node is cut off, etcd is down), the
/// name is lost and [`lost`](Self::lost) resolves: etcd frees it for another node. Dropping
/// the registration, or [`release`](Self::release), frees the name at once.
pub struct Registration {
    info: NodeInfo,
    lease: i64,
    client: Client,
    alive: watch::Receiver<bool>,
    renewer: JoinHandle<()>,
}

impl Store {
    /// Registers a node: its name is taken for as long as it lives. A name held by another
    /// live node is refused with [`EtcdError::NameTaken`].
    pub async fn register(&self, info: NodeInfo) -> Result<Registration, EtcdError> {
        info.check()?;
        let mut client = self.client();
        let key = self.keys().node(&info.name);
        let lease = bounded(
            "grant the node's lease",
            client.lease_grant(NODE_LEASE_TTL_SECS, None),
        )
        .await?
        .id();
        let txn = Txn::new()
            .when([Compare::version(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                serde_json::to_vec(&info).expect("node info serializes"),
                Some(PutOptions::new().with_lease(lease)),
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = match bounded("register the node", client.txn(txn)).await {
            Ok(r) => r,
            Err(e) => {
                revoke_soon(client, lease);
                return Err(e);
            }
        };
        if !resp.succeeded() {
            revoke_soon(client, lease);
            let holder = resp.op_responses().into_iter().find_map(|op| match op {
                TxnOpResponse::Get(g) => g.kvs().first().map(|kv| kv.value().to_vec()),
                _ => None,
            });
            let holder_addr = holder
                .and_then(|v| serde_json::from_slice::<NodeInfo>(&v).ok())
                .map_or_else(|| "an unknown address".to_owned(), |n| n.addr);
            return Err(EtcdError::NameTaken {
                name: info.name,
                holder_addr,
            });
        }
        let (tx, alive) = watch::channel(true);
        let renewer = tokio::spawn(renew(client.clone(), lease, tx));
        Ok(Registration {
            info,
            lease,
            client,
            alive,
            renewer,
        })
    }

    /// The live nodes, by name.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, EtcdError> {
        let resp = retrying(|| {
            let mut client = self.client();
            let prefix = self.keys().nodes_prefix();
            async move {
                bounded(
                    "list nodes",
                    client.get(prefix, Some(GetOptions::new().with_prefix())),
                )
                .await
            }
        })
        .await?;
        resp.kvs()
            .iter()
            .map(|kv| {
                serde_json::from_slice(kv.value()).map_err(|e| {
                    EtcdError::Protocol(format!(
                        "{} is not a node: {e}",
                        String::from_utf8_lossy(kv.key())
                    ))
                })
            })
            .collect()
    }
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("info", &self.info)
            .field("lease", &self.lease)
            .field("alive", &self.is_alive())
            .finish()
    }
}

impl Registration {
    /// What was registered.
    pub fn info(&self) -> &NodeInfo {
        &self.info
    }

    /// Whether the name is still held (the lease renewed within its time to live).
    pub fn is_alive(&self) -> bool {
        *self.alive.borrow()
    }

    /// Resolves when the name is lost: the lease expired or could not be renewed in time.
    pub async fn lost(&self) {
        let mut alive = self.alive.clone();
        let _ = alive.wait_for(|a| !a).await;
    }

    /// Frees the name now.
    pub async fn release(self) -> Result<(), EtcdError> {
        self.renewer.abort();
        let mut client = self.client.clone();
        bounded("revoke the node's lease", client.lease_revoke(self.lease))
            .await
            .map(drop)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.renewer.abort();
        revoke_soon(self.client.clone(), self.lease);
    }
}

/// Revokes a lease in the background, best effort: if it fails, the lease expires by itself.
fn revoke_soon(mut client: Client, lease: i64) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        rt.spawn(async move {
            let _ = bounded("revoke a lease", client.lease_revoke(lease)).await;
        });
    }
}

/// Renews the lease until it is lost; then says so.
async fn renew(mut client: Client, lease: i64, alive: watch::Sender<bool>) {
    let ttl = Duration::from_secs(NODE_LEASE_TTL_SECS as u64);
    let mut renewed = Instant::now();
    loop {
        match bounded("renew the node's lease", client.lease_keep_alive(lease)).await {
            Ok((mut keeper, mut stream)) => {
                renewed = Instant::now();
                loop {
                    tokio::time::sleep(NODE_KEEPALIVE_EVERY).await;
                    if keeper.keep_alive().await.is_err() {
                        break;
                    }
                    match tokio::time::timeout(REQUEST_TIMEOUT, stream.message()).await {
                        Ok(Ok(Some(resp))) if resp.ttl() > 0 => renewed = Instant::now(),
                        Ok(Ok(Some(_))) => {
                            let _ = alive.send(false);
                            return;
                        }
                        _ => break,
                    }
                    if renewed.elapsed() >= ttl {
                        break;
                    }
                }
            }
            // The lease is gone on the server: expired while we could not reach it.
            Err(e) if e.to_string().contains("lease not found") => {
                let _ = alive.send(false);
                return;
            }
            Err(_) => {}
        }
        if renewed.elapsed() >= ttl {
            let _ = alive.send(false);
            return;
        }
        tokio::time::sleep(NODE_KEEPALIVE_EVERY.min(RETRY_BACKOFF_MAX)).await;
    }
}
