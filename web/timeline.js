// The race timeline: a card per transaction, the newest MAX_RACES_SHOWN, with a lane per node
// (received → started → completed → won/lost on one time axis, or each search aligned at its own
// start), a relayed lane's origin, the winner and its ledger entry re-verified; redrawn while a
// race on screen runs.
import { $, el, hashEl, short, colorOf } from './dom.js';
import { clockOf, fmtUs, fmtSecs, fmtRate } from './race.js';
import { stringifyJson } from './json.js';
import { raceMode, raceBits } from './experiment.js';
import { book, nodes, nowServerUs, wasm } from './state.js';

export const MAX_RACES_SHOWN = 30;

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

/** Draws the newest races (or how to send one). */
export function renderRaces() {
  const races = book.newest(MAX_RACES_SHOWN);
  const box = $('#races');
  if (!races.length) {
    box.replaceChildren(el('p.empty', {}, 'No races yet. Send a transaction above, or with nc: ', el('code', {}, `echo "hello" | nc -q1 ${nodes.addrs[0]?.replace(':', ' ')}`)));
    return;
  }
  box.replaceChildren(...races.map(raceCard));
}

let renderQueued = false;
/** Draws the races at the next frame (once, however many events arrive before it). */
export function scheduleRender() {
  if (renderQueued) return;
  renderQueued = true;
  requestAnimationFrame(() => {
    renderQueued = false;
    renderRaces();
  });
}

let animating = false;
/** While a race on screen runs, redraws the races every 80 ms or so, so its bars grow. */
export function maybeAnimate() {
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

/** Bars on the nodes' shared clock (false) or each search from its own start (true). */
export function setAligned(on) {
  aligned = on;
  $('#races-caption').textContent = aligned
    ? "each bar is one node's search, aligned at its own start, to compare times"
    : "each bar is one node, start → end on the nodes' shared clock; ▏marks when the transaction arrived";
  renderRaces();
}
