// The page's pure modules in Node: exact 64-bit nonces (json.js), the race book's relay lanes and
// newest races (race.js), and which races the experiment counts (experiment.js), on events in
// the nodes' schema (node-server/src/events.rs). The figures are the committed WebAssembly's
// (pow-core's statistics), loaded here from web/pkg as the page loads it.
//
//   node --test web/tests/page.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseJson, stringifyJson } from '../json.js';
import { RaceBook, parseRelay, parseTs } from '../race.js';
import { readFileSync } from 'node:fs';
import { experiment, raceMode, raceBits } from '../experiment.js';
import { initSync, fairness, raceTimes, wilsonInterval, goodnessOfFit, wastedWork, statsAlpha } from '../pkg/powrace_web.js';

// The module experiment.js imports, initialised from the committed bytes (the page fetches them).
initSync({ module: readFileSync(new URL('../pkg/powrace_web_bg.wasm', import.meta.url)) });

test('JSON keeps nonces beyond 2^53 exact, and writes them back as numbers', () => {
  const text =
    '{"type":"won","node":"Node1","nonce":18446744073709551615,"small":9007199254740991,"edge":9007199254740992,' +
    '"neg":-9223372036854775808,"time_taken":0.000618368,"big_float":1.5e300,"hash":"0000123456789012345678901234",' +
    '"transaction_data":"pays 12345678901234567890 \\"quoted 99999999999999999999\\" coins","entry":{"nonce":7248203477629962123,"index":3}}';
  const v = parseJson(text);
  assert.equal(v.nonce, 18446744073709551615n);
  assert.equal(v.entry.nonce, 7248203477629962123n);
  assert.equal(v.small, 9007199254740991);
  assert.equal(v.edge, 9007199254740992n);
  assert.equal(v.neg, -9223372036854775808n);
  assert.equal(v.time_taken, 0.000618368);
  assert.equal(v.big_float, 1.5e300);
  assert.equal(v.transaction_data, 'pays 12345678901234567890 "quoted 99999999999999999999" coins');
  assert.equal(String(v.entry.nonce), '7248203477629962123');
  // Plain JSON.parse would have rounded it.
  assert.notEqual(String(JSON.parse(text).entry.nonce), '7248203477629962123');
  const back = stringifyJson(v);
  assert.match(back, /"nonce":18446744073709551615,/);
  assert.match(back, /"entry":\{"nonce":7248203477629962123,"index":3\}/);
  assert.deepEqual(parseJson(back), v);
  // Nothing to keep: the same as JSON.parse.
  assert.deepEqual(parseJson('{"a":[1,2.5,"x"],"b":null}'), { a: [1, 2.5, 'x'], b: null });
  assert.throws(() => parseJson('{"nonce": 123456789012345678901'), SyntaxError);
});

let seq = 0;
const T0 = parseTs('2026-11-30 01:00:00.000000');
const ts = (us) => {
  const d = new Date(Math.floor(us / 1000));
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}.${String(us % 1e6).padStart(6, '0')}`;
};
/** The events one node sends for one race (events.rs): received → started → completed → won /
 * lost, or an aborted lost. */
function laneEvents(tx, node, { at, time, hashes, outcome, winner, bits = 16, race = 'lottery', peer = 'http', index = 0, late = 0 }) {
  at += late; // this node received and started it `late` µs after `at`
  const base = { node, tx_id: tx, transaction_data: `tx ${tx}`, difficulty: 2 };
  const work = { nonce: 7248203477629962123n, hash: '0000ab', time_taken: time, hashes, start_time: ts(at + 10), end_time: ts(at + 10 + Math.round(time * 1e6)), difficulty_bits: bits, race, latency: 1e-5 };
  const ev = (type, us, extra) => ({ type, seq: ++seq, ...base, at: ts(us), at_us: us, ...extra });
  const out = [ev('received', at, { peer }), ev('started', at + 10, { start_time: ts(at + 10), kernel: 'avx512', threads: 1 })];
  const end = at + 10 + Math.round(time * 1e6);
  if (outcome === 'aborted') out.push(ev('lost', end, { winner, aborted: true, hashes, time_taken: time }));
  else {
    out.push(ev('completed', end, { ...work, kernel: 'avx512', threads: 1 }));
    if (outcome === 'won') out.push(ev('won', end + 5, { ...work, entry: { index, node, nonce: work.nonce, difficulty_bits: bits, race }, ledger_id: 'ff' }));
    else out.push(ev('lost', end + 5, { ...work, winner, margin: 0.001, aborted: false }));
  }
  return out;
}

test('a relayed lane says where from and when it arrived there; the first copy counts', () => {
  assert.deepEqual(parseRelay('relay from Node1 (received there at 2026-11-30 01:00:00.000250)'), { origin: 'Node1', atUs: T0 + 250 });
  assert.equal(parseRelay('http'), null);
  assert.equal(parseRelay('127.0.0.1:45960'), null);
  assert.deepEqual(parseRelay('relay from lab (b) (received there at nonsense)'), { origin: 'lab (b)', atUs: null });
  const book = new RaceBook();
  for (const e of laneEvents('aa', 'Node1', { at: T0, time: 0.01, hashes: 100, outcome: 'won' })) book.apply(e);
  for (const e of laneEvents('aa', 'Node2', { at: T0 + 900, time: 0.01, hashes: 50, outcome: 'lost', winner: 'Node1', peer: `relay from Node1 (received there at ${ts(T0)})` })) book.apply(e);
  // A client's copy reaching Node2 later joins its search: the relay stays what it raced.
  book.apply({ type: 'received', seq: ++seq, node: 'Node2', tx_id: 'aa', transaction_data: 'tx aa', difficulty: 2, at: ts(T0 + 5000), at_us: T0 + 5000, peer: 'http' });
  const lanes = book.races.get('aa').lanes;
  assert.deepEqual([lanes.get('Node2').relayFrom, lanes.get('Node2').originUs, lanes.get('Node2').receivedUs], ['Node1', T0, T0 + 900]);
  assert.equal(lanes.get('Node1').relayFrom, null);
  // A node that got a client's copy first, then the relay: not relayed.
  book.apply({ type: 'received', seq: ++seq, node: 'Node3', tx_id: 'aa', transaction_data: 'tx aa', difficulty: 2, at: ts(T0 + 100), at_us: T0 + 100, peer: '127.0.0.1:5555' });
  book.apply({ type: 'received', seq: ++seq, node: 'Node3', tx_id: 'aa', transaction_data: 'tx aa', difficulty: 2, at: ts(T0 + 700), at_us: T0 + 700, peer: `relay from Node1 (received there at ${ts(T0)})` });
  assert.deepEqual([lanes.get('Node3').relayFrom, lanes.get('Node3').receivedUs], [null, T0 + 100]);
  assert.equal(lanes.get('Node1').nonce, 7248203477629962123n);
  assert.equal(lanes.get('Node1').race, 'lottery');
  assert.equal(lanes.get('Node1').difficulty_bits, 16);
});

test('the newest races in one pass are the sorted list’s first', () => {
  const book = new RaceBook();
  let x = 12345;
  for (let i = 0; i < 500; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const us = T0 + (x % 100000) * 10;
    book.apply({ type: 'received', seq: i, node: 'Node1', tx_id: `t${i}`, transaction_data: '', difficulty: 2, at: ts(us), at_us: us, peer: 'http' });
  }
  for (const k of [1, 5, 30, 499, 500, 600]) assert.deepEqual(book.newest(k), book.list().slice(0, k), `k = ${k}`);
});

/** A race of three nodes: `winner` and each node's [time, hashes]; `aborted` lanes stop. */
function race(book, tx, winner, figures, { at = T0, bits = 16, mode = 'lottery', index, aborted = [], nodes = ['Node1', 'Node2', 'Node3'], late = {} } = {}) {
  for (const node of nodes) {
    const [time, hashes] = figures[node];
    const outcome = node === winner ? 'won' : aborted.includes(node) ? 'aborted' : 'lost';
    for (const e of laneEvents(tx, node, { at, time, hashes, outcome, winner, bits, race: mode, index, late: late[node] ?? 0 })) book.apply(e);
  }
}

test('the arrival order: the winner ranked by when each node started, tested against 1/nodes', () => {
  const book = new RaceBook();
  const figs = { Node1: [0.01, 10], Node2: [0.01, 10], Node3: [0.01, 10] };
  // Winner's rank: 0, 0, 1, 2, 0, 1 (Node2 starts 50 µs late, Node3 100 µs late).
  const late = { Node2: 50, Node3: 100 };
  const winners = ['Node1', 'Node1', 'Node2', 'Node3', 'Node1', 'Node2'];
  winners.forEach((w, i) => race(book, `a${i}`, w, figs, { at: T0 + i * 1e6, mode: 'lab', late }));
  const x = experiment(book.races.values(), ['Node1', 'Node2', 'Node3']);
  assert.equal(x.mode, 'lab');
  assert.deepEqual(
    x.arrival.ranks.map((r) => r.wins),
    [3, 2, 1],
  );
  assert.deepEqual(x.arrival.ranks[0].win_interval, wilsonInterval(3, 6));
  assert.deepEqual(x.arrival.test, goodnessOfFit({ observed: [3, 2, 1], probs: [1 / 3, 1 / 3, 1 / 3] }));
  assert.equal(x.arrival.test.alpha, 0.01, "the report's level");
  // Equal starts: nobody started before the winner, rank 0 every time.
  const same = new RaceBook();
  winners.forEach((w, i) => race(same, `s${i}`, w, figs, { at: T0 + i * 1e6 }));
  assert.deepEqual(
    experiment(same.races.values(), ['Node1', 'Node2', 'Node3']).arrival.ranks.map((r) => r.wins),
    [6, 0, 0],
  );
});

test('the experiment counts the races every node finished, keeps modes apart, and its figures are the stats of those races', () => {
  const book = new RaceBook();
  const names = ['Node1', 'Node2', 'Node3'];
  // Hand-summed below: Node1 2000 H/s, Node2 and Node3 1000 H/s while mining.
  const wins = ['Node1', 'Node1', 'Node2', 'Node1', 'Node3', 'Node2', 'Node1', 'Node3'];
  const sums = { Node1: [0, 0], Node2: [0, 0], Node3: [0, 0] };
  let loserHashes = 0;
  let winnerHashes = 0;
  const times = [];
  const work = [];
  wins.forEach((w, i) => {
    const t = 0.01 * (i + 1);
    // Hashes are whole numbers (the nodes count them; pow-core's inputs are integers).
    const figs = { Node1: [t, Math.round(2000 * t)], Node2: [t * 1.5, Math.round(1000 * t * 1.5)], Node3: [t * 0.5, Math.round(1000 * t * 0.5)] };
    race(book, `r${i}`, w, figs, { at: T0 + i * 100_000, bits: 16 + (i % 2), index: i, aborted: i % 3 ? [] : names.filter((n) => n !== w) });
    for (const n of names) {
      sums[n][0] += figs[n][1];
      sums[n][1] += figs[n][0];
      if (n === w) winnerHashes += figs[n][1];
      else loserHashes += figs[n][1];
    }
    times.push({ time_secs: figs[w][0], difficulty_bits: 16 + (i % 2) });
    work.push({ winner_hashes: figs[w][1], loser_hashes: names.filter((n) => n !== w).reduce((a, n) => a + figs[n][1], 0) });
  });
  // Left out: one without Node3; one where Node2 received it but never started (answered
  // `recorded`). Running: one undecided, one with a node still mining. Another mode: one lab race.
  race(book, 'partial', 'Node1', { Node1: [0.01, 20], Node2: [0.01, 10] }, { at: T0 + 2e6, index: 8, nodes: ['Node1', 'Node2'] });
  race(book, 'unstarted', 'Node1', { Node1: [0.01, 20], Node3: [0.01, 10] }, { at: T0 + 2.1e6, index: 9, nodes: ['Node1', 'Node3'] });
  book.apply({ type: 'received', seq: ++seq, node: 'Node2', tx_id: 'unstarted', transaction_data: 'tx unstarted', difficulty: 2, at: ts(T0 + 2.1e6), at_us: T0 + 2.1e6, peer: 'http' });
  book.apply({ type: 'received', seq: ++seq, node: 'Node1', tx_id: 'undecided', transaction_data: 'x', difficulty: 2, at: ts(T0 + 3e6), at_us: T0 + 3e6, peer: 'http' });
  race(book, 'mining', 'Node1', { Node1: [0.01, 20], Node2: [0.01, 10] }, { at: T0 + 3.1e6, index: 10, nodes: ['Node1', 'Node2'] });
  book.apply({ type: 'started', seq: ++seq, node: 'Node3', tx_id: 'mining', transaction_data: 'tx mining', difficulty: 2, at: ts(T0 + 3.1e6), at_us: T0 + 3.1e6, start_time: ts(T0 + 3.1e6) });
  race(book, 'lab', 'Node2', { Node1: [0.01, 20], Node2: [0.01, 20], Node3: [0.01, 20] }, { at: T0 - 1e6, mode: 'lab', index: 11 });
  assert.equal(raceMode(book.races.get('lab')), 'lab');
  assert.equal(raceBits(book.races.get('r1')), 17);

  const x = experiment(book.races.values(), ['Node3', 'Node1', 'Node2']);
  assert.deepEqual(x.nodes, names);
  assert.equal(x.mode, 'lottery');
  assert.deepEqual([x.races, x.leftOut, x.running, x.otherModes], [8, 2, 2, { lab: 1 }]);
  // The same figures as pow-core's over the hand-summed inputs, at the report's level.
  assert.equal(x.alpha, statsAlpha());
  assert.equal(x.alpha, 0.01);
  const want = fairness({ nodes: names.map((n) => ({ name: n, wins: wins.filter((w) => w === n).length, races: 8, hashes: sums[n][0], mining_secs: sums[n][1] })) });
  assert.deepEqual(x.fairness, want);
  assert.equal(x.fairness.test.alpha, 0.01);
  assert.ok(Math.abs(x.fairness.nodes[0].hash_share - 0.5) < 1e-12, 'rates 2:1:1');
  assert.deepEqual(x.fairness.nodes[0].win_interval, wilsonInterval(4, 8));
  assert.equal(x.totalHashRate, x.fairness.total_hash_rate);
  assert.ok(Math.abs(x.totalHashRate - 4000) < 1e-9, `${x.totalHashRate}`);
  assert.deepEqual(x.raceTimes, raceTimes({ races: times, total_hash_rate: x.totalHashRate }));
  assert.equal(x.raceTimes.curve.length, 121, 'the predicted curve, drawn through the bins');
  assert.deepEqual(x.wasted, wastedWork(work));
  assert.deepEqual([x.wasted.races, x.wasted.winner_hashes, x.wasted.loser_hashes], [8, winnerHashes, loserHashes]);
  assert.equal(x.wasted.wasted_share, loserHashes / (winnerHashes + loserHashes));
  assert.ok(Math.abs(x.expectedWasted - 0.625) < 1e-12);
  assert.equal(x.losersStop, true);
  // Every decided race is on the difficulty line, in time order (the lab race came first).
  assert.deepEqual(
    x.difficulty.map((d) => d.index),
    [11, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
  );
  assert.deepEqual(
    x.difficulty.slice(0, 5).map((d) => d.bits),
    [16, 16, 17, 16, 17],
  );

  // Seen from a page connected to Node1 and Node2 only, the races of all three are left out,
  // and the two-node one counts.
  const y = experiment(book.races.values(), ['Node1', 'Node2']);
  assert.deepEqual([y.races, y.leftOut], [1, 9]);
  // Nothing seen: no figure, and says so.
  const z = experiment([], names);
  assert.deepEqual([z.mode, z.races, z.fairness, z.wasted], [null, 0, undefined, undefined]);
});
