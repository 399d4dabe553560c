// The page's shared state: the races seen, the node connections, the node list and where it came
// from, the nodes' clock, and the WebAssembly module once loaded. Data only: the modules that
// draw it read it from here, and nothing here draws.
import { RaceBook } from './race.js';
import { parseNodes } from './addresses.js';

/** Every node's events folded per transaction. */
export const book = new RaceBook();

/** addr -> NodeConn (connection.js), in the order the node list gives. */
export const conns = new Map();

// `?nodes=` (or the field) fixes the nodes; without it they are found through /cluster.
const fixedNodes = parseNodes(new URLSearchParams(location.search).get('nodes'));

/** The node list: `addrs`, and `source`, where it came from: 'param' (?nodes= or the field),
 * 'cluster' (GET /cluster of `from`; `cluster` is "etcd" or null for one process), 'default'
 * (no /cluster answered) or 'pending' (not asked yet). */
export const nodes = {
  addrs: fixedNodes ?? [],
  source: fixedNodes ? { kind: 'param' } : { kind: 'pending' },
};

/** The nodes' clock minus the page's, in µs, from live events. */
export const clock = { offsetUs: 0 };

/** Now on the nodes' clock, in µs since the Unix epoch. */
export const nowServerUs = () => Date.now() * 1000 + clock.offsetUs;

/** The pow-core module (web/pkg) once it has loaded, else null: what needs it waits for it. */
export let wasm = null;

/** Called once the module has loaded. */
export function wasmLoaded(module) {
  wasm = module;
}
