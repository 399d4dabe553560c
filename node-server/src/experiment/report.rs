//! `node-server report`: the nodes compared, from the attempts log, in bounded memory.
//!
//! The log is read once, line by line. Each node's attempts are summed and their times kept in
//! a histogram (3 significant digits) for the median; attempts are grouped into races by
//! transaction in a bounded window (a race's attempts are written close together), and each
//! race, once complete, adds to the experiment's figures ([`pow_core::stats`], the code the
//! dashboard runs as WebAssembly): win share against hash share, the race-time law, wasted work,
//! and who won by order of arrival, tested at [`ALPHA`]. The race-time
//! test keeps a uniform sample of at most [`RACE_SAMPLE`] races, so memory stays bounded
//! whatever the log's length.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;

use anyhow::Context as _;
use hdrhistogram::Histogram;
use pow_core::chain::RaceMode;
use pow_core::Hash32;
use serde::Serialize;

use crate::events::attempts::{self, Attempt, LongLines};
use crate::limits::{MAX_ATTEMPT_LINE_BYTES, MAX_CLUSTER_BODY_BYTES};
use pow_core::stats::{
    self, ArrivalOrder, Fairness, RaceInput, RaceTimes, RaceWork, WastedWork, ALPHA,
};

/// Races held open while their attempts arrive; the oldest is closed beyond this.
pub const OPEN_RACES: usize = 16_384;

/// The most races the race-time test looks at (a uniform sample beyond it).
pub const RACE_SAMPLE: usize = 100_000;

/// Points kept for the difficulty-over-time chart (every k-th race beyond it).
pub const DIFFICULTY_POINTS: usize = 4096;

/// One node's figures.
#[derive(Clone, Debug, Serialize)]
pub struct NodeRow {
    /// The node.
    pub node: String,
    /// Attempts with a result (won, lost, aborted).
    pub attempts: u64,
    /// Races won.
    pub wins: u64,
    /// Mean time taken, seconds.
    pub mean_time: f64,
    /// Median time taken, seconds (3 significant digits).
    pub median_time: f64,
    /// Hashes per second over all its mining time.
    pub hash_rate: f64,
    /// Mean seconds behind the winner, over lost races with a measured margin.
    pub mean_margin: Option<f64>,
    /// Median seconds from a transaction's arrival to this node's first hash.
    pub median_latency: Option<f64>,
}

/// The figures of one race mode.
#[derive(Clone, Debug, Serialize)]
pub struct ModeReport {
    /// `lab` or `lottery`.
    pub race: &'static str,
    /// Races every node entered (the ones the figures below count).
    pub races: u64,
    /// Races that not every node entered (left out).
    pub partial_races: u64,
    /// Win share against hash share, and the fit test.
    pub fairness: Option<Fairness>,
    /// Why there is no fairness figure, when there is none.
    pub fairness_note: Option<String>,
    /// Race times against the exponential law (lottery).
    pub race_times: Option<RaceTimes>,
    /// Hashes by losers.
    pub wasted: Option<WastedWork>,
    /// What a fair lottery with losers stopping at once wastes: `1 - Σ share²`.
    pub expected_wasted_share: Option<f64>,
    /// Who won, by order of starting.
    pub arrival: Option<ArrivalOrder>,
    /// The difficulty of the races in order (every k-th when there are many).
    pub difficulty_bits: Vec<u32>,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Attempts read.
    pub attempts: u64,
    /// Lines of the log over [`MAX_ATTEMPT_LINE_BYTES`] (no attempt is that long), skipped.
    pub skipped_lines: u64,
    /// Per node, by name.
    pub nodes: Vec<NodeRow>,
    /// Per race mode that occurs in the log.
    pub modes: Vec<ModeReport>,
}

#[derive(Default)]
struct NodeAcc {
    attempts: u64,
    wins: u64,
    time_sum: f64,
    timed: u64,
    times: Option<Histogram<u64>>,
    hashes: u64,
    mining: f64,
    margin_sum: f64,
    margins: u64,
    latencies: Option<Histogram<u64>>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new(3).expect("3 significant digits is a valid histogram")
}

fn nanos(secs: f64) -> u64 {
    (secs.max(0.0) * 1e9).round().min(u64::MAX as f64) as u64
}

/// One node's part in one race.
#[derive(Clone, Debug)]
struct Part {
    won: bool,
    hashes: u64,
    secs: f64,
    start_us: Option<i64>,
}

/// A race's attempts so far.
struct RaceAcc {
    mode: RaceMode,
    bits: u32,
    parts: BTreeMap<String, Part>,
}

#[derive(Default)]
struct ModeAcc {
    races: u64,
    partial: u64,
    /// Per node: wins, races, hashes and seconds over the complete races.
    nodes: BTreeMap<String, (u64, u64, u64, f64)>,
    /// Sampled races: the winner's time and the difficulty in bits.
    sample: Vec<(f64, u32)>,
    seen_for_sample: u64,
    winner_hashes: u64,
    loser_hashes: u64,
    per_race_wasted: Vec<RaceWork>,
    ranks: Vec<u64>,
    bits: Vec<u32>,
    bits_stride: u64,
}

/// A small deterministic generator for the race sample (the report is reproducible).
struct Lcg(u64);
impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

struct Builder {
    attempts: u64,
    nodes: BTreeMap<String, NodeAcc>,
    open: HashMap<Hash32, RaceAcc>,
    order: VecDeque<Hash32>,
    modes: BTreeMap<&'static str, ModeAcc>,
    rng: Lcg,
}

fn parse_us(t: &str) -> Option<i64> {
    crate::clock::Stamp::parse(t).map(|s| s.micros())
}

impl Builder {
    fn new() -> Self {
        Builder {
            attempts: 0,
            nodes: BTreeMap::new(),
            open: HashMap::new(),
            order: VecDeque::new(),
            modes: BTreeMap::new(),
            rng: Lcg(0x5eed),
        }
    }

    /// Takes an attempt with a result (won, lost, aborted).
    fn take(&mut self, a: Attempt) {
        if matches!(a.outcome.as_str(), "won" | "lost" | "aborted") {
            self.add(a);
        }
    }

    fn add(&mut self, a: Attempt) {
        self.attempts += 1;
        let n = self.nodes.entry(a.node.clone()).or_default();
        n.attempts += 1;
        let won = a.outcome == "won";
        if won {
            n.wins += 1;
        }
        if let Some(t) = a.time_taken {
            n.time_sum += t;
            n.timed += 1;
            let _ = n
                .times
                .get_or_insert_with(histogram)
                .record(nanos(t).max(1));
            n.mining += t;
        }
        n.hashes += a.hashes.unwrap_or(0);
        if let Some(m) = a.margin {
            n.margin_sum += m;
            n.margins += 1;
        }
        if let Some(l) = a.latency {
            let _ = n
                .latencies
                .get_or_insert_with(histogram)
                .record(nanos(l).max(1));
        }
        let race = self.open.entry(a.tx_id).or_insert_with(|| {
            self.order.push_back(a.tx_id);
            RaceAcc {
                mode: a.race,
                bits: a.bits(),
                parts: BTreeMap::new(),
            }
        });
        // The race's mode and difficulty are the winner's (the entry's): nodes that started on
        // either side of a retarget mined one transaction at different bits. Until the winner's
        // attempt arrives, any attempt with figures stands in (an aborted search's has none).
        let has_winner = race.parts.values().any(|p| p.won);
        if won || (a.difficulty_bits.is_some() && !has_winner) {
            race.mode = a.race;
            race.bits = a.bits();
        }
        race.parts.insert(
            a.node.clone(),
            Part {
                won,
                hashes: a.hashes.unwrap_or(0),
                secs: a.time_taken.unwrap_or(0.0),
                start_us: a.start_time.as_deref().and_then(parse_us),
            },
        );
        if self.open.len() > OPEN_RACES {
            if let Some(old) = self.order.pop_front() {
                if let Some(r) = self.open.remove(&old) {
                    self.close(r);
                }
            }
        }
    }

    fn close(&mut self, r: RaceAcc) {
        let all = self.nodes.len();
        let mode = self.modes.entry(r.mode.name()).or_default();
        let winners = r.parts.values().filter(|p| p.won).count();
        if r.parts.len() < all || winners != 1 {
            mode.partial += 1;
            return;
        }
        mode.races += 1;
        let winner = r
            .parts
            .values()
            .find(|p| p.won)
            .expect("one winner")
            .clone();
        for (name, p) in &r.parts {
            let e = mode.nodes.entry(name.clone()).or_default();
            e.0 += u64::from(p.won);
            e.1 += 1;
            e.2 += p.hashes;
            e.3 += p.secs;
        }
        let losers: u64 = r.parts.values().filter(|p| !p.won).map(|p| p.hashes).sum();
        mode.winner_hashes += winner.hashes;
        mode.loser_hashes += losers;
        // Who started first: the winner's rank among the nodes' starts (when all are known).
        if let (Some(ws), true) = (
            winner.start_us,
            r.parts.values().all(|p| p.start_us.is_some()),
        ) {
            let rank = r
                .parts
                .values()
                .filter(|p| p.start_us.is_some_and(|s| s < ws))
                .count();
            if mode.ranks.len() <= rank {
                mode.ranks.resize(rank + 1, 0);
            }
            mode.ranks[rank] += 1;
        }
        // The race sample (reservoir) and the difficulty series (every k-th race).
        mode.seen_for_sample += 1;
        let entry = (winner.secs, r.bits);
        if mode.sample.len() < RACE_SAMPLE {
            mode.sample.push(entry);
            mode.per_race_wasted.push(RaceWork {
                winner_hashes: winner.hashes,
                loser_hashes: losers,
            });
        } else {
            let i = self.rng.below(mode.seen_for_sample) as usize;
            if i < RACE_SAMPLE {
                mode.sample[i] = entry;
                mode.per_race_wasted[i] = RaceWork {
                    winner_hashes: winner.hashes,
                    loser_hashes: losers,
                };
            }
        }
        let stride = mode.bits_stride.max(1);
        if (mode.races - 1).is_multiple_of(stride) {
            mode.bits.push(r.bits);
            if mode.bits.len() >= DIFFICULTY_POINTS {
                mode.bits = mode.bits.iter().step_by(2).copied().collect();
                mode.bits_stride = stride * 2;
            }
        }
    }

    fn finish(mut self) -> Report {
        while let Some(tx) = self.order.pop_front() {
            if let Some(r) = self.open.remove(&tx) {
                self.close(r);
            }
        }
        let nodes = self
            .nodes
            .iter()
            .map(|(name, n)| NodeRow {
                node: name.clone(),
                attempts: n.attempts,
                wins: n.wins,
                mean_time: if n.timed > 0 {
                    n.time_sum / n.timed as f64
                } else {
                    0.0
                },
                median_time: n
                    .times
                    .as_ref()
                    .map_or(0.0, |h| h.value_at_quantile(0.5) as f64 / 1e9),
                hash_rate: if n.mining > 0.0 {
                    n.hashes as f64 / n.mining
                } else {
                    0.0
                },
                mean_margin: (n.margins > 0).then(|| n.margin_sum / n.margins as f64),
                median_latency: n
                    .latencies
                    .as_ref()
                    .map(|h| h.value_at_quantile(0.5) as f64 / 1e9),
            })
            .collect();
        let modes = self
            .modes
            .into_iter()
            .filter(|(_, m)| m.races + m.partial > 0)
            .map(|(name, m)| mode_report(name, m))
            .collect();
        Report {
            attempts: self.attempts,
            skipped_lines: 0,
            nodes,
            modes,
        }
    }
}

fn mode_report(name: &'static str, m: ModeAcc) -> ModeReport {
    let inputs: Vec<stats::NodeInput> = m
        .nodes
        .iter()
        .map(|(n, &(wins, races, hashes, secs))| stats::NodeInput {
            name: n.clone(),
            wins,
            races,
            hashes,
            mining_secs: secs,
        })
        .collect();
    let (fairness, fairness_note) = match stats::fairness(&inputs, ALPHA) {
        Ok(f) => (Some(f), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let total_rate = fairness.as_ref().map_or(0.0, Fairness::total_hash_rate);
    let race_times = (name == "lottery" && total_rate > 0.0)
        .then(|| {
            let races: Vec<RaceInput> = m
                .sample
                .iter()
                .map(|(secs, bits)| RaceInput {
                    time_secs: *secs,
                    difficulty_bits: *bits,
                    total_hash_rate: total_rate,
                })
                .collect();
            stats::race_times(&races, ALPHA).ok()
        })
        .flatten();
    let wasted = (m.races > 0).then(|| {
        let mut w = stats::wasted_work(&m.per_race_wasted);
        // Totals over every race, not only the sample.
        w.races = m.races;
        w.winner_hashes = m.winner_hashes;
        w.loser_hashes = m.loser_hashes;
        let all = (m.winner_hashes + m.loser_hashes) as f64;
        w.wasted_share = if all > 0.0 {
            m.loser_hashes as f64 / all
        } else {
            0.0
        };
        w
    });
    let expected_wasted_share = fairness.as_ref().map(|f| {
        let shares: Vec<f64> = f.nodes.iter().map(|n| n.hash_share).collect();
        stats::expected_wasted_share(&shares)
    });
    let nodes = m.nodes.len();
    let arrival = (nodes >= 2 && m.ranks.iter().sum::<u64>() > 0)
        .then(|| {
            let ranks: Vec<usize> = m
                .ranks
                .iter()
                .enumerate()
                .flat_map(|(rank, &n)| std::iter::repeat_n(rank.min(nodes - 1), n as usize))
                .collect();
            stats::arrival_order(&ranks, nodes, ALPHA).ok()
        })
        .flatten();
    ModeReport {
        race: name,
        races: m.races,
        partial_races: m.partial,
        fairness,
        fairness_note,
        race_times,
        wasted,
        expected_wasted_share,
        arrival,
        difficulty_bits: m.bits,
    }
}

/// Reads the attempts log at `log` and builds the report.
pub fn build(log: &Path) -> anyhow::Result<Report> {
    let mut b = Builder::new();
    let skipped = attempts::for_each(log, LongLines::Skip, |a| b.take(a))
        .with_context(|| format!("cannot read {}", log.display()))?;
    Ok(Report {
        skipped_lines: skipped,
        ..b.finish()
    })
}

/// Builds the report of a whole cluster: asks the node at `addr` (`host:port`) for the live
/// nodes (`GET /cluster`, at most [`MAX_CLUSTER_BODY_BYTES`]), then each node for its own
/// attempts (`GET /attempts`), in bounded memory: a line over [`MAX_ATTEMPT_LINE_BYTES`] is
/// refused (a node sends none, and a peer need never end one). Returns the report and where the attempts came from.
pub fn build_cluster(addr: &str) -> anyhow::Result<(Report, Vec<String>)> {
    #[derive(serde::Deserialize)]
    struct Cluster {
        nodes: Vec<Member>,
    }
    #[derive(serde::Deserialize)]
    struct Member {
        name: String,
        addr: String,
    }
    let base = addr.trim_end_matches('/').trim_start_matches("http://");
    let text = ureq::get(&format!("http://{base}/cluster"))
        .call()
        .with_context(|| format!("cannot ask {base} for the cluster's nodes"))?
        .body_mut()
        .with_config()
        .limit(MAX_CLUSTER_BODY_BYTES)
        .read_to_string()
        .with_context(|| format!("cannot read {base}/cluster"))?;
    let cluster: Cluster = serde_json::from_str(&text)
        .with_context(|| format!("{base}/cluster is not a node list"))?;
    let mut b = Builder::new();
    let mut sources = Vec::new();
    for m in cluster.nodes {
        let url = format!("http://{}/attempts", m.addr);
        let mut resp = ureq::get(&url)
            .call()
            .with_context(|| format!("cannot read {}'s attempts at {url}", m.name))?;
        let reader = std::io::BufReader::new(resp.body_mut().as_reader());
        attempts::for_each_in(reader, LongLines::Refuse, |a| b.take(a))
            .with_context(|| format!("reading {url}"))?;
        sources.push(format!("{} ({url})", m.name));
    }
    Ok((b.finish(), sources))
}

fn p_value(p: f64) -> String {
    if p < 1e-4 {
        format!("{p:.1e}")
    } else {
        format!("{p:.4}")
    }
}

/// The report as the terminal shows it.
pub fn text(r: &Report, log: &Path) -> String {
    let mut s = format!("{} attempts in {}\n", r.attempts, log.display());
    if r.skipped_lines > 0 {
        s += &format!(
            "{} lines longer than {MAX_ATTEMPT_LINE_BYTES} bytes skipped: no attempt is that long\n",
            r.skipped_lines
        );
    }
    s += &nodes_text(&r.nodes);
    for m in &r.modes {
        s += &mode_text(m);
    }
    s
}

/// The table of the nodes: one row each.
fn nodes_text(nodes: &[NodeRow]) -> String {
    let mut s = String::new();
    s += &format!(
        "{:<8} {:>8} {:>6} {:>12} {:>12} {:>10} {:>16} {:>16}\n",
        "node",
        "attempts",
        "wins",
        "mean (s)",
        "median (s)",
        "MH/s",
        "mean margin (s)",
        "first hash (µs)"
    );
    for n in nodes {
        s += &format!(
            "{:<8} {:>8} {:>6} {:>12.6} {:>12.6} {:>10.2} {:>16} {:>16}\n",
            n.node,
            n.attempts,
            n.wins,
            n.mean_time,
            n.median_time,
            n.hash_rate / 1e6,
            n.mean_margin.map_or("-".into(), |m| format!("{m:+.6}")),
            n.median_latency
                .map_or("-".into(), |l| format!("{:.1}", l * 1e6)),
        );
    }
    s
}

/// One way of racing's section: its races, the fairness test, the race times, the wasted work
/// and the arrival order.
fn mode_text(m: &ModeReport) -> String {
    let mut s = String::new();
    s += &format!(
        "\n{} races: {} with every node{}\n",
        m.race,
        m.races,
        if m.partial_races > 0 {
            format!(" ({} more without every node, left out)", m.partial_races)
        } else {
            String::new()
        }
    );
    match &m.fairness {
        Some(f) => s += &fairness_text(f),
        None => {
            if let Some(note) = &m.fairness_note {
                s += &format!("win vs hash share: not computed ({note})\n");
            }
        }
    }
    if let Some(t) = &m.race_times {
        s += &format!(
            "race time: mean {:.6} s (predicted {:.6}), median {:.6} s (predicted {:.6}); \
             exponential fit KS p = {}\n",
            t.observed_mean,
            t.predicted_mean,
            t.observed_median,
            t.predicted_median,
            p_value(t.ks.p_value)
        );
    }
    if let Some(w) = &m.wasted {
        s += &format!(
            "wasted work: {:.1}% of all hashes were losers'{}\n",
            w.wasted_share * 100.0,
            m.expected_wasted_share
                .filter(|_| m.race == "lottery")
                .map_or(String::new(), |e| format!(
                    " (a fair lottery whose losers stop at once: {:.1}%)",
                    e * 100.0
                ))
        );
    }
    if let Some(a) = &m.arrival {
        if let Some(first) = a.ranks.first() {
            s += &format!(
                "arrival order: the first node to start won {:.1}% [{:.1}%, {:.1}%] of races \
                 (1/{} = {:.1}% if arrival did not matter); p = {}\n",
                first.win_share * 100.0,
                first.win_interval.lo * 100.0,
                first.win_interval.hi * 100.0,
                a.nodes,
                100.0 / a.nodes as f64,
                p_value(a.test.p_value)
            );
        }
    }
    s
}

/// The wins against the hash shares: a row per node, and the goodness-of-fit test.
fn fairness_text(f: &Fairness) -> String {
    let mut s = String::new();
    s += &format!(
        "{:<8} {:>10} {:>24} {:>14} {:>7}\n",
        "node", "hash share", "win share (95% interval)", "expected wins", "agrees"
    );
    for n in &f.nodes {
        s += &format!(
            "{:<8} {:>10.3} {:>8.3} [{:.3}, {:.3}] {:>14.1} {:>7}\n",
            n.name,
            n.hash_share,
            n.win_share,
            n.win_interval.lo,
            n.win_interval.hi,
            n.expected_wins,
            if n.agrees { "yes" } else { "no" }
        );
    }
    let method = match &f.test.method {
        stats::GofMethod::ChiSquare => "chi-square",
        stats::GofMethod::ExactMultinomial { .. } => "exact multinomial",
        stats::GofMethod::PooledChiSquare { .. } => "pooled chi-square",
    };
    s += &format!(
        "wins vs hash shares: {method} statistic {:.3}, p = {} (alpha {}): {}\n",
        f.test.statistic,
        p_value(f.test.p_value),
        f.test.alpha,
        if f.test.rejected {
            "the hash rates alone do not explain the wins"
        } else {
            "consistent with wins following hash rate"
        }
    );
    s
}

/// Draws the report's charts into one file (`.svg` or `.png`).
pub fn plot(r: &Report, path: &Path) -> anyhow::Result<()> {
    // The lottery's figures when there are lottery races, else the lab's.
    let m = r
        .modes
        .iter()
        .find(|m| m.race == "lottery" && m.races > 0)
        .or_else(|| r.modes.iter().find(|m| m.races > 0));
    let title = match m {
        Some(m) => format!("powrace: {} {} races", m.races, m.race),
        None => "powrace: no complete races yet".to_owned(),
    };
    let charts = crate::experiment::plot::Charts {
        title: &title,
        fairness: m.and_then(|m| m.fairness.as_ref()),
        race_times: m.and_then(|m| m.race_times.as_ref()),
        difficulty_bits: m.map_or(&[][..], |m| &m.difficulty_bits),
        target_time_secs: None,
        wasted: m.and_then(|m| m.wasted.as_ref()),
        expected_wasted_share: m.and_then(|m| m.expected_wasted_share),
        arrival: m.and_then(|m| m.arrival.as_ref()),
    };
    crate::experiment::plot::write(path, &charts)
        .with_context(|| format!("cannot draw {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::attempts::tests::attempt;

    fn log(attempts: &[Attempt]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ledger.attempts.jsonl");
        let mut text = Vec::new();
        for a in attempts {
            text.extend(crate::json::to_vec(a).unwrap());
            text.push(b'\n');
        }
        text.extend(b"{\"torn\": ");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn tx(a: Attempt, id: u8) -> Attempt {
        Attempt {
            tx_id: Hash32([id; 32]),
            ..a
        }
    }

    #[test]
    fn per_node_counts_means_medians_rates_and_margins() {
        let (_d, path) = log(&[
            tx(attempt("Node1", "won", 1.0, None), 1),
            tx(attempt("Node2", "lost", 2.0, Some(0.5)), 1),
            tx(attempt("Node1", "won", 3.0, None), 2),
            tx(attempt("Node2", "lost", 4.0, Some(1.5)), 2),
            tx(attempt("Node1", "lost", 5.0, Some(0.25)), 3),
            tx(attempt("Node2", "won", 9.0, None), 3),
        ]);
        let r = build(&path).unwrap();
        assert_eq!(r.attempts, 6);
        let (n1, n2) = (&r.nodes[0], &r.nodes[1]);
        assert_eq!((n1.wins, n1.mean_time), (2, 3.0));
        // Medians to 3 significant digits.
        assert!((n1.median_time - 3.0).abs() < 3e-3, "{}", n1.median_time);
        assert!((n2.median_time - 4.0).abs() < 4e-3, "{}", n2.median_time);
        assert_eq!(n1.hash_rate, 3000.0 / 9.0);
        assert_eq!(n2.mean_margin, Some(1.0));
        let lab = &r.modes[0];
        assert_eq!((lab.race, lab.races, lab.partial_races), ("lab", 3, 0));
        let w = lab.wasted.as_ref().unwrap();
        assert_eq!((w.winner_hashes, w.loser_hashes), (3000, 3000));
        let text = text(&r, &path);
        assert!(text.contains("+1.000000") && !text.contains("+-"), "{text}");
    }

    /// Nodes that started on either side of a retarget mine one transaction at different bits:
    /// the race is the winner's, whichever attempt the log holds first or last.
    #[test]
    fn a_race_mined_at_different_bits_is_filed_at_the_winners() {
        let at = |node: &str, outcome: &str, bits: u32| {
            let mut a = tx(attempt(node, outcome, 0.5, None), 1);
            a.race = RaceMode::Lottery;
            a.difficulty_bits = Some(bits);
            a
        };
        for order in [[0, 1, 2], [1, 0, 2], [2, 1, 0], [1, 2, 0]] {
            let three = [
                at("Node1", "lost", 17),
                at("Node2", "won", 16),
                at("Node3", "lost", 17),
            ];
            let (_d, path) = log(&order.map(|i| three[i].clone()));
            let r = build(&path).unwrap();
            let m = r.modes.iter().find(|m| m.race == "lottery").unwrap();
            assert_eq!(m.difficulty_bits, [16], "order {order:?}");
        }
    }

    /// A lottery where Node1 has twice the others' hash rate and wins half the races.
    #[test]
    fn a_fair_lottery_agrees_with_hash_shares_and_is_drawn() {
        let mut attempts = Vec::new();
        for race in 0..200u32 {
            let winner = match race % 4 {
                0 | 1 => "Node1",
                2 => "Node2",
                _ => "Node3",
            };
            for (node, rate) in [("Node1", 2000.0), ("Node2", 1000.0), ("Node3", 1000.0)] {
                let outcome = if node == winner { "won" } else { "lost" };
                let secs = 0.5;
                let mut a = attempt(node, outcome, secs, None);
                a.tx_id = Hash32::digest(&race.to_be_bytes());
                a.hashes = Some((rate * secs) as u64);
                a.race = RaceMode::Lottery;
                a.difficulty_bits = Some(9);
                attempts.push(a);
            }
        }
        let (dir, path) = log(&attempts);
        let r = build(&path).unwrap();
        let m = r.modes.iter().find(|m| m.race == "lottery").unwrap();
        let f = m.fairness.as_ref().unwrap();
        assert_eq!(f.races, 200);
        assert!((f.nodes[0].hash_share - 0.5).abs() < 1e-9);
        assert!(!f.test.rejected, "{:?}", f.test);
        assert!((m.expected_wasted_share.unwrap() - 0.625).abs() < 1e-9);
        assert!(m.race_times.is_some());
        let svg = dir.path().join("report.svg");
        plot(&r, &svg).unwrap();
        let drawn = std::fs::read_to_string(&svg).unwrap();
        assert!(drawn.contains("Node1") && drawn.contains("<svg"));
    }
}
