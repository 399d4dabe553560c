// By hand: how the experiment's figures and charts cost as the races seen grow. The real
// node-server (lottery, three nodes) serves the page in headless Chromium; N races in the nodes'
// event schema (exponential race times, 2:1:1 hash rates, the difficulty moving every 100 races)
// are fed to the page's race book, then the figures and the four charts are redrawn and timed.
//
//   cd web/tests/e2e && node bench-charts.mjs 2000 10000 50000
import { chromium } from 'playwright-core';
import { startNodes } from './harness.mjs';

const sizes = process.argv.slice(2).map(Number).filter((n) => n > 0);
if (!sizes.length) sizes.push(2000, 10000);
const nodes = await startNodes('powrace-bench-charts-', { args: ['--race', 'lottery'] });
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  console.log('races   redraw (median of 5)   SVG elements   bins   JS heap');
  for (const n of sizes) {
    const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
    await page.goto(`http://${nodes.addrs[0]}/`);
    await page.waitForFunction(() => document.querySelectorAll('.node-chip[data-state="live"]').length === 3);
    const r = await page.evaluate((n) => {
      const { book, redraw } = window.powrace;
      let seed = 42;
      const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
      const ts = (us) => {
        const d = new Date(Math.floor(us / 1000)).toISOString();
        return `${d.slice(0, 10)} ${d.slice(11, 19)}.${String(us % 1e6).padStart(6, '0')}`;
      };
      const rates = { Node1: 2e6, Node2: 1e6, Node3: 1e6 };
      let t = Date.now() * 1000 - n * 100_000;
      let seq = 0;
      for (let i = 0; i < n; i++) {
        const bits = 16 + Math.floor(i / 100) % 3;
        const times = Object.fromEntries(Object.entries(rates).map(([k, r]) => [k, (-Math.log(1 - rand()) * 2 ** bits) / r]));
        const winner = Object.keys(times).reduce((a, b) => (times[a] < times[b] ? a : b));
        const end = times[winner];
        for (const [node, r] of Object.entries(rates)) {
          const base = { node, tx_id: `b${i}`, transaction_data: `bench ${i}`, difficulty: 2 };
          const secs = node === winner ? end : end;
          const work = { nonce: 1, hash: '00', time_taken: secs, hashes: Math.round(r * secs), start_time: ts(t), end_time: ts(t + Math.round(secs * 1e6)), difficulty_bits: bits, race: 'lottery' };
          const at = t + Math.round(secs * 1e6);
          book.apply({ type: 'received', seq: ++seq, ...base, at: ts(t), at_us: t, peer: 'http' });
          book.apply({ type: 'started', seq: ++seq, ...base, at: ts(t), at_us: t, start_time: ts(t) });
          if (node === winner) book.apply({ type: 'won', seq: ++seq, ...base, at: ts(at), at_us: at, ...work, entry: { index: i } });
          else book.apply({ type: 'lost', seq: ++seq, ...base, at: ts(at), at_us: at, winner, aborted: true, hashes: work.hashes, time_taken: secs });
        }
        t += 100_000;
      }
      const ms = [];
      for (let k = 0; k < 5; k++) {
        const t0 = performance.now();
        redraw();
        ms.push(performance.now() - t0);
      }
      ms.sort((a, b) => a - b);
      return { ms: ms[2], svg: document.querySelectorAll('#experiment svg *').length, bins: document.querySelectorAll('#chart-times rect.bin').length, heap: performance.memory?.usedJSHeapSize ?? 0, races: Number(document.querySelector('#experiment-scope').dataset.races) };
    }, n);
    console.log(`${String(r.races).padStart(6)}   ${r.ms.toFixed(1).padStart(8)} ms           ${String(r.svg).padStart(6)}       ${String(r.bins).padStart(4)}   ${(r.heap / 1e6).toFixed(0)} MB`);
    await page.close();
  }
} finally {
  await browser.close();
  nodes.stop();
}
