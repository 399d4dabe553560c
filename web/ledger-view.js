// A ledger shown newest first in a virtual table: only the rows in view exist in the page, their
// data fetched on demand (a node's GET /ledger?from=&limit=, or slices of a file on disk) into a
// small cache. The chain check runs in a Worker (ledger-worker.js) from entry 0 and sends back
// one status code per entry, so a million entries cost a few megabytes here, not the entries.
import { el, hashEl, colorOf, num } from './dom.js';
import { clockOf, fmtSecs } from './race.js';
import { parseJson } from './json.js';

/** Row height in pixels (CSS `.vt-rows tr` has the same). */
const ROW_H = 38;
/** The tallest the table's view gets (CSS `.vt` max-height may cap it lower). */
const VIEW_MAX_PX = 14 * ROW_H;
/** Rows rendered beyond each edge of the view, so a short scroll shows no blank row. */
const OVERSCAN = 6;
/** Entries per request for the rows in view. */
export const ROW_PAGE = 100;
/** Pages of rows kept; the least recently shown go first. */
const ROW_CACHE_PAGES = 40;
/** Entries from live events kept until their page is fetched. */
const RECENT_KEPT = 2000;
/** The tallest scroll area used; past it the scroll bar maps to rows proportionally (browsers
 * cap an element's height at ~17 million pixels, under 1,000,000 rows × ROW_H). */
const MAX_SCROLL_PX = 4_000_000;
/** Reasons kept for bad entries; past it a bad row is re-checked on its own when shown. */
const MAX_REASONS_KEPT = 100_000;
/** How soon a page that was short (the ledger's end) may be asked for again. */
const SHORT_PAGE_MS = 400;
/** While a file streams in, the rows in view (its newest entries so far) change with every
 * slice: they are redrawn at most this often, so the page does not chase them. */
const GROWTH_REDRAW_MS = 300;
/** How soon a failed row request may be retried. */
const ROW_RETRY_MS = 2000;

export const PENDING = 0;
const NAMES = ['pending', 'ok', 'bad', 'after_break'];

/** A growable Uint8Array / Float64Array. */
function grow(arr, n) {
  if (n <= arr.length) return arr;
  const out = new arr.constructor(Math.max(n, arr.length * 2, 1024));
  out.set(arr);
  return out;
}

/** Rows of a node's ledger, fetched a page at a time, with the entries live events carried. */
export class ServerRows {
  constructor(base, onLoad) {
    this.base = base; // () => 'http://host:port'
    this.onLoad = onLoad;
    this.pages = new Map(); // page number -> {entries, at}
    this.inflight = new Set();
    this.failedAt = new Map();
    this.recent = new Map(); // index -> entry
  }
  put(entry) {
    if (!Number.isInteger(entry?.index)) return;
    this.recent.set(entry.index, entry);
    if (this.recent.size > RECENT_KEPT) this.recent.delete(this.recent.keys().next().value);
  }
  get(pos) {
    const p = Math.floor(pos / ROW_PAGE);
    const page = this.pages.get(p);
    const k = pos - p * ROW_PAGE;
    if (page && k < page.entries.length) {
      this.pages.delete(p);
      this.pages.set(p, page); // most recently used last
      return page.entries[k];
    }
    // An entry a live event brought needs no request.
    const live = this.recent.get(pos);
    if (live) return live;
    if (!page || performance.now() - page.at > SHORT_PAGE_MS) this.load(p);
    return undefined;
  }
  async load(p) {
    if (this.inflight.has(p) || performance.now() - (this.failedAt.get(p) ?? -Infinity) < ROW_RETRY_MS) return;
    this.inflight.add(p);
    try {
      const r = await fetch(`${this.base()}/ledger?from=${p * ROW_PAGE}&limit=${ROW_PAGE}`, { cache: 'no-store' });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const entries = parseJson(await r.text()); // a lottery nonce may pass 2^53
      if (!Array.isArray(entries)) throw new Error('not an array');
      this.pages.set(p, { entries, at: performance.now() });
      while (this.pages.size > ROW_CACHE_PAGES) this.pages.delete(this.pages.keys().next().value);
      this.failedAt.delete(p);
      this.onLoad();
    } catch {
      this.failedAt.set(p, performance.now());
    } finally {
      this.inflight.delete(p);
    }
  }
}

/** Rows of a ledger file, read back from the file by the byte spans the check found. */
export class FileRows {
  constructor(file, onLoad) {
    this.file = file;
    this.onLoad = onLoad;
    this.starts = new Float64Array(0);
    this.lengths = new Float64Array(0);
    this.n = 0;
    this.pages = new Map();
    this.inflight = new Set();
  }
  addSpans(from, starts, lengths) {
    if (!starts) return;
    this.starts = grow(this.starts, from + starts.length);
    this.lengths = grow(this.lengths, from + starts.length);
    this.starts.set(starts, from);
    this.lengths.set(lengths, from);
    this.n = Math.max(this.n, from + starts.length);
  }
  get(pos) {
    if (pos >= this.n) return undefined;
    const p = Math.floor(pos / ROW_PAGE);
    const page = this.pages.get(p);
    const k = pos - p * ROW_PAGE;
    if (page && k < page.entries.length) return page.entries[k];
    this.load(p);
    return undefined;
  }
  async load(p) {
    if (this.inflight.has(p)) return;
    this.inflight.add(p);
    try {
      const a = p * ROW_PAGE;
      const b = Math.min(this.n, a + ROW_PAGE) - 1;
      const base = this.starts[a];
      const buf = await this.file.slice(base, this.starts[b] + this.lengths[b]).arrayBuffer();
      const dec = new TextDecoder();
      const entries = [];
      for (let i = a; i <= b; i++) {
        const text = dec.decode(new Uint8Array(buf, this.starts[i] - base, this.lengths[i]));
        try {
          entries.push(parseJson(text));
        } catch {
          entries.push({ unparsable: text.slice(0, 300) });
        }
      }
      this.pages.set(p, { entries });
      while (this.pages.size > ROW_CACHE_PAGES) this.pages.delete(this.pages.keys().next().value);
      this.onLoad();
    } finally {
      this.inflight.delete(p);
    }
  }
}

/**
 * The view: a summary line, a progress bar while the chain is checked, a "go to entry" box and
 * the virtual table. `rows` is a ServerRows or FileRows; the owner feeds it worker batches with
 * `batch()` and tells it the ledger's length with `setTotal()`.
 */
export class LedgerView {
  constructor(root, { rows, check, describe }) {
    this.root = root;
    this.rows = rows;
    this.check = check; // (entry) => {ok, reason} on its own, for rows whose reason was not kept
    this.describe = describe; // (view) => the progress line, instead of "checked N / M entries"
    this.total = 0;
    this.statuses = new Uint8Array(0);
    this.reasons = new Map();
    this.reasonsDropped = 0;
    this.verified = 0;
    this.counts = [0, 0, 0, 0];
    this.firstBad = null;
    this.head = null;
    this.done = false;
    this.error = null;
    this.stalled = null;
    this.target = null; // position to highlight
    this.t0 = performance.now();
    this.onFirstRows = null;
    this.build();
  }

  build() {
    this.summary = el('p.summary', {}, 'Waiting for the ledger…');
    this.bar = el('progress.verify-bar', { max: 1, value: 0 });
    this.progressText = el('span.progress-text');
    this.progress = el('div.progress', {}, this.bar, this.progressText);
    this.gotoInput = el('input.goto-input', { type: 'number', min: 0, placeholder: 'entry #', 'aria-label': 'go to entry' });
    this.firstBadButton = el('button.small.first-bad', { type: 'button', hidden: true, onclick: () => this.firstBad != null && this.goto(this.firstBad) }, 'first bad entry');
    this.range = el('span.range');
    const goto = el(
      'form.goto.inline',
      { onsubmit: (e) => (e.preventDefault(), this.goto(Number(this.gotoInput.value))) },
      this.gotoInput,
      el('button.small', { type: 'submit' }, 'go'),
      el('button.small.newest', { type: 'button', onclick: () => this.goto(this.total - 1) }, 'newest'),
      this.firstBadButton,
      this.range,
    );
    const cols = () => el('colgroup', {}, ...['c-index', 'c-check', 'c-node', 'c-data', 'c-nonce', 'c-hash', 'c-time', 'c-times'].map((c) => el('col.' + c)));
    const head = el('table.ledger.vt-head', {}, cols(), el('thead', {}, el('tr', {}, ...['#', 'check', 'node', 'transaction', 'nonce', 'hash', 'time', 'start → end (UTC)'].map((h) => el('th', {}, h)))));
    this.tbody = el('tbody');
    this.table = el('table.ledger.vt-rows', {}, cols(), this.tbody);
    this.spacer = el('div.vt-spacer', {}, this.table);
    this.scroller = el('div.vt', { tabindex: 0, onscroll: () => this.schedule() }, this.spacer);
    this.tableBox = el('div.vt-box', { hidden: true }, goto, head, this.scroller);
    this.root.replaceChildren(this.summary, this.progress, this.tableBox);
    new ResizeObserver(() => this.schedule()).observe(this.scroller);
  }

  /** The ledger has (at least) `n` entries. New ones appear at the top; a reader looking at
   * older rows keeps them in place. */
  setTotal(n) {
    if (!(n > this.total)) return;
    const added = n - this.total;
    const unscaled = n * ROW_H <= MAX_SCROLL_PX;
    this.total = n;
    this.statuses = grow(this.statuses, n);
    const scrolled = this.scroller.scrollTop > 0;
    // Sized here, not while drawing, so that drawing reads a settled layout.
    this.spacer.style.height = `${Math.min(n * ROW_H, MAX_SCROLL_PX)}px`;
    // As tall as the rows (and its 1 px border), up to the CSS max-height: a short ledger
    // leaves no empty box.
    this.scroller.style.height = `${Math.min(n * ROW_H, VIEW_MAX_PX) + 1}px`;
    this.tableBox.hidden = false;
    if (scrolled && unscaled) this.scroller.scrollTop += added * ROW_H;
    this.schedule(true, false);
  }

  /** A batch from the worker: statuses and reasons from `from` on. */
  batch(b) {
    const end = b.from + b.count;
    if (end > this.statuses.length) this.statuses = grow(this.statuses, end);
    this.statuses.set(b.statuses, b.from);
    for (const s of b.statuses) this.counts[s] += 1;
    for (const [pos, reason] of b.reasons) {
      if (this.reasons.size < MAX_REASONS_KEPT) this.reasons.set(pos, reason);
      else this.reasonsDropped += 1;
    }
    this.verified = b.nextIndex;
    this.firstBad = b.firstBad ?? null;
    this.head = b.head ?? null;
    this.bytes = b.bytes;
    this.size = b.size;
    this.ms = b.ms;
    this.helpers = b.helpers;
    this.stalled = null;
    // The worker may know of more entries than the page (a node's x-ledger-entries).
    if (Math.max(end, b.total ?? 0) > this.total) this.setTotal(Math.max(end, b.total ?? 0));
    const inView = this.shown && b.from <= this.shown[1] && end > this.shown[0];
    this.schedule(!!inView || b.firstBad !== this.shownFirstBad, false);
  }

  /** The check reached the end of what exists (or of the file). */
  finish({ error = null, head, firstBad, ms } = {}) {
    this.done = true;
    this.error = error;
    if (head !== undefined) this.head = head;
    if (firstBad !== undefined) this.firstBad = firstBad;
    if (ms != null) this.ms = ms;
    this.schedule();
  }

  status(pos) {
    return pos < this.verified ? this.statuses[pos] : PENDING;
  }

  /** The check has caught up with every entry known (for a file: the whole file). */
  get complete() {
    const c = this.done && this.verified >= this.total;
    if (c) this.caughtUp = true;
    return c;
  }

  /** Renders at the next frame; the rows only when `rows` (or an earlier call) asks for it:
   * most batches of the check touch no row in view and change only the summary. A reader's
   * action (`urgent`: scroll, resize, rows arriving) is drawn at once; growth at most every
   * GROWTH_REDRAW_MS. */
  schedule(rows = true, urgent = true) {
    if (rows) this.rowsDirty = true;
    if (rows && urgent) this.rowsUrgent = true;
    if (this.queued) return;
    this.queued = true;
    requestAnimationFrame(() => {
      this.queued = false;
      this.render();
    });
  }

  /** Scrolls so that entry `pos` is in the middle of the view, and marks it. */
  goto(pos) {
    if (!Number.isInteger(pos) || pos < 0 || pos >= this.total) return;
    this.target = pos;
    const r = this.total - 1 - pos; // display row: newest first
    const vh = this.scroller.clientHeight;
    const natural = this.total * ROW_H;
    if (natural <= MAX_SCROLL_PX) this.scroller.scrollTop = r * ROW_H - vh / 2 + ROW_H / 2;
    else {
      const fit = Math.floor(vh / ROW_H);
      const frac = Math.max(0, r - Math.floor(fit / 2)) / Math.max(1, this.total - fit);
      this.scroller.scrollTop = Math.min(1, frac) * (MAX_SCROLL_PX - vh);
    }
    this.rowsDirty = this.rowsUrgent = true;
    this.render();
  }

  render() {
    // Layout is read once, before anything is written, so the browser lays out once per frame.
    const top = this.scroller.scrollTop;
    const vh = this.scroller.clientHeight || VIEW_MAX_PX;
    this.renderSummary();
    const n = this.total;
    this.tableBox.hidden = n === 0;
    this.root.dataset.total = String(n);
    this.root.dataset.verified = String(this.verified);
    this.root.dataset.state = this.error ? 'error' : this.complete ? (this.firstBad == null ? 'ok' : 'bad') : this.stalled ? 'stalled' : 'checking';
    this.root.dataset.firstBad = this.firstBad == null ? '' : String(this.firstBad);
    this.firstBadButton.hidden = this.firstBad == null;
    if (!n || !this.rowsDirty) return;
    const wait = GROWTH_REDRAW_MS - (performance.now() - (this.rowsAt ?? -Infinity));
    if (!this.rowsUrgent && wait > 0) {
      if (!this.later) this.later = setTimeout(() => ((this.later = null), this.schedule(false)), wait);
      return;
    }
    this.rowsDirty = false;
    this.rowsUrgent = false;
    this.rowsAt = performance.now();
    this.shownFirstBad = this.firstBad;

    const natural = n * ROW_H;
    const height = Math.min(natural, MAX_SCROLL_PX);
    const visible = Math.ceil(vh / ROW_H) + 1;
    let first; // the first display row (0 = the newest entry) at the top of the view
    let from;
    let to;
    let offset;
    if (natural <= MAX_SCROLL_PX) {
      first = Math.floor(top / ROW_H);
      from = Math.max(0, first - OVERSCAN);
      to = Math.min(n, first + visible + OVERSCAN);
      offset = from * ROW_H;
    } else {
      // Proportional: the scroll bar spans the rows, the rows sit at the view's top (the spacer
      // clips what passes its end).
      const fit = Math.floor(vh / ROW_H);
      const frac = Math.min(1, top / Math.max(1, height - vh));
      first = Math.round(frac * Math.max(0, n - fit));
      from = first;
      to = Math.min(n, first + fit + 2);
      offset = top;
    }
    this.table.style.transform = `translateY(${Math.max(0, offset)}px)`;
    const trs = [];
    for (let r = from; r < to; r++) trs.push(this.rowEl(n - 1 - r));
    this.shown = [n - to, n - 1 - from]; // positions rendered, oldest and newest
    this.tbody.replaceChildren(...trs);
    const newest = n - 1 - first;
    const oldest = Math.max(0, n - Math.min(n, first + Math.floor(vh / ROW_H)));
    this.range.textContent = `entries ${num(oldest)}–${num(newest)} of ${num(n)}, newest first`;
    if (this.onFirstRows && trs.some((tr) => tr.dataset.tx != null)) {
      const f = this.onFirstRows;
      this.onFirstRows = null;
      f();
    }
  }

  rowEl(pos) {
    const e = this.rows.get(pos);
    const code = this.status(pos);
    let reason = '';
    if (code === 2) reason = this.reasons.get(pos) ?? this.lateReason(e);
    else if (code === 3) reason = `holds on its own, but follows the bad entry ${this.firstBad}`;
    const mark =
      code === 1 ? el('span.mark.ok', { title: 'verified by pow-core in your browser' }, '✓') :
      code === 2 ? el('span.mark.bad', {}, '✗') :
      code === 3 ? el('span.mark.warn', { title: reason }, '⚠') :
      el('span.mark.pending', { title: 'waiting for the chain check from entry 0' }, '…');
    const attrs = { 'data-status': NAMES[code], 'data-position': String(pos), class: this.target === pos ? 'hl' : null };
    if (!e) {
      return el('tr', attrs, el('td.num', {}, num(pos)), el('td.check', {}, mark, reason ? el('div.reason', { title: reason }, reason) : null), el('td.loading', { colspan: 6 }, 'loading…'));
    }
    if (e.unparsable != null) {
      return el('tr', { ...attrs, 'data-tx': '' }, el('td.num', {}, num(pos)), el('td.check', {}, mark, el('div.reason', { title: reason }, reason)), el('td.data', { colspan: 6, title: e.unparsable }, e.unparsable));
    }
    return el(
      'tr',
      { ...attrs, 'data-tx': String(e.transaction_data ?? '') },
      el('td.num', {}, String(e.index ?? pos)),
      el('td.check', {}, mark, reason ? el('div.reason', { title: reason }, reason) : null),
      el('td', { style: { '--node': colorOf(e.node) } }, el('span.swatch'), String(e.node ?? '–')),
      el('td.data', { title: String(e.transaction_data ?? '') }, String(e.transaction_data ?? '–')),
      el('td.num', {}, String(e.nonce ?? '–')),
      el('td', {}, hashEl(typeof e.hash === 'string' ? e.hash : null)),
      el('td.num', {}, typeof e.time_taken === 'number' ? fmtSecs(e.time_taken) : '–'),
      el('td.times', {}, `${clockOf(e.start_time) || '–'} → ${clockOf(e.end_time) || '–'}`, el('div.date', {}, String(e.start_time ?? '').slice(0, 10))),
    );
  }

  /** A bad entry whose reason was not kept (more than MAX_REASONS_KEPT bad entries). */
  lateReason(e) {
    const own = e && this.check ? this.check(e) : null;
    if (own && !own.ok) return own.reason;
    return `does not hold in its place in the chain (reasons are kept for the first ${num(MAX_REASONS_KEPT)} bad entries)`;
  }

  renderSummary() {
    const n = this.total;
    const pct = n ? Math.floor((100 * this.verified) / n) : 100;
    const secs = (this.ms ?? performance.now() - this.t0) / 1000;
    const rate = secs > 0 ? this.verified / secs : 0;
    // A file's progress is in bytes (its length in entries is known only at the end).
    this.bar.max = this.size ? this.size : Math.max(1, n);
    this.bar.value = this.size ? this.bytes ?? 0 : this.verified;
    this.progress.hidden = this.complete && !this.stalled;
    let text = this.describe?.(this) ?? `checked ${num(this.verified)} / ${num(n)} entries (${pct}%)`;
    if (rate > 0) text += ` · ${num(Math.round(rate))} entries/s`;
    if (this.helpers > 1) text += ` on ${this.helpers} workers`;
    if (this.stalled) text += ` · waiting: ${this.stalled}`;
    this.progressText.textContent = text;

    const parts = [];
    let cls = 'summary';
    if (this.error) {
      cls += ' bad';
      parts.push(`✗ ${this.error}. `);
    }
    if (this.firstBad != null) {
      cls += this.error ? '' : ' bad';
      parts.push(
        `✗ entry ${this.firstBad} is the first bad entry: ${this.reasons.get(this.firstBad) ?? ''}. `,
        `${num(this.counts[1])} ✓ before it, ${num(this.counts[2])} ✗, ${num(this.counts[3])} ⚠ after the break`,
        this.complete ? '.' : ` so far (checked ${pct}%).`,
      );
    } else if (!this.error) {
      if (this.complete && n > 0) {
        cls += ' ok';
        parts.push(`✓ ${num(n)} ${n === 1 ? 'entry' : 'entries'}, chain intact, every proof of work re-checked by pow-core in your browser. Head `, hashEl(this.head));
      } else if (this.complete) {
        parts.push(this.done ? 'The ledger is empty.' : 'Waiting for the ledger…');
      } else {
        const fresh = n - this.verified;
        parts.push(
          this.caughtUp
            ? `Checking ${num(fresh)} new ${fresh === 1 ? 'entry' : 'entries'} onto the head…`
            : `Checking the chain from entry 0 in the background: ${num(this.verified)} of ${num(n)} entries so far, ${num(this.counts[1])} ✓. The newest entries are shown first; each gets its mark when the check reaches it.`,
        );
      }
    }
    this.summary.className = cls;
    this.summary.replaceChildren(...parts);
  }
}
