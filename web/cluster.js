// Which nodes the page shows: the ones `?nodes=` or the field fixes, else the ones GET /cluster
// lists (asked again every CLUSTER_POLL_MS: with etcd, nodes join and leave), else the default
// ports; each gets a connection (connection.js).
import { $ } from './dom.js';
import { defaultNodes, reachable } from './addresses.js';
import { NodeConn } from './connection.js';
import { conns, nodes } from './state.js';
import { renderNodes } from './node-chips.js';
import { scheduleExperiment } from './experiment-panel.js';
import { startLedger } from './ledger.js';

/** How often the node list is asked of /cluster again (nodes join and leave). */
export const CLUSTER_POLL_MS = 5000;

/** Connects to `nodes.addrs`, closing every connection there was. */
export function connectAll() {
  for (const c of conns.values()) c.close();
  conns.clear();
  for (const a of nodes.addrs) conns.set(a, new NodeConn(a));
  showNodeList();
  renderNodes();
}

/** The node list in the field, unless it is being edited. */
function showNodeList() {
  const input = $('#nodes-input');
  if (document.activeElement !== input) input.value = nodes.addrs.join(', ');
}

/** The node list from GET /cluster: of the node that served the page, else of any live node.
 * Returns {from, cluster, nodes: [{name, addr}]} or null. */
async function fetchCluster() {
  const served = location.protocol.startsWith('http') ? location.host : null;
  const live = [...conns.values()].filter((c) => c.state === 'live').map((c) => c.addr);
  for (const a of new Set([served, ...live].filter(Boolean))) {
    try {
      const r = await fetch(`http://${a}/cluster`, { cache: 'no-store' });
      if (!r.ok) continue;
      const j = await r.json();
      if (!Array.isArray(j.nodes)) continue;
      const list = j.nodes.filter((n) => typeof n?.addr === 'string').map((n) => ({ name: n.name ?? null, addr: reachable(n.addr) }));
      return { from: a, cluster: j.cluster ?? null, nodes: list };
    } catch {
      /* the next one */
    }
  }
  return null;
}

/** Connects to the nodes /cluster lists: new ones are added, ones that left are closed. */
export async function discover() {
  if (nodes.source.kind === 'param') return;
  const found = await fetchCluster();
  if (nodes.source.kind === 'param') return; // the field was used meanwhile
  if (!found || !found.nodes.length) {
    // No /cluster (a page opened from elsewhere, an older node): the default three, until one answers.
    if (nodes.source.kind === 'pending') {
      nodes.source = { kind: 'default' };
      nodes.addrs = defaultNodes();
      connectAll();
      startLedger();
    }
    return;
  }
  const first = !conns.size;
  const wanted = new Map(found.nodes.map((n) => [n.addr, n.name]));
  for (const [addr, c] of conns) {
    if (!wanted.has(addr)) {
      c.close();
      conns.delete(addr);
    }
  }
  for (const [addr, name] of wanted) {
    if (!conns.has(addr)) conns.set(addr, new NodeConn(addr, name));
    else if (name) conns.get(addr).clusterName = name;
  }
  nodes.source = { kind: 'cluster', from: found.from, cluster: found.cluster };
  nodes.addrs = [...wanted.keys()];
  showNodeList();
  renderNodes();
  scheduleExperiment();
  if (first) startLedger();
}

/** The nodes `list` names, fixed (as `?nodes=` does): connected, and the ledger read from them. */
export function useNodes(list) {
  nodes.addrs = list;
  nodes.source = { kind: 'param' };
  connectAll();
  startLedger();
}

/** Back to the nodes /cluster lists: every connection closed, then /cluster asked. */
export function findNodes() {
  nodes.source = { kind: 'pending' };
  for (const c of conns.values()) c.close();
  conns.clear();
  renderNodes();
  discover();
}
