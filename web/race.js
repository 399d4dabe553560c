// The race book: every node's events folded into one record per transaction.
// Pure data, no DOM: timeline.js and totals.js render it.

/** µs since the Unix epoch of "YYYY-MM-DD HH:MM:SS.ffffff" (UTC), or null. */
export function parseTs(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})\.(\d{6})$/.exec(s ?? '');
  if (!m) return null;
  const ms = Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]);
  return ms * 1000 + Number(m[7]);
}

/** "HH:MM:SS.ffffff" of a timestamp string or µs value, the part that changes in a race. */
export function clockOf(tsOrUs) {
  if (typeof tsOrUs === 'string') return tsOrUs.slice(11);
  if (typeof tsOrUs !== 'number') return '';
  const d = new Date(Math.floor(tsOrUs / 1000));
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const us = ((tsOrUs % 1e6) + 1e6) % 1e6;
  return `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(us, 6)}`;
}

/** A duration in µs as "12.345 ms" (µs precision) or "850 µs". */
export function fmtUs(us) {
  if (us == null || !Number.isFinite(us)) return '–';
  const a = Math.abs(us);
  if (a < 1000) return `${Math.round(us)} µs`;
  if (a < 1e6) return `${(us / 1000).toFixed(3)} ms`;
  return `${(us / 1e6).toFixed(6)} s`;
}

/** Seconds (as the nodes report them) in the same style. */
export const fmtSecs = (s) => (s == null ? '–' : fmtUs(s * 1e6));

/** Hashes per second as "12.3 MH/s". */
export function fmtRate(hps) {
  if (!Number.isFinite(hps) || hps <= 0) return '–';
  const units = [['GH/s', 1e9], ['MH/s', 1e6], ['kH/s', 1e3]];
  for (const [u, v] of units) if (hps >= v) return `${(hps / v).toFixed(hps >= v * 100 ? 0 : 2)} ${u}`;
  return `${hps.toFixed(0)} H/s`;
}

export function median(xs) {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A relayed transaction's `received` peer, "relay from NodeX (received there at T)":
 * {origin, atUs} (atUs null if T does not parse), or null for a client's transaction. */
export function parseRelay(peer) {
  const m = /^relay from (.+?) \(received there at (.+)\)$/.exec(peer ?? '');
  if (!m) return null;
  return { origin: m[1], atUs: parseTs(m[2]) };
}

/** Every node's events folded per transaction (tx_id). */
export class RaceBook {
  constructor() {
    this.races = new Map();
    this.seen = new Set();
  }

  /** Applies one event; returns the race it touched, or null (duplicate, or not a race event). */
  apply(ev) {
    if (!ev || !ev.tx_id || !ev.node) return null;
    // Replays after a reconnect repeat events: the same node, type, tx and instant is one event.
    const key = `${ev.node}|${ev.type}|${ev.tx_id}|${ev.at_us}`;
    if (this.seen.has(key)) return null;
    this.seen.add(key);

    let race = this.races.get(ev.tx_id);
    if (!race) {
      race = {
        tx_id: ev.tx_id,
        data: ev.transaction_data ?? '',
        difficulty: ev.difficulty,
        firstUs: ev.at_us,
        lanes: new Map(),
        winner: null,
        entry: null,
      };
      this.races.set(ev.tx_id, race);
    }
    race.firstUs = Math.min(race.firstUs ?? ev.at_us, ev.at_us ?? Infinity);
    race.lastUs = Math.max(race.lastUs ?? 0, ev.at_us ?? 0);
    if (race.difficulty == null) race.difficulty = ev.difficulty;

    let lane = race.lanes.get(ev.node);
    if (!lane) {
      lane = { node: ev.node, outcome: 'waiting' };
      race.lanes.set(ev.node, lane);
    }
    const copyResult = () => {
      for (const k of ['nonce', 'hash', 'hashes', 'kernel', 'threads', 'start_time', 'end_time', 'difficulty_bits', 'race', 'latency']) {
        if (ev[k] != null) lane[k] = ev[k];
      }
      if (ev.time_taken != null) lane.time_taken = ev.time_taken;
      if (ev.start_time) lane.startUs = parseTs(ev.start_time) ?? lane.startUs;
      if (ev.end_time) lane.endUs = parseTs(ev.end_time) ?? lane.endUs;
    };

    switch (ev.type) {
      case 'received': {
        // The first copy to arrive is the one the node raced; a later copy joins its search.
        if (lane.receivedUs != null && !(ev.at_us < lane.receivedUs)) break;
        lane.receivedUs = ev.at_us;
        const relay = parseRelay(ev.peer);
        lane.relayFrom = relay?.origin ?? null;
        lane.originUs = relay?.atUs ?? null;
        break;
      }
      case 'started':
        lane.startUs = parseTs(ev.start_time) ?? ev.at_us;
        lane.start_time = ev.start_time;
        if (lane.outcome === 'waiting') lane.outcome = 'running';
        break;
      case 'completed':
        copyResult();
        if (lane.outcome === 'waiting' || lane.outcome === 'running') lane.outcome = 'completed';
        break;
      case 'won':
        copyResult();
        lane.outcome = 'won';
        race.winner = ev.node;
        if (ev.entry) race.entry = ev.entry;
        break;
      case 'lost':
        copyResult();
        lane.outcome = ev.aborted ? 'aborted' : 'lost';
        if (ev.margin != null) lane.margin = ev.margin;
        if (ev.aborted && lane.endUs == null) lane.endUs = ev.at_us;
        if (ev.winner) race.winner = ev.winner;
        break;
      case 'ledger_updated':
        if (ev.entry) {
          race.entry = ev.entry;
          race.winner = race.winner ?? ev.entry.node;
        }
        break;
      case 'error':
        lane.error = ev.error;
        if (lane.outcome === 'waiting' || lane.outcome === 'running') lane.outcome = 'error';
        break;
      default:
        return null;
    }
    return race;
  }

  /** Races, newest first. */
  list() {
    return [...this.races.values()].sort((a, b) => b.firstUs - a.firstUs);
  }

  /** The `k` newest races, newest first, in one pass (thousands of races, a few on screen). */
  newest(k) {
    const top = [];
    for (const r of this.races.values()) {
      if (top.length === k && !(r.firstUs > top[k - 1].firstUs)) continue;
      let i = top.length === k ? k - 1 : top.length;
      while (i > 0 && top[i - 1].firstUs < r.firstUs) {
        top[i] = top[i - 1];
        i -= 1;
      }
      top[i] = r;
    }
    return top;
  }

  /** Per-node totals: races, wins, losses, mean and median time (s), hash rate. */
  totals() {
    const by = new Map();
    for (const race of this.races.values()) {
      for (const lane of race.lanes.values()) {
        let t = by.get(lane.node);
        if (!t) {
          t = { node: lane.node, races: 0, wins: 0, losses: 0, times: [], hashes: 0, secs: 0, margins: [] };
          by.set(lane.node, t);
        }
        t.races += 1;
        if (lane.outcome === 'won') t.wins += 1;
        if (lane.outcome === 'lost' || lane.outcome === 'aborted') t.losses += 1;
        if (lane.margin != null) t.margins.push(lane.margin);
        if (lane.time_taken != null && lane.nonce != null) {
          t.times.push(lane.time_taken);
          if (lane.hashes != null) {
            t.hashes += lane.hashes;
            t.secs += lane.time_taken;
          }
        }
      }
    }
    return [...by.values()]
      .map((t) => ({
        ...t,
        mean: t.times.length ? t.times.reduce((a, b) => a + b, 0) / t.times.length : null,
        median: median(t.times),
        rate: t.secs > 0 ? t.hashes / t.secs : null,
      }))
      .sort((a, b) => a.node.localeCompare(b.node, undefined, { numeric: true }));
  }
}
