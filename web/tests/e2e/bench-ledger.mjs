// Measures the dashboard on long ledgers in headless Chromium against the real node-server: the
// time from navigation to the newest rows on screen, to the whole chain checked (the page's own
// marks), the longest main-thread task while the chain is checked and the file read (the page
// must stay responsive; the page's own start-up is reported apart), the time for a
// jump to an entry deep in the ledger to show its row, and the page's JavaScript heap. Also the
// same ledger as a file opened from disk. A measurement, not a test: nothing is asserted.
//
//   cargo build --release -p node-server && cargo build --release -p powrace-web --example fixture_ledger
//   cd web/tests/e2e && node bench-ledger.mjs 100000 1000000
//
// Fixtures are written to $BENCH_DIR (default: a temp dir, removed at the end) and reused when
// already there (fixture-N.json).
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { makeFixture, startNodes, waitFor, fixtureTx } from './harness.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (!sizes.length) sizes.push(100_000);
const keep = !!process.env.BENCH_DIR;
const dir = process.env.BENCH_DIR ?? mkdtempSync(path.join(tmpdir(), 'powrace-bench-'));

const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--enable-precise-memory-info'],
});
const rows = [];
try {
  for (const n of sizes) {
    const file = path.join(dir, `fixture-${n}.json`);
    if (!existsSync(file)) console.error(makeFixture(file, n));
    const long = Math.max(60_000, n * 2);
    let t = Date.now();
    const nodes = await startNodes('powrace-bench-', { ledger: file, startMs: long * 5 });
    const startS = (Date.now() - t) / 1000;
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    try {
      // The longest main-thread task, from before the page's scripts run.
      await page.addInitScript(() => {
        window.__longest = 0;
        new PerformanceObserver((l) => {
          for (const e of l.getEntries()) window.__longest = Math.max(window.__longest, e.duration);
        }).observe({ type: 'longtask', buffered: true });
      });
      await page.goto(`http://${nodes.front[0]}/?nodes=${nodes.front.join(',')}`);
      await waitFor('the newest row', async () => (await page.locator(`#ledger tr[data-position="${n - 1}"]`).getAttribute('data-tx')) === fixtureTx(n - 1), long);
      // From here on: the page is up, the check runs; what the reader feels is measured.
      await new Promise((r) => setTimeout(r, 300)); // long tasks are reported a little late
      const startup = await page.evaluate(() => window.__longest);
      await page.evaluate(() => (window.__longest = 0));
      await waitFor('the whole chain checked', async () => (await page.locator('#ledger').getAttribute('data-state')) === 'ok', long * 5);
      const m = await page.evaluate(() => ({ ...window.powrace.timings, longest: window.__longest, heap: performance.memory?.usedJSHeapSize, workers: window.powrace.ledger()?.view.helpers || 1 }));
      // A jump deep into the ledger: until its row shows its data.
      const deep = Math.floor(n * 0.3);
      t = Date.now();
      await page.locator('#ledger .goto-input').fill(String(deep));
      await page.locator('#ledger .goto-input').press('Enter');
      await waitFor('the deep row', async () => (await page.locator(`#ledger tr[data-position="${deep}"]`).getAttribute('data-tx')) === fixtureTx(deep), long);
      const jumpMs = Date.now() - t;
      // The same ledger as a file from disk.
      t = Date.now();
      await page.setInputFiles('#file-input', file);
      await waitFor('the file checked', async () => ['ok', 'bad', 'error'].includes(await page.locator('#file-result .file-view').getAttribute('data-state')), long * 5);
      const fileS = (Date.now() - t) / 1000;
      const longest = await page.evaluate(() => window.__longest);
      rows.push({ entries: n, workers: m.workers, startupTaskMs: startup, startS, firstRowsMs: m.ledgerFirstRows, verifiedS: m.ledgerVerified / 1000, longestTaskMs: longest, jumpMs, heapMB: m.heap / 1e6, fileS });
      console.error(JSON.stringify(rows.at(-1)));
    } finally {
      await page.close();
      nodes.stop();
    }
  }
} finally {
  await browser.close();
  if (!keep) rmSync(dir, { recursive: true, force: true });
}

console.log('| entries | node start (s) | newest rows shown (ms) | chain checked (s) | entries/s | checking workers | longest main-thread task while checking (ms) | at start-up (ms) | jump to an old entry (ms) | page JS heap (MB) | same ledger as a file (s) |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.entries.toLocaleString('en')} | ${r.startS.toFixed(1)} | ${r.firstRowsMs.toFixed(0)} | ${r.verifiedS.toFixed(1)} | ${Math.round(r.entries / r.verifiedS).toLocaleString('en')} | ${r.workers} | ${r.longestTaskMs.toFixed(0)} | ${r.startupTaskMs.toFixed(0)} | ${r.jumpMs} | ${r.heapMB.toFixed(0)} | ${r.fileS.toFixed(1)} |`,
  );
}
