// powrace dashboard: live race view over every node's /events WebSocket (the nodes found through
// the serving node's /cluster), the experiment's figures and charts over the races seen, a batch
// of races, the ledger re-verified by pow-core compiled to WebAssembly (in a Worker, page by
// page, shown in a virtual table), a browser miner, and a ledger.json checker.
import init, * as core from './pkg/powrace_web.js';
import { RaceBook, parseTs, clockOf, fmtUs, fmtSecs, fmtRate } from './race.js';
import { $, el, hashEl, short, colorOf, num } from './dom.js';
import { LedgerView, ServerRows, FileRows } from './ledger-view.js';
import { parseJson, stringifyJson } from './json.js';
import { experiment, raceMode, raceBits } from './experiment.js';
import { fairnessChart, histogramChart, difficultyChart, wastedChart } from './charts.js';
import { Batch, randomTx, MAX_BATCH, MAX_RATE } from './batch.js';

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
/** A node's address as /cluster gives it, reachable from this page: a node listening on every
 * address (0.0.0.0, ::) is reached at the host the page came from. */
function reachable(addr) {
  const m = /^(?:\[(.*)\]|([^:]*)):(\d+)$/.exec(addr ?? '');
  if (!m) return addr;
  const host = m[1] ?? m[2];
  if (['0.0.0.0', '::', ''].includes(host)) {
    const here = location.protocol.startsWith('http') ? location.hostname : '127.0.0.1';
    return `${here.includes(':') && !here.startsWith('[') ? `[${here}]` : here}:${m[3]}`;
  }
  return m[1] != null ? `[${host}]:${m[3]}` : addr;
}
const params = new URLSearchParams(location.search);
// `?nodes=` (or the field) fixes the nodes; without it they are found through /cluster.
const fixedNodes = parseNodes(params.get('nodes'));
let nodeAddrs = fixedNodes ?? [];
/** Where the node list came from: 'param' (?nodes= or the field), 'cluster' (GET /cluster of
 * `from`; `cluster` is "etcd" or null for one process), or 'default' (no /cluster answered). */
let nodeSource = fixedNodes ? { kind: 'param' } : { kind: 'pending' };

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
/** After a race a node's /status is asked again (its difficulty may have moved), at most this
 * often per node. */
const STATUS_AFTER_RACE_MS = 300;
/** How often the node list is asked of /cluster again (nodes join and leave). */
const CLUSTER_POLL_MS = 5000;
/** The experiment's figures and charts are redrawn at most this often (more seldom when a redraw
 * costs more: four times its cost). */
const EXPERIMENT_REDRAW_MS = 250;
const MAX_RACES_SHOWN = 30;
const MAX_LOG = 300;

/** One node's /events stream, reconnecting with exponential backoff. */
class NodeConn {
  constructor(addr, clusterName = null) {
    this.addr = addr;
    this.clusterName = clusterName; // the name /cluster gave, until the node says its own
    this.state = 'connecting';
    this.attempt = 0;
    this.hello = null;
    this.status = null;
    this.closed = false;
    this.connect();
    this.poll = setInterval(() => this.fetchStatus(), STATUS_POLL_MS);
  }
  get name() {
    return this.hello?.node ?? this.status?.node ?? this.clusterName ?? null;
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
        ev = parseJson(m.data); // a lottery nonce may pass 2^53
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
  /** Asks /status again soon (after a race), at most every STATUS_AFTER_RACE_MS. */
  statusSoon() {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      this.fetchStatus();
    }, STATUS_AFTER_RACE_MS);
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
    clearTimeout(this.statusTimer);
    clearInterval(this.poll);
    this.ws?.close();
  }
}

function connectAll() {
  for (const c of conns.values()) c.close();
  conns.clear();
  for (const a of nodeAddrs) conns.set(a, new NodeConn(a));
  showNodeList();
  renderNodes();
}

function showNodeList() {
  const input = $('#nodes-input');
  if (document.activeElement !== input) input.value = nodeAddrs.join(', ');
}

// ---------------------------------------------------------------------------- the cluster
/** The node list from GET /cluster: of the node that served the page, else of any live node.
 * Returns {from, cluster, nodes: [{name, addr}]} or null. */
async function fetchCluster() {
  const served = location.protocol.startsWith('http') ? location.host : null;
  const live = [...conns.values()].filter((c) => c.state === 'live').map((c) => c.addr);
  for (const a of new Set([served, ...live].filter(Boolean))) {
    try {
      const r = await fetch(`http://${a}/cluster`, { cache: 'no-store' });
      if (!r.ok) continue;
      const j = await r.json();
      if (!Array.isArray(j.nodes)) continue;
      const nodes = j.nodes.filter((n) => typeof n?.addr === 'string').map((n) => ({ name: n.name ?? null, addr: reachable(n.addr) }));
      return { from: a, cluster: j.cluster ?? null, nodes };
    } catch {
      /* the next one */
    }
  }
  return null;
}

/** Connects to the nodes /cluster lists: new ones are added, ones that left are closed. */
async function discover() {
  if (nodeSource.kind === 'param') return;
  const found = await fetchCluster();
  if (nodeSource.kind === 'param') return; // the field was used meanwhile
  if (!found || !found.nodes.length) {
    // No /cluster (a page opened from elsewhere, an older node): the default three, until one answers.
    if (nodeSource.kind === 'pending') {
      nodeSource = { kind: 'default' };
      nodeAddrs = defaultNodes();
      connectAll();
      startLedger();
    }
    return;
  }
  const first = !conns.size;
  const wanted = new Map(found.nodes.map((n) => [n.addr, n.name]));
  for (const [addr, c] of conns) {
    if (!wanted.has(addr)) {
      c.close();
      conns.delete(addr);
    }
  }
  for (const [addr, name] of wanted) {
    if (!conns.has(addr)) conns.set(addr, new NodeConn(addr, name));
    else if (name) conns.get(addr).clusterName = name;
  }
  nodeSource = { kind: 'cluster', from: found.from, cluster: found.cluster };
  nodeAddrs = [...wanted.keys()];
  showNodeList();
  renderNodes();
  scheduleExperiment();
  if (first) startLedger();
}
setInterval(discover, CLUSTER_POLL_MS);

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
  if (!ev.replay && (ev.type === 'won' || ev.type === 'lost')) conn.statusSoon();
  if (race) {
    scheduleRender();
    maybeAnimate();
    if (['won', 'lost', 'ledger_updated', 'error'].includes(ev.type)) scheduleExperiment();
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
  });
}
function renderAll() {
  renderNodes();
  renderRaces();
  renderExperiment();
}

// ---------------------------------------------------------------------------- the experiment
// Figures over the races this page has seen (experiment.js; computed by pow-core's statistics in
// the WebAssembly module, so not before it has loaded), redrawn after races end, at most every
// EXPERIMENT_REDRAW_MS (or four times what the last redraw cost), so thousands of races in a
// batch do not redraw thousands of times.
let experimentTimer = null;
let experimentCost = 0;
let lastExperimentAt = 0;
function scheduleExperiment() {
  if (experimentTimer) return;
  const gap = Math.max(EXPERIMENT_REDRAW_MS, 4 * experimentCost);
  const wait = Math.max(0, lastExperimentAt + gap - performance.now());
  experimentTimer = setTimeout(() => {
    experimentTimer = null;
    renderExperiment();
  }, wait);
}

/** The nodes the figures are over: every node of the page's cluster, by name. */
function clusterNames() {
  return [...conns.values()].map((c) => c.name).filter(Boolean);
}

let lastFigures = null;
function renderExperiment() {
  const t0 = performance.now();
  renderTotals();
  if (!wasm) return; // drawn once the module has loaded (wasmReady renders everything)
  const x = experiment(book.races.values(), clusterNames());
  lastFigures = x;
  const statuses = [...conns.values()].map((c) => c.status ?? c.hello ?? {});
  const nextBits = [...new Set(statuses.map((s) => s.difficulty_bits).filter((b) => b != null))];
  const target = statuses.map((s) => s.target_time_s).find((t) => t != null) ?? null;
  const names = x.nodes.join(', ') || 'none yet';
  const other = Object.entries(x.otherModes)
    .filter(([, n]) => n > 0)
    .map(([m, n]) => `${num(n)} ${m} race${n > 1 ? 's' : ''}`);
  const scope = $('#experiment-scope');
  scope.dataset.races = String(x.races);
  scope.dataset.leftOut = String(x.leftOut);
  scope.dataset.mode = x.mode ?? '';
  scope.dataset.running = String(x.running);
  scope.replaceChildren(
    x.mode
      ? `These figures cover the ${num(x.races)} ${x.mode} race${x.races === 1 ? '' : 's'} this page has seen in which every node (${names}) took part: each node's recent history, replayed when the page connected, and every race since. `
      : `No race seen yet: the figures cover the races this page sees (each node's recent history, replayed when the page connects, and every race since) in which every node (${names}) takes part. `,
    x.leftOut ? `${num(x.leftOut)} more ${x.leftOut === 1 ? 'was' : 'were'} left out (not every one of these nodes took part, or one failed). ` : '',
    x.running ? `${num(x.running)} running. ` : '',
    other.length ? `Also seen, not shown: ${other.join(', ')}. ` : '',
    `Tests at α = ${x.alpha}, as node-server report.`,
  );
  $('#chart-fairness').replaceChildren(fairnessChart(x));
  $('#chart-times').replaceChildren(histogramChart(x));
  $('#chart-difficulty').replaceChildren(difficultyChart(x, { bits: nextBits.length === 1 ? nextBits[0] : null, target }));
  $('#chart-wasted').replaceChildren(wastedChart(x));
  lastExperimentAt = performance.now();
  experimentCost = lastExperimentAt - t0;
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
        // /status is asked after every race, so its figures are the freshest; hello's until then.
        const pick = (k) => s[k] ?? h[k];
        const race = pick('race');
        const bits = pick('difficulty_bits');
        const cap = pick('hash_rate_cap');
        const target = pick('target_time_s');
        detail = [
          el('span.race-mode', { 'data-race': race ?? '', title: race === 'lottery' ? 'lottery: searches its own part of the nonce space; the first valid nonce wins' : 'lab: every node searches from nonce 0; the smallest nonce wins' }, race ?? 'lab'),
          ' · ',
          el('span.bits', { 'data-bits': bits ?? '', title: `the next race's difficulty${target != null ? `, retargeted toward ${fmtSecs(target)} per race` : ''}` }, bits != null ? `${bits} bits` : `difficulty ${pick('difficulty') ?? '?'}`),
          target != null ? el('span.target', {}, ` (→ ${fmtSecs(target)})`) : null,
          ' · ',
          `${pick('kernel') ?? '?'} ×`,
          el('span.threads', { 'data-threads': pick('threads') ?? '', title: 'search threads' }, String(pick('threads') ?? '?')),
          ' · ',
          el('span.cap', { 'data-cap': cap ?? '', title: 'hash-rate cap (--hashrate)' }, cap ? `cap ${fmtRate(cap)}` : 'no cap'),
          s.races != null ? ` · ${s.races} races` : '',
          s.in_flight ? ` · ${s.in_flight} mining` : '',
        ];
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
  const from =
    nodeSource.kind === 'cluster'
      ? ` · found through ${nodeSource.from}/cluster (${nodeSource.cluster === 'etcd' ? 'the etcd cluster' : "that node's process"})`
      : nodeSource.kind === 'param'
        ? ' · as given (empty the field to find them through /cluster)'
        : nodeSource.kind === 'default'
          ? ' · the default ports (no /cluster answered)'
          : '';
  const summary = $('#nodes-summary');
  summary.textContent = nodeSource.kind === 'pending' ? 'finding the nodes…' : `${live}/${conns.size} nodes live${from}`;
  summary.dataset.all = String(live === conns.size);
  summary.dataset.source = nodeSource.kind;
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
  const starts = lanes.flatMap((l) => [l.receivedUs, l.startUs, align ? null : l.originUs]).filter((x) => x != null);
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
    const check = wasm ? wasm.verifyEntry(stringifyJson(entry)) : null;
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
    // Relayed from another host: where it arrived first, so the head start there is visible.
    const origin =
      l.relayFrom && l.originUs != null && !align
        ? el('span.origin', { style: { left: pct(l.originUs), '--from': colorOf(l.relayFrom) }, title: `reached ${l.relayFrom} at ${clockOf(l.originUs)}` })
        : null;
    const relay = l.relayFrom
      ? el(
          'span.relay',
          { title: `relayed from ${l.relayFrom}: it reached ${l.relayFrom}${l.originUs != null ? ` at ${clockOf(l.originUs)}` : ''} and here at ${clockOf(l.receivedUs)}` },
          `↪ relayed from ${l.relayFrom}`,
          l.originUs != null && l.receivedUs != null ? ` +${fmtUs(l.receivedUs - l.originUs)}` : '',
        )
      : null;
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
      { 'data-node': l.node, 'data-outcome': l.outcome, 'data-relayed-from': l.relayFrom ?? null, style: { '--node': color } },
      el('div.lane-name', {}, el('span.swatch'), l.node),
      el('div.track', {}, origin, recv, bar),
      el(
        'div.lane-info',
        {},
        relay,
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
      el('span.meta', {}, `tx ${short(race.tx_id, 12)} · ${raceMode(race)} · ${raceBits(race) ?? '?'} bits`),
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
  const races = book.newest(MAX_RACES_SHOWN);
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
  // Only the races on screen are animated.
  const anyRunning = () => book.newest(MAX_RACES_SHOWN).some((r) => [...r.lanes.values()].some((l) => l.startUs != null && l.endUs == null && !['error', 'aborted'].includes(l.outcome)));
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
    const view = new LedgerView($('#ledger'), { rows, check: (e) => (wasm ? wasm.verifyEntry(stringifyJson(e)) : null) });
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
/** Sends `text` to every node at once (POST /tx); one reply per node, or {addr, error}. */
function sendToAll(text) {
  return Promise.all(
    [...conns.keys()].map(async (addr) => {
      try {
        const r = await fetch(`http://${addr}/tx`, { method: 'POST', body: text });
        const j = parseJson(await r.text());
        return { addr, ...j };
      } catch (e) {
        return { addr, error: String(e.message ?? e) };
      }
    }),
  );
}

async function sendTx(text) {
  const out = $('#send-result');
  out.replaceChildren(el('span', {}, `sending to ${conns.size} nodes…`));
  const results = await sendToAll(text);
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

// ---------------------------------------------------------------------------- a batch of races
let batch = null;
let batchDrawQueued = false;
function startBatch() {
  const count = Number($('#batch-count').value);
  const rate = Number($('#batch-rate').value);
  const numbered = $('#batch-kind').value === 'numbered';
  const out = $('#batch-progress');
  let b;
  try {
    // A label no earlier batch used: the transactions must be new to be raced.
    const tag = Math.floor(Math.random() * 0xffff).toString(16).padStart(4, '0');
    b = new Batch({ count, rate, numbered, label: `batch ${new Date().toISOString().slice(11, 19)}.${tag}`, send: sendToAll, onProgress: drawBatchSoon });
  } catch (e) {
    out.dataset.state = 'error';
    $('#batch-text').textContent = `✗ ${e.message}`;
    return;
  }
  batch = b;
  $('#batch-start').disabled = true;
  $('#batch-stop').disabled = false;
  drawBatch();
  b.run().then(() => {
    if (batch === b) {
      $('#batch-start').disabled = false;
      $('#batch-stop').disabled = true;
    }
    drawBatch();
  });
}
function drawBatchSoon() {
  if (batchDrawQueued) return;
  batchDrawQueued = true;
  requestAnimationFrame(() => {
    batchDrawQueued = false;
    drawBatch();
  });
}
function drawBatch() {
  const b = batch;
  if (!b) return;
  const out = $('#batch-progress');
  const state = b.done ? (b.stopped ? 'stopped' : 'done') : b.stopped ? 'stopping' : 'running';
  Object.assign(out.dataset, { state, sent: String(b.sent), answered: String(b.answered), failed: String(b.failed), retried: String(b.retried), count: String(b.count) });
  const bar = $('#batch-bar');
  bar.max = b.count;
  bar.value = b.answered;
  const secs = ((b.finishedAt ?? performance.now()) - b.startedAt) / 1000;
  const wins = [...b.wins].sort((x, y) => x[0].localeCompare(y[0], undefined, { numeric: true }));
  $('#batch-text').replaceChildren(
    el('b', {}, state === 'running' ? 'running' : state),
    ` · sent ${num(b.sent)} of ${num(b.count)} · answered ${num(b.answered)}`,
    wins.length ? ' · won: ' : '',
    ...wins.flatMap(([n, w], i) => [i ? ', ' : '', el('span.batch-win', { style: { '--node': colorOf(n) }, 'data-node': n }, `${n} ${num(w)}`)]),
    b.retried ? ` · ${num(b.retried)} sent again (the node said withdrawn or busy)` : '',
    b.failed ? el('span.bad', {}, ` · ${num(b.failed)} with an error (${b.errors[0]})`) : '',
    ` · ${secs.toFixed(1)} s${b.answered && secs > 0 ? ` (${(b.answered / secs).toFixed(1)}/s)` : ''}`,
    b.behind && !b.done ? ` · ${b.inFlight} awaiting replies: slower than ${b.rate}/s` : '',
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
    check: (e) => (wasm ? wasm.verifyEntry(stringifyJson(e)) : null),
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
  const u = new URL(location.href);
  if (!list) {
    // An empty field: find the nodes through /cluster again.
    u.searchParams.delete('nodes');
    history.replaceState(null, '', u);
    nodeSource = { kind: 'pending' };
    for (const c of conns.values()) c.close();
    conns.clear();
    renderNodes();
    discover();
    return;
  }
  nodeAddrs = list;
  nodeSource = { kind: 'param' };
  u.searchParams.set('nodes', list.join(','));
  history.replaceState(null, '', u);
  connectAll();
  startLedger();
});
$('#batch-form').addEventListener('submit', (e) => {
  e.preventDefault();
  startBatch();
});
$('#batch-stop').addEventListener('click', () => batch?.stop());
$('#batch-count').max = String(MAX_BATCH);
$('#batch-rate').max = String(MAX_RATE);
$('#send-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('#tx-input').value.replace(/[\r\n]+/g, ' ');
  sendTx(text);
});
$('#tx-random').addEventListener('click', () => {
  $('#tx-input').value = randomTx();
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

if (nodeSource.kind === 'param') {
  connectAll();
  startLedger();
} else discover();
renderAll();

// For tests and the curious: the page's state.
window.powrace = { book, conns, core, wasmReady, parseTs, timings, ledger: () => ledger, file: () => fileJob, figures: () => lastFigures, batch: () => batch, redraw: renderExperiment };
