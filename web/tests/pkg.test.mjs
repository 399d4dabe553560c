// The COMMITTED web/pkg/ (glue and .wasm, as node-server serves them), loaded in Node and run
// against ../shared/vectors.json and ledgers whose entry hashes are computed here, independently,
// with node:crypto. wasm-pack's suites test a fresh build; this one tests the bytes the page gets,
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

/** The vectors with a proof of work to check, one per transaction. */
const solved = [...new Map(VECTORS.filter((v) => v.difficulty > 0).map((v) => [v.transaction_data, v])).values()];
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
      difficulty: v.difficulty,
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
