// The totals table: per node, wins out of races, its times, hash rate and margins, from the race
// book (race.js).
import { $, el, colorOf } from './dom.js';
import { fmtSecs, fmtRate } from './race.js';
import { book } from './state.js';

/** Draws the totals of every race seen. */
export function renderTotals() {
  const rows = book.totals();
  const tbody = $('#totals tbody');
  if (!rows.length) {
    tbody.replaceChildren(el('tr', {}, el('td.empty', { colspan: 6 }, 'Totals appear after the first race.')));
    return;
  }
  const best = Math.max(...rows.map((r) => r.wins));
  tbody.replaceChildren(
    ...rows.map((r) =>
      el(
        'tr',
        { 'data-node': r.node, style: { '--node': colorOf(r.node) } },
        el('th', {}, el('span.swatch'), r.node),
        el('td.num', { 'data-leader': String(r.wins === best && best > 0) }, el('span.wins', {}, String(r.wins)), el('small', {}, ` / ${r.races}`)),
        el('td.num', {}, fmtSecs(r.mean)),
        el('td.num', {}, fmtSecs(r.median)),
        el('td.num', {}, fmtRate(r.rate)),
        el('td.num', {}, r.margins.length ? fmtSecs(r.margins.reduce((a, b) => a + b, 0) / r.margins.length) : '–'),
      ),
    ),
  );
}
