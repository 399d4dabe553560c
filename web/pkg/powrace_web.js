/**
 * A long ledger checked from entry 0 in pieces, keeping only its place between them: the next
 * index, the last `entry_hash` and the transactions seen (to catch one recorded twice, however
 * far apart). Feed it pages in order ([`LedgerVerifier::verify_page`]) or a file's bytes in
 * chunks of any size ([`LedgerVerifier::push_bytes`], then [`LedgerVerifier::finish`]); each
 * call returns a compact batch:
 * `{from, count, statuses: Uint8Array (1 ok, 2 bad, 3 after the break), reasons: [[position,
 * reason], …] (bad entries only), error, nextIndex, head, firstBad}` and, for bytes,
 * `starts: Float64Array` and `lengths: Float64Array`, each entry's place in the file.
 */
export class LedgerVerifier {
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        LedgerVerifierFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_ledgerverifier_free(ptr, 0);
    }
    /**
     * Bytes of the file read so far.
     * @returns {number}
     */
    get bytesRead() {
        const ret = wasm.ledgerverifier_bytesRead(this.__wbg_ptr);
        return ret;
    }
    /**
     * Ends a file: an error when it stopped before the array's closing `]`.
     * @returns {string | undefined}
     */
    finish() {
        const ret = wasm.ledgerverifier_finish(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * The position of the first bad entry, if any.
     * @returns {number | undefined}
     */
    get firstBad() {
        const ret = wasm.ledgerverifier_firstBad(this.__wbg_ptr);
        return ret[0] === 0 ? undefined : ret[1];
    }
    /**
     * The last `entry_hash` while the chain holds (64 zeros before any entry), else undefined.
     * @returns {string | undefined}
     */
    get head() {
        const ret = wasm.ledgerverifier_head(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * A verifier at entry 0.
     */
    constructor() {
        const ret = wasm.ledgerverifier_new();
        this.__wbg_ptr = ret;
        LedgerVerifierFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * The index the next entry must have (the number of entries checked).
     * @returns {number}
     */
    get nextIndex() {
        const ret = wasm.ledgerverifier_nextIndex(this.__wbg_ptr);
        return ret;
    }
    /**
     * Places the next page's entries, checked on their own elsewhere by [`own_page`] (its
     * `records` and `reasons`); the page must start at `first_index`, the verifier's next index.
     * Together they give what [`LedgerVerifier::verify_page`] gives for the page.
     * @param {Uint8Array | number[]} records
     * @param {Array<any>} reasons
     * @param {number} first_index
     * @returns {any}
     */
    placeOwnPage(records, reasons, first_index) {
        const val2 = +first_index;
        const ptr0 = passArray8ToWasm0(records, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.ledgerverifier_placeOwnPage(this.__wbg_ptr, ptr0, len0, reasons, val2);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
    /**
     * Checks the entries completed by the next chunk of a ledger file.
     * @param {Uint8Array | number[]} chunk
     * @returns {any}
     */
    pushBytes(chunk) {
        const ptr0 = passArray8ToWasm0(chunk, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.ledgerverifier_pushBytes(this.__wbg_ptr, ptr0, len0);
        return ret;
    }
    /**
     * Makes room for the transactions of a ledger of about `entries` entries in all, so that a
     * ledger of known length takes the memory it needs (~40 bytes an entry) and no more.
     * @param {number} entries
     */
    reserve(entries) {
        wasm.ledgerverifier_reserve(this.__wbg_ptr, entries);
    }
    /**
     * Checks the next page (the bytes of a JSON array of entries), which must start at
     * `first_index`, the verifier's next index.
     * @param {Uint8Array | number[]} page
     * @param {number} first_index
     * @returns {any}
     */
    verifyPage(page, first_index) {
        const val2 = +first_index;
        const ptr0 = passArray8ToWasm0(page, wasm.__wbindgen_malloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.ledgerverifier_verifyPage(this.__wbg_ptr, ptr0, len0, val2);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return takeFromExternrefTable0(ret[0]);
    }
}
if (Symbol.dispose) LedgerVerifier.prototype[Symbol.dispose] = LedgerVerifier.prototype.free;

/**
 * A search the page drives in slices: each [`Miner::step`] hashes at most `budget` nonces, in
 * increasing order from 0, so the first solution found is the smallest. Cancelling is simply
 * not calling `step` again.
 */
export class Miner {
    static __wrap(ptr) {
        const obj = Object.create(Miner.prototype);
        obj.__wbg_ptr = ptr;
        MinerFinalization.register(obj, obj.__wbg_ptr, obj);
        return obj;
    }
    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        MinerFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_miner_free(ptr, 0);
    }
    /**
     * Whether the search is over (found, or out of nonces).
     * @returns {boolean}
     */
    get done() {
        const ret = wasm.miner_done(this.__wbg_ptr);
        return ret !== 0;
    }
    /**
     * The solution's hash in hex, once found.
     * @returns {string | undefined}
     */
    get hash() {
        const ret = wasm.miner_hash(this.__wbg_ptr);
        let v1;
        if (ret[0] !== 0) {
            v1 = getStringFromWasm0(ret[0], ret[1]);
            wasm.__wbindgen_free(ret[0], ret[1] * 1, 1);
        }
        return v1;
    }
    /**
     * Nonces hashed so far.
     * @returns {number}
     */
    get hashes() {
        const ret = wasm.miner_hashes(this.__wbg_ptr);
        return ret;
    }
    /**
     * A search for `data` at `difficulty_bytes` leading zero bytes.
     * @param {string} data
     * @param {number} difficulty_bytes
     */
    constructor(data, difficulty_bytes) {
        const val2 = +difficulty_bytes;
        const ptr0 = passStringToWasm0(data, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.miner_new(ptr0, len0, val2);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        this.__wbg_ptr = ret[0];
        MinerFinalization.register(this, this.__wbg_ptr, this);
        return this;
    }
    /**
     * The next nonce to try (the search's progress).
     * @returns {number}
     */
    get nextNonce() {
        const ret = wasm.miner_nextNonce(this.__wbg_ptr);
        return ret;
    }
    /**
     * Hashes up to `budget` more nonces; returns the solution's nonce once found (and on every
     * later call).
     * @param {number} budget
     * @returns {bigint | undefined}
     */
    step(budget) {
        const ret = wasm.miner_step(this.__wbg_ptr, budget);
        return ret[0] === 0 ? undefined : BigInt.asUintN(64, ret[1]);
    }
    /**
     * A search at `bits` leading zero bits (finer steps than bytes).
     * @param {string} data
     * @param {number} bits
     * @returns {Miner}
     */
    static withZeroBits(data, bits) {
        const val2 = +bits;
        const ptr0 = passStringToWasm0(data, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.miner_withZeroBits(ptr0, len0, val2);
        if (ret[2]) {
            throw takeFromExternrefTable0(ret[1]);
        }
        return Miner.__wrap(ret[0]);
    }
}
if (Symbol.dispose) Miner.prototype[Symbol.dispose] = Miner.prototype.free;

/**
 * Win share by arrival rank: `{winner_ranks, nodes, alpha?}`; see [`figures::arrival_order`].
 * @param {any} input
 * @returns {any}
 */
export function arrivalOrder(input) {
    const ret = wasm.arrivalOrder(input);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * What a fair lottery whose losers stop at once wastes, from the hash shares: 1 − Σ share².
 * @param {any} shares
 * @returns {number}
 */
export function expectedWastedShare(shares) {
    const ret = wasm.expectedWastedShare(shares);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return ret[0];
}

/**
 * Win share against hash share: `{nodes: [{name, wins, races, hashes, mining_secs}], alpha?}`;
 * see [`figures::fairness`].
 * @param {any} input
 * @returns {any}
 */
export function fairness(input) {
    const ret = wasm.fairness(input);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * Counts against probabilities: `{observed, probs, alpha?}`; see [`figures::goodness_of_fit`].
 * @param {any} input
 * @returns {any}
 */
export function goodnessOfFit(input) {
    const ret = wasm.goodnessOfFit(input);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * `SHA-256(data ‖ decimal(nonce))` as 64 hex digits.
 * @param {string} data
 * @param {bigint} nonce
 * @returns {string}
 */
export function hashHex(data, nonce) {
    let deferred3_0;
    let deferred3_1;
    try {
        const val2 = BigInt.asIntN(64, nonce);
        const ptr0 = passStringToWasm0(data, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        const len0 = WASM_VECTOR_LEN;
        const ret = wasm.hashHex(ptr0, len0, val2);
        deferred3_0 = ret[0];
        deferred3_1 = ret[1];
        return getStringFromWasm0(ret[0], ret[1]);
    } finally {
        wasm.__wbindgen_free(deferred3_0, deferred3_1, 1);
    }
}

/**
 * The name of the kernel the browser mines with.
 * @returns {string}
 */
export function kernelName() {
    let deferred1_0;
    let deferred1_1;
    try {
        const ret = wasm.kernelName();
        deferred1_0 = ret[0];
        deferred1_1 = ret[1];
        return getStringFromWasm0(ret[0], ret[1]);
    } finally {
        wasm.__wbindgen_free(deferred1_0, deferred1_1, 1);
    }
}

/**
 * The number of leading zero bits of `hash_hex`.
 * @param {string} hash_hex
 * @returns {number}
 */
export function leadingZeroBits(hash_hex) {
    const ptr0 = passStringToWasm0(hash_hex, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.leadingZeroBits(ptr0, len0);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return ret[0] >>> 0;
}

/**
 * Whether `hash_hex` has `difficulty_bytes` leading zero bytes.
 * @param {string} hash_hex
 * @param {number} difficulty_bytes
 * @returns {boolean}
 */
export function meetsDifficulty(hash_hex, difficulty_bytes) {
    const val2 = +difficulty_bytes;
    const ptr0 = passStringToWasm0(hash_hex, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.meetsDifficulty(ptr0, len0, val2);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return ret[0] !== 0;
}

/**
 * Race times (`[seconds, …]`) in the report's bins, with no law to predict them.
 * @param {any} input
 * @returns {any}
 */
export function observedHistogram(input) {
    const ret = wasm.observedHistogram(input);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * Checks every entry of a page on its own, without the chain — the part of the work that
 * workers can share page by page; a [`LedgerVerifier`] then places them in order
 * ([`LedgerVerifier::place_own_page`]). Returns `{count, records: Uint8Array (105 bytes per
 * entry), reasons: [[entry within the page, reason], …], error}`.
 * @param {Uint8Array | number[]} page
 * @returns {any}
 */
export function ownPage(page) {
    const ptr0 = passArray8ToWasm0(page, wasm.__wbindgen_malloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.ownPage(ptr0, len0);
    return ret;
}

/**
 * Race times against the exponential law: `{races: [{time_secs, difficulty_bits}],
 * total_hash_rate, alpha?}`; see [`figures::race_times`].
 * @param {any} input
 * @returns {any}
 */
export function raceTimes(input) {
    const ret = wasm.raceTimes(input);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * The significance level of the experiment's tests, `report`'s: [`pow_core::stats::ALPHA`].
 * @returns {number}
 */
export function statsAlpha() {
    const ret = wasm.statsAlpha();
    return ret;
}

/**
 * Checks one ledger entry on its own (a JSON object or its JSON text):
 * `{ok, reason, entry_hash}`; `reason` says why when `ok` is false.
 * @param {any} entry
 * @returns {any}
 */
export function verifyEntry(entry) {
    const ret = wasm.verifyEntry(entry);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * Checks a whole `ledger.json` text entry by entry; see [`check::ledger`] for the result.
 * @param {string} text
 * @returns {any}
 */
export function verifyLedger(text) {
    const ptr0 = passStringToWasm0(text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
    const len0 = WASM_VECTOR_LEN;
    const ret = wasm.verifyLedger(ptr0, len0);
    return ret;
}

/**
 * Checks one page of a ledger on its own: `text` is a JSON array of the entries from
 * `first_index` on (as `GET /ledger?from=&limit=` serves them), `prev_hash` the `entry_hash` of
 * the entry before (64 zeros for index 0). Returns what [`verify_ledger`] does for these
 * entries plus `first_index`, `next_index` and `head` (the new head, when the page holds), to
 * check the next page against. A transaction repeated from an earlier page is caught by a
 * [`LedgerVerifier`] that saw it, not here.
 * @param {string} text
 * @param {number} first_index
 * @param {string} prev_hash
 * @returns {any}
 */
export function verifyPage(text, first_index, prev_hash) {
    const val3 = +first_index;
    let ptr0, len0, ptr1, len1;
    try {
        ptr0 = passStringToWasm0(text, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        len0 = WASM_VECTOR_LEN;
        ptr1 = passStringToWasm0(prev_hash, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
        len1 = WASM_VECTOR_LEN;
    } catch (e) {
        if (ptr1) { wasm.__wbindgen_free(ptr1, len1 * 1, 1); }
        if (ptr0) { wasm.__wbindgen_free(ptr0, len0 * 1, 1); }
        throw e;
    }
    const ret = wasm.verifyPage(ptr0, len0, val3, ptr1, len1);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * The losers' hashes: `[{winner_hashes, loser_hashes}, …]`; see [`figures::wasted_work`].
 * @param {any} input
 * @returns {any}
 */
export function wastedWork(input) {
    const ret = wasm.wastedWork(input);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}

/**
 * The 95% Wilson interval `{lo, hi}` of `successes` out of `trials`, or `null` without trials.
 * @param {number} successes
 * @param {number} trials
 * @returns {any}
 */
export function wilsonInterval(successes, trials) {
    const ret = wasm.wilsonInterval(successes, trials);
    if (ret[2]) {
        throw takeFromExternrefTable0(ret[1]);
    }
    return takeFromExternrefTable0(ret[0]);
}
function __wbg_get_imports() {
    const import0 = {
        __proto__: null,
        __wbg_Error_208446807d0d1e30: function(arg0, arg1) {
            const ret = Error(getStringFromWasm0(arg0, arg1));
            return ret;
        },
        __wbg___wbindgen_debug_string_f249a2a76caa9a55: function(arg0, arg1) {
            const ret = debugString(arg1);
            const ptr1 = passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            const len1 = WASM_VECTOR_LEN;
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
        },
        __wbg___wbindgen_number_get_934b640d0889af78: function(arg0, arg1) {
            const obj = arg1;
            const ret = typeof(obj) === 'number' ? obj : undefined;
            getDataViewMemory0().setFloat64((arg0 >>> 0) + 8 * 1, isLikeNone(ret) ? 0 : ret, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, !isLikeNone(ret), true);
        },
        __wbg___wbindgen_string_get_7ce8eee7fd327545: function(arg0, arg1) {
            const obj = arg1;
            const ret = typeof(obj) === 'string' ? obj : undefined;
            var ptr1 = isLikeNone(ret) ? 0 : passStringToWasm0(ret, wasm.__wbindgen_malloc, wasm.__wbindgen_realloc);
            var len1 = WASM_VECTOR_LEN;
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 1, len1, true);
            getDataViewMemory0().setInt32((arg0 >>> 0) + 4 * 0, ptr1, true);
        },
        __wbg___wbindgen_throw_4c88d8bf264fd984: function(arg0, arg1) {
            throw new Error(getStringFromWasm0(arg0, arg1));
        },
        __wbg_from_eac91875c8a5ffa4: function(arg0) {
            const ret = Array.from(arg0);
            return ret;
        },
        __wbg_get_d7176cfb76d71114: function(arg0, arg1) {
            const ret = arg0[arg1 >>> 0];
            return ret;
        },
        __wbg_get_unchecked_e6325ad374eff861: function(arg0, arg1) {
            const ret = arg0[arg1 >>> 0];
            return ret;
        },
        __wbg_length_b03a0fabb109b1e9: function(arg0) {
            const ret = arg0.length;
            return ret;
        },
        __wbg_new_37eb45aaf5eeb820: function() {
            const ret = new Array();
            return ret;
        },
        __wbg_new_cd4348290afae586: function() {
            const ret = new Object();
            return ret;
        },
        __wbg_new_from_slice_aaf85a9746711968: function(arg0, arg1) {
            const ret = new Float64Array(getArrayF64FromWasm0(arg0, arg1));
            return ret;
        },
        __wbg_new_from_slice_b8daf545a41c6aa0: function(arg0, arg1) {
            const ret = new Uint8Array(getArrayU8FromWasm0(arg0, arg1));
            return ret;
        },
        __wbg_of_e7ea0fcd535c1444: function(arg0, arg1) {
            const ret = Array.of(arg0, arg1);
            return ret;
        },
        __wbg_parse_c3f72b5a24f83c01: function() { return handleError(function (arg0, arg1) {
            const ret = JSON.parse(getStringFromWasm0(arg0, arg1));
            return ret;
        }, arguments); },
        __wbg_push_c9f4893fc209f768: function(arg0, arg1) {
            const ret = arg0.push(arg1);
            return ret;
        },
        __wbg_set_2793479888329cb6: function() { return handleError(function (arg0, arg1, arg2) {
            const ret = Reflect.set(arg0, arg1, arg2);
            return ret;
        }, arguments); },
        __wbg_stringify_0a0fbf2ef722380a: function() { return handleError(function (arg0) {
            const ret = JSON.stringify(arg0);
            return ret;
        }, arguments); },
        __wbindgen_generic_0000000000000001: function(arg0) {
            // Cast intrinsic for `F64 -> Externref`.
            const ret = arg0;
            return ret;
        },
        __wbindgen_generic_0000000000000002: function(arg0, arg1) {
            // Cast intrinsic for `Ref(String) -> Externref`.
            const ret = getStringFromWasm0(arg0, arg1);
            return ret;
        },
        __wbindgen_init_externref_table: function() {
            const table = wasm.__wbindgen_externrefs;
            table.set(0, undefined);
            table.set(1024, undefined);
            table.set(1025, null);
            table.set(1026, true);
            table.set(1027, false);
        },
    };
    return {
        __proto__: null,
        "./powrace_web_bg.js": import0,
    };
}

const LedgerVerifierFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_ledgerverifier_free(ptr, 1));
const MinerFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_miner_free(ptr, 1));

function addToExternrefTable0(obj) {
    const idx = wasm.__externref_table_alloc();
    wasm.__wbindgen_externrefs.set(idx, obj);
    return idx;
}

function debugString(val) {
    switch (typeof val) {
        // primitive types
        case 'number':
        case 'boolean':
        case 'undefined':
        return `${val}`;
        case 'string':
        return JSON.stringify(val);
        case 'bigint':
        return `${val}n`;
        case 'symbol':
        return val.description !== undefined
            ? `Symbol(${val.description})`
            : 'Symbol';
        case 'function':
        return typeof val.name === 'string' && val.name !== ''
            ? `Function(${val.name})`
            : 'Function';
        case 'object': {
            if (val === null) {
                return 'null';
            }
            // objects
            if (Array.isArray(val)) {
                return '[' + Array.from(val, debugString).join(', ') + ']';
            }
            // errors
            if (val instanceof Error) {
                return `${val.name}: ${val.message}\n${val.stack}`;
            }

            const toStringOutput = toString.call(val);
            // Test for built-in
            const className = /\[object ([^\]]+)\]/.exec(toStringOutput)?.[1];

            // Failed to match the standard '[object ClassName]'
            if (className === undefined) {
                return toStringOutput;
            }
            if (className === 'Object') {
                // we're a user defined class or Object
                // JSON.stringify avoids problems with cycles, and is generally much
                // easier than looping through ownProperties of `val`.
                try {
                    return 'Object(' + JSON.stringify(val) + ')';
                } catch (_) {
                    return 'Object';
                }
            }
            // TODO we could test for more things here, like `Set`s and `Map`s.
            return className;
        }
        // Per MDN: 'This list of values is exhaustive.'
        // https://developer.mozilla.org/en-US/docs/Web/JavaScript/Reference/Operators/typeof#description
    }
}

function getArrayF64FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getFloat64ArrayMemory0().subarray(ptr / 8, ptr / 8 + len);
}

function getArrayU8FromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return getUint8ArrayMemory0().subarray(ptr / 1, ptr / 1 + len);
}

let cachedDataViewMemory0 = null;
function getDataViewMemory0() {
    if (cachedDataViewMemory0 === null || cachedDataViewMemory0.buffer.detached === true || (cachedDataViewMemory0.buffer.detached === undefined && cachedDataViewMemory0.buffer !== wasm.memory.buffer)) {
        cachedDataViewMemory0 = new DataView(wasm.memory.buffer);
    }
    return cachedDataViewMemory0;
}

let cachedFloat64ArrayMemory0 = null;
function getFloat64ArrayMemory0() {
    if (cachedFloat64ArrayMemory0 === null || cachedFloat64ArrayMemory0.byteLength === 0) {
        cachedFloat64ArrayMemory0 = new Float64Array(wasm.memory.buffer);
    }
    return cachedFloat64ArrayMemory0;
}

function getStringFromWasm0(ptr, len) {
    ptr = ptr >>> 0;
    return decodeText(getUint8ArrayMemory0().subarray(ptr, ptr + len));
}

let cachedUint8ArrayMemory0 = null;
function getUint8ArrayMemory0() {
    if (cachedUint8ArrayMemory0 === null || cachedUint8ArrayMemory0.byteLength === 0) {
        cachedUint8ArrayMemory0 = new Uint8Array(wasm.memory.buffer);
    }
    return cachedUint8ArrayMemory0;
}

function handleError(f, args) {
    try {
        return f.apply(this, args);
    } catch (e) {
        const idx = addToExternrefTable0(e);
        wasm.__wbindgen_exn_store(idx);
    }
}

function isLikeNone(x) {
    return x === undefined || x === null;
}

function passArray8ToWasm0(arg, malloc) {
    const ptr = malloc(arg.length * 1, 1) >>> 0;
    getUint8ArrayMemory0().set(arg, ptr / 1);
    WASM_VECTOR_LEN = arg.length;
    return ptr;
}

function passStringToWasm0(arg, malloc, realloc) {
    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }

    let len = arg.length;
    let ptr = malloc(len, 1) >>> 0;

    const mem = getUint8ArrayMemory0();

    let offset = 0;

    for (; offset < len; offset++) {
        const code = arg.charCodeAt(offset);
        if (code > 0x7F) break;
        mem[ptr + offset] = code;
    }
    if (offset !== len) {
        if (offset !== 0) {
            arg = arg.slice(offset);
        }
        ptr = realloc(ptr, len, len = offset + arg.length * 3, 1) >>> 0;
        const view = getUint8ArrayMemory0().subarray(ptr + offset, ptr + len);
        const ret = cachedTextEncoder.encodeInto(arg, view);

        offset += ret.written;
        ptr = realloc(ptr, len, offset, 1) >>> 0;
    }

    WASM_VECTOR_LEN = offset;
    return ptr;
}

function takeFromExternrefTable0(idx) {
    const value = wasm.__wbindgen_externrefs.get(idx);
    wasm.__externref_table_dealloc(idx);
    return value;
}

let cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
cachedTextDecoder.decode();
const MAX_SAFARI_DECODE_BYTES = 2146435072;
let numBytesDecoded = 0;
function decodeText(bytes) {
    numBytesDecoded += bytes.length;
    if (numBytesDecoded >= MAX_SAFARI_DECODE_BYTES) {
        cachedTextDecoder = new TextDecoder('utf-8', { ignoreBOM: true });
        cachedTextDecoder.decode();
        numBytesDecoded = bytes.length;
    }
    return cachedTextDecoder.decode(bytes);
}

const cachedTextEncoder = new TextEncoder();

if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}

let WASM_VECTOR_LEN = 0;

let wasmModule, wasmInstance, wasm;
function __wbg_finalize_init(instance, module) {
    wasmInstance = instance;
    wasm = instance.exports;
    wasmModule = module;
    cachedDataViewMemory0 = null;
    cachedFloat64ArrayMemory0 = null;
    cachedUint8ArrayMemory0 = null;
    wasm.__wbindgen_start();
    return wasm;
}

async function __wbg_load(module, imports) {
    if (typeof Response === 'function' && module instanceof Response) {
        if (!module.ok) {
            throw new Error(`failed to fetch Wasm: ${module.status} ${module.statusText} fetching '${module.url}'`);
        }

        if (typeof WebAssembly.instantiateStreaming === 'function') {
            try {
                return await WebAssembly.instantiateStreaming(module, imports);
            } catch (e) {
                const validResponse = expectedResponseType(module.type);

                if (validResponse && module.headers.get('Content-Type') !== 'application/wasm') {
                    console.warn("`WebAssembly.instantiateStreaming` failed because your server does not serve Wasm with `application/wasm` MIME type. Falling back to `WebAssembly.instantiate` which is slower. Original error:\n", e);

                } else { throw e; }
            }
        }

        const bytes = await module.arrayBuffer();
        return await WebAssembly.instantiate(bytes, imports);
    } else {
        const instance = await WebAssembly.instantiate(module, imports);

        if (instance instanceof WebAssembly.Instance) {
            return { instance, module };
        } else {
            return instance;
        }
    }

    function expectedResponseType(type) {
        switch (type) {
            case 'basic': case 'cors': case 'default': return true;
        }
        return false;
    }
}

function initSync(module) {
    if (wasm !== undefined) return wasm;


    if (module !== undefined) {
        if (Object.getPrototypeOf(module) === Object.prototype) {
            ({module} = module)
        } else {
            console.warn('using deprecated parameters for `initSync()`; pass a single object instead')
        }
    }

    const imports = __wbg_get_imports();
    if (!(module instanceof WebAssembly.Module)) {
        module = new WebAssembly.Module(module);
    }
    const instance = new WebAssembly.Instance(module, imports);
    return __wbg_finalize_init(instance, module);
}

let __wbg_init_promise;
async function __wbg_init(module_or_path) {
    if (wasm !== undefined) return wasm;
    if (__wbg_init_promise === undefined) {
        __wbg_init_promise = __wbg_init_once(module_or_path);
        __wbg_init_promise.catch(() => { __wbg_init_promise = undefined; });
    }
    return __wbg_init_promise;
}

async function __wbg_init_once(module_or_path) {

    if (module_or_path !== undefined) {
        if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
            ({module_or_path} = module_or_path)
        } else {
            console.warn('using deprecated parameters for the initialization function; pass a single object instead')
        }
    }

    if (module_or_path === undefined) {
        module_or_path = new URL('powrace_web_bg.wasm', import.meta.url);
    }
    const imports = __wbg_get_imports();

    if (typeof module_or_path === 'string' || (typeof Request === 'function' && module_or_path instanceof Request) || (typeof URL === 'function' && module_or_path instanceof URL)) {
        module_or_path = fetch(module_or_path);
    }

    const { instance, module } = await __wbg_load(await module_or_path, imports);

    return __wbg_finalize_init(instance, module);
}

export { initSync, __wbg_init as default };
