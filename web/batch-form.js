// The batch form: N transactions at R per second sent to every node (batch.js paces them), its
// progress, wins per node and errors.
import { $, el, colorOf, num } from './dom.js';
import { Batch } from './batch.js';
import { sendToAll } from './send.js';

let batch = null;
let batchDrawQueued = false;

/** The batch last started (for the tests), or null. */
export const currentBatch = () => batch;

/** Starts a batch as the form says (or says why it cannot). */
export function startBatch() {
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

/** Sends nothing more; the batch ends when what was sent is answered. */
export function stopBatch() {
  batch?.stop();
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
