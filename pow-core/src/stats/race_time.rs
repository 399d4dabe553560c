//! Race times against the exponential law a lottery predicts (mean 2^bits / total hash rate):
//! the mean, median and percentiles, the Kolmogorov–Smirnov test ([`super::ks`]), the histogram
//! with the predicted count per bin, and the curve drawn through it.

use serde::Serialize;

use super::common::{check_alpha, StatsError};
use super::ks::{kolmogorov_sf, ks_statistic_uniform, KsTest};

/// The fewest histogram bins.
pub const MIN_BINS: usize = 5;
/// The most histogram bins (readable at 2,000+ races).
pub const MAX_BINS: usize = 40;
/// The percentiles of race time reported beside the mean and median.
pub const PERCENTILES: [f64; 5] = [0.1, 0.25, 0.5, 0.75, 0.9];

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
        if r.difficulty_bits > crate::difficulty::MAX_ZERO_BITS {
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
    // The law depends on a race only through its mean: one term per distinct mean (under one hash
    // rate, one per difficulty), so the quantiles and bins cost O(distinct means), not O(races).
    let laws = mean_groups(&means);
    let percentiles = PERCENTILES
        .iter()
        .map(|&p| Percentile {
            p,
            observed: percentile_sorted(&times, p),
            predicted: mixture_quantile(&laws, p),
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
        top = mixture_quantile(&laws, 0.99);
    }
    let width = top / bins as f64;
    let mut histogram: Vec<Bin> = bin_edges(bins, top)
        .map(|(lo, hi)| Bin {
            lo,
            hi,
            observed: 0,
            predicted: laws
                .iter()
                .map(|&(mu, c)| c * ((-lo / mu).exp() - (-hi / mu).exp()))
                .sum(),
        })
        .collect();
    for &t in &times {
        histogram[bin_of(t, width, bins)].observed += 1;
    }
    let predicted_beyond = laws.iter().map(|&(mu, c)| c * (-top / mu).exp()).sum();
    Ok(RaceTimes {
        races: n as u64,
        observed_mean,
        predicted_mean,
        observed_median: percentile_sorted(&times, 0.5),
        predicted_median: mixture_quantile(&laws, 0.5),
        percentiles,
        ks,
        histogram,
        predicted_beyond,
    })
}

/// The edges of `bins` equal bins from 0 to `top`; the last ends exactly at `top`.
fn bin_edges(bins: usize, top: f64) -> impl Iterator<Item = (f64, f64)> {
    let width = top / bins as f64;
    (0..bins).map(move |i| {
        let hi = if i + 1 == bins {
            top
        } else {
            width * (i + 1) as f64
        };
        (width * i as f64, hi)
    })
}

/// The bin of time `t` among `bins` bins of `width` (the last bin holds its upper edge).
fn bin_of(t: f64, width: f64, bins: usize) -> usize {
    ((t / width) as usize).min(bins - 1)
}

/// One histogram bin of race times that no law predicts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ObservedBin {
    /// Lower edge, seconds.
    pub lo: f64,
    /// Upper edge, seconds (the last bin includes it).
    pub hi: f64,
    /// Races observed in the bin.
    pub observed: u64,
}

/// Race times in the bins of [`race_times`] ([`histogram_bins`] equal bins from 0 to the longest
/// race), for races no law predicts: lab races, where every node searches the same nonces from
/// 0. When every time is 0 the bins are 1 s wide. No bins without races.
pub fn observed_histogram(times: &[f64]) -> Vec<ObservedBin> {
    if times.is_empty() {
        return Vec::new();
    }
    let bins = histogram_bins(times.len());
    let longest = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let top = if longest > 0.0 { longest } else { bins as f64 };
    let width = top / bins as f64;
    let mut histogram: Vec<ObservedBin> = bin_edges(bins, top)
        .map(|(lo, hi)| ObservedBin {
            lo,
            hi,
            observed: 0,
        })
        .collect();
    for &t in times {
        histogram[bin_of(t, width, bins)].observed += 1;
    }
    histogram
}

/// A point of the curve the exponential law predicts through a histogram.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct CurvePoint {
    /// Seconds.
    pub t: f64,
    /// Races predicted per bin width at `t`.
    pub count: f64,
}

/// The predicted count per bin width at `points + 1` evenly spaced times from 0 to the end of
/// `histogram` ([`race_times`]'s over the same `races`): Σ_i width / μ_i · e^(−t/μ_i), the
/// density of the races' mixture of exponential laws scaled to the bins, which the dashboard
/// draws through them. Races of the same mean count together (under one hash rate, one term per
/// difficulty), so a long run costs no more than a short one. Empty without bins.
pub fn predicted_curve(races: &[RaceInput], histogram: &[Bin], points: usize) -> Vec<CurvePoint> {
    let (Some(first), Some(last)) = (histogram.first(), histogram.last()) else {
        return Vec::new();
    };
    let width = first.hi - first.lo;
    let end = if last.hi > 0.0 { last.hi } else { 1.0 };
    let means: Vec<f64> = races
        .iter()
        .map(|r| predicted_mean_secs(r.difficulty_bits, r.total_hash_rate))
        .collect();
    let groups = mean_groups(&means);
    let points = points.max(1);
    (0..=points)
        .map(|i| {
            let t = end * i as f64 / points as f64;
            let density: f64 = groups.iter().map(|&(mu, c)| c / mu * (-t / mu).exp()).sum();
            CurvePoint {
                t,
                count: density * width,
            }
        })
        .collect()
}

/// Rice's rule, 2·n^(1/3) bins, within [`MIN_BINS`]..=[`MAX_BINS`].
pub fn histogram_bins(n: usize) -> usize {
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

/// The distinct means among `means`, each with how many races have it: `(mean, count)`, in
/// increasing order of mean.
fn mean_groups(means: &[f64]) -> Vec<(f64, f64)> {
    let mut sorted = means.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut groups: Vec<(f64, f64)> = Vec::new();
    for mu in sorted {
        match groups.last_mut() {
            Some((m, count)) if *m == mu => *count += 1.0,
            _ => groups.push((mu, 1.0)),
        }
    }
    groups
}

/// The `p` quantile of a mixture of exponential laws, `(mean, weight)` each (bisection; for a
/// single mean it is −μ·ln(1 − p)).
pub(super) fn mixture_quantile(laws: &[(f64, f64)], p: f64) -> f64 {
    let total: f64 = laws.iter().map(|&(_, c)| c).sum();
    let cdf = |t: f64| {
        laws.iter()
            .map(|&(mu, c)| -c * (-t / mu).exp_m1())
            .sum::<f64>()
            / total
    };
    let max_mu = laws.iter().map(|&(mu, _)| mu).fold(0.0, f64::max);
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
