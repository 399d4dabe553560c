//! Settings given per node on the command line: `--threads-per-node 2` (every node) or
//! `--threads-per-node Node1=2,Node3=1` (those nodes; the others keep the default), and the
//! values they take (a hash rate such as `4M`).

use std::fmt;
use std::str::FromStr;

use crate::limits::MAX_NODE_NAME_BYTES;

/// The rule for a node's name, wherever the node runs: 1 to [`MAX_NODE_NAME_BYTES`] bytes, no
/// `/` (it names etcd keys), `=` or `,` (the per-node options' syntax), spaces or control
/// characters (a name is printed at the start of the node's terminal lines).
pub fn check_node_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NODE_NAME_BYTES
        && !name
            .chars()
            .any(|c| matches!(c, '/' | '=' | ',') || c.is_control() || c.is_whitespace());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "node name {name:?}: 1 to {MAX_NODE_NAME_BYTES} bytes, no '/', '=', ',', spaces or \
             control characters"
        ))
    }
}

/// A value for every node, or values for named nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct PerNode<T> {
    /// For every node not named.
    pub all: Option<T>,
    /// For named nodes.
    pub by_name: Vec<(String, T)>,
}

impl<T> Default for PerNode<T> {
    fn default() -> Self {
        PerNode {
            all: None,
            by_name: Vec::new(),
        }
    }
}

impl<T> PerNode<T> {
    /// The value for node `name`, if given.
    pub fn get(&self, name: &str) -> Option<&T> {
        self.by_name
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .or(self.all.as_ref())
    }

    /// Refuses names that are not among `nodes`, naming the option.
    pub fn check_names(&self, option: &str, nodes: &[String]) -> Result<(), UnknownNode> {
        match self.by_name.iter().find(|(n, _)| !nodes.contains(n)) {
            Some((n, _)) => Err(UnknownNode {
                option: option.to_owned(),
                name: n.clone(),
                nodes: nodes.join(", "),
            }),
            None => Ok(()),
        }
    }
}

/// A per-node option names a node that is not among the nodes.
#[derive(Debug, thiserror::Error)]
#[error("{option} names {name}, but the nodes are {nodes}")]
pub struct UnknownNode {
    option: String,
    name: String,
    nodes: String,
}

impl<T: FromStr> FromStr for PerNode<T>
where
    T::Err: fmt::Display,
{
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = PerNode::default();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                Some((name, value)) => {
                    let name = name.trim();
                    if out.by_name.iter().any(|(n, _)| n == name) {
                        return Err(format!("{name} is named twice"));
                    }
                    let v = value
                        .trim()
                        .parse()
                        .map_err(|e| format!("{name}={value}: {e}"))?;
                    out.by_name.push((name.to_owned(), v));
                }
                None if out.all.is_none() => {
                    out.all = Some(part.parse().map_err(|e: T::Err| e.to_string())?)
                }
                None => {
                    return Err(format!(
                        "{s}: one value for every node, or NAME=VALUE pairs"
                    ))
                }
            }
        }
        if out.all.is_none() && out.by_name.is_empty() {
            return Err("empty".into());
        }
        Ok(out)
    }
}

/// Search threads for one node: 1 to pow-core's `MAX_THREADS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Threads(pub usize);

impl FromStr for Threads {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let max = pow_core::search::MAX_THREADS;
        match s.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(Threads(n)),
            _ => Err(format!("{s} is not in 1..={max} (threads of one search)")),
        }
    }
}

/// The most hashes per second a cap may name (beyond any CPU).
pub const MAX_HASH_RATE: f64 = 1e12;

/// A hash rate: `4M`, `500k`, `1.5G` or a plain number, hashes per second.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HashRate(pub f64);

impl FromStr for HashRate {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().trim_end_matches("H/s").trim_end_matches("/s");
        let (num, scale) = match t.char_indices().last() {
            Some((i, 'k' | 'K')) => (&t[..i], 1e3),
            Some((i, 'M')) => (&t[..i], 1e6),
            Some((i, 'G' | 'g')) => (&t[..i], 1e9),
            _ => (t, 1.0),
        };
        let rate = num
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("{s:?} is not a hash rate (e.g. 4M, 500k, 2000000)"))?
            * scale;
        if !(rate.is_finite()
            && (pow_core::search::pool::MIN_HASH_RATE..=MAX_HASH_RATE).contains(&rate))
        {
            return Err(format!(
                "{s:?}: a hash rate cap is {} to {MAX_HASH_RATE:e} hashes per second",
                pow_core::search::pool::MIN_HASH_RATE
            ));
        }
        Ok(HashRate(rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_or_named_values() {
        let p: PerNode<usize> = "2".parse().unwrap();
        assert_eq!((p.get("Node1"), p.get("Node9")), (Some(&2), Some(&2)));
        let p: PerNode<usize> = "Node1=2, Node3=1".parse().unwrap();
        assert_eq!(
            (p.get("Node1"), p.get("Node2"), p.get("Node3")),
            (Some(&2), None, Some(&1))
        );
        let p: PerNode<usize> = "1,Node1=4".parse().unwrap();
        assert_eq!((p.get("Node1"), p.get("Node2")), (Some(&4), Some(&1)));
        assert!("1,2".parse::<PerNode<usize>>().is_err());
        assert!("Node1=x".parse::<PerNode<usize>>().is_err());
        let nodes = ["Node1".to_owned(), "Node2".to_owned()];
        let p: PerNode<usize> = "Node3=1".parse().unwrap();
        assert!(p.check_names("--threads-per-node", &nodes).is_err());
        let twice = "Node1=1, Node1 =2".parse::<PerNode<usize>>().unwrap_err();
        assert_eq!(twice, "Node1 is named twice");
    }

    #[test]
    fn one_rule_for_node_names() {
        for ok in ["Node1", "miner-7", "Nœud", &"n".repeat(MAX_NODE_NAME_BYTES)] {
            assert_eq!(check_node_name(ok), Ok(()), "{ok}");
        }
        let long = "n".repeat(MAX_NODE_NAME_BYTES + 1);
        for bad in [
            "",
            "a/b",
            "a b",
            "a\nNode2 won",
            "a\u{1b}[31m",
            "a=b",
            "a,b",
            &long,
        ] {
            assert!(check_node_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hash_rates_with_units() {
        let r = |s: &str| s.parse::<HashRate>().map(|h| h.0);
        assert_eq!(r("4M"), Ok(4e6));
        assert_eq!(r("500k"), Ok(5e5));
        assert_eq!(r("1.5G"), Ok(1.5e9));
        assert_eq!(r("2000000"), Ok(2e6));
        assert_eq!(r("10MH/s"), Ok(1e7));
        assert!(r("0").is_err() && r("fast").is_err() && r("-4M").is_err());
    }
}
