// The batch form's engine (web/batch.js) on a virtual clock: pacing, the in-flight cap, stop,
// replies counted. The same engine runs against real nodes in the end-to-end tests.
//
//   node --test web/tests/batch.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Batch, randomTx, numberedTx, MAX_BATCH, MAX_RETRIES, RETRY_DELAY_MS } from '../batch.js';

/** A clock whose sleep moves time forward at once. */
function virtualClock() {
  const c = { t: 1000, now: () => c.t, sleep: async (ms) => void (c.t += ms) };
  return c;
}
const tick = () => new Promise((r) => setImmediate(r));

test('a numbered batch is paced at its rate, sent to every node, and its winners counted', async () => {
  const clock = virtualClock();
  const sent = [];
  const b = new Batch({
    count: 5,
    rate: 10,
    label: 'lab batch',
    clock,
    send: async (text) => {
      sent.push({ text, at: clock.now() - 1000 });
      const winner = `Node${(sent.length % 2) + 1}`;
      return ['Node1', 'Node2', 'Node3'].map((node) => ({ node, outcome: node === winner ? 'won' : 'lost', winner }));
    },
  });
  await b.run();
  assert.deepEqual(
    sent.map((s) => s.text),
    [1, 2, 3, 4, 5].map((i) => `lab batch #${i}/5`),
  );
  assert.deepEqual(
    sent.map((s) => s.at),
    [0, 100, 200, 300, 400],
  );
  assert.deepEqual([b.sent, b.answered, b.failed, b.inFlight, b.done, b.stopped], [5, 5, 0, 0, true, false]);
  assert.deepEqual(Object.fromEntries(b.wins), { Node2: 3, Node1: 2 });
  assert.equal(numberedTx('x', 7, 9), 'x #7/9');
});

test('the in-flight cap holds the batch back; stop sends nothing more and waits for the replies', async () => {
  const held = [];
  const progress = [];
  const b = new Batch({
    count: 10,
    rate: 1000,
    maxInFlight: 3,
    clock: virtualClock(),
    send: (text) => new Promise((resolve) => held.push(() => resolve([{ node: 'Node1', outcome: 'won' }]))),
    onProgress: (x) => progress.push(x.sent),
  });
  const done = b.run();
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(b.sent, 3);
  assert.equal(b.behind, true);
  held.shift()();
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(b.sent, 4, 'a reply frees one slot');
  assert.equal(b.answered, 1);
  b.stop();
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(b.sent, 4, 'nothing sent after stop');
  assert.equal(b.done, false, 'still waiting for the replies of what was sent');
  while (held.length) held.shift()();
  await done;
  assert.deepEqual([b.sent, b.answered, b.inFlight, b.done, b.stopped], [4, 4, 0, true, true]);
  assert.equal(b.wins.get('Node1'), 4);
  assert.ok(progress.length >= 8);
});

test('a stop during a long wait for the next transaction ends the batch at once', async () => {
  const never = { now: () => 0, sleep: () => new Promise(() => {}) }; // time stands still
  const b = new Batch({ count: 3, rate: 0.001, clock: never, send: async () => [{ node: 'Node1', outcome: 'won' }] });
  const done = b.run();
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(b.sent, 1);
  b.stop();
  await done;
  assert.deepEqual([b.sent, b.done], [1, true]);
});

test('errors are counted per transaction, with the first few kept', async () => {
  let n = 0;
  const b = new Batch({
    count: 8,
    rate: 100,
    clock: virtualClock(),
    send: async () => {
      n += 1;
      if (n % 4 === 0) throw new Error('Failed to fetch');
      return [
        { node: 'Node1', outcome: 'won' },
        n % 2 ? { addr: '127.0.0.1:5001', error: 'busy' } : { node: 'Node2', outcome: 'lost' },
      ];
    },
  });
  await b.run();
  assert.equal(b.sent, 8);
  assert.equal(b.failed, 6); // 1, 3, 5, 7 (busy) and 4, 8 (thrown)
  assert.equal(b.wins.get('Node1'), 6);
  assert.equal(b.errors.length, 5);
  assert.equal(b.errors[0], '127.0.0.1:5001 busy');
  assert.ok(b.errors.includes('Failed to fetch'));
});

test('random transactions are lines the nodes accept, and do not repeat', () => {
  const seen = new Set();
  for (let i = 0; i < 2000; i++) {
    const t = randomTx();
    assert.match(t, /^[A-Z][a-z]+ pays [A-Z][a-z]+ \d+\.\d\d coins #[0-9a-f]{8}$/);
    seen.add(t);
  }
  assert.equal(seen.size, 2000);
  const b = new Batch({ count: 3, rate: 1, numbered: false, send: async () => [] });
  assert.notEqual(b.text(1), b.text(1));
});

test('the form refuses a count or rate out of range', () => {
  const send = async () => [];
  for (const [count, rate] of [
    [0, 1],
    [1.5, 1],
    [MAX_BATCH + 1, 1],
    [1, 0],
    [1, -3],
    [1, 5000],
    [1, NaN],
  ]) {
    assert.throws(() => new Batch({ count, rate, send }), RangeError, `${count} at ${rate}/s`);
  }
});

test('a withdrawn or busy reply sends the transaction again, up to MAX_RETRIES times', async () => {
  const clock = virtualClock();
  const calls = [];
  const b = new Batch({
    count: 3,
    rate: 1,
    clock,
    send: async (text) => {
      calls.push([text, clock.now() - 1000]);
      const n = calls.filter(([t]) => t === text).length;
      if (text.endsWith('#1/3') && n === 1) return [{ node: 'Node1', error: 'the decision was withdrawn', code: 'withdrawn' }, { node: 'Node2', outcome: 'lost' }];
      if (text.endsWith('#2/3') && n <= 2) return [{ node: 'Node1', outcome: 'won' }, { addr: 'x', error: 'too many races', code: 'busy' }];
      if (text.endsWith('#3/3')) return [{ node: 'Node2', error: 'withdrawn', code: 'withdrawn' }];
      return [{ node: 'Node1', outcome: 'won' }, { node: 'Node2', outcome: 'lost' }];
    },
  });
  await b.run();
  const sends = (i) => calls.filter(([t]) => t.endsWith(`#${i}/3`));
  assert.equal(sends(1).length, 2);
  assert.equal(sends(2).length, 3);
  assert.equal(sends(3).length, 1 + MAX_RETRIES, 'given up after MAX_RETRIES');
  // Each send again waits at least RETRY_DELAY_MS times its number (the virtual clock also
  // moves for the other transactions' waits meanwhile).
  const at = sends(2).map(([, t]) => t);
  assert.ok(at[1] - at[0] >= RETRY_DELAY_MS && at[2] - at[1] >= 2 * RETRY_DELAY_MS, String(at));
  assert.deepEqual([b.sent, b.answered, b.failed, b.retried], [3, 3, 1, 1 + 2 + MAX_RETRIES]);
  assert.equal(b.wins.get('Node1'), 2 + 0);
  assert.match(b.errors[0], /withdrawn/);
});
