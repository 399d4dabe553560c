// A stand-in for the paged ledger API of issue 9, in front of a real node, for working on the
// page before node-server serves it (LEDGER_API_STANDIN=1), and for editing the page without
// rebuilding node-server (WEB_FROM_DISK=1: the page's files come from web/ on disk).
//
// It answers GET /status (the node's, plus `ledger_entries` and `ledger_head` read from the
// ledger file) and GET /ledger?from=F&limit=L (entries F.. of the file, each exactly as written,
// header x-ledger-entries), and passes everything else through to the node: HTTP requests and
// the /events WebSocket (with the Origin rewritten to the node's own). It is not the server under
// test: the suite's default runs against node-server alone.
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { readFileSync, statSync } from 'node:fs';

const MAX_LIMIT = 10_000;
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.wasm': 'application/wasm' };

/** The ledger file with where each entry is, read again when it changes. Works on bytes: a
 * million entries (~600 MB) is more than one JavaScript string may hold. */
function ledgerReader(file) {
  let stamp = null;
  let ledger = { buf: Buffer.alloc(0), starts: [], ends: [] };
  const open = Buffer.from('\n  {\n');
  const close = Buffer.from('\n  }');
  return () => {
    let st;
    try {
      st = statSync(file);
    } catch {
      return ledger;
    }
    const now = `${st.mtimeMs}:${st.size}`;
    if (now !== stamp) {
      // node-server's layout: "[\n  {\n    …\n  },\n  {\n …\n  }\n]\n"; an entry is the text
      // from its "  {" line to its "  }" line.
      const buf = readFileSync(file);
      const starts = [];
      const ends = [];
      let at = buf.indexOf(open);
      while (at >= 0) {
        const end = buf.indexOf(close, at + 1);
        starts.push(at + 1);
        ends.push(end + 4);
        at = buf.indexOf(open, end);
      }
      ledger = { buf, starts, ends };
      stamp = now;
    }
    return ledger;
  };
}

const headOf = (l) => {
  const n = l.starts.length;
  if (!n) return '0'.repeat(64);
  return /"entry_hash": "([0-9a-f]{64})"/.exec(l.buf.subarray(l.starts[n - 1], l.ends[n - 1]).toString())?.[1];
};

/**
 * Starts a stand-in on `port` in front of `upstream` (host:port) for `ledgerFile`. Returns
 * { addr, close }.
 */
export async function startStandin({ port, upstream, ledgerFile, webRoot = null }) {
  const [uhost, uport] = upstream.split(':');
  const read = ledgerReader(ledgerFile);
  const cors = { 'access-control-allow-origin': '*', 'access-control-expose-headers': 'x-ledger-entries' };
  const json = (res, status, body, extra = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...cors, ...extra });
    res.end(typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
  };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    try {
      if (req.method === 'GET' && url.pathname === '/ledger' && url.searchParams.has('from')) {
        const from = Number(url.searchParams.get('from'));
        const limit = Number(url.searchParams.get('limit') ?? MAX_LIMIT);
        if (!Number.isInteger(from) || from < 0 || !Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
          return json(res, 400, { error: `from >= 0 and 1 <= limit <= ${MAX_LIMIT}`, code: 'bad_request' });
        }
        const l = read();
        const n = l.starts.length;
        const parts = [];
        for (let i = from; i < Math.min(n, from + limit); i++) {
          parts.push(Buffer.from(parts.length ? ',\n' : '[\n'), l.buf.subarray(l.starts[i], l.ends[i]));
        }
        parts.push(Buffer.from(parts.length ? '\n]\n' : '[]\n'));
        return json(res, 200, Buffer.concat(parts), { 'x-ledger-entries': String(n) });
      }
      if (req.method === 'GET' && url.pathname === '/status') {
        const r = await fetch(`http://${upstream}/status`);
        const status = await r.json();
        const l = read();
        status.ledger_entries = l.starts.length;
        status.ledger_head = headOf(l);
        return json(res, 200, status);
      }
      if (webRoot && req.method === 'GET') {
        const rel = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
        const file = path.resolve(webRoot, rel);
        if (file.startsWith(webRoot + path.sep) && TYPES[path.extname(file)]) {
          try {
            const body = readFileSync(file);
            res.writeHead(200, { 'content-type': TYPES[path.extname(file)], 'cache-control': 'no-store' });
            return res.end(body);
          } catch {
            /* not on disk: ask the node */
          }
        }
      }
      const headers = { ...req.headers, host: upstream };
      if (headers.origin) headers.origin = `http://${upstream}`;
      const up = http.request({ host: uhost, port: uport, method: req.method, path: req.url, headers }, (ur) => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      });
      up.on('error', (e) => json(res, 502, { error: String(e) }));
      req.pipe(up);
    } catch (e) {
      json(res, 502, { error: String(e) });
    }
  });
  // The /events WebSocket: the upgrade request as received (Origin and Host rewritten), then bytes.
  server.on('upgrade', (req, socket, head) => {
    const up = net.connect(Number(uport), uhost, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i];
        let v = req.rawHeaders[i + 1];
        if (/^origin$/i.test(k)) v = `http://${upstream}`;
        if (/^host$/i.test(k)) v = upstream;
        lines.push(`${k}: ${v}`);
      }
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head?.length) up.write(head);
      socket.pipe(up);
      up.pipe(socket);
    });
    const end = () => {
      socket.destroy();
      up.destroy();
    };
    up.on('error', end);
    socket.on('error', end);
    up.on('close', end);
    socket.on('close', end);
  });
  await new Promise((res) => server.listen(port, '127.0.0.1', res));
  return {
    addr: `127.0.0.1:${port}`,
    close: () =>
      new Promise((res) => {
        server.closeAllConnections?.();
        server.close(() => res());
      }),
  };
}
