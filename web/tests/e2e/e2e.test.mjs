// End to end: the real node-server (three nodes on free ports, a ledger in a temp dir), the
// dashboard it serves open in Debian's headless Chromium, transactions sent with real `nc`.
//
//   NODE_SERVER_BIN=/path/to/node-server node --test e2e.test.mjs
//
// Default binary: $CARGO_TARGET_DIR/release/node-server, else <repo>/target/release/node-server.
// The page is saved at the end to $SCREENSHOT (default: a temp file); the committed picture is
// made with SCREENSHOT=web/screenshot.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const web = path.resolve(here, '..', '..');
const repo = path.resolve(web, '..');
const BIN =
  process.env.NODE_SERVER_BIN ??
  path.join(process.env.CARGO_TARGET_DIR ?? path.join(repo, 'target'), 'release', 'node-server');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT ? path.resolve(process.env.SCREENSHOT) : path.join(tmpdir(), 'powrace-e2e.png');
const NODES = 3;
const STEP_MS = 20_000; // the longest any one step may take (a race at difficulty 2 takes ms)

let dir, server, serverLog = '', browser, page, base;
const addrs = () => [...Array(NODES).keys()].map((i) => `127.0.0.1:${base + i}`);

/** A base port with NODES free ports after it. */
async function freeBase() {
  const free = (port) =>
    new Promise((res) => {
      const s = net.createServer().once('error', () => res(false));
      s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
    });
  for (let i = 0; i < 50; i++) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    const ok = await Promise.all([...Array(NODES).keys()].map((k) => free(p + k)));
    if (ok.every(Boolean)) return p;
  }
  throw new Error('no free ports');
}

async function waitFor(what, fn, ms = STEP_MS) {
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
function nc(addr, line) {
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

before(async () => {
  assert.ok(existsSync(BIN), `node-server binary not found at ${BIN} (cargo build --release -p node-server)`);
  dir = mkdtempSync(path.join(tmpdir(), 'powrace-e2e-'));
  base = await freeBase();
  server = spawn(BIN, ['serve', '--nodes', String(NODES), '--base-port', String(base), '--difficulty', '2', '--ledger', path.join(dir, 'ledger.json')], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  server.stdout.on('data', (d) => (serverLog += d));
  server.stderr.on('data', (d) => (serverLog += d));
  for (const a of addrs()) {
    await waitFor(`${a}/status`, async () => (await fetch(`http://${a}/status`)).ok);
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (e) => (serverLog += `\n[page error] ${e}`));
  page.on('console', (m) => m.type() === 'error' && (serverLog += `\n[console] ${m.text()}`));
});

after(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the page shows a race from nc: every node start and end, the winner, the ledger verified by WASM', async () => {
  await page.goto(`http://${addrs()[0]}/?nodes=${addrs().join(',')}`);
  await waitFor('three live nodes', async () => (await page.locator('.node-chip[data-state="live"]').count()) === NODES);
  await waitFor('the WASM core', async () => (await page.locator('#wasm-status.ok').count()) === 1);

  const txs = ['Gova and Emmanuel Blockchain Lab 3', `e2e ${Date.now()} Alice pays Bob 5`];
  const replies = [];
  for (const tx of txs) {
    const r = await Promise.all(addrs().map((a) => nc(a, tx)));
    replies.push(r);
    const winners = new Set(r.map((x) => x.winner));
    assert.equal(winners.size, 1, `the nodes agree on one winner: ${JSON.stringify(r)}`);
    const winner = r[0].winner;
    assert.equal(r.filter((x) => x.outcome === 'won').length, 1);

    const card = page.locator('article.race', { hasText: tx }).first();
    await waitFor(`the race card of ${tx}`, async () => (await card.getAttribute('data-winner')) === winner);
    for (const reply of r) {
      const lane = card.locator(`.lane[data-node="${reply.node}"]`);
      await waitFor(`${reply.node}'s end time`, async () => /\d{2}:\d{2}:\d{2}\.\d{6}/.test(await lane.locator('.end').innerText()));
      assert.equal(await lane.locator('.start').innerText(), reply.start_time.slice(11), `${reply.node} start`);
      assert.equal(await lane.locator('.end').innerText(), reply.end_time.slice(11), `${reply.node} end`);
      assert.equal(await lane.getAttribute('data-outcome'), reply.node === winner ? 'won' : 'lost');
      if (reply.node !== winner) assert.match(await lane.locator('.outcome').innerText(), /lost by/);
    }
    await waitFor('the entry badge ✓', async () => /✓/.test(await card.locator('.entry-badge').innerText()));
  }

  // The ledger, fetched from /ledger and verified by the WASM core.
  for (const [i, tx] of txs.entries()) {
    const row = page.locator(`#ledger tr[data-position="${i}"]`);
    await waitFor(`ledger row ${i}`, async () => (await row.count()) === 1);
    assert.equal(await row.getAttribute('data-status'), 'ok');
    assert.equal(await row.locator('.mark').innerText(), '✓');
    assert.equal(await row.getAttribute('data-tx'), tx);
    const winner = replies[i][0].winner;
    assert.match(await row.innerText(), new RegExp(winner));
  }
  await waitFor('the ledger summary', async () => /chain intact/.test(await page.locator('#ledger .summary').innerText()));

  // Per-node totals: two races each, two wins among them.
  const wins = await page.locator('#totals tbody tr .wins').allInnerTexts();
  assert.equal(wins.length, NODES);
  assert.equal(wins.map(Number).reduce((a, b) => a + b, 0), txs.length);
});

test('a tampered ledger.json opened from disk shows ✗ on the changed entry, with the reason', async () => {
  const ledger = JSON.parse(readFileSync(path.join(dir, 'ledger.json'), 'utf8'));
  assert.ok(ledger.length >= 2);
  const bad = ledger.length - 1;
  const tampered = structuredClone(ledger);
  tampered[bad].node = tampered[bad].node === 'Node1' ? 'Node2' : 'Node1';
  await page.setInputFiles('#file-input', { name: 'ledger-tampered.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(tampered, null, 2)) });

  const row = page.locator(`#file-result tr[data-position="${bad}"]`);
  await waitFor('the tampered row', async () => (await row.count()) === 1);
  assert.equal(await row.getAttribute('data-status'), 'bad');
  assert.equal(await row.locator('.mark').innerText(), '✗');
  const reason = await row.locator('.reason').innerText();
  assert.match(reason, new RegExp(`^entry_hash ${ledger[bad].entry_hash} does not match the entry's fields \\([0-9a-f]{64}\\): a field was changed$`));
  for (let i = 0; i < bad; i++) {
    assert.equal(await page.locator(`#file-result tr[data-position="${i}"]`).getAttribute('data-status'), 'ok');
  }
  assert.match(await page.locator('#file-result .summary').innerText(), new RegExp(`entry ${bad} is the first bad entry`));

  // Mine the first transaction in the browser too: the same nonce as the nodes.
  await page.fill('#mine-data', 'Gova and Emmanuel Blockchain Lab 3');
  await page.selectOption('#mine-bits', '16');
  await page.click('#mine-start');
  await waitFor('the browser miner', async () => (await page.locator('#mine-out[data-state="found"]').count()) === 1);
  assert.equal(await page.locator('#mine-nonce').innerText(), '6907');
  assert.match(await page.locator('#mine-check').innerText(), /✓ same/);

  await page.locator('#file-result').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});
