// The chain check, off the page's thread: pow-core (WebAssembly) verifies a node's ledger page by
// page from entry 0 (GET /ledger?from=&limit=), or a ledger.json file read in slices, and posts
// back compact batches (a status code per entry, a reason per bad entry), so the page never
// holds the entries themselves. One job per worker; the page terminates the worker to cancel.
//
// In:  {type: 'server', bases: ['http://host:port', …], total}  walk that node's ledger from 0
//      {type: 'more', total}   the ledger has at least `total` entries now: check up to there
//      {type: 'file', file}    check a File (or Blob) as a stream
// Out: {type: 'batch', from, count, statuses, reasons, nextIndex, head, firstBad, total, …}
//      {type: 'idle' | 'stalled' | 'end', …}
import init, { LedgerVerifier } from './pkg/powrace_web.js';

const ready = init();
/** Entries per request: the largest `limit` a node serves. */
const PAGE = 10_000;
/** Bytes read from a file at a time. */
const FILE_SLICE = 4 << 20;
/** How long to wait before asking a node again after a failure, or for entries it announced. */
const RETRY_MS = 1000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let wanted = 0; // entries the page knows exist
let wake = null; // resolves an idle wait

self.onmessage = ({ data: m }) => {
  if (m.type === 'server') walk(m.bases, m.total ?? 0).catch(fail);
  else if (m.type === 'file') checkFile(m.file).catch(fail);
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
      const total = Number(r.headers.get('x-ledger-entries'));
      const bytes = new Uint8Array(await r.arrayBuffer());
      return { from, bytes, total: Number.isFinite(total) && r.headers.has('x-ledger-entries') ? total : null };
    } catch (e) {
      last = e;
    }
  }
  throw last ?? new Error('no node to ask');
}

/** Whole pages from entry 0 on, the next one fetched while this one is checked. */
async function walk(bases, total) {
  await ready;
  wanted = Math.max(wanted, total);
  const v = new LedgerVerifier();
  const t0 = performance.now();
  let bytes = 0;
  let next = null; // the page being fetched ahead, {from, promise}
  const ask = (from) => {
    const promise = fetchPage(bases, from);
    promise.catch(() => {}); // awaited (and reported) when its turn comes
    return { from, promise };
  };
  for (;;) {
    const from = v.nextIndex;
    if (!next || next.from !== from) next = ask(from);
    let page;
    try {
      page = await next.promise;
    } catch (e) {
      next = null;
      self.postMessage({ type: 'stalled', error: String(e?.message ?? e), nextIndex: from });
      await sleep(RETRY_MS);
      continue;
    }
    if (page.total != null) wanted = Math.max(wanted, page.total);
    const more = page.total != null ? from + PAGE < page.total : true;
    next = more ? ask(from + PAGE) : null;
    const b = v.verifyPage(page.bytes, from);
    bytes += page.bytes.length;
    if (b.error) {
      next = null;
      self.postMessage({ type: 'stalled', error: `${bases[0]}/ledger?from=${from}: ${b.error}`, nextIndex: from });
      await sleep(RETRY_MS);
      continue;
    }
    wanted = Math.max(wanted, v.nextIndex);
    self.postMessage({ type: 'batch', ...plain(b), total: wanted, bytes, ms: performance.now() - t0 }, [b.statuses.buffer]);
    // A short page is the end as served; a full one may be too, when the node said how long.
    if (b.count < PAGE || (page.total != null && v.nextIndex >= wanted)) {
      // At the end of the ledger as served: wait for news of more.
      next = null;
      self.postMessage({ type: 'idle', nextIndex: v.nextIndex, head: v.head ?? null, firstBad: v.firstBad ?? null, ms: performance.now() - t0 });
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

/** A file, in slices, as a stream of bytes: entries are found wherever the slices cut them. */
async function checkFile(file) {
  await ready;
  const v = new LedgerVerifier();
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
