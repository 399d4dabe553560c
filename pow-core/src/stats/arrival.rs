//! Lab mode: who wins by the order in which the nodes started the race.

use serde::Serialize;

use super::common::{check_alpha, wilson_interval, Interval, StatsError, Z_95};
use super::fit::{goodness_of_fit, GofTest};

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
