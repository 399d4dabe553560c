// The experiment's charts, drawn as SVG by hand (no chart library): win share against hash share
// per node, the race-time histogram with the predicted curve, the difficulty over time, wasted
// work. Each takes the figures of experiment.js and returns an element; every mark carries its
// number in a data- attribute (full precision), so tests read what is drawn.
import { el, colorOf, num } from './dom.js';
import { clockOf, fmtSecs, fmtRate } from './race.js';

const NS = 'http://www.w3.org/2000/svg';
/** Chart width in SVG units (the picture scales to its panel). */
const W = 520;

/** An SVG element: svg('rect.bar', {x: 1}, ...children). */
export function svg(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElementNS(NS, tag);
  if (classes.length) e.setAttribute('class', classes.join(' '));
  for (const [k, v] of Object.entries(attrs)) if (v != null && v !== false) e.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c != null && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

const f3 = (x) => (x == null || !Number.isFinite(x) ? '–' : x.toFixed(3));
const pct = (x, d = 1) => (x == null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(d)}%`);

/** A p-value as the report prints it: 4 decimals, or scientific under 1e-4. */
export const fmtP = (p) => (p == null ? '–' : p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

/** 1, 2 or 5 × 10^k: a step giving about `n` ticks over `span`. */
function niceStep(span, n = 5) {
  const raw = Math.max(span / n, Number.MIN_VALUE);
  const p = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw * 0.999) return m * p;
  return 10 * p;
}
function ticks(lo, hi, n = 5) {
  const step = niceStep(hi - lo || 1, n);
  const out = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return out;
}

const empty = (text, cls = '') => el(`p.empty.chart-empty${cls}`, {}, text);

/** A time tick (seconds) with the decimals its step needs: "250 µs", "2.5 ms", "1.2 s". */
function fmtTickSecs(t, step) {
  const us = t * 1e6;
  const stepUs = step * 1e6;
  const decimals = (unit) => Math.max(0, Math.ceil(-Math.log10(stepUs / unit) - 1e-9));
  if (t === 0) return '0';
  if (stepUs < 1000 && us < 1000) return `${us.toFixed(decimals(1))} µs`;
  if (stepUs < 1e6 && us < 1e6) return `${(us / 1000).toFixed(decimals(1000))} ms`;
  return `${(us / 1e6).toFixed(decimals(1e6))} s`;
}

// ------------------------------------------------------------------------------ win vs hash share

/** Per node: its hash share (the bar: its chance in a fair lottery) and its win share with the
 * 95% Wilson interval (the dot and whisker); a table with the numbers; the fit verdict. */
export function fairnessChart(x) {
  const f = x.fairness;
  if (!f) return el('div.chart', { 'data-chart': 'fairness' }, empty(x.fairnessNote ? `No figure yet: ${x.fairnessNote}.` : 'No race every node took part in yet.'));
  const left = 70;
  const right = W - 14;
  const rowH = 30;
  const top = 22;
  const h = top + f.nodes.length * rowH + 6;
  const sx = (v) => left + v * (right - left);
  const grid = [0, 0.25, 0.5, 0.75, 1].map((t) => [
    svg('line.grid', { x1: sx(t), x2: sx(t), y1: top - 4, y2: h - 4 }),
    svg('text.tick', { x: sx(t), y: 12, 'text-anchor': 'middle' }, t === 0 ? '0' : t === 1 ? '1' : String(t)),
  ]);
  const rows = f.nodes.map((n, i) => {
    const y = top + i * rowH + rowH / 2;
    const c = colorOf(n.name);
    return svg(
      'g.fair-node',
      {
        'data-node': n.name,
        'data-wins': n.wins,
        'data-races': n.races,
        'data-hash-share': n.hash_share,
        'data-win-share': n.win_share,
        'data-win-lo': n.win_interval.lo,
        'data-win-hi': n.win_interval.hi,
        'data-agrees': n.agrees,
        style: `--node:${c}`,
      },
      svg('text.name', { x: 0, y: y + 4 }, n.name),
      svg('rect.hash-bar', { x: sx(0), y: y - 8, width: Math.max(0.5, sx(n.hash_share) - sx(0)), height: 16, rx: 2 }),
      svg('line.hash-mark', { x1: sx(n.hash_share), x2: sx(n.hash_share), y1: y - 11, y2: y + 11 }),
      svg('line.whisker', { x1: sx(n.win_interval.lo), x2: sx(n.win_interval.hi), y1: y, y2: y }),
      svg('line.whisker', { x1: sx(n.win_interval.lo), x2: sx(n.win_interval.lo), y1: y - 5, y2: y + 5 }),
      svg('line.whisker', { x1: sx(n.win_interval.hi), x2: sx(n.win_interval.hi), y1: y - 5, y2: y + 5 }),
      svg('circle.win-dot', { cx: sx(n.win_share), cy: y, r: 4.5 }),
      svg('title', {}, `${n.name}: won ${n.wins} of ${n.races} (${f3(n.win_share)}, 95% ${f3(n.win_interval.lo)}–${f3(n.win_interval.hi)}); hash share ${f3(n.hash_share)}`),
    );
  });
  const pic = svg('svg.chart-svg', { viewBox: `0 0 ${W} ${h}`, role: 'img', 'aria-label': 'win share against hash share per node' }, grid, rows);
  const table = el(
    'table.fair-table',
    {},
    el('thead', {}, el('tr', {}, el('th', {}, 'node'), el('th', {}, 'wins'), el('th', { title: 'wins / races, 95% Wilson interval' }, 'win share [95%]'), el('th', { title: "the node's hashes / its mining time, over the sum of the nodes' rates" }, 'hash share'), el('th', { title: 'races × hash share' }, 'expected'), el('th', { title: 'the hash share lies in the interval' }, 'agrees'))),
    el(
      'tbody',
      {},
      f.nodes.map((n) =>
        el(
          'tr',
          { 'data-node': n.name, style: { '--node': colorOf(n.name) } },
          el('th', {}, el('span.swatch'), n.name),
          el('td.num.wins-label', {}, `${n.wins}/${n.races}`),
          el('td.num.win-label', {}, `${f3(n.win_share)} [${f3(n.win_interval.lo)}, ${f3(n.win_interval.hi)}]`),
          el('td.num.hash-label', { title: `${fmtRate(n.hash_rate)}` }, f3(n.hash_share)),
          el('td.num', {}, n.expected_wins.toFixed(1)),
          el('td.num', { class: `num ${n.agrees ? 'ok' : 'bad'}` }, n.agrees ? 'yes' : 'no'),
        ),
      ),
    ),
  );
  const t = f.test;
  const how = t.method.kind === 'exact_multinomial' ? 'exact multinomial test' : t.method.kind === 'pooled_chi_square' ? 'Pearson χ², small nodes pooled' : 'Pearson χ²';
  const verdict = el(
    'p.verdict',
    { id: 'fit-verdict', 'data-method': t.method.kind, 'data-statistic': t.statistic, 'data-df': t.df, 'data-p-value': t.p_value, 'data-rejected': String(t.rejected) },
    el('strong', { class: t.rejected ? 'bad' : 'ok' }, t.rejected ? 'The hash rates alone do not explain the wins' : 'Consistent with wins following hash rate'),
    ` — ${how} = ${t.statistic.toFixed(3)}, df ${t.df}, p = ${fmtP(t.p_value)} (α ${t.alpha}).`,
  );
  return el('div.chart', { 'data-chart': 'fairness' }, pic, el('p.legend', {}, el('span.key.hash'), ' hash share (a fair lottery’s win chance)  ', el('span.key.win'), ' win share with its 95% interval'), table, verdict, arrivalLine(x));
}

/** Who won by order of starting: the first node to start, against 1/nodes. */
function arrivalLine(x) {
  const a = x.arrival;
  const first = a?.ranks[0];
  if (!first) return null;
  return el(
    'p.arrival',
    { id: 'arrival', 'data-first-share': first.win_share, 'data-p-value': a.test.p_value, 'data-rejected': String(a.test.rejected) },
    `Arrival order: the first node to start won ${pct(first.win_share)} [${pct(first.win_interval.lo)}, ${pct(first.win_interval.hi)}] of the races (1/${a.nodes} = ${pct(1 / a.nodes)} if arrival did not matter); p = ${fmtP(a.test.p_value)}`,
    x.mode === 'lab' ? ' — in a lab race every node searches the same nonces from 0, so the first to start tends to win.' : '.',
  );
}

// ------------------------------------------------------------------------------ race times

/** The histogram of race times (the winner's time), and in lottery mode the count per bin the
 * exponential law predicts (mean 2^bits / total hash rate), as a curve through the bins. */
export function histogramChart(x) {
  const bins = x.histogram ?? [];
  if (!bins.length) return el('div.chart', { 'data-chart': 'race-times' }, empty('No race every node took part in yet.'));
  const rt = x.raceTimes;
  const left = 40;
  const right = W - 10;
  const top = 10;
  const bottom = 190;
  const h = 214;
  const xmax = bins.at(-1).hi || 1;
  const ymax = Math.max(1, ...bins.map((b) => b.observed), ...bins.map((b) => b.predicted ?? 0)) * 1.08;
  const sx = (v) => left + (v / xmax) * (right - left);
  const sy = (v) => bottom - (v / ymax) * (bottom - top);
  const yt = ticks(0, ymax, 4).filter(Number.isInteger); // counts
  const xt = ticks(0, xmax, 5);
  const xstep = xt.length > 1 ? xt[1] - xt[0] : xmax;
  const axis = [
    yt.map((t) => [svg('line.grid', { x1: left, x2: right, y1: sy(t), y2: sy(t) }), svg('text.tick', { x: left - 5, y: sy(t) + 3.5, 'text-anchor': 'end' }, num(t))]),
    xt.map((t) => svg('text.tick', { x: sx(t), y: bottom + 14, 'text-anchor': 'middle' }, fmtTickSecs(t, xstep))),
    svg('line.axis', { x1: left, x2: right, y1: bottom, y2: bottom }),
  ];
  const bars = bins.map((b, i) =>
    svg(
      'rect.bin',
      { x: sx(b.lo) + 0.5, y: sy(b.observed), width: Math.max(0.5, sx(b.hi) - sx(b.lo) - 1), height: bottom - sy(b.observed), 'data-bin': i, 'data-observed': b.observed, 'data-predicted': b.predicted ?? '', 'data-lo': b.lo, 'data-hi': b.hi },
      svg('title', {}, `${fmtSecs(b.lo)} – ${fmtSecs(b.hi)}: ${b.observed} races${b.predicted != null ? `, ${b.predicted.toFixed(1)} predicted` : ''}`),
    ),
  );
  let curve = null;
  if (rt) {
    // The predicted count per bin width, as a smooth curve (pow-core's predicted_curve).
    const pts = rt.curve.map((p) => `${sx(p.t).toFixed(1)},${sy(Math.min(p.count, ymax)).toFixed(1)}`);
    curve = [
      svg('polyline.predicted', { points: pts.join(' '), 'data-predicted-mean': rt.predicted_mean }),
      svg('line.mean-mark', { x1: sx(Math.min(rt.predicted_mean, xmax)), x2: sx(Math.min(rt.predicted_mean, xmax)), y1: top, y2: bottom }),
    ];
  }
  const pic = svg('svg.chart-svg', { viewBox: `0 0 ${W} ${h}`, role: 'img', 'aria-label': 'race-time histogram' }, axis, bars, curve);
  const total = bins.reduce((a, b) => a + b.observed, 0);
  const caption = rt
    ? el(
        'p.caption',
        { 'data-races': rt.races, 'data-ks-p': rt.ks.p_value },
        `${num(rt.races)} races: mean ${fmtSecs(rt.observed_mean)} (predicted ${fmtSecs(rt.predicted_mean)} = 2^bits / ${fmtRate(x.totalHashRate)}), median ${fmtSecs(rt.observed_median)} (predicted ${fmtSecs(rt.predicted_median)}); `,
        el('span', { class: rt.ks.rejected ? 'bad' : 'ok' }, rt.ks.rejected ? 'not exponential as predicted' : 'consistent with the exponential law'),
        ` (Kolmogorov–Smirnov p = ${fmtP(rt.ks.p_value)}).`,
      )
    : el('p.caption', { 'data-races': total }, `${num(total)} races. ${x.raceTimesNote ?? ''}`);
  return el('div.chart', { 'data-chart': 'race-times', 'data-bins': bins.length }, pic, rt ? el('p.legend', {}, el('span.key.bin'), ' observed  ', el('span.key.curve'), ' predicted (exponential)  ', el('span.key.mean'), ' predicted mean') : null, caption);
}

// ------------------------------------------------------------------------------ difficulty

/** The difficulty (zero bits) of every race with a winner, over time on the nodes' clock, as a
 * step line; `next` = {bits, target} from the nodes' /status. */
export function difficultyChart(x, next = {}) {
  const pts = x.difficulty ?? [];
  if (!pts.length) return el('div.chart', { 'data-chart': 'difficulty', 'data-points': 0 }, empty('No race decided yet.'));
  const left = 34;
  const right = W - 10;
  const top = 10;
  const bottom = 130;
  const h = 152;
  const t0 = pts[0].us;
  const t1 = Math.max(t0 + 1, pts.at(-1).us);
  const bitsAll = pts.map((p) => p.bits).concat(next.bits != null ? [next.bits] : []);
  let lo = Math.min(...bitsAll);
  let hi = Math.max(...bitsAll);
  if (hi - lo < 4) {
    lo = Math.max(0, lo - 2);
    hi = lo + 4;
  }
  const sx = (us) => left + ((us - t0) / (t1 - t0)) * (right - left);
  const sy = (b) => bottom - ((b - lo) / (hi - lo)) * (bottom - top);
  // A step line needs only the points where the bits change (and the last): a few points for
  // thousands of races.
  let d = `M${sx(pts[0].us).toFixed(1)},${sy(pts[0].bits).toFixed(1)}`;
  let changes = 0;
  for (let i = 1; i < pts.length; i++) {
    if (pts[i].bits !== pts[i - 1].bits) {
      d += `H${sx(pts[i].us).toFixed(1)}V${sy(pts[i].bits).toFixed(1)}`;
      changes += 1;
    }
  }
  d += `H${sx(pts.at(-1).us).toFixed(1)}`;
  const yt = ticks(lo, hi, 4).filter(Number.isInteger);
  const span = (t1 - t0) / 1e6;
  const xt = [t0, t0 + (t1 - t0) / 2, t1];
  const pic = svg(
    'svg.chart-svg',
    { viewBox: `0 0 ${W} ${h}`, role: 'img', 'aria-label': 'difficulty over time' },
    yt.map((b) => [svg('line.grid', { x1: left, x2: right, y1: sy(b), y2: sy(b) }), svg('text.tick', { x: left - 5, y: sy(b) + 3.5, 'text-anchor': 'end' }, String(b))]),
    xt.map((us, i) => svg('text.tick', { x: sx(us), y: bottom + 15, 'text-anchor': i === 0 ? 'start' : i === 2 ? 'end' : 'middle' }, clockOf(us).slice(0, span < 60 ? 12 : 8))),
    svg('line.axis', { x1: left, x2: right, y1: bottom, y2: bottom }),
    svg('path.bits-line', { d, 'data-points': pts.length, 'data-changes': changes }),
    pts.length <= 400 ? pts.map((p) => svg('circle.bits-dot', { cx: sx(p.us).toFixed(1), cy: sy(p.bits).toFixed(1), r: 2 })) : null,
  );
  const last = pts.at(-1).bits;
  return el(
    'div.chart',
    { 'data-chart': 'difficulty', 'data-points': pts.length, 'data-last-bits': last },
    pic,
    el(
      'p.caption',
      {},
      `${num(pts.length)} races decided, ${changes ? `${changes} change${changes > 1 ? 's' : ''} of difficulty` : 'the difficulty never changed'}; the last at ${last} bits`,
      next.bits != null ? `, the next at ${next.bits} bits` : '',
      next.target != null ? ` (retargeting toward ${fmtSecs(next.target)} per race)` : ' (no retargeting: --target-time is off)',
      '.',
    ),
  );
}

// ------------------------------------------------------------------------------ wasted work

/** Losers' share of all hashes, against 1 − Σ share² (a fair lottery whose losers stop at once). */
export function wastedChart(x) {
  const w = x.wasted;
  if (!w) return el('div.chart', { 'data-chart': 'wasted' }, empty('No race every node took part in yet.'));
  const left = 10;
  const right = W - 10;
  const h = 58;
  const sx = (v) => left + v * (right - left);
  const e = x.expectedWasted;
  // 1 − Σ share² is a lottery's figure (as the report prints it): lab nodes repeat each other's nonces.
  const lottery = x.mode === 'lottery' && e != null;
  const pic = svg(
    'svg.chart-svg',
    { viewBox: `0 0 ${W} ${h}`, role: 'img', 'aria-label': 'wasted work' },
    svg('rect.useful', { x: sx(0), y: 8, width: sx(1 - w.wasted_share) - sx(0), height: 24 }),
    svg('rect.waste', { x: sx(1 - w.wasted_share), y: 8, width: sx(1) - sx(1 - w.wasted_share), height: 24, 'data-share': w.wasted_share }),
    svg('text.bar-label', { x: sx(0) + 6, y: 24 }, `winners ${pct(1 - w.wasted_share)}`),
    svg('text.bar-label.end', { x: sx(1) - 6, y: 24, 'text-anchor': 'end' }, `losers ${pct(w.wasted_share)}`),
    lottery ? [svg('line.expected', { x1: sx(1 - e), x2: sx(1 - e), y1: 3, y2: 37, 'data-expected': e }), svg('text.tick', { x: sx(1 - e), y: 50, 'text-anchor': 'middle' }, `fair lottery, losers stop at once: ${pct(e)} wasted`)] : null,
  );
  const all = w.winner_hashes + w.loser_hashes;
  return el(
    'div.chart',
    { 'data-chart': 'wasted', 'data-share': w.wasted_share, 'data-expected': e ?? '', 'data-losers-stop': String(!!x.losersStop) },
    pic,
    el(
      'p.caption',
      {},
      `Over ${num(w.races)} races the losers computed ${num(w.loser_hashes)} of ${num(all)} hashes (${pct(w.wasted_share)}), thrown away.`,
      lottery ? ` A fair lottery whose losers stop as soon as the race is decided wastes 1 − Σ share² = ${pct(e)}.` : '',
      lottery && !x.losersStop ? ' Here the losers run to their own answer (--on-loss finish), so they waste more; --on-loss abort stops them.' : '',
      x.mode === 'lab' ? ` In a lab race every node searches the same nonces from 0: losers that run to the end repeat the winner's work, (k − 1)/k of it with k nodes (${pct((x.nodes.length - 1) / x.nodes.length)} here).` : '',
    ),
  );
}
