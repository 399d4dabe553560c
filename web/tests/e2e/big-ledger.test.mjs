// End to end with a long ledger: FIXTURE_ENTRIES (default 100,000) entries at difficulty 1 written
// by web/examples/fixture_ledger.rs (pow-core's NewEntry::chain_onto, node-server's text format),
// loaded by the real node-server (`--ledger`), the page in Debian's headless Chromium.
//
//   NODE_SERVER_BIN=… FIXTURE_BIN=target/release/examples/fixture_ledger node --test big-ledger.test.mjs
//
// It checks that the newest entries appear first, that the chain is then checked from entry 0 in
// the background up to 100% with ✓, that a race sent with nc reaches the page through an
// incremental fetch (the browser never asks for the whole ledger), and that a tampered entry deep
// in a file opened from disk is reported ✗ at its index. It prints the page's own timings (time
// to the newest rows, to the full check); they are measurements, not assertions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { log, nc, startNodes, waitFor, requirePagedLedger, makeFixture, fixtureTx, STANDIN, STEP_MS } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ENTRIES = Number(process.env.FIXTURE_ENTRIES ?? 100_000);
/** Waits that grow with the ledger: starting the nodes on it, checking it in the browser. */
const LONG_MS = Number(process.env.LONG_MS ?? Math.max(STEP_MS, ENTRIES * 3));
/** The tampered entry, deep in the file. */
const TAMPERED_AT = Math.floor(ENTRIES * 0.76543);

let work, nodes, browser, context, page;
const requests = []; // every request the browser made to /ledger: {url, at}

before(async () => {
  work = mkdtempSync(path.join(tmpdir(), 'powrace-big-'));
  const report = makeFixture(path.join(work, 'ledger.json'), ENTRIES);
  makeFixture(path.join(work, 'tampered.json'), ENTRIES, '--tamper', String(TAMPERED_AT));
  const t = Date.now();
  nodes = await startNodes('powrace-e2e-big-', { ledger: path.join(work, 'ledger.json'), startMs: LONG_MS });
  console.log(`# ${report}\n# node-server started on it in ${((Date.now() - t) / 1000).toFixed(1)} s`);
  if (!STANDIN) await requirePagedLedger(nodes.addrs[0]);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  // The context sees the page's requests and its workers' (the chain check runs in a Worker).
  context.on('request', (r) => {
    const u = new URL(r.url());
    if (u.pathname === '/ledger') requests.push({ url: u, at: Date.now() });
  });
  page = await context.newPage();
  page.on('pageerror', (e) => log(`\n[page error] ${e}`));
  page.on('console', (m) => m.type() === 'error' && log(`\n[console] ${m.text()}`));
});

after(async () => {
  await browser?.close();
  nodes?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

const wholeLedgerRequests = () => requests.filter((r) => !r.url.searchParams.has('from'));
const view = (sel) => page.locator(sel);
const attr = (sel, name) => view(sel).getAttribute(name);

test(`${ENTRIES} entries: the newest first, then the whole chain checked from entry 0 in the background, ✓`, async () => {
  const front = nodes.front;
  await page.goto(`http://${front[0]}/?nodes=${front.join(',')}`);

  // The newest rows, with their data, before the check reaches them.
  const newest = view(`#ledger tr[data-position="${ENTRIES - 1}"]`);
  await waitFor('the newest entry on screen', async () => (await newest.getAttribute('data-tx')) === fixtureTx(ENTRIES - 1));
  const firstRows = await page.evaluate(() => window.powrace.timings.ledgerFirstRows);
  for (let i = ENTRIES - 5; i < ENTRIES; i++) assert.equal(await attr(`#ledger tr[data-position="${i}"]`, 'data-tx'), fixtureTx(i));

  // The check from entry 0, with its progress, to 100%.
  let sawProgress = false;
  await waitFor(
    'the whole chain checked',
    async () => {
      const [state, verified] = await Promise.all([attr('#ledger', 'data-state'), attr('#ledger', 'data-verified')]);
      if (state === 'checking' && Number(verified) > 0 && Number(verified) < ENTRIES) sawProgress = sawProgress || (await view('#ledger .progress-text').innerText()).includes('entries/s');
      return state === 'ok' && Number(verified) === ENTRIES;
    },
    LONG_MS,
  );
  const verified = await page.evaluate(() => window.powrace.timings.ledgerVerified);
  const workers = await page.evaluate(() => window.powrace.ledger().view.helpers || 1);
  console.log(`# ${ENTRIES} entries: newest rows shown ${firstRows.toFixed(0)} ms after navigation; whole chain checked ${verified.toFixed(0)} ms after navigation (${workers} checking workers)`);
  if (!sawProgress) console.log('# (the check finished before a progress line was sampled)');

  const status = await (await fetch(`http://${front[0]}/status`)).json();
  const summary = await view('#ledger .summary').innerText();
  assert.match(summary, new RegExp(`^✓ ${ENTRIES.toLocaleString('en')} entries, chain intact`));
  assert.equal(await view('#ledger .summary .hash').getAttribute('title'), status.ledger_head);
  for (let i = ENTRIES - 5; i < ENTRIES; i++) {
    const row = `#ledger tr[data-position="${i}"]`;
    assert.equal(await attr(row, 'data-status'), 'ok');
    assert.equal(await view(`${row} .mark`).innerText(), '✓');
  }
  // Only the rows in view are in the page.
  assert.ok((await view('#ledger tbody tr').count()) < 60);

  // An old entry, by its number: fetched on demand, checked.
  await view('#ledger .goto-input').fill('12345');
  await view('#ledger .goto-input').press('Enter');
  const old = view('#ledger tr[data-position="12345"]');
  await waitFor('entry 12345 on screen', async () => (await old.getAttribute('data-tx')) === fixtureTx(12345));
  assert.equal(await old.getAttribute('data-status'), 'ok');

  assert.deepEqual(wholeLedgerRequests(), [], 'the page never downloads the whole ledger');
  const pages = requests.filter((r) => r.url.searchParams.get('limit') === '10000').length;
  assert.ok(pages >= Math.ceil(ENTRIES / 10_000), `the check fetched the ledger in pages of 10,000 (${pages} requests)`);
  console.log(`# ${requests.length} requests to /ledger, ${pages} of them pages of 10,000 for the check`);
});

test('a race sent with nc reaches the page by an incremental fetch of the new entry alone', async () => {
  // Back to the top, where new entries appear (a reader further down keeps their place).
  await view('#ledger .newest').click();
  const before = requests.length;
  const tx = `big ledger ${Date.now()} Carol pays Dave 7`;
  const replies = await Promise.all(nodes.addrs.map((a) => nc(a, tx)));
  const won = replies.find((r) => r.outcome === 'won');
  assert.ok(won, JSON.stringify(replies));
  assert.equal(won.entry.index, ENTRIES);

  const row = view(`#ledger tr[data-position="${ENTRIES}"]`);
  await waitFor('the new entry on screen and checked', async () => (await row.getAttribute('data-tx')) === tx && (await row.getAttribute('data-status')) === 'ok');
  await waitFor('the chain checked to the new head', async () => Number(await attr('#ledger', 'data-verified')) === ENTRIES + 1 && (await attr('#ledger', 'data-state')) === 'ok');
  assert.equal(await view('#ledger .summary .hash').getAttribute('title'), won.entry.entry_hash);

  const since = requests.slice(before);
  assert.ok(since.length >= 1, 'the new entry was fetched');
  for (const r of since) {
    assert.ok(Number(r.url.searchParams.get('from')) >= ENTRIES, `only new entries are fetched after the race: ${r.url}`);
  }
  assert.deepEqual(wholeLedgerRequests(), [], 'the page never downloads the whole ledger');
});

test(`a tampered entry deep in a ${ENTRIES}-entry file opened from disk is ✗ at its index`, async () => {
  const file = path.join(work, 'tampered.json');
  await page.setInputFiles('#file-input', file);
  await waitFor('the file checked', async () => ['bad', 'ok', 'error'].includes(await attr('#file-result .file-view', 'data-state')), LONG_MS);
  assert.equal(await attr('#file-result .file-view', 'data-state'), 'bad');
  assert.equal(Number(await attr('#file-result .file-view', 'data-first-bad')), TAMPERED_AT);
  assert.equal(Number(await attr('#file-result .file-view', 'data-verified')), ENTRIES);

  await view('#file-result .first-bad').click();
  const row = view(`#file-result tr[data-position="${TAMPERED_AT}"]`);
  await waitFor('the tampered entry on screen', async () => (await row.getAttribute('data-tx')) === fixtureTx(TAMPERED_AT));
  assert.equal(await row.getAttribute('data-status'), 'bad');
  assert.equal(await row.locator('.mark').innerText(), '✗');
  const recorded = JSON.parse(readFileSync(file, 'utf8'))[TAMPERED_AT];
  assert.equal(recorded.node, 'Mallory');
  assert.match(await row.locator('.reason').innerText(), new RegExp(`^entry_hash ${recorded.entry_hash} does not match the entry's fields \\([0-9a-f]{64}\\): a field was changed$`));
  assert.equal(await attr(`#file-result tr[data-position="${TAMPERED_AT - 1}"]`, 'data-status'), 'ok');
  assert.equal(await attr(`#file-result tr[data-position="${TAMPERED_AT + 1}"]`, 'data-status'), 'after_break');
  const summary = await view('#file-result .summary').innerText();
  assert.match(summary, new RegExp(`^✗ entry ${TAMPERED_AT} is the first bad entry: entry_hash `));
  assert.match(summary, new RegExp(`${TAMPERED_AT.toLocaleString('en')} ✓ before it, 1 ✗, ${(ENTRIES - TAMPERED_AT - 1).toLocaleString('en')} ⚠ after the break\\.`));
});
