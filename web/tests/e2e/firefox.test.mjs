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
import { NODES, SEED_TX, STEP_MS, freeBase, log, nc, startNodes, waitFor } from './harness.mjs';

const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';
const GECKODRIVER = process.env.GECKODRIVER ?? 'geckodriver';
const SCREENSHOT = process.env.FIREFOX_SCREENSHOT
  ? path.resolve(process.env.FIREFOX_SCREENSHOT)
  : path.join(tmpdir(), 'powrace-e2e-firefox.png');
const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf'; // the W3C web element identifier key

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
  await cmd('POST', '/url', { url: `http://${addrs[0]}/?nodes=${addrs.join(',')}` });
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
  const rows = await waitFor('both ledger rows', async () => {
    const rs = await ledgerRows('#ledger');
    return rs.length === txs.length && rs;
  });
  for (const [i, tx] of txs.entries()) {
    const row = rows.find((x) => x.position === i);
    assert.equal(row.status, 'ok');
    assert.equal(row.mark, '✓');
    assert.equal(row.tx, tx);
    assert.match(row.text, new RegExp(replies[i][0].winner));
  }
  await waitFor('the ledger summary', async () => /chain intact/.test(await text('#ledger .summary')));

  const wins = await exec(() => [...document.querySelectorAll('#totals tbody tr .wins')].map((e) => e.innerText));
  assert.equal(wins.length, NODES);
  assert.equal(wins.map(Number).reduce((a, b) => a + b, 0), txs.length);
  assert.deepEqual(pageErrors(), [], 'no uncaught error in the page');
});

test('Firefox: a tampered ledger.json opened from disk shows ✗; the browser miner (module Worker + WASM) finds nonce 6907', async () => {
  const ledger = JSON.parse(readFileSync(path.join(nodes.dir, 'ledger.json'), 'utf8'));
  assert.ok(ledger.length >= 2);
  const bad = ledger.length - 1;
  const tampered = structuredClone(ledger);
  tampered[bad].node = tampered[bad].node === 'Node1' ? 'Node2' : 'Node1';
  const file = path.join(nodes.dir, 'ledger-tampered.json');
  writeFileSync(file, JSON.stringify(tampered, null, 2));
  await cmd('POST', `/element/${await find('#file-input')}/value`, { text: file });

  const rows = await waitFor('the checked file', async () => {
    const rs = await ledgerRows('#file-result');
    return rs.length === ledger.length && rs;
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
