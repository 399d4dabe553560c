// The chain check, off the page's thread: pow-core (WebAssembly) verifies a node's ledger page by
// page from entry 0 (GET /ledger?from=&limit=), or a ledger.json file read in slices, and posts
// back compact batches (a status code per entry, a reason per bad entry), so the page never
// holds the entries themselves. One job per worker; the page terminates the worker to cancel.
//
// A node's ledger: the pages' entries are checked on their own (parse, proof of work, tx_id,
// times, entry_hash) by helper workers, one per core, each fetching its pages itself; this
// worker places them in order (index, link, repeated transaction), so the check stays complete
// and as fast as the cores allow. Without helpers (one core, or no Worker in a Worker) it does
// everything itself, page after page.
//
// In:  {type: 'server', bases: ['http://host:port', …], total}  walk that node's ledger from 0
//      {type: 'more', total}   the ledger has at least `total` entries now: check up to there
//      {type: 'file', file}    check a File (or Blob) as a stream
//      {type: 'own', id, bases, from}   (to a helper) fetch one page, check its entries on their own
// Out: {type: 'batch', from, count, statuses, reasons, nextIndex, head, firstBad, total, …}
//      {type: 'idle' | 'stalled' | 'end', …}; a helper answers {type: 'own', id, …}
import init, { LedgerVerifier, ownPage } from './pkg/powrace_web.js';

const ready = init();
/** Entries per request: the largest `limit` a node serves. */
const PAGE = 10_000;
/** Bytes read from a file at a time. */
const FILE_SLICE = 4 << 20;
/** About how many bytes an entry takes in node-server's layout, to size the verifier's memory
 * for a file before its length in entries is known. */
const BYTES_PER_ENTRY = 600;
/** How long to wait before asking a node again after a failure, or for entries it announced. */
const RETRY_MS = 1000;
/** Helper workers at most (each holds a page or two: ~10 MB). */
const MAX_HELPERS = 4;
/** Pages in flight per helper: one being checked, one being fetched. */
const PAGES_PER_HELPER = 2;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let wanted = 0; // entries the page knows exist
let wake = null; // resolves an idle wait

self.onmessage = ({ data: m }) => {
  if (m.type === 'server') walk(m.bases, m.total ?? 0).catch(fail);
  else if (m.type === 'file') checkFile(m.file).catch(fail);
  else if (m.type === 'own') helpWith(m);
  else if (m.type === 'more') {
    wanted = Math.max(wanted, m.total ?? 0);
    wake?.();
  }
};

function fail(e) {
  self.postMessage({ type: 'end', error: `the check stopped: ${e?.message ?? e}` });
}

/** Fetches the page at `from`, trying each node in turn. */
async function fetchPage(bases, from) {
  let last;
  for (const base of bases) {
    try {
      const r = await fetch(`${base}/ledger?from=${from}&limit=${PAGE}`, { cache: 'no-store' });
      if (!r.ok) {
        last = new Error(`${base}/ledger?from=${from}: HTTP ${r.status} ${(await r.text()).slice(0, 200)}`);
        continue;
      }
      // Readable across origins only if the node exposes it; the walk does without.
      const header = r.headers.get('x-ledger-entries');
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { from, bytes, total: header != null && /^\d+$/.test(header) ? Number(header) : null };
    } catch (e) {
      last = e;
    }
  }
  throw last ?? new Error('no node to ask');
}

// ------------------------------------------------------------------------------ as a helper
async function helpWith({ id, bases, from }) {
  try {
    await ready;
    const page = await fetchPage(bases, from);
    const o = ownPage(page.bytes);
    self.postMessage({ type: 'own', id, from, total: page.total, count: o.count, records: o.records, reasons: o.reasons, error: o.error }, [o.records.buffer]);
  } catch (e) {
    self.postMessage({ type: 'own', id, from, failed: String(e?.message ?? e) });
  }
}

/** Helper workers, or none when there is one core or a Worker cannot start one. */
function startHelpers() {
  const n = Math.min(MAX_HELPERS, navigator.hardwareConcurrency || 1);
  if (n < 2 || typeof Worker === 'undefined') return [];
  const helpers = [];
  try {
    for (let i = 0; i < n; i++) {
      const w = new Worker(new URL(import.meta.url), { type: 'module' });
      const h = { w, waiting: new Map(), broken: null };
      w.onmessage = ({ data: m }) => {
        const done = h.waiting.get(m.id);
        h.waiting.delete(m.id);
        done?.(m);
      };
      w.onerror = (e) => {
        h.broken = e.message || 'a helper failed';
        for (const done of h.waiting.values()) done({ failed: h.broken, helperBroken: true });
        h.waiting.clear();
      };
      helpers.push(h);
    }
  } catch {
    for (const h of helpers) h.w.terminate();
    return [];
  }
  return helpers;
}

// ------------------------------------------------------------------------------ a node's ledger
/** Whole pages from entry 0 on, the next ones fetched (and, with helpers, checked) while this
 * one is placed. */
async function walk(bases, total) {
  await ready;
  wanted = Math.max(wanted, total);
  const v = new LedgerVerifier();
  v.reserve(wanted);
  const t0 = performance.now();
  let helpers = startHelpers();
  let bytes = 0;
  let ids = 0;
  let turn = 0;
  let inflight = new Map(); // page start -> promise of its result
  let assigned = 0; // the next page start to ask for

  /** A page's result: {count, total, error, place()} or a thrown fetch failure. */
  const ask = (from) => {
    if (!helpers.length) {
      return fetchPage(bases, from).then((page) => ({
        count: null,
        total: page.total,
        size: page.bytes.length,
        place: () => v.verifyPage(page.bytes, from),
      }));
    }
    const h = helpers[turn++ % helpers.length];
    const id = ids++;
    return new Promise((resolve) => {
      h.waiting.set(id, resolve);
      h.w.postMessage({ type: 'own', id, bases, from });
    }).then((m) => {
      if (m.helperBroken) {
        // Do the rest alone.
        for (const x of helpers) x.w.terminate();
        helpers = [];
      }
      if (m.failed) throw new Error(m.failed);
      return {
        count: m.count,
        total: m.total,
        size: m.records.length,
        error: m.error,
        place: () => (m.error ? { error: m.error } : v.placeOwnPage(m.records, m.reasons, from)),
      };
    });
  };
  const restart = () => {
    inflight = new Map();
    assigned = v.nextIndex;
  };

  for (;;) {
    const from = v.nextIndex;
    if (assigned < from) assigned = from;
    const depth = Math.max(1, helpers.length * PAGES_PER_HELPER);
    while (inflight.size < depth && (assigned === from || assigned < wanted)) {
      const p = ask(assigned);
      p.catch(() => {}); // awaited, and reported, in its turn
      inflight.set(assigned, p);
      assigned += PAGE;
    }
    let res;
    try {
      res = await inflight.get(from);
    } catch (e) {
      restart();
      self.postMessage({ type: 'stalled', error: String(e?.message ?? e), nextIndex: from });
      await sleep(RETRY_MS);
      continue;
    }
    inflight.delete(from);
    if (res.total != null) wanted = Math.max(wanted, res.total);
    const b = res.place();
    if (b.error) {
      restart();
      self.postMessage({ type: 'stalled', error: `${bases[0]}/ledger?from=${from}: ${b.error}`, nextIndex: from });
      await sleep(RETRY_MS);
      continue;
    }
    bytes += res.size;
    wanted = Math.max(wanted, v.nextIndex);
    self.postMessage({ type: 'batch', ...plain(b), total: wanted, bytes, helpers: helpers.length, ms: performance.now() - t0 }, [b.statuses.buffer]);
    // A short page is the end as served; a full one may be too, when the node said how long.
    if (b.count < PAGE || (res.total != null && v.nextIndex >= wanted)) {
      // Pages asked for past the end are dropped; the walk resumes where it stopped.
      restart();
      self.postMessage({ type: 'idle', nextIndex: v.nextIndex, head: v.head ?? null, firstBad: v.firstBad ?? null, helpers: helpers.length, ms: performance.now() - t0 });
      while (wanted <= v.nextIndex) await new Promise((r) => (wake = r));
      wake = null;
      // An announced entry may take a moment to be served: don't ask in a tight loop.
      if (b.count === 0) await sleep(RETRY_MS);
    }
  }
}

/** A batch from the WebAssembly side as a plain object that can be posted. */
const plain = (b) => ({
  from: b.from,
  count: b.count,
  statuses: b.statuses,
  reasons: b.reasons,
  starts: b.starts,
  lengths: b.lengths,
  error: b.error,
  nextIndex: b.nextIndex,
  head: b.head,
  firstBad: b.firstBad,
});

// ------------------------------------------------------------------------------ a file
/** A file, in slices, as a stream of bytes: entries are found wherever the slices cut them. */
async function checkFile(file) {
  await ready;
  const v = new LedgerVerifier();
  v.reserve(Math.ceil(file.size / BYTES_PER_ENTRY));
  const t0 = performance.now();
  for (let pos = 0; pos < file.size; pos += FILE_SLICE) {
    const chunk = new Uint8Array(await file.slice(pos, pos + FILE_SLICE).arrayBuffer());
    const b = v.pushBytes(chunk);
    const transfer = [b.statuses.buffer, ...(b.starts ? [b.starts.buffer, b.lengths.buffer] : [])];
    self.postMessage({ type: 'batch', ...plain(b), bytes: pos + chunk.length, size: file.size, ms: performance.now() - t0 }, transfer);
    if (b.error) {
      self.postMessage({ type: 'end', error: b.error, nextIndex: v.nextIndex, head: null, firstBad: v.firstBad ?? null, ms: performance.now() - t0 });
      return;
    }
  }
  const error = v.finish() ?? null;
  self.postMessage({ type: 'end', error, nextIndex: v.nextIndex, head: error ? null : v.head ?? null, firstBad: v.firstBad ?? null, bytes: file.size, size: file.size, ms: performance.now() - t0 });
}
