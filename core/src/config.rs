//! Node configuration: every key of the spec's section 8 plus the few the implementation needs.
//!
//! The core takes the parsed [`Config`]; reading `~/.qudag/config.toml` from disk is the CLI's
//! job. Durations are whole seconds in the file. Every field documents its default; every
//! limit is checked by [`Config::validate`].

use std::net::SocketAddr;
use std::time::Duration;

/// The hard-coded bootstrap nodes, used when the configuration lists none (spec section 8).
pub const DEFAULT_BOOTSTRAP_NODES: [&str; 3] = [
    "bootstrap1.qudag.network:8000",
    "bootstrap2.qudag.network:8000",
    "bootstrap3.qudag.network:8000",
];

/// The default DNS seeds (spec section 8).
pub const DEFAULT_DNS_SEEDS: [&str; 2] = ["seed.qudag.network", "nodes.qudag.network"];

/// The default listen address, `0.0.0.0:8000`.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8000";

/// The largest `max_connections` accepted (a bound on per-node memory).
pub const MAX_MAX_CONNECTIONS: usize = 10_000;

/// The whole configuration.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `[network]`.
    pub network: NetworkConfig,
}

/// `[network]`: transport, discovery and reputation settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// `listen`: the address to accept connections on and to advertise. Default `0.0.0.0:8000`.
    pub listen: SocketAddr,
    /// `dns_resolver`: the DNS server for seeds and hostnames; `None` = the system resolver
    /// (the adapter reads the first nameserver of `/etc/resolv.conf`).
    pub dns_resolver: Option<SocketAddr>,
    /// `proxy`: a SOCKS5 proxy (`host:port`) for `.onion` addresses. Default none.
    pub proxy: Option<SocketAddr>,
    /// `proxy_all`: send every outbound dial through `proxy`. Default false.
    pub proxy_all: bool,
    /// `allow_private_addresses`: accept private/loopback addresses from PEX and DNS even when
    /// the listen address is public. Default false.
    pub allow_private_addresses: bool,
    /// `[network.peers]`.
    pub peers: PeersConfig,
    /// `[network.reputation]`.
    pub reputation: ReputationConfig,
}

/// `[network.peers]`: connection management and discovery.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct PeersConfig {
    /// `max_connections`: inbound + outbound, counting handshakes in progress. Default 50, 1..=10,000.
    pub max_connections: usize,
    /// `min_connections`: below this the node dials more. Default 5, at most `max_connections`.
    pub min_connections: usize,
    /// `connection_timeout`: seconds a TCP connect may take. Default 10.
    pub connection_timeout: Duration,
    /// `handshake_timeout`: seconds from connect to a verified handshake. Default 5.
    pub handshake_timeout: Duration,
    /// `discovery_interval`: seconds between PEX rounds and DNS refreshes. Default 300.
    pub discovery_interval: Duration,
    /// `bootstrap_nodes`: addresses in any format of the address parser. Default: spec's three hosts.
    pub bootstrap_nodes: Vec<String>,
    /// `use_default_bootstrap`: fall back to [`DEFAULT_BOOTSTRAP_NODES`] when `bootstrap_nodes`
    /// is empty. Default true; tests and private networks turn it off.
    pub use_default_bootstrap: bool,
    /// `dns_seeds`: names whose TXT records list peer addresses. Default: spec's two names.
    pub dns_seeds: Vec<String>,
    /// `ping_interval`: seconds between keep-alive pings on a quiet connection. Default 30.
    pub ping_interval: Duration,
    /// `inactivity_timeout`: seconds without any frame before disconnecting with
    /// `InactivityTimeout`. Default 90; must exceed `ping_interval`.
    pub inactivity_timeout: Duration,
    /// `disconnect_timeout`: seconds to wait for a `DisconnectAck` before closing. Default 5.
    pub disconnect_timeout: Duration,
    /// `max_clock_skew`: seconds a handshake timestamp may differ from our clock. Default 300.
    pub max_clock_skew: Duration,
}

/// `[network.reputation]`: thresholds and decay (spec 5.3 and 8).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReputationConfig {
    /// `min_relay_reputation`: below this, no relaying and no PEX sharing. Default 30.
    pub min_relay_reputation: u32,
    /// `min_consensus_reputation`: below this, not offered as a consensus peer. Default 50.
    pub min_consensus_reputation: u32,
    /// `auto_disconnect_threshold`: below this, disconnected. Default 20.
    pub auto_disconnect_threshold: u32,
    /// `auto_ban_threshold`: below this, banned. Default 10.
    pub auto_ban_threshold: u32,
    /// `decay_rate`: fraction of the distance to neutral recovered per day. Default 0.1, 0..=1.
    pub decay_rate: f64,
    /// `ban_duration`: seconds an automatic ban lasts. Default 86,400 (24 h).
    pub ban_duration: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            network: NetworkConfig::default(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
            dns_resolver: None,
            proxy: None,
            proxy_all: false,
            allow_private_addresses: false,
            peers: PeersConfig::default(),
            reputation: ReputationConfig::default(),
        }
    }
}

impl Default for PeersConfig {
    fn default() -> Self {
        PeersConfig {
            max_connections: 50,
            min_connections: 5,
            connection_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(5),
            discovery_interval: Duration::from_secs(300),
            bootstrap_nodes: DEFAULT_BOOTSTRAP_NODES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            use_default_bootstrap: true,
            dns_seeds: DEFAULT_DNS_SEEDS.iter().map(|s| s.to_string()).collect(),
            ping_interval: Duration::from_secs(30),
            inactivity_timeout: Duration::from_secs(90),
            disconnect_timeout: Duration::from_secs(5),
            max_clock_skew: Duration::from_secs(300),
        }
    }
}

impl Default for ReputationConfig {
    fn default() -> Self {
        ReputationConfig {
            min_relay_reputation: 30,
            min_consensus_reputation: 50,
            auto_disconnect_threshold: 20,
            auto_ban_threshold: 10,
            decay_rate: 0.1,
            ban_duration: Duration::from_secs(86_400),
        }
    }
}

/// A configuration value outside its allowed range.
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

impl Config {
    /// A configuration for tests and local networks: no default bootstrap nodes, no DNS seeds.
    pub fn local(listen: SocketAddr) -> Config {
        let mut c = Config::default();
        c.network.listen = listen;
        c.network.peers.bootstrap_nodes.clear();
        c.network.peers.use_default_bootstrap = false;
        c.network.peers.dns_seeds.clear();
        c
    }

    /// Checks every range rule; the first violation is returned.
    pub fn validate(&self) -> Result<(), RangeError> {
        let p = &self.network.peers;
        let r = &self.network.reputation;
        let err = |key, value: String, allowed: &str| {
            Err(RangeError {
                key,
                value,
                allowed: allowed.to_string(),
            })
        };
        if p.max_connections == 0 || p.max_connections > MAX_MAX_CONNECTIONS {
            return err(
                "network.peers.max_connections",
                p.max_connections.to_string(),
                "must be between 1 and 10000",
            );
        }
        if p.min_connections > p.max_connections {
            return err(
                "network.peers.min_connections",
                p.min_connections.to_string(),
                "must be at most max_connections",
            );
        }
        for (key, d) in [
            ("network.peers.connection_timeout", p.connection_timeout),
            ("network.peers.handshake_timeout", p.handshake_timeout),
            ("network.peers.discovery_interval", p.discovery_interval),
            ("network.peers.ping_interval", p.ping_interval),
            ("network.peers.disconnect_timeout", p.disconnect_timeout),
        ] {
            if d.is_zero() || d > Duration::from_secs(86_400) {
                return err(
                    key,
                    d.as_secs().to_string(),
                    "must be between 1 and 86400 seconds",
                );
            }
        }
        if p.inactivity_timeout <= p.ping_interval {
            return err(
                "network.peers.inactivity_timeout",
                p.inactivity_timeout.as_secs().to_string(),
                "must be greater than ping_interval",
            );
        }
        for (key, v) in [
            (
                "network.reputation.min_relay_reputation",
                r.min_relay_reputation,
            ),
            (
                "network.reputation.min_consensus_reputation",
                r.min_consensus_reputation,
            ),
            (
                "network.reputation.auto_disconnect_threshold",
                r.auto_disconnect_threshold,
            ),
            (
                "network.reputation.auto_ban_threshold",
                r.auto_ban_threshold,
            ),
        ] {
            if v > 100 {
                return err(key, v.to_string(), "must be between 0 and 100");
            }
        }
        if r.auto_ban_threshold > r.auto_disconnect_threshold {
            return err(
                "network.reputation.auto_ban_threshold",
                r.auto_ban_threshold.to_string(),
                "must be at most auto_disconnect_threshold",
            );
        }
        if !(0.0..=1.0).contains(&r.decay_rate) || r.decay_rate.is_nan() {
            return err(
                "network.reputation.decay_rate",
                r.decay_rate.to_string(),
                "must be between 0.0 and 1.0",
            );
        }
        Ok(())
    }
}
