// powrace dashboard: live race view over every node's /events WebSocket (the nodes found through
// the serving node's /cluster), the experiment's figures and charts over the races seen, a batch
// of races, the ledger re-verified by pow-core compiled to WebAssembly (in a Worker, page by
// page, shown in a virtual table), a browser miner, and a ledger.json checker.
//
// The entry point: loads the WebAssembly module, starts the timers, wires the forms to the
// modules that do the work, and finds the nodes. The page's modules, by what they serve:
//   state.js             the shared state: races, connections, the node list, the module
//   addresses.js         node addresses: ?nodes= and the field, /cluster's, the default ports
//   cluster.js           which nodes: fixed, from /cluster (asked again), or the default ports
//   connection.js        one node's /events WebSocket with backoff, and its /status
//   events.js            what one event changes
//   node-chips.js        the node chips and where the list came from
//   timeline.js          the race cards: a lane per node on one time axis
//   totals.js            the totals table
//   experiment-panel.js  the experiment's scope line and four charts, redrawn at a bounded rate
//   event-log.js         the event log
//   ledger.js            the nodes' ledger: first rows, the check in a worker, live updates
//   ledger-file.js       a ledger.json from disk, checked in a worker
//   send.js              a transaction to every node
//   batch-form.js        the batch form and its progress
//   miner.js             the browser miner
// and below them race.js, experiment.js, charts.js, batch.js, ledger-view.js, json.js, dom.js.
import init, * as core from './pkg/powrace_web.js';
import { parseTs } from './race.js';
import { $ } from './dom.js';
import { randomTx, MAX_BATCH, MAX_RATE } from './batch.js';
import { parseNodes } from './addresses.js';
import { book, conns, nodes, wasmLoaded } from './state.js';
import { CLUSTER_POLL_MS, connectAll, discover, findNodes, useNodes } from './cluster.js';
import { renderNodes, renderNodesWhileDown } from './node-chips.js';
import { renderRaces, setAligned } from './timeline.js';
import { renderExperiment, figures } from './experiment-panel.js';
import { startLedger, currentLedger, timings } from './ledger.js';
import { checkFile, currentFile } from './ledger-file.js';
import { sendTx } from './send.js';
import { startBatch, stopBatch, currentBatch } from './batch-form.js';
import { mineStart, mineStop } from './miner.js';

function renderAll() {
  renderNodes();
  renderRaces();
  renderExperiment();
}

const wasmReady = init()
  .then(() => {
    wasmLoaded(core);
    $('#wasm-status').textContent = `pow-core ${core.kernelName()} kernel loaded (WebAssembly)`;
    $('#wasm-status').classList.add('ok');
    renderAll();
  })
  .catch((e) => {
    $('#wasm-status').textContent = `WebAssembly failed to load: ${e}`;
    $('#wasm-status').classList.add('bad');
  });

setInterval(discover, CLUSTER_POLL_MS);
setInterval(renderNodesWhileDown, 500);

// ---------------------------------------------------------------------------- wiring
$('#nodes-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const list = parseNodes($('#nodes-input').value);
  const u = new URL(location.href);
  if (!list) {
    // An empty field: find the nodes through /cluster again.
    u.searchParams.delete('nodes');
    history.replaceState(null, '', u);
    findNodes();
    return;
  }
  u.searchParams.set('nodes', list.join(','));
  history.replaceState(null, '', u);
  useNodes(list);
});
$('#batch-form').addEventListener('submit', (e) => {
  e.preventDefault();
  startBatch();
});
$('#batch-stop').addEventListener('click', () => stopBatch());
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
$('#align').addEventListener('change', (e) => setAligned(e.target.checked));

if (nodes.source.kind === 'param') {
  connectAll();
  startLedger();
} else discover();
renderAll();

// For tests and the curious: the page's state.
window.powrace = { book, conns, core, wasmReady, parseTs, timings, ledger: currentLedger, file: currentFile, figures, batch: currentBatch, redraw: renderExperiment };
