// One node's connection: its /events WebSocket, reconnecting with exponential backoff, and its
// /status, asked every STATUS_POLL_MS and soon after each race it ends.
import { parseJson } from './json.js';
import { onEvent } from './events.js';
import { ledgerOnConnect, ledgerOnStatus } from './ledger.js';
import { renderNodes } from './node-chips.js';

/** The first reconnection waits this long, each next one twice as long (±15%), up to
 * RECONNECT_MAX_MS. */
const RECONNECT_MIN_MS = 500;
const RECONNECT_MAX_MS = 10000;
/** A live node's /status is asked this often (its races, what it is mining, its ledger's length). */
const STATUS_POLL_MS = 5000;
/** After a race a node's /status is asked again (its difficulty may have moved), at most this
 * often per node. */
const STATUS_AFTER_RACE_MS = 300;

/** One node's /events stream, reconnecting with exponential backoff. */
export class NodeConn {
  constructor(addr, clusterName = null) {
    this.addr = addr;
    this.clusterName = clusterName; // the name /cluster gave, until the node says its own
    this.state = 'connecting';
    this.attempt = 0;
    this.hello = null;
    this.status = null;
    this.closed = false;
    this.connect();
    this.poll = setInterval(() => this.fetchStatus(), STATUS_POLL_MS);
  }
  get name() {
    return this.hello?.node ?? this.status?.node ?? this.clusterName ?? null;
  }
  connect() {
    if (this.closed) return;
    this.state = this.attempt ? 'reconnecting' : 'connecting';
    let ws;
    try {
      ws = new WebSocket(`ws://${this.addr}/events`);
    } catch (e) {
      this.lastError = String(e);
      return this.retry();
    }
    this.ws = ws;
    ws.onopen = () => {
      this.state = 'live';
      this.attempt = 0;
      this.since = Date.now();
      renderNodes();
      this.fetchStatus();
      ledgerOnConnect(this);
    };
    ws.onmessage = (m) => {
      let ev;
      try {
        ev = parseJson(m.data); // a lottery nonce may pass 2^53
      } catch {
        return;
      }
      onEvent(this, ev);
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.retry();
    };
    ws.onerror = () => {
      this.lastError = 'connection failed';
    };
    renderNodes();
  }
  retry() {
    if (this.closed) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** this.attempt) * (0.85 + Math.random() * 0.3);
    this.attempt += 1;
    this.state = 'down';
    this.retryAt = Date.now() + delay;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), delay);
    renderNodes();
  }
  /** Asks /status again soon (after a race), at most every STATUS_AFTER_RACE_MS. */
  statusSoon() {
    if (this.statusTimer) return;
    this.statusTimer = setTimeout(() => {
      this.statusTimer = null;
      this.fetchStatus();
    }, STATUS_AFTER_RACE_MS);
  }
  async fetchStatus() {
    if (this.state !== 'live') return;
    try {
      const r = await fetch(`http://${this.addr}/status`, { cache: 'no-store' });
      this.status = await r.json();
      renderNodes();
      ledgerOnStatus(this.addr, this.status);
    } catch {
      /* the WebSocket's close handler reports the node down */
    }
  }
  close() {
    this.closed = true;
    clearTimeout(this.timer);
    clearTimeout(this.statusTimer);
    clearInterval(this.poll);
    this.ws?.close();
  }
}
