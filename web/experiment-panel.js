// The experiment's panel: the line saying which races the figures cover and the four charts.
// The figures are experiment.js's over the races this page has seen (computed by pow-core's
// statistics in the WebAssembly module, so not before it has loaded), redrawn after races end, at
// most every EXPERIMENT_REDRAW_MS (or four times what the last redraw cost), so thousands of races
// in a batch do not redraw thousands of times.
import { $, num } from './dom.js';
import { experiment } from './experiment.js';
import { fairnessChart, histogramChart, difficultyChart, wastedChart } from './charts.js';
import { book, conns, wasm } from './state.js';
import { renderTotals } from './totals.js';

/** The experiment's figures and charts are redrawn at most this often (more seldom when a redraw
 * costs more: four times its cost). */
export const EXPERIMENT_REDRAW_MS = 250;

let experimentTimer = null;
let experimentCost = 0;
let lastExperimentAt = 0;
let lastFigures = null;

/** Redraws the panel soon: at once if the last redraw was long enough ago, else when it is. */
export function scheduleExperiment() {
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

/** The figures last drawn (for the tests), or null. */
export const figures = () => lastFigures;

/** Draws the totals, and the figures and charts over the races seen once the module has loaded. */
export function renderExperiment() {
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
