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
 * Starts `node-server serve` with NODES nodes at difficulty 2 on free ports (and `args`, e.g.
 * `--race lottery`), its ledger in a fresh temp dir (a copy of `ledger` when given, a fixture's:
 * then at the fixture's difficulty, as a node refuses a chain mined at another), and waits
 * for every /status (`startMs` for each, longer for a long ledger). Returns { dir, addrs, front, stop }: `front` are the addresses
 * the page uses — the nodes themselves, or with LEDGER_API_STANDIN=1 or WEB_FROM_DISK=1 the
 * stand-ins of standin.mjs in front of them.
 */
export async function startNodes(prefix = 'powrace-e2e-', { ledger = null, difficulty = ledger ? FIXTURE_DIFFICULTY : 2, startMs = STEP_MS, args = [] } = {}) {
  assert.ok(existsSync(BIN), `node-server binary not found at ${BIN} (cargo build --release -p node-server)`);
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const ledgerFile = path.join(dir, 'ledger.json');
  if (ledger) copyFileSync(ledger, ledgerFile);
  const base = await freeBase();
  const addrs = [...Array(NODES).keys()].map((i) => `127.0.0.1:${base + i}`);
  const server = spawn(BIN, ['serve', '--nodes', String(NODES), '--base-port', String(base), '--difficulty', String(difficulty), '--ledger', ledgerFile, ...args], {
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

/** The difficulty (zero bytes) of the fixture ledgers: quick to mine, 100,000 entries in seconds. */
export const FIXTURE_DIFFICULTY = 1;

/** Writes a fixture ledger of `entries` entries at FIXTURE_DIFFICULTY to `out`; returns the tool's report. */
export function makeFixture(out, entries, ...args) {
  const r = spawnSync(FIXTURE_BIN, ['--entries', String(entries), '--difficulty', String(FIXTURE_DIFFICULTY), '--out', out, ...args], { encoding: 'utf8' });
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

/** The experiment's figures (`node-server report --json`) of the ledger `ledgerFile`. */
export function report(ledgerFile) {
  const r = spawnSync(BIN, ['report', '--ledger', ledgerFile, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `node-server report: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/**
 * The experiment as the page draws it, read from the DOM and the SVG (every mark carries its
 * number in a data- attribute; the labels are the text shown). Runs in the page: keep it
 * self-contained (Playwright's evaluate and WebDriver's execute both send its source).
 */
export function readCharts() {
  const q = (s) => document.querySelector(s);
  const qa = (s) => [...document.querySelectorAll(s)];
  const num = (x) => (x == null || x === '' ? null : Number(x));
  const scope = q('#experiment-scope');
  const verdict = q('#fit-verdict');
  const times = q('#chart-times .chart');
  const diff = q('#chart-difficulty .chart');
  const wasted = q('#chart-wasted .chart');
  return {
    races: num(scope?.dataset.races),
    leftOut: num(scope?.dataset.leftOut),
    running: num(scope?.dataset.running),
    mode: scope?.dataset.mode ?? null,
    scopeText: scope?.textContent ?? '',
    fair: qa('#chart-fairness g.fair-node').map((g) => {
      const row = q(`#chart-fairness tr[data-node="${g.dataset.node}"]`);
      return {
        node: g.dataset.node,
        wins: num(g.dataset.wins),
        races: num(g.dataset.races),
        hashShare: num(g.dataset.hashShare),
        winShare: num(g.dataset.winShare),
        lo: num(g.dataset.winLo),
        hi: num(g.dataset.winHi),
        agrees: g.dataset.agrees === 'true',
        dotX: num(g.querySelector('circle.win-dot')?.getAttribute('cx')),
        barWidth: num(g.querySelector('rect.hash-bar')?.getAttribute('width')),
        winsLabel: row?.querySelector('.wins-label')?.textContent ?? null,
        winLabel: row?.querySelector('.win-label')?.textContent ?? null,
        hashLabel: row?.querySelector('.hash-label')?.textContent ?? null,
      };
    }),
    verdict: verdict && {
      method: verdict.dataset.method,
      statistic: num(verdict.dataset.statistic),
      df: num(verdict.dataset.df),
      p: num(verdict.dataset.pValue),
      rejected: verdict.dataset.rejected === 'true',
      text: verdict.textContent,
    },
    bins: qa('#chart-times rect.bin').map((r) => ({
      observed: num(r.dataset.observed),
      predicted: num(r.dataset.predicted),
      lo: num(r.dataset.lo),
      hi: num(r.dataset.hi),
      height: num(r.getAttribute('height')),
    })),
    curve: qa('#chart-times polyline.predicted').length,
    timesCaption: times?.querySelector('.caption')?.textContent ?? '',
    difficultyPoints: num(diff?.dataset.points),
    lastBits: num(diff?.dataset.lastBits),
    difficultyPath: q('#chart-difficulty path.bits-line')?.getAttribute('d') ?? null,
    difficultyDots: qa('#chart-difficulty circle.bits-dot').length,
    arrival: q('#arrival') && { firstShare: num(q('#arrival').dataset.firstShare), p: num(q('#arrival').dataset.pValue), rejected: q('#arrival').dataset.rejected === 'true', text: q('#arrival').textContent },
    wastedShare: num(wasted?.dataset.share),
    expectedWasted: num(wasted?.dataset.expected),
    losersStop: wasted?.dataset.losersStop === 'true',
  };
}

/** Asserts that the page's figures `x` (readCharts) are `node-server report --json`'s. */
export function assertAgreesWithReport(x, rep) {
  const near = (a, b, what) => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: page ${a}, report ${b}`);
  const m = rep.modes.find((mode) => mode.race === x.mode);
  assert.ok(m, `the report has ${x.mode} races: ${JSON.stringify(rep.modes.map((mode) => mode.race))}`);
  assert.equal(x.races, m.races, 'races every node entered');
  assert.equal(x.leftOut, m.partial_races, 'races left out');
  const f = m.fairness;
  assert.ok(f, `the report's fairness: ${m.fairness_note}`);
  assert.equal(x.fair.length, f.nodes.length);
  for (const n of f.nodes) {
    const p = x.fair.find((y) => y.node === n.name);
    assert.ok(p, `${n.name} drawn`);
    assert.equal(p.wins, n.wins, `${n.name} wins`);
    assert.equal(p.races, n.races, `${n.name} races`);
    near(p.hashShare, n.hash_share, `${n.name} hash share`);
    near(p.winShare, n.win_share, `${n.name} win share`);
    near(p.lo, n.win_interval.lo, `${n.name} interval low`);
    near(p.hi, n.win_interval.hi, `${n.name} interval high`);
    assert.equal(p.agrees, n.agrees, `${n.name} agrees`);
    assert.equal(p.winsLabel, `${n.wins}/${n.races}`);
    assert.equal(p.hashLabel, n.hash_share.toFixed(3));
    assert.equal(p.winLabel, `${n.win_share.toFixed(3)} [${n.win_interval.lo.toFixed(3)}, ${n.win_interval.hi.toFixed(3)}]`);
  }
  assert.equal(x.verdict.method, f.test.method.kind, 'test method');
  near(x.verdict.statistic, f.test.statistic, 'test statistic');
  assert.equal(x.verdict.df, f.test.df, 'degrees of freedom');
  near(x.verdict.p, f.test.p_value, 'p-value');
  assert.equal(x.verdict.rejected, f.test.rejected, 'verdict');
  if (x.mode === 'lottery') {
    const t = m.race_times;
    assert.ok(t, 'the report has race times');
    assert.deepEqual(
      x.bins.map((b) => b.observed),
      t.histogram.map((b) => b.observed),
      'histogram counts',
    );
    for (const [i, b] of t.histogram.entries()) {
      near(x.bins[i].predicted, b.predicted, `bin ${i} predicted`);
      near(x.bins[i].hi, b.hi, `bin ${i} upper edge`);
    }
    assert.equal(x.curve, 1, 'the predicted curve is drawn');
  }
  near(x.wastedShare, m.wasted.wasted_share, 'wasted share');
  near(x.expectedWasted, m.expected_wasted_share, '1 - sum of squared shares');
  assert.equal(x.difficultyPoints, m.races + m.partial_races, 'difficulty points: every decided race');
  // The attempts log has no start time for an aborted attempt (attempts.rs), so with losers
  // that stop the report ranks the winner among the others that finished only; the page has
  // every node's `started` event. Compared where both see every start.
  if (m.arrival && !x.losersStop) {
    assert.ok(x.arrival, 'the arrival order is shown');
    near(x.arrival.firstShare, m.arrival.ranks[0].win_share, 'first to start: win share');
    near(x.arrival.p, m.arrival.test.p_value, 'arrival order p-value');
    assert.equal(x.arrival.rejected, m.arrival.test.rejected);
  }
}

/** Asserts what is drawn follows the figures: bar heights in proportion to the counts, each
 * node's dot at its win share and bar at its hash share, every counted race in a bin. */
export function assertDrawnToScale(x) {
  assert.equal(x.bins.reduce((a, b) => a + b.observed, 0), x.races, 'every race in a bin');
  const tallest = x.bins.reduce((a, b) => (b.observed > a.observed ? b : a));
  for (const b of x.bins) assert.ok(Math.abs(b.height - (tallest.height * b.observed) / tallest.observed) < 0.01, `bar height ${b.height} for ${b.observed} (tallest ${tallest.height} for ${tallest.observed})`);
  const [a, b] = x.fair;
  // x = left + share × width: two nodes fix left and width, the third must fit.
  const scale = (b.dotX - a.dotX) / (b.winShare - a.winShare || 1);
  for (const n of x.fair) {
    if (a.winShare !== b.winShare) assert.ok(Math.abs(n.dotX - (a.dotX + (n.winShare - a.winShare) * scale)) < 0.01, `${n.node}'s dot at its win share`);
    assert.ok(Math.abs(n.barWidth / x.fair[0].barWidth - n.hashShare / x.fair[0].hashShare) < 0.01, `${n.node}'s bar at its hash share`);
  }
}
