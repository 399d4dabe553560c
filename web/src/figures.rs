//! The experiment's figures for the page: [`pow_core::stats`] behind JSON in and JSON out, so
//! the dashboard draws what `node-server report --json` prints because it runs the same
//! functions at the same level ([`ALPHA`] unless the input names another).
//!
//! Each function takes the JSON text the page sends and returns the figure as a JSON value in
//! the report's shape, or the reason it cannot be computed (the [`StatsError`]'s text, or what
//! is wrong with the input). Nothing here computes a statistic of its own.

use pow_core::stats::{self, NodeInput, RaceInput, RaceWork, StatsError, ALPHA, Z_95};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Points of the predicted race-time curve the chart draws through the histogram.
pub const CURVE_POINTS: usize = 120;

/// Parses the page's input.
fn parse<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| format!("bad input: {e}"))
}

/// A figure as JSON (non-finite numbers become `null`, as in `report --json`).
fn to_value(figure: &impl Serialize) -> Value {
    serde_json::to_value(figure).expect("the figures serialize")
}

/// The figure's JSON, or its error's text.
fn answer(figure: Result<impl Serialize, StatsError>) -> Result<Value, String> {
    figure.map(|f| to_value(&f)).map_err(|e| e.to_string())
}

/// `{nodes: [{name, wins, races, hashes, mining_secs}], alpha?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FairnessInput {
    nodes: Vec<NodeInput>,
    alpha: Option<f64>,
}

/// [`stats::fairness`], with `total_hash_rate`: the rate the race times are predicted from
/// ([`stats::Fairness::total_hash_rate`], as the report uses it).
pub fn fairness(input: &str) -> Result<Value, String> {
    let input: FairnessInput = parse(input)?;
    let f =
        stats::fairness(&input.nodes, input.alpha.unwrap_or(ALPHA)).map_err(|e| e.to_string())?;
    let mut v = to_value(&f);
    v["total_hash_rate"] = f.total_hash_rate().into();
    Ok(v)
}

/// One race as the page counts it; every race is predicted from the same total hash rate.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RaceTime {
    time_secs: f64,
    difficulty_bits: u32,
}

/// `{races: [{time_secs, difficulty_bits}], total_hash_rate, alpha?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RaceTimesInput {
    races: Vec<RaceTime>,
    total_hash_rate: f64,
    alpha: Option<f64>,
}

/// [`stats::race_times`], with `curve`: [`stats::predicted_curve`] at [`CURVE_POINTS`].
pub fn race_times(input: &str) -> Result<Value, String> {
    let input: RaceTimesInput = parse(input)?;
    let races: Vec<RaceInput> = input
        .races
        .iter()
        .map(|r| RaceInput {
            time_secs: r.time_secs,
            difficulty_bits: r.difficulty_bits,
            total_hash_rate: input.total_hash_rate,
        })
        .collect();
    let t = stats::race_times(&races, input.alpha.unwrap_or(ALPHA)).map_err(|e| e.to_string())?;
    let mut v = to_value(&t);
    v["curve"] = to_value(&stats::predicted_curve(&races, &t.histogram, CURVE_POINTS));
    Ok(v)
}

/// `[seconds, …]`: [`stats::observed_histogram`].
pub fn observed_histogram(input: &str) -> Result<Value, String> {
    let times: Vec<f64> = parse(input)?;
    Ok(to_value(&stats::observed_histogram(&times)))
}

/// `{observed: [counts], probs: [probabilities], alpha?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FitInput {
    observed: Vec<u64>,
    probs: Vec<f64>,
    alpha: Option<f64>,
}

/// [`stats::goodness_of_fit`].
pub fn goodness_of_fit(input: &str) -> Result<Value, String> {
    let input: FitInput = parse(input)?;
    answer(stats::goodness_of_fit(
        &input.observed,
        &input.probs,
        input.alpha.unwrap_or(ALPHA),
    ))
}

/// `{winner_ranks: [rank, …], nodes, alpha?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArrivalInput {
    winner_ranks: Vec<usize>,
    nodes: usize,
    alpha: Option<f64>,
}

/// [`stats::arrival_order`].
pub fn arrival_order(input: &str) -> Result<Value, String> {
    let input: ArrivalInput = parse(input)?;
    answer(stats::arrival_order(
        &input.winner_ranks,
        input.nodes,
        input.alpha.unwrap_or(ALPHA),
    ))
}

/// `[{winner_hashes, loser_hashes}, …]`: [`stats::wasted_work`].
pub fn wasted_work(input: &str) -> Result<Value, String> {
    let races: Vec<RaceWork> = parse(input)?;
    Ok(to_value(&stats::wasted_work(&races)))
}

/// `[hash share, …]`: [`stats::expected_wasted_share`].
pub fn expected_wasted_share(input: &str) -> Result<f64, String> {
    let shares: Vec<f64> = parse(input)?;
    Ok(stats::expected_wasted_share(&shares))
}

/// [`stats::wilson_interval`] at 95% ([`Z_95`]): `{lo, hi}`, or `null` without trials.
pub fn wilson_interval(successes: u64, trials: u64) -> Value {
    to_value(&stats::wilson_interval(successes, trials, Z_95))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The JSON plumbing gives the Rust answers (whose known answers are pow-core's tests).
    #[test]
    fn figures_are_pow_cores_through_json() {
        let nodes = json!({"nodes": [
            {"name": "Node1", "wins": 215, "races": 400, "hashes": 20_000_000u64, "mining_secs": 10.0},
            {"name": "Node2", "wins": 95, "races": 400, "hashes": 10_000_000u64, "mining_secs": 10.0},
            {"name": "Node3", "wins": 90, "races": 400, "hashes": 10_000_000u64, "mining_secs": 10.0},
        ]});
        let f = fairness(&nodes.to_string()).unwrap();
        assert_eq!(f["test"]["method"]["kind"], "chi_square");
        assert_eq!(f["test"]["alpha"], ALPHA);
        assert!((f["test"]["statistic"].as_f64().unwrap() - 2.375).abs() < 1e-12);
        assert_eq!(f["total_hash_rate"], 4e6);
        let direct: Vec<NodeInput> = serde_json::from_value(nodes["nodes"].clone()).unwrap();
        let mut want = to_value(&stats::fairness(&direct, ALPHA).unwrap());
        want["total_hash_rate"] = 4e6.into();
        assert_eq!(f, want);

        let t = race_times(
            &json!({"races": [{"time_secs": 0.5, "difficulty_bits": 10}, {"time_secs": 1.0, "difficulty_bits": 10}],
                    "total_hash_rate": 2048.0})
            .to_string(),
        )
        .unwrap();
        assert_eq!(t["predicted_mean"], 0.5);
        assert_eq!(t["curve"].as_array().unwrap().len(), CURVE_POINTS + 1);
        // At t = 0 two races of mean 0.5 s predict 2 / 0.5 = 4 per second, × the bin width.
        let width = t["histogram"][0]["hi"].as_f64().unwrap();
        assert!((t["curve"][0]["count"].as_f64().unwrap() - 4.0 * width).abs() < 1e-12);

        let g = goodness_of_fit(r#"{"observed": [3, 17], "probs": [0.1, 0.9], "alpha": 0.05}"#)
            .unwrap();
        assert!((g["p_value"].as_f64().unwrap() - 0.4446498494011033).abs() < 1e-9);
        assert_eq!(
            wilson_interval(0, 20),
            json!({"lo": 0.0, "hi": wilson_interval(0, 20)["hi"]})
        );
        assert_eq!(wilson_interval(0, 0), Value::Null);
        assert_eq!(expected_wasted_share("[0.5, 0.25, 0.25]").unwrap(), 0.625);
        let w = wasted_work(r#"[{"winner_hashes": 100, "loser_hashes": 300}]"#).unwrap();
        assert_eq!(w["wasted_share"], 0.75);
        let a = arrival_order(r#"{"winner_ranks": [0, 0, 1], "nodes": 3}"#).unwrap();
        assert_eq!(a["ranks"][0]["wins"], 2);
        let h = observed_histogram("[0.1, 0.2, 0.4]").unwrap();
        assert_eq!(h.as_array().unwrap().len(), 5);
        assert_eq!(h[4]["hi"], 0.4);
    }

    #[test]
    fn errors_say_why() {
        assert_eq!(
            fairness(r#"{"nodes": []}"#),
            Err(StatsError::NoNodes.to_string())
        );
        assert!(race_times(r#"{"races": [], "total_hash_rate": 1}"#)
            .unwrap_err()
            .contains("no races"));
        assert!(fairness(r#"{"nodes": [], "extra": 1}"#)
            .unwrap_err()
            .starts_with("bad input: "));
        assert!(arrival_order(r#"{"winner_ranks": [0, 3], "nodes": 3}"#)
            .unwrap_err()
            .contains("rank 3"));
    }
}
