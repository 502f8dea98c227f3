//! [`Limits`]: every protocol tunable of the node in one place (after quinn's
//! `TransportConfig`).
//!
//! Each field documents its default, its unit and its bounds; [`Limits::validate`] (called by
//! [`crate::config::Config::validate`]) refuses values outside them. The defaults are the
//! values the protocol was tuned with; a deployed node rarely needs another, but an operator
//! can set any of them in `[limits]` of `config.toml` (durations are whole seconds, as
//! everywhere in the file).
//!
//! Two of them must agree between peers: `rekey_after_frames` and `rekey_after_bytes` (both
//! ends of a sealed channel rekey at the same frame); leave them at their defaults outside tests.

use std::time::Duration;

/// A configuration value outside its allowed range (returned by `Config::validate` for every
/// key, `[limits]` included).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{key} = {value}: {allowed}")]
#[non_exhaustive]
pub struct RangeError {
    /// The dotted key, e.g. `network.peers.max_connections`.
    pub key: &'static str,
    /// The offending value, printed.
    pub value: String,
    /// What is allowed, in words.
    pub allowed: String,
}

/// The node's protocol tunables; see the module docs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct Limits {
    /// `pex_burst`: `GetPeers` requests a peer may make in a burst (token-bucket size).
    /// Default 3, 1..=1000.
    pub pex_burst: u32,
    /// `pex_refill`: a peer earns one more `GetPeers` request per this interval; also the
    /// period over which PEX strikes are counted. Default 60 s, 1..=86400 s.
    #[serde(with = "secs")]
    pub pex_refill: Duration,
    /// `pex_flood_strikes`: refused PEX messages (requests over the rate limit, unsolicited
    /// answers) within one refill period that count as one protocol violation. Default 5,
    /// 1..=1000.
    pub pex_flood_strikes: u32,
    /// `pex_answer_timeout`: how long an unanswered `GetPeers` stays outstanding. Default
    /// 30 s, 1..=3600 s.
    #[serde(with = "secs")]
    pub pex_answer_timeout: Duration,
    /// `fetch_grace`: how long an address-fetch connection may stay without having asked for
    /// addresses before it is closed. Default 10 s, 1..=3600 s.
    #[serde(with = "secs")]
    pub fetch_grace: Duration,
    /// `max_fetch_slots`: most address-fetch slots (a tenth of `max_connections`, at most
    /// this). Default 8, 0..=1000.
    pub max_fetch_slots: usize,
    /// `auto_ban_window`: window over which automatic bans are counted for self-protection.
    /// Default 60 s, 1..=86400 s.
    #[serde(with = "secs")]
    pub auto_ban_window: Duration,
    /// `auto_ban_spike_percent`: automatic bans pause when more than this percentage of the
    /// connected peers was banned within the window... Default 25 %, 1..=100.
    pub auto_ban_spike_percent: usize,
    /// `auto_ban_spike_min`: ...and more than this many bans happened in it. Default 3,
    /// 0..=10000.
    pub auto_ban_spike_min: usize,
    /// `removed_cooldown`: after an operator's `remove_peer`, the node does not dial that
    /// identity again on its own for this long. Default 3600 s, 0..=2592000 s (30 days).
    #[serde(with = "secs")]
    pub removed_cooldown: Duration,
    /// `max_removed_cooldowns`: most identities remembered as recently removed (the oldest is
    /// forgotten first). Default 1024, 1..=1000000.
    pub max_removed_cooldowns: usize,
    /// `inbound_netgroup_burst`: inbound connection attempts one netgroup may make at once.
    /// Default 32, 1..=100000.
    pub inbound_netgroup_burst: u32,
    /// `inbound_netgroup_refill`: one more inbound attempt per netgroup per this interval.
    /// Default 1 s, 1..=3600 s.
    #[serde(with = "secs")]
    pub inbound_netgroup_refill: Duration,
    /// `max_inbound_netgroups_tracked`: most netgroups the inbound limiter tracks at once.
    /// Default 4096, 1..=1000000.
    pub max_inbound_netgroups_tracked: usize,
    /// `inbound_eviction_protect`: an inbound peer connected for less than this is never
    /// evicted to make room for a newcomer. Default 30 s, 0..=86400 s.
    #[serde(with = "secs")]
    pub inbound_eviction_protect: Duration,
    /// `dial_spare`: dials a node below `min_connections` keeps in flight beyond its
    /// shortfall. Default 2, 0..=64.
    pub dial_spare: usize,
    /// `max_pending_dials`: most outbound connections still connecting at once. Default 64,
    /// 1..=10000.
    pub max_pending_dials: usize,
    /// `maintenance_interval`: interval of the maintenance pass (dials to keep
    /// `min_connections`, PEX rounds, expiry). Default 5 s, 1..=3600 s.
    #[serde(with = "secs")]
    pub maintenance_interval: Duration,
    /// `latency_ewma_div`: smoothing of the latency estimate: each new sample weighs
    /// 1/`latency_ewma_div`. Default 4, 1..=1024.
    pub latency_ewma_div: u32,
    /// `rekey_after_frames`: the sealed channel rekeys after this many frames under one key.
    /// Both peers must agree. Default 2^20, 1..=2^20.
    pub rekey_after_frames: u64,
    /// `rekey_after_bytes`: ...or once this many sealed bytes went under one key. Both peers
    /// must agree. Default 2^30, 1..=2^30.
    pub rekey_after_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            pex_burst: 3,
            pex_refill: Duration::from_secs(60),
            pex_flood_strikes: 5,
            pex_answer_timeout: Duration::from_secs(30),
            fetch_grace: Duration::from_secs(10),
            max_fetch_slots: 8,
            auto_ban_window: Duration::from_secs(60),
            auto_ban_spike_percent: 25,
            auto_ban_spike_min: 3,
            removed_cooldown: Duration::from_secs(3600),
            max_removed_cooldowns: 1024,
            inbound_netgroup_burst: crate::inbound_limit::INBOUND_NETGROUP_BURST,
            inbound_netgroup_refill: crate::inbound_limit::INBOUND_NETGROUP_REFILL,
            max_inbound_netgroups_tracked: crate::inbound_limit::MAX_INBOUND_NETGROUPS_TRACKED,
            inbound_eviction_protect: Duration::from_secs(30),
            dial_spare: 2,
            max_pending_dials: 64,
            maintenance_interval: Duration::from_secs(5),
            latency_ewma_div: 4,
            rekey_after_frames: crate::channel::REKEY_AFTER_FRAMES,
            rekey_after_bytes: crate::channel::REKEY_AFTER_BYTES,
        }
    }
}

/// The bounds of one field, for [`Limits::validate`] and its tests.
enum Bound {
    Count(&'static str, u64, u64, u64),
    Secs(&'static str, Duration, u64, u64),
}

impl Limits {
    /// The sealed channel's rekey limits.
    pub fn rekey(&self) -> crate::channel::RekeyLimits {
        crate::channel::RekeyLimits {
            frames: self.rekey_after_frames,
            bytes: self.rekey_after_bytes,
        }
    }

    fn bounds(&self) -> [Bound; 21] {
        use Bound::{Count, Secs};
        let n = |v: usize| v as u64;
        [
            Count("limits.pex_burst", self.pex_burst.into(), 1, 1000),
            Secs("limits.pex_refill", self.pex_refill, 1, 86_400),
            Count(
                "limits.pex_flood_strikes",
                self.pex_flood_strikes.into(),
                1,
                1000,
            ),
            Secs(
                "limits.pex_answer_timeout",
                self.pex_answer_timeout,
                1,
                3600,
            ),
            Secs("limits.fetch_grace", self.fetch_grace, 1, 3600),
            Count("limits.max_fetch_slots", n(self.max_fetch_slots), 0, 1000),
            Secs("limits.auto_ban_window", self.auto_ban_window, 1, 86_400),
            Count(
                "limits.auto_ban_spike_percent",
                n(self.auto_ban_spike_percent),
                1,
                100,
            ),
            Count(
                "limits.auto_ban_spike_min",
                n(self.auto_ban_spike_min),
                0,
                10_000,
            ),
            Secs(
                "limits.removed_cooldown",
                self.removed_cooldown,
                0,
                30 * 86_400,
            ),
            Count(
                "limits.max_removed_cooldowns",
                n(self.max_removed_cooldowns),
                1,
                1_000_000,
            ),
            Count(
                "limits.inbound_netgroup_burst",
                self.inbound_netgroup_burst.into(),
                1,
                100_000,
            ),
            Secs(
                "limits.inbound_netgroup_refill",
                self.inbound_netgroup_refill,
                1,
                3600,
            ),
            Count(
                "limits.max_inbound_netgroups_tracked",
                n(self.max_inbound_netgroups_tracked),
                1,
                1_000_000,
            ),
            Secs(
                "limits.inbound_eviction_protect",
                self.inbound_eviction_protect,
                0,
                86_400,
            ),
            Count("limits.dial_spare", n(self.dial_spare), 0, 64),
            Count(
                "limits.max_pending_dials",
                n(self.max_pending_dials),
                1,
                10_000,
            ),
            Secs(
                "limits.maintenance_interval",
                self.maintenance_interval,
                1,
                3600,
            ),
            Count(
                "limits.latency_ewma_div",
                self.latency_ewma_div.into(),
                1,
                1024,
            ),
            Count(
                "limits.rekey_after_frames",
                self.rekey_after_frames,
                1,
                crate::channel::REKEY_AFTER_FRAMES,
            ),
            Count(
                "limits.rekey_after_bytes",
                self.rekey_after_bytes,
                1,
                crate::channel::REKEY_AFTER_BYTES,
            ),
        ]
    }

    /// Checks every bound; the first violation is returned.
    pub fn validate(&self) -> Result<(), RangeError> {
        for b in self.bounds() {
            match b {
                Bound::Count(key, v, lo, hi) if v < lo || v > hi => {
                    return Err(RangeError {
                        key,
                        value: v.to_string(),
                        allowed: format!("must be between {lo} and {hi}"),
                    });
                }
                // Whole seconds in the file; a fraction (only settable in code) is refused.
                Bound::Secs(key, d, lo, hi)
                    if d.subsec_nanos() != 0 || d.as_secs() < lo || d.as_secs() > hi =>
                {
                    return Err(RangeError {
                        key,
                        value: format!("{}", d.as_secs_f64()),
                        allowed: format!("must be a whole number of seconds between {lo} and {hi}"),
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A `Duration` as whole seconds (the file's representation of every duration).
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_secs)
    }
}

#[cfg(test)]
mod tests {
    use super::{Bound, Limits};
    use std::time::Duration;

    #[test]
    fn defaults_are_valid_and_match_the_old_constants() {
        let l = Limits::default();
        l.validate().unwrap();
        assert_eq!(l.pex_burst, 3);
        assert_eq!(l.pex_refill, Duration::from_secs(60));
        assert_eq!(l.max_pending_dials, 64);
        assert_eq!(l.max_fetch_slots, 8);
        assert_eq!(l.inbound_netgroup_burst, 32);
        assert_eq!(l.rekey(), crate::channel::RekeyLimits::default());
    }

    /// Sets the field named `key` to `v` (seconds for durations).
    fn set(l: &mut Limits, key: &str, v: u64) {
        let d = Duration::from_secs(v);
        let u = v as usize;
        let w = u32::try_from(v).unwrap_or(u32::MAX);
        match key.trim_start_matches("limits.") {
            "pex_burst" => l.pex_burst = w,
            "pex_refill" => l.pex_refill = d,
            "pex_flood_strikes" => l.pex_flood_strikes = w,
            "pex_answer_timeout" => l.pex_answer_timeout = d,
            "fetch_grace" => l.fetch_grace = d,
            "max_fetch_slots" => l.max_fetch_slots = u,
            "auto_ban_window" => l.auto_ban_window = d,
            "auto_ban_spike_percent" => l.auto_ban_spike_percent = u,
            "auto_ban_spike_min" => l.auto_ban_spike_min = u,
            "removed_cooldown" => l.removed_cooldown = d,
            "max_removed_cooldowns" => l.max_removed_cooldowns = u,
            "inbound_netgroup_burst" => l.inbound_netgroup_burst = w,
            "inbound_netgroup_refill" => l.inbound_netgroup_refill = d,
            "max_inbound_netgroups_tracked" => l.max_inbound_netgroups_tracked = u,
            "inbound_eviction_protect" => l.inbound_eviction_protect = d,
            "dial_spare" => l.dial_spare = u,
            "max_pending_dials" => l.max_pending_dials = u,
            "maintenance_interval" => l.maintenance_interval = d,
            "latency_ewma_div" => l.latency_ewma_div = w,
            "rekey_after_frames" => l.rekey_after_frames = v,
            "rekey_after_bytes" => l.rekey_after_bytes = v,
            other => panic!("no field {other}"),
        }
    }

    /// Every bound: the value at it is accepted, one past it refused with that key.
    #[test]
    fn each_bound_is_inclusive() {
        for b in Limits::default().bounds() {
            let (key, lo, hi) = match b {
                Bound::Count(k, _, lo, hi) | Bound::Secs(k, _, lo, hi) => (k, lo, hi),
            };
            for ok in [lo, hi] {
                let mut l = Limits::default();
                set(&mut l, key, ok);
                assert_eq!(l.validate(), Ok(()), "{key} = {ok}");
            }
            let mut past = vec![hi + 1];
            if lo > 0 {
                past.push(lo - 1);
            }
            for bad in past {
                let mut l = Limits::default();
                set(&mut l, key, bad);
                let e = l.validate().expect_err(key);
                assert_eq!(e.key, key, "{key} = {bad}");
            }
        }
    }

    #[test]
    fn a_fraction_of_a_second_is_refused() {
        let l = Limits {
            pex_refill: Duration::from_millis(1500),
            ..Limits::default()
        };
        assert_eq!(l.validate().unwrap_err().key, "limits.pex_refill");
    }

    /// Through a self-describing format (CBOR here; TOML in the CLI behaves alike).
    fn from_map(pairs: &[(&str, u64)]) -> Result<Limits, String> {
        let m: std::collections::BTreeMap<&str, u64> = pairs.iter().copied().collect();
        let mut bytes = Vec::new();
        ciborium::into_writer(&m, &mut bytes).map_err(|e| e.to_string())?;
        ciborium::from_reader(&bytes[..]).map_err(|e| e.to_string())
    }

    #[test]
    fn serde_uses_whole_seconds_and_refuses_unknown_keys() {
        let l = from_map(&[("pex_burst", 7), ("pex_refill", 90)]).unwrap();
        assert_eq!(l.pex_burst, 7);
        assert_eq!(l.pex_refill, Duration::from_secs(90));
        assert_eq!(l.dial_spare, Limits::default().dial_spare);
        assert!(from_map(&[("pex_brust", 7)]).is_err());
        let mut bytes = Vec::new();
        ciborium::into_writer(&l, &mut bytes).unwrap();
        let back: Limits = ciborium::from_reader(&bytes[..]).unwrap();
        assert_eq!(back, l);
    }
}
