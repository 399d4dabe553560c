//! The text of `ledger.json`: a JSON array of entries, pretty-printed like the lab's file, and
//! a streaming reader that gives each entry with its byte range and rejects what is not a
//! ledger (a duplicate key included).
//!
//! The layout is what makes appending cheap: `[\n`, the entries separated by `,\n`, each
//! indented by two spaces, then `\n]\n` (an empty ledger is `[]\n`). Appending writes over the
//! closing bracket; every byte before the end of the last entry (the *body*) never changes.

use std::io::{self, Read};

use pow_core::chain::Entry;

/// The bytes after the body of a ledger with entries.
pub const TAIL: &[u8] = b"\n]\n";
/// The whole text of an empty ledger.
pub const EMPTY: &[u8] = b"[]\n";

/// The largest text one entry may have (a transaction of 64 KiB escaped six times over, and
/// its fields). A longer element is not a ledger entry; this bounds the reader's buffer.
pub const MAX_ENTRY_TEXT: usize = 512 * 1024;

/// How much the reader asks of the file at a time.
const READ_CHUNK: usize = 1 << 20;

/// One entry as the ledger writes it: pretty JSON, every line after the first indented by two
/// spaces (the first line's indent belongs to the separator before it).
pub fn entry_text(entry: &Entry) -> Vec<u8> {
    // Plain decimals (no exponent) for `time_taken`, like the rest of the node's JSON.
    let pretty = crate::json::to_vec_pretty(entry).expect("an entry serializes");
    let mut out = Vec::with_capacity(pretty.len() + 64);
    for &b in &pretty {
        out.push(b);
        if b == b'\n' {
            out.extend_from_slice(b"  ");
        }
    }
    out
}

/// The bytes that append `entries` to a ledger whose body ends at a `[` (`empty`) or after an
/// entry: the separators, the entries and the closing bracket. They are written at the body's
/// end.
pub fn append_text(empty: bool, entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 700 + 4);
    for (i, e) in entries.iter().enumerate() {
        out.extend_from_slice(if i == 0 && empty { b"\n  " } else { b",\n  " });
        out.extend_from_slice(&entry_text(e));
    }
    out.extend_from_slice(if entries.is_empty() && empty {
        b"]\n"
    } else {
        TAIL
    });
    out
}

/// The whole text of a ledger holding `entries`.
pub fn to_text(entries: &[Entry]) -> Vec<u8> {
    let mut out = b"[".to_vec();
    out.extend_from_slice(&append_text(true, entries));
    out
}

/// A JSON array built from the raw text of consecutive entries (from the first entry's `{` to
/// the last one's `}`, separators included as they are in the file), laid out like the ledger.
pub fn array_of(raw: &[u8]) -> Vec<u8> {
    if raw.is_empty() {
        return EMPTY.to_vec();
    }
    let mut out = Vec::with_capacity(raw.len() + 8);
    out.extend_from_slice(b"[\n  ");
    out.extend_from_slice(raw);
    out.extend_from_slice(TAIL);
    out
}

/// An entry read from the text, with where it lies.
#[derive(Clone, Debug, PartialEq)]
pub struct Located {
    /// The entry.
    pub entry: Entry,
    /// Offset of its `{`.
    pub start: u64,
    /// Offset just after its `}`.
    pub end: u64,
}

/// Why the text is not a ledger, and where.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// Reading failed.
    #[error("read failed")]
    Io(#[from] io::Error),
    /// The text is not a JSON array of entries; `detail` says where and why, with how many
    /// entries before it parse.
    #[error("{detail}")]
    Malformed {
        /// The explanation.
        detail: String,
        /// Entries that parsed before the problem.
        parsed: u64,
        /// The end of the last entry that parsed (the body end a repair would keep).
        body_end: u64,
    },
}

/// Reads a ledger's text entry by entry in bounded memory.
pub struct Reader<R> {
    src: R,
    buf: Vec<u8>,
    /// Offset in the text of `buf[0]`.
    base: u64,
    /// Parse position within `buf`.
    pos: usize,
    eof: bool,
    state: ReadState,
    count: u64,
    body_end: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Start,
    First,
    Next,
    Done,
}

impl<R: Read> Reader<R> {
    /// A reader over the text of a ledger.
    pub fn new(src: R) -> Self {
        Self::resume(src, 0, 0)
    }

    /// A reader over the text that follows the body of a ledger with `count` entries, whose body
    /// ends at `offset` (after its `[` when `count` is 0): it yields the entries appended since.
    /// An `offset` of 0 means the start of the file.
    pub fn resume(src: R, offset: u64, count: u64) -> Self {
        Reader {
            src,
            buf: Vec::new(),
            base: offset,
            pos: 0,
            eof: false,
            state: if offset == 0 {
                ReadState::Start
            } else if count == 0 {
                ReadState::First
            } else {
                ReadState::Next
            },
            count,
            body_end: offset,
        }
    }

    /// Entries read so far (including those the reader resumed after).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The end of the body read so far: after the last entry's `}` (after `[` if none).
    pub fn body_end(&self) -> u64 {
        self.body_end
    }

    fn fail<T>(&self, detail: String) -> Result<T, FormatError> {
        let good = match self.count {
            0 => "no entry before it parses".to_owned(),
            n => format!("entries 0 to {} parse", n - 1),
        };
        Err(FormatError::Malformed {
            detail: format!("{detail} ({good})"),
            parsed: self.count,
            body_end: self.body_end,
        })
    }

    /// Makes sure `buf[pos..]` holds at least `want` bytes unless the text ends first; false
    /// at the end of the text.
    fn fill(&mut self, want: usize) -> Result<bool, FormatError> {
        while self.buf.len() - self.pos < want && !self.eof {
            if self.pos > 0 && self.pos >= self.buf.len() / 2 {
                self.buf.drain(..self.pos);
                self.base += self.pos as u64;
                self.pos = 0;
            }
            let old = self.buf.len();
            self.buf.resize(old + READ_CHUNK, 0);
            let n = loop {
                match self.src.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf.truncate(old);
                        return Err(e.into());
                    }
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
        }
        Ok(self.buf.len() > self.pos)
    }

    /// Skips white space; the next byte, if any.
    fn peek(&mut self) -> Result<Option<u8>, FormatError> {
        loop {
            if !self.fill(1)? {
                return Ok(None);
            }
            let b = self.buf[self.pos];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                self.pos += 1;
            } else {
                return Ok(Some(b));
            }
        }
    }

    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// The next entry, or `None` after the closing `]` (and nothing but white space after it).
    pub fn next_entry(&mut self) -> Result<Option<Located>, FormatError> {
        loop {
            match self.state {
                ReadState::Done => return Ok(None),
                ReadState::Start => match self.peek()? {
                    None => {
                        // Nothing but white space: an empty ledger.
                        self.state = ReadState::Done;
                        return Ok(None);
                    }
                    Some(b'[') => {
                        self.pos += 1;
                        self.body_end = self.offset();
                        self.state = ReadState::First;
                    }
                    Some(_) => {
                        return self
                            .fail("does not start with '[' (a ledger is a JSON array)".into())
                    }
                },
                ReadState::First | ReadState::Next => {
                    let next = self.peek()?;
                    match next {
                        None => {
                            return self.fail(format!(
                                "the array ends without ']' after {} (the file is truncated)",
                                self.where_last()
                            ))
                        }
                        Some(b']') => {
                            self.pos += 1;
                            if self.peek()?.is_some() {
                                return self.fail("text after the closing ']'".into());
                            }
                            self.state = ReadState::Done;
                            return Ok(None);
                        }
                        Some(b',') if self.state == ReadState::Next => {
                            self.pos += 1;
                            if self.peek()?.is_none() {
                                return self.fail(format!(
                                    "the array ends after {} and a ',' (the file is truncated)",
                                    self.where_last()
                                ));
                            }
                        }
                        Some(_) if self.state == ReadState::Next => {
                            return self.fail(format!(
                                "expected ',' or ']' after {} (the file is truncated or corrupted)",
                                self.where_last()
                            ))
                        }
                        Some(_) => {}
                    }
                    return self.element().map(Some);
                }
            }
        }
    }

    fn where_last(&self) -> String {
        match self.count {
            0 => "'['".to_owned(),
            n => format!("entry {}", n - 1),
        }
    }

    /// Parses the element at `pos` (white space already skipped).
    fn element(&mut self) -> Result<Located, FormatError> {
        let start = self.offset();
        let mut want = 4096;
        loop {
            self.fill(want)?;
            let avail = &self.buf[self.pos..];
            let mut stream = serde_json::Deserializer::from_slice(avail).into_iter::<Entry>();
            match stream.next() {
                Some(Ok(entry)) => {
                    let used = stream.byte_offset();
                    self.pos += used;
                    self.count += 1;
                    self.body_end = self.offset();
                    self.state = ReadState::Next;
                    return Ok(Located {
                        entry,
                        start,
                        end: self.body_end,
                    });
                }
                Some(Err(e)) if e.is_eof() && !self.eof && avail.len() < MAX_ENTRY_TEXT => {
                    want = (avail.len() * 2).clamp(4096, MAX_ENTRY_TEXT);
                }
                Some(Err(e)) => {
                    let kind = if e.is_data() {
                        "is not a ledger entry"
                    } else {
                        "is not valid JSON"
                    };
                    let hint = if e.is_eof() && self.eof {
                        "; the file is truncated"
                    } else if e.is_eof() {
                        "; it is longer than any entry can be"
                    } else {
                        ""
                    };
                    return self.fail(format!("entry {} {kind}: {e}{hint}", self.count));
                }
                None => {
                    return self.fail(format!(
                        "the array ends without ']' after {} (the file is truncated)",
                        self.where_last()
                    ))
                }
            }
        }
    }
}

/// Parses a whole ledger text held in memory (tests, fuzzing, small files).
pub fn parse(bytes: &[u8]) -> Result<Vec<Entry>, String> {
    let mut reader = Reader::new(bytes);
    let mut out = Vec::new();
    loop {
        match reader.next_entry() {
            Ok(Some(l)) => out.push(l.entry),
            Ok(None) => return Ok(out),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pow_core::Hash32;

    fn entry(i: u64) -> Entry {
        Entry {
            node: "Node2".into(),
            transaction_data: format!("tab\t\"q\" {i}"),
            nonce: i,
            hash: Hash32::ZERO,
            time_taken: 0.05589103698730469,
            start_time: "2025-02-13 19:16:07.019815".into(),
            end_time: "2025-02-13 19:16:07.087422".into(),
            difficulty: 0,
            index: i,
            race: Default::default(),
            difficulty_bits: None,
            target_time_us: None,
            tx_id: Hash32::ZERO,
            prev_hash: Hash32::ZERO,
            entry_hash: Hash32::ZERO,
        }
    }

    #[test]
    fn text_round_trips_reads_like_the_lab_and_appends_in_place() {
        assert_eq!(to_text(&[]), EMPTY);
        assert_eq!(parse(b"[]").unwrap(), vec![]);
        assert_eq!(parse(b"  ").unwrap(), vec![]);
        let (a, b, c) = (entry(0), entry(1), entry(2));
        let text = to_text(&[a.clone(), b.clone()]);
        let s = std::str::from_utf8(&text).unwrap();
        assert!(s.starts_with("[\n  {\n    \"node\": \"Node2\",\n    \"transaction_data\""));
        assert!(s.ends_with("  }\n]\n"));
        assert_eq!(parse(&text).unwrap(), vec![a.clone(), b.clone()]);
        // Appending at the body's end gives exactly the text of the longer ledger.
        let mut grown = text[..text.len() - TAIL.len()].to_vec();
        grown.extend_from_slice(&append_text(false, std::slice::from_ref(&c)));
        assert_eq!(grown, to_text(&[a.clone(), b.clone(), c.clone()]));
        let mut from_empty = b"[".to_vec();
        from_empty.extend_from_slice(&append_text(true, std::slice::from_ref(&a)));
        assert_eq!(from_empty, to_text(std::slice::from_ref(&a)));
        let cut = &text[..text.len() / 2 + 40];
        let err = parse(cut).unwrap_err();
        assert!(
            err.contains("entry 1") && err.contains("entries 0 to 0 parse"),
            "{err}"
        );
    }

    #[test]
    fn the_reader_gives_byte_ranges_and_resumes_after_a_body() {
        let entries: Vec<Entry> = (0..5).map(entry).collect();
        let text = to_text(&entries);
        let mut r = Reader::new(&text[..]);
        let mut got = Vec::new();
        while let Some(l) = r.next_entry().unwrap() {
            assert_eq!(text[l.start as usize], b'{');
            assert_eq!(text[l.end as usize - 1], b'}');
            got.push(l);
        }
        assert_eq!(got.len(), 5);
        assert_eq!(r.body_end() as usize, text.len() - TAIL.len());
        // A page built from raw ranges is the ledger text of those entries.
        let raw = &text[got[1].start as usize..got[3].end as usize];
        assert_eq!(array_of(raw), to_text(&entries[1..4]));
        // Resuming after entry 2's body reads entries 3 and 4.
        let at = got[2].end;
        let mut r = Reader::resume(&text[at as usize..], at, 3);
        let rest: Vec<u64> = std::iter::from_fn(|| r.next_entry().unwrap())
            .map(|l| l.entry.index)
            .collect();
        assert_eq!(rest, [3, 4]);
    }

    #[test]
    fn a_duplicate_key_is_not_an_entry() {
        let text = to_text(&[entry(0)]);
        let s = std::str::from_utf8(&text).unwrap().replacen(
            "\"node\": \"Node2\",",
            "\"node\": \"Mallory\",\n    \"node\": \"Node2\",",
            1,
        );
        let err = parse(s.as_bytes()).unwrap_err();
        assert!(err.contains("duplicate field `node`"), "{err}");
    }

    #[test]
    fn small_reads_parse_the_same() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(out.len()).min(7);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let entries: Vec<Entry> = (0..20).map(entry).collect();
        let text = to_text(&entries);
        let mut r = Reader::new(Trickle(&text));
        let got: Vec<Entry> = std::iter::from_fn(|| r.next_entry().unwrap())
            .map(|l| l.entry)
            .collect();
        assert_eq!(got, entries);
    }
}
