//! Time: wall-clock timestamps in the ledger's layout (UTC, microseconds), and the host's
//! monotonic clock, which orders events and measures durations.
//!
//! The wall clock can step (NTP, a VM resume, an operator); the monotonic clock cannot, and on
//! Linux it is one clock for every process of the host. So a search's start is stamped on both,
//! its duration is measured on the monotonic clock, and its end time is written as the start
//! plus the duration: an entry's end is never before its start, whatever the wall clock did.

use chrono::{DateTime, TimeDelta, Utc};

pub use pow_core::chain::TIME_FORMAT;

/// A wall-clock instant (UTC, to the nanosecond: [`plus_nanos`](Self::plus_nanos) keeps
/// them); written in the ledger's layout, to the microsecond, by [`text`](Self::text).
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

    /// This instant plus `nanos` nanoseconds (saturating).
    pub fn plus_nanos(&self, nanos: u64) -> Self {
        let d = TimeDelta::nanoseconds(i64::try_from(nanos).unwrap_or(i64::MAX));
        Self(self.0.checked_add_signed(d).unwrap_or(self.0))
    }

    /// Parses the ledger's layout (UTC).
    pub fn parse(s: &str) -> Option<Self> {
        pow_core::chain::parse_timestamp(s).map(|n| Self(n.and_utc()))
    }
}

/// The host's monotonic clock (`CLOCK_MONOTONIC`), in nanoseconds: the same clock in every
/// process of the host, never stepped.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec passed to it; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// When something started, on both clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Start {
    /// The wall clock, for the ledger's `start_time`.
    pub wall: Stamp,
    /// The monotonic clock, for durations and order.
    pub mono_ns: u64,
}

impl Start {
    /// Now.
    pub fn now() -> Self {
        // Monotonic first: the wall stamp is what people read, the monotonic one is what
        // durations are measured from, and they are taken back to back.
        let mono_ns = mono_ns();
        Start {
            wall: Stamp::now(),
            mono_ns,
        }
    }

    /// The end of something that started here and ended at `end_mono_ns`: its wall time
    /// (start plus the monotonic duration) and its duration in seconds.
    pub fn end_at(&self, end_mono_ns: u64) -> (Stamp, f64) {
        let nanos = end_mono_ns.saturating_sub(self.mono_ns);
        (self.wall.plus_nanos(nanos), nanos as f64 / 1e9)
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

    #[test]
    fn the_end_is_the_start_plus_the_monotonic_duration() {
        let start = Start {
            wall: Stamp::parse("2025-02-13 23:59:59.999990").unwrap(),
            mono_ns: 1_000,
        };
        let (end, secs) = start.end_at(1_000 + 25_000);
        assert_eq!(end.text(), "2025-02-14 00:00:00.000015");
        assert_eq!(secs, 25e-6);
        // A monotonic stamp before the start (never from the same clock) is a zero duration.
        assert_eq!(start.end_at(0), (start.wall, 0.0));
    }
}
