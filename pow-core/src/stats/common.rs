//! What every figure shares: the level [`ALPHA`], [`StatsError`], and Wilson's [`Interval`].

use serde::Serialize;
use thiserror::Error;

/// The normal quantile for a two-sided 95% interval, Φ⁻¹(0.975).
pub const Z_95: f64 = 1.959_963_984_540_054;
/// The significance level of every test `node-server report` prints and the dashboard draws
/// (fairness, race time, arrival order): a correct run fails one time in a hundred.
pub const ALPHA: f64 = 0.01;

/// Cochran's rule: the chi-square approximation is trusted when every expected count is at
/// least this.
pub const MIN_EXPECTED_COUNT: f64 = 5.0;

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

/// A significance level is a probability strictly between 0 and 1.
pub(crate) fn check_alpha(alpha: f64) -> Result<(), StatsError> {
    if alpha > 0.0 && alpha < 1.0 {
        Ok(())
    } else {
        Err(StatsError::BadAlpha(alpha))
    }
}

/// Category probabilities are finite, non-negative and add up to 1 (within rounding).
pub(crate) fn check_probs(p: &[f64]) -> Result<(), StatsError> {
    let sum: f64 = p.iter().sum();
    if p.is_empty() || p.iter().any(|x| !x.is_finite() || *x < 0.0) || (sum - 1.0).abs() > 1e-9 {
        return Err(StatsError::BadProbabilities);
    }
    Ok(())
}
