//! OS locks on small sibling files, shared by every process that uses one ledger.
//!
//! A lock file is never the file that gets renamed, and it may be removed when nobody holds
//! it, so acquiring checks after locking that the path still names the file that was locked
//! (else someone removed it in between, and the lock is taken again on the new file).

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fs4::fs_std::FileExt;

/// How a lock is waited for.
#[derive(Clone, Copy, Debug)]
pub enum Wait {
    /// Block the calling thread until the lock is free.
    Forever,
    /// Poll until this instant: spin briefly, then sleep in growing steps up to
    /// [`MAX_POLL_SLEEP`]. For locks held for microseconds, where the waiter must not block
    /// forever behind a stopped process.
    Until(Instant),
}

/// The longest sleep between two attempts of a polling wait.
pub const MAX_POLL_SLEEP: Duration = Duration::from_millis(1);

/// How long a polling wait spins (yielding) before it starts sleeping.
const SPIN: Duration = Duration::from_micros(100);

/// An exclusive lock on a lock file; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
}

impl FileLock {
    /// Takes the exclusive lock on `path` (created if missing). `Ok(None)` when a polling
    /// wait ran out.
    pub fn acquire(path: &Path, wait: Wait) -> io::Result<Option<FileLock>> {
        let mut spun_until = None;
        let mut sleep = Duration::from_micros(20);
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(path)?;
            let locked = match wait {
                Wait::Forever => {
                    file.lock_exclusive()?;
                    true
                }
                Wait::Until(deadline) => loop {
                    if file.try_lock_exclusive()? {
                        break true;
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        break false;
                    }
                    let spin_end = *spun_until.get_or_insert(now + SPIN);
                    if now < spin_end {
                        std::thread::yield_now();
                    } else {
                        std::thread::sleep(sleep.min(deadline - now));
                        sleep = (sleep * 2).min(MAX_POLL_SLEEP);
                    }
                },
            };
            if !locked {
                return Ok(None);
            }
            // Still the file the path names? (It may have been removed and recreated.)
            let held = file.metadata()?;
            match fs::metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(Some(FileLock {
                        file,
                        path: path.to_owned(),
                    }))
                }
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Removes the lock file if nobody holds or waits on it right now: taken without waiting,
    /// removed, released. Waiters that opened it before see the removal and lock the new one.
    pub fn remove_if_free(path: &Path) {
        if let Ok(Some(lock)) = Self::acquire(path, Wait::Until(Instant::now())) {
            let _ = fs::remove_file(&lock.path);
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_polling_wait_gives_up_and_a_removed_lock_is_retaken() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = FileLock::acquire(&path, Wait::Forever).unwrap().unwrap();
        let t0 = Instant::now();
        let again = FileLock::acquire(&path, Wait::Until(t0 + Duration::from_millis(30))).unwrap();
        assert!(again.is_none());
        // Removing a held lock file does nothing.
        FileLock::remove_if_free(&path);
        assert!(path.exists());
        drop(held);
        FileLock::remove_if_free(&path);
        assert!(!path.exists());
        // A waiter that opened the old file relocks the new one.
        let a = FileLock::acquire(&path, Wait::Forever).unwrap().unwrap();
        let p = path.clone();
        let waiter = std::thread::spawn(move || FileLock::acquire(&p, Wait::Forever).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        fs::remove_file(&path).unwrap();
        drop(a);
        let b = waiter.join().unwrap().unwrap();
        let on_disk = fs::metadata(&path).unwrap();
        let held = b.file.metadata().unwrap();
        assert_eq!((on_disk.dev(), on_disk.ino()), (held.dev(), held.ino()));
    }
}
