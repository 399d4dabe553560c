//! The connection to etcd and the operations that are one request each.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use etcd_client::{Client, ConnectOptions};
use pow_core::chain::{Entry, NewEntry};
use tokio::sync::{mpsc, oneshot, Mutex};

use super::decide::{self, ClaimRequest, Compaction, Decided};
use super::error::EtcdError;
use super::keys::{Keys, DEFAULT_PREFIX};
use super::limits::{
    CLAIM_DEADLINE, CLAIM_QUEUE, CONNECT_TIMEOUT, KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT,
    REQUEST_TIMEOUT,
};
use super::members::Members;
use super::rpc::{bounded, read_page, retrying};

/// Where the cluster is and how to log in.
#[derive(Clone, Debug)]
pub struct EtcdOptions {
    /// Client URLs of the members, e.g. `http://10.0.0.1:2379`; requests fail over between
    /// them. `https://` URLs need [`tls`](Self::tls) or use the system's roots.
    pub endpoints: Vec<String>,
    /// Every key of this race starts with it (see [`Keys`]).
    pub prefix: String,
    /// etcd user and password, when the cluster has authentication on.
    pub user: Option<(String, String)>,
    /// TLS files, for `https://` endpoints.
    pub tls: Option<TlsFiles>,
    /// Whether and how the store compacts etcd's history itself.
    pub compaction: Option<Compaction>,
}

impl EtcdOptions {
    /// The defaults for these endpoints: [`DEFAULT_PREFIX`], no login, no TLS, compaction on.
    pub fn new<S: Into<String>>(endpoints: impl IntoIterator<Item = S>) -> Self {
        Self {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            prefix: DEFAULT_PREFIX.to_owned(),
            user: None,
            tls: None,
            compaction: Some(Compaction::default()),
        }
    }
}

/// PEM files for TLS to etcd.
#[derive(Clone, Debug, Default)]
pub struct TlsFiles {
    /// The CA that signed the members' certificates (etcd's `--trusted-ca-file`); without it
    /// the system's roots are not used, so give it for a private CA.
    pub ca: Option<PathBuf>,
    /// The client certificate, for members started with `--client-cert-auth`.
    pub cert: Option<PathBuf>,
    /// The client certificate's private key.
    pub key: Option<PathBuf>,
    /// The name the members' certificates are checked against, when it is not the endpoint's
    /// host.
    pub domain: Option<String>,
}

pub(crate) struct Inner {
    pub(crate) members: Members,
    pub(crate) keys: Keys,
    decider: mpsc::Sender<ClaimRequest>,
    /// The lease announcements are attached to, and when it was granted.
    pub(crate) relay_lease: Mutex<Option<(i64, tokio::time::Instant)>>,
}

/// A handle on one race in etcd; clones share one connection and one decider.
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

impl Store {
    /// Connects, logs in when a user is given, and checks that the cluster answers a
    /// linearizable read within [`REQUEST_TIMEOUT`]: a wrong password is
    /// [`EtcdError::Refused`], a cluster without quorum [`EtcdError::Unavailable`] or
    /// [`EtcdError::Timeout`]. Starts the claim decider on the current Tokio runtime.
    pub async fn connect(options: EtcdOptions) -> Result<Store, EtcdError> {
        let keys = Keys::new(&options.prefix)?;
        if options.endpoints.is_empty() {
            return Err(EtcdError::Config("no etcd endpoint given".into()));
        }
        let mut connect = ConnectOptions::new()
            .with_connect_timeout(CONNECT_TIMEOUT)
            .with_keep_alive(KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT)
            // Never ping an idle connection: etcd counts it as abuse (see KEEPALIVE_INTERVAL).
            .with_keep_alive_while_idle(false)
            // A member cut off from the others fails requests at once instead of queueing
            // them until a leader is back.
            .with_require_leader(true);
        if let Some((user, password)) = &options.user {
            connect = connect
                .with_user(user.clone(), password.clone())
                .with_auto_token_refresh(true);
        }
        if let Some(tls) = &options.tls {
            connect = connect.with_tls(tls_options(tls)?);
        }
        let members = Members::connect(&options.endpoints, connect).await?;
        let (decider, rx) = mpsc::channel(CLAIM_QUEUE);
        let store = Store {
            inner: Arc::new(Inner {
                members,
                keys,
                decider,
                relay_lease: Mutex::new(None),
            }),
        };
        // One round trip that needs a quorum, so a dead cluster is an error here and not at
        // the first claim.
        store.head().await?;
        tokio::spawn(decide::run(
            store.inner.members.clone(),
            store.inner.keys.clone(),
            options.compaction,
            rx,
        ));
        Ok(store)
    }

    /// The key schema in use.
    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    /// The pinned member's client (see [`Members`]).
    pub(crate) fn client(&self) -> Client {
        self.inner.members.pinned().1
    }

    /// The members, for requests that move the pin on when a member does not answer.
    pub(crate) fn members(&self) -> &Members {
        &self.inner.members
    }

    /// Decides a claim: a finished proof of work with its times stamped by the arbiter (an
    /// entry without its place in the chain). The first claim for a transaction, across every
    /// host, wins and gets the next index, chained onto the entry before it; a claim that is
    /// exactly the recorded entry (a retry) is `Won` again. Answers once etcd has committed the
    /// decision (a quorum has it on disk), or with [`EtcdError::Unavailable`] /
    /// [`EtcdError::Timeout`] once [`CLAIM_DEADLINE`] from the call has passed (plus at most
    /// one [`REQUEST_TIMEOUT`] for the request then under way). Claims from one process are
    /// decided in the order they are submitted.
    pub async fn claim(&self, claim: NewEntry) -> Result<Decided, EtcdError> {
        let (request, answer) = decide::request(claim)?;
        self.inner
            .decider
            .send(request)
            .await
            .map_err(|_| EtcdError::Closed)?;
        answer_of(answer).await
    }

    /// Queues a claim now, waiting for room if the queue is full, and returns the decision to
    /// come, as [`claim`](Self::claim). It blocks: call it from a plain thread (the search's
    /// own thread, from [`Arbiter::submit`](crate::race::Arbiter::submit)), never from the
    /// async runtime.
    pub fn submit(
        &self,
        claim: NewEntry,
    ) -> impl Future<Output = Result<Decided, EtcdError>> + Send + 'static {
        let queued = decide::request(claim).and_then(|(request, answer)| {
            self.inner
                .decider
                .blocking_send(request)
                .map(|()| answer)
                .map_err(|_| EtcdError::Closed)
        });
        async move { answer_of(queued?).await }
    }

    /// Agrees on the race's difficulty rule with the cluster: the chain's (its head's: every
    /// entry has the first's) and the one recorded in etcd by the first node to join, which
    /// this call records when there is none. Another rule is [`EtcdError::OtherSettings`].
    pub async fn agree_rule(&self, own: pow_core::chain::ChainRule) -> Result<(), EtcdError> {
        use etcd_client::{Compare, CompareOp, Txn, TxnOp, TxnOpResponse};
        use pow_core::chain::ChainRule;
        let other = |cluster: ChainRule| EtcdError::OtherSettings {
            prefix: self.keys().prefix().to_owned(),
            cluster,
            own,
        };
        if let Some(head) = self.head().await? {
            let chain = ChainRule::of(&head);
            if chain != own {
                return Err(other(chain));
            }
        }
        let key = self.keys().settings();
        let stored = StoredRule::from(own);
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                serde_json::to_vec(&stored).expect("settings serialize"),
                None,
            )])
            .or_else([TxnOp::get(key, None)]);
        let resp = self
            .members()
            .on_pinned(|mut client| async move {
                bounded("agree on the race's settings", client.txn(txn)).await
            })
            .await?;
        if resp.succeeded() {
            return Ok(());
        }
        for op in resp.op_responses() {
            if let TxnOpResponse::Get(get) = op {
                if let Some(kv) = get.kvs().first() {
                    let theirs: StoredRule = serde_json::from_slice(kv.value()).map_err(|e| {
                        EtcdError::Protocol(format!("the race's settings do not parse: {e}"))
                    })?;
                    let cluster = theirs.rule();
                    return if cluster == own {
                        Ok(())
                    } else {
                        Err(other(cluster))
                    };
                }
            }
        }
        Err(EtcdError::Protocol(
            "the race's settings vanished while read".into(),
        ))
    }

    /// The chain's last entry, if any, read with a quorum.
    pub async fn head(&self) -> Result<Option<Entry>, EtcdError> {
        let keys = self.keys();
        let head = retrying(|| {
            self.members()
                .on_pinned(|client| async move { decide::read_head(&client, keys).await })
        })
        .await?;
        Ok(head.entry)
    }

    /// Up to `limit` entries from `index` on, in order, and the etcd revision they were read
    /// at. Fewer than `limit` means the end of the ledger at that revision.
    pub async fn entries(&self, index: u64, limit: usize) -> Result<(Vec<Entry>, i64), EtcdError> {
        let (entries, revision) = self.entries_with_revisions(index, limit).await?;
        Ok((entries.into_iter().map(|(e, _)| e).collect(), revision))
    }

    /// As [`entries`](Self::entries), with the revision that wrote each entry.
    pub(crate) async fn entries_with_revisions(
        &self,
        index: u64,
        limit: usize,
    ) -> Result<(Vec<(Entry, i64)>, i64), EtcdError> {
        let keys = self.keys();
        retrying(|| {
            self.members()
                .on_pinned(|client| async move { read_page(&client, keys, index, limit).await })
        })
        .await
    }

    /// Compacts etcd's history up to `revision` (keeping what is at it). Returns `Ok` if it was
    /// compacted already.
    pub async fn compact(&self, revision: i64) -> Result<(), EtcdError> {
        decide::compact(&self.client(), revision).await
    }
}

/// The race's difficulty rule as stored under `{prefix}settings`.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
struct StoredRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    zero_bits: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target_time_us: Option<u64>,
}

impl From<pow_core::chain::ChainRule> for StoredRule {
    fn from(r: pow_core::chain::ChainRule) -> Self {
        use pow_core::chain::ChainRule;
        match r {
            ChainRule::Bits(b) => StoredRule {
                zero_bits: Some(b),
                target_time_us: None,
            },
            ChainRule::Retarget { target_time_us } => StoredRule {
                zero_bits: None,
                target_time_us: Some(target_time_us),
            },
        }
    }
}

impl StoredRule {
    fn rule(self) -> pow_core::chain::ChainRule {
        pow_core::chain::ChainRule::from_fields(self.target_time_us, self.zero_bits, 0)
    }
}

/// Waits for the decider's answer; a dropped answer means the decider stopped.
async fn answer_of(
    answer: oneshot::Receiver<Result<Decided, EtcdError>>,
) -> Result<Decided, EtcdError> {
    // The decider answers every claim by its deadline; this outer bound only guards against
    // a decider stuck in a bug.
    match tokio::time::timeout(CLAIM_DEADLINE + REQUEST_TIMEOUT * 2, answer).await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(EtcdError::Closed),
        Err(_) => Err(EtcdError::Timeout {
            op: "claim",
            after: CLAIM_DEADLINE,
        }),
    }
}

fn tls_options(files: &TlsFiles) -> Result<etcd_client::TlsOptions, EtcdError> {
    use etcd_client::{Certificate, Identity, TlsOptions};
    let read = |what: &str, path: &PathBuf| {
        std::fs::read(path)
            .map_err(|e| EtcdError::Config(format!("TLS {what} {}: {e}", path.display())))
    };
    let mut tls = TlsOptions::new();
    if let Some(ca) = &files.ca {
        tls = tls.ca_certificate(Certificate::from_pem(read("CA", ca)?));
    }
    match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(
                read("certificate", cert)?,
                read("key", key)?,
            ));
        }
        (None, None) => {}
        _ => {
            return Err(EtcdError::Config(
                "a TLS client certificate needs its key, and a key its certificate".into(),
            ))
        }
    }
    if let Some(domain) = &files.domain {
        tls = tls.domain_name(domain.clone());
    }
    Ok(tls)
}
