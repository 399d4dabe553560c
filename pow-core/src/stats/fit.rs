//! Goodness of fit: observed counts (wins per node, or per arrival rank) against category
//! probabilities (the hash shares), by Pearson's chi-square, the exact multinomial test, or
//! chi-square over pooled categories; and what such a test can do: its exact rejection
//! probability (false-alarm rate, power), the races it needs, and false alarms over many runs.

use serde::Serialize;
use statrs::distribution::{ChiSquared, ContinuousCDF};
use statrs::function::factorial::ln_factorial;

use super::common::{check_alpha, check_probs, StatsError, MIN_EXPECTED_COUNT};

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
pub(super) enum Plan {
    /// Chi-square over these groups of categories (singletons unless pooled).
    Chi { groups: Vec<Vec<usize>> },
    /// The exact multinomial test.
    Exact { outcomes: u64 },
}

impl Plan {
    pub(super) fn new(n: u64, p: &[f64]) -> Result<Plan, StatsError> {
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
pub(super) fn chi_square_sf(x: f64, df: u32) -> f64 {
    if x.is_infinite() {
        return 0.0;
    }
    ChiSquared::new(f64::from(df))
        .expect("df >= 1")
        .sf(x)
        .clamp(0.0, 1.0)
}

/// The ways to split `n` races over `k` categories, C(n + k − 1, k − 1), saturating.
pub(super) fn outcome_count(n: u64, k: usize) -> u64 {
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
