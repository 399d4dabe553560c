// End to end, the experiment: the real node-server in lottery mode with unequal miners and a
// retargeted difficulty (`serve --race lottery --hashrate Node1=2M,Node2=1M,Node3=1M
// --target-time 60ms`: from 16 bits, every 16 entries toward 60 ms a race), the page it
// serves opened in Debian's headless Chromium with no `?nodes=`: it finds the nodes through
// /cluster (and follows the list as nodes leave and come back), shows each node's race mode,
// threads, cap and difficulty, runs batches of races from its own form, and draws the charts,
// whose figures must be `node-server report --json`'s for the same races, and which change as
// races end. The losers finish their search (the default `--on-loss finish`): with `abort` the
// attempts log holds no race mode, bits or start time for an aborted attempt, so the report can
// file a race under lab and rank arrival without the aborted nodes (the page has their events).
//
//   NODE_SERVER_BIN=/path/to/node-server node --test experiment.test.mjs
//
// The page is saved at the end to $SCREENSHOT (default: a temp file); the committed picture is
// made with SCREENSHOT=web/screenshot.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { NODES, STEP_MS, log, startNodes, waitFor, report, readCharts, assertAgreesWithReport, assertDrawnToScale } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SCREENSHOT = process.env.SCREENSHOT ? path.resolve(process.env.SCREENSHOT) : path.join(tmpdir(), 'powrace-e2e-experiment.png');
const CAPS = { Node1: 2e6, Node2: 1e6, Node3: 1e6 };
const TARGET_MS = 60;
/** A batch takes about count / rate seconds plus the last races (~16 ms each at 16 bits, 4 MH/s). */
const BATCH_MS = 60_000;

let nodes, browser, page;
const pageErrors = [];

before(async () => {
  nodes = await startNodes('powrace-e2e-experiment-', {
    args: ['--race', 'lottery', '--hashrate', Object.entries(CAPS).map(([n, r]) => `${n}=${r}`).join(','), '--target-time', `${TARGET_MS}ms`],
  });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
  });
  page = await browser.newPage({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' });
  page.on('pageerror', (e) => {
    pageErrors.push(String(e));
    log(`\n[page error] ${e}`);
  });
  page.on('console', (m) => m.type() === 'error' && log(`\n[console] ${m.text()}`));
});

after(async () => {
  await browser?.close();
  nodes?.stop();
});

const chips = () =>
  page.evaluate(() =>
    [...document.querySelectorAll('.node-chip')].map((c) => ({
      addr: c.dataset.addr,
      node: c.dataset.node,
      state: c.dataset.state,
      race: c.querySelector('.race-mode')?.dataset.race ?? null,
      bits: c.querySelector('.bits')?.dataset.bits ?? null,
      threads: c.querySelector('.threads')?.dataset.threads ?? null,
      cap: c.querySelector('.cap')?.dataset.cap ?? null,
      target: c.querySelector('.target')?.textContent ?? null,
      text: c.innerText,
    })),
  );

test('with no ?nodes=, the page served by any node finds every node through /cluster, and follows nodes that leave and join', async () => {
  const [, second] = nodes.addrs;
  const clusterAsked = [];
  page.on('request', (r) => new URL(r.url()).pathname === '/cluster' && clusterAsked.push(r.url()));
  await page.goto(`http://${second}/`); // served by Node2, no ?nodes=
  assert.equal(new URL(page.url()).search, '');
  await waitFor('three live nodes', async () => (await page.locator('.node-chip[data-state="live"]').count()) === NODES);
  assert.deepEqual(
    (await chips()).map((c) => c.addr),
    nodes.addrs,
    'the nodes /cluster lists, and no other',
  );
  assert.ok(clusterAsked.includes(`http://${second}/cluster`), `asked ${second}/cluster: ${clusterAsked}`);
  assert.equal(await page.locator('#nodes-summary').getAttribute('data-source'), 'cluster');
  assert.match(await page.locator('#nodes-summary').innerText(), new RegExp(`^3/3 nodes live · found through ${second}/cluster`));

  // Each node's race mode, threads, cap and next difficulty, as its /status says.
  await waitFor('every chip with its /status figures', async () => (await chips()).every((c) => c.cap !== null && c.cap !== ''));
  for (const c of await chips()) {
    const st = await (await fetch(`http://${c.addr}/status`)).json();
    assert.equal(c.node, st.node);
    assert.equal(c.race, 'lottery');
    assert.equal(st.race, 'lottery');
    assert.equal(Number(c.cap), CAPS[st.node], `${st.node}'s cap`);
    assert.equal(Number(c.cap), st.hash_rate_cap);
    assert.equal(Number(c.threads), st.threads);
    assert.equal(Number(c.bits), st.difficulty_bits);
    assert.equal(Number(c.bits), 16);
    assert.equal(st.target_time_s, TARGET_MS / 1000);
    assert.match(c.text, new RegExp(`lottery · 16 bits \\(→ ${TARGET_MS}\\.000 ms\\) · \\w+ ×${st.threads} · cap ${CAPS[st.node] / 1e6}\\.00 MH/s`));
  }

  // Node3 leaves the cluster's list: its chip goes; it comes back: it is connected again.
  const real = await (await fetch(`http://${second}/cluster`)).json();
  assert.equal(real.cluster, null);
  assert.deepEqual(
    real.nodes.map((n) => n.addr),
    nodes.addrs,
  );
  await page.route(`http://${second}/cluster`, (route) =>
    route.fulfill({ status: 200, contentType: 'application/json', headers: { 'access-control-allow-origin': '*' }, body: JSON.stringify({ ...real, nodes: real.nodes.filter((n) => n.name !== 'Node3') }) }),
  );
  await waitFor('Node3 gone from the page', async () => (await chips()).map((c) => c.node).join() === 'Node1,Node2');
  assert.match(await page.locator('#nodes-summary').innerText(), /^2\/2 nodes live/);
  await page.unroute(`http://${second}/cluster`);
  await waitFor('Node3 back and live', async () => {
    const cs = await chips();
    return cs.length === 3 && cs.every((c) => c.state === 'live') && cs.map((c) => c.node).join() === 'Node1,Node2,Node3';
  });
  assert.deepEqual(pageErrors, []);
});

let sent = 0; // transactions sent by the batches so far: each is one race
/** Fills the batch form and starts it; waits for it to end and for the charts to settle. */
async function runBatch(count, rate, kind) {
  sent += count;
  await page.fill('#batch-count', String(count));
  await page.fill('#batch-rate', String(rate));
  await page.selectOption('#batch-kind', kind);
  const before = await page.evaluate(() => document.querySelectorAll('article.race').length);
  await page.click('#batch-start');
  await waitFor('the batch running', async () => ['running', 'done'].includes(await page.locator('#batch-progress').getAttribute('data-state')));
  assert.equal(await page.locator('#batch-start').isDisabled(), true);
  await waitFor(
    `a batch of ${count}`,
    async () => (await page.locator('#batch-progress').getAttribute('data-state')) === 'done',
    BATCH_MS,
  );
  const p = await page.locator('#batch-progress').evaluate((e) => ({ ...e.dataset }));
  const errors = await page.evaluate(() => window.powrace.batch().errors);
  assert.deepEqual([p.sent, p.answered, p.failed], [String(count), String(count), '0'], `batch progress ${JSON.stringify(p)}: ${errors.join('; ')}`);
  assert.match(await page.locator('#batch-text').innerText(), new RegExp(`^done · sent ${count} of ${count} · answered ${count} · won: Node\\d`));
  assert.equal(await page.locator('#batch-start').isDisabled(), false);
  assert.ok((await page.evaluate(() => document.querySelectorAll('article.race').length)) >= Math.min(30, before + 1));
  // Every race sent ended, and the charts were redrawn after the last one.
  return waitFor('the charts settled on every race', async () => {
    const x = await page.evaluate(readCharts);
    return x.running === 0 && x.races + x.leftOut === sent && x.difficultyPoints === sent && x.bins.reduce((a, b) => a + b.observed, 0) === x.races && x;
  });
}

test('a lottery batch from the form: the charts agree with node-server report and change as races end', async () => {
  const empty = await page.evaluate(readCharts);
  assert.equal(empty.races, 0);
  assert.equal(empty.fair.length, 0);
  assert.equal(empty.bins.length, 0);
  assert.match(await page.locator('#chart-fairness').innerText(), /No race every node took part in yet/);

  const first = await runBatch(24, 20, 'numbered');
  assert.equal(first.mode, 'lottery');
  assert.ok(first.races >= 20, `most races counted: ${first.races} + ${first.leftOut} left out`);
  assert.match(first.scopeText, new RegExp(`^These figures cover the ${first.races} lottery races this page has seen in which every node \\(Node1, Node2, Node3\\) took part`));
  // The figures are the report's for the same races (the attempts log is written a moment after
  // the replies: wait for it to hold every race).
  await waitFor('the report over the same races', async () => {
    const r = report(nodes.ledgerFile).modes.find((m) => m.race === 'lottery');
    return r && r.races + r.partial_races === first.races + first.leftOut;
  });
  assertAgreesWithReport(first, report(nodes.ledgerFile));
  assertDrawnToScale(first);
  assert.equal(first.fair.reduce((a, n) => a + n.wins, 0), first.races);
  assert.equal(first.bins.length, Math.min(40, Math.max(5, Math.ceil(2 * Math.cbrt(first.races)))), "Rice's rule");
  assert.match(first.timesCaption, /^\d+ races: mean .* \(predicted .* = 2\^bits \/ .*H\/s\)/);
  assert.match(first.verdict.text, /^(Consistent with wins following hash rate|The hash rates alone do not explain the wins) — (Pearson χ²|exact multinomial test)/);

  // A second batch (random transactions): every figure moves with the new races.
  const second = await runBatch(16, 40, 'random');
  assert.equal(second.difficultyPoints, first.difficultyPoints + 16, 'the difficulty series grew by the batch');
  assert.ok(second.races > first.races);
  assert.equal(second.fair.reduce((a, n) => a + n.wins, 0), second.races);
  assert.ok(
    second.fair.some((n, i) => n.wins !== first.fair[i].wins),
    'some node won more',
  );
  assert.notDeepEqual(
    second.bins.map((b) => [b.observed, b.height]),
    first.bins.map((b) => [b.observed, b.height]),
    'the histogram changed',
  );
  assert.deepEqual([first.difficultyDots, second.difficultyDots], [first.difficultyPoints, second.difficultyPoints], 'a dot per race');
  await waitFor('the report over the same races', async () => {
    const r = report(nodes.ledgerFile).modes.find((m) => m.race === 'lottery');
    return r && r.races + r.partial_races === second.races + second.leftOut;
  });
  assertAgreesWithReport(second, report(nodes.ledgerFile));
  assertDrawnToScale(second);

  // The difficulty line holds every race at the bits the ledger recorded it at (retargeted
  // every 16 entries), and each node shows the next race's bits as its /status says.
  const entries = JSON.parse((await (await fetch(`http://${nodes.addrs[0]}/ledger`)).text()).replace(/"nonce": ?(\d+)/g, '"nonce": "$1"'));
  const tally = (bits) => bits.reduce((m, b) => ({ ...m, [b]: (m[b] ?? 0) + 1 }), {});
  const drawn = await page.evaluate(() => window.powrace.figures().difficulty.map((d) => d.bits));
  assert.deepEqual(tally(drawn), tally(entries.map((e) => e.difficulty_bits ?? e.difficulty * 8)), 'bits per race as in the ledger');
  assert.equal(second.lastBits, drawn.at(-1));
  assert.match(await page.locator('#chart-difficulty .caption').innerText(), new RegExp(`^${entries.length} races decided, .*; the last at ${drawn.at(-1)} bits, the next at \\d+ bits \\(retargeting toward ${TARGET_MS}\\.000 ms per race\\)\\.$`));
  await waitFor("every chip at its node's next difficulty", async () => {
    const cs = await chips();
    const st = await Promise.all(cs.map(async (c) => (await (await fetch(`http://${c.addr}/status`)).json()).difficulty_bits));
    return cs.every((c, i) => Number(c.bits) === st[i]);
  });
  console.log(`# difficulty over the ${entries.length} races: ${JSON.stringify(tally(drawn))} (bits: races)`);

  // The race cards say the mode and the bits; the ledger holds every race, checked.
  const newest = entries.at(-1);
  const card = page.locator(`article.race[data-tx="${newest.tx_id}"]`);
  assert.match(await card.locator('.meta').innerText(), new RegExp(`· lottery · ${newest.difficulty_bits} bits$`));
  const total = second.races + second.leftOut;
  await waitFor('the ledger checked to its end', async () => Number(await page.locator('#ledger').getAttribute('data-verified')) === total && (await page.locator('#ledger').getAttribute('data-state')) === 'ok', STEP_MS);
  // A lottery nonce passes 2^53: shown and checked exactly (the entry badge re-verifies it).
  const badges = await page.locator('article.race .entry-badge').allInnerTexts();
  assert.ok(badges.length > 0 && badges.every((b) => /✓$/.test(b)), `entry badges: ${badges}`);
  assert.match(await card.locator('.winner').innerText(), new RegExp(`nonce ${newest.nonce} in`));
  assert.ok(entries.some((e) => BigInt(e.nonce) > 2n ** 53n), 'some lottery nonce is beyond 2^53');
  assert.deepEqual(pageErrors, []);

  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
});
