// What the end-to-end tests share: the real node-server on free ports in a temp dir, polling with
// a deadline, and `nc`. One server per test file (node --test runs each file in its own process).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startStandin } from './standin.mjs';

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
 * fresh temp dir (a copy of `ledger` when given), and waits for every /status (`startMs` for
 * each, longer for a long ledger). Returns { dir, addrs, front, stop }: `front` are the addresses
 * the page uses — the nodes themselves, or with LEDGER_API_STANDIN=1 or WEB_FROM_DISK=1 the
 * stand-ins of standin.mjs in front of them.
 */
export async function startNodes(prefix = 'powrace-e2e-', { ledger = null, startMs = STEP_MS } = {}) {
  assert.ok(existsSync(BIN), `node-server binary not found at ${BIN} (cargo build --release -p node-server)`);
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const ledgerFile = path.join(dir, 'ledger.json');
  if (ledger) copyFileSync(ledger, ledgerFile);
  const base = await freeBase();
  const addrs = [...Array(NODES).keys()].map((i) => `127.0.0.1:${base + i}`);
  const server = spawn(BIN, ['serve', '--nodes', String(NODES), '--base-port', String(base), '--difficulty', '2', '--ledger', ledgerFile], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', log);
  server.stderr.on('data', log);
  const standins = [];
  const stop = () => {
    for (const s of standins) s.close();
    server.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const a of addrs) await waitFor(`${a}/status`, async () => (await fetch(`http://${a}/status`)).ok, startMs);
    if (STANDIN) {
      const sbase = await freeBase();
      for (const [i, a] of addrs.entries()) {
        standins.push(await startStandin({ port: sbase + i, upstream: a, ledgerFile, webRoot: process.env.WEB_FROM_DISK === '1' ? web : null }));
        // The stand-in indexes the ledger file on its first request: not the page's time.
        await fetch(`http://${standins.at(-1).addr}/status`);
      }
    }
  } catch (e) {
    stop();
    throw e;
  }
  return { dir, addrs, front: STANDIN ? standins.map((s) => s.addr) : addrs, ledgerFile, stop };
}

/** The fixture tool (web/examples/fixture_ledger.rs). */
export const FIXTURE_BIN =
  process.env.FIXTURE_BIN ?? path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'examples', 'fixture_ledger');

/** The transaction of a fixture's entry `i`. */
export const fixtureTx = (i) => `fixture ${i}: Alice pays Bob ${i % 1000} coins`;

/** Writes a fixture ledger of `entries` entries at difficulty 1 to `out`; returns the tool's report. */
export function makeFixture(out, entries, ...args) {
  const r = spawnSync(FIXTURE_BIN, ['--entries', String(entries), '--difficulty', '1', '--out', out, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${FIXTURE_BIN}: ${r.error ?? r.stderr} (cargo build --release -p powrace-web --example fixture_ledger)`);
  log(r.stderr);
  return r.stderr.trim();
}

/** Whether the page talks to stand-ins (see standin.mjs) rather than to the nodes directly. */
export const STANDIN = process.env.LEDGER_API_STANDIN === '1' || process.env.WEB_FROM_DISK === '1';

/** Fails with what to do when `addr` does not serve the paged ledger of issue 9. */
export async function requirePagedLedger(addr) {
  const r = await fetch(`http://${addr}/ledger?from=0&limit=1`);
  const st = await (await fetch(`http://${addr}/status`)).json();
  assert.ok(
    r.ok && r.headers.has('x-ledger-entries') && typeof st.ledger_head === 'string',
    `${addr} does not serve GET /ledger?from=&limit= with x-ledger-entries and ledger_head in /status ` +
      '(issue 9): build node-server with the paged ledger API, or run with LEDGER_API_STANDIN=1 to test the page against the stand-in',
  );
}
