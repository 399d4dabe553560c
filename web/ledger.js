// The nodes' ledger on the page. On load: /status says how long the ledger is; the newest rows
// are fetched for the view (ledger-view.js) at once, while a Worker (ledger-worker.js) checks the
// whole chain from entry 0, page by page. After a race only the new entries are fetched (`from` =
// the count already checked) and checked onto the known head.
import { $, el } from './dom.js';
import { stringifyJson } from './json.js';
import { LedgerView, ServerRows } from './ledger-view.js';
import { conns, wasm } from './state.js';

/** ms since navigation: the newest rows shown, the chain fully checked. */
export const timings = {};
let ledger = null; // {view, rows, worker, addr}: the ledger shown, read from node `addr`
let ledgerStarting = false;

/** The ledger shown, {view, rows, worker, addr}, or null. */
export const currentLedger = () => ledger;

/** Nodes to read the ledger from, the one that served the page first, live ones next. */
function ledgerAddrs() {
  const live = [...conns.values()].filter((c) => c.state === 'live').map((c) => c.addr);
  const all = [...conns.keys()];
  const first = all.includes(location.host) ? [location.host] : [];
  return [...new Set([...first, ...live, ...all])];
}

/** Shows the ledger of the first node of ledgerAddrs() that answers /status, from the start. */
export async function startLedger() {
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
export function ledgerLearn(entry) {
  if (!ledger || !Number.isInteger(entry.index)) return;
  ledger.rows.put(entry);
  ledgerGrow(entry.index + 1);
}

function ledgerGrow(n) {
  if (!ledger || !(n > ledger.view.total)) return;
  ledger.view.setTotal(n);
  ledger.worker.postMessage({ type: 'more', total: n });
}

/** A node's /status: the ledger read from it may have grown. */
export function ledgerOnStatus(addr, status) {
  if (ledger?.addr === addr && Number.isInteger(status.ledger_entries)) ledgerGrow(status.ledger_entries);
}

/** A node (re)connected: start the ledger if it is not shown yet; start over if the node now
 * serves another ledger (shorter, or another entry where ours ended). */
export async function ledgerOnConnect(conn) {
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
