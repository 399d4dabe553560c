// Mines one puzzle with pow-core's portable kernel (WebAssembly) off the page's thread.
// The page cancels by terminating the worker; progress is posted about ten times a second.
import init, { Miner } from './pkg/powrace_web.js';

const ready = init();
const SLICE_MS = 25; // the budget per step is tuned to take about this long
const PROGRESS_MS = 100;

self.onmessage = async ({ data: { data, bits } }) => {
  try {
    await ready;
    const miner = Miner.withZeroBits(data, bits);
    const t0 = performance.now();
    let budget = 2000;
    let lastPost = t0;
    for (;;) {
      const s = performance.now();
      const nonce = miner.step(budget);
      const now = performance.now();
      if (nonce !== undefined) {
        self.postMessage({ type: 'found', nonce: nonce.toString(), hash: miner.hash, hashes: miner.hashes, ms: now - t0 });
        return;
      }
      if (miner.done) {
        self.postMessage({ type: 'error', error: 'no nonce left to try' });
        return;
      }
      const took = Math.max(0.1, now - s);
      budget = Math.max(100, Math.min(5_000_000, Math.round((budget * SLICE_MS) / took)));
      if (now - lastPost >= PROGRESS_MS) {
        lastPost = now;
        self.postMessage({ type: 'progress', hashes: miner.hashes, next: miner.nextNonce, ms: now - t0 });
      }
    }
  } catch (e) {
    self.postMessage({ type: 'error', error: String(e?.message ?? e) });
  }
};
