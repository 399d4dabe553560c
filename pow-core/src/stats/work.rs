//! Wasted work: the hashes the losers computed, and what a fair lottery predicts.

use serde::{Deserialize, Serialize};

/// One race's work: the winner's hashes and the losers' (all of them together).
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
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
