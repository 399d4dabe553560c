//! Known answers (published tables, and scipy 1.17.1 values computed once: each constant names
//! the exact call) and seeded simulations where the truth is known.

use super::fit::{chi_square_sf, outcome_count, Plan};
use super::race_time::mixture_quantile;
use super::*;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

const SPLIT_211: [f64; 3] = [0.5, 0.25, 0.25];
const EQUAL_3: [f64; 3] = [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0];

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol
}

#[track_caller]
fn assert_rel(got: f64, want: f64, rel: f64) {
    assert!(
        (got - want).abs() <= rel * want.abs(),
        "got {got:e}, want {want:e} (±{rel} relative)"
    );
}

fn uniform(rng: &mut ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// `n` races won with probabilities `p`: the winners' counts.
fn multinomial(rng: &mut ChaCha8Rng, n: u64, p: &[f64]) -> Vec<u64> {
    let mut counts = vec![0; p.len()];
    for _ in 0..n {
        let mut u = uniform(rng);
        let mut i = 0;
        while i + 1 < p.len() && u >= p[i] {
            u -= p[i];
            i += 1;
        }
        counts[i] += 1;
    }
    counts
}

// --- Wilson ----------------------------------------------------------------------------------

#[test]
fn wilson_matches_newcombe_1998() {
    // Newcombe (1998), Statistics in Medicine 17:857, Table II, method 3 (score, no continuity
    // correction), to the 4 decimals printed.
    for (k, n, lo, hi) in [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ] {
        let i = wilson_interval(k, n, Z_95).unwrap();
        assert!(
            close(i.lo, lo, 5e-5) && close(i.hi, hi, 5e-5),
            "{k}/{n}: {i:?}"
        );
    }
    assert_eq!(wilson_interval(29, 29, Z_95).unwrap().hi, 1.0);
    assert_eq!(wilson_interval(0, 20, Z_95).unwrap().lo, 0.0);
    assert_eq!(wilson_interval(0, 0, Z_95), None);
    assert_eq!(wilson_interval(3, 2, Z_95), None);
    // Z_95 is scipy.stats.norm.ppf(0.975).
    assert_eq!(Z_95, 1.959963984540054);
}

#[test]
fn one_level_the_reports() {
    // `node-server report` and the dashboard test at this level (one in a hundred correct runs
    // fails).
    assert_eq!(ALPHA, 0.01);
}

// --- Chi-square and the exact test -------------------------------------------------------------

#[test]
fn chi_square_tail_matches_published_critical_values() {
    // Critical values from any chi-square table (e.g. NIST/SEMATECH e-Handbook 1.3.6.7.4);
    // the exact tails are scipy.stats.chi2.sf(x, df).
    for (x, df, want) in [
        (3.841, 1, 0.050013683763956804),
        (5.991, 2, 0.05001161502657909),
        (9.210, 2, 0.01000170200470548),
        (13.816, 2, 0.0009997553089238827),
        (18.307, 10, 0.05000058909139812),
        (50.0, 2, 1.3887943864964e-11),
        (100.0, 3, 1.5541594313896026e-21),
    ] {
        assert_rel(chi_square_sf(x, df), want, 1e-9);
    }
    // The rest of the table: every df of the 5% and 1% columns to 30; the tail at each tabled
    // value is within the table's 3 decimals of 0.05 and 0.01.
    let crit05 = [
        3.841, 5.991, 7.815, 9.488, 11.07, 12.592, 14.067, 15.507, 16.919, 18.307, 19.675, 21.026,
        22.362, 23.685, 24.996, 26.296, 27.587, 28.869, 30.144, 31.41, 32.671, 33.924, 35.172,
        36.415, 37.652, 38.885, 40.113, 41.337, 42.557, 43.773,
    ];
    let crit01 = [
        6.635, 9.21, 11.345, 13.277, 15.086, 16.812, 18.475, 20.09, 21.666, 23.209, 24.725, 26.217,
        27.688, 29.141, 30.578, 32.0, 33.409, 34.805, 36.191, 37.566, 38.932, 40.289, 41.638,
        42.98, 44.314, 45.642, 46.963, 48.278, 49.588, 50.892,
    ];
    for df in 1..=30u32 {
        let (c05, c01) = (crit05[df as usize - 1], crit01[df as usize - 1]);
        assert!(close(chi_square_sf(c05, df), 0.05, 2e-4), "df {df} at 5%");
        assert!(close(chi_square_sf(c01, df), 0.01, 5e-5), "df {df} at 1%");
    }
    // Closed forms: df 2 is e^(-x/2); df 1 at 1 is erfc(√½) = scipy.stats.chi2.sf(1, 1).
    for x in [0.01, 0.5, 1.0, 3.0, 7.5, 20.0, 80.0] {
        assert_rel(chi_square_sf(x, 2), (-x / 2.0).exp(), 1e-13);
    }
    assert_rel(chi_square_sf(1.0, 1), 0.31731050786291115, 1e-12);
    assert_eq!(chi_square_sf(0.0, 3), 1.0);
    assert_eq!(chi_square_sf(f64::INFINITY, 3), 0.0);
}

#[test]
fn ln_factorial_behind_the_exact_test() {
    // ln 10! = ln 3628800; ln 200! is Python's math.lgamma(201).
    use statrs::function::factorial::ln_factorial;
    assert_rel(ln_factorial(10), 3_628_800f64.ln(), 1e-15);
    assert_rel(ln_factorial(200), 863.2319871924054, 1e-14);
}

#[test]
fn mendels_peas_fit_9_3_3_1() {
    // Mendel's dihybrid cross: 315 round yellow, 108 round green, 101 wrinkled yellow, 32
    // wrinkled green against 9:3:3:1. scipy.stats.chisquare([315,108,101,32],
    // [556*9/16, 556*3/16, 556*3/16, 556/16]) = (0.4700239808153477, 0.925425895103616).
    let t = goodness_of_fit(
        &[315, 108, 101, 32],
        &[9.0 / 16.0, 3.0 / 16.0, 3.0 / 16.0, 1.0 / 16.0],
        0.05,
    )
    .unwrap();
    assert_eq!(t.method, GofMethod::ChiSquare);
    assert_eq!(t.df, 3);
    assert_rel(t.statistic, 0.4700239808153477, 1e-12);
    assert_rel(t.p_value, 0.925425895103616, 1e-9);
    assert!(!t.rejected);
}

#[test]
fn exact_test_matches_scipy_binomtest_and_multinomial_enumeration() {
    // Two categories: scipy.stats.binomtest(k, n, p).pvalue.
    for (k, n, p, want) in [
        (3, 20, 0.1, 0.4446498494011033),
        (0, 10, 0.3, 0.0388396033),
        (7, 12, 0.25, 0.014252781867980957),
        (1, 30, 0.1, 0.3591898982264988),
    ] {
        let t = goodness_of_fit(&[k, n - k], &[p, 1.0 - p], 0.05).unwrap();
        assert!(
            matches!(t.method, GofMethod::ExactMultinomial { .. }),
            "{k}/{n}"
        );
        assert_rel(t.p_value, want, 1e-9);
    }
    // Three categories: the sum of scipy.stats.multinomial.pmf over every split no more likely
    // than the observed one (tolerance 1 + 1e-7), enumerated in Python.
    for (obs, want) in [([5, 1, 0], 0.326171875), ([2, 6, 4], 0.02455902099609373)] {
        let t = goodness_of_fit(&obs, &SPLIT_211, 0.05).unwrap();
        assert_eq!(
            t.method,
            GofMethod::ExactMultinomial {
                outcomes: outcome_count(obs.iter().sum(), 3)
            }
        );
        assert_rel(t.p_value, want, 1e-9);
    }
    assert_eq!(outcome_count(10, 3), 66);
    assert_eq!(outcome_count(600, 3), 180_901);
    // C(3058, 29) is far beyond u64: saturated.
    assert_eq!(outcome_count(3029, 30), u64::MAX);
}

#[test]
fn pooling_when_enumeration_is_too_large() {
    // 30 nodes, one with a tiny share: 3,000 races expect 3 wins of it, and C(3029, 29)
    // outcomes are far too many, so the smallest categories are pooled.
    let mut p = vec![0.001; 29];
    p.push(1.0 - 0.029);
    let n = 3000u64;
    let obs: Vec<u64> = p.iter().map(|x| (x * n as f64).round() as u64).collect();
    let adj = n - obs.iter().sum::<u64>();
    let mut obs = obs;
    *obs.last_mut().unwrap() += adj;
    let t = goodness_of_fit(&obs, &p, 0.05).unwrap();
    let GofMethod::PooledChiSquare { pooled } = &t.method else {
        panic!("{t:?}")
    };
    // The 29 small categories expect 3 wins each: pooled in pairs (6 ≥ 5) from the smallest
    // up, the odd one out joining the next larger, the big one. 15 groups, 14 degrees of
    // freedom.
    assert_eq!(pooled.len(), 15);
    assert_eq!(pooled.iter().map(Vec::len).sum::<usize>(), 30);
    assert_eq!(pooled.last().unwrap(), &[28, 29]);
    assert_eq!(t.df, 14);
    assert!(!t.rejected);
    // Few races with small expected counts: the exact test, over every split.
    assert!(matches!(
        Plan::new(3, &[0.5, 0.5]),
        Ok(Plan::Exact { outcomes: 4 })
    ));
    // Nothing to pool into: every category is small and they add up to less than 5.
    assert!(matches!(Plan::new(4, &[0.5, 0.5]), Ok(Plan::Exact { .. })));
    assert!(matches!(
        goodness_of_fit(&[2, 2], &[0.5, 0.5], 0.05).unwrap().method,
        GofMethod::ExactMultinomial { outcomes: 5 }
    ));
}

#[test]
fn a_win_where_the_share_is_zero_rejects() {
    let t = goodness_of_fit(&[5, 5, 1], &[0.5, 0.5, 0.0], 0.05).unwrap();
    assert!(t.rejected && t.p_value == 0.0);
    let t = goodness_of_fit(&[50, 50, 0], &[0.5, 0.5, 0.0], 0.05).unwrap();
    assert_eq!((t.df, t.rejected), (1, false));
}

#[test]
fn bad_inputs_are_errors() {
    assert_eq!(
        goodness_of_fit(&[1, 2], &[0.5, 0.4], 0.05),
        Err(StatsError::BadProbabilities)
    );
    assert_eq!(
        goodness_of_fit(&[1, 2], &[0.5, 0.5], 0.0),
        Err(StatsError::BadAlpha(0.0))
    );
    assert!(matches!(
        goodness_of_fit(&[1], &[0.5, 0.5], 0.05),
        Err(StatsError::LengthMismatch { .. })
    ));
    assert_eq!(
        goodness_of_fit(&[0, 0], &[0.5, 0.5], 0.05),
        Err(StatsError::NoRaces)
    );
}

// --- Power and size ----------------------------------------------------------------------------

#[test]
fn rejection_probability_matches_scipy_enumeration() {
    // Exact path (12 races, expected 3 < 5): sum over k of scipy.stats.binom.pmf(k, 12, q) ×
    // [scipy.stats.binomtest(k, 12, 0.25).pvalue < 0.05]; q = 0.25 (size), 0.6 (power).
    assert_rel(
        rejection_probability(&[0.25, 0.75], &[0.25, 0.75], 12, 0.05).unwrap(),
        0.04592913389205932,
        1e-9,
    );
    assert_rel(
        rejection_probability(&[0.6, 0.4], &[0.25, 0.75], 12, 0.05).unwrap(),
        0.665225334784,
        1e-9,
    );
    // Chi-square path (40 races, p = 0.3): the same with scipy.stats.chisquare([k, 40-k],
    // [12, 28]).pvalue < 0.05 and binom.pmf(k, 40, q); q = 0.3 (size), 0.5 (power).
    assert_rel(
        rejection_probability(&[0.3, 0.7], &[0.3, 0.7], 40, 0.05).unwrap(),
        0.05571221006393098,
        1e-9,
    );
    assert_rel(
        rejection_probability(&[0.5, 0.5], &[0.3, 0.7], 40, 0.05).unwrap(),
        0.7852089283705932,
        1e-9,
    );
    // A category the test says cannot win, which does: rejected unless it never wins.
    let r = rejection_probability(&[0.4, 0.4, 0.2], &[0.5, 0.5, 0.0], 30, 0.05).unwrap();
    assert!(r > 1.0 - 0.8f64.powi(30));
}

/// Simulated runs against the exact enumeration: under the tested shares the rejections are
/// as frequent as the computed size, under another split as frequent as the computed power.
/// Bounds are 5.5 binomial standard deviations: a false failure has probability < 1e-7.
#[test]
fn simulated_rejection_rates_match_the_computed_ones() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let runs = 2000u64;
    for (truth, n) in [(SPLIT_211, 200u64), (EQUAL_3, 60)] {
        let want = rejection_probability(&truth, &SPLIT_211, n, 0.05).unwrap();
        let rejected = (0..runs)
            .filter(|_| {
                let obs = multinomial(&mut rng, n, &truth);
                goodness_of_fit(&obs, &SPLIT_211, 0.05).unwrap().rejected
            })
            .count() as f64;
        let mean = runs as f64 * want;
        let sd = (runs as f64 * want * (1.0 - want)).sqrt();
        assert!(
            (rejected - mean).abs() <= 5.5 * sd,
            "{truth:?} × {n}: {rejected} rejections, expected {mean:.1} ± {sd:.1}"
        );
    }
}

#[test]
fn false_alarm_helpers() {
    assert_rel(false_alarm_rate(0.05, 1), 0.05, 1e-15);
    // 1 - 0.95^3
    assert_rel(false_alarm_rate(0.05, 3), 0.142625, 1e-12);
    assert_rel(false_alarm_rate(1e-6, 100), 9.9995050e-5, 1e-6);
    for (rate, runs) in [(1e-4, 1), (1e-4, 50), (0.01, 7)] {
        let a = alpha_for_false_alarm_rate(rate, runs);
        assert_rel(false_alarm_rate(a, runs), rate, 1e-12);
    }
}

/// The sizing of the lottery fairness test (2:1:1 split): at α = 1e-5, the smallest number of
/// races for which a run whose wins ignore the split (1:1:1) fails with probability at least
/// 1 − 1e-4, and the exact false-alarm rate of a correct 2:1:1 run at that size.
///
/// Cross-check: the noncentral chi-square approximation of the power,
/// scipy.stats.ncx2.cdf(scipy.stats.chi2.isf(alpha, 2), 2, n/9) (w² = Σ (q − p)²/p = 1/9 for
/// 1:1:1 against 2:1:1), falls to 1e-4 at n = 642 for α = 1e-5 and n = 566 for α = 1e-4; the
/// exact enumeration must land near it.
#[test]
fn sizing_the_lottery_fairness_test() {
    for (alpha, approx) in [(1e-5, 642.0), (1e-4, 566.0)] {
        let s = races_to_tell_apart(&SPLIT_211, &EQUAL_3, alpha, 1e-4).unwrap();
        println!("1:1:1 against 2:1:1 at alpha {alpha:e}: {s:?}");
        assert!(
            (s.races as f64 / approx - 1.0).abs() < 0.1,
            "{s:?} against ≈{approx}"
        );
        assert!(s.miss <= 1e-4);
        let fewer = rejection_probability(&EQUAL_3, &SPLIT_211, s.races - 1, alpha).unwrap();
        assert!(fewer < 1.0 - 1e-4);
        // A correct run fails about alpha of the time (the test is discrete: not exactly).
        assert!(
            s.false_alarm > 0.5 * alpha && s.false_alarm < 1.5 * alpha,
            "{s:?}"
        );
    }
}

// --- Fairness ----------------------------------------------------------------------------------

fn nodes(wins: &[u64], rates: &[f64]) -> Vec<NodeInput> {
    let races = wins.iter().sum();
    wins.iter()
        .zip(rates)
        .enumerate()
        .map(|(i, (&w, &r))| NodeInput {
            name: format!("Node{}", i + 1),
            wins: w,
            races,
            hashes: (r * 10.0) as u64,
            mining_secs: 10.0,
        })
        .collect()
}

#[test]
fn fairness_figures_for_a_known_split() {
    // 400 races, rates 2:1:1 → expected 200, 100, 100; observed 215, 95, 90:
    // X² = 225/200 + 25/100 + 100/100 = 2.375, df 2, p = e^(-2.375/2) = 0.30503.
    let f = fairness(&nodes(&[215, 95, 90], &[2e6, 1e6, 1e6]), 0.05).unwrap();
    assert_eq!(f.races, 400);
    assert_eq!(f.test.method, GofMethod::ChiSquare);
    assert_rel(f.test.statistic, 2.375, 1e-12);
    assert_rel(f.test.p_value, (-2.375f64 / 2.0).exp(), 1e-9);
    let n1 = &f.nodes[0];
    assert_rel(n1.hash_share, 0.5, 1e-12);
    assert_rel(n1.hash_rate, 2e6, 1e-12);
    assert_rel(n1.expected_wins, 200.0, 1e-12);
    assert_rel(n1.win_share, 215.0 / 400.0, 1e-12);
    assert_eq!(n1.win_interval, wilson_interval(215, 400, Z_95).unwrap());
    assert!(f.nodes.iter().all(|n| n.agrees));
    assert_rel(f.total_hash_rate(), 4e6, 1e-12);
    // 1:1:1 wins against a 2:1:1 split over 600 races: X² = 100²/300 + 2·50²/150 = 200/3,
    // df 2, p = e^(-100/3) ≈ 3e-15.
    let g = fairness(&nodes(&[200, 200, 200], &[2e6, 1e6, 1e6]), ALPHA).unwrap();
    assert_rel(g.test.statistic, 200.0 / 3.0, 1e-12);
    assert_rel(g.test.p_value, (-100.0f64 / 3.0).exp(), 1e-9);
    assert!(g.test.rejected && !g.nodes[0].agrees);
}

#[test]
fn fairness_input_errors_say_what_is_wrong() {
    let mut n = nodes(&[5, 5], &[1.0, 1.0]);
    n[1].races = 9;
    let e = fairness(&n, 0.05).unwrap_err();
    assert!(
        matches!(e, StatsError::UnequalRaces { ref node, .. } if node == "Node2"),
        "{e:?}"
    );
    assert!(e
        .to_string()
        .starts_with("Node2 entered 9 races but Node1 entered 10"));
    let mut n = nodes(&[5, 5], &[1.0, 1.0]);
    n[0].wins = 4;
    n[1].races = 10;
    assert_eq!(
        fairness(&n, 0.05),
        Err(StatsError::WinsDoNotAddUp { wins: 9, races: 10 })
    );
    assert_eq!(
        StatsError::WinsDoNotAddUp { wins: 9, races: 10 }.to_string(),
        "the nodes' wins add up to 9, not to the 10 races they entered"
    );
    let mut n = nodes(&[5, 5], &[1.0, 1.0]);
    n[0].mining_secs = 0.0;
    assert!(matches!(
        fairness(&n, 0.05),
        Err(StatsError::NoMiningTime { .. })
    ));
    assert_eq!(fairness(&[], 0.05), Err(StatsError::NoNodes));
}

/// A seeded 2:1:1 lottery of 1,000 races is not rejected at α = 1e-4 (for any seed this
/// fails with probability ≈ 1e-4, the test's size); 1,000 races of a 1:1:1 lottery tested
/// against 2:1:1 are (power > 1 − 1e-9 by rejection_probability, so any seed passes).
#[test]
fn seeded_lotteries_are_judged_right() {
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let rates = [4e6, 2e6, 2e6];
    let fair = multinomial(&mut rng, 1000, &SPLIT_211);
    let f = fairness(&nodes(&fair, &rates), 1e-4).unwrap();
    assert!(!f.test.rejected, "{f:?}");
    let unfair = multinomial(&mut rng, 1000, &EQUAL_3);
    let f = fairness(&nodes(&unfair, &rates), 1e-4).unwrap();
    assert!(f.test.rejected, "{f:?}");
    assert!(!f.nodes[0].agrees);
    let power = rejection_probability(&EQUAL_3, &SPLIT_211, 1000, 1e-4).unwrap();
    assert!(power > 1.0 - 1e-9, "{power}");
}

// --- Arrival order -----------------------------------------------------------------------------

#[test]
fn arrival_order_shows_a_first_mover_advantage() {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    // The first to start wins 60%, the second 25%: 300 races reject "uniform" at 1e-4 with
    // probability > 1 - 1e-6 (asserted below), whatever the seed.
    let ranks: Vec<usize> = (0..300)
        .map(|_| {
            let u = uniform(&mut rng);
            if u < 0.6 {
                0
            } else if u < 0.85 {
                1
            } else {
                2
            }
        })
        .collect();
    let power = rejection_probability(&[0.6, 0.25, 0.15], &EQUAL_3, 300, 1e-4).unwrap();
    assert!(power > 1.0 - 1e-6, "{power}");
    let a = arrival_order(&ranks, 3, 1e-4).unwrap();
    assert!(a.test.rejected, "{a:?}");
    assert!(a.ranks[0].win_interval.lo > 1.0 / 3.0);
    assert_eq!(a.ranks.iter().map(|r| r.wins).sum::<u64>(), 300);
    // Uniform arrival luck: not rejected.
    let ranks: Vec<usize> = (0..300).map(|_| (rng.next_u32() % 3) as usize).collect();
    assert!(!arrival_order(&ranks, 3, 1e-4).unwrap().test.rejected);
    assert!(matches!(
        arrival_order(&[0, 3], 3, 0.05),
        Err(StatsError::BadRank { index: 1, .. })
    ));
}

// --- Race times --------------------------------------------------------------------------------

/// 20 race times, predicted exponential with mean 0.5 s (10 bits at 2,048 H/s).
const TIMES: [f64; 20] = [
    0.012, 0.95, 0.31, 0.044, 1.62, 0.27, 0.58, 0.08, 0.73, 0.19, 0.41, 2.05, 0.36, 0.11, 0.66,
    0.025, 1.2, 0.5, 0.15, 0.88,
];

fn races(times: &[f64]) -> Vec<RaceInput> {
    times
        .iter()
        .map(|&t| RaceInput {
            time_secs: t,
            difficulty_bits: 10,
            total_hash_rate: 2048.0,
        })
        .collect()
}

#[test]
fn race_times_match_scipy_and_numpy() {
    let r = race_times(&races(&TIMES), 0.05).unwrap();
    assert_eq!(r.races, 20);
    assert_rel(r.observed_mean, 0.55655, 1e-12);
    assert_rel(r.predicted_mean, 0.5, 1e-15);
    // numpy.median(TIMES); 0.5·ln 2.
    assert_rel(r.observed_median, 0.385, 1e-12);
    assert_rel(r.predicted_median, 0.5 * std::f64::consts::LN_2, 1e-9);
    // scipy.stats.kstest(TIMES, 'expon', args=(0, 0.5), method='exact').
    assert_rel(r.ks.statistic, 0.08651381911739475, 1e-12);
    assert_rel(r.ks.p_value, 0.9950719139277662, 1e-9);
    assert!(!r.ks.rejected);
    // numpy.percentile(TIMES, 100p), and -0.5·ln(1 - p).
    for (pc, obs) in r
        .percentiles
        .iter()
        .zip([0.0421, 0.14, 0.385, 0.7675, 1.242])
    {
        assert_rel(pc.observed, obs, 1e-12);
        assert_rel(pc.predicted, -0.5 * (-pc.p).ln_1p(), 1e-9);
    }
    // numpy.histogram over 6 equal bins from 0 to the maximum; predicted
    // 20·(e^(-lo/0.5) − e^(-hi/0.5)).
    let obs: Vec<u64> = r.histogram.iter().map(|b| b.observed).collect();
    assert_eq!(obs, [9, 5, 3, 1, 1, 1]);
    for (b, want) in r.histogram.iter().zip([
        9.901378390562206,
        4.999513688907594,
        2.524409848774116,
        1.2746529924953933,
        0.6436119127274269,
        0.32497965849803934,
    ]) {
        assert_rel(b.predicted, want, 1e-9);
    }
    assert_rel(r.predicted_beyond, 0.3314535080352251, 1e-9);
    assert_eq!(r.histogram.last().unwrap().hi, 2.05);
    assert_eq!(predicted_mean_secs(10, 2048.0), 0.5);

    // Three times too slow: scipy.stats.kstest(3·TIMES, 'expon', args=(0, 0.5),
    // method='exact') = (0.45210130091638534, 0.0002981288090740194).
    let slow: Vec<f64> = TIMES.iter().map(|t| t * 3.0).collect();
    let r = race_times(&races(&slow), 0.05).unwrap();
    assert_rel(r.ks.statistic, 0.45210130091638534, 1e-12);
    assert_rel(r.ks.p_value, 0.0002981288090740194, 1e-6);
    assert!(r.ks.rejected);
}

#[test]
fn kolmogorov_tail_matches_tables_and_scipy() {
    // Massey (1951) / Miller (1956) two-sided 5% critical values: n = 5: 0.563, 10: 0.409,
    // 20: 0.294; exact tails scipy.stats.kstwo.sf(d, n).
    for (n, d, want, rel) in [
        (5, 0.56328, 0.04999676544316925, 1e-9),
        (10, 0.40925, 0.04999645233425898, 1e-9),
        (20, 0.29408, 0.04999416027203962, 1e-9),
        (50, 0.3, 0.00017353260202718738, 1e-9),
        (100, 0.1, 0.2526927570063874, 1e-9),
        (100, 0.05, 0.9532159710635725, 1e-9),
        // Here scipy.stats.kstwo.sf gives 0.3226902143914636 and 0.5788956752649125, off in
        // the 8th digit: the references are MTW's algorithm run in 40-digit arithmetic
        // (mpmath 1.3, mp.dps = 40, the matrix power H**n exactly as in the paper).
        (1000, 0.03, 0.3226902464133, 1e-12),
        // Marsaglia–Tsang–Wang's own shortcut for small p-values.
        (1000, 0.05, 0.013012074781090332, 2e-3),
        (1500, 0.02, 0.578895688593689, 1e-12),
        // Above KS_EXACT_MAX_N: the limiting law with Stephens' correction.
        (3000, 0.02, 0.17889813623188966, 5e-3),
        (5000, 0.015, 0.20846142096186204, 5e-3),
        (10000, 0.01, 0.2682191277029192, 5e-3),
    ] {
        let got = kolmogorov_sf(n, d);
        assert!(
            (got - want).abs() <= rel * want,
            "n {n}, d {d}: {got} vs {want}"
        );
    }
    assert_eq!(kolmogorov_sf(10, 0.0), 1.0);
    assert_eq!(kolmogorov_sf(10, 1.0), 0.0);
}

#[test]
fn mixture_quantiles_solve_the_mixture() {
    // Means 1 and 3: scipy.optimize.brentq on (F1 + F3)/2 = p.
    for (p, want) in [
        (0.1, 0.16017783667659471),
        (0.5, 1.146735257520107),
        (0.9, 4.9378399958134755),
    ] {
        assert_rel(mixture_quantile(&[(1.0, 1.0), (3.0, 1.0)], p), want, 1e-12);
        assert_rel(mixture_quantile(&[(1.0, 2.0), (3.0, 2.0)], p), want, 1e-12);
    }
}

/// Seeded exponential race times at mixed difficulties and rates (as under retargeting):
/// 2,000 races from the predicted law are consistent with it at α = 1e-4 (any seed fails with
/// probability 1e-4); the same races 1.5× slower are not (D ≈ 0.148, √n·D ≈ 6.6, p < 1e-30).
#[test]
fn seeded_exponential_times_fit_and_slowed_ones_do_not() {
    let mut rng = ChaCha8Rng::seed_from_u64(99);
    let races: Vec<RaceInput> = (0..2000)
        .map(|i| {
            let bits = 16 + (i % 5) as u32;
            let rate = 1e6 * (1.0 + (i % 3) as f64);
            let mean = predicted_mean_secs(bits, rate);
            RaceInput {
                time_secs: -(1.0 - uniform(&mut rng)).ln() * mean,
                difficulty_bits: bits,
                total_hash_rate: rate,
            }
        })
        .collect();
    let r = race_times(&races, 1e-4).unwrap();
    assert!(!r.ks.rejected, "{:?}", r.ks);
    // The observed mean's sd is √(Σ μ²)/n: within 6 of them of the predicted mean.
    let means: Vec<f64> = races
        .iter()
        .map(|r| predicted_mean_secs(r.difficulty_bits, r.total_hash_rate))
        .collect();
    let sd = means.iter().map(|m| m * m).sum::<f64>().sqrt() / 2000.0;
    assert!((r.observed_mean - r.predicted_mean).abs() < 6.0 * sd);
    let total_predicted: f64 =
        r.histogram.iter().map(|b| b.predicted).sum::<f64>() + r.predicted_beyond;
    assert_rel(total_predicted, 2000.0, 1e-9);
    assert_eq!(r.histogram.len(), MAX_BINS.min(26));
    assert_eq!(r.histogram.iter().map(|b| b.observed).sum::<u64>(), 2000);
    let slow: Vec<RaceInput> = races
        .iter()
        .map(|r| RaceInput {
            time_secs: r.time_secs * 1.5,
            ..*r
        })
        .collect();
    let r = race_times(&slow, 1e-4).unwrap();
    assert!(r.ks.rejected && r.ks.p_value < 1e-20, "{:?}", r.ks);
}

#[test]
fn readable_at_thousands_of_races() {
    // Rice's rule, 2·n^(1/3), within 5..=40 bins.
    for (n, bins) in [
        (1, 5),
        (20, 6),
        (2000, 26),
        (3000, 29),
        (10_000, 40),
        (1_000_000, 40),
    ] {
        assert_eq!(histogram_bins(n), bins, "{n} races");
    }
}

#[test]
fn observed_histogram_bins_as_race_times_does() {
    // The same bins, edges and counts as race_times' histogram over the same times.
    let r = race_times(&races(&TIMES), 0.05).unwrap();
    let h = observed_histogram(&TIMES);
    assert_eq!(h.len(), r.histogram.len());
    for (o, b) in h.iter().zip(&r.histogram) {
        assert_eq!((o.lo, o.hi, o.observed), (b.lo, b.hi, b.observed));
    }
    assert!(observed_histogram(&[]).is_empty());
    // All zero (no law to scale by): bins of 1 s, every race in the first.
    let h = observed_histogram(&[0.0, 0.0]);
    assert_eq!(h.len(), MIN_BINS);
    assert_eq!((h[0].observed, h[0].hi, h[4].hi), (2, 1.0, 5.0));
}

#[test]
fn the_predicted_curve_is_the_density_per_bin_width() {
    // 20 races of mean 0.5 s in 6 bins of 2.05/6 s: at t the law predicts
    // 20 · (1/0.5) · e^(-t/0.5) races per second, times the bin width.
    let rs = races(&TIMES);
    let r = race_times(&rs, 0.05).unwrap();
    let curve = predicted_curve(&rs, &r.histogram, 120);
    assert_eq!(curve.len(), 121);
    let width = 2.05 / 6.0;
    for p in &curve {
        assert_rel(p.count, 40.0 * (-p.t / 0.5).exp() * width, 1e-12);
    }
    assert_eq!((curve[0].t, curve[120].t), (0.0, 2.05));
    // A mixture: each race adds its own law's density (one of each mean here).
    let mixed = [
        RaceInput {
            time_secs: 1.0,
            difficulty_bits: 10,
            total_hash_rate: 1024.0,
        },
        RaceInput {
            time_secs: 2.0,
            difficulty_bits: 11,
            total_hash_rate: 1024.0,
        },
    ];
    let r = race_times(&mixed, 0.05).unwrap();
    let w = r.histogram[0].hi;
    let c = predicted_curve(&mixed, &r.histogram, 4);
    let t = c[2].t;
    assert_rel(c[2].count, ((-t).exp() + 0.5 * (-t / 2.0).exp()) * w, 1e-12);
    assert!(predicted_curve(&mixed, &[], 4).is_empty());
}

/// The law is summed once per distinct mean, not once per race: the same figures as the sums
/// over every race, to rounding (3,000 races at 16..20 bits, as under retargeting).
#[test]
fn grouping_races_by_mean_changes_no_figure() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let races: Vec<RaceInput> = (0..3000)
        .map(|i| {
            let bits = 16 + (i % 5) as u32;
            RaceInput {
                time_secs: -(1.0 - uniform(&mut rng)).ln() * predicted_mean_secs(bits, 4e6),
                difficulty_bits: bits,
                total_hash_rate: 4e6,
            }
        })
        .collect();
    let r = race_times(&races, ALPHA).unwrap();
    assert_eq!(r.histogram.len(), 29);
    let means: Vec<f64> = races
        .iter()
        .map(|r| predicted_mean_secs(r.difficulty_bits, r.total_hash_rate))
        .collect();
    for b in &r.histogram {
        let per_race: f64 = means
            .iter()
            .map(|&mu| (-b.lo / mu).exp() - (-b.hi / mu).exp())
            .sum();
        assert_rel(b.predicted, per_race, 1e-12);
    }
    let top = r.histogram.last().unwrap().hi;
    let beyond: f64 = means.iter().map(|&mu| (-top / mu).exp()).sum();
    assert_rel(r.predicted_beyond, beyond, 1e-12);
    assert_rel(
        r.histogram.iter().map(|b| b.predicted).sum::<f64>() + r.predicted_beyond,
        3000.0,
        1e-9,
    );
    // Each percentile solves the per-race mixture: F(q) = p.
    for pc in &r.percentiles {
        let f = means
            .iter()
            .map(|&mu| -(-pc.predicted / mu).exp_m1())
            .sum::<f64>()
            / 3000.0;
        assert!((f - pc.p).abs() < 1e-12, "{pc:?}: F = {f}");
    }
}

#[test]
fn race_time_inputs_are_checked() {
    assert_eq!(race_times(&[], 0.05), Err(StatsError::NoRaces));
    let mut r = races(&[0.1, 0.2]);
    r[1].total_hash_rate = 0.0;
    assert!(matches!(
        race_times(&r, 0.05),
        Err(StatsError::BadRace { index: 1, .. })
    ));
    let mut r = races(&[0.1, f64::NAN]);
    r[0].difficulty_bits = 1;
    assert!(matches!(
        race_times(&r, 0.05),
        Err(StatsError::BadRace { index: 1, .. })
    ));
}

// --- Wasted work -------------------------------------------------------------------------------

#[test]
fn wasted_work_sums_and_shares() {
    let w = wasted_work(&[
        RaceWork {
            winner_hashes: 100,
            loser_hashes: 300,
        },
        RaceWork {
            winner_hashes: 50,
            loser_hashes: 50,
        },
        RaceWork {
            winner_hashes: 0,
            loser_hashes: 0,
        },
    ]);
    assert_eq!((w.races, w.winner_hashes, w.loser_hashes), (3, 150, 350));
    assert_rel(w.wasted_share, 0.7, 1e-15);
    assert_eq!(w.per_race_share, [Some(0.75), Some(0.5), None]);
    assert_rel(expected_wasted_share(&SPLIT_211), 0.625, 1e-15);
    assert_rel(expected_wasted_share(&EQUAL_3), 2.0 / 3.0, 1e-15);
}

/// A simulated lottery with losers stopping at the winner's time: the wasted share converges
/// to 1 − Σ s².
#[test]
fn simulated_wasted_share_is_one_minus_sum_of_squares() {
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let rates = [2e6, 1e6, 1e6];
    let total: f64 = rates.iter().sum();
    let work: Vec<RaceWork> = (0..20_000)
        .map(|_| {
            // Each node's time to its first solution is exponential with mean 2^16 / its rate;
            // the race ends at the minimum; every node has hashed rate × that time.
            let times: Vec<f64> = rates
                .iter()
                .map(|r| -(1.0 - uniform(&mut rng)).ln() * 65536.0 / r)
                .collect();
            let (winner, &end) = times
                .iter()
                .enumerate()
                .min_by(|a, b| a.1.total_cmp(b.1))
                .unwrap();
            let hashes: Vec<u64> = rates.iter().map(|r| (r * end) as u64).collect();
            RaceWork {
                winner_hashes: hashes[winner],
                loser_hashes: hashes.iter().sum::<u64>() - hashes[winner],
            }
        })
        .collect();
    let w = wasted_work(&work);
    let shares: Vec<f64> = rates.iter().map(|r| r / total).collect();
    // Per race the share is 1 − s_winner, whose sd is ≤ 0.25: ± 6 sd over 20,000 races.
    let sd = 0.25 / (20_000f64).sqrt();
    let mean_of_races = w.per_race_share.iter().flatten().sum::<f64>() / 20_000.0;
    assert!((mean_of_races - expected_wasted_share(&shares)).abs() < 6.0 * sd);
    // The race's length does not depend on who won (exponential clocks), so the share of all
    // hashes converges to the same figure.
    assert!((w.wasted_share - expected_wasted_share(&shares)).abs() < 0.01);
}
