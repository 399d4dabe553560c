//! The race as an experiment: is each node's share of wins its share of the hash rate, are race
//! times what the difficulty predicts, how much work the losers waste. Pure functions over
//! plain inputs (no I/O), so the report, the dashboard's JSON and the tests share them.
//!
//! The figures, one line each:
//! - **hash share**: a node's hash rate (its hashes / its mining seconds) over the sum of the
//!   nodes' rates: its chance of winning a lottery race if the race is fair.
//! - **win share**: a node's wins over the races it entered, with a 95% Wilson interval: the
//!   range of win probabilities the observed wins are consistent with.
//! - **agrees**: the hash share lies inside the win share's interval (per node, descriptive).
//! - **goodness of fit**: one test over all nodes of "wins follow hash shares" (Pearson
//!   chi-square, or an exact multinomial test for few races); a p-value below alpha means the
//!   wins are not explained by the hash rates alone.
//! - **race time**: in a lottery race the time to the first solution over all nodes is
//!   exponential with mean 2^bits / total hash rate; observed mean, median and percentiles
//!   against that prediction, a Kolmogorov–Smirnov test of the times against it, and a
//!   histogram with the predicted count per bin.
//! - **wasted work**: hashes computed by the losers, and their share of all hashes.
//! - **arrival order** (lab mode): win share by the order in which nodes started the race,
//!   tested against "every rank wins equally often".
//! - **false-alarm rate** and **test size**: for tests built on these figures, the chance that
//!   a correct run fails, and how many races make a wrong split fail with near certainty.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::factorial::ln_factorial;
use thiserror::Error;

/// The normal quantile for a two-sided 95% interval, Φ⁻¹(0.975).
pub const Z_95: f64 = 1.959_963_984_540_054;
/// The significance level `report` uses when none is given.
pub const DEFAULT_ALPHA: f64 = 0.05;
/// Cochran's rule: the chi-square approximation is trusted when every expected count is at
/// least this.
pub const MIN_EXPECTED_COUNT: f64 = 5.0;
/// The largest number of multinomial outcomes (all ways `n` races can split over the nodes)
/// the exact test enumerates; beyond it small categories are pooled instead (3 nodes: up to
/// ~2,000 races).
pub const MAX_EXACT_OUTCOMES: u64 = 2_000_000;
/// The largest number of outcomes [`rejection_probability`] enumerates (~1 s; 3 nodes: up
/// to ~6,300 races).
pub const MAX_POWER_OUTCOMES: u64 = 20_000_000;
/// Relative tolerance when the exact test compares outcome probabilities, so that outcomes as
/// likely as the observed one are not lost to rounding (the value scipy's `binomtest` uses).
pub const EXACT_TIE_TOLERANCE: f64 = 1e-7;
/// Up to this many races the Kolmogorov–Smirnov p-value is exact (Marsaglia, Tsang & Wang
/// 2003); above it the asymptotic Kolmogorov distribution with Stephens' correction is used.
pub const KS_EXACT_MAX_N: u64 = 2_000;
/// The fewest histogram bins.
pub const MIN_BINS: usize = 5;
/// The most histogram bins (readable at 2,000+ races).
pub const MAX_BINS: usize = 40;
/// The percentiles of race time reported beside the mean and median.
pub const PERCENTILES: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

/// Why a figure cannot be computed from these inputs.
#[derive(Clone, Debug, PartialEq, Error)]
pub enum StatsError {
    /// Nothing to compute over.
    #[error("no races")]
    NoRaces,
    /// No node was given.
    #[error("no nodes")]
    NoNodes,
    /// Wins can only be compared with hash shares if every node entered every race.
    #[error(
        "{node} entered {races} races but {first} entered {expected}: the fairness test needs \
         every node in every race (count only the races all nodes entered)"
    )]
    UnequalRaces {
        /// The node that differs.
        node: String,
        /// Its races.
        races: u64,
        /// The first node.
        first: String,
        /// The first node's races.
        expected: u64,
    },
    /// Every race has exactly one winner among the nodes.
    #[error("the nodes' wins add up to {wins}, not to the {races} races they entered")]
    WinsDoNotAddUp {
        /// The sum of wins.
        wins: u64,
        /// The races.
        races: u64,
    },
    /// A node's hash rate needs a positive, finite mining time.
    #[error("{node}: mining time {secs} s gives no hash rate")]
    NoMiningTime {
        /// The node.
        node: String,
        /// Its mining seconds.
        secs: f64,
    },
    /// Shares need some hashing.
    #[error("no node computed any hash")]
    NoHashes,
    /// A significance level is a probability strictly between 0 and 1.
    #[error("significance level {0} is not in (0, 1)")]
    BadAlpha(f64),
    /// Probabilities of categories: finite, non-negative, adding up to 1.
    #[error("category probabilities must be finite, non-negative and add up to 1")]
    BadProbabilities,
    /// Two lists that go together differ in length.
    #[error("{what}: {left} against {right} entries")]
    LengthMismatch {
        /// What was compared.
        what: &'static str,
        /// The first list's length.
        left: usize,
        /// The second's.
        right: usize,
    },
    /// Even pooled, no two categories reach the expected count the test needs.
    #[error(
        "too few races for a test: fewer than two categories expect {MIN_EXPECTED_COUNT} wins"
    )]
    TooFewRaces,
    /// A race's figures are not usable.
    #[error("race {index}: {why}")]
    BadRace {
        /// Its position in the input.
        index: usize,
        /// What is wrong.
        why: &'static str,
    },
    /// An arrival rank must be below the number of nodes.
    #[error("race {index}: winner's arrival rank {rank} with {nodes} nodes")]
    BadRank {
        /// Its position in the input.
        index: usize,
        /// The rank given.
        rank: usize,
        /// The nodes per race.
        nodes: usize,
    },
    /// The enumeration would take too long.
    #[error("{outcomes} outcomes to enumerate, over the limit of {limit}")]
    TooManyOutcomes {
        /// Outcomes needed.
        outcomes: u64,
        /// The limit.
        limit: u64,
    },
    /// No sample size within the enumeration limit has the power asked for.
    #[error("no number of races up to {0} reaches the power asked for")]
    NoSampleSize(u64),
}

/// A confidence interval for a proportion.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Interval {
    /// Lower bound.
    pub lo: f64,
    /// Upper bound.
    pub hi: f64,
}

impl Interval {
    /// Whether `x` lies within the bounds (inclusive).
    pub fn contains(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Wilson's score interval for `successes` out of `trials` at normal quantile `z` (use
/// [`Z_95`] for 95%); `None` without trials.
///
/// Why Wilson: it inverts the score test, so its coverage stays close to the nominal 95% even
/// for a few dozen races and for shares near 0 or 1. The textbook Wald interval
/// `p ± z·√(p(1-p)/n)` covers far less than it claims there and collapses to zero width at 0
/// wins; Clopper–Pearson's "exact" interval never under-covers but is wider than needed.
/// Wilson's stays inside [0, 1] and is the one Newcombe (1998) and Brown, Cai & DasGupta
/// (2001) recommend.
pub fn wilson_interval(successes: u64, trials: u64, z: f64) -> Option<Interval> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // Clamp rounding at the ends (0 and n successes give exactly 0 and 1 in exact arithmetic).
    Some(Interval {
        lo: if successes == 0 {
            0.0
        } else {
            (center - half).max(0.0)
        },
        hi: if successes == trials {
            1.0
        } else {
            (center + half).min(1.0)
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Goodness of fit

/// How the goodness-of-fit p-value was computed.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GofMethod {
    /// Pearson's chi-square over every category: every expected count is at least
    /// [`MIN_EXPECTED_COUNT`].
    ChiSquare,
    /// Some expected count is below [`MIN_EXPECTED_COUNT`] and the outcomes are few enough to
    /// enumerate: the exact multinomial test, p = the probability, under the tested shares, of
    /// every split of the races no more likely than the one observed.
    ExactMultinomial {
        /// Outcomes enumerated.
        outcomes: u64,
    },
    /// Too many outcomes to enumerate: from the smallest expected count up, categories are
    /// merged until each merged group expects at least [`MIN_EXPECTED_COUNT`], then Pearson's
    /// chi-square over the groups.
    PooledChiSquare {
        /// The groups of more than one category (indices into the input).
        pooled: Vec<Vec<usize>>,
    },
}

/// A goodness-of-fit test of observed counts against category probabilities.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GofTest {
    /// How the p-value was computed.
    pub method: GofMethod,
    /// Pearson's X² = Σ (observed − expected)² / expected over the categories tested
    /// (infinite when a category of probability 0 was observed).
    pub statistic: f64,
    /// Degrees of freedom: categories tested − 1 (the probabilities are given, not fitted).
    pub df: u32,
    /// The chance, if the probabilities are right, of a fit this bad or worse.
    pub p_value: f64,
    /// The significance level.
    pub alpha: f64,
    /// `p_value < alpha`: the counts do not follow the probabilities.
    pub rejected: bool,
}

/// Tests `observed` counts against category probabilities `probs` at level `alpha`.
///
/// The method depends only on the expected counts (so a test's size can be computed in
/// advance, see [`rejection_probability`]): Pearson's chi-square when every category expects
/// at least [`MIN_EXPECTED_COUNT`]; otherwise the exact multinomial test when the outcomes
/// number at most [`MAX_EXACT_OUTCOMES`]; otherwise chi-square with the smallest categories
/// pooled. Categories of probability 0 are left out, unless observed, which rejects (p = 0).
pub fn goodness_of_fit(observed: &[u64], probs: &[f64], alpha: f64) -> Result<GofTest, StatsError> {
    check_alpha(alpha)?;
    check_probs(probs)?;
    if observed.len() != probs.len() {
        return Err(StatsError::LengthMismatch {
            what: "observed counts against probabilities",
            left: observed.len(),
            right: probs.len(),
        });
    }
    let n: u64 = observed.iter().sum();
    if n == 0 {
        return Err(StatsError::NoRaces);
    }
    let live: Vec<usize> = (0..probs.len()).filter(|&i| probs[i] > 0.0).collect();
    if (0..probs.len()).any(|i| probs[i] == 0.0 && observed[i] > 0) {
        // A win where none can happen: no fit at all.
        return Ok(GofTest {
            method: GofMethod::ChiSquare,
            statistic: f64::INFINITY,
            df: live.len().saturating_sub(1) as u32,
            p_value: 0.0,
            alpha,
            rejected: true,
        });
    }
    let obs: Vec<u64> = live.iter().map(|&i| observed[i]).collect();
    let p: Vec<f64> = live.iter().map(|&i| probs[i]).collect();
    let plan = Plan::new(n, &p)?;
    let (method, statistic, df, p_value) = match &plan {
        Plan::Chi { groups } => {
            let (o, e) = grouped(&obs, &p, groups);
            let x2 = pearson(&o, &e, n);
            let df = groups.len() as u32 - 1;
            let method = if groups.iter().all(|g| g.len() == 1) {
                GofMethod::ChiSquare
            } else {
                let pooled = groups
                    .iter()
                    .filter(|g| g.len() > 1)
                    .map(|g| g.iter().map(|&j| live[j]).collect())
                    .collect();
                GofMethod::PooledChiSquare { pooled }
            };
            (method, x2, df, chi_square_sf(x2, df))
        }
        Plan::Exact { outcomes } => {
            let x2 = pearson(&obs, &p, n);
            let pv = exact_multinomial_p(&obs, &p);
            (
                GofMethod::ExactMultinomial {
                    outcomes: *outcomes,
                },
                x2,
                p.len() as u32 - 1,
                pv,
            )
        }
    };
    Ok(GofTest {
        method,
        statistic,
        df,
        p_value,
        alpha,
        rejected: p_value < alpha,
    })
}

/// The test [`goodness_of_fit`] will run for `n` races over positive probabilities `p`.
enum Plan {
    /// Chi-square over these groups of categories (singletons unless pooled).
    Chi { groups: Vec<Vec<usize>> },
    /// The exact multinomial test.
    Exact { outcomes: u64 },
}

impl Plan {
    fn new(n: u64, p: &[f64]) -> Result<Plan, StatsError> {
        let e: Vec<f64> = p.iter().map(|&pi| n as f64 * pi).collect();
        if p.len() < 2 {
            return Err(StatsError::TooFewRaces);
        }
        if e.iter().all(|&ei| ei >= MIN_EXPECTED_COUNT) {
            return Ok(Plan::Chi {
                groups: (0..p.len()).map(|i| vec![i]).collect(),
            });
        }
        let outcomes = outcome_count(n, p.len());
        if outcomes <= MAX_EXACT_OUTCOMES {
            return Ok(Plan::Exact { outcomes });
        }
        // Pool from the smallest expected count up: each pool closes once it expects enough.
        // Categories come in ascending order, so a pool left open at the end means every
        // category after the last closed group was small: it joins that group.
        let mut order: Vec<usize> = (0..p.len()).collect();
        order.sort_by(|&a, &b| e[a].total_cmp(&e[b]).then(a.cmp(&b)));
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut pool = Vec::new();
        let mut pool_e = 0.0;
        for &i in &order {
            if pool.is_empty() && e[i] >= MIN_EXPECTED_COUNT {
                groups.push(vec![i]);
                continue;
            }
            pool.push(i);
            pool_e += e[i];
            if pool_e >= MIN_EXPECTED_COUNT {
                groups.push(std::mem::take(&mut pool));
                pool_e = 0.0;
            }
        }
        if !pool.is_empty() {
            match groups.last_mut() {
                Some(last) => last.extend(pool),
                None => return Err(StatsError::TooFewRaces),
            }
        }
        if groups.len() < 2 {
            return Err(StatsError::TooFewRaces);
        }
        for g in &mut groups {
            g.sort_unstable();
        }
        Ok(Plan::Chi { groups })
    }
}

/// Counts and probabilities summed over groups of categories.
fn grouped(obs: &[u64], p: &[f64], groups: &[Vec<usize>]) -> (Vec<u64>, Vec<f64>) {
    groups
        .iter()
        .map(|g| {
            (
                g.iter().map(|&i| obs[i]).sum::<u64>(),
                g.iter().map(|&i| p[i]).sum::<f64>(),
            )
        })
        .unzip()
}

/// Pearson's X² of counts `o` (summing to `n`) against probabilities `p`.
fn pearson(o: &[u64], p: &[f64], n: u64) -> f64 {
    let n = n as f64;
    o.iter()
        .zip(p)
        .map(|(&oi, &pi)| {
            let e = n * pi;
            let d = oi as f64 - e;
            d * d / e
        })
        .sum()
}

/// P(χ²(df) ≥ x).
fn chi_square_sf(x: f64, df: u32) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    ChiSquared::new(f64::from(df))
        .expect("df >= 1")
        .sf(x)
        .clamp(0.0, 1.0)
}

/// The ways to split `n` races over `k` categories, C(n + k − 1, k − 1), saturating.
fn outcome_count(n: u64, k: usize) -> u64 {
    let mut c: u128 = 1;
    for i in 1..k as u128 {
        // C(n + i, i) = C(n + i − 1, i − 1) × (n + i) / i, exact at every step.
        c = c * (u128::from(n) + i) / i;
        if c > u128::from(u64::MAX) {
            return u64::MAX;
        }
    }
    c as u64
}

/// Calls `f(counts, ln P(counts))` for every split of `n` over the categories of `ln_p`
/// (ln of each probability; −∞ for 0), skipping splits of probability 0.
fn for_each_outcome(n: u64, ln_p: &[f64], f: &mut impl FnMut(&[u64], f64)) {
    let ln_fact: Vec<f64> = (0..=n).map(ln_factorial).collect();
    let mut counts = vec![0u64; ln_p.len()];
    fn rec(
        i: usize,
        left: u64,
        acc: f64,
        ln_p: &[f64],
        ln_fact: &[f64],
        counts: &mut [u64],
        f: &mut impl FnMut(&[u64], f64),
    ) {
        let term = |x: u64| {
            if x == 0 {
                0.0
            } else {
                x as f64 * ln_p[i] - ln_fact[x as usize]
            }
        };
        if i + 1 == ln_p.len() {
            let t = term(left);
            if t.is_finite() {
                counts[i] = left;
                f(counts, acc + t);
            }
            return;
        }
        for x in 0..=left {
            let t = term(x);
            if !t.is_finite() {
                // Probability 0: only x = 0 is possible in this category.
                break;
            }
            counts[i] = x;
            rec(i + 1, left - x, acc + t, ln_p, ln_fact, counts, f);
        }
    }
    let n_fact = ln_fact[n as usize];
    rec(0, n, n_fact, ln_p, &ln_fact, &mut counts, f);
}

/// The exact multinomial test's p-value: the probability of every split no more likely than
/// the observed one (the two-sided rule of scipy's `binomtest`, for any number of categories).
fn exact_multinomial_p(obs: &[u64], p: &[f64]) -> f64 {
    let n: u64 = obs.iter().sum();
    let ln_p: Vec<f64> = p.iter().map(|x| x.ln()).collect();
    let ln_obs = ln_factorial(n)
        + obs
            .iter()
            .zip(&ln_p)
            .map(|(&o, &lp)| {
                if o == 0 {
                    0.0
                } else {
                    o as f64 * lp - ln_factorial(o)
                }
            })
            .sum::<f64>();
    let bound = ln_obs + EXACT_TIE_TOLERANCE.ln_1p();
    let mut total = 0.0;
    for_each_outcome(n, &ln_p, &mut |_, lp| {
        if lp <= bound {
            total += lp.exp();
        }
    });
    total.clamp(0.0, 1.0)
}

/// The chance that [`goodness_of_fit`] rejects at level `alpha` when `races` races are won
/// with probabilities `true_probs` and tested against `tested_probs`, computed exactly by
/// enumerating every outcome. With `true_probs == tested_probs` it is the test's false-alarm
/// rate (its exact size, which for a discrete test is not exactly `alpha`); otherwise its
/// power to tell the two apart.
pub fn rejection_probability(
    true_probs: &[f64],
    tested_probs: &[f64],
    races: u64,
    alpha: f64,
) -> Result<f64, StatsError> {
    check_alpha(alpha)?;
    check_probs(true_probs)?;
    check_probs(tested_probs)?;
    if true_probs.len() != tested_probs.len() {
        return Err(StatsError::LengthMismatch {
            what: "true against tested probabilities",
            left: true_probs.len(),
            right: tested_probs.len(),
        });
    }
    if races == 0 {
        return Err(StatsError::NoRaces);
    }
    // A win in a category of tested probability 0 rejects outright.
    let live: Vec<usize> = (0..tested_probs.len())
        .filter(|&i| tested_probs[i] > 0.0)
        .collect();
    let q_live: f64 = live.iter().map(|&i| true_probs[i]).sum();
    let all_live = q_live.powf(races as f64).min(1.0);
    let p: Vec<f64> = live.iter().map(|&i| tested_probs[i]).collect();
    // Conditional on every win falling in a live category, they are multinomial with these.
    let q: Vec<f64> = live
        .iter()
        .map(|&i| {
            if q_live > 0.0 {
                true_probs[i] / q_live
            } else {
                0.0
            }
        })
        .collect();
    let plan = Plan::new(races, &p)?;
    let reject_live = match &plan {
        Plan::Chi { groups } => {
            let outcomes = outcome_count(races, groups.len());
            check_outcomes(outcomes)?;
            let pg: Vec<f64> = groups
                .iter()
                .map(|g| g.iter().map(|&i| p[i]).sum())
                .collect();
            let qg: Vec<f64> = groups
                .iter()
                .map(|g| g.iter().map(|&i| q[i]).sum())
                .collect();
            let df = groups.len() as u32 - 1;
            let crit = ChiSquared::new(f64::from(df))
                .expect("df >= 1")
                .inverse_cdf(1.0 - alpha);
            let ln_q: Vec<f64> = qg.iter().map(|x| x.ln()).collect();
            let mut total = 0.0;
            for_each_outcome(races, &ln_q, &mut |counts, lq| {
                let x2 = pearson(counts, &pg, races);
                // Decide as goodness_of_fit does; the p-value only near the critical value.
                let reject = if x2 > crit * (1.0 + 1e-9) {
                    true
                } else if x2 < crit * (1.0 - 1e-9) {
                    false
                } else {
                    chi_square_sf(x2, df) < alpha
                };
                if reject {
                    total += lq.exp();
                }
            });
            total
        }
        Plan::Exact { outcomes } => {
            check_outcomes(*outcomes)?;
            // Every outcome's probability under the tested shares, sorted: an outcome's
            // p-value is the sum of those no larger than its own.
            let ln_p: Vec<f64> = p.iter().map(|x| x.ln()).collect();
            let ln_q: Vec<f64> = q.iter().map(|x| x.ln()).collect();
            let mut rows: Vec<(f64, f64)> = Vec::with_capacity(*outcomes as usize);
            let ln_fact_n = ln_factorial(races);
            for_each_outcome(races, &ln_p, &mut |counts, lp| {
                let lq = ln_fact_n
                    + counts
                        .iter()
                        .zip(&ln_q)
                        .map(|(&c, &l)| {
                            if c == 0 {
                                0.0
                            } else {
                                c as f64 * l - ln_factorial(c)
                            }
                        })
                        .sum::<f64>();
                rows.push((lp, lq));
            });
            rows.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut cum = Vec::with_capacity(rows.len());
            let mut acc = 0.0;
            for r in &rows {
                acc += r.0.exp();
                cum.push(acc);
            }
            let tol = EXACT_TIE_TOLERANCE.ln_1p();
            rows.iter()
                .filter(|r| {
                    let last = rows.partition_point(|s| s.0 <= r.0 + tol);
                    cum[last - 1] < alpha
                })
                .map(|r| r.1.exp())
                .sum()
        }
    };
    Ok(((1.0 - all_live) + all_live * reject_live).clamp(0.0, 1.0))
}

fn check_outcomes(outcomes: u64) -> Result<(), StatsError> {
    if outcomes > MAX_POWER_OUTCOMES {
        return Err(StatsError::TooManyOutcomes {
            outcomes,
            limit: MAX_POWER_OUTCOMES,
        });
    }
    Ok(())
}

/// The size of a fairness test: races, level, and its two error rates.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TestSize {
    /// Races per run.
    pub races: u64,
    /// The significance level.
    pub alpha: f64,
    /// The chance a correct run (wins follow the tested shares) fails: the exact size.
    pub false_alarm: f64,
    /// The chance a wrong run (wins follow the alternative) passes: 1 − power.
    pub miss: f64,
}

/// The fewest races for which a run whose wins follow `alternative` fails the test of
/// `shares` at level `alpha` with probability at least `1 − max_miss`; with the exact
/// false-alarm rate of a correct run at that size. Found by doubling, then bisection on the
/// exact power; a discrete test's power is not strictly monotone in the races, so the figure
/// is for the size returned (check a different size with [`rejection_probability`]).
pub fn races_to_tell_apart(
    shares: &[f64],
    alternative: &[f64],
    alpha: f64,
    max_miss: f64,
) -> Result<TestSize, StatsError> {
    if !(max_miss > 0.0 && max_miss < 1.0) {
        return Err(StatsError::BadAlpha(max_miss));
    }
    let miss_at = |n: u64| rejection_probability(alternative, shares, n, alpha).map(|r| 1.0 - r);
    let limit = |n: u64| outcome_count(n, shares.len()) > MAX_POWER_OUTCOMES;
    let mut hi = 8u64;
    loop {
        if limit(hi) {
            return Err(StatsError::NoSampleSize(hi / 2));
        }
        if miss_at(hi)? <= max_miss {
            break;
        }
        hi *= 2;
    }
    let mut lo = hi / 2; // fails (or is below the first try)
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if miss_at(mid)? <= max_miss {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(TestSize {
        races: hi,
        alpha,
        false_alarm: rejection_probability(shares, shares, hi, alpha)?,
        miss: miss_at(hi)?,
    })
}

/// The chance that at least one of `runs` independent runs of a test at level `alpha` fails
/// when nothing is wrong: 1 − (1 − alpha)^runs.
pub fn false_alarm_rate(alpha: f64, runs: u64) -> f64 {
    -(runs as f64 * (-alpha).ln_1p()).exp_m1()
}

/// The level at which each of `runs` independent runs must be tested so that all of them
/// together fail spuriously with probability `rate`: 1 − (1 − rate)^(1/runs).
pub fn alpha_for_false_alarm_rate(rate: f64, runs: u64) -> f64 {
    -((-rate).ln_1p() / runs.max(1) as f64).exp_m1()
}

fn check_alpha(alpha: f64) -> Result<(), StatsError> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(StatsError::BadAlpha(alpha))
    }
}

fn check_probs(p: &[f64]) -> Result<(), StatsError> {
    let sum: f64 = p.iter().sum();
    if p.is_empty() || p.iter().any(|x| !x.is_finite() || *x < 0.0) || (sum - 1.0).abs() > 1e-9 {
        return Err(StatsError::BadProbabilities);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Fairness: win shares against hash shares

/// One node's figures for the fairness test.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInput {
    /// The node's name.
    pub name: String,
    /// Races it won.
    pub wins: u64,
    /// Races it entered.
    pub races: u64,
    /// Hashes it computed over those races.
    pub hashes: u64,
    /// Seconds it spent mining them.
    pub mining_secs: f64,
}

/// One node's share of the hash rate against its share of the wins.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeFairness {
    /// The node.
    pub name: String,
    /// Races won.
    pub wins: u64,
    /// Races entered.
    pub races: u64,
    /// Hashes per second while mining.
    pub hash_rate: f64,
    /// Its rate over the sum of the nodes' rates: its chance to win a fair lottery race.
    pub hash_share: f64,
    /// Wins over races.
    pub win_share: f64,
    /// 95% Wilson interval of the win share.
    pub win_interval: Interval,
    /// Races × hash share: the wins a fair lottery gives it on average.
    pub expected_wins: f64,
    /// Whether the hash share lies within the win share's interval.
    pub agrees: bool,
}

/// Win shares against hash shares over all nodes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fairness {
    /// Races (every node entered each).
    pub races: u64,
    /// Per node, in input order.
    pub nodes: Vec<NodeFairness>,
    /// Wins against races × hash shares, over all nodes.
    pub test: GofTest,
}

/// Each node's win share against its hash share, and one test over all nodes.
///
/// Every node must have entered every race (the expected wins are races × hash share; count
/// only the races all nodes entered) and the wins must add up to the races. Per-node
/// agreement is descriptive: with three nodes, one of three 95% intervals misses by chance
/// about 14% of the time; the verdict is [`Fairness::test`].
pub fn fairness(nodes: &[NodeInput], alpha: f64) -> Result<Fairness, StatsError> {
    check_alpha(alpha)?;
    let first = nodes.first().ok_or(StatsError::NoNodes)?;
    let races = first.races;
    if let Some(n) = nodes.iter().find(|n| n.races != races) {
        return Err(StatsError::UnequalRaces {
            node: n.name.clone(),
            races: n.races,
            first: first.name.clone(),
            expected: races,
        });
    }
    if races == 0 {
        return Err(StatsError::NoRaces);
    }
    let wins: u64 = nodes.iter().map(|n| n.wins).sum();
    if wins != races {
        return Err(StatsError::WinsDoNotAddUp { wins, races });
    }
    let mut rates = Vec::with_capacity(nodes.len());
    for n in nodes {
        if !(n.mining_secs.is_finite() && n.mining_secs > 0.0) {
            return Err(StatsError::NoMiningTime {
                node: n.name.clone(),
                secs: n.mining_secs,
            });
        }
        rates.push(n.hashes as f64 / n.mining_secs);
    }
    let total: f64 = rates.iter().sum();
    if total <= 0.0 {
        return Err(StatsError::NoHashes);
    }
    let shares: Vec<f64> = rates.iter().map(|r| r / total).collect();
    // Renormalise so rounding cannot push the sum off 1.
    let sum: f64 = shares.iter().sum();
    let shares: Vec<f64> = shares.iter().map(|s| s / sum).collect();
    let observed: Vec<u64> = nodes.iter().map(|n| n.wins).collect();
    let test = goodness_of_fit(&observed, &shares, alpha)?;
    let nodes = nodes
        .iter()
        .zip(rates.iter().zip(&shares))
        .map(|(n, (&rate, &share))| {
            let interval = wilson_interval(n.wins, races, Z_95).expect("races > 0");
            NodeFairness {
                name: n.name.clone(),
                wins: n.wins,
                races,
                hash_rate: rate,
                hash_share: share,
                win_share: n.wins as f64 / races as f64,
                win_interval: interval,
                expected_wins: races as f64 * share,
                agrees: interval.contains(share),
            }
        })
        .collect();
    Ok(Fairness { races, nodes, test })
}

// ---------------------------------------------------------------------------------------------
// Lab mode: arrival order

/// Win share of the nodes that started a race in a given order.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RankShare {
    /// 0 for the node that started first, 1 for the second, …
    pub rank: usize,
    /// Races won by the node at this rank.
    pub wins: u64,
    /// Wins over races.
    pub win_share: f64,
    /// 95% Wilson interval.
    pub win_interval: Interval,
}

/// Who wins a lab race by arrival order: with every node searching the same nonces, the first
/// to start tends to finish first, so the winner is decided by arrival and scheduling.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ArrivalOrder {
    /// Races.
    pub races: u64,
    /// Nodes per race.
    pub nodes: usize,
    /// Per arrival rank.
    pub ranks: Vec<RankShare>,
    /// Wins by rank against 1/nodes each: rejected means arrival order matters.
    pub test: GofTest,
}

/// Win share by arrival rank (`winner_ranks[i]`: the rank at which race `i`'s winner started,
/// 0 = first) with `nodes` nodes in every race, tested against "every rank equally likely".
pub fn arrival_order(
    winner_ranks: &[usize],
    nodes: usize,
    alpha: f64,
) -> Result<ArrivalOrder, StatsError> {
    check_alpha(alpha)?;
    if nodes < 2 {
        return Err(StatsError::TooFewRaces);
    }
    if winner_ranks.is_empty() {
        return Err(StatsError::NoRaces);
    }
    let mut wins = vec![0u64; nodes];
    for (index, &rank) in winner_ranks.iter().enumerate() {
        if rank >= nodes {
            return Err(StatsError::BadRank { index, rank, nodes });
        }
        wins[rank] += 1;
    }
    let races = winner_ranks.len() as u64;
    let test = goodness_of_fit(&wins, &vec![1.0 / nodes as f64; nodes], alpha)?;
    let ranks = wins
        .iter()
        .enumerate()
        .map(|(rank, &w)| RankShare {
            rank,
            wins: w,
            win_share: w as f64 / races as f64,
            win_interval: wilson_interval(w, races, Z_95).expect("races > 0"),
        })
        .collect();
    Ok(ArrivalOrder {
        races,
        nodes,
        ranks,
        test,
    })
}

// ---------------------------------------------------------------------------------------------
// Race times

/// One race's time and what predicts it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RaceInput {
    /// Seconds from the race's start to the first solution.
    pub time_secs: f64,
    /// The difficulty, zero bits.
    pub difficulty_bits: u32,
    /// The sum of the hash rates of the nodes in it, hashes per second.
    pub total_hash_rate: f64,
}

/// The predicted mean race time of a lottery race: 2^bits hashes expected (a geometric count
/// of hashes with success chance 2^-bits) at `total_hash_rate` hashes per second.
pub fn predicted_mean_secs(difficulty_bits: u32, total_hash_rate: f64) -> f64 {
    2f64.powi(difficulty_bits as i32) / total_hash_rate
}

/// An observed percentile beside the predicted one.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Percentile {
    /// The fraction, e.g. 0.9.
    pub p: f64,
    /// Observed (linear interpolation between order statistics, numpy's default).
    pub observed: f64,
    /// Predicted by the exponential law.
    pub predicted: f64,
}

/// A Kolmogorov–Smirnov test of observed times against their predicted law.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct KsTest {
    /// The largest gap between the observed and predicted distribution functions.
    pub statistic: f64,
    /// Sample size.
    pub n: u64,
    /// The chance of a gap this large or larger if the law is right.
    pub p_value: f64,
    /// The significance level.
    pub alpha: f64,
    /// `p_value < alpha`: the times do not follow the predicted law.
    pub rejected: bool,
}

/// One histogram bin of race times.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Bin {
    /// Lower edge, seconds.
    pub lo: f64,
    /// Upper edge, seconds (the last bin includes it).
    pub hi: f64,
    /// Races observed in the bin.
    pub observed: u64,
    /// Races the exponential law predicts in the bin.
    pub predicted: f64,
}

/// Observed race times against the exponential law the difficulty and hash rate predict.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RaceTimes {
    /// Races.
    pub races: u64,
    /// Mean observed time, seconds.
    pub observed_mean: f64,
    /// Mean predicted time, the average of 2^bits / rate, seconds.
    pub predicted_mean: f64,
    /// Median observed time, seconds.
    pub observed_median: f64,
    /// Median predicted time (μ·ln 2 for a single law), seconds.
    pub predicted_median: f64,
    /// [`PERCENTILES`], observed and predicted (the median is 0.5).
    pub percentiles: Vec<Percentile>,
    /// Kolmogorov–Smirnov of the times against the predicted law.
    pub ks: KsTest,
    /// The histogram from 0 to the longest race.
    pub histogram: Vec<Bin>,
    /// Races the law predicts beyond the last bin.
    pub predicted_beyond: f64,
}

/// Race times against the exponential law: race `i` is predicted exponential with mean
/// `μ_i` = 2^bits / total rate. With races at different difficulties or rates the prediction
/// is the mixture of their laws; the Kolmogorov–Smirnov test maps each time through its own
/// law (u = 1 − e^(−t/μ_i), uniform if the law holds) and tests the u's against uniform.
///
/// The prediction counts hashing only: thread start-up and messaging add to every observed
/// time, which shows at low difficulties (races of a few ms).
pub fn race_times(races: &[RaceInput], alpha: f64) -> Result<RaceTimes, StatsError> {
    check_alpha(alpha)?;
    if races.is_empty() {
        return Err(StatsError::NoRaces);
    }
    let mut means = Vec::with_capacity(races.len());
    for (index, r) in races.iter().enumerate() {
        if !(r.time_secs.is_finite() && r.time_secs >= 0.0) {
            return Err(StatsError::BadRace {
                index,
                why: "race time is not a finite, non-negative number of seconds",
            });
        }
        if !(r.total_hash_rate.is_finite() && r.total_hash_rate > 0.0) {
            return Err(StatsError::BadRace {
                index,
                why: "total hash rate is not a positive, finite number",
            });
        }
        if r.difficulty_bits > pow_core::difficulty::MAX_ZERO_BITS {
            return Err(StatsError::BadRace {
                index,
                why: "difficulty over 256 bits",
            });
        }
        means.push(predicted_mean_secs(r.difficulty_bits, r.total_hash_rate));
    }
    let n = races.len();
    let mut times: Vec<f64> = races.iter().map(|r| r.time_secs).collect();
    times.sort_by(f64::total_cmp);
    let observed_mean = times.iter().sum::<f64>() / n as f64;
    let predicted_mean = means.iter().sum::<f64>() / n as f64;
    let percentiles = PERCENTILES
        .iter()
        .map(|&p| Percentile {
            p,
            observed: percentile_sorted(&times, p),
            predicted: mixture_quantile(&means, p),
        })
        .collect();

    let mut u: Vec<f64> = races
        .iter()
        .zip(&means)
        .map(|(r, &mu)| -(-r.time_secs / mu).exp_m1())
        .collect();
    let d = ks_statistic_uniform(&mut u);
    let p_value = kolmogorov_sf(n as u64, d);
    let ks = KsTest {
        statistic: d,
        n: n as u64,
        p_value,
        alpha,
        rejected: p_value < alpha,
    };

    let bins = histogram_bins(n);
    let mut top = times[n - 1];
    if top <= 0.0 {
        top = mixture_quantile(&means, 0.99);
    }
    let width = top / bins as f64;
    let mut histogram: Vec<Bin> = (0..bins)
        .map(|i| {
            let lo = width * i as f64;
            let hi = if i + 1 == bins {
                top
            } else {
                width * (i + 1) as f64
            };
            Bin {
                lo,
                hi,
                observed: 0,
                predicted: means
                    .iter()
                    .map(|&mu| (-lo / mu).exp() - (-hi / mu).exp())
                    .sum(),
            }
        })
        .collect();
    for &t in &times {
        let i = ((t / width) as usize).min(bins - 1);
        histogram[i].observed += 1;
    }
    let predicted_beyond = means.iter().map(|&mu| (-top / mu).exp()).sum();
    Ok(RaceTimes {
        races: n as u64,
        observed_mean,
        predicted_mean,
        observed_median: percentile_sorted(&times, 0.5),
        predicted_median: mixture_quantile(&means, 0.5),
        percentiles,
        ks,
        histogram,
        predicted_beyond,
    })
}

/// Rice's rule, 2·n^(1/3) bins, within [`MIN_BINS`]..=[`MAX_BINS`].
fn histogram_bins(n: usize) -> usize {
    ((2.0 * (n as f64).cbrt()).ceil() as usize).clamp(MIN_BINS, MAX_BINS)
}

/// The `p` quantile of sorted data, interpolating linearly between order statistics (numpy's
/// default `linear` method, Hyndman & Fan's type 7).
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let h = (n - 1) as f64 * p.clamp(0.0, 1.0);
            let i = h.floor() as usize;
            if i + 1 >= n {
                sorted[n - 1]
            } else {
                sorted[i] + (h - i as f64) * (sorted[i + 1] - sorted[i])
            }
        }
    }
}

/// The `p` quantile of an equal mixture of exponential laws with these means (bisection; for
/// a single mean it is −μ·ln(1 − p)).
fn mixture_quantile(means: &[f64], p: f64) -> f64 {
    let cdf =
        |t: f64| means.iter().map(|&mu| -(-t / mu).exp_m1()).sum::<f64>() / means.len() as f64;
    let max_mu = means.iter().copied().fold(0.0, f64::max);
    // Every component's quantile is at most the largest mean's, so the mixture's is too.
    let (mut lo, mut hi) = (0.0, -max_mu * (-p).ln_1p());
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The two-sided Kolmogorov–Smirnov statistic of a sample against Uniform(0, 1) (sorts `u`).
fn ks_statistic_uniform(u: &mut [f64]) -> f64 {
    u.sort_by(f64::total_cmp);
    let n = u.len() as f64;
    u.iter()
        .enumerate()
        .map(|(i, &x)| ((i + 1) as f64 / n - x).max(x - i as f64 / n))
        .fold(0.0, f64::max)
}

/// P(D_n ≥ d) for the two-sided one-sample Kolmogorov–Smirnov statistic of `n` points.
///
/// Up to [`KS_EXACT_MAX_N`]: Marsaglia, Tsang & Wang (2003), "Evaluating Kolmogorov's
/// distribution", exact to ~13 digits, with their own asymptotic shortcut for p-values below
/// ~1e-3 (n·d² > 7.24, or > 3.76 with n > 99). Above: the limiting Kolmogorov distribution at
/// λ = (√n + 0.12 + 0.11/√n)·d (Stephens 1970).
pub fn kolmogorov_sf(n: u64, d: f64) -> f64 {
    if n == 0 || d <= 0.0 {
        return 1.0;
    }
    if d >= 1.0 {
        return 0.0;
    }
    let nf = n as f64;
    if n > KS_EXACT_MAX_N {
        let sn = nf.sqrt();
        return kolmogorov_limit_sf((sn + 0.12 + 0.11 / sn) * d);
    }
    let s = d * d * nf;
    if s > 7.24 || (s > 3.76 && n > 99) {
        let p = 2.0 * (-(2.000071 + 0.331 / nf.sqrt() + 1.409 / nf) * s).exp();
        return p.min(1.0);
    }
    (1.0 - mtw_cdf(n, d)).clamp(0.0, 1.0)
}

/// P(K > λ) for Kolmogorov's limiting distribution.
fn kolmogorov_limit_sf(lambda: f64) -> f64 {
    if lambda <= 0.0 {
        return 1.0;
    }
    if lambda < 1.18 {
        // The theta-function form converges fast for small λ.
        let c = -std::f64::consts::PI.powi(2) / (8.0 * lambda * lambda);
        let sum: f64 = (1..=20)
            .map(|j| {
                let k = (2 * j - 1) as f64;
                (c * k * k).exp()
            })
            .sum();
        (1.0 - (2.0 * std::f64::consts::PI).sqrt() / lambda * sum).clamp(0.0, 1.0)
    } else {
        let sum: f64 = (1..=20)
            .map(|j| {
                let j = j as f64;
                let sign = if j as u64 % 2 == 1 { 1.0 } else { -1.0 };
                sign * (-2.0 * j * j * lambda * lambda).exp()
            })
            .sum();
        (2.0 * sum).clamp(0.0, 1.0)
    }
}

/// P(D_n < d): Marsaglia, Tsang & Wang's matrix-power algorithm, with their decimal exponent
/// bookkeeping so the power does not overflow.
fn mtw_cdf(n: u64, d: f64) -> f64 {
    let nf = n as f64;
    let k = (nf * d) as usize + 1;
    let m = 2 * k - 1;
    let h = k as f64 - nf * d;
    let mut hm = vec![0.0; m * m];
    for i in 0..m {
        for j in 0..m {
            hm[i * m + j] = if i + 1 < j { 0.0 } else { 1.0 };
        }
    }
    for i in 0..m {
        hm[i * m] -= h.powi(i as i32 + 1);
        hm[(m - 1) * m + i] -= h.powi((m - i) as i32);
    }
    if 2.0 * h - 1.0 > 0.0 {
        hm[(m - 1) * m] += (2.0 * h - 1.0).powi(m as i32);
    }
    for i in 0..m {
        for j in 0..m {
            if i + 1 > j {
                for g in 1..=(i + 1 - j) {
                    hm[i * m + j] /= g as f64;
                }
            }
        }
    }
    let (q, mut eq) = matrix_power(&hm, 0, m, n);
    let mut s = q[(k - 1) * m + k - 1];
    for i in 1..=n {
        s = s * i as f64 / nf;
        if s < 1e-140 {
            s *= 1e140;
            eq -= 140;
        }
    }
    s * 10f64.powi(eq)
}

fn matrix_power(a: &[f64], ea: i32, m: usize, n: u64) -> (Vec<f64>, i32) {
    if n == 1 {
        return (a.to_vec(), ea);
    }
    let (v, ev) = matrix_power(a, ea, m, n / 2);
    let b = matrix_multiply(&v, &v, m);
    let eb = 2 * ev;
    let (mut v, mut ev) = if n.is_multiple_of(2) {
        (b, eb)
    } else {
        (matrix_multiply(a, &b, m), ea + eb)
    };
    if v[(m / 2) * m + m / 2] > 1e140 {
        for x in &mut v {
            *x *= 1e-140;
        }
        ev += 140;
    }
    (v, ev)
}

fn matrix_multiply(a: &[f64], b: &[f64], m: usize) -> Vec<f64> {
    let mut c = vec![0.0; m * m];
    for i in 0..m {
        for k in 0..m {
            let aik = a[i * m + k];
            if aik == 0.0 {
                continue;
            }
            let (row, brow) = (&mut c[i * m..(i + 1) * m], &b[k * m..(k + 1) * m]);
            for (c, &b) in row.iter_mut().zip(brow) {
                *c += aik * b;
            }
        }
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Wasted work

/// One race's work: the winner's hashes and the losers' (all of them together).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RaceWork {
    /// Hashes the winner computed.
    pub winner_hashes: u64,
    /// Hashes every loser computed, summed.
    pub loser_hashes: u64,
}

/// Work done by losers: computed, and thrown away.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WastedWork {
    /// Races.
    pub races: u64,
    /// Hashes by winners.
    pub winner_hashes: u64,
    /// Hashes by losers: the wasted work.
    pub loser_hashes: u64,
    /// Losers' hashes over all hashes.
    pub wasted_share: f64,
    /// Per race, its losers' share of its hashes (`None` for a race with no hashes).
    pub per_race_share: Vec<Option<f64>>,
}

/// Sums the winners' and the losers' hashes (saturating at `u64::MAX`).
pub fn wasted_work(races: &[RaceWork]) -> WastedWork {
    let winner_hashes = races
        .iter()
        .fold(0u64, |a, r| a.saturating_add(r.winner_hashes));
    let loser_hashes = races
        .iter()
        .fold(0u64, |a, r| a.saturating_add(r.loser_hashes));
    let total = winner_hashes as f64 + loser_hashes as f64;
    WastedWork {
        races: races.len() as u64,
        winner_hashes,
        loser_hashes,
        wasted_share: if total > 0.0 {
            loser_hashes as f64 / total
        } else {
            0.0
        },
        per_race_share: races
            .iter()
            .map(|r| {
                let t = r.winner_hashes as f64 + r.loser_hashes as f64;
                (t > 0.0).then(|| r.loser_hashes as f64 / t)
            })
            .collect(),
    }
}

/// The wasted share a fair lottery gives when every node starts together and the losers stop
/// as soon as the race is decided (`--on-loss abort`): node i wins with probability s_i and
/// has then done the share s_i of the race's work, so the losers' share is 1 − Σ s_i².
/// (2:1:1 gives 0.625; three equal nodes 2/3. In lab mode with losers running to the end,
/// every node hashes the same nonces: (k − 1)/k.)
pub fn expected_wasted_share(hash_shares: &[f64]) -> f64 {
    1.0 - hash_shares.iter().map(|s| s * s).sum::<f64>()
}

#[cfg(test)]
mod tests;
