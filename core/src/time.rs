//! Wall-clock time as the core sees it.
//!
//! The core never reads a clock. Monotonic time arrives as `std::time::Instant` values in
//! every input; wall-clock time (handshake timestamps, ban expiry, reputation decay across
//! restarts) is a [`UnixMillis`] handed to `Node::new` and advanced by the monotonic offset.

use std::time::{Duration, Instant};

/// Milliseconds since the Unix epoch (1970-01-01T00:00:00Z), UTC.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(transparent)]
pub struct UnixMillis(pub u64);

impl UnixMillis {
    /// Whole seconds since the epoch.
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// This time plus `d` (saturating).
    pub fn plus(self, d: Duration) -> UnixMillis {
        UnixMillis(
            self.0
                .saturating_add(d.as_millis().min(u64::MAX as u128) as u64),
        )
    }

    /// The time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: UnixMillis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// Maps monotonic instants to wall-clock time from one anchor given at start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    start: Instant,
    unix_start: UnixMillis,
}

impl Clock {
    /// Anchors `start` (monotonic) to `unix_start` (wall clock).
    pub(crate) fn new(start: Instant, unix_start: UnixMillis) -> Clock {
        Clock { start, unix_start }
    }

    /// The wall-clock time at monotonic instant `now` (never before the anchor).
    pub(crate) fn unix(&self, now: Instant) -> UnixMillis {
        self.unix_start
            .plus(now.saturating_duration_since(self.start))
    }
}
