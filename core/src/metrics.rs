//! Metrics as plain data: counters the node bumps as things happen, and a snapshot that adds
//! the gauges computed from its state. No metrics library here: the CLI exports a snapshot in
//! the Prometheus text format, the dashboard reads it as JSON.
//!
//! Everything of spec section 9's `PeerMetrics` is here (total and connected peers,
//! connections and disconnections, handshake failures, latency, reputation distribution,
//! messages per peer), plus bytes per peer, dial outcomes, PEX and DNS traffic, bans by origin,
//! and the netgroup concentration of connected peers — the eclipse-risk gauge: a node whose
//! peers all sit in one or two netgroups is easy to isolate.

use std::collections::BTreeMap;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets; a last `+Inf` bucket is implied.
pub(crate) const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// A histogram with fixed buckets (Prometheus semantics: `counts[i]` counts observations
/// `≤ bounds[i]`, not cumulative here; the exporter accumulates).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Histogram {
    /// Bucket upper bounds.
    pub bounds: Vec<f64>,
    /// Observations per bucket; one more than `bounds` (the last is `+Inf`).
    pub counts: Vec<u64>,
    /// Sum of all observations.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// An empty histogram over `bounds` (ascending).
    pub fn new(bounds: &[f64]) -> Histogram {
        Histogram {
            bounds: bounds.to_vec(),
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    /// Records one observation.
    pub fn observe(&mut self, v: f64) {
        let i = self
            .bounds
            .iter()
            .position(|b| v <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i] += 1;
        self.sum += v;
        self.count += 1;
    }
}

/// Counters the node keeps (monotonic since start).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Counters {
    /// Handshakes completed, by direction (`inbound`, `outbound`).
    pub connections: BTreeMap<&'static str, u64>,
    /// Handshakes completed, by transport (`tcp`, `quic`).
    pub connections_by_transport: BTreeMap<&'static str, u64>,
    /// Connected peers that went away, by disconnect reason.
    pub disconnections: BTreeMap<&'static str, u64>,
    /// Connections that ended before the handshake completed, by cause.
    pub handshake_failures: BTreeMap<&'static str, u64>,
    /// Inbound connections refused before any handshake, by reason: the disconnect reason
    /// (`connection_limit_reached`, `banned`, `shutdown`) or `netgroup_rate_limited` (too many
    /// attempts from one netgroup, [`crate::inbound_limit`]).
    pub inbound_refused: BTreeMap<&'static str, u64>,
    /// Outbound dials started.
    pub dials: u64,
    /// Outbound dial outcomes: `connected`, `connect_failed`, `timeout`, `handshake_failed`,
    /// `refused` (the peer said why), `other`.
    pub dial_outcomes: BTreeMap<&'static str, u64>,
    /// `GetPeers` we sent.
    pub pex_requests_sent: u64,
    /// `GetPeers` we received.
    pub pex_requests_received: u64,
    /// `Peers` answers we sent.
    pub pex_answers_sent: u64,
    /// `Peers` answers we accepted.
    pub pex_answers_received: u64,
    /// PEX messages refused (over the rate limit, unsolicited).
    pub pex_refused: u64,
    /// Addresses learned from PEX answers.
    pub pex_addresses_added: u64,
    /// DNS queries sent (retries included).
    pub dns_queries: u64,
    /// DNS questions that failed (NXDOMAIN, SERVFAIL, no answer…).
    pub dns_failures: u64,
    /// Bans added, by origin (`operator`, `automatic`).
    pub bans: BTreeMap<&'static str, u64>,
    /// Round-trip times from Ping/Pong, seconds.
    pub latency: Histogram,
    /// Frames sent by connections that have ended (live ones are in the snapshot's peers).
    pub closed_messages: u64,
    /// Bytes sent and received by connections that have ended.
    pub closed_bytes: u64,
}

impl Default for Counters {
    fn default() -> Self {
        Counters {
            connections: BTreeMap::new(),
            connections_by_transport: BTreeMap::new(),
            disconnections: BTreeMap::new(),
            handshake_failures: BTreeMap::new(),
            inbound_refused: BTreeMap::new(),
            dials: 0,
            dial_outcomes: BTreeMap::new(),
            pex_requests_sent: 0,
            pex_requests_received: 0,
            pex_answers_sent: 0,
            pex_answers_received: 0,
            pex_refused: 0,
            pex_addresses_added: 0,
            dns_queries: 0,
            dns_failures: 0,
            bans: BTreeMap::new(),
            latency: Histogram::new(&LATENCY_BUCKETS),
            closed_messages: 0,
            closed_bytes: 0,
        }
    }
}

/// Adds one to a labelled counter.
pub(crate) fn bump(map: &mut BTreeMap<&'static str, u64>, label: &'static str) {
    *map.entry(label).or_insert(0) += 1;
}

/// Per-peer figures for the snapshot.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct PeerFigures {
    /// The peer's id (hex).
    pub id: String,
    /// Its netgroup.
    pub netgroup: String,
    /// Frames sent plus received.
    pub messages: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Smoothed round-trip time, seconds.
    pub latency_seconds: Option<f64>,
    /// Reputation total.
    pub reputation: u32,
}

/// How concentrated the connected peers are across netgroups.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct Concentration {
    /// Connected peers per netgroup.
    pub per_netgroup: BTreeMap<String, usize>,
    /// Herfindahl–Hirschman index of the netgroup shares, 0..=1: 1 means every peer is in one
    /// netgroup (easy to eclipse), 1/n means n equally used netgroups.
    pub hhi: f64,
    /// Shannon entropy of the shares, in bits (higher is more spread).
    pub entropy_bits: f64,
}

impl Concentration {
    /// Computes the figures from netgroup labels, one per connected peer.
    pub fn from_groups<'a>(groups: impl IntoIterator<Item = &'a str>) -> Concentration {
        let mut per_netgroup: BTreeMap<String, usize> = BTreeMap::new();
        for g in groups {
            *per_netgroup.entry(g.to_string()).or_insert(0) += 1;
        }
        let n: usize = per_netgroup.values().sum();
        let (mut hhi, mut entropy_bits) = (0.0, 0.0);
        if n > 0 {
            for &c in per_netgroup.values() {
                let p = c as f64 / n as f64;
                hhi += p * p;
                entropy_bits -= p * p.log2();
            }
        }
        Concentration {
            per_netgroup,
            hhi,
            entropy_bits,
        }
    }
}

/// Everything at one instant: the counters plus gauges computed from the node's state.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[non_exhaustive]
pub struct MetricsSnapshot {
    /// Live connections in any state.
    pub total_peers: usize,
    /// Connections by state (`connecting`, `handshaking`, `connected`).
    pub peers_by_status: BTreeMap<&'static str, usize>,
    /// Connected peers by direction.
    pub connected_by_direction: BTreeMap<&'static str, usize>,
    /// Addresses in the book.
    pub known_addresses: usize,
    /// Netgroups the per-netgroup inbound limit tracks (bounded by
    /// [`crate::inbound_limit::MAX_INBOUND_NETGROUPS_TRACKED`]).
    pub inbound_netgroups_tracked: usize,
    /// Bytes of partial frames buffered across all connections (at most one frame each).
    pub buffered_bytes: usize,
    /// Active bans.
    pub active_bans: usize,
    /// Connected peers per reputation decile (`0-9`, `10-19`, … `90-100`).
    pub reputation_distribution: BTreeMap<&'static str, usize>,
    /// Per connected peer.
    pub peers: Vec<PeerFigures>,
    /// Netgroup concentration of connected peers.
    pub concentration: Concentration,
    /// The counters.
    pub counters: Counters,
}

/// The decile label of a reputation total.
pub(crate) fn reputation_bucket(total: u32) -> &'static str {
    const LABELS: [&str; 10] = [
        "0-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90-100",
    ];
    LABELS[(total.min(100) as usize / 10).min(9)]
}

/// Seconds as `f64`.
#[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let mut h = Histogram::new(&[0.01, 0.1]);
        for v in [0.005, 0.01, 0.05, 5.0] {
            h.observe(v);
        }
        assert_eq!(h.counts, vec![2, 1, 1]);
        assert_eq!(h.count, 4);
        assert!((h.sum - 5.065).abs() < 1e-9);
    }

    #[test]
    fn concentration_figures() {
        let one = Concentration::from_groups(["a", "a", "a", "a"]);
        assert_eq!(one.hhi, 1.0);
        assert_eq!(one.entropy_bits, 0.0);
        let four = Concentration::from_groups(["a", "b", "c", "d"]);
        assert!((four.hhi - 0.25).abs() < 1e-12);
        assert!((four.entropy_bits - 2.0).abs() < 1e-12);
        let none = Concentration::from_groups([]);
        assert_eq!((none.hhi, none.entropy_bits), (0.0, 0.0));
        assert_eq!(reputation_bucket(0), "0-9");
        assert_eq!(reputation_bucket(100), "90-100");
        assert_eq!(reputation_bucket(55), "50-59");
    }
}
