//! The race as an experiment (feature `stats`): is each node's share of wins its share of the
//! hash rate, are race times what the difficulty predicts, how much work the losers waste. Pure
//! functions over plain inputs (no I/O), so `node-server report`, the dashboard (compiled to
//! WebAssembly through `web/src/lib.rs`) and the tests share one implementation: the page's
//! figures equal `report --json`'s because they are the same functions.
//!
//! The figures, one line each, by file:
//! - [`fairness`](mod@fairness): **hash share**, a node's hash rate (its hashes / its mining
//!   seconds) over the sum of the nodes' rates: its chance of winning a lottery race if the race
//!   is fair; **win share**, a node's wins over the races it entered, with a 95% Wilson interval
//!   (the range of win probabilities the observed wins are consistent with); **agrees**, the hash
//!   share lies inside the win share's interval (per node, descriptive).
//! - [`fit`]: **goodness of fit**, one test over all nodes of "wins follow hash shares" (Pearson
//!   chi-square, or an exact multinomial test for few races; a p-value below [`ALPHA`] means the
//!   wins are not explained by the hash rates alone); and for tests built on it, the
//!   **false-alarm rate** and **test size**: the chance that a correct run fails, and how many
//!   races make a wrong split fail with near certainty.
//! - [`race_time`]: in a lottery race the time to the first solution over all nodes is
//!   exponential with mean 2^bits / total hash rate; observed mean, median and percentiles
//!   against that prediction, and a histogram with the predicted count per bin.
//! - [`ks`]: the Kolmogorov–Smirnov test of the race times against that law.
//! - [`work`]: **wasted work**, hashes computed by the losers, and their share of all hashes.
//! - [`arrival`]: **arrival order** (lab mode), win share by the order in which nodes started
//!   the race, tested against "every rank wins equally often".
//! - [`common`]: the level [`ALPHA`], [`StatsError`], and Wilson's [`Interval`], which every
//!   figure uses (this file only names the parts).

pub mod arrival;
pub mod common;
pub mod fairness;
pub mod fit;
pub mod ks;
pub mod race_time;
pub mod work;

pub use arrival::{arrival_order, ArrivalOrder, RankShare};
pub use common::{wilson_interval, Interval, StatsError, ALPHA, MIN_EXPECTED_COUNT, Z_95};
pub use fairness::{fairness, Fairness, NodeFairness, NodeInput};
pub use fit::{
    alpha_for_false_alarm_rate, false_alarm_rate, goodness_of_fit, races_to_tell_apart,
    rejection_probability, GofMethod, GofTest, TestSize, EXACT_TIE_TOLERANCE, MAX_EXACT_OUTCOMES,
    MAX_POWER_OUTCOMES,
};
pub use ks::{kolmogorov_sf, KsTest, KS_EXACT_MAX_N};
pub use race_time::{
    histogram_bins, observed_histogram, percentile_sorted, predicted_curve, predicted_mean_secs,
    race_times, Bin, CurvePoint, ObservedBin, Percentile, RaceInput, RaceTimes, MAX_BINS, MIN_BINS,
    PERCENTILES,
};
pub use work::{expected_wasted_share, wasted_work, RaceWork, WastedWork};

#[cfg(test)]
mod tests;
