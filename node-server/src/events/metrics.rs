//! Metrics from the event stream, in the Prometheus text format (`GET /metrics`).
//!
//! A [`Sink`] like the printer and the attempts log: it counts each node's events by type,
//! the hashes its searches tried, and the distribution of its search times.

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::events::{Event, EventKind, Sink};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    node: String,
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NodeLabels {
    node: String,
}

/// Every node's counters in one registry.
pub struct Metrics {
    registry: Mutex<Registry>,
    events: Family<EventLabels, Counter>,
    hashes: Family<NodeLabels, Counter>,
    search_seconds: Family<NodeLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Empty counters, registered as `powrace_events`, `powrace_hashes` and
    /// `powrace_search_seconds`.
    pub fn new() -> Self {
        let events = Family::<EventLabels, Counter>::default();
        let hashes = Family::<NodeLabels, Counter>::default();
        // 10 µs to ~170 s in steps of 4x: difficulty 1 to 4 on any kernel.
        let search_seconds = Family::<NodeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(1e-5, 4.0, 13))
        });
        let mut registry = Registry::with_prefix("powrace");
        registry.register("events", "Race events by node and type", events.clone());
        registry.register(
            "hashes",
            "Nonces hashed by finished searches",
            hashes.clone(),
        );
        registry.register(
            "search_seconds",
            "Time from start to end of each finished search",
            search_seconds.clone(),
        );
        Self {
            registry: Mutex::new(registry),
            events,
            hashes,
            search_seconds,
        }
    }

    /// The metrics in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        prometheus_client::encoding::text::encode(&mut out, &registry)
            .expect("writing to a String does not fail");
        out
    }
}

impl Sink for Metrics {
    fn event(&self, e: &Event) {
        self.events
            .get_or_create(&EventLabels {
                node: e.node.to_string(),
                r#type: e.kind.name().to_owned(),
            })
            .inc();
        if let EventKind::Completed { work, .. } = &e.kind {
            let node = NodeLabels {
                node: e.node.to_string(),
            };
            self.hashes.get_or_create(&node).inc_by(work.hashes);
            self.search_seconds
                .get_or_create(&node)
                .observe(work.time_taken);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::events::{EventBus, Work};

    #[test]
    fn events_become_counters_and_histograms() {
        let metrics = Arc::new(Metrics::new());
        let bus = EventBus::new("Node2", 2, vec![metrics.clone()]);
        let tx = pow_core::Hash32::digest(b"t");
        let data: Arc<str> = "t".into();
        for _ in 0..2 {
            bus.emit(Some((&tx, &data)), EventKind::Received { peer: "p".into() });
        }
        let work = Work {
            nonce: 1,
            hash: tx,
            time_taken: 0.5,
            hashes: 1234,
            start_time: String::new(),
            end_time: String::new(),
            ..Default::default()
        };
        bus.emit(
            Some((&tx, &data)),
            EventKind::Completed {
                work,
                kernel: "portable",
                threads: 1,
            },
        );
        let text = metrics.render();
        assert!(
            text.contains(r#"powrace_events_total{node="Node2",type="received"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"powrace_hashes_total{node="Node2"} 1234"#),
            "{text}"
        );
        assert!(
            text.contains(r#"powrace_search_seconds_count{node="Node2"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"powrace_search_seconds_sum{node="Node2"} 0.5"#),
            "{text}"
        );
    }
}
