// The node chips: one per node (its state; when live, its race mode, next difficulty, kernel,
// threads and hash-rate cap from its hello and /status) and the line saying where the list came
// from.
import { $, el, colorOf } from './dom.js';
import { fmtSecs, fmtRate } from './race.js';
import { conns, nodes } from './state.js';

/** Draws every node's chip and the summary line above them. */
export function renderNodes() {
  const box = $('#nodes');
  box.replaceChildren(
    ...[...conns.values()].map((c) => {
      const h = c.hello ?? {};
      const s = c.status ?? {};
      const name = c.name ?? c.addr;
      let detail;
      if (c.state === 'live') {
        // /status is asked after every race, so its figures are the freshest; hello's until then.
        const pick = (k) => s[k] ?? h[k];
        const race = pick('race');
        const bits = pick('difficulty_bits');
        const cap = pick('hash_rate_cap');
        const target = pick('target_time_s');
        detail = [
          el('span.race-mode', { 'data-race': race ?? '', title: race === 'lottery' ? 'lottery: searches its own part of the nonce space; the first valid nonce wins' : 'lab: every node searches from nonce 0; the smallest nonce wins' }, race ?? 'lab'),
          ' · ',
          el('span.bits', { 'data-bits': bits ?? '', title: `the next race's difficulty${target != null ? `, retargeted toward ${fmtSecs(target)} per race` : ''}` }, bits != null ? `${bits} bits` : `difficulty ${pick('difficulty') ?? '?'}`),
          target != null ? el('span.target', {}, ` (→ ${fmtSecs(target)})`) : null,
          ' · ',
          `${pick('kernel') ?? '?'} ×`,
          el('span.threads', { 'data-threads': pick('threads') ?? '', title: 'search threads' }, String(pick('threads') ?? '?')),
          ' · ',
          el('span.cap', { 'data-cap': cap ?? '', title: 'hash-rate cap (--hashrate)' }, cap ? `cap ${fmtRate(cap)}` : 'no cap'),
          s.races != null ? ` · ${s.races} races` : '',
          s.in_flight ? ` · ${s.in_flight} mining` : '',
        ];
      } else if (c.state === 'down') {
        const secs = Math.max(0, (c.retryAt - Date.now()) / 1000);
        detail = `down · reconnecting in ${secs.toFixed(1)} s (attempt ${c.attempt})`;
      } else detail = c.state + '…';
      return el(
        'div.node-chip',
        { 'data-state': c.state, 'data-addr': c.addr, 'data-node': c.name ?? '', style: { '--node': colorOf(c.name) } },
        el('span.dot', { title: c.state }),
        el('strong', {}, name),
        el('span.addr', {}, c.name ? c.addr : ''),
        el('span.state', {}, c.state === 'live' ? 'live' : c.state === 'down' ? 'down' : c.state),
        el('span.detail', {}, detail),
      );
    }),
  );
  const live = [...conns.values()].filter((c) => c.state === 'live').length;
  const from =
    nodes.source.kind === 'cluster'
      ? ` · found through ${nodes.source.from}/cluster (${nodes.source.cluster === 'etcd' ? 'the etcd cluster' : "that node's process"})`
      : nodes.source.kind === 'param'
        ? ' · as given (empty the field to find them through /cluster)'
        : nodes.source.kind === 'default'
          ? ' · the default ports (no /cluster answered)'
          : '';
  const summary = $('#nodes-summary');
  summary.textContent = nodes.source.kind === 'pending' ? 'finding the nodes…' : `${live}/${conns.size} nodes live${from}`;
  summary.dataset.all = String(live === conns.size);
  summary.dataset.source = nodes.source.kind;
}

/** The chips of nodes that are down count down to their next attempt. */
export function renderNodesWhileDown() {
  if ([...conns.values()].some((c) => c.state === 'down')) renderNodes();
}
