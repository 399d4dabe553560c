//! Why an etcd operation failed: unreachable (try again later), refused (the cluster said no),
//! or a protocol problem (what is stored is not what the store wrote).

use std::time::Duration;

use pow_core::chain::EntryError;

/// Why an etcd operation failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum EtcdError {
    /// No quorum could be reached: every endpoint is down or cut off, the member reached has
    /// no leader, or the connection broke. Retrying later can succeed.
    #[error("etcd is unavailable ({op}): {detail}")]
    Unavailable {
        /// What was being done.
        op: &'static str,
        /// The client's or the server's words.
        detail: String,
    },
    /// No answer within the bound.
    #[error("etcd did not answer within {after:?} ({op})")]
    Timeout {
        /// What was being done.
        op: &'static str,
        /// The bound that passed.
        after: Duration,
    },
    /// The cluster answered and said no: a wrong user or password, no permission on the key
    /// prefix, the database full (`--quota-backend-bytes`), a request too large. Retrying
    /// the same request will not help.
    #[error("etcd refused ({op}): {detail}")]
    Refused {
        /// What was being done.
        op: &'static str,
        /// The server's words.
        detail: String,
    },
    /// Another live node already holds this name.
    #[error("the node name {name:?} is taken by a live node at {holder_addr} (names are unique across the cluster; choose another or stop that node)")]
    NameTaken {
        /// The name asked for.
        name: String,
        /// The address the live holder registered.
        holder_addr: String,
    },
    /// The options are wrong: no endpoint, a bad URL, an unreadable TLS file, a bad prefix or
    /// node name.
    #[error("etcd options: {0}")]
    Config(String),
    /// The claim was mined at another difficulty than the cluster's chain (which its first
    /// entry fixes); nothing was recorded.
    #[error("mined at {claim}, but the cluster's chain is at {chain} (its first entry fixes it); nothing was recorded")]
    Difficulty {
        /// The chain's rule.
        chain: pow_core::chain::ChainRule,
        /// The claim's.
        claim: pow_core::chain::ChainRule,
    },
    /// A node joining the cluster races at another difficulty than the cluster's.
    #[error("this node races at {own}, but the cluster under prefix {prefix} races at {cluster}: start it with the cluster's settings (or join another --etcd-prefix)")]
    OtherSettings {
        /// The key prefix.
        prefix: String,
        /// The cluster's rule.
        cluster: pow_core::chain::ChainRule,
        /// This node's.
        own: pow_core::chain::ChainRule,
    },
    /// A claim that does not hold by itself (its proof of work, `tx_id` or times); nothing
    /// was sent.
    #[error("the claim does not verify: {0}")]
    BadClaim(EntryError),
    /// The claim was mined at a difficulty the chain no longer gives the next place: another
    /// race was recorded first and retargeting moved the difficulty. Nothing was recorded;
    /// the transaction can be mined again at the new difficulty.
    #[error("mined at {found} zero bits, but the ledger now asks {expected} for its next entry (another race was recorded first); nothing was recorded")]
    Retarget {
        /// The zero bits retargeting gives the next entry.
        expected: u32,
        /// The zero bits the claim was mined at.
        found: u32,
    },
    /// What etcd holds under the prefix is not what this store writes: an entry that does
    /// not parse or does not chain, a key of the wrong shape.
    #[error("etcd holds unexpected data: {0}")]
    Protocol(String),
    /// The store's decider has stopped.
    #[error("the etcd store has stopped")]
    Closed,
}

impl EtcdError {
    /// Whether waiting and retrying can help: [`Unavailable`](Self::Unavailable) or
    /// [`Timeout`](Self::Timeout).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Unavailable { .. } | Self::Timeout { .. })
    }

    /// Sorts an etcd-client error by what the caller can do about it.
    pub(crate) fn from_client(op: &'static str, e: etcd_client::Error) -> Self {
        use etcd_client::Error as E;
        match e {
            E::GRpcStatus(status) => {
                // A transport failure (TLS, connection) hides its cause in the sources.
                let mut detail = status.message().to_owned();
                if let Some(source) = std::error::Error::source(&status) {
                    let cause = error_chain(source);
                    if !detail.contains(&cause) {
                        detail = format!("{detail}: {cause}");
                    }
                }
                match classify(status.code()) {
                    Class::Unavailable => Self::Unavailable { op, detail },
                    Class::Refused => Self::Refused { op, detail },
                    Class::Protocol => Self::Protocol(format!("{op}: {detail}")),
                }
            }
            E::TransportError(e) => Self::Unavailable {
                op,
                detail: error_chain(&e),
            },
            E::IoError(e) => Self::Unavailable {
                op,
                detail: e.to_string(),
            },
            E::WatchError(detail) | E::LeaseKeepAliveError(detail) => {
                Self::Unavailable { op, detail }
            }
            E::InvalidArgs(d) | E::EndpointError(d) => Self::Config(format!("{op}: {d}")),
            E::InvalidUri(e) => Self::Config(format!("{op}: {e}")),
            other => Self::Protocol(format!("{op}: {other}")),
        }
    }
}

/// The error and its sources, so that a TLS or connection failure says why.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

enum Class {
    Unavailable,
    Refused,
    Protocol,
}

/// gRPC codes as etcd uses them: `Unavailable` for "no leader", "request timed out", "leader
/// changed" and dead connections; `InvalidArgument` for a failed login; `PermissionDenied`,
/// `ResourceExhausted` (database space exceeded) and the like for a server that answered and
/// said no.
fn classify(code: tonic::Code) -> Class {
    use tonic::Code as C;
    match code {
        C::Unavailable | C::DeadlineExceeded | C::Cancelled | C::Aborted | C::Unknown => {
            Class::Unavailable
        }
        C::InvalidArgument
        | C::Unauthenticated
        | C::PermissionDenied
        | C::FailedPrecondition
        | C::ResourceExhausted
        | C::OutOfRange
        | C::AlreadyExists
        | C::NotFound
        | C::Unimplemented => Class::Refused,
        C::Ok | C::Internal | C::DataLoss => Class::Protocol,
    }
}
