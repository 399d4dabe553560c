//! The Kolmogorov–Smirnov test: the largest gap between a sample's distribution function and
//! the one predicted, and the chance of a gap that large (exact up to [`KS_EXACT_MAX_N`]).

use serde::Serialize;

/// Up to this many races the Kolmogorov–Smirnov p-value is exact (Marsaglia, Tsang & Wang
/// 2003); above it the asymptotic Kolmogorov distribution with Stephens' correction is used.
pub const KS_EXACT_MAX_N: u64 = 2_000;

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

/// The two-sided Kolmogorov–Smirnov statistic of a sample against Uniform(0, 1) (sorts `u`).
pub(super) fn ks_statistic_uniform(u: &mut [f64]) -> f64 {
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
