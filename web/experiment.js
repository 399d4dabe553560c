// The race as an experiment, from the races this page has seen (history replay and live): which
// races count, and the figures over them, computed by pow-core's `stats` compiled to WebAssembly
// (the functions `node-server report` runs, at its level). No DOM, and no statistic computed
// here: this file gathers the inputs; charts.js draws the figures. The WebAssembly module must
// be initialised before `experiment` is called.
//
// A race counts when every node of the page's cluster took part and finished it (won, lost or
// aborted, with its hashes and time) and exactly one node won, the rule `node-server report`
// applies to its log ("races every node entered"). Races of another set of nodes (before a node
// joined, while one was down) and races not finished are left out and counted. Lab and lottery
// races are kept apart; the figures shown are those of the mode of the latest counted race.
import { fairness, raceTimes, observedHistogram, wastedWork, expectedWastedShare, arrivalOrder, statsAlpha } from './pkg/powrace_web.js';

const FINAL = new Set(['won', 'lost', 'aborted']);
const byName = (a, b) => a.localeCompare(b, undefined, { numeric: true });

/** A race's mode ("lab" | "lottery"), from its winner's figures (or any lane's). */
export function raceMode(race) {
  const w = race.winner ? race.lanes.get(race.winner) : null;
  if (w?.race) return w.race;
  if (race.entry?.race) return race.entry.race;
  for (const l of race.lanes.values()) if (l.race) return l.race;
  return 'lab';
}

/** A race's difficulty in zero bits (the winner's figures, the entry, or the zero bytes × 8). */
export function raceBits(race) {
  const w = race.winner ? race.lanes.get(race.winner) : null;
  return w?.difficulty_bits ?? race.entry?.difficulty_bits ?? (race.difficulty != null ? race.difficulty * 8 : null);
}

/**
 * The figures over `races` (RaceBook races) for the nodes named in `nodeNames`:
 * {nodes, mode, races, leftOut, running, otherModes, fairness | fairnessNote, raceTimes |
 * raceTimesNote, histogram, wasted, expectedWasted, losersStop, difficulty: [{us, bits, index}]}.
 */
export function experiment(races, nodeNames, alpha = statsAlpha()) {
  const names = [...new Set(nodeNames)].sort(byName);
  const set = new Set(names);
  const modes = new Map();
  const difficulty = [];
  let running = 0;
  const mode = (m) => {
    let acc = modes.get(m);
    if (!acc) {
      acc = { races: 0, leftOut: 0, lastUs: -Infinity, nodes: new Map(names.map((n) => [n, { wins: 0, races: 0, hashes: 0, secs: 0 }])), times: [], work: [], aborted: 0, ranks: [] };
      modes.set(m, acc);
    }
    return acc;
  };
  for (const race of races) {
    const lanes = [...race.lanes.values()];
    const winner = race.winner ? race.lanes.get(race.winner) : null;
    const bits = raceBits(race);
    if (race.winner && bits != null) {
      difficulty.push({ us: winner?.endUs ?? race.lastUs, bits, index: race.entry?.index ?? null });
    }
    // Running: undecided, or a node still mining. A node that received the transaction but
    // never started (its copy came after the race was recorded: answered `recorded`, no event)
    // leaves a decided race incomplete: left out.
    const mining = lanes.some((l) => l.startUs != null && !FINAL.has(l.outcome) && l.outcome !== 'error');
    if ((!race.winner || mining) && lanes.every((l) => l.outcome !== 'error')) {
      running += 1;
      continue;
    }
    const acc = mode(raceMode(race));
    const winners = lanes.filter((l) => l.outcome === 'won');
    const complete =
      lanes.length === set.size &&
      lanes.every((l) => set.has(l.node) && FINAL.has(l.outcome) && l.hashes != null && l.time_taken != null) &&
      winners.length === 1;
    if (!complete) {
      acc.leftOut += 1;
      continue;
    }
    acc.races += 1;
    acc.lastUs = Math.max(acc.lastUs, race.lastUs ?? 0);
    const w = winners[0];
    let losers = 0;
    for (const l of lanes) {
      const n = acc.nodes.get(l.node);
      n.races += 1;
      n.hashes += l.hashes;
      n.secs += l.time_taken;
      if (l === w) n.wins += 1;
      else losers += l.hashes;
      if (l.outcome === 'aborted') acc.aborted += 1;
    }
    acc.work.push({ winner_hashes: w.hashes, loser_hashes: losers });
    // Who started first: the winner's rank among the nodes' starts (0 = first).
    if (w.startUs != null) acc.ranks.push(Math.min(names.length - 1, lanes.filter((l) => l.startUs != null && l.startUs < w.startUs).length));
    acc.times.push({ time_secs: w.time_taken, difficulty_bits: bits ?? 0 });
  }
  difficulty.sort((a, b) => a.us - b.us); // over time: each race at its winner's end

  // The mode shown: that of the latest counted race, else the one with races left out.
  const shownMode = [...modes.entries()].sort((a, b) => b[1].lastUs - a[1].lastUs || b[1].races - a[1].races)[0]?.[0] ?? null;
  const out = { nodes: names, mode: shownMode, races: 0, leftOut: 0, running, otherModes: {}, difficulty, alpha };
  for (const [m, acc] of modes) if (m !== shownMode) out.otherModes[m] = acc.races;
  const acc = shownMode ? modes.get(shownMode) : null;
  if (!acc) return out;
  out.races = acc.races;
  out.leftOut = acc.leftOut;
  out.losersStop = acc.races > 0 && acc.aborted > 0;

  const inputs = names.map((name) => {
    const n = acc.nodes.get(name);
    return { name, wins: n.wins, races: n.races, hashes: n.hashes, mining_secs: n.secs };
  });
  try {
    out.fairness = fairness({ nodes: inputs, alpha });
  } catch (e) {
    out.fairnessNote = e.message;
  }
  const totalRate = out.fairness?.total_hash_rate ?? 0;
  if (shownMode === 'lottery' && totalRate > 0 && acc.times.length) {
    try {
      out.raceTimes = raceTimes({ races: acc.times, total_hash_rate: totalRate, alpha });
      out.totalHashRate = totalRate;
    } catch (e) {
      out.raceTimesNote = e.message;
    }
  } else if (acc.times.length) {
    out.raceTimesNote = shownMode === 'lottery' ? 'no hash rate to predict from yet' : 'lab races: every node searches the same nonces from 0, so no exponential law is predicted';
  }
  out.histogram = out.raceTimes?.histogram ?? observedHistogram(acc.times.map((t) => t.time_secs));
  if (acc.races > 0) out.wasted = wastedWork(acc.work);
  if (out.fairness) out.expectedWasted = expectedWastedShare(out.fairness.nodes.map((n) => n.hash_share));
  // Win share by the order in which the nodes started (the report's arrival order): null with
  // fewer than two nodes, no start seen, or no test possible.
  out.arrival = null;
  if (names.length >= 2 && acc.ranks.length) {
    try {
      out.arrival = arrivalOrder({ winner_ranks: acc.ranks, nodes: names.length, alpha });
    } catch {
      out.arrival = null;
    }
  }
  return out;
}
