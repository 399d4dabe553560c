//! One request to etcd: the bound every request runs within, the retrying of reads that are
//! safe to repeat, a page of entries and the check of one stored entry. A leaf the store, the
//! decider and the streams all use.

use std::future::Future;

use etcd_client::{Client, GetOptions};
use pow_core::chain::Entry;

use super::error::EtcdError;
use super::keys::{prefix_end, Keys};
use super::limits::{
    ENTRY_PAGE, READ_DEADLINE, REQUEST_TIMEOUT, RETRY_BACKOFF_MAX, RETRY_BACKOFF_MIN,
};

/// Up to `limit` entries from `index` on, each with the revision that wrote it, and the
/// revision they were read at.
pub(crate) async fn read_page(
    client: &Client,
    keys: &Keys,
    index: u64,
    limit: usize,
) -> Result<(Vec<(Entry, i64)>, i64), EtcdError> {
    let limit = limit.clamp(1, ENTRY_PAGE) as u64;
    // The range ends at the page's last key, not at the end of the entries: etcd 3.4
    // walks the whole key range of a request before applying its limit, so an open range
    // would cost a read in proportion to the ledger's length.
    let end = match index.checked_add(limit) {
        Some(end) => keys.entry(end).into_bytes(),
        None => prefix_end(&keys.entries_prefix()),
    };
    let options = GetOptions::new().with_range(end);
    let mut resp = bounded(
        "read entries",
        client.clone().get(keys.entry(index), Some(options)),
    )
    .await?;
    let revision = resp.header().map_or(0, |h| h.revision());
    let mut entries = Vec::with_capacity(resp.kvs().len());
    for (i, kv) in resp.take_kvs().into_iter().enumerate() {
        let expected = index + i as u64;
        if keys.entry_index(kv.key()) != Some(expected) {
            return Err(EtcdError::Protocol(format!(
                "entries are not contiguous: expected index {expected}, found key {}",
                String::from_utf8_lossy(kv.key())
            )));
        }
        entries.push((parse_entry(expected, kv.value())?, kv.mod_revision()));
    }
    Ok((entries, revision))
}

/// Runs a read until it succeeds, fails for a reason other than unavailability, or
/// [`READ_DEADLINE`] has passed. Only for requests that can be repeated safely.
pub(crate) async fn retrying<T, F, Fut>(mut read: F) -> Result<T, EtcdError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, EtcdError>>,
{
    let deadline = tokio::time::Instant::now() + READ_DEADLINE;
    let mut backoff = RETRY_BACKOFF_MIN;
    loop {
        match read().await {
            Err(e) if e.is_unavailable() && tokio::time::Instant::now() + backoff < deadline => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(RETRY_BACKOFF_MAX);
            }
            other => return other,
        }
    }
}

/// Runs one request to etcd within [`REQUEST_TIMEOUT`].
pub(crate) async fn bounded<T>(
    op: &'static str,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    bounded_for(op, REQUEST_TIMEOUT, fut).await
}

/// Runs one request to etcd within `after`.
pub(crate) async fn bounded_for<T>(
    op: &'static str,
    after: std::time::Duration,
    fut: impl Future<Output = Result<T, etcd_client::Error>>,
) -> Result<T, EtcdError> {
    match tokio::time::timeout(after, fut).await {
        Ok(result) => result.map_err(|e| EtcdError::from_client(op, e)),
        Err(_) => Err(EtcdError::Timeout { op, after }),
    }
}

/// An entry as stored, checked to be at `index` by itself (its own hash, proof of work,
/// `tx_id`); the links are checked by whoever reads the chain in order.
pub(crate) fn parse_entry(index: u64, bytes: &[u8]) -> Result<Entry, EtcdError> {
    let entry: Entry = serde_json::from_slice(bytes)
        .map_err(|e| EtcdError::Protocol(format!("entry {index} is not a ledger entry: {e}")))?;
    if entry.index != index {
        return Err(EtcdError::Protocol(format!(
            "the entry stored at index {index} says index {}",
            entry.index
        )));
    }
    entry
        .verify()
        .map_err(|e| EtcdError::Protocol(format!("entry {index} does not verify: {e}")))?;
    Ok(entry)
}
