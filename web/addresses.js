// Node addresses: the `?nodes=` parameter and the nodes field parsed, an address from /cluster
// made reachable from this page, and the default ports when no /cluster answers.

/** Ports 5000–5002 on the host the page came from (127.0.0.1 for a page opened from disk). */
export function defaultNodes() {
  const host = location.protocol.startsWith('http') ? location.hostname : '127.0.0.1';
  return [5000, 5001, 5002].map((p) => `${host}:${p}`);
}

/** "host:port, port, ws://host:port/..." as a list of host:port, or null when it names none. */
export function parseNodes(text) {
  if (!text) return null;
  const list = text
    .split(/[\s,]+/)
    .map((s) => s.trim().replace(/^\w+:\/\//, '').replace(/\/.*$/, ''))
    .filter(Boolean)
    .map((s) => (/^\d+$/.test(s) ? `${location.hostname || '127.0.0.1'}:${s}` : s));
  return list.length ? list : null;
}

/** A node's address as /cluster gives it, reachable from this page: a node listening on every
 * address (0.0.0.0, ::) is reached at the host the page came from. */
export function reachable(addr) {
  const m = /^(?:\[(.*)\]|([^:]*)):(\d+)$/.exec(addr ?? '');
  if (!m) return addr;
  const host = m[1] ?? m[2];
  if (['0.0.0.0', '::', ''].includes(host)) {
    const here = location.protocol.startsWith('http') ? location.hostname : '127.0.0.1';
    return `${here.includes(':') && !here.startsWith('[') ? `[${here}]` : here}:${m[3]}`;
  }
  return m[1] != null ? `[${host}]:${m[3]}` : addr;
}
