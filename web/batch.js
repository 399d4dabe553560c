// A batch of races started from the page: N transactions (numbered or random) at R per second,
// each sent to every node (the send form's way: POST /tx to all at once). No DOM: batch-form.js
// shows the progress; tests/batch.test.mjs runs it on a virtual clock.

/** Transactions awaiting their replies at most; past it the batch waits (and falls behind its
 * rate) rather than pile requests up in the browser. */
export const MAX_BATCH_IN_FLIGHT = 64;
/** The largest batch the form starts. */
export const MAX_BATCH = 100_000;
/** The fastest rate the form takes, transactions per second. */
export const MAX_RATE = 1000;
/** Replies that say "send it again": the race's decision was withdrawn before it was recorded
 * (nothing recorded; e.g. retargeting changed the difficulty while the node mined), or the node
 * had too many races in flight. */
export const RETRY_CODES = new Set(['withdrawn', 'busy']);
/** How many times such a transaction is sent again before it counts as failed. */
export const MAX_RETRIES = 3;
/** The wait before sending again, times the attempt's number. */
export const RETRY_DELAY_MS = 250;

const PAYERS = ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy'];

/** A made-up payment with a random tag, so two batches never repeat a transaction. */
export function randomTx(rand = Math.random) {
  const pick = () => PAYERS[Math.floor(rand() * PAYERS.length)];
  const a = pick();
  let b = pick();
  if (b === a) b = PAYERS[(PAYERS.indexOf(a) + 1) % PAYERS.length];
  const tag = Math.floor(rand() * 2 ** 32).toString(16).padStart(8, '0');
  return `${a} pays ${b} ${(rand() * 100).toFixed(2)} coins #${tag}`;
}

/** The i-th (from 1) transaction of a numbered batch. */
export const numberedTx = (label, i, count) => `${label} #${i}/${count}`;

/** The real clock. */
export const realClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms))),
};

/**
 * One batch. `send(text)` sends a transaction to every node and resolves to one result per node
 * ({outcome, node, winner, ...} or {error}); `onProgress(batch)` is called after each change.
 * A transaction a node answers `withdrawn` or `busy` is sent again (up to MAX_RETRIES times).
 * State: sent, answered, failed (a transaction with any node's error in its last replies),
 * retried, wins (node → count of `won` replies), inFlight, done, stopped.
 */
export class Batch {
  constructor({ count, rate, numbered = true, label = 'batch', send, onProgress = () => {}, clock = realClock, rand = Math.random, maxInFlight = MAX_BATCH_IN_FLIGHT }) {
    if (!(Number.isInteger(count) && count >= 1 && count <= MAX_BATCH)) throw new RangeError(`the count is a whole number from 1 to ${MAX_BATCH}`);
    if (!(rate > 0 && rate <= MAX_RATE)) throw new RangeError(`the rate is more than 0 and at most ${MAX_RATE} per second`);
    Object.assign(this, { count, rate, numbered, label, send, onProgress, clock, rand, maxInFlight });
    this.sent = 0;
    this.answered = 0;
    this.failed = 0;
    this.retried = 0; // sends again after a `withdrawn` or `busy` reply
    this.wins = new Map();
    this.errors = [];
    this.inFlight = 0;
    this.done = false;
    this.stopped = false;
    this.behind = false; // waiting for a slot: slower than the rate asked
    this.slot = null; // resolves the wait for a free slot
    this.wake = null; // ends the wait for the next transaction's time
  }

  /** The transaction sent as number `i` (from 1). */
  text(i) {
    return this.numbered ? numberedTx(this.label, i, this.count) : randomTx(this.rand);
  }

  /** Runs the batch; resolves when every transaction sent has its replies. */
  async run() {
    this.startedAt = this.clock.now();
    const pending = new Set();
    for (let i = 1; i <= this.count && !this.stopped; i++) {
      const due = this.startedAt + ((i - 1) * 1000) / this.rate;
      const wait = due - this.clock.now();
      if (wait > 0) await Promise.race([this.clock.sleep(wait), new Promise((r) => (this.wake = r))]);
      while (this.inFlight >= this.maxInFlight && !this.stopped) {
        this.behind = true;
        this.onProgress(this);
        await new Promise((r) => (this.slot = r));
      }
      if (this.stopped) break;
      this.behind = false;
      const p = this.one(this.text(i));
      pending.add(p);
      p.finally(() => pending.delete(p));
      this.onProgress(this);
    }
    await Promise.all(pending);
    this.done = true;
    this.finishedAt = this.clock.now();
    this.onProgress(this);
  }

  async one(text) {
    this.sent += 1;
    this.inFlight += 1;
    let results;
    for (let attempt = 0; ; attempt++) {
      try {
        results = await this.send(text);
      } catch (e) {
        results = [{ error: String(e?.message ?? e) }];
      }
      if (attempt >= MAX_RETRIES || !results.some((r) => RETRY_CODES.has(r.code))) break;
      this.retried += 1;
      this.onProgress(this);
      await this.clock.sleep(RETRY_DELAY_MS * (attempt + 1));
    }
    this.inFlight -= 1;
    this.answered += 1;
    const bad = results.filter((r) => r.error);
    if (bad.length) {
      this.failed += 1;
      if (this.errors.length < 5) this.errors.push(`${bad[0].node ?? bad[0].addr ?? ''} ${bad[0].error}`.trim());
    }
    const won = results.find((r) => r.outcome === 'won');
    if (won) this.wins.set(won.node, (this.wins.get(won.node) ?? 0) + 1);
    const slot = this.slot;
    this.slot = null;
    slot?.();
    this.onProgress(this);
  }

  /** Sends nothing more; what was sent still gets its replies. */
  stop() {
    if (this.stopped || this.done) return;
    this.stopped = true;
    const slot = this.slot;
    this.slot = null;
    slot?.();
    this.wake?.();
    this.onProgress(this);
  }
}
