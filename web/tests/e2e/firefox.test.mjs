// End to end in Firefox: the same real node-server as e2e.test.mjs (three nodes on free ports, a
// ledger in a temp dir), the page in Debian's headless Firefox ESR driven over plain W3C
// WebDriver (geckodriver's HTTP API with node's fetch: Playwright cannot drive a stock Firefox),
// transactions sent with real `nc`.
//
//   NODE_SERVER_BIN=/path/to/node-server node --test firefox.test.mjs
//
// FIREFOX (default /usr/bin/firefox-esr) and GECKODRIVER (default: geckodriver on PATH) choose
// the browser and driver. The page is saved at the end to $FIREFOX_SCREENSHOT (default: a temp
// file).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { NODES, SEED_TX, STEP_MS, STANDIN, freeBase, log, nc, startNodes, waitFor, makeFixture, fixtureTx, requirePagedLedger, report, readCharts, assertAgreesWithReport, assertDrawnToScale } from './harness.mjs';

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
const GECKODRIVER = process.env.GECKODRIVER ?? 'geckodriver';
const SCREENSHOT = process.env.FIREFOX_SCREENSHOT
  ? path.resolve(process.env.FIREFOX_SCREENSHOT)
  : path.join(tmpdir(), 'powrace-e2e-firefox.png');
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'; // the W3C web element identifier key
/** The long ledger's length here (big-ledger.test.mjs runs the full checks in Chromium). */
const ENTRIES = Number(process.env.FIREFOX_FIXTURE_ENTRIES ?? 100_000);
const LONG_MS = Number(process.env.LONG_MS ?? Math.max(STEP_MS, ENTRIES * 3));

let nodes, driver, driverUrl, sid;
let firefoxOut = ''; // geckodriver's and Firefox's output, the page's console among it

/** The page's uncaught errors and rejections (its worker's too), as Firefox prints them. */
const pageErrors = () => firefoxOut.split('\n').filter((l) => /JavaScript error: https?:\/\/127\.0\.0\.1[:/]/.test(l));

/** One W3C WebDriver command; returns `value`, throws the driver's error. */
async function wd(method, route, body) {
  const res = await fetch(`${driverUrl}${route}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  if (!res.ok || json.value?.error) {
    throw new Error(`WebDriver ${method} ${route}: ${json.value?.error}: ${json.value?.message}`);
  }
  return json.value;
}
const cmd = (method, route, body) => wd(method, `/session/${sid}${route}`, body);

/** Runs `fn` (a function, serialized) in the page with JSON arguments; returns its result. */
const exec = (fn, ...args) => cmd('POST', '/execute/sync', { script: `return (${fn}).apply(null, arguments);`, args });
async function find(css) {
  const id = (await cmd('POST', '/element', { using: 'css selector', value: css }))[ELEMENT];
  assert.ok(id, `no web element reference for ${css}`);
  return id;
}
const click = async (css) => cmd('POST', `/element/${await find(css)}/click`, {});
const text = (css) => exec((s) => document.querySelector(s)?.innerText ?? null, css);
const count = (css) => exec((s) => document.querySelectorAll(s).length, css);
const attr = (css, name) => exec((s, n) => document.querySelector(s)?.getAttribute(n) ?? null, css, name);
async function type(css, value) {
  const id = await find(css);
  await cmd('POST', `/element/${id}/clear`, {});
  await cmd('POST', `/element/${id}/value`, { text: value });
}

/** The race card of a transaction, as data: its winner and every lane's texts. */
const raceCard = (tx) =>
  exec((t) => {
    const card = [...document.querySelectorAll('article.race')].find((a) => a.textContent.includes(t));
    if (!card) return null;
    const lanes = {};
    for (const lane of card.querySelectorAll('.lane[data-node]')) {
      lanes[lane.dataset.node] = {
        start: lane.querySelector('.start')?.innerText,
        end: lane.querySelector('.end')?.innerText,
        outcome: lane.getAttribute('data-outcome'),
        outcomeText: lane.querySelector('.outcome')?.innerText ?? '',
      };
    }
    return { winner: card.getAttribute('data-winner'), badge: card.querySelector('.entry-badge')?.innerText ?? '', lanes };
  }, tx);

/** Every row of a ledger table (#ledger or #file-result). */
const ledgerRows = (table) =>
  exec(
    (t) =>
      [...document.querySelectorAll(`${t} tr[data-position]`)].map((r) => ({
        position: Number(r.dataset.position),
        status: r.getAttribute('data-status'),
        tx: r.getAttribute('data-tx'),
        mark: r.querySelector('.mark')?.innerText,
        reason: r.querySelector('.reason')?.innerText ?? '',
        text: r.innerText,
      })),
    table,
  );

before(async () => {
  nodes = await startNodes('powrace-e2e-firefox-');
  const port = await freeBase(1);
  driverUrl = `http://127.0.0.1:${port}`;
  driver = spawn(GECKODRIVER, ['--host', '127.0.0.1', '--port', String(port), '--log', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = (d) => {
    firefoxOut += d;
    log(`[firefox] ${d}`);
  };
  driver.stdout.on('data', out);
  driver.stderr.on('data', out);
  const spawned = new Promise((res, rej) => driver.once('spawn', res).once('error', (e) => rej(new Error(`${GECKODRIVER}: ${e.message}`))));
  await spawned;
  await waitFor('geckodriver', async () => (await wd('GET', '/status')).ready);

  // A fresh profile in the temp dir, nothing that phones home (startup can hang on it offline).
  const profile = path.join(nodes.dir, 'firefox-profile');
  mkdirSync(profile);
  const session = await wd('POST', '/session', {
    capabilities: {
      alwaysMatch: {
        browserName: 'firefox',
        pageLoadStrategy: 'normal',
        'moz:firefoxOptions': {
          binary: FIREFOX,
          args: ['-headless', '-profile', profile],
          prefs: {
            'app.update.enabled': false,
            'app.update.auto': false,
            'browser.shell.checkDefaultBrowser': false,
            'browser.startup.homepage_override.mstone': 'ignore',
            'datareporting.policy.dataSubmissionEnabled': false,
            'datareporting.healthreport.uploadEnabled': false,
            'toolkit.telemetry.enabled': false,
            'network.captive-portal-service.enabled': false,
            'network.connectivity-service.enabled': false,
            'extensions.update.enabled': false,
            'extensions.getAddons.cache.enabled': false,
            'browser.safebrowsing.malware.enabled': false,
            'browser.safebrowsing.phishing.enabled': false,
            'browser.safebrowsing.downloads.enabled': false,
            'services.settings.server': 'http://127.0.0.1:9/',
            'messaging-system.rsexperimentloader.enabled': false,
            'app.normandy.enabled': false,
            'layout.css.prefers-color-scheme.content-override': 1, // light, as the Chromium run
            'devtools.console.stdout.content': true, // the page's console in the log on failure
          },
        },
      },
    },
  });
  sid = session.sessionId;
  log(`[firefox] ${session.capabilities.browserName} ${session.capabilities.browserVersion}\n`);
  await cmd('POST', '/window/rect', { width: 1440, height: 900 });
  await cmd('POST', '/timeouts', { script: STEP_MS, pageLoad: STEP_MS });
});

after(async () => {
  if (sid) await cmd('DELETE', '', undefined).catch(() => {});
  driver?.kill('SIGTERM');
  if (driver?.pid && driver.exitCode === null && driver.signalCode === null) await new Promise((r) => driver.once('exit', r));
  nodes?.stop();
});

test('Firefox: the page shows a race from nc: every node start and end, the winner, the ledger verified by WASM', async () => {
  const addrs = nodes.addrs;
  const front = nodes.front; // what the page talks to: the nodes (or stand-ins, see harness)
  await cmd('POST', '/url', { url: `http://${front[0]}/?nodes=${front.join(',')}` });
  assert.equal(await exec(() => navigator.userAgent.includes('Firefox/')), true, 'the browser is Firefox');
  await waitFor('three live nodes', async () => (await count('.node-chip[data-state="live"]')) === NODES);
  await waitFor('the WASM core', async () => (await count('#wasm-status.ok')) === 1);
  assert.match(await text('#wasm-status'), /WebAssembly/);

  const txs = [SEED_TX, `e2e firefox ${Date.now()} Alice pays Bob 5`];
  const replies = [];
  for (const tx of txs) {
    const r = await Promise.all(addrs.map((a) => nc(a, tx)));
    replies.push(r);
    assert.equal(new Set(r.map((x) => x.winner)).size, 1, `the nodes agree on one winner: ${JSON.stringify(r)}`);
    const winner = r[0].winner;
    assert.equal(r.filter((x) => x.outcome === 'won').length, 1);
    if (tx === SEED_TX) assert.equal(r[0].nonce, 6907);

    const card = await waitFor(`the race card of ${tx} with every end time, every outcome and the entry badge ✓`, async () => {
      const c = await raceCard(tx);
      const done =
        c?.winner === winner &&
        r.every((x) => /\d{2}:\d{2}:\d{2}\.\d{6}/.test(c.lanes[x.node]?.end ?? '')) &&
        r.every((x) => ['won', 'lost'].includes(c.lanes[x.node].outcome)) && // past `completed`
        /✓/.test(c.badge);
      return done && c;
    });
    for (const reply of r) {
      const lane = card.lanes[reply.node];
      assert.equal(lane.start, reply.start_time.slice(11), `${reply.node} start`);
      assert.equal(lane.end, reply.end_time.slice(11), `${reply.node} end`);
      assert.equal(lane.outcome, reply.node === winner ? 'won' : 'lost');
      if (reply.node !== winner) assert.match(lane.outcomeText, /lost by/);
    }
  }

  // The ledger, fetched from /ledger and verified by the WASM core in Firefox.
  const rows = await waitFor('both ledger rows, checked', async () => {
    const rs = await ledgerRows('#ledger');
    return rs.length === txs.length && rs.every((r) => r.status === 'ok' && r.tx != null) && rs;
  });
  for (const [i, tx] of txs.entries()) {
    const row = rows.find((x) => x.position === i);
    assert.equal(row.status, 'ok');
    assert.equal(row.mark, '✓');
    assert.equal(row.tx, tx);
    assert.match(row.text, new RegExp(replies[i][0].winner));
  }
  await waitFor('the ledger summary', async () => /chain intact/.test(await text('#ledger .summary')));

  // Per-node totals (the table is redrawn after events, at a bounded rate: wait for it, as the
  // Chromium test does).
  const wins = await waitFor('every win in the totals', async () => {
    const w = await exec(() => [...document.querySelectorAll('#totals tbody tr .wins')].map((e) => e.innerText));
    return w.map(Number).reduce((a, b) => a + b, 0) === txs.length && w;
  });
  assert.equal(wins.length, NODES);
  assert.deepEqual(pageErrors(), [], 'no uncaught error in the page');
});

test('Firefox: a tampered ledger.json opened from disk shows ✗; the browser miner (module Worker + WASM) finds nonce 6907', async () => {
  const saved = readFileSync(path.join(nodes.dir, 'ledger.json'), 'utf8');
  const ledger = JSON.parse(saved);
  assert.ok(ledger.length >= 2);

  // A duplicate key (issue 8 §7): refused at its entry, the key named.
  const dupFile = path.join(nodes.dir, 'ledger-duplicate-key.json');
  writeFileSync(dupFile, saved.replace('{\n    "node": ', '{\n    "node": "Mallory",\n    "node": '));
  await cmd('POST', `/element/${await find('#file-input')}/value`, { text: dupFile });
  const dupRows = await waitFor('the duplicate-key file checked', async () => {
    const rs = await ledgerRows('#file-result');
    const named = (await text('#file-result h3'))?.includes('duplicate-key');
    return named && (await attr('#file-result .file-view', 'data-state')) === 'bad' && rs.length === ledger.length && rs.every((r) => r.tx != null) && rs;
  });
  const dup = dupRows.find((x) => x.position === 0);
  assert.equal(dup.status, 'bad');
  assert.match(dup.reason, /^the entry does not parse: duplicate field `node`/);
  for (const r of dupRows.filter((x) => x.position > 0)) assert.equal(r.status, 'after_break');

  const bad = ledger.length - 1;
  const tampered = structuredClone(ledger);
  tampered[bad].node = tampered[bad].node === 'Node1' ? 'Node2' : 'Node1';
  const file = path.join(nodes.dir, 'ledger-tampered.json');
  writeFileSync(file, JSON.stringify(tampered, null, 2));
  await cmd('POST', `/element/${await find('#file-input')}/value`, { text: file });

  const rows = await waitFor('the checked file', async () => {
    const rs = await ledgerRows('#file-result');
    if (!(await text('#file-result h3'))?.includes('tampered')) return false;
    const done = ['ok', 'bad', 'error'].includes(await attr('#file-result .file-view', 'data-state'));
    return done && rs.length === ledger.length && rs.every((r) => r.tx != null) && rs;
  });
  const row = rows.find((x) => x.position === bad);
  assert.equal(row.status, 'bad');
  assert.equal(row.mark, '✗');
  assert.match(row.reason, new RegExp(`^entry_hash ${ledger[bad].entry_hash} does not match the entry's fields \\([0-9a-f]{64}\\): a field was changed$`));
  for (const r of rows.filter((x) => x.position < bad)) assert.equal(r.status, 'ok');
  assert.match(await text('#file-result .summary'), new RegExp(`entry ${bad} is the first bad entry`));

  // Mine the lab's transaction in the browser: the same nonce as the nodes.
  await type('#mine-data', SEED_TX);
  await click('#mine-bits option[value="16"]');
  assert.equal(await exec(() => document.querySelector('#mine-bits').value), '16');
  await click('#mine-start');
  await waitFor('the browser miner', async () => (await attr('#mine-out', 'data-state')) === 'found');
  assert.equal(await text('#mine-nonce'), '6907');
  assert.match(await text('#mine-check'), /✓ same/);

  await exec(() => window.scrollTo(0, 0));
  const png = await cmd('GET', '/moz/screenshot/full');
  writeFileSync(SCREENSHOT, Buffer.from(png, 'base64'));
  assert.deepEqual(pageErrors(), [], 'no uncaught error in the page');
});

test(`Firefox: a ${ENTRIES}-entry ledger: newest first, checked in the background to ✓, a race fetched incrementally, a deep tampered entry ✗`, async () => {
  const big = await startNodes('powrace-e2e-firefox-big-', { startMs: LONG_MS, ledger: await (async () => {
    const dir = path.join(nodes.dir, 'fixtures');
    mkdirSync(dir, { recursive: true });
    makeFixture(path.join(dir, 'ledger.json'), ENTRIES);
    return path.join(dir, 'ledger.json');
  })() });
  try {
    if (!STANDIN) await requirePagedLedger(big.addrs[0]);
    const front = big.front;
    await cmd('POST', '/url', { url: `http://${front[0]}/?nodes=${front.join(',')}` });
    const newest = `#ledger tr[data-position="${ENTRIES - 1}"]`;
    await waitFor('the newest entry on screen', async () => (await attr(newest, 'data-tx')) === fixtureTx(ENTRIES - 1));
    await waitFor('the whole chain checked', async () => (await attr('#ledger', 'data-state')) === 'ok' && Number(await attr('#ledger', 'data-verified')) === ENTRIES, LONG_MS);
    const t = await exec(() => ({ ...window.powrace.timings, workers: window.powrace.ledger().view.helpers || 1 }));
    console.log(`# Firefox, ${ENTRIES} entries: newest rows shown ${t.ledgerFirstRows.toFixed(0)} ms after navigation; whole chain checked ${t.ledgerVerified.toFixed(0)} ms after navigation (${t.workers} checking workers)`);
    assert.match(await text('#ledger .summary'), new RegExp(`^✓ ${ENTRIES.toLocaleString('en')} entries, chain intact`));
    assert.equal(await attr(newest, 'data-status'), 'ok');
    assert.ok((await count('#ledger tbody tr')) < 60, 'only the rows in view are in the page');

    // A race: the new entry appears on top, checked onto the known head.
    const tx = `firefox big ${Date.now()}`;
    const replies = await Promise.all(big.addrs.map((a) => nc(a, tx)));
    const won = replies.find((r) => r.outcome === 'won');
    assert.equal(won.entry.index, ENTRIES);
    const row = `#ledger tr[data-position="${ENTRIES}"]`;
    await waitFor('the new entry on screen and checked', async () => (await attr(row, 'data-tx')) === tx && (await attr(row, 'data-status')) === 'ok' && Number(await attr('#ledger', 'data-verified')) === ENTRIES + 1);
    // The page asked for entries from the old end on, never for the whole ledger (the worker's
    // requests are not in the page's resource timing, the rows' are).
    const urls = await exec(() => performance.getEntriesByType('resource').map((e) => e.name).filter((u) => new URL(u).pathname === '/ledger'));
    assert.deepEqual(urls.filter((u) => !new URL(u).searchParams.has('from')), []);

    // A tampered entry deep in a file opened from disk.
    const bad = Math.floor(ENTRIES * 0.54321);
    const file = path.join(nodes.dir, 'fixtures', 'tampered.json');
    makeFixture(file, ENTRIES, '--tamper', String(bad));
    await cmd('POST', `/element/${await find('#file-input')}/value`, { text: file });
    await waitFor('the file checked', async () => ['ok', 'bad', 'error'].includes(await attr('#file-result .file-view', 'data-state')), LONG_MS);
    assert.equal(await attr('#file-result .file-view', 'data-state'), 'bad');
    assert.equal(Number(await attr('#file-result .file-view', 'data-first-bad')), bad);
    await click('#file-result .first-bad');
    const badRow = `#file-result tr[data-position="${bad}"]`;
    await waitFor('the tampered entry on screen', async () => (await attr(badRow, 'data-tx')) === fixtureTx(bad));
    assert.equal(await attr(badRow, 'data-status'), 'bad');
    assert.match(await text(`${badRow} .reason`), /^entry_hash [0-9a-f]{64} does not match the entry's fields \([0-9a-f]{64}\): a field was changed$/);
    assert.equal(await attr(`#file-result tr[data-position="${bad + 1}"]`, 'data-status'), 'after_break');
    assert.deepEqual(pageErrors(), [], 'no uncaught error in the page');
  } finally {
    big.stop();
  }
});

test('Firefox: with no ?nodes= the page finds the lottery nodes through /cluster; a batch from its form; the charts agree with node-server report and change', async () => {
  const caps = { Node1: 2e6, Node2: 1e6, Node3: 1e6 };
  const lot = await startNodes('powrace-e2e-firefox-lottery-', {
    args: ['--race', 'lottery', '--hashrate', Object.entries(caps).map(([n, r]) => `${n}=${r}`).join(',')],
  });
  try {
    await cmd('POST', '/url', { url: `http://${lot.addrs[2]}/` }); // served by Node3, no ?nodes=
    await waitFor('three live nodes found through /cluster', async () => (await count('.node-chip[data-state="live"]')) === NODES);
    const chips = await exec(() => [...document.querySelectorAll('.node-chip')].map((c) => ({ addr: c.dataset.addr, node: c.dataset.node, race: c.querySelector('.race-mode')?.dataset.race, cap: c.querySelector('.cap')?.dataset.cap, bits: c.querySelector('.bits')?.dataset.bits })));
    assert.deepEqual(chips.map((c) => c.addr), lot.addrs);
    assert.equal(await attr('#nodes-summary', 'data-source'), 'cluster');
    await waitFor('the caps from /status', async () => (await exec(() => [...document.querySelectorAll('.node-chip .cap')].map((e) => e.dataset.cap))).join() === '2000000,1000000,1000000');
    assert.deepEqual(chips.map((c) => [c.node, c.race, c.bits]), [['Node1', 'lottery', '16'], ['Node2', 'lottery', '16'], ['Node3', 'lottery', '16']]);

    let sent = 0;
    const batch = async (n, rate, kind) => {
      sent += n;
      await type('#batch-count', String(n));
      await type('#batch-rate', String(rate));
      await click(`#batch-kind option[value="${kind}"]`);
      await click('#batch-start');
      await waitFor(`a batch of ${n} done`, async () => (await attr('#batch-progress', 'data-state')) === 'done', 60_000);
      assert.deepEqual([await attr('#batch-progress', 'data-answered'), await attr('#batch-progress', 'data-failed')], [String(n), '0']);
      // Every race sent (each transaction is one race) ended and is drawn.
      return waitFor('the charts settled on every race', async () => {
        const x = await exec(readCharts);
        return x.running === 0 && x.races + x.leftOut === sent && x.difficultyPoints === sent && x.bins.reduce((a, b) => a + b.observed, 0) === x.races && x;
      });
    };
    const agree = async (x) => {
      await waitFor('the report over the same races', async () => {
        const m = report(lot.ledgerFile).modes.find((r) => r.race === 'lottery');
        return m && m.races + m.partial_races === x.races + x.leftOut;
      });
      assertAgreesWithReport(x, report(lot.ledgerFile));
      assertDrawnToScale(x);
    };
    const first = await batch(15, 20, 'numbered');
    assert.equal(first.mode, 'lottery');
    await agree(first);
    const second = await batch(10, 30, 'random');
    assert.equal(second.difficultyPoints, first.difficultyPoints + 10);
    assert.ok(second.races > first.races);
    assert.notDeepEqual(second.bins.map((b) => b.observed), first.bins.map((b) => b.observed));
    await agree(second);
    assert.deepEqual(pageErrors(), [], 'no uncaught error in the page');
  } finally {
    lot.stop();
  }
});
