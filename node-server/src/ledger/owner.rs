//! Which arbiter owns a ledger file while processes use it: `ledger.json.d/owner`.
//!
//! A ledger file is fed by one arbiter at a time: the file arbiter of the processes on this
//! host, or one race in etcd (its endpoints and key prefix). Two arbiters on one file would
//! each append their own chain to it (an etcd node and a plain node, or two etcd races under
//! different prefixes started from one directory): the file would hold one of them, and the
//! other's clients would be told of entries it does not hold.
//!
//! Every node process claims the file at start ([`claim`]) and holds a shared OS lock on
//! `ledger.json.d/owner.lock` while it runs. The first process (nobody holds the lock) writes
//! its arbiter to `ledger.json.d/owner`; a later one is admitted only if its arbiter is the
//! one recorded there, else refused with both named. When every process has stopped (or was
//! killed: the OS drops the locks) the file is free again, and the next process may own it
//! with another arbiter. The claim itself is serialized by `ledger.json.d/owner.guard`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Paths;

/// The largest owner record read (a few endpoints and a prefix).
const MAX_OWNER_BYTES: u64 = 64 * 1024;

/// The arbiter that feeds a ledger file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "arbiter", rename_all = "snake_case")]
pub enum Owner {
    /// The file arbiter: node processes on this host deciding through `ledger.json.d/claims`.
    File,
    /// A race in etcd.
    Etcd {
        /// The etcd client URLs the process was given.
        endpoints: Vec<String>,
        /// The race's key prefix.
        prefix: String,
    },
}

impl Owner {
    /// Whether a process with arbiter `other` may share the file with this one: the same
    /// arbiter (for etcd: the same prefix, and a member URL in common).
    pub fn admits(&self, other: &Owner) -> bool {
        match (self, other) {
            (Owner::File, Owner::File) => true,
            (
                Owner::Etcd { endpoints, prefix },
                Owner::Etcd {
                    endpoints: e2,
                    prefix: p2,
                },
            ) => prefix == p2 && endpoints.iter().any(|e| e2.contains(e)),
            _ => false,
        }
    }
}

impl std::fmt::Display for Owner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::File => f.write_str("the file arbiter (node processes on this host, no --etcd)"),
            Owner::Etcd { endpoints, prefix } => write!(
                f,
                "the etcd race at {} with key prefix {prefix}",
                endpoints.join(",")
            ),
        }
    }
}

/// Why a process may not use a ledger file.
#[derive(Debug, thiserror::Error)]
pub enum OwnerError {
    /// Another arbiter feeds the file now.
    #[error(
        "{path} is in use by {held}; this process would feed it from {wanted}: two arbiters \
         on one ledger would each append their own chain to it. Give this process another \
         --ledger (or stop the others first)",
        path = file.display()
    )]
    Taken {
        /// The ledger file.
        file: std::path::PathBuf,
        /// The arbiter of the processes using it.
        held: Owner,
        /// This process's arbiter.
        wanted: Owner,
    },
    /// The owner files could not be read or written.
    #[error("{}: {error}", path.display())]
    Io {
        /// Which file.
        path: std::path::PathBuf,
        /// The OS error.
        error: io::Error,
    },
}

/// Held while this process uses the ledger: its share of `owner.lock`.
#[derive(Debug)]
pub struct OwnerGuard {
    _shared: File,
}

/// Claims the ledger at `paths` for `owner` (see the module documentation): admitted if no
/// process uses the file or those that do have the same arbiter. Hold the guard while the
/// process runs.
pub fn claim(paths: &Paths, owner: &Owner) -> Result<OwnerGuard, OwnerError> {
    let side = &paths.side;
    let io = |path: &Path| {
        let path = path.to_owned();
        move |error| OwnerError::Io { path, error }
    };
    fs::create_dir_all(side).map_err(io(side))?;
    let open = |name: &str| -> Result<File, OwnerError> {
        let path = paths.side_file(name);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io(&path))
    };
    let guard = open("owner.guard")?;
    let guard_path = paths.side_file("owner.guard");
    guard.lock().map_err(io(&guard_path))?;
    let lock_path = paths.side_file("owner.lock");
    let record_path = paths.side_file("owner");
    let shared = open("owner.lock")?;
    let free = match shared.try_lock() {
        Ok(()) => true,
        Err(fs::TryLockError::WouldBlock) => false,
        Err(fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
    };
    if free {
        // Nobody uses the file: it is ours, with our arbiter.
        let mut text = serde_json::to_vec(owner).expect("an owner serializes");
        text.push(b'\n');
        let tmp = paths.side_file("owner.tmp");
        fs::write(&tmp, &text).map_err(io(&tmp))?;
        fs::rename(&tmp, &record_path).map_err(io(&record_path))?;
    } else {
        let held = read(&record_path)?;
        match held {
            Some(held) if held.admits(owner) => {}
            Some(held) => {
                return Err(OwnerError::Taken {
                    file: paths.file.clone(),
                    held,
                    wanted: owner.clone(),
                })
            }
            None => {
                return Err(OwnerError::Io {
                    path: record_path,
                    error: io::Error::other(
                        "the ledger is in use but its owner record is missing or unreadable",
                    ),
                })
            }
        }
    }
    // Shared from now on (the guard keeps others out of this step).
    shared.lock_shared().map_err(io(&lock_path))?;
    guard.unlock().map_err(io(&guard_path))?;
    Ok(OwnerGuard { _shared: shared })
}

/// The recorded owner, if the record is there and readable.
fn read(path: &Path) -> Result<Option<Owner>, OwnerError> {
    let text = match File::open(path) {
        Ok(f) => {
            let mut buf = Vec::new();
            io::Read::read_to_end(&mut io::Read::take(f, MAX_OWNER_BYTES), &mut buf).map_err(
                |error| OwnerError::Io {
                    path: path.to_owned(),
                    error,
                },
            )?;
            buf
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(OwnerError::Io {
                path: path.to_owned(),
                error,
            })
        }
    };
    Ok(serde_json::from_slice(&text).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn etcd(endpoints: &[&str], prefix: &str) -> Owner {
        Owner::Etcd {
            endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn one_arbiter_at_a_time_and_free_again_when_released() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(&dir.path().join("ledger.json")).unwrap();
        let a = etcd(&["http://127.0.0.1:2379"], "/powrace/");
        let held = claim(&paths, &a).unwrap();
        // The same race (another member URL list with one in common) is admitted.
        let same = claim(
            &paths,
            &etcd(
                &["http://127.0.0.1:2479", "http://127.0.0.1:2379"],
                "/powrace/",
            ),
        )
        .unwrap();
        for other in [Owner::File, etcd(&["http://127.0.0.1:2379"], "/other/")] {
            let err = claim(&paths, &other).unwrap_err().to_string();
            assert!(
                err.contains("prefix /powrace/") && err.contains(&other.to_string()),
                "{err}"
            );
        }
        drop((held, same));
        // Nobody uses it: another arbiter may own it now.
        let _file = claim(&paths, &Owner::File).unwrap();
        let err = claim(&paths, &a).unwrap_err().to_string();
        assert!(err.contains("the file arbiter"), "{err}");
    }
}
