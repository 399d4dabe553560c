// Sending a transaction: to every node at once (POST /tx), the send form's one reply per node.
import { $, el, colorOf } from './dom.js';
import { fmtSecs } from './race.js';
import { parseJson } from './json.js';
import { conns } from './state.js';

/** Sends `text` to every node at once (POST /tx); one reply per node, or {addr, error}. */
export function sendToAll(text) {
  return Promise.all(
    [...conns.keys()].map(async (addr) => {
      try {
        const r = await fetch(`http://${addr}/tx`, { method: 'POST', body: text });
        const j = parseJson(await r.text());
        return { addr, ...j };
      } catch (e) {
        return { addr, error: String(e.message ?? e) };
      }
    }),
  );
}

/** Sends `text` to every node and shows each node's reply under the form. */
export async function sendTx(text) {
  const out = $('#send-result');
  out.replaceChildren(el('span', {}, `sending to ${conns.size} nodes…`));
  const results = await sendToAll(text);
  out.replaceChildren(
    ...results.map((r) =>
      el(
        'span.send-one',
        { 'data-outcome': r.outcome ?? 'error', style: { '--node': colorOf(r.node) } },
        el('b', {}, r.node ?? r.addr),
        ' ',
        r.error
          ? `✗ ${r.error}`
          : r.outcome === 'won'
            ? `won · nonce ${r.nonce} · ${fmtSecs(r.time_taken)}`
            : r.outcome === 'lost'
              ? `lost to ${r.winner}${r.margin != null ? ` by ${fmtSecs(r.margin)}` : ''}`
              : `${r.outcome}${r.winner ? ` (winner ${r.winner})` : ''}`,
      ),
    ),
  );
}
