//! Wall-clock timestamps in the ledger's layout, with microseconds, in UTC.

use chrono::{DateTime, Utc};

pub use pow_core::chain::TIME_FORMAT;

/// A wall-clock instant, kept as microseconds since the Unix epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Stamp(DateTime<Utc>);

impl Stamp {
    /// Now.
    pub fn now() -> Self {
        Self(Utc::now())
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff`, UTC.
    pub fn text(&self) -> String {
        self.0.format(TIME_FORMAT).to_string()
    }

    /// Microseconds since the Unix epoch.
    pub fn micros(&self) -> i64 {
        self.0.timestamp_micros()
    }

    /// Parses the ledger's layout (UTC).
    pub fn parse(s: &str) -> Option<Self> {
        chrono::NaiveDateTime::parse_from_str(s, TIME_FORMAT)
            .ok()
            .map(|n| Self(n.and_utc()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_with_microseconds() {
        let s = Stamp::parse("2025-02-13 19:16:07.019815").unwrap();
        assert_eq!(s.text(), "2025-02-13 19:16:07.019815");
        assert_eq!(s.micros() % 1_000_000, 19_815);
        let now = Stamp::now();
        assert!(pow_core::chain::is_timestamp(&now.text()));
    }
}
