// powrace dashboard: live race view over every node's /events WebSocket, the ledger re-verified
// by pow-core compiled to WebAssembly (in a Worker, page by page, shown in a virtual table), a
// browser miner, and a ledger.json checker.
import init, * as core from './pkg/powrace_web.js';
import { RaceBook, parseTs, clockOf, fmtUs, fmtSecs, fmtRate } from './race.js';
import { $, el, hashEl, short, colorOf, num } from './dom.js';
import { LedgerView, ServerRows, FileRows } from './ledger-view.js';

// ---------------------------------------------------------------------------- configuration
function defaultNodes() {
  const host = location.protocol.startsWith('http') ? location.hostname : '127.0.0.1';
  return [5000, 5001, 5002].map((p) => `${host}:${p}`);
}
function parseNodes(text) {
  if (!text) return null;
  const list = text
    .split(/[\s,]+/)
    .map((s) => s.trim().replace(/^\w+:\/\//, '').replace(/\/.*$/, ''))
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? `${location.hostname || '127.0.0.1'}:${s}` : s));
  return list.length ? list : null;
}
const params = new URLSearchParams(location.search);
let nodeAddrs = parseNodes(params.get('nodes')) ?? defaultNodes();

// ---------------------------------------------------------------------------- state
const book = new RaceBook();
const conns = new Map(); // addr -> NodeConn
const eventLog = [];
let serverOffsetUs = 0; // server clock minus local clock, from live events
let wasm = null; // the pow-core module once loaded
const wasmReady = init()
  .then(() => {
    wasm = core;
    $('#wasm-status').textContent = `pow-core ${core.kernelName()} kernel loaded (WebAssembly)`;
    $('#wasm-status').classList.add('ok');
    renderAll();
  })
  .catch((e) => {
    $('#wasm-status').textContent = `WebAssembly failed to load: ${e}`;
    $('#wasm-status').classList.add('bad');
  });

const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 10000;
const STATUS_POLL_MS = 5000;
const MAX_RACES_SHOWN = 30;
const MAX_LOG = 300;

/** One node's /events stream, reconnecting with exponential backoff. */
class NodeConn {
  constructor(addr) {
    this.addr = addr;
    this.state = 'connecting';
    this.attempt = 0;
    this.hello = null;
    this.status = null;
    this.closed = false;
    this.connect();
    this.poll = setInterval(() => this.fetchStatus(), STATUS_POLL_MS);
  }
  get name() {
    return this.hello?.node ?? this.status?.node ?? null;
  }
  connect() {
    if (this.closed) return;
    this.state = this.attempt ? 'reconnecting' : 'connecting';
    let ws;
    try {
      ws = new WebSocket(`ws://${this.addr}/events`);
    } catch (e) {
      this.lastError = String(e);
      return this.retry();
    }
    this.ws = ws;
    ws.onopen = () => {
      this.state = 'live';
      this.attempt = 0;
      this.since = Date.now();
      renderNodes();
      this.fetchStatus();
      ledgerOnConnect(this);
    };
    ws.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      onEvent(this, ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry();
    };
    ws.onerror = () => {
      this.lastError = 'connection failed';
    };
    renderNodes();
  }
  retry() {
    if (this.closed) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt) * (0.85 + Math.random() * 0.3);
    this.attempt += 1;
    this.state = 'down';
    this.retryAt = Date.now() + delay;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
    renderNodes();
  }
  async fetchStatus() {
    if (this.state !== 'live') return;
    try {
      const r = await fetch(`http://${this.addr}/status`, { cache: 'no-store' });
      this.status = await r.json();
      renderNodes();
      ledgerOnStatus(this.addr, this.status);
    } catch {
      /* the WebSocket's close handler reports the node down */
    }
  }
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.poll);
    this.ws?.close();
  }
}

function connectAll() {
  for (const c of conns.values()) c.close();
  conns.clear();
  for (const a of nodeAddrs) conns.set(a, new NodeConn(a));
  $('#nodes-input').value = nodeAddrs.join(', ');
  renderNodes();
}

function onEvent(conn, ev) {
  if (ev.type === 'hello') {
    conn.hello = ev;
    renderNodes();
    return;
  }
  if (!ev.replay && typeof ev.at_us === 'number') serverOffsetUs = ev.at_us - Date.now() * 1000;
  logEvent(ev);
  const race = book.apply(ev);
  if ((ev.type === 'ledger_updated' || ev.type === 'won') && ev.entry) ledgerLearn(ev.entry);
  if (!ev.replay && (ev.type === 'won' || ev.type === 'lost')) setTimeout(() => conn.fetchStatus(), 50);
  if (race) {
    scheduleRender();
    maybeAnimate();
  }
}

// ---------------------------------------------------------------------------- rendering
let renderQueued = false;
function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderRaces();
    renderTotals();
  });
}
function renderAll() {
  renderNodes();
  renderRaces();
  renderTotals();
}

function renderNodes() {
  const box = $('#nodes');
  box.replaceChildren(
    ...[...conns.values()].map((c) => {
      const h = c.hello ?? {};
      const s = c.status ?? {};
      const name = c.name ?? c.addr;
      let detail;
      if (c.state === 'live') {
        const bits = [`difficulty ${h.difficulty ?? s.difficulty ?? '?'}`, `${h.kernel ?? s.kernel ?? '?'} ×${h.threads ?? s.threads ?? '?'}`];
        if (s.races != null) bits.push(`${s.races} races`);
        if (s.in_flight) bits.push(`${s.in_flight} mining`);
        detail = bits.join(' · ');
      } else if (c.state === 'down') {
        const secs = Math.max(0, (c.retryAt - Date.now()) / 1000);
        detail = `down · reconnecting in ${secs.toFixed(1)} s (attempt ${c.attempt})`;
      } else detail = c.state + '…';
      return el(
        'div.node-chip',
        { 'data-state': c.state, 'data-addr': c.addr, 'data-node': c.name ?? '', style: { '--node': colorOf(c.name) } },
        el('span.dot', { title: c.state }),
        el('strong', {}, name),
        el('span.addr', {}, c.name ? c.addr : ''),
        el('span.state', {}, c.state === 'live' ? 'live' : c.state === 'down' ? 'down' : c.state),
        el('span.detail', {}, detail),
      );
    }),
  );
  const live = [...conns.values()].filter((c) => c.state === 'live').length;
  $('#nodes-summary').textContent = `${live}/${conns.size} nodes live`;
  $('#nodes-summary').dataset.all = String(live === conns.size);
}
setInterval(() => {
  if ([...conns.values()].some((c) => c.state === 'down')) renderNodes();
}, 500);

/** 1, 2 or 5 × 10^k µs: a tick step that gives about `n` ticks over `span` µs. */
function tickStep(span, n = 6) {
  const raw = Math.max(1, span / n);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

/** A tick label with just the decimals its step needs: "+20 ms", "+2.5 ms", "+250 µs". */
function fmtTick(t, step) {
  if (step < 1000) return `${Math.round(t)} µs`;
  if (step < 1e6) return `${(t / 1000).toFixed(Math.max(0, 3 - Math.floor(Math.log10(step))))} ms`;
  return `${(t / 1e6).toFixed(Math.max(0, 6 - Math.floor(Math.log10(step))))} s`;
}

const nowServerUs = () => Date.now() * 1000 + serverOffsetUs;

let aligned = false; // bars from each node's own start instead of the shared clock

const raceCard = (race) => raceCardWith(race, aligned);

function raceCardWith(race, align) {
  const lanes = [...race.lanes.values()].sort((a, b) => a.node.localeCompare(b.node, undefined, { numeric: true }));
  const running = lanes.some((l) => l.endUs == null && l.startUs != null && l.outcome !== 'error');
  const starts = lanes.flatMap((l) => [l.receivedUs, l.startUs]).filter((x) => x != null);
  const origin = starts.length ? Math.min(...starts) : race.firstUs;
  const ends = lanes.map((l) => l.endUs ?? (l.startUs != null ? nowServerUs() : null)).filter((x) => x != null);
  const last = Math.max(origin + 1, ...ends);
  // Aligned: every lane's own start is 0, the axis spans the longest search.
  const longest = Math.max(1, ...lanes.filter((l) => l.startUs != null).map((l) => (l.endUs ?? last) - l.startUs));
  const span = align ? longest : Math.max(1, last - origin);
  const step = tickStep(span);
  const pct = (us) => `${(((us - origin) / span) * 100).toFixed(3)}%`;
  const lanePct = (l, us) => (align ? `${(((us - l.startUs) / span) * 100).toFixed(3)}%` : pct(us));

  const ticks = [];
  for (let t = 0; t <= span + 1e-9; t += step) {
    ticks.push(el('span.tick', { style: { left: pct(origin + t) } }, t === 0 ? '0' : `+${fmtTick(t, step)}`));
  }

  const winnerLane = race.winner ? race.lanes.get(race.winner) : null;
  const entry = race.entry;
  let entryBadge = null;
  if (entry) {
    const check = wasm ? wasm.verifyEntry(entry) : null;
    entryBadge = el(
      'span.entry-badge',
      { 'data-ok': check ? String(check.ok) : '', title: check && !check.ok ? check.reason : 'entry re-verified by pow-core in your browser' },
      `ledger #${entry.index} `,
      check ? (check.ok ? '✓' : `✗ ${check.reason}`) : '…',
    );
  }

  const rows = lanes.map((l) => {
    const color = colorOf(l.node);
    const bar =
      l.startUs != null
        ? el('div.bar', {
            style: { left: lanePct(l, l.startUs), width: `max(2px, ${(((l.endUs ?? last) - l.startUs) / span) * 100}%)` },
            'data-outcome': l.outcome,
          })
        : null;
    const recv = l.receivedUs != null && !align ? el('span.recv', { style: { left: pct(l.receivedUs) }, title: `received ${clockOf(l.receivedUs)}` }) : null;
    let result;
    switch (l.outcome) {
      case 'won':
        result = el('span.outcome.won', {}, '★ winner');
        break;
      case 'lost':
        result = el('span.outcome.lost', {}, l.margin != null ? `lost by ${fmtSecs(l.margin)}` : 'lost');
        break;
      case 'aborted':
        result = el('span.outcome.aborted', {}, 'aborted (lost the race)');
        break;
      case 'completed':
        result = el('span.outcome', {}, 'finished');
        break;
      case 'error':
        result = el('span.outcome.error', {}, `error: ${l.error}`);
        break;
      case 'running':
        result = el('span.outcome.running', {}, 'mining…');
        break;
      default:
        result = el('span.outcome', {}, 'received');
    }
    const dur = l.time_taken != null ? fmtSecs(l.time_taken) : l.startUs != null && l.endUs != null ? fmtUs(l.endUs - l.startUs) : null;
    return el(
      'div.lane',
      { 'data-node': l.node, 'data-outcome': l.outcome, style: { '--node': color } },
      el('div.lane-name', {}, el('span.swatch'), l.node),
      el('div.track', {}, recv, bar),
      el(
        'div.lane-info',
        {},
        el('span.times', {}, el('span.start', { title: l.start_time ?? '' }, l.startUs != null ? clockOf(l.startUs) : '—'), ' → ', el('span.end', { title: l.end_time ?? '' }, l.endUs != null ? clockOf(l.endUs) : '…')),
        dur ? el('span.dur', {}, dur) : null,
        l.hashes != null && l.time_taken ? el('span.rate', {}, fmtRate(l.hashes / l.time_taken)) : null,
        result,
      ),
    );
  });

  return el(
    'article.race',
    { 'data-tx': race.tx_id, 'data-winner': race.winner ?? '', 'data-running': String(running) },
    el(
      'header',
      {},
      el('h3', { title: race.data }, race.data === '' ? '(empty transaction)' : race.data),
      el('span.meta', {}, `tx ${short(race.tx_id, 12)} · difficulty ${race.difficulty ?? '?'}`),
      race.winner
        ? el(
            'span.winner',
            { style: { '--node': colorOf(race.winner) } },
            '★ ',
            el('strong', {}, race.winner),
            winnerLane?.nonce != null ? ` nonce ${winnerLane.nonce}` : '',
            winnerLane?.time_taken != null ? ` in ${fmtSecs(winnerLane.time_taken)}` : '',
          )
        : el('span.winner.pending', {}, running ? 'racing…' : 'no winner yet'),
      entryBadge,
    ),
    el('div.axis', {}, ticks),
    ...rows,
    winnerLane?.hash ? el('div.race-hash', {}, 'hash ', hashEl(winnerLane.hash)) : null,
  );
}

function renderRaces() {
  const races = book.list().slice(0, MAX_RACES_SHOWN);
  const box = $('#races');
  if (!races.length) {
    box.replaceChildren(el('p.empty', {}, 'No races yet. Send a transaction above, or with nc: ', el('code', {}, `echo "hello" | nc -q1 ${nodeAddrs[0]?.replace(':', ' ')}`)));
    return;
  }
  box.replaceChildren(...races.map(raceCard));
}

let animating = false;
function maybeAnimate() {
  if (animating) return;
  const anyRunning = () => [...book.races.values()].some((r) => [...r.lanes.values()].some((l) => l.startUs != null && l.endUs == null && !['error', 'aborted'].includes(l.outcome)));
  if (!anyRunning()) return;
  animating = true;
  let lastDraw = 0;
  const frame = (t) => {
    if (t - lastDraw > 80) {
      lastDraw = t;
      renderRaces();
    }
    if (anyRunning()) requestAnimationFrame(frame);
    else {
      animating = false;
      renderRaces();
    }
  };
  requestAnimationFrame(frame);
}

function renderTotals() {
  const rows = book.totals();
  const tbody = $('#totals tbody');
  if (!rows.length) {
    tbody.replaceChildren(el('tr', {}, el('td.empty', { colspan: 6 }, 'Totals appear after the first race.')));
    return;
  }
  const best = Math.max(...rows.map((r) => r.wins));
  tbody.replaceChildren(
    ...rows.map((r) =>
      el(
        'tr',
        { 'data-node': r.node, style: { '--node': colorOf(r.node) } },
        el('th', {}, el('span.swatch'), r.node),
        el('td.num', { 'data-leader': String(r.wins === best && best > 0) }, el('span.wins', {}, String(r.wins)), el('small', {}, ` / ${r.races}`)),
        el('td.num', {}, fmtSecs(r.mean)),
        el('td.num', {}, fmtSecs(r.median)),
        el('td.num', {}, fmtRate(r.rate)),
        el('td.num', {}, r.margins.length ? fmtSecs(r.margins.reduce((a, b) => a + b, 0) / r.margins.length) : '–'),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------- event log
function logEvent(ev) {
  eventLog.unshift(ev);
  // Newest first on the nodes' clock, whatever order the streams delivered them in.
  eventLog.sort((a, b) => (b.at_us ?? 0) - (a.at_us ?? 0));
  if (eventLog.length > MAX_LOG) eventLog.length = MAX_LOG;
  scheduleLog();
}
let logQueued = false;
function scheduleLog() {
  if (logQueued) return;
  logQueued = true;
  setTimeout(() => {
    logQueued = false;
    $('#log-count').textContent = `(${eventLog.length})`;
    $('#log').replaceChildren(
      ...eventLog.slice(0, 120).map((ev) => {
        const extra =
          ev.type === 'started' ? `start ${clockOf(ev.start_time)}` :
          ev.type === 'completed' ? `nonce ${ev.nonce} end ${clockOf(ev.end_time)} (${fmtSecs(ev.time_taken)})` :
          ev.type === 'won' ? `won, nonce ${ev.nonce}` :
          ev.type === 'lost' ? (ev.aborted ? `aborted; ${ev.winner} won` : `lost to ${ev.winner} by ${fmtSecs(ev.margin)}`) :
          ev.type === 'ledger_updated' ? `ledger #${ev.entry?.index}` :
          ev.type === 'error' ? ev.error : '';
        const what = ev.tx_id ? `tx ${short(ev.tx_id, 8)} ${extra}` : ev.peer ? `from ${ev.peer}` : extra;
        return el(
          'li',
          { 'data-type': ev.type, style: { '--node': colorOf(ev.node) } },
          el('time', {}, clockOf(ev.at_us)),
          el('b', {}, ev.node),
          el('span.type', {}, ev.type),
          el('span', {}, what),
          ev.replay ? el('i', {}, 'replay') : null,
        );
      }),
    );
  }, 100);
}

// ---------------------------------------------------------------------------- ledger
// On load: /status says how long the ledger is; the newest rows are fetched for the view at
// once, while a Worker checks the whole chain from entry 0, page by page. After a race only the
// new entries are fetched (`from` = the count already checked) and checked onto the known head.
const timings = {}; // ms since navigation: the newest rows shown, the chain fully checked
let ledger = null; // {view, rows, worker, addr}: the ledger shown, read from node `addr`
let ledgerStarting = false;

/** Nodes to read the ledger from, the one that served the page first, live ones next. */
function ledgerAddrs() {
  const live = [...conns.values()].filter((c) => c.state === 'live').map((c) => c.addr);
  const all = [...conns.keys()];
  const first = all.includes(location.host) ? [location.host] : [];
  return [...new Set([...first, ...live, ...all])];
}

async function startLedger() {
  if (ledgerStarting) return;
  ledgerStarting = true;
  try {
    stopLedger();
    let status = null;
    let addr = null;
    for (const a of ledgerAddrs()) {
      try {
        const r = await fetch(`http://${a}/status`, { cache: 'no-store' });
        if (r.ok) {
          status = await r.json();
          addr = a;
          break;
        }
      } catch {
        /* try the next node */
      }
    }
    if (!status) {
      $('#ledger').replaceChildren(el('p.empty', {}, 'Waiting for a node to serve /ledger…'));
      return;
    }
    // Rows come from the node the ledger was read from while it is live, else from another.
    const base = () => {
      const live = (a) => conns.get(a)?.state === 'live';
      return `http://${live(addr) ? addr : [...conns.keys()].find(live) ?? addr}`;
    };
    const rows = new ServerRows(base, () => ledger?.view.schedule());
    const view = new LedgerView($('#ledger'), { rows, check: (e) => (wasm ? wasm.verifyEntry(e) : null) });
    const worker = new Worker(new URL('./ledger-worker.js', import.meta.url), { type: 'module' });
    ledger = { view, rows, worker, addr };
    $('#ledger-from').textContent = `from ${status.node ?? addr}'s /ledger`;
    view.onFirstRows = () => {
      timings.ledgerFirstRows = performance.now();
    };
    worker.onmessage = ({ data: m }) => {
      if (ledger?.worker !== worker) return;
      if (m.type === 'batch') view.batch(m);
      else if (m.type === 'idle') {
        view.finish({ head: m.head, firstBad: m.firstBad, ms: m.ms });
        if (view.complete && timings.ledgerVerified == null) timings.ledgerVerified = performance.now();
      } else if (m.type === 'stalled') {
        view.stalled = m.error;
        view.schedule(false);
      } else if (m.type === 'end') view.finish({ error: m.error });
    };
    worker.onerror = (e) => view.finish({ error: `the checking worker failed: ${e.message}` });
    const total = Number(status.ledger_entries) || 0;
    worker.postMessage({ type: 'server', bases: ledgerAddrs().map((a) => `http://${a}`), total });
    view.setTotal(total);
    view.schedule();
  } finally {
    ledgerStarting = false;
  }
}

function stopLedger() {
  ledger?.worker.terminate();
  ledger = null;
}

/** An entry from a live event: shown at once, and the worker fetches and checks what is new. */
function ledgerLearn(entry) {
  if (!ledger || !Number.isInteger(entry.index)) return;
  ledger.rows.put(entry);
  ledgerGrow(entry.index + 1);
}

function ledgerGrow(n) {
  if (!ledger || !(n > ledger.view.total)) return;
  ledger.view.setTotal(n);
  ledger.worker.postMessage({ type: 'more', total: n });
}

function ledgerOnStatus(addr, status) {
  if (ledger?.addr === addr && Number.isInteger(status.ledger_entries)) ledgerGrow(status.ledger_entries);
}

/** A node (re)connected: start the ledger if it is not shown yet; start over if the node now
 * serves another ledger (shorter, or another entry where ours ended). */
async function ledgerOnConnect(conn) {
  if (!ledger) return startLedger();
  if (ledger.addr !== conn.addr) return;
  try {
    const view = ledger.view;
    const status = await (await fetch(`http://${conn.addr}/status`, { cache: 'no-store' })).json();
    const n = status.ledger_entries;
    const replaced = n < view.total || (view.complete && n === view.total && status.ledger_head && view.head && status.ledger_head !== view.head);
    if (replaced) startLedger();
    else ledgerGrow(n);
  } catch {
    /* the next status poll or event will tell */
  }
}

// ---------------------------------------------------------------------------- send a transaction
async function sendTx(text) {
  const out = $('#send-result');
  const addrs = [...conns.keys()];
  out.replaceChildren(el('span', {}, `sending to ${addrs.length} nodes…`));
  const results = await Promise.all(
    addrs.map(async (addr) => {
      try {
        const r = await fetch(`http://${addr}/tx`, { method: 'POST', body: text });
        const j = await r.json();
        return { addr, ...j };
      } catch (e) {
        return { addr, error: String(e.message ?? e) };
      }
    }),
  );
  out.replaceChildren(
    ...results.map((r) =>
      el(
        'span.send-one',
        { 'data-outcome': r.outcome ?? 'error', style: { '--node': colorOf(r.node) } },
        el('b', {}, r.node ?? r.addr),
        ' ',
        r.error
          ? `✗ ${r.error}`
          : r.outcome === 'won'
            ? `won · nonce ${r.nonce} · ${fmtSecs(r.time_taken)}`
            : r.outcome === 'lost'
              ? `lost to ${r.winner}${r.margin != null ? ` by ${fmtSecs(r.margin)}` : ''}`
              : `${r.outcome}${r.winner ? ` (winner ${r.winner})` : ''}`,
      ),
    ),
  );
}

// ---------------------------------------------------------------------------- mine in the browser
let worker = null;
function mineStart() {
  const data = $('#mine-data').value;
  const bits = Number($('#mine-bits').value);
  mineStop(false);
  const out = $('#mine-out');
  const started = performance.now();
  out.dataset.state = 'running';
  $('#mine-start').disabled = true;
  $('#mine-cancel').disabled = false;
  worker = new Worker(new URL('./miner-worker.js', import.meta.url), { type: 'module' });
  const show = (m, final) => {
    const ms = m.ms ?? performance.now() - started;
    const rate = m.hashes / (ms / 1000);
    $('#mine-nonce').textContent = final ? String(m.nonce) : `trying ${Math.floor(m.next)}…`;
    $('#mine-hashes').textContent = Math.floor(m.hashes).toLocaleString('en');
    $('#mine-rate').textContent = fmtRate(rate);
    $('#mine-time').textContent = fmtUs(ms * 1000);
  };
  worker.onmessage = ({ data: m }) => {
    if (m.type === 'progress') show(m, false);
    else if (m.type === 'found') {
      show(m, true);
      $('#mine-hash').replaceChildren(hashEl(m.hash));
      const again = core.hashHex(data, BigInt(m.nonce));
      const zeroBits = core.leadingZeroBits(again);
      const check = again === m.hash && zeroBits >= bits;
      // Does a node's race on the same transaction agree? (difficulty in bytes = bits / 8)
      const same = [...book.races.values()].find((r) => r.data === data && r.difficulty * 8 === bits && r.winner);
      const nodeNonce = same?.lanes.get(same.winner)?.nonce;
      $('#mine-check').replaceChildren(
        el('span', { class: check ? 'ok' : 'bad' }, check ? `✓ re-hashed: ${zeroBits} leading zero bits ≥ ${bits}` : '✗ re-hash disagrees'),
        nodeNonce != null ? el('span', { class: String(nodeNonce) === String(m.nonce) ? 'ok' : 'bad' }, ` · ${same.winner} found nonce ${nodeNonce} ${String(nodeNonce) === String(m.nonce) ? '✓ same' : '✗ different'}`) : null,
      );
      out.dataset.state = 'found';
      mineStop(false);
    } else if (m.type === 'error') {
      $('#mine-check').textContent = `✗ ${m.error}`;
      out.dataset.state = 'error';
      mineStop(false);
    }
  };
  $('#mine-nonce').textContent = 'starting…';
  $('#mine-hash').textContent = '–';
  $('#mine-check').textContent = '';
  worker.postMessage({ data, bits });
}
function mineStop(cancelled = true) {
  if (worker) {
    worker.terminate();
    worker = null;
    if (cancelled) {
      $('#mine-out').dataset.state = 'cancelled';
      $('#mine-check').textContent = 'cancelled';
    }
  }
  $('#mine-start').disabled = false;
  $('#mine-cancel').disabled = true;
}

// ---------------------------------------------------------------------------- open a ledger.json
// Checked in a Worker that reads the file in slices, so a 600 MB file neither freezes the page
// nor has to fit in memory twice; rows in view are read back from the file by their byte spans.
const mb = (b) => `${((b ?? 0) / 1e6).toFixed(1)} MB`;
let fileJob = null;
function checkFile(file) {
  fileJob?.worker.terminate();
  const box = $('#file-result');
  const holder = el('div.file-view');
  box.replaceChildren(el('h3', {}, file.name, el('span.meta', {}, ` ${num(file.size)} bytes`)), holder);
  delete box.dataset.ok;
  const rows = new FileRows(file, () => view.schedule());
  const view = new LedgerView(holder, {
    rows,
    check: (e) => (wasm ? wasm.verifyEntry(e) : null),
    describe: (v) => `read ${mb(v.bytes)} of ${mb(file.size)} (${file.size ? Math.floor((100 * (v.bytes ?? 0)) / file.size) : 100}%), ${num(v.verified)} entries checked`,
  });
  const worker = new Worker(new URL('./ledger-worker.js', import.meta.url), { type: 'module' });
  fileJob = { worker, view, rows };
  worker.onmessage = ({ data: m }) => {
    if (m.type === 'batch') {
      rows.addSpans(m.from, m.starts, m.lengths);
      view.batch(m);
    } else if (m.type === 'end') {
      view.finish(m);
      box.dataset.ok = String(!m.error && m.firstBad == null);
    }
  };
  worker.onerror = (e) => view.finish({ error: `the checking worker failed: ${e.message}` });
  worker.postMessage({ type: 'file', file });
}

// ---------------------------------------------------------------------------- wiring
$('#nodes-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const list = parseNodes($('#nodes-input').value);
  if (!list) return;
  nodeAddrs = list;
  const u = new URL(location.href);
  u.searchParams.set('nodes', list.join(','));
  history.replaceState(null, '', u);
  connectAll();
  startLedger();
});
$('#send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('#tx-input').value.replace(/[\r\n]+/g, ' ');
  sendTx(text);
});
$('#tx-random').addEventListener('click', () => {
  const words = ['Alice pays Bob', 'Carol pays Dave', 'Erin pays Frank', 'Grace pays Heidi'];
  $('#tx-input').value = `${words[Math.floor(Math.random() * words.length)]} ${(Math.random() * 100).toFixed(2)} coins #${Date.now() % 100000}`;
});
$('#mine-form').addEventListener('submit', (e) => {
  e.preventDefault();
  mineStart();
});
$('#mine-cancel').addEventListener('click', () => mineStop(true));
$('#file-input').addEventListener('change', (e) => {
  const f = e.target.files?.[0];
  if (f) checkFile(f);
});
const drop = $('#drop');
for (const t of ['dragenter', 'dragover']) {
  document.addEventListener(t, (e) => {
    if ([...(e.dataTransfer?.types ?? [])].includes('Files')) {
      e.preventDefault();
      drop.classList.add('over');
    }
  });
}
for (const t of ['dragleave', 'drop']) document.addEventListener(t, () => drop.classList.remove('over'));
document.addEventListener('drop', (e) => {
  const f = e.dataTransfer?.files?.[0];
  if (!f) return;
  e.preventDefault();
  checkFile(f);
  drop.scrollIntoView({ behavior: 'smooth', block: 'start' });
});
$('#ledger-refresh').addEventListener('click', () => startLedger());
$('#align').addEventListener('change', (e) => {
  aligned = e.target.checked;
  $('#races-caption').textContent = aligned
    ? "each bar is one node's search, aligned at its own start, to compare times"
    : "each bar is one node, start → end on the nodes' shared clock; ▏marks when the transaction arrived";
  renderRaces();
});

connectAll();
renderAll();
startLedger();

// For tests and the curious: the page's state.
window.powrace = { book, conns, core, wasmReady, parseTs, timings, ledger: () => ledger, file: () => fileJob };
