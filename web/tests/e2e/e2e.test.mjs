// End to end: the real node-server (three nodes on free ports, a ledger in a temp dir), the
// dashboard it serves open in Debian's headless Chromium, transactions sent with real `nc`.
//
//   NODE_SERVER_BIN=/path/to/node-server node --test e2e.test.mjs
//
// Default binary: $CARGO_TARGET_DIR/release/node-server, else <repo>/target/release/node-server.
// The page is saved at the end to $LEDGER_SCREENSHOT (default: a temp file); the committed
// picture, the charts after a lottery batch, is experiment.test.mjs's ($SCREENSHOT).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { NODES, SEED_TX, log, nc, startNodes, waitFor, report, readCharts, assertAgreesWithReport } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.LEDGER_SCREENSHOT ? path.resolve(process.env.LEDGER_SCREENSHOT) : path.join(tmpdir(), 'powrace-e2e.png');

let nodes, dir, browser, page;
const addrs = () => nodes.addrs;
const front = () => nodes.front; // what the page talks to: the nodes (or stand-ins, see harness)

before(async () => {
  nodes = await startNodes();
  dir = nodes.dir;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (e) => log(`\n[page error] ${e}`));
  page.on('console', (m) => m.type() === 'error' && log(`\n[console] ${m.text()}`));
});

after(async () => {
  await browser?.close();
  nodes?.stop();
});

test('the page shows a race from nc: every node start and end, the winner, the ledger verified by WASM', async () => {
  await page.goto(`http://${front()[0]}/?nodes=${front().join(',')}`);
  await waitFor('three live nodes', async () => (await page.locator('.node-chip[data-state="live"]').count()) === NODES);
  await waitFor('the WASM core', async () => (await page.locator('#wasm-status.ok').count()) === 1);

  const txs = [SEED_TX, `e2e ${Date.now()} Alice pays Bob 5`];
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
      // `completed` shows the end time; the `won`/`lost` event that settles the lane may follow.
      await waitFor(`${reply.node}'s outcome`, async () => ['won', 'lost'].includes(await lane.getAttribute('data-outcome')));
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
    await waitFor(`ledger row ${i} checked`, async () => (await row.getAttribute('data-status')) === 'ok' && (await row.getAttribute('data-tx')) != null);
    assert.equal(await row.locator('.mark').innerText(), '✓');
    assert.equal(await row.getAttribute('data-tx'), tx);
    const winner = replies[i][0].winner;
    assert.match(await row.innerText(), new RegExp(winner));
  }
  await waitFor('the ledger summary', async () => /chain intact/.test(await page.locator('#ledger .summary').innerText()));

  // Per-node totals: two races each, two wins among them (the table is redrawn after events,
  // so wait for it rather than read it once).
  const sum = async () => (await page.locator('#totals tbody tr .wins').allInnerTexts()).map(Number).reduce((a, b) => a + b, 0);
  await waitFor('two wins in the totals', async () => (await sum()) === txs.length);
  assert.equal(await page.locator('#totals tbody tr .wins').count(), NODES);
  assert.equal(await sum(), txs.length);

  // The experiment's figures over these two lab races are the report's.
  const x = await waitFor('the charts over both races', async () => {
    const c = await page.evaluate(readCharts);
    return c.races + c.leftOut === txs.length && c.running === 0 && c;
  });
  assert.equal(x.mode, 'lab');
  await waitFor('the attempts log holds both races', async () => report(nodes.ledgerFile).modes.some((m) => m.races + m.partial_races === txs.length));
  assertAgreesWithReport(x, report(nodes.ledgerFile));
  assert.match(x.arrival.text, /^Arrival order: the first node to start won /);
  assert.match(x.timesCaption, /lab races: every node searches the same nonces from 0/);
});

test('a ledger.json with a duplicate key opened from disk shows ✗ on that entry, naming the key', async () => {
  // A duplicate key (issue 8 §7): `"node": "Mallory"` before the entry's real `node`. A reader
  // that keeps the last key (JSON.parse) sees a valid entry; one that keeps the first sees another
  // winner. The page refuses the entry and names the key.
  const text = readFileSync(path.join(dir, 'ledger.json'), 'utf8');
  const ledger = JSON.parse(text);
  assert.ok(ledger.length >= 2);
  const dupAt = 0;
  const dupText = text.replace('{\n    "node": ', '{\n    "node": "Mallory",\n    "node": ');
  assert.notEqual(dupText, text);
  assert.equal(JSON.parse(dupText)[dupAt].node, ledger[dupAt].node, 'JSON.parse keeps the last key');
  await page.setInputFiles('#file-input', { name: 'ledger-duplicate-key.json', mimeType: 'application/json', buffer: Buffer.from(dupText) });
  const dupRow = page.locator(`#file-result tr[data-position="${dupAt}"]`);
  await waitFor('the duplicate-key row checked', async () => (await page.locator('#file-result h3').innerText()).includes('duplicate-key') && (await dupRow.getAttribute('data-status')) === 'bad');
  assert.equal(await dupRow.locator('.mark').innerText(), '✗');
  assert.match(await dupRow.locator('.reason').innerText(), /^the entry does not parse: duplicate field `node`/);
  for (let i = dupAt + 1; i < ledger.length; i++) {
    await waitFor(`row ${i} after the duplicate key`, async () => (await page.locator(`#file-result tr[data-position="${i}"]`).getAttribute('data-status')) === 'after_break');
  }
  assert.match(await page.locator('#file-result .summary').innerText(), new RegExp(`entry ${dupAt} is the first bad entry: the entry does not parse: duplicate field \`node\``));

});

test('a tampered ledger.json opened from disk shows ✗ on the changed entry, with the reason', async () => {
  const ledger = JSON.parse(readFileSync(path.join(dir, 'ledger.json'), 'utf8'));
  assert.ok(ledger.length >= 2);
  const bad = ledger.length - 1;
  const tampered = structuredClone(ledger);
  tampered[bad].node = tampered[bad].node === 'Node1' ? 'Node2' : 'Node1';
  await page.setInputFiles('#file-input', { name: 'ledger-tampered.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(tampered, null, 2)) });

  const row = page.locator(`#file-result tr[data-position="${bad}"]`);
  await waitFor('the tampered row checked', async () => (await row.getAttribute('data-status')) === 'bad' && (await row.getAttribute('data-tx')) != null);
  assert.equal(await row.locator('.mark').innerText(), '✗');
  const reason = await row.locator('.reason').innerText();
  assert.match(reason, new RegExp(`^entry_hash ${ledger[bad].entry_hash} does not match the entry's fields \\([0-9a-f]{64}\\): a field was changed$`));
  for (let i = 0; i < bad; i++) {
    assert.equal(await page.locator(`#file-result tr[data-position="${i}"]`).getAttribute('data-status'), 'ok');
  }
  assert.match(await page.locator('#file-result .summary').innerText(), new RegExp(`entry ${bad} is the first bad entry`));

  // Mine the first transaction in the browser too: the same nonce as the nodes.
  await page.fill('#mine-data', SEED_TX);
  await page.selectOption('#mine-bits', '16');
  await page.click('#mine-start');
  await waitFor('the browser miner', async () => (await page.locator('#mine-out[data-state="found"]').count()) === 1);
  assert.equal(await page.locator('#mine-nonce').innerText(), '6907');
  assert.match(await page.locator('#mine-check').innerText(), /✓ same/);

  await page.locator('#file-result').scrollIntoViewIfNeeded();
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});
