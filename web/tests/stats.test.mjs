// The page's statistics (web/stats.js) against the known answers node-server's stats.rs is tested
// with (node-server/src/stats/tests.rs: published tables, and scipy 1.17.1 values, each naming the
// exact call), so the dashboard and `node-server report` agree.
//
//   node --test web/tests/stats.test.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Z_95,
  ALPHA,
  wilsonInterval,
  chiSquareSf,
  gammaQ,
  lnGamma,
  lnFactorial,
  goodnessOfFit,
  outcomeCount,
  fairness,
  raceTimes,
  kolmogorovSf,
  predictedMeanSecs,
  histogramBins,
  expectedWastedShare,
  StatsError,
} from '../stats.js';

const SPLIT_211 = [0.5, 0.25, 0.25];

function assertRel(got, want, rel, what = '') {
  assert.ok(Math.abs(got - want) <= rel * Math.abs(want), `${what} got ${got}, want ${want} (±${rel} relative)`);
}
const close = (got, want, tol) => Math.abs(got - want) <= tol;

test('Wilson matches Newcombe (1998), Table II, method 3', () => {
  // Statistics in Medicine 17:857, the score interval without continuity correction, to the 4
  // decimals printed (stats.rs wilson_matches_newcombe_1998).
  for (const [k, n, lo, hi] of [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0.0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ]) {
    const i = wilsonInterval(k, n, Z_95);
    assert.ok(close(i.lo, lo, 5e-5) && close(i.hi, hi, 5e-5), `${k}/${n}: ${JSON.stringify(i)}`);
  }
  assert.equal(wilsonInterval(29, 29).hi, 1);
  assert.equal(wilsonInterval(0, 20).lo, 0);
  assert.equal(wilsonInterval(0, 0), null);
  assert.equal(wilsonInterval(3, 2), null);
  // scipy.stats.norm.ppf(0.975)
  assert.equal(Z_95, 1.959963984540054);
  // The report's level.
  assert.equal(ALPHA, 0.01);
});

test('the chi-square tail at published critical values (NIST/SEMATECH 1.3.6.7.4; scipy.stats.chi2.sf)', () => {
  for (const [x, df, want] of [
    [3.841, 1, 0.050013683763956804],
    [5.991, 2, 0.05001161502657909],
    [9.21, 2, 0.01000170200470548],
    [13.816, 2, 0.0009997553089238827],
    [18.307, 10, 0.05000058909139812],
    [50.0, 2, 1.3887943864964e-11],
    [100.0, 3, 1.5541594313896026e-21],
  ]) {
    assertRel(chiSquareSf(x, df), want, 1e-9, `chi2.sf(${x}, ${df})`);
  }
  // More of the table, both sides of the series/fraction switch (x/2 against df/2 + 1), every
  // df of the 5% and 1% columns to 30: the tail at each tabled value is within the table's
  // 3 decimals of 0.05 and 0.01.
  const crit05 = [3.841, 5.991, 7.815, 9.488, 11.07, 12.592, 14.067, 15.507, 16.919, 18.307, 19.675, 21.026, 22.362, 23.685, 24.996, 26.296, 27.587, 28.869, 30.144, 31.41, 32.671, 33.924, 35.172, 36.415, 37.652, 38.885, 40.113, 41.337, 42.557, 43.773];
  const crit01 = [6.635, 9.21, 11.345, 13.277, 15.086, 16.812, 18.475, 20.09, 21.666, 23.209, 24.725, 26.217, 27.688, 29.141, 30.578, 32.0, 33.409, 34.805, 36.191, 37.566, 38.932, 40.289, 41.638, 42.98, 44.314, 45.642, 46.963, 48.278, 49.588, 50.892];
  for (let df = 1; df <= 30; df++) {
    assert.ok(Math.abs(chiSquareSf(crit05[df - 1], df) - 0.05) < 2e-4, `df ${df} 5%: ${chiSquareSf(crit05[df - 1], df)}`);
    assert.ok(Math.abs(chiSquareSf(crit01[df - 1], df) - 0.01) < 5e-5, `df ${df} 1%: ${chiSquareSf(crit01[df - 1], df)}`);
  }
  // Closed forms: df 2 is e^(-x/2); df 1 is erfc(√(x/2)), at x = 1 scipy.stats.chi2.sf(1, 1) = 0.31731050786291115.
  for (const x of [0.01, 0.5, 1, 3, 7.5, 20, 80]) assertRel(chiSquareSf(x, 2), Math.exp(-x / 2), 1e-13, `df 2 at ${x}`);
  assertRel(chiSquareSf(1, 1), 0.31731050786291115, 1e-12, 'df 1 at 1');
  assert.equal(chiSquareSf(0, 3), 1);
  assert.equal(chiSquareSf(Infinity, 3), 0);
  assert.ok(Number.isNaN(gammaQ(0, 1)));
  // ln Γ and ln n! against exact values: ln Γ(0.5) = ln √π, ln 10! = ln 3628800, ln 200! (from
  // Python's math.lgamma(201)).
  assertRel(lnGamma(0.5), 0.5 * Math.log(Math.PI), 1e-14);
  assertRel(lnFactorial(10), Math.log(3628800), 1e-15);
  assertRel(lnFactorial(200), 863.2319871924054, 1e-14);
});

test("Mendel's peas fit 9:3:3:1 (scipy.stats.chisquare)", () => {
  // 315 round yellow, 108 round green, 101 wrinkled yellow, 32 wrinkled green.
  const t = goodnessOfFit([315, 108, 101, 32], [9 / 16, 3 / 16, 3 / 16, 1 / 16], 0.05);
  assert.equal(t.method.kind, 'chi_square');
  assert.equal(t.df, 3);
  assertRel(t.statistic, 0.4700239808153477, 1e-12);
  assertRel(t.p_value, 0.925425895103616, 1e-9);
  assert.equal(t.rejected, false);
});

test('the exact test matches scipy binomtest and the multinomial enumeration', () => {
  // Two categories: scipy.stats.binomtest(k, n, p).pvalue.
  for (const [k, n, p, want] of [
    [3, 20, 0.1, 0.4446498494011033],
    [0, 10, 0.3, 0.0388396033],
    [7, 12, 0.25, 0.014252781867980957],
    [1, 30, 0.1, 0.3591898982264988],
  ]) {
    const t = goodnessOfFit([k, n - k], [p, 1 - p], 0.05);
    assert.equal(t.method.kind, 'exact_multinomial', `${k}/${n}`);
    assertRel(t.p_value, want, 1e-9, `binomtest(${k}, ${n}, ${p})`);
  }
  // Three categories: the sum of scipy.stats.multinomial.pmf over every split no more likely
  // than the observed one (tolerance 1 + 1e-7).
  for (const [obs, want] of [
    [[5, 1, 0], 0.326171875],
    [[2, 6, 4], 0.02455902099609373],
  ]) {
    const t = goodnessOfFit(obs, SPLIT_211, 0.05);
    assert.deepEqual(t.method, { kind: 'exact_multinomial', outcomes: outcomeCount(obs.reduce((a, b) => a + b), 3) });
    assertRel(t.p_value, want, 1e-9, JSON.stringify(obs));
  }
  assert.equal(outcomeCount(10, 3), 66);
  assert.equal(outcomeCount(600, 3), 180_901);
  assert.equal(outcomeCount(3029, 30), Infinity);
});

test('the smallest categories are pooled when enumeration is too large', () => {
  // 30 nodes, 29 with share 0.001: 3,000 races expect 3 wins of each (stats.rs pooling test).
  const p = [...Array(29).fill(0.001), 1 - 0.029];
  const n = 3000;
  const obs = p.map((x) => Math.round(x * n));
  obs[obs.length - 1] += n - obs.reduce((a, b) => a + b, 0);
  const t = goodnessOfFit(obs, p, 0.05);
  assert.equal(t.method.kind, 'pooled_chi_square');
  assert.equal(t.method.pooled.length, 15);
  assert.equal(t.method.pooled.reduce((a, g) => a + g.length, 0), 30);
  assert.deepEqual(t.method.pooled.at(-1), [28, 29]);
  assert.equal(t.df, 14);
  assert.equal(t.rejected, false);
  assert.deepEqual(goodnessOfFit([2, 2], [0.5, 0.5], 0.05).method, { kind: 'exact_multinomial', outcomes: 5 });
});

test('a win where the share is zero rejects; bad inputs are errors', () => {
  let t = goodnessOfFit([5, 5, 1], [0.5, 0.5, 0], 0.05);
  assert.ok(t.rejected && t.p_value === 0);
  t = goodnessOfFit([50, 50, 0], [0.5, 0.5, 0], 0.05);
  assert.deepEqual([t.df, t.rejected], [1, false]);
  const code = (f) => {
    try {
      f();
    } catch (e) {
      assert.ok(e instanceof StatsError);
      return e.code;
    }
    return null;
  };
  assert.equal(code(() => goodnessOfFit([1, 2], [0.5, 0.4], 0.05)), 'bad_probabilities');
  assert.equal(code(() => goodnessOfFit([1, 2], [0.5, 0.5], 0)), 'bad_alpha');
  assert.equal(code(() => goodnessOfFit([1], [0.5, 0.5], 0.05)), 'length_mismatch');
  assert.equal(code(() => goodnessOfFit([0, 0], [0.5, 0.5], 0.05)), 'no_races');
});

function nodes(wins, rates) {
  const races = wins.reduce((a, b) => a + b, 0);
  return wins.map((w, i) => ({ name: `Node${i + 1}`, wins: w, races, hashes: Math.trunc(rates[i] * 10), mining_secs: 10 }));
}

test('fairness figures for a known split', () => {
  // 400 races, rates 2:1:1 → expected 200, 100, 100; observed 215, 95, 90:
  // X² = 225/200 + 25/100 + 100/100 = 2.375, df 2, p = e^(-2.375/2).
  const f = fairness(nodes([215, 95, 90], [2e6, 1e6, 1e6]), 0.05);
  assert.equal(f.races, 400);
  assert.equal(f.test.method.kind, 'chi_square');
  assertRel(f.test.statistic, 2.375, 1e-12);
  assertRel(f.test.p_value, Math.exp(-2.375 / 2), 1e-9);
  const n1 = f.nodes[0];
  assertRel(n1.hash_share, 0.5, 1e-12);
  assertRel(n1.hash_rate, 2e6, 1e-12);
  assertRel(n1.expected_wins, 200, 1e-12);
  assertRel(n1.win_share, 215 / 400, 1e-12);
  assert.deepEqual(n1.win_interval, wilsonInterval(215, 400));
  assert.ok(f.nodes.every((n) => n.agrees));
  // 1:1:1 wins against a 2:1:1 split over 600 races: X² = 100²/300 + 2·50²/150 = 66.67, p ≈ 3e-15.
  const g = fairness(nodes([200, 200, 200], [2e6, 1e6, 1e6]));
  assertRel(g.test.statistic, 200 / 3, 1e-12);
  assertRel(g.test.p_value, Math.exp(-100 / 3), 1e-9);
  assert.ok(g.test.rejected && !g.nodes[0].agrees);
});

test('fairness input errors say what is wrong', () => {
  const code = (n) => {
    try {
      fairness(n, 0.05);
    } catch (e) {
      return [e.code, e.message];
    }
    return null;
  };
  let n = nodes([5, 5], [1, 1]);
  n[1].races = 9;
  assert.match(code(n)[1], /^Node2 entered 9 races but Node1 entered 10/);
  n = nodes([5, 5], [1, 1]);
  n[0].wins = 4;
  assert.deepEqual(code(n), ['wins_do_not_add_up', "the nodes' wins add up to 9, not to the 10 races they entered"]);
  n = nodes([5, 5], [1, 1]);
  n[0].mining_secs = 0;
  assert.equal(code(n)[0], 'no_mining_time');
  assert.equal(code([])[0], 'no_nodes');
});

// 20 race times, predicted exponential with mean 0.5 s (10 bits at 2,048 H/s).
const TIMES = [0.012, 0.95, 0.31, 0.044, 1.62, 0.27, 0.58, 0.08, 0.73, 0.19, 0.41, 2.05, 0.36, 0.11, 0.66, 0.025, 1.2, 0.5, 0.15, 0.88];
const races = (times, bits = 10) => times.map((t) => ({ time_secs: t, difficulty_bits: bits }));

test('race times match scipy and numpy (stats.rs race_times_match_scipy_and_numpy)', () => {
  const r = raceTimes(races(TIMES), 2048, 0.05);
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
  for (const [b, want] of r.histogram.map((b, i) => [b, [9.901378390562206, 4.999513688907594, 2.524409848774116, 1.2746529924953933, 0.6436119127274269, 0.32497965849803934][i]])) {
    assertRel(b.predicted, want, 1e-9);
  }
  assertRel(r.predicted_beyond, 0.3314535080352251, 1e-9);
  assert.equal(r.histogram.at(-1).hi, 2.05);
  // Three times too slow: scipy.stats.kstest(3·TIMES, 'expon', args=(0, 0.5), method='exact').
  const slow = raceTimes(races(TIMES.map((t) => t * 3)), 2048, 0.05);
  assertRel(slow.ks.statistic, 0.45210130091638534, 1e-12);
  assertRel(slow.ks.p_value, 0.0002981288090740194, 1e-6);
  assert.equal(slow.ks.rejected, true);
  assert.equal(predictedMeanSecs(10, 2048), 0.5);
});

test('the Kolmogorov tail matches tables and scipy (stats.rs kolmogorov_tail_matches_tables_and_scipy)', () => {
  // Massey (1951) / Miller (1956) two-sided 5% critical values; exact tails scipy.stats.kstwo.sf;
  // n = 1000 and 1500 from MTW's algorithm in 40-digit arithmetic (mpmath).
  for (const [n, d, want, rel] of [
    [5, 0.56328, 0.04999676544316925, 1e-9],
    [10, 0.40925, 0.04999645233425898, 1e-9],
    [20, 0.29408, 0.04999416027203962, 1e-9],
    [50, 0.3, 0.00017353260202718738, 1e-9],
    [100, 0.1, 0.2526927570063874, 1e-9],
    [100, 0.05, 0.9532159710635725, 1e-9],
    [1000, 0.03, 0.3226902464133, 1e-12],
    [1000, 0.05, 0.013012074781090332, 2e-3],
    [1500, 0.02, 0.578895688593689, 1e-12],
    [3000, 0.02, 0.17889813623188966, 5e-3],
    [5000, 0.015, 0.20846142096186204, 5e-3],
    [10000, 0.01, 0.2682191277029192, 5e-3],
  ]) {
    assertRel(kolmogorovSf(n, d), want, rel, `n ${n}, d ${d}`);
  }
  assert.equal(kolmogorovSf(10, 0), 1);
  assert.equal(kolmogorovSf(10, 1), 0);
});

test('readable at 2,000+ races: at most 40 bins, the mixture of difficulties predicted per bin', () => {
  assert.equal(histogramBins(1), 5);
  assert.equal(histogramBins(20), 6);
  assert.equal(histogramBins(2000), 26);
  assert.equal(histogramBins(10_000), 40);
  assert.equal(histogramBins(1_000_000), 40);
  // 3,000 races at 16..20 bits (as under retargeting): every race in a bin, and the predicted
  // counts plus the tail beyond the last bin add up to the races.
  const rs = [];
  let seed = 7;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) + 0.5) / 2 ** 31;
  for (let i = 0; i < 3000; i++) {
    const bits = 16 + (i % 5);
    rs.push({ time_secs: -Math.log(1 - rand()) * predictedMeanSecs(bits, 4e6), difficulty_bits: bits });
  }
  const r = raceTimes(rs, 4e6);
  assert.equal(r.histogram.length, 29);
  assert.equal(r.histogram.reduce((a, b) => a + b.observed, 0), 3000);
  assertRel(r.histogram.reduce((a, b) => a + b.predicted, 0) + r.predicted_beyond, 3000, 1e-9);
  assert.equal(r.means.length, 5);
  // Drawn from the law: not rejected at 1e-4 (fails with probability 1e-4 for a random seed;
  // this seed is fixed).
  assert.equal(r.ks.p_value > 1e-4, true, String(r.ks.p_value));
});

test('wasted work of a fair lottery: 1 − Σ share²', () => {
  assertRel(expectedWastedShare(SPLIT_211), 0.625, 1e-15);
  assertRel(expectedWastedShare([1 / 3, 1 / 3, 1 / 3]), 2 / 3, 1e-15);
});
