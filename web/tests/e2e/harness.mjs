// What the end-to-end tests share: the real node-server on free ports in a temp dir, polling with
// a deadline, and `nc`. One server per test file (node --test runs each file in its own process).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const web = path.resolve(here, '..', '..');
export const repo = path.resolve(web, '..');
export const BIN =
  process.env.NODE_SERVER_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'node-server');
export const NODES = 3;
export const STEP_MS = 20_000; // the longest any one step may take (a race at difficulty 2 takes ms)
/** The lab's transaction: at difficulty 2 (16 zero bits) its smallest nonce is 6907. */
export const SEED_TX = 'Gova and Emmanuel Blockchain Lab 3';

let serverLog = '';
/** Appends to the output printed when a wait times out (server, browser, driver). */
export const log = (s) => (serverLog += s);

/** A base port with `n` free ports after it. */
export async function freeBase(n = NODES) {
  const free = (port) =>
    new Promise((res) => {
      const s = net.createServer().once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    const ok = await Promise.all([...Array(n).keys()].map((k) => free(p + k)));
    if (ok.every(Boolean)) return p;
  }
  throw new Error('no free ports');
}

export async function waitFor(what, fn, ms = STEP_MS) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last}` : ''}\n--- server output ---\n${serverLog}`);
}

/** Sends one line with the real `nc` and returns the node's reply line, parsed. */
export function nc(addr, line) {
  const [host, port] = addr.split(':');
  return new Promise((resolve, reject) => {
    const p = spawn('nc', [host, port], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      p.kill();
      reject(new Error(`nc ${addr}: no reply`));
    }, STEP_MS);
    p.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        p.kill();
        resolve(JSON.parse(out.slice(0, nl)));
      }
    });
    p.on('error', reject);
    p.stdin.write(line + '\n');
  });
}

/**
 * Starts `node-server serve` with NODES nodes at difficulty 2 on free ports, its ledger in a
 * fresh temp dir, and waits for every /status. Returns { dir, addrs, stop }.
 */
export async function startNodes(prefix = 'powrace-e2e-') {
  assert.ok(existsSync(BIN), `node-server binary not found at ${BIN} (cargo build --release -p node-server)`);
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const base = await freeBase();
  const addrs = [...Array(NODES).keys()].map((i) => `127.0.0.1:${base + i}`);
  const server = spawn(BIN, ['serve', '--nodes', String(NODES), '--base-port', String(base), '--difficulty', '2', '--ledger', path.join(dir, 'ledger.json')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', log);
  server.stderr.on('data', log);
  const stop = () => {
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const a of addrs) await waitFor(`${a}/status`, async () => (await fetch(`http://${a}/status`)).ok);
  } catch (e) {
    stop();
    throw e;
  }
  return { dir, addrs, stop };
}
