// The experiment's statistics, in the page: the same figures and the same rules as
// node-server's `stats.rs` (which `node-server report` prints), so the dashboard and the report
// agree on the same races. Pure functions, no DOM: tests/stats.test.mjs checks them against the
// textbook values stats.rs is tested with.
//
// - Wilson's 95% score interval for a win share.
// - Goodness of fit of wins against hash shares: Pearson's chi-square when every node expects at
//   least 5 wins; otherwise the exact multinomial test when the outcomes are few enough to
//   enumerate; otherwise chi-square with the smallest categories pooled. The chi-square tail is
//   the regularized upper incomplete gamma function, Q(df/2, x/2).
// - Race times against the exponential law of a lottery (mean 2^bits / total hash rate): the
//   histogram with the predicted count per bin, and a Kolmogorov–Smirnov test.
// - Wasted work, and 1 − Σ share² for a fair lottery whose losers stop at once.

/** Φ⁻¹(0.975): the normal quantile of a two-sided 95% interval. */
export const Z_95 = 1.959963984540054;
/** The significance level of the page's tests: `node-server report`'s (report.rs ALPHA). */
export const ALPHA = 0.01;
/** Cochran's rule: chi-square is trusted when every category expects at least this. */
export const MIN_EXPECTED_COUNT = 5;
/** The most multinomial outcomes the exact test enumerates (stats.rs MAX_EXACT_OUTCOMES). */
export const MAX_EXACT_OUTCOMES = 2_000_000;
/** Relative tolerance when the exact test compares outcome probabilities (as stats.rs). */
export const EXACT_TIE_TOLERANCE = 1e-7;
/** Up to this many races the Kolmogorov–Smirnov p-value is exact (stats.rs KS_EXACT_MAX_N). */
export const KS_EXACT_MAX_N = 2000;
/** Histogram bins: Rice's rule 2·n^(1/3), within these (readable at 2,000+ races). */
export const MIN_BINS = 5;
export const MAX_BINS = 40;

/** Why a figure cannot be computed; `code` names the case as stats.rs's StatsError does. */
export class StatsError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

// ------------------------------------------------------------------------------ Wilson

/** Wilson's score interval {lo, hi} for `k` successes out of `n` at normal quantile `z`; null
 * without trials. It stays inside [0, 1] and covers close to 95% even for a few dozen races. */
export function wilsonInterval(k, n, z = Z_95) {
  if (!(n > 0) || k < 0 || k > n) return null;
  const p = k / n;
  const z2 = z * z;
  const denom = 1 + z2 / n;
  const center = (p + z2 / (2 * n)) / denom;
  const half = (z / denom) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { lo: k === 0 ? 0 : Math.max(0, center - half), hi: k === n ? 1 : Math.min(1, center + half) };
}

// ------------------------------------------------------------------------------ special functions

// Lanczos (g = 7, 9 terms): ln Γ(x) to about 15 significant digits for x > 0.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x), x > 0. */
export function lnGamma(x) {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

const LN_FACT_EXACT = 171; // n! is exact enough in doubles up to 170
const lnFactTable = (() => {
  const t = new Float64Array(LN_FACT_EXACT);
  let f = 1;
  for (let i = 1; i < LN_FACT_EXACT; i++) {
    f *= i;
    t[i] = Math.log(f);
  }
  return t;
})();

/** ln n! (a table up to 170, ln Γ(n + 1) beyond, as statrs's ln_factorial). */
export const lnFactorial = (n) => (n < LN_FACT_EXACT ? lnFactTable[n] : lnGamma(n + 1));

const EPS = 1e-16;
const TINY = 1e-300;

/** The regularized lower incomplete gamma P(a, x) by its series (x < a + 1). */
function gammaPSeries(a, x) {
  let ap = a;
  let del = 1 / a;
  let sum = del;
  for (let n = 0; n < 10_000; n++) {
    ap += 1;
    del *= x / ap;
    sum += del;
    if (Math.abs(del) < Math.abs(sum) * EPS) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - lnGamma(a));
}

/** The regularized upper incomplete gamma Q(a, x) by its continued fraction (x ≥ a + 1),
 * Lentz's method: accurate far into the tail, where 1 − P would lose every digit. */
function gammaQFraction(a, x) {
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) break;
  }
  return Math.exp(-x + a * Math.log(x) - lnGamma(a)) * h;
}

/** Q(a, x) = Γ(a, x) / Γ(a). */
export function gammaQ(a, x) {
  if (!(a > 0) || Number.isNaN(x)) return NaN;
  if (x <= 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaPSeries(a, x) : gammaQFraction(a, x);
}

/** P(χ²(df) ≥ x): the chi-square survival function. */
export function chiSquareSf(x, df) {
  if (x === Infinity) return 0;
  return Math.min(1, Math.max(0, gammaQ(df / 2, x / 2)));
}

// ------------------------------------------------------------------------------ goodness of fit

function checkAlpha(alpha) {
  if (!(alpha > 0 && alpha < 1)) throw new StatsError('bad_alpha', `significance level ${alpha} is not in (0, 1)`);
}

function checkProbs(p) {
  const sum = p.reduce((a, b) => a + b, 0);
  if (!p.length || p.some((x) => !Number.isFinite(x) || x < 0) || Math.abs(sum - 1) > 1e-9) {
    throw new StatsError('bad_probabilities', 'category probabilities must be finite, non-negative and add up to 1');
  }
}

/** The ways to split `n` races over `k` categories, C(n + k − 1, k − 1); Infinity when huge. */
export function outcomeCount(n, k) {
  let c = 1;
  for (let i = 1; i < k; i++) {
    c = (c * (n + i)) / i; // exact at every step while c < 2^53
    if (c > 2 ** 52) return Infinity;
  }
  return Math.round(c);
}

/** Pearson's X² of counts `o` (summing to `n`) against probabilities `p`. */
function pearson(o, p, n) {
  let x2 = 0;
  for (let i = 0; i < o.length; i++) {
    const e = n * p[i];
    const d = o[i] - e;
    x2 += (d * d) / e;
  }
  return x2;
}

/** The test goodness_of_fit runs for `n` races over positive probabilities `p` (stats.rs Plan). */
function plan(n, p) {
  if (p.length < 2) throw new StatsError('too_few_races', 'too few races for a test: fewer than two categories expect 5 wins');
  const e = p.map((pi) => n * pi);
  if (e.every((ei) => ei >= MIN_EXPECTED_COUNT)) return { kind: 'chi', groups: p.map((_, i) => [i]) };
  const outcomes = outcomeCount(n, p.length);
  if (outcomes <= MAX_EXACT_OUTCOMES) return { kind: 'exact', outcomes };
  // Pool from the smallest expected count up: each pool closes once it expects enough; a pool
  // left open at the end joins the last closed group.
  const order = p.map((_, i) => i).sort((a, b) => e[a] - e[b] || a - b);
  const groups = [];
  let pool = [];
  let poolE = 0;
  for (const i of order) {
    if (!pool.length && e[i] >= MIN_EXPECTED_COUNT) {
      groups.push([i]);
      continue;
    }
    pool.push(i);
    poolE += e[i];
    if (poolE >= MIN_EXPECTED_COUNT) {
      groups.push(pool);
      pool = [];
      poolE = 0;
    }
  }
  if (pool.length) {
    if (!groups.length) throw new StatsError('too_few_races', 'too few races for a test: fewer than two categories expect 5 wins');
    groups[groups.length - 1].push(...pool);
  }
  if (groups.length < 2) throw new StatsError('too_few_races', 'too few races for a test: fewer than two categories expect 5 wins');
  for (const g of groups) g.sort((a, b) => a - b);
  return { kind: 'chi', groups };
}

/** Calls f(lnP) for every split of `n` over the categories of `lnP` (ln of each probability). */
function forEachOutcome(n, lnP, f) {
  const k = lnP.length;
  const lnFact = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) lnFact[i] = lnFactorial(i);
  const term = (i, x) => (x === 0 ? 0 : x * lnP[i] - lnFact[x]);
  const rec = (i, left, acc) => {
    if (i + 1 === k) {
      const t = term(i, left);
      if (Number.isFinite(t)) f(acc + t);
      return;
    }
    for (let x = 0; x <= left; x++) {
      const t = term(i, x);
      if (!Number.isFinite(t)) break; // probability 0: only x = 0 here
      rec(i + 1, left - x, acc + t);
    }
  };
  rec(0, n, lnFact[n]);
}

/** The exact multinomial test's p-value: the probability of every split no more likely than the
 * observed one (scipy binomtest's two-sided rule, for any number of categories). */
function exactMultinomialP(obs, p) {
  const n = obs.reduce((a, b) => a + b, 0);
  const lnP = p.map(Math.log);
  let lnObs = lnFactorial(n);
  for (let i = 0; i < obs.length; i++) if (obs[i]) lnObs += obs[i] * lnP[i] - lnFactorial(obs[i]);
  const bound = lnObs + Math.log1p(EXACT_TIE_TOLERANCE);
  let total = 0;
  forEachOutcome(n, lnP, (lp) => {
    if (lp <= bound) total += Math.exp(lp);
  });
  return Math.min(1, Math.max(0, total));
}

/**
 * Tests `observed` counts against category probabilities `probs` at level `alpha`, as stats.rs's
 * goodness_of_fit: returns {method: {kind, outcomes?, pooled?}, statistic, df, p_value, alpha,
 * rejected}. Categories of probability 0 are left out, unless observed (then p = 0).
 */
export function goodnessOfFit(observed, probs, alpha = ALPHA) {
  checkAlpha(alpha);
  checkProbs(probs);
  if (observed.length !== probs.length) throw new StatsError('length_mismatch', `observed counts against probabilities: ${observed.length} against ${probs.length} entries`);
  const n = observed.reduce((a, b) => a + b, 0);
  if (n === 0) throw new StatsError('no_races', 'no races');
  const live = probs.map((_, i) => i).filter((i) => probs[i] > 0);
  if (probs.some((p, i) => p === 0 && observed[i] > 0)) {
    return { method: { kind: 'chi_square' }, statistic: Infinity, df: Math.max(0, live.length - 1), p_value: 0, alpha, rejected: true };
  }
  const obs = live.map((i) => observed[i]);
  const p = live.map((i) => probs[i]);
  const pl = plan(n, p);
  let method, statistic, df, pValue;
  if (pl.kind === 'chi') {
    const o = pl.groups.map((g) => g.reduce((a, i) => a + obs[i], 0));
    const e = pl.groups.map((g) => g.reduce((a, i) => a + p[i], 0));
    statistic = pearson(o, e, n);
    df = pl.groups.length - 1;
    method = pl.groups.every((g) => g.length === 1)
      ? { kind: 'chi_square' }
      : { kind: 'pooled_chi_square', pooled: pl.groups.filter((g) => g.length > 1).map((g) => g.map((j) => live[j])) };
    pValue = chiSquareSf(statistic, df);
  } else {
    statistic = pearson(obs, p, n);
    df = p.length - 1;
    method = { kind: 'exact_multinomial', outcomes: pl.outcomes };
    pValue = exactMultinomialP(obs, p);
  }
  return { method, statistic, df, p_value: pValue, alpha, rejected: pValue < alpha };
}

// ------------------------------------------------------------------------------ fairness

/**
 * Each node's win share against its hash share, and one test over all nodes (stats.rs fairness).
 * `nodes`: [{name, wins, races, hashes, mining_secs}], every node over the same races. Returns
 * {races, nodes: [{name, wins, races, hash_rate, hash_share, win_share, win_interval,
 * expected_wins, agrees}], test}; throws StatsError saying what is missing.
 */
export function fairness(nodes, alpha = ALPHA) {
  checkAlpha(alpha);
  if (!nodes.length) throw new StatsError('no_nodes', 'no nodes');
  const races = nodes[0].races;
  const odd = nodes.find((n) => n.races !== races);
  if (odd) {
    throw new StatsError('unequal_races', `${odd.name} entered ${odd.races} races but ${nodes[0].name} entered ${races}: the fairness test needs every node in every race`);
  }
  if (races === 0) throw new StatsError('no_races', 'no races');
  const wins = nodes.reduce((a, n) => a + n.wins, 0);
  if (wins !== races) throw new StatsError('wins_do_not_add_up', `the nodes' wins add up to ${wins}, not to the ${races} races they entered`);
  const rates = nodes.map((n) => {
    if (!(Number.isFinite(n.mining_secs) && n.mining_secs > 0)) throw new StatsError('no_mining_time', `${n.name}: mining time ${n.mining_secs} s gives no hash rate`);
    return n.hashes / n.mining_secs;
  });
  const total = rates.reduce((a, b) => a + b, 0);
  if (!(total > 0)) throw new StatsError('no_hashes', 'no node computed any hash');
  let shares = rates.map((r) => r / total);
  const sum = shares.reduce((a, b) => a + b, 0);
  shares = shares.map((s) => s / sum);
  const test = goodnessOfFit(
    nodes.map((n) => n.wins),
    shares,
    alpha,
  );
  return {
    races,
    nodes: nodes.map((n, i) => {
      const interval = wilsonInterval(n.wins, races);
      return {
        name: n.name,
        wins: n.wins,
        races,
        hash_rate: rates[i],
        hash_share: shares[i],
        win_share: n.wins / races,
        win_interval: interval,
        expected_wins: races * shares[i],
        agrees: interval.lo <= shares[i] && shares[i] <= interval.hi,
      };
    }),
    test,
  };
}

// ------------------------------------------------------------------------------ race times

/** The predicted mean time of a lottery race: 2^bits hashes at `totalHashRate` per second. */
export const predictedMeanSecs = (bits, totalHashRate) => 2 ** bits / totalHashRate;

/** Rice's rule, 2·n^(1/3) bins, within MIN_BINS..MAX_BINS. */
export const histogramBins = (n) => Math.min(MAX_BINS, Math.max(MIN_BINS, Math.ceil(2 * Math.cbrt(n))));

/** The `p` quantile of sorted data, linear between order statistics (numpy's default). */
export function percentileSorted(sorted, p) {
  const n = sorted.length;
  if (!n) return NaN;
  if (n === 1) return sorted[0];
  const h = (n - 1) * Math.min(1, Math.max(0, p));
  const i = Math.floor(h);
  return i + 1 >= n ? sorted[n - 1] : sorted[i] + (h - i) * (sorted[i + 1] - sorted[i]);
}

/** The `p` quantile of a mixture of exponential laws, `groups` = [[mean, weight count], ...]. */
function mixtureQuantile(groups, p) {
  const total = groups.reduce((a, [, c]) => a + c, 0);
  const cdf = (t) => groups.reduce((a, [mu, c]) => a - c * Math.expm1(-t / mu), 0) / total;
  const maxMu = groups.reduce((a, [mu]) => Math.max(a, mu), 0);
  let lo = 0;
  let hi = -maxMu * Math.log1p(-p);
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (cdf(mid) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/**
 * Race times against the exponential law (stats.rs race_times): `races` = [{time_secs,
 * difficulty_bits}], `totalHashRate` the nodes' summed rate. Returns {races, observed_mean,
 * predicted_mean, observed_median, predicted_median, ks: {statistic, n, p_value, alpha, rejected},
 * histogram: [{lo, hi, observed, predicted}], predicted_beyond, means: [[mean, count], ...]}.
 */
export function raceTimes(races, totalHashRate, alpha = ALPHA) {
  checkAlpha(alpha);
  if (!races.length) throw new StatsError('no_races', 'no races');
  if (!(Number.isFinite(totalHashRate) && totalHashRate > 0)) throw new StatsError('bad_race', 'total hash rate is not a positive, finite number');
  // The prediction depends on a race only through its bits: grouped, the bins cost O(bits × bins).
  const byBits = new Map();
  for (const [i, r] of races.entries()) {
    if (!(Number.isFinite(r.time_secs) && r.time_secs >= 0)) throw new StatsError('bad_race', `race ${i}: race time is not a finite, non-negative number of seconds`);
    byBits.set(r.difficulty_bits, (byBits.get(r.difficulty_bits) ?? 0) + 1);
  }
  const groups = [...byBits].map(([bits, c]) => [predictedMeanSecs(bits, totalHashRate), c]);
  const n = races.length;
  const times = races.map((r) => r.time_secs).sort((a, b) => a - b);
  const observedMean = times.reduce((a, b) => a + b, 0) / n;
  const predictedMean = groups.reduce((a, [mu, c]) => a + mu * c, 0) / n;

  // Kolmogorov–Smirnov: each time through its own law is uniform if the law holds.
  const u = races.map((r) => -Math.expm1(-r.time_secs / predictedMeanSecs(r.difficulty_bits, totalHashRate))).sort((a, b) => a - b);
  let d = 0;
  for (let i = 0; i < n; i++) d = Math.max(d, (i + 1) / n - u[i], u[i] - i / n);
  const ksP = kolmogorovSf(n, d);

  const bins = histogramBins(n);
  let top = times[n - 1];
  if (top <= 0) top = mixtureQuantile(groups, 0.99);
  const width = top / bins;
  const histogram = [];
  for (let i = 0; i < bins; i++) {
    const lo = width * i;
    const hi = i + 1 === bins ? top : width * (i + 1);
    const predicted = groups.reduce((a, [mu, c]) => a + c * (Math.exp(-lo / mu) - Math.exp(-hi / mu)), 0);
    histogram.push({ lo, hi, observed: 0, predicted });
  }
  for (const t of times) histogram[Math.min(bins - 1, Math.floor(t / width))].observed += 1;
  return {
    races: n,
    observed_mean: observedMean,
    predicted_mean: predictedMean,
    observed_median: percentileSorted(times, 0.5),
    predicted_median: mixtureQuantile(groups, 0.5),
    ks: { statistic: d, n, p_value: ksP, alpha, rejected: ksP < alpha },
    histogram,
    predicted_beyond: groups.reduce((a, [mu, c]) => a + c * Math.exp(-top / mu), 0),
    means: groups,
  };
}

// ------------------------------------------------------------------------------ Kolmogorov–Smirnov

/** P(D_n ≥ d) for the two-sided one-sample KS statistic of `n` points (stats.rs kolmogorov_sf):
 * Marsaglia, Tsang & Wang (2003) up to KS_EXACT_MAX_N, with their shortcut for small p-values;
 * above, the limiting Kolmogorov law at λ = (√n + 0.12 + 0.11/√n)·d (Stephens 1970). */
export function kolmogorovSf(n, d) {
  if (n === 0 || d <= 0) return 1;
  if (d >= 1) return 0;
  if (n > KS_EXACT_MAX_N) {
    const sn = Math.sqrt(n);
    return kolmogorovLimitSf((sn + 0.12 + 0.11 / sn) * d);
  }
  const s = d * d * n;
  if (s > 7.24 || (s > 3.76 && n > 99)) return Math.min(1, 2 * Math.exp(-(2.000071 + 0.331 / Math.sqrt(n) + 1.409 / n) * s));
  return Math.min(1, Math.max(0, 1 - mtwCdf(n, d)));
}

function kolmogorovLimitSf(lambda) {
  if (lambda <= 0) return 1;
  let sum = 0;
  if (lambda < 1.18) {
    const c = -(Math.PI ** 2) / (8 * lambda * lambda);
    for (let j = 1; j <= 20; j++) {
      const k = 2 * j - 1;
      sum += Math.exp(c * k * k);
    }
    return Math.min(1, Math.max(0, 1 - (Math.sqrt(2 * Math.PI) / lambda) * sum));
  }
  for (let j = 1; j <= 20; j++) sum += (j % 2 ? 1 : -1) * Math.exp(-2 * j * j * lambda * lambda);
  return Math.min(1, Math.max(0, 2 * sum));
}

/** P(D_n < d): Marsaglia, Tsang & Wang's matrix power, with their decimal exponent bookkeeping. */
function mtwCdf(n, d) {
  const k = Math.floor(n * d) + 1;
  const m = 2 * k - 1;
  const h = k - n * d;
  const H = new Float64Array(m * m);
  for (let i = 0; i < m; i++) for (let j = 0; j < m; j++) H[i * m + j] = i + 1 < j ? 0 : 1;
  for (let i = 0; i < m; i++) {
    H[i * m] -= h ** (i + 1);
    H[(m - 1) * m + i] -= h ** (m - i);
  }
  if (2 * h - 1 > 0) H[(m - 1) * m] += (2 * h - 1) ** m;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < m; j++) {
      if (i + 1 > j) for (let g = 1; g <= i + 1 - j; g++) H[i * m + j] /= g;
    }
  }
  let [Q, eQ] = matrixPower(H, 0, m, n);
  let s = Q[(k - 1) * m + k - 1];
  for (let i = 1; i <= n; i++) {
    s = (s * i) / n;
    if (s < 1e-140) {
      s *= 1e140;
      eQ -= 140;
    }
  }
  return s * 10 ** eQ;
}

function matrixPower(A, eA, m, n) {
  if (n === 1) return [A, eA];
  const [V, eV] = matrixPower(A, eA, m, Math.floor(n / 2));
  const B = matrixMultiply(V, V, m);
  const eB = 2 * eV;
  let [W, eW] = n % 2 === 0 ? [B, eB] : [matrixMultiply(A, B, m), eA + eB];
  if (W[Math.floor(m / 2) * m + Math.floor(m / 2)] > 1e140) {
    for (let i = 0; i < W.length; i++) W[i] *= 1e-140;
    eW += 140;
  }
  return [W, eW];
}

function matrixMultiply(A, B, m) {
  const C = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const a = A[i * m + k];
      if (a === 0) continue;
      for (let j = 0; j < m; j++) C[i * m + j] += a * B[k * m + j];
    }
  }
  return C;
}

// ------------------------------------------------------------------------------ wasted work

/** The wasted share of a fair lottery whose losers stop as soon as the race is decided:
 * node i wins with probability s_i and has then done the share s_i of the work: 1 − Σ s_i². */
export const expectedWastedShare = (shares) => 1 - shares.reduce((a, s) => a + s * s, 0);
