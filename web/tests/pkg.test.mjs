// The COMMITTED web/pkg/ (glue and .wasm, as node-server serves them), loaded in Node and run
// against ../shared/vectors.json and ledgers whose entry hashes are computed here, independently,
// with node:crypto; and its experiment's figures (pow-core's statistics) against the textbook
// values pow-core/src/stats/tests.rs checks them with. wasm-pack's suites test a fresh build; this one tests the bytes the page gets,
// whatever toolchain built them.
//
//   node --test web/tests/pkg.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const web = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = path.join(web, 'pkg');
const VECTORS = JSON.parse(readFileSync(path.join(web, '..', '..', 'shared', 'vectors.json'), 'utf8')).vectors;

// The glue is an ES module named .js with no package.json beside it: import a copy named .mjs.
const scratch = mkdtempSync(path.join(tmpdir(), 'powrace-pkg-'));
copyFileSync(path.join(pkg, 'powrace_web.js'), path.join(scratch, 'glue.mjs'));
const core = await import(path.join(scratch, 'glue.mjs'));
rmSync(scratch, { recursive: true, force: true });
const wasmBytes = readFileSync(path.join(pkg, 'powrace_web_bg.wasm'));
core.initSync({ module: wasmBytes });

const sha256 = (...parts) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const hex = (b) => Buffer.from(b).toString('hex');
const ZERO = '0'.repeat(64);

/** pow-core's canonical entry hash (pow-core/src/chain.rs, Entry::compute_hash), written again. */
function entryHash(e) {
  const u64 = (n) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64BE(BigInt(n));
    return b;
  };
  const u32 = (n) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n);
    return b;
  };
  const f64 = (x) => {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(x);
    return b;
  };
  const str = (s) => {
    const b = Buffer.from(s, 'utf8');
    return Buffer.concat([u64(b.length), b]);
  };
  return hex(
    sha256(
      Buffer.from('powrace-ledger-entry-v1\0'),
      u64(e.index),
      Buffer.from(e.prev_hash, 'hex'),
      Buffer.from(e.tx_id, 'hex'),
      str(e.node),
      str(e.transaction_data),
      str(e.start_time),
      str(e.end_time),
      u32(e.difficulty),
      u64(e.nonce),
      Buffer.from(e.hash, 'hex'),
      f64(e.time_taken),
    ),
  );
}

/** The difficulty of the chains sealed here: the first entry fixes every entry's (pow-core's
 * ChainRule), and a proof at a higher difficulty meets it too. */
const CHAIN_DIFFICULTY = 2;

/** The vectors with a proof of work at the chain's difficulty, one per transaction. */
const solved = [...new Map(VECTORS.filter((v) => v.difficulty >= CHAIN_DIFFICULTY).map((v) => [v.transaction_data, v])).values()];
const solvedCount = solved.length;

/** A chain of the first `n` of them, sealed here. */
function ledger(n) {
  assert.ok(n <= solvedCount);
  const out = [];
  for (let i = 0; i < n; i++) {
    const v = solved[i];
    const data = v.transaction_data;
    const e = {
      node: `Node${(i % 3) + 1}`,
      transaction_data: data,
      nonce: v.nonce,
      hash: v.hash,
      time_taken: 0.0123456789 + i / 1e6,
      start_time: '2025-02-13 19:16:07.019815',
      end_time: '2025-02-13 19:16:07.032161',
      difficulty: CHAIN_DIFFICULTY,
      index: i,
      tx_id: hex(sha256(data)),
      prev_hash: i ? out[i - 1].entry_hash : ZERO,
      entry_hash: '',
    };
    e.entry_hash = entryHash(e);
    out.push(e);
  }
  return out;
}

/** Every status of a ledger checked by a LedgerVerifier in pages of `size`. */
function byPages(l, size) {
  const v = new core.LedgerVerifier();
  const statuses = [];
  const reasons = new Map();
  for (let from = 0; from < l.length; from += size) {
    const b = v.verifyPage(new TextEncoder().encode(JSON.stringify(l.slice(from, from + size))), from);
    assert.equal(b.error, null);
    assert.equal(b.from, from);
    statuses.push(...b.statuses);
    for (const [p, r] of b.reasons) reasons.set(p, r);
  }
  return { statuses, reasons, head: v.head, firstBad: v.firstBad, nextIndex: v.nextIndex };
}

test('the committed glue and .wasm belong together', () => {
  const mod = new WebAssembly.Module(wasmBytes);
  const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name));
  const glue = readFileSync(path.join(pkg, 'powrace_web.js'), 'utf8');
  const used = new Set([...glue.matchAll(/\bwasm\.(\w+)/g)].map((m) => m[1]));
  assert.ok(used.size > 10);
  for (const name of used) assert.ok(exports.has(name), `the glue calls wasm.${name}, which the .wasm does not export`);
  // Every import the .wasm needs is one the glue provides (initSync above would have thrown).
  for (const imp of WebAssembly.Module.imports(mod)) assert.match(glue, new RegExp(`\\b${imp.name}\\b`));
  const manifest = readFileSync(path.join(pkg, 'BUILT-FROM'), 'utf8');
  for (const f of ['powrace_web.js', 'powrace_web_bg.wasm']) {
    assert.ok(manifest.includes(`output ${f} ${hex(sha256(readFileSync(path.join(pkg, f))))}`), `BUILT-FROM records ${f} as it is`);
  }
});

test('every vector hashes, meets its difficulty and is mined with its smallest nonce', () => {
  assert.ok(VECTORS.length >= 16);
  for (const v of VECTORS) {
    // Independent: node:crypto.
    assert.equal(hex(sha256(v.transaction_data, String(v.nonce))), v.hash, v.why);
    assert.equal(core.hashHex(v.transaction_data, BigInt(v.nonce)), v.hash, v.why);
    assert.equal(core.meetsDifficulty(v.hash, v.difficulty), true, v.why);
    assert.ok(core.leadingZeroBits(v.hash) >= 8 * v.difficulty);
    if (v.difficulty <= 2) {
      const m = new core.Miner(v.transaction_data, v.difficulty);
      let nonce;
      while ((nonce = m.step(50_000)) === undefined) assert.equal(m.done, false);
      assert.equal(nonce, BigInt(v.nonce), v.why);
      assert.equal(m.hash, v.hash);
      m.free();
    }
  }
});

test('a ledger sealed here verifies whole, by page and as a stream cut anywhere', () => {
  const l = ledger(solvedCount);
  const text = JSON.stringify(l, null, 2);
  const whole = core.verifyLedger(text);
  assert.equal(whole.ok, true);
  assert.equal(whole.head, l.at(-1).entry_hash);
  assert.deepEqual(whole.entries.map((e) => e.status), l.map(() => 'ok'));
  for (const size of [1, 2, 3, 5, l.length]) {
    const p = byPages(l, size);
    assert.deepEqual(p.statuses, l.map(() => 1));
    assert.equal(p.head, l.at(-1).entry_hash);
    assert.equal(p.nextIndex, l.length);
  }
  // One page on its own, continuing from the entry before it.
  const page = core.verifyPage(JSON.stringify(l.slice(3, 6)), 3, l[2].entry_hash);
  assert.equal(page.ok, true);
  assert.equal(page.next_index, 6);
  assert.equal(page.head, l[5].entry_hash);
  // The stream, in chunks of 1, 7 and 4096 bytes.
  const bytes = new TextEncoder().encode(text);
  for (const chunk of [1, 7, 4096]) {
    const v = new core.LedgerVerifier();
    const statuses = [];
    const starts = [];
    for (let at = 0; at < bytes.length; at += chunk) {
      const b = v.pushBytes(bytes.subarray(at, at + chunk));
      statuses.push(...b.statuses);
      if (b.starts) starts.push(...b.starts);
    }
    assert.equal(v.finish(), undefined);
    assert.deepEqual(statuses, l.map(() => 1));
    assert.equal(v.head, l.at(-1).entry_hash);
    // Each span is one entry of the file.
    assert.equal(starts.length, l.length);
    assert.equal(bytes[starts[0]], '{'.charCodeAt(0));
  }
});

test('a tampered entry in a later page, a link broken across a page boundary, a transaction repeated across pages', () => {
  const n = solvedCount;
  // A changed field, not resealed: bad at its index, after_break from there on.
  const t = ledger(n);
  t[7].node = 'Mallory';
  const p = byPages(t, 4);
  assert.equal(p.firstBad, 7);
  assert.deepEqual(p.statuses, t.map((_, i) => (i < 7 ? 1 : i === 7 ? 2 : 3)));
  assert.equal(p.reasons.get(7), `entry_hash ${t[7].entry_hash} does not match the entry's fields (${entryHash(t[7])}): a field was changed`);
  assert.equal(p.head, undefined);

  // Entry 3 resealed with another time: entry 4 (the first of the second page of 4) no longer links.
  const b = ledger(n);
  b[3].time_taken = 1.5;
  b[3].entry_hash = entryHash(b[3]);
  const q = byPages(b, 4);
  assert.equal(q.firstBad, 4);
  assert.equal(q.reasons.get(4), `prev_hash ${b[4].prev_hash} is not the previous entry's entry_hash ${b[3].entry_hash} (an entry before it was changed, removed or moved)`);

  // The transaction of entry 1 again at the end, properly sealed: only a verifier that saw entry 1
  // in an earlier page can tell.
  const d = ledger(n);
  const again = { ...d[1], index: n, prev_hash: d[n - 1].entry_hash };
  again.entry_hash = entryHash(again);
  d.push(again);
  const r = byPages(d, 4);
  assert.equal(r.firstBad, n);
  assert.equal(r.reasons.get(n), 'the transaction is already recorded at index 1');
  const alone = core.verifyPage(JSON.stringify(d.slice(n - 1)), n - 1, d[n - 2].entry_hash);
  assert.equal(alone.ok, true, 'a page checked on its own has not seen entry 1');
});

test('an entry with a duplicate key is refused, naming the key (issue 8 §7)', () => {
  const l = ledger(4);
  const text = JSON.stringify(l, null, 2);
  const dup = text.replace(`"node": "${l[2].node}"`, `"node": "Mallory",\n    "node": "${l[2].node}"`);
  assert.notEqual(dup, text);
  assert.equal(JSON.parse(dup)[2].node, l[2].node, 'JSON.parse keeps the last key and sees a valid entry');
  const r = core.verifyLedger(dup);
  assert.deepEqual(r.entries.map((e) => e.status), ['ok', 'ok', 'bad', 'after_break']);
  assert.match(r.entries[2].reason, /^the entry does not parse: duplicate field `node`/);
  const v = new core.LedgerVerifier();
  const b = v.pushBytes(new TextEncoder().encode(dup));
  assert.deepEqual([...b.statuses], [1, 1, 2, 3]);
  assert.match(b.reasons[0][1], /duplicate field `node`/);
});

// ------------------------------------------------------------------------------ the figures
// The answers are independent of the code: published tables, and scipy 1.17.1 / numpy values
// (each names its call), the ones pow-core/src/stats/tests.rs holds the Rust to.

function assertRel(got, want, rel, what = '') {
  assert.ok(Math.abs(got - want) <= rel * Math.abs(want), `${what} got ${got}, want ${want} (±${rel} relative)`);
}

test("the figures' level is the report's, and Wilson matches Newcombe (1998), Table II", () => {
  assert.equal(core.statsAlpha(), 0.01);
  // Statistics in Medicine 17:857, the score interval without continuity correction, to 4 decimals.
  for (const [k, n, lo, hi] of [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0.0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ]) {
    const i = core.wilsonInterval(k, n);
    assert.ok(Math.abs(i.lo - lo) <= 5e-5 && Math.abs(i.hi - hi) <= 5e-5, `${k}/${n}: ${JSON.stringify(i)}`);
  }
  assert.equal(core.wilsonInterval(29, 29).hi, 1);
  assert.equal(core.wilsonInterval(0, 20).lo, 0);
  assert.equal(core.wilsonInterval(0, 0), null);
  assert.equal(core.wilsonInterval(3, 2), null);
});

test("goodness of fit: Mendel's peas (scipy.stats.chisquare), the exact test (scipy binomtest, multinomial enumeration)", () => {
  const t = core.goodnessOfFit({ observed: [315, 108, 101, 32], probs: [9 / 16, 3 / 16, 3 / 16, 1 / 16], alpha: 0.05 });
  assert.deepEqual([t.method.kind, t.df, t.rejected], ['chi_square', 3, false]);
  assertRel(t.statistic, 0.4700239808153477, 1e-12);
  assertRel(t.p_value, 0.925425895103616, 1e-9);
  for (const [k, n, p, want] of [
    [3, 20, 0.1, 0.4446498494011033],
    [0, 10, 0.3, 0.0388396033],
    [7, 12, 0.25, 0.014252781867980957],
  ]) {
    const b = core.goodnessOfFit({ observed: [k, n - k], probs: [p, 1 - p], alpha: 0.05 });
    assert.equal(b.method.kind, 'exact_multinomial');
    assertRel(b.p_value, want, 1e-9, `binomtest(${k}, ${n}, ${p})`);
  }
  const m = core.goodnessOfFit({ observed: [2, 6, 4], probs: [0.5, 0.25, 0.25], alpha: 0.05 });
  assert.deepEqual(m.method, { kind: 'exact_multinomial', outcomes: 91 });
  assertRel(m.p_value, 0.02455902099609373, 1e-9);
  // A win where the share is 0: p = 0, and the statistic (infinite) is null, as in report --json.
  const z = core.goodnessOfFit({ observed: [5, 5, 1], probs: [0.5, 0.5, 0] });
  assert.deepEqual([z.p_value, z.rejected, z.statistic], [0, true, null]);
  assert.throws(() => core.goodnessOfFit({ observed: [1, 2], probs: [0.5, 0.4] }), /category probabilities must be finite, non-negative and add up to 1/);
});

const nodes = (wins, rates) => {
  const races = wins.reduce((a, b) => a + b, 0);
  return wins.map((w, i) => ({ name: `Node${i + 1}`, wins: w, races, hashes: rates[i] * 10, mining_secs: 10 }));
};

test('fairness for a known split: X² = 2.375, p = e^(-2.375/2); 1:1:1 against 2:1:1 rejected', () => {
  const f = core.fairness({ nodes: nodes([215, 95, 90], [2e6, 1e6, 1e6]), alpha: 0.05 });
  assert.equal(f.races, 400);
  assert.equal(f.test.method.kind, 'chi_square');
  assertRel(f.test.statistic, 2.375, 1e-12);
  assertRel(f.test.p_value, Math.exp(-2.375 / 2), 1e-9);
  assertRel(f.nodes[0].hash_share, 0.5, 1e-12);
  assertRel(f.nodes[0].expected_wins, 200, 1e-12);
  assert.equal(f.total_hash_rate, 4e6);
  assert.deepEqual(f.nodes[0].win_interval, core.wilsonInterval(215, 400));
  assert.ok(f.nodes.every((n) => n.agrees));
  const g = core.fairness({ nodes: nodes([200, 200, 200], [2e6, 1e6, 1e6]) });
  assertRel(g.test.statistic, 200 / 3, 1e-12);
  assertRel(g.test.p_value, Math.exp(-100 / 3), 1e-9);
  assert.deepEqual([g.test.alpha, g.test.rejected, g.nodes[0].agrees], [0.01, true, false]);
  const bad = nodes([5, 5], [1, 1]);
  bad[0].wins = 4;
  assert.throws(() => core.fairness({ nodes: bad }), { message: "the nodes' wins add up to 9, not to the 10 races they entered" });
  assert.throws(() => core.fairness({ nodes: [] }), { message: 'no nodes' });
});

// 20 race times, predicted exponential with mean 0.5 s (10 bits at 2,048 H/s).
const TIMES = [0.012, 0.95, 0.31, 0.044, 1.62, 0.27, 0.58, 0.08, 0.73, 0.19, 0.41, 2.05, 0.36, 0.11, 0.66, 0.025, 1.2, 0.5, 0.15, 0.88];

test('race times match scipy and numpy: mean, median, Kolmogorov–Smirnov, the histogram and its curve', () => {
  const r = core.raceTimes({ races: TIMES.map((t) => ({ time_secs: t, difficulty_bits: 10 })), total_hash_rate: 2048, alpha: 0.05 });
  assert.equal(r.races, 20);
  assertRel(r.observed_mean, 0.55655, 1e-12);
  assertRel(r.predicted_mean, 0.5, 1e-15);
  assertRel(r.observed_median, 0.385, 1e-12); // numpy.median(TIMES)
  assertRel(r.predicted_median, 0.5 * Math.LN2, 1e-9);
  // scipy.stats.kstest(TIMES, 'expon', args=(0, 0.5), method='exact')
  assertRel(r.ks.statistic, 0.08651381911739475, 1e-12);
  assertRel(r.ks.p_value, 0.9950719139277662, 1e-9);
  assert.equal(r.ks.rejected, false);
  // numpy.histogram over 6 equal bins from 0 to the maximum; predicted 20·(e^(-lo/0.5) − e^(-hi/0.5)).
  assert.deepEqual(
    r.histogram.map((b) => b.observed),
    [9, 5, 3, 1, 1, 1],
  );
  const want = [9.901378390562206, 4.999513688907594, 2.524409848774116, 1.2746529924953933, 0.6436119127274269, 0.32497965849803934];
  r.histogram.forEach((b, i) => assertRel(b.predicted, want[i], 1e-9, `bin ${i}`));
  assertRel(r.predicted_beyond, 0.3314535080352251, 1e-9);
  assert.equal(r.histogram.at(-1).hi, 2.05);
  // The curve: 20 races × (1/0.5 s) e^(−t/0.5) per second, times the bin width.
  assert.equal(r.curve.length, 121);
  for (const p of r.curve) assertRel(p.count, 40 * Math.exp(-p.t / 0.5) * (2.05 / 6), 1e-12, `curve at ${p.t}`);
  // Three times too slow: scipy.stats.kstest(3·TIMES, 'expon', args=(0, 0.5), method='exact').
  const slow = core.raceTimes({ races: TIMES.map((t) => ({ time_secs: 3 * t, difficulty_bits: 10 })), total_hash_rate: 2048, alpha: 0.05 });
  assertRel(slow.ks.statistic, 0.45210130091638534, 1e-12);
  assertRel(slow.ks.p_value, 0.0002981288090740194, 1e-6);
  assert.equal(slow.ks.rejected, true);
  // Lab races, no law: the same bins.
  assert.deepEqual(
    core.observedHistogram(TIMES),
    r.histogram.map(({ lo, hi, observed }) => ({ lo, hi, observed })),
  );
  assert.throws(() => core.raceTimes({ races: [], total_hash_rate: 1 }), { message: 'no races' });
});

test('wasted work: the losers’ share, and 1 − Σ share² for a fair lottery; the arrival order', () => {
  assertRel(core.expectedWastedShare([0.5, 0.25, 0.25]), 0.625, 1e-15);
  assertRel(core.expectedWastedShare([1 / 3, 1 / 3, 1 / 3]), 2 / 3, 1e-15);
  const w = core.wastedWork([
    { winner_hashes: 100, loser_hashes: 300 },
    { winner_hashes: 50, loser_hashes: 50 },
    { winner_hashes: 0, loser_hashes: 0 },
  ]);
  assert.deepEqual(w, { races: 3, winner_hashes: 150, loser_hashes: 350, wasted_share: 0.7, per_race_share: [0.75, 0.5, null] });
  const a = core.arrivalOrder({ winner_ranks: [0, 0, 0, 1, 2, 0], nodes: 3 });
  assert.deepEqual(
    a.ranks.map((r) => r.wins),
    [4, 1, 1],
  );
  assert.deepEqual(a.test, core.goodnessOfFit({ observed: [4, 1, 1], probs: [1 / 3, 1 / 3, 1 / 3] }));
  assert.throws(() => core.arrivalOrder({ winner_ranks: [0, 3], nodes: 3 }), /race 1: winner's arrival rank 3 with 3 nodes/);
});
