//! Publishing a new version of `ledger.json` in constant time, so that every reader always
//! sees a whole, valid file.
//!
//! A reader must never see a half-written append, and a crash must never leave a torn file,
//! so `ledger.json` is only ever replaced by `rename`. Writing a whole new file per commit would
//! cost the ledger's size, so the ledger keeps two copies in its side directory,
//! `ledger.json.d/a` and `ledger.json.d/b`: `ledger.json` is a hard link to one of them (the
//! current version), and the other is the previous version. A commit appends to the previous
//! version what it lacks (the last commit's entries, read from the current file) and the new
//! entries, syncs it, and renames a new link to it over `ledger.json`. Both copies only ever
//! grow at the end, so the cost is the size of the appended entries, whatever the ledger's size.
//!
//! A copy is appended to only if it is still, byte for byte, the version the commit before last
//! published: each commit notes both copies' identities (device, inode, size, modification and
//! change times) in `ledger.json.d/copies`, and a copy whose identity differs (edited, replaced,
//! touched) or whose last [`PREFIX_CHECK`] bytes differ from the current version is not
//! appended to: the commit writes a fresh copy of the current version instead. Any write to a
//! file changes its change time, which no user tool can set back, so the check costs a `stat`,
//! not the ledger's size.
//!
//! The previous version may still be open by a reader that began before the last commit. It is
//! only written under a Linux write lease (`F_SETLEASE`), which the kernel grants only when no
//! one else has the file open and which makes a later `open` wait until it is released: no
//! reader can see the append in progress. If the lease cannot be had soon (a slow reader holds
//! the old version), or the file system has no leases, the commit writes a fresh copy instead
//! (the ledger's size, rarely) and the reader keeps its old file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::format::{EMPTY, TAIL};

/// How long a commit waits for readers of the previous version to close it before writing a
/// fresh copy instead.
pub const LEASE_PATIENCE: Duration = Duration::from_millis(20);

/// Bytes before the body's end compared between the previous version and the current one, to
/// make sure the previous version is a prefix of the ledger before appending to it (besides
/// its identity, noted in [`NOTE`]).
const PREFIX_CHECK: u64 = 4096;

/// The side file where each commit notes both copies' identities.
const NOTE: &str = "copies";

/// What identifies one state of a copy: device, inode, size, modification and change times
/// (ns). Any write, truncation, replacement or `touch` changes it.
type CopyId = [i128; 5];

fn copy_id(meta: &fs::Metadata) -> CopyId {
    [
        i128::from(meta.dev()),
        i128::from(meta.ino()),
        i128::from(meta.len()),
        i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        i128::from(meta.ctime()) * 1_000_000_000 + i128::from(meta.ctime_nsec()),
    ]
}

/// Notes both copies' identities as they are now (after a publish). A failure only costs the
/// next commit a fresh copy.
fn write_note(paths: &Paths) {
    let line = |p: &Path| match fs::metadata(p) {
        Ok(m) => copy_id(&m).map(|x| x.to_string()).join(" "),
        Err(_) => "-".to_owned(),
    };
    let [a, b] = paths.copies();
    let text = format!("{}\n{}\n", line(&a), line(&b));
    if let Err(e) = fs::write(paths.side_file(NOTE), text) {
        tracing::debug!("noting the ledger's copies: {e}");
    }
}

/// The identity the last commit noted for copy `which` (0: `a`, 1: `b`), if any.
fn noted(paths: &Paths, which: usize) -> Option<CopyId> {
    let text = fs::read_to_string(paths.side_file(NOTE)).ok()?;
    let line = text.lines().nth(which)?;
    let fields: Vec<i128> = line
        .split(' ')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    fields.try_into().ok()
}

/// Identifies one version of a file: a commit by another process changes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
    mtime_ns: i128,
}

impl FileId {
    /// The identity of the file behind `meta`.
    pub fn of(meta: &fs::Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime_ns: i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec()),
        }
    }

    /// The identity of the file at `path`, or `None` if there is none.
    pub fn at(path: &Path) -> io::Result<Option<Self>> {
        match fs::metadata(path) {
            Ok(m) => Ok(Some(Self::of(&m))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The file's size in bytes.
    pub fn size(&self) -> u64 {
        self.len
    }
}

/// The paths of one ledger: the real file (symbolic links resolved) and its side directory.
#[derive(Clone, Debug)]
pub struct Paths {
    /// `ledger.json`, its real path.
    pub file: PathBuf,
    /// The directory holding it.
    pub dir: PathBuf,
    /// `ledger.json.d`: the two copies and the decision log.
    pub side: PathBuf,
    /// `ledger.json.lock`, beside the file: every lock on this ledger ([`super::lock`]). It
    /// is never removed, and is not in `side`, which a user may remove.
    pub lock: PathBuf,
}

impl Paths {
    /// Resolves `path` once: a symbolic link (even a dangling one) is followed to the file it
    /// names, so every process using the ledger through any path locks and renames beside the
    /// real file, and the link itself is kept.
    pub fn resolve(path: &Path) -> io::Result<Paths> {
        let mut path = path.to_owned();
        // A bounded walk through links, as the OS does (ELOOP beyond it).
        for _ in 0..40 {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.file_type().is_symlink() => {
                    let target = fs::read_link(&path)?;
                    path = match path.parent() {
                        Some(p) if target.is_relative() => p.join(target),
                        _ => target,
                    };
                }
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                Err(e) => return Err(e),
            }
        }
        let name = path
            .file_name()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a file name"))?
            .to_owned();
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        };
        let dir = fs::canonicalize(&parent)?;
        let file = dir.join(&name);
        if file.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "is a directory, not a ledger file",
            ));
        }
        let mut side = name.clone();
        side.push(".d");
        let mut lock = name;
        lock.push(".lock");
        Ok(Paths {
            side: dir.join(side),
            lock: dir.join(lock),
            file,
            dir,
        })
    }

    /// A file in the side directory.
    pub fn side_file(&self, name: &str) -> PathBuf {
        self.side.join(name)
    }

    fn copies(&self) -> [PathBuf; 2] {
        [self.side_file("a"), self.side_file("b")]
    }
}

/// What is being published: the current version's body and the bytes to write after it.
pub struct Version<'a> {
    /// The current `ledger.json`, open for reading, or `None` when there is none yet.
    pub current: Option<&'a File>,
    /// The end of the current version's body (1, after `[`, for an empty ledger).
    pub body_end: u64,
    /// The text that follows the body in the new version: separators, entries, `\n]\n`.
    pub append: &'a [u8],
}

/// How a version was published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    /// Appended to the previous version in place (the constant-time path).
    InPlace,
    /// A fresh copy was written (no previous version yet, it was held open, or no leases).
    FreshCopy,
}

static WARNED_NO_LEASES: AtomicBool = AtomicBool::new(false);

/// Makes a new version current: appends to the previous version (or writes a fresh copy),
/// syncs it, and renames a link to it over `ledger.json`, then syncs the directory. The caller
/// holds the ledger's commit lock. Returns the new version's identity.
pub fn publish(paths: &Paths, v: &Version<'_>) -> io::Result<(FileId, How)> {
    ignore_lease_breaks();
    let current_meta = match v.current {
        Some(f) => Some(f.metadata()?),
        None => None,
    };
    let copies = paths.copies();
    let linked = |p: &Path| -> bool {
        match (&current_meta, fs::metadata(p)) {
            (Some(cur), Ok(m)) => cur.dev() == m.dev() && cur.ino() == m.ino(),
            _ => false,
        }
    };
    let which = usize::from(linked(&copies[0]));
    let stale = &copies[which];
    let expected = noted(paths, which);

    let (file, how) = match append_in_place(stale, expected, v)? {
        Some(f) => (f, How::InPlace),
        None => (fresh_copy(paths, stale, v)?, How::FreshCopy),
    };
    let id = FileId::of(&file.metadata()?);
    drop(file);

    let link = paths.side_file("publish.tmp");
    match fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::hard_link(stale, &link)?;
    fs::rename(&link, &paths.file)?;
    File::open(&paths.dir)?.sync_all()?;
    write_note(paths);
    Ok((id, how))
}

/// Appends to `stale` in place if it is still what the last commit noted (`expected`), is a
/// prefix of the current version and can be leased; the synced file, or `None` to fall back
/// to a fresh copy.
fn append_in_place(
    stale: &Path,
    expected: Option<CopyId>,
    v: &Version<'_>,
) -> io::Result<Option<File>> {
    let Some(current) = v.current else {
        return Ok(None);
    };
    let file = match OpenOptions::new().read(true).write(true).open(stale) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(lease) = Lease::take(&file)? else {
        return Ok(None);
    };
    // Checked under the lease: nobody else has it open now.
    if expected != Some(copy_id(&file.metadata()?)) {
        tracing::debug!("{}: not as the last commit left it", stale.display());
        return Ok(None);
    }
    let Some(stale_body) = body_end_of(&file)? else {
        return Ok(None);
    };
    if stale_body > v.body_end || !same_bytes_before(&file, current, stale_body)? {
        return Ok(None);
    }
    // What the previous version lacks: the body between its end and the current one's.
    let mut delta = vec![0u8; (v.body_end - stale_body) as usize];
    current.read_exact_at(&mut delta, stale_body)?;
    delta.extend_from_slice(v.append);
    file.write_all_at(&delta, stale_body)?;
    file.set_len(stale_body + delta.len() as u64)?;
    file.sync_data()?;
    drop(lease);
    Ok(Some(file))
}

/// Writes the current body and the appended text to a new file and renames it over `stale`
/// (whose old file, if a reader holds it, lives on for that reader).
fn fresh_copy(paths: &Paths, stale: &Path, v: &Version<'_>) -> io::Result<File> {
    fs::create_dir_all(&paths.side)?;
    let tmp = paths.side_file("copy.tmp");
    let mut out = File::create(&tmp)?;
    let result = (|| {
        match v.current {
            Some(cur) => {
                let mut cur = cur.try_clone()?;
                cur.seek(SeekFrom::Start(0))?;
                let copied = io::copy(&mut (&mut cur).take(v.body_end), &mut out)?;
                if copied != v.body_end {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "ledger.json is shorter than its body",
                    ));
                }
            }
            None => out.write_all(b"[")?,
        }
        out.write_all(v.append)?;
        out.sync_data()?;
        fs::rename(&tmp, stale)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(out)
}

/// The body end of a ledger file written by [`publish`]: its length less the closing `\n]\n`,
/// or 1 for `[]\n`. `None` if it does not end like that.
fn body_end_of(file: &File) -> io::Result<Option<u64>> {
    let len = file.metadata()?.len();
    if len == EMPTY.len() as u64 {
        let mut b = [0u8; 3];
        file.read_exact_at(&mut b, 0)?;
        return Ok((b == EMPTY).then_some(1));
    }
    if len < (TAIL.len() + 2) as u64 {
        return Ok(None);
    }
    let mut tail = [0u8; 4];
    file.read_exact_at(&mut tail, len - 4)?;
    Ok((tail[0] == b'}' && &tail[1..] == TAIL).then_some(len - TAIL.len() as u64))
}

/// Whether the bytes just before `end` are the same in both files.
fn same_bytes_before(a: &File, b: &File, end: u64) -> io::Result<bool> {
    let start = end.saturating_sub(PREFIX_CHECK);
    let n = (end - start) as usize;
    let (mut x, mut y) = (vec![0u8; n], vec![0u8; n]);
    a.read_exact_at(&mut x, start)?;
    match b.read_exact_at(&mut y, start) {
        Ok(()) => Ok(x == y),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
        Err(e) => Err(e),
    }
}

/// A write lease on an open file, released when dropped.
struct Lease<'a>(&'a File);

impl<'a> Lease<'a> {
    /// Takes a write lease, retrying for up to [`LEASE_PATIENCE`] while someone else has the
    /// file open. `None` if they still do, or if this file system or file gives no leases.
    fn take(file: &'a File) -> io::Result<Option<Lease<'a>>> {
        let deadline = Instant::now() + LEASE_PATIENCE;
        let mut pause = Duration::from_micros(200);
        loop {
            // SAFETY: fcntl on a valid open descriptor; F_SETLEASE takes an int argument.
            let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_SETLEASE, libc::F_WRLCK) };
            if r == 0 {
                return Ok(Some(Lease(file)));
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EBUSY) if Instant::now() < deadline => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(5));
                }
                Some(libc::EAGAIN) | Some(libc::EBUSY) => return Ok(None),
                _ => {
                    if !WARNED_NO_LEASES.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            "file leases are not available here ({e}): every commit writes a \
                             fresh copy of the ledger, which costs its size"
                        );
                    }
                    return Ok(None);
                }
            }
        }
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        // SAFETY: as above.
        unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_SETLEASE, libc::F_UNLCK) };
    }
}

/// A lease holder is sent SIGIO when someone opens its file; SIGIO's default action ends the
/// process. The opener waits until the lease is released (our writes take milliseconds), so
/// the signal itself carries nothing we need.
fn ignore_lease_breaks() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: setting a signal's disposition to SIG_IGN is async-signal-safe and global.
    ONCE.call_once(|| unsafe {
        libc::signal(libc::SIGIO, libc::SIG_IGN);
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::format::append_text;

    #[test]
    fn symbolic_links_resolve_to_the_real_file() {
        let dir = tempfile::tempdir().unwrap();
        let real_dir = dir.path().join("shared");
        fs::create_dir(&real_dir).unwrap();
        let link = dir.path().join("ledger.json");
        std::os::unix::fs::symlink("shared/ledger.json", &link).unwrap();
        // Dangling: the file does not exist yet.
        let p = Paths::resolve(&link).unwrap();
        assert_eq!(
            p.file,
            fs::canonicalize(&real_dir).unwrap().join("ledger.json")
        );
        assert_eq!(p.side, p.dir.join("ledger.json.d"));
        fs::write(&p.file, "[]\n").unwrap();
        assert_eq!(Paths::resolve(&link).unwrap().file, p.file);
        assert!(Paths::resolve(dir.path()).is_err());
    }

    fn entry(i: u64) -> pow_core::chain::Entry {
        pow_core::chain::NewEntry {
            node: "Node1".into(),
            transaction_data: format!("tx {i}"),
            nonce: 0,
            hash: pow_core::puzzle::hash(format!("tx {i}").as_bytes(), 0),
            time_taken: 1e-3,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.020815".into(),
            difficulty: 0,
            ..Default::default()
        }
        .chain_onto(None)
    }

    /// Publishes `entries` one at a time and checks the file and both copies after each.
    #[test]
    fn versions_alternate_between_the_copies_and_a_held_copy_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(&dir.path().join("ledger.json")).unwrap();
        fs::create_dir_all(&paths.side).unwrap();
        let mut all = Vec::new();
        let mut body_end = 1u64;
        let mut hows = Vec::new();
        let mut held: Option<(File, Vec<u8>)> = None;
        for i in 0..6 {
            let e = entry(i);
            let current = File::open(&paths.file).ok();
            let append = append_text(all.is_empty(), std::slice::from_ref(&e));
            let (_, how) = publish(
                &paths,
                &Version {
                    current: current.as_ref(),
                    body_end,
                    append: &append,
                },
            )
            .unwrap();
            hows.push(how);
            all.push(e);
            let text = fs::read(&paths.file).unwrap();
            assert_eq!(text, crate::ledger::format::to_text(&all));
            body_end = (text.len() - TAIL.len()) as u64;
            if i == 2 {
                // A reader holds this version open while two more commits happen.
                held = Some((File::open(&paths.file).unwrap(), text));
            }
        }
        assert_eq!(hows[0], How::FreshCopy);
        assert_eq!(hows[1], How::FreshCopy);
        assert!(hows[2..].contains(&How::InPlace), "{hows:?}");
        // The held version was not written to: the commit that needed it made a fresh copy.
        let (mut f, was) = held.unwrap();
        let mut now = Vec::new();
        f.read_to_end(&mut now).unwrap();
        assert_eq!(now, was);
        assert_eq!(hows[4], How::FreshCopy, "{hows:?}");
    }
}
