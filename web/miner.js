// The browser miner: a puzzle solved in a Worker (miner-worker.js; cancel = terminate), the
// nonce found re-hashed here and compared with a node's race on the same transaction.
import * as core from './pkg/powrace_web.js';
import { $, el, hashEl } from './dom.js';
import { fmtUs, fmtRate } from './race.js';
import { book } from './state.js';

let worker = null;

/** Mines the form's data at the form's bits. */
export function mineStart() {
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

/** Stops the miner; `cancelled` says so on the page. */
export function mineStop(cancelled = true) {
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
