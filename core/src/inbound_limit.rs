//! A per-netgroup limit on inbound connection attempts: thousands of attempts from one
//! netgroup must not starve the others of pool slots and handshake work.
//!
//! Every inbound connection starts a handshake (a signature to make and, later, one to
//! verify) and holds a pool slot until the handshake completes or times out. [`InboundLimiter`]
//! keeps one token bucket per netgroup of the remote address ([`crate::addr::netgroup`]: a /16
//! for IPv4, a /32 for IPv6, and each loopback address on its own): a netgroup may make
//! [`INBOUND_NETGROUP_BURST`] attempts at once, then one per [`INBOUND_NETGROUP_REFILL`]. An
//! attempt without a token is refused at `accept`, before any handshake work, with
//! `ConnectionLimitReached` on the wire and the metrics label [`RATE_LIMITED_LABEL`].
//!
//! The table itself is bounded ([`MAX_INBOUND_NETGROUPS_TRACKED`]): a bucket that has refilled
//! is the same as no bucket, so full buckets are dropped first ([`InboundLimiter::prune`], also
//! run by the node's maintenance); if every tracked netgroup is still short of tokens, the one
//! with the most tokens (the least recently limited) makes room. Pure: time is passed in.
//!
//! Loopback: every `127.x.y.z` address is a netgroup of its own, so local testnets whose
//! nodes use distinct loopback addresses are never limited by each other; nodes sharing
//! `127.0.0.1` share one bucket, whose burst (32) covers a local testnet of that size.

use crate::addr::NetGroup;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Inbound connection attempts one netgroup may make at once (the bucket size).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const INBOUND_NETGROUP_BURST: u32 = 32;

/// One more inbound attempt per netgroup is allowed per this interval (sustained rate).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const INBOUND_NETGROUP_REFILL: Duration = Duration::from_secs(1);

/// The most netgroups tracked at once (a bound on the limiter's memory).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_INBOUND_NETGROUPS_TRACKED: usize = 4096;

/// The `inbound_refused` metrics label of an attempt refused by this limit.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const RATE_LIMITED_LABEL: &str = "netgroup_rate_limited";

/// One netgroup's bucket.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: u32,
    /// When the last whole token was added (or the bucket became full).
    refilled_at: Instant,
}

/// Token buckets per netgroup of inbound attempts; see the module docs.
#[derive(Clone, Debug)]
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub struct InboundLimiter {
    burst: u32,
    refill: Duration,
    max_tracked: usize,
    buckets: BTreeMap<NetGroup, Bucket>,
}

impl Default for InboundLimiter {
    fn default() -> Self {
        InboundLimiter::new(
            INBOUND_NETGROUP_BURST,
            INBOUND_NETGROUP_REFILL,
            MAX_INBOUND_NETGROUPS_TRACKED,
        )
    }
}

impl InboundLimiter {
    /// A limiter allowing `burst` attempts at once per netgroup and one more per `refill`,
    /// tracking at most `max_tracked` netgroups (each at least 1).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn new(burst: u32, refill: Duration, max_tracked: usize) -> InboundLimiter {
        InboundLimiter {
            burst: burst.max(1),
            refill: refill.max(Duration::from_millis(1)),
            max_tracked: max_tracked.max(1),
            buckets: BTreeMap::new(),
        }
    }

    /// The bucket's tokens at `now` (refilled, not stored).
    fn refilled(&self, b: Bucket, now: Instant) -> Bucket {
        let elapsed = now.saturating_duration_since(b.refilled_at);
        let periods = elapsed.as_nanos() / self.refill.as_nanos();
        let tokens = (b.tokens as u128 + periods).min(self.burst as u128) as u32;
        let refilled_at = if tokens >= self.burst {
            now.max(b.refilled_at)
        } else {
            // Keep the remainder of a period; periods < burst here, so this fits.
            b.refilled_at + self.refill * periods as u32
        };
        Bucket {
            tokens,
            refilled_at,
        }
    }

    /// Takes one token for an attempt from `group` at `now`; false means refuse it.
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn try_acquire(&mut self, group: NetGroup, now: Instant) -> bool {
        let bucket = match self.buckets.get(&group) {
            Some(b) => self.refilled(*b, now),
            None => {
                self.make_room(now);
                Bucket {
                    tokens: self.burst,
                    refilled_at: now,
                }
            }
        };
        let allowed = bucket.tokens > 0;
        let tokens = bucket.tokens.saturating_sub(1);
        self.buckets.insert(group, Bucket { tokens, ..bucket });
        allowed
    }

    /// Ensures there is room for one more netgroup.
    fn make_room(&mut self, now: Instant) {
        if self.buckets.len() < self.max_tracked {
            return;
        }
        self.prune(now);
        if self.buckets.len() < self.max_tracked {
            return;
        }
        // Every tracked netgroup is short of tokens: forget the one with the most.
        let victim = self
            .buckets
            .iter()
            .max_by_key(|(_, b)| self.refilled(**b, now).tokens)
            .map(|(g, _)| g.clone());
        if let Some(g) = victim {
            self.buckets.remove(&g);
        }
    }

    /// Drops the buckets that have refilled completely (the same as untracked).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn prune(&mut self, now: Instant) {
        let (burst, refill) = (self.burst, self.refill);
        let full_after = refill.saturating_mul(burst);
        self.buckets.retain(|_, b| {
            // A bucket is full once enough periods have passed even from zero tokens; the exact
            // check covers partial buckets.
            let elapsed = now.saturating_duration_since(b.refilled_at);
            elapsed < full_after
                && (b.tokens as u128 + elapsed.as_nanos() / refill.as_nanos()) < burst as u128
        });
    }

    /// Netgroups tracked now (at most [`MAX_INBOUND_NETGROUPS_TRACKED`] for the default).
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Tokens `group` has at `now` (the burst for an untracked netgroup).
    #[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
    #[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
    pub fn tokens(&self, group: &NetGroup, now: Instant) -> u32 {
        self.buckets
            .get(group)
            .map_or(self.burst, |b| self.refilled(*b, now).tokens)
    }
}
