// The event log: the newest MAX_LOG events of every node, newest first on the nodes' clock,
// redrawn at most every 100 ms.
import { $, el, short, colorOf } from './dom.js';
import { clockOf, fmtSecs } from './race.js';

export const MAX_LOG = 300;
const eventLog = [];

/** Adds an event to the log. */
export function logEvent(ev) {
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
