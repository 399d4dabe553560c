// What the page does with one node's event: a hello names the node; every other event is logged,
// folded into the race book, and schedules what it changes (the races, the experiment, the
// ledger, the node's /status after a race).
import { book, clock } from './state.js';
import { logEvent } from './event-log.js';
import { ledgerLearn } from './ledger.js';
import { renderNodes } from './node-chips.js';
import { scheduleRender, maybeAnimate } from './timeline.js';
import { scheduleExperiment } from './experiment-panel.js';

/** `ev` arrived on `conn`'s /events stream (connection.js). */
export function onEvent(conn, ev) {
  if (ev.type === 'hello') {
    conn.hello = ev;
    renderNodes();
    return;
  }
  if (!ev.replay && typeof ev.at_us === 'number') clock.offsetUs = ev.at_us - Date.now() * 1000;
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
