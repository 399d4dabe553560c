//! One retargeted chain and a set of odd windows, computed the same way natively
//! (`tests/retarget.rs`) and on wasm32 (`tests/wasm.rs`): both must give [`WINDOW_BITS`] and
//! [`ODD_WINDOW_BITS`] bit for bit. The pseudo-random times come from ChaCha8 with a fixed
//! seed (integer arithmetic, the same stream on every platform), so the inputs themselves
//! cannot differ between targets.

use pow_core::retarget::{retarget_window, Race, Retarget, RETARGET_INTERVAL};
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A 0.25 s target; the simulated miners do 1.4 × 2^14 hashes per second, so the ideal is
/// log2(1.4 × 2^12) = 12.49 bits, and the windows' noise moves the schedule between 12 and 13.
pub const TARGET_US: u64 = 250_000;
const INITIAL_BITS: u32 = 20;
/// Windows in the chain.
pub const WINDOWS: usize = 40;

/// Each window's difficulty in the chain, computed natively once (`cargo test -p pow-core
/// --test retarget -- --nocapture` prints it): from 20 bits down 2 per window, then between
/// 12 and 13.
pub const WINDOW_BITS: [u32; WINDOWS] = [
    20, 18, 16, 14, 12, 13, 13, 13, 13, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 12, 13, 13, 12,
    12, 12, 12, 12, 12, 12, 13, 13, 13, 12, 12, 13, 13, 12, 13, 13,
];

/// [`retarget_window`] of each of [`odd_windows`], computed natively once and checked against
/// the rule in Python floating point (round(log2(Σ 2^bits × target / Σ time)), clamped), whose
/// unclamped values are 6.755, 20.548, 163.086, 266.160, 205.230, 134.655, 127.076, 34.000.
pub const ODD_WINDOW_BITS: [u32; 8] = [4, 21, 118, 256, 254, 80, 127, 32];

/// 53 random bits.
fn draw(rng: &mut ChaCha8Rng) -> u64 {
    rng.next_u64() >> 11
}

/// The chain: each race's time is uniform on [0, 2 × its expected time at its difficulty].
pub fn chain() -> Vec<Race> {
    let r = Retarget::new(TARGET_US, INITIAL_BITS).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2026);
    let mut chain = Vec::new();
    for _ in 0..WINDOWS * RETARGET_INTERVAL {
        let bits = r.next_bits(&chain);
        let mean_us = (1_000_000u128 << bits) * 5 / (7 << 14);
        let time_us = (2 * mean_us * u128::from(draw(&mut rng) % 1_000_000) / 1_000_000) as u64;
        chain.push(Race { time_us, bits });
    }
    r.check(chain.iter().copied()).unwrap();
    chain
}

/// Each window's difficulty.
pub fn window_bits(chain: &[Race]) -> Vec<u32> {
    chain.chunks(RETARGET_INTERVAL).map(|w| w[0].bits).collect()
}

/// Windows with mixed and extreme difficulties and times (wide work sums, huge logs).
pub fn odd_windows() -> Vec<(Vec<Race>, u64)> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut out = Vec::new();
    for (base, spread, time_shift, target) in [
        (1, 3, 0, 1),
        (20, 1, 20, 500_000),
        (100, 70, 40, 1 << 40),
        (250, 6, 60, u64::MAX),
        (200, 200, 63, 3),
        (64, 64, 10, 999_999),
        (128, 2, 30, 123_456_789),
        (30, 0, 1, 7),
    ] {
        let window = (0..RETARGET_INTERVAL)
            .map(|_| Race {
                time_us: draw(&mut rng) >> (53 - time_shift.min(53)),
                bits: (base + (draw(&mut rng) % (spread + 1)) as u32).min(256),
            })
            .collect();
        out.push((window, target));
    }
    out
}

/// [`retarget_window`] over [`odd_windows`].
pub fn odd_window_bits() -> Vec<u32> {
    odd_windows()
        .iter()
        .map(|(w, target)| retarget_window(w, *target))
        .collect()
}
