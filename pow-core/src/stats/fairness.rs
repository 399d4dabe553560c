//! Fairness: each node's win share against its hash share, and one test over all nodes.

use serde::{Deserialize, Serialize};

use super::common::{check_alpha, wilson_interval, Interval, StatsError, Z_95};
use super::fit::{goodness_of_fit, GofTest};

/// One node's figures for the fairness test.
#[derive(Clone, Debug, PartialEq, Deserialize)]
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

impl Fairness {
    /// The sum of the nodes' hash rates: what a lottery race's time is predicted from.
    pub fn total_hash_rate(&self) -> f64 {
        self.nodes.iter().map(|n| n.hash_rate).sum()
    }
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
