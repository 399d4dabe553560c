// powrace dashboard: live race view over every node's /events WebSocket, the ledger re-verified
// by pow-core compiled to WebAssembly, a browser miner, and a ledger.json checker.
import init, * as core from './pkg/powrace_web.js';
import { RaceBook, parseTs, clockOf, fmtUs, fmtSecs, fmtRate } from './race.js';

// ---------------------------------------------------------------------------- small helpers
const $ = (sel, root = document) => root.querySelector(sel);

/** el('div.cls', {attr}, ...children): a DOM element; strings become text (never HTML). */
function el(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElement(tag || 'div');
  if (classes.length) e.className = classes.join(' ');
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v == null || v === false) continue;
    if (k === 'style' && typeof v === 'object') {
      for (const [p, x] of Object.entries(v)) if (x != null) e.style.setProperty(p.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase()), x);
    }
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

/** A hash with its leading zero digits set apart. */
function hashEl(hex, cls = 'hash') {
  if (!hex) return el('span.' + cls, {}, '–');
  const zeros = /^0*/.exec(hex)[0];
  return el('code.' + cls, { title: hex }, el('span.zeros', {}, zeros), hex.slice(zeros.length));
}

const short = (hex, n = 10) => (hex ? `${hex.slice(0, n)}…` : '');
const colorOf = (name) => {
  const m = /(\d+)$/.exec(name ?? '');
  const palette = ['#2563eb', '#9333ea', '#0d9488', '#ea580c', '#db2777', '#65a30d', '#0891b2', '#a16207'];
  if (m) return palette[(Number(m[1]) - 1 + palette.length) % palette.length];
  let h = 0;
  for (const c of name ?? '') h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return palette[h % palette.length];
};

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
      scheduleLedger();
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
  if (ev.type === 'ledger_updated' || ev.type === 'won') scheduleLedger();
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
  renderLedger();
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
let ledgerTimer = null;
let ledgerText = null;
let ledgerFrom = null;
function scheduleLedger() {
  clearTimeout(ledgerTimer);
  ledgerTimer = setTimeout(fetchLedger, 150);
}
async function fetchLedger() {
  const live = [...conns.values()].filter((c) => c.state === 'live');
  for (const c of live.length ? live : conns.values()) {
    try {
      const r = await fetch(`http://${c.addr}/ledger`, { cache: 'no-store' });
      if (!r.ok) continue;
      ledgerText = await r.text();
      ledgerFrom = c.name ?? c.addr;
      renderLedger();
      return;
    } catch {
      /* try the next node */
    }
  }
}

function ledgerTable(result, { highlightTx } = {}) {
  const mark = (row) =>
    row.status === 'ok' ? el('span.mark.ok', { title: 'verified by pow-core in your browser' }, '✓') :
    row.status === 'bad' ? el('span.mark.bad', {}, '✗') :
    el('span.mark.warn', { title: row.reason }, '⚠');
  return el(
    'table.ledger',
    {},
    el('thead', {}, el('tr', {}, ...['#', 'check', 'node', 'transaction', 'nonce', 'hash', 'time', 'start → end (UTC)'].map((h) => el('th', {}, h)))),
    el(
      'tbody',
      {},
      [...result.entries].reverse().map((row) =>
        el(
          'tr',
          { 'data-status': row.status, 'data-position': String(row.position), 'data-tx': row.transaction_data ?? '', class: highlightTx && row.transaction_data === highlightTx ? 'hl' : null },
          el('td.num', {}, String(row.index ?? row.position)),
          el('td.check', {}, mark(row), row.reason ? el('div.reason', {}, row.reason) : null),
          el('td', { style: { '--node': colorOf(row.node) } }, el('span.swatch'), String(row.node ?? '–')),
          el('td.data', { title: String(row.transaction_data ?? '') }, String(row.transaction_data ?? '–')),
          el('td.num', {}, String(row.nonce ?? '–')),
          el('td', {}, hashEl(typeof row.hash === 'string' ? row.hash : null)),
          el('td.num', {}, typeof row.time_taken === 'number' ? fmtSecs(row.time_taken) : '–'),
          el('td.times', {}, `${clockOf(row.start_time) || '–'} → ${clockOf(row.end_time) || '–'}`, el('div.date', {}, String(row.start_time ?? '').slice(0, 10))),
        ),
      ),
    ),
  );
}

function summaryLine(result) {
  if (result.error) return el('p.summary.bad', {}, `✗ ${result.error}`);
  const n = (s) => result.entries.filter((e) => e.status === s).length;
  if (result.ok) {
    return el('p.summary.ok', {}, `✓ ${result.count} ${result.count === 1 ? 'entry' : 'entries'}, chain intact, every proof of work re-checked by pow-core in your browser. Head `, hashEl(result.head));
  }
  return el(
    'p.summary.bad',
    {},
    `✗ entry ${result.first_bad} is the first bad entry: ${result.entries[result.first_bad]?.reason}. `,
    `${n('ok')} ✓ before it, ${n('bad')} ✗, ${n('after_break')} ⚠ after the break.`,
  );
}

function renderLedger() {
  const box = $('#ledger');
  if (ledgerText == null) {
    box.replaceChildren(el('p.empty', {}, 'Waiting for a node to serve /ledger…'));
    return;
  }
  if (!wasm) {
    box.replaceChildren(el('p.empty', {}, 'Loading the WebAssembly verifier…'));
    return;
  }
  const result = wasm.verifyLedger(ledgerText);
  $('#ledger-from').textContent = ledgerFrom ? `from ${ledgerFrom}'s /ledger` : '';
  box.replaceChildren(summaryLine(result), result.count ? ledgerTable(result) : el('p.empty', {}, 'The ledger is empty.'));
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
async function checkFile(file) {
  const box = $('#file-result');
  const text = await file.text();
  await wasmReady;
  if (!wasm) return;
  const result = wasm.verifyLedger(text);
  box.replaceChildren(
    el('h3', {}, file.name, el('span.meta', {}, ` ${file.size.toLocaleString('en')} bytes`)),
    summaryLine(result),
    result.count ? ledgerTable(result) : null,
  );
  box.dataset.ok = String(result.ok);
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
  scheduleLedger();
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
$('#ledger-refresh').addEventListener('click', fetchLedger);
$('#align').addEventListener('change', (e) => {
  aligned = e.target.checked;
  $('#races-caption').textContent = aligned
    ? "each bar is one node's search, aligned at its own start, to compare times"
    : "each bar is one node, start → end on the nodes' shared clock; ▏marks when the transaction arrived";
  renderRaces();
});

connectAll();
renderAll();
wasmReady.then(() => scheduleLedger());

// For tests and the curious: the page's state.
window.powrace = { book, conns, core, wasmReady, parseTs };
