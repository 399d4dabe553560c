//! OS locks shared by every process that uses one ledger.
//!
//! Both of a ledger's locks live in one file beside it, `ledger.json.lock` ([`Paths::lock`]),
//! one byte each ([`Slot`]): open-file-description locks (`F_OFD_SETLK`), which conflict
//! between any two opens of the file, in one process or several, and are released when the
//! holder closes it or dies. The file is never removed by this program, and it is not in
//! `ledger.json.d/`: removing that directory (or anything in it) while the nodes run cannot
//! split a lock into two files locked by two processes at once. Should the lock file itself
//! be removed, acquiring checks after locking that the path still names the file that was
//! locked (else the lock is taken again on the new file).
//!
//! [`Paths::lock`]: super::Paths::lock

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Which of a ledger's locks: the byte of the lock file it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Appending to `ledger.json` (held through a commit and its sync).
    Commit = 0,
    /// Deciding races in the decision log (held for microseconds).
    Decide = 1,
}

/// An exclusive lock on one slot of a lock file; released when dropped.
#[derive(Debug)]
pub struct FileLock {
    file: File,
    path: PathBuf,
    slot: Slot,
}

/// One `F_OFD_SETLK(W)` call on `slot`'s byte: `Ok(false)` if it is held elsewhere
/// (non-blocking only).
fn ofd_lock(file: &File, slot: Slot, kind: libc::c_short, block: bool) -> io::Result<bool> {
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value (l_pid must be 0 for
    // OFD locks).
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = slot as libc::off_t;
    fl.l_len = 1;
    let cmd = if block {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: fcntl on a valid open descriptor with a pointer to a live `flock`.
        if unsafe { libc::fcntl(file.as_raw_fd(), cmd, &fl) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) if !block => return Ok(false),
            _ => return Err(e),
        }
    }
}

impl FileLock {
    /// Takes `slot` of the lock file `path` (created if missing) exclusively. `Ok(None)`
    /// when a polling wait ran out.
    pub fn acquire(path: &Path, slot: Slot, wait: Wait) -> io::Result<Option<FileLock>> {
        let mut spun_until = None;
        let mut sleep = Duration::from_micros(20);
        let exclusive = libc::F_WRLCK as libc::c_short;
        loop {
            let file = OpenOptions::new()
                .create(true)
                .truncate(false)
                .read(true)
                .write(true)
                .open(path)?;
            let locked = match wait {
                Wait::Forever => ofd_lock(&file, slot, exclusive, true)?,
                Wait::Until(deadline) => loop {
                    if ofd_lock(&file, slot, exclusive, false)? {
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
            // Still the file the path names? (Someone may have removed it.)
            let held = file.metadata()?;
            match fs::metadata(path) {
                Ok(now) if now.dev() == held.dev() && now.ino() == held.ino() => {
                    return Ok(Some(FileLock {
                        file,
                        path: path.to_owned(),
                        slot,
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
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // Closing the file releases it too; unlocking first says so explicitly.
        let _ = ofd_lock(&self.file, self.slot, libc::F_UNLCK as libc::c_short, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_independent_and_a_polling_wait_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = FileLock::acquire(&path, Slot::Commit, Wait::Forever)
            .unwrap()
            .unwrap();
        let t0 = Instant::now();
        let again = FileLock::acquire(
            &path,
            Slot::Commit,
            Wait::Until(t0 + Duration::from_millis(30)),
        )
        .unwrap();
        assert!(again.is_none(), "one holder per slot, even in one process");
        let other = FileLock::acquire(&path, Slot::Decide, Wait::Until(Instant::now())).unwrap();
        assert!(other.is_some(), "the other slot is free");
        drop(held);
        assert!(
            FileLock::acquire(&path, Slot::Commit, Wait::Until(Instant::now()))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_waiter_on_a_removed_lock_file_relocks_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let a = FileLock::acquire(&path, Slot::Commit, Wait::Forever)
            .unwrap()
            .unwrap();
        let p = path.clone();
        let waiter =
            std::thread::spawn(move || FileLock::acquire(&p, Slot::Commit, Wait::Forever).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        fs::remove_file(&path).unwrap();
        drop(a);
        let b = waiter.join().unwrap().unwrap();
        let on_disk = fs::metadata(&path).unwrap();
        let held = b.file.metadata().unwrap();
        assert_eq!((on_disk.dev(), on_disk.ino()), (held.dev(), held.ino()));
    }
}
