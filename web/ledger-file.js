// A ledger.json opened from disk or dropped on the page, checked in a Worker (ledger-worker.js)
// that reads the file in slices, so a 600 MB file neither freezes the page nor has to fit in
// memory twice; rows in view are read back from the file by their byte spans.
import { $, el, num } from './dom.js';
import { stringifyJson } from './json.js';
import { LedgerView, FileRows } from './ledger-view.js';
import { wasm } from './state.js';

const mb = (b) => `${((b ?? 0) / 1e6).toFixed(1)} MB`;
let fileJob = null;

/** The file being checked, {worker, view, rows}, or null. */
export const currentFile = () => fileJob;

/** Checks `file` (a File) and shows it in a ledger view of its own. */
export function checkFile(file) {
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
