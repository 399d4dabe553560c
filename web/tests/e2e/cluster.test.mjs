// End to end on an etcd cluster: a real etcd, three `node-server node --etcd` processes (each its
// own ledger, as on three hosts), the page served by one of them opened in Debian's headless
// Chromium with no `?nodes=`. It finds every node through /cluster ("etcd"), a transaction sent
// to one node only is relayed to the others and their lanes say so (from where, how long after),
// and a node killed with -9 leaves the page when its lease ends, and comes back when restarted.
//
//   NODE_SERVER_ETCD_BIN=/path/to/node-server-built-with-etcd node --test cluster.test.mjs
//
// Needs a node-server built with `--features etcd` (NODE_SERVER_ETCD_BIN; test.sh passes the
// debug build `cargo test --features node-server/etcd` leaves) and `etcd` on PATH; without them
// it says SKIPPED (test.sh fails instead when CI=true).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { NODES, freeBase, log, nc, waitFor } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const BIN = process.env.NODE_SERVER_ETCD_BIN ?? '';
const ETCD = process.env.ETCD ?? 'etcd';
/** The node lease is 5 s (etcd/mod.rs NODE_LEASE_TTL_SECS), the page asks /cluster every 5 s. */
const LEAVE_MS = 30_000;

const missing = [];
if (!BIN || !existsSync(BIN)) missing.push(`NODE_SERVER_ETCD_BIN (a node-server built with --features etcd): ${BIN || 'unset'}`);
if (spawnSync(ETCD, ['--version']).status !== 0) missing.push(`${ETCD} on PATH (Debian's etcd-server)`);
const skip = missing.length ? `needs ${missing.join(' and ')}` : false;

let dir, etcd, etcdUrl, browser, page;
const procs = new Map(); // name -> child
let addrs = [];

function startNode(i) {
  const name = `Node${i + 1}`;
  const ledger = path.join(dir, name, 'ledger.json');
  mkdirSync(path.dirname(ledger), { recursive: true });
  const p = spawn(BIN, ['node', '--name', name, '--listen', addrs[i], '--etcd', etcdUrl, '--ledger', ledger, '--difficulty', '2', '--threads', '1'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  p.out = '';
  p.stdout.on('data', (d) => {
    p.out += d;
    log(d);
  });
  p.stderr.on('data', log);
  procs.set(name, p);
  return p;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), 'powrace-e2e-cluster-'));
  const ports = await freeBase(2 + NODES);
  etcdUrl = `http://127.0.0.1:${ports}`;
  const peer = `http://127.0.0.1:${ports + 1}`;
  etcd = spawn(ETCD, ['--name', 'e2e', '--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl, '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `e2e=${peer}`, '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  etcd.stderr.on('data', (d) => log(`[etcd] ${d}`));
  await waitFor('etcd healthy', async () => (await (await fetch(`${etcdUrl}/health`)).json()).health === 'true');
  addrs = [...Array(NODES).keys()].map((i) => `127.0.0.1:${ports + 2 + i}`);
  for (let i = 0; i < NODES; i++) startNode(i);
  await waitFor('every node in /cluster', async () => (await (await fetch(`http://${addrs[0]}/cluster`)).json()).nodes?.length === NODES);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'] });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (e) => log(`\n[page error] ${e}`));
});

after(async () => {
  await browser?.close();
  for (const p of procs.values()) p.kill('SIGKILL');
  etcd?.kill('SIGKILL');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const chips = () => page.evaluate(() => [...document.querySelectorAll('.node-chip')].map((c) => ({ addr: c.dataset.addr, node: c.dataset.node, state: c.dataset.state })));

test('the page finds the etcd cluster through /cluster; a relayed lane says from where and how late; a killed node leaves and comes back', { skip }, async () => {
  await page.goto(`http://${addrs[0]}/`);
  await waitFor('three live nodes', async () => (await chips()).filter((c) => c.state === 'live').length === NODES);
  assert.deepEqual(
    (await chips()).map((c) => c.addr).sort(),
    [...addrs].sort(),
  );
  assert.match(await page.locator('#nodes-summary').innerText(), new RegExp(`^3/3 nodes live · found through ${addrs[0]}/cluster \\(the etcd cluster\\)`));

  // Sent to Node2 only: Node1 and Node3 race it too, relayed.
  const tx = `relay e2e ${Date.now()}`;
  const reply = await nc(addrs[1], tx);
  assert.ok(['won', 'lost'].includes(reply.outcome), JSON.stringify(reply));
  const card = page.locator('article.race', { hasText: tx }).first();
  await waitFor('every lane of the relayed race settled', async () => (await card.locator('.lane[data-outcome="won"], .lane[data-outcome="lost"]').count()) === NODES);
  assert.equal(await card.locator('.lane[data-node="Node2"]').getAttribute('data-relayed-from'), null, 'Node2 got it from the client');
  const originAt = (await card.locator('.lane[data-node="Node2"] .recv').getAttribute('title')).replace('received ', '');
  for (const node of ['Node1', 'Node3']) {
    const lane = card.locator(`.lane[data-node="${node}"]`);
    assert.equal(await lane.getAttribute('data-relayed-from'), 'Node2');
    assert.match(await lane.locator('.relay').innerText(), /^↪ relayed from Node2 \+\d+(\.\d+)? (µs|ms|s)$/);
    // The dashed mark is where it reached Node2: Node2's own receive time, from Node2's stream.
    assert.equal(await lane.locator('.origin').getAttribute('title'), `reached Node2 at ${originAt}`);
    // The node said the same on its terminal.
    const printed = procs.get(node).out.split('\n').find((l) => l.includes(`received transaction: ${tx}`));
    assert.ok(printed?.includes(`(relayed from Node2 (received there at `) && printed.includes(originAt), `${node}: ${printed}`);
  }

  // Node3 killed: its lease ends, /cluster drops it, so does the page; restarted, it is back.
  const n3 = procs.get('Node3');
  n3.kill('SIGKILL');
  await waitFor('Node3 gone from the page', async () => (await chips()).every((c) => c.node !== 'Node3' && c.addr !== addrs[2]), LEAVE_MS);
  assert.match(await page.locator('#nodes-summary').innerText(), /^2\/2 nodes live/);
  startNode(2);
  await waitFor('Node3 back and live', async () => {
    const cs = await chips();
    return cs.length === NODES && cs.every((c) => c.state === 'live');
  }, LEAVE_MS);
  await page.evaluate(() => window.scrollTo(0, 0));
  if (process.env.CLUSTER_SCREENSHOT) await page.screenshot({ path: process.env.CLUSTER_SCREENSHOT, fullPage: true });
});
