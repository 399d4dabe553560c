//! The etcd members a node talks to: a client per member, one member at a time.
//!
//! etcd-client balances one gRPC channel over every endpoint. After a member is cut off, that
//! channel goes on sending some requests over the dead connection until its HTTP/2 keep-alive
//! fails: up to [`KEEPALIVE_INTERVAL`] + [`KEEPALIVE_TIMEOUT`] (8 s; etcd refuses pings more
//! often than every 5 s), longer than a claim's deadline and than an answer's wait for the
//! ledger. Meanwhile the rest of the cluster goes on deciding. So, like etcd's own Go client, a
//! node pins one member and moves to the next as soon as a request through it times out or
//! finds it unavailable (no leader, connection refused or broken): the next request goes to
//! another member at once, not to the same dead connection.
//!
//! [`KEEPALIVE_INTERVAL`]: super::KEEPALIVE_INTERVAL
//! [`KEEPALIVE_TIMEOUT`]: super::KEEPALIVE_TIMEOUT

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use etcd_client::{Client, ConnectOptions};

use super::error::EtcdError;
use super::rpc::bounded;

/// Every member's client (made lazily where it could not be made at start) and the pinned one.
#[derive(Clone)]
pub(crate) struct Members {
    inner: Arc<Inner>,
}

struct Inner {
    endpoints: Vec<String>,
    options: ConnectOptions,
    /// `None` until a client could be made (with a user, making one logs in, so it needs the
    /// member to answer).
    clients: Vec<Mutex<Option<Client>>>,
    /// A client being made for the member, in the background.
    connecting: Vec<AtomicBool>,
    pinned: AtomicUsize,
}

impl Members {
    /// A client per endpoint. Without a user a client connects lazily, so every member gets
    /// one at once; with a user, the members that cannot log in now are tried again when the
    /// pin reaches them. Fails only when no member's client can be made.
    pub(crate) async fn connect(
        endpoints: &[String],
        options: ConnectOptions,
    ) -> Result<Members, EtcdError> {
        let made = futures_util::future::join_all(endpoints.iter().map(|e| {
            bounded(
                "connect",
                Client::connect([e.as_str()], Some(options.clone())),
            )
        }))
        .await;
        let mut first_error = None;
        let mut clients = Vec::with_capacity(made.len());
        for (endpoint, result) in endpoints.iter().zip(made) {
            clients.push(Mutex::new(match result {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!("etcd member {endpoint}: {e}; trying the others");
                    first_error.get_or_insert(e);
                    None
                }
            }));
        }
        let Some(pinned) = clients.iter().position(|c| lock(c).is_some()) else {
            return Err(first_error.unwrap_or(EtcdError::Config("no etcd endpoint given".into())));
        };
        Ok(Members {
            inner: Arc::new(Inner {
                connecting: endpoints.iter().map(|_| AtomicBool::new(false)).collect(),
                endpoints: endpoints.to_vec(),
                options,
                clients,
                pinned: AtomicUsize::new(pinned),
            }),
        })
    }

    /// The pinned member and its client. A member without a client yet is passed over (and
    /// its client made in the background).
    pub(crate) fn pinned(&self) -> (usize, Client) {
        let inner = &self.inner;
        let n = inner.clients.len();
        let start = inner.pinned.load(Ordering::Acquire);
        for step in 0..n {
            let i = (start + step) % n;
            if let Some(c) = lock(&inner.clients[i]).clone() {
                if step > 0 {
                    let _ = inner.pinned.compare_exchange(
                        start,
                        i,
                        Ordering::AcqRel,
                        Ordering::Acquire,
                    );
                }
                return (i, c);
            }
            self.connect_later(i);
        }
        unreachable!("a client made is never removed, and one was made at start")
    }

    /// A request through `member` timed out or found it unavailable: requests go to the next
    /// member from now on (unless another request moved the pin already).
    pub(crate) fn failed(&self, member: usize) {
        let inner = &self.inner;
        let n = inner.clients.len();
        if n > 1
            && inner
                .pinned
                .compare_exchange(
                    member,
                    (member + 1) % n,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            tracing::info!(
                "etcd member {} did not answer; asking {} from now on",
                inner.endpoints[member],
                inner.endpoints[(member + 1) % n]
            );
        }
    }

    /// Runs one request on the pinned member; if it finds the member unavailable (or it times
    /// out), the pin moves on for the next request. The error is returned as it is: whether to
    /// retry is the caller's choice.
    pub(crate) async fn on_pinned<T, F, Fut>(&self, request: F) -> Result<T, EtcdError>
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = Result<T, EtcdError>>,
    {
        let (member, client) = self.pinned();
        let result = request(client).await;
        if matches!(&result, Err(e) if e.is_unavailable()) {
            self.failed(member);
        }
        result
    }

    fn connect_later(&self, i: usize) {
        let inner = &self.inner;
        if inner.connecting[i].swap(true, Ordering::AcqRel) {
            return;
        }
        let members = self.clone();
        tokio::spawn(async move {
            let inner = &members.inner;
            let endpoint = inner.endpoints[i].as_str();
            match bounded(
                "connect",
                Client::connect([endpoint], Some(inner.options.clone())),
            )
            .await
            {
                Ok(c) => *lock(&inner.clients[i]) = Some(c),
                Err(e) => tracing::debug!("etcd member {endpoint}: {e}"),
            }
            inner.connecting[i].store(false, Ordering::Release);
        });
    }
}

fn lock(slot: &Mutex<Option<Client>>) -> std::sync::MutexGuard<'_, Option<Client>> {
    slot.lock().unwrap_or_else(|e| e.into_inner())
}
