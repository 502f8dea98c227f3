//! Node configuration: every key of the spec's section 8 plus the few the implementation needs.
//!
//! The core takes a [`Config`] value; reading `~/.qudag/config.toml` from disk, with line
//! numbers and key suggestions in its errors, is the CLI's job (`cli/src/config_file.rs`). The
//! types here are plain serde-derived structs in the file's shape: a section is a struct, a key
//! a field (its serde name); missing keys take their defaults; unknown keys inside a section
//! are rejected (`deny_unknown_fields`). `Config` itself accepts other top-level sections so an
//! application can keep its own (the CLI's `[metrics]`). Durations are whole seconds; an
//! optional address or string written as `""` means none. Every field documents its default;
//! every limit is checked by [`Config::validate`].

use core::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The hard-coded bootstrap nodes, used when the configuration lists none (spec section 8).
pub const DEFAULT_BOOTSTRAP_NODES: [&str; 3] = [
    "bootstrap1.qudag.network:8000",
    "bootstrap2.qudag.network:8000",
    "bootstrap3.qudag.network:8000",
];

/// The default DNS seeds (spec section 8).
pub const DEFAULT_DNS_SEEDS: [&str; 2] = ["seed.qudag.network", "nodes.qudag.network"];

/// The default listen address, `0.0.0.0:8000`.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8000";

/// The largest `max_connections` accepted (a bound on per-node memory).
pub const MAX_MAX_CONNECTIONS: usize = 10_000;

/// The most entries `bootstrap_nodes` or `dns_seeds` may list (checked while deserializing).
pub const MAX_CONFIG_LIST_LEN: usize = 1024;

/// What error messages show instead of the proxy password.
const HIDDEN: &str = "<hidden>";

/// The whole configuration. Top-level sections the core does not know are ignored (left to the
/// application, e.g. the CLI's `[metrics]`); unknown keys inside a section are errors.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Config {
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[limits]`: the protocol tunables, each with its default and bounds
    /// (see [`crate::limits::Limits`]). Every key may be left out.
    pub limits: crate::limits::Limits,
}

/// `[network]`: transport, discovery and reputation settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// `listen`: the address to accept connections on and to advertise. Default `0.0.0.0:8000`.
    #[serde(with = "fields::socket")]
    pub listen: SocketAddr,
    /// `quic_listen`: a UDP address to accept QUIC connections on as well (and to advertise in
    /// the handshake as `quic://ip:port`). Default none: no QUIC listener (the node can still
    /// dial `quic://` addresses).
    #[serde(with = "fields::opt_socket")]
    pub quic_listen: Option<SocketAddr>,
    /// `dns_resolver`: the DNS server for seeds and hostnames; `None` = the system resolver
    /// (the adapter reads the first nameserver of `/etc/resolv.conf`). The port may be left out
    /// in the file (53).
    #[serde(with = "fields::opt_socket_port53")]
    pub dns_resolver: Option<SocketAddr>,
    /// `proxy`: a SOCKS5 proxy (`host:port`) for `.onion` addresses. Default none.
    #[serde(with = "fields::opt_socket")]
    pub proxy: Option<SocketAddr>,
    /// `proxy_all`: send every outbound dial through `proxy`. Default false.
    pub proxy_all: bool,
    /// `proxy_username`: the username for the proxy's username/password authentication
    /// (RFC 1929), 1–255 bytes; set together with `proxy_password`. Default none (the proxy
    /// is offered "no authentication" only).
    #[serde(with = "fields::opt_string")]
    pub proxy_username: Option<String>,
    /// `proxy_password`: the password going with `proxy_username`, 1–255 bytes. Default none.
    #[serde(with = "fields::opt_string")]
    pub proxy_password: Option<String>,
    /// `allow_private_addresses`: accept private/loopback addresses from PEX and DNS even when
    /// the listen address is public. Default false.
    pub allow_private_addresses: bool,
    /// `[network.peers]`.
    pub peers: PeersConfig,
    /// `[network.reputation]`.
    pub reputation: ReputationConfig,
}

/// `[network.peers]`: connection management and discovery.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct PeersConfig {
    /// `max_connections`: inbound + outbound, counting handshakes in progress. Default 50, 1..=10,000.
    pub max_connections: usize,
    /// `min_connections`: below this the node dials more. Default 5, at most `max_connections`.
    pub min_connections: usize,
    /// `connection_timeout`: seconds a TCP connect may take. Default 10.
    #[serde(with = "fields::secs")]
    pub connection_timeout: Duration,
    /// `handshake_timeout`: seconds from connect to a verified handshake. Default 5.
    #[serde(with = "fields::secs")]
    pub handshake_timeout: Duration,
    /// `discovery_interval`: seconds between PEX rounds and DNS refreshes. Default 300.
    #[serde(with = "fields::secs")]
    pub discovery_interval: Duration,
    /// `bootstrap_nodes`: addresses in any format of the address parser. Default: spec's three hosts.
    #[serde(with = "fields::list")]
    pub bootstrap_nodes: Vec<String>,
    /// `use_default_bootstrap`: fall back to [`DEFAULT_BOOTSTRAP_NODES`] when `bootstrap_nodes`
    /// is empty. Default true; tests and private networks turn it off.
    pub use_default_bootstrap: bool,
    /// `dns_seeds`: names whose TXT records list peer addresses. Default: spec's two names.
    #[serde(with = "fields::list")]
    pub dns_seeds: Vec<String>,
    /// `ping_interval`: seconds between keep-alive pings on a quiet connection. Default 30.
    #[serde(with = "fields::secs")]
    pub ping_interval: Duration,
    /// `inactivity_timeout`: seconds without any frame before disconnecting with
    /// `InactivityTimeout`. Default 90; must exceed `ping_interval`.
    #[serde(with = "fields::secs")]
    pub inactivity_timeout: Duration,
    /// `disconnect_timeout`: seconds to wait for a `DisconnectAck` before closing. Default 5.
    #[serde(with = "fields::secs")]
    pub disconnect_timeout: Duration,
    /// `max_clock_skew`: seconds a handshake timestamp may differ from our clock. Default 300.
    #[serde(with = "fields::secs")]
    pub max_clock_skew: Duration,
}

/// `[network.reputation]`: thresholds and decay (spec 5.3 and 8).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
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
    #[serde(with = "fields::secs")]
    pub ban_duration: Duration,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: DEFAULT_LISTEN.parse().expect("constant address parses"),
            quic_listen: None,
            dns_resolver: None,
            proxy: None,
            proxy_all: false,
            proxy_username: None,
            proxy_password: None,
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

// Defined with the limits (a leaf module), so that `limits` need not import `config`.
pub use crate::limits::RangeError;

impl NetworkConfig {
    /// The proxy credentials, when both `proxy_username` and `proxy_password` are set.
    pub fn proxy_credentials(&self) -> Option<crate::socks5::Credentials> {
        match (&self.proxy_username, &self.proxy_password) {
            (Some(username), Some(password)) => Some(crate::socks5::Credentials {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        }
    }
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
        let n = &self.network;
        for (key, v, value) in [
            (
                "network.proxy_username",
                &n.proxy_username,
                n.proxy_username.as_ref().map(|u| format!("{u:?}")),
            ),
            (
                "network.proxy_password",
                &n.proxy_password,
                Some(HIDDEN.to_string()),
            ),
        ] {
            if let Some(v) = v {
                if v.is_empty() || v.len() > crate::socks5::MAX_FIELD_LEN {
                    return err(key, value.unwrap_or_default(), "must be 1 to 255 bytes");
                }
            }
        }
        match (&n.proxy_username, &n.proxy_password) {
            (Some(u), None) => {
                return err(
                    "network.proxy_username",
                    format!("{u:?}"),
                    "must be set together with proxy_password",
                )
            }
            (None, Some(_)) => {
                return err(
                    "network.proxy_password",
                    HIDDEN.to_string(),
                    "must be set together with proxy_username",
                )
            }
            _ => {}
        }
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
        self.limits.validate()
    }
}

/// How the fields look in the file: whole seconds, addresses as strings, `""` for none,
/// bounded lists. Each `expecting` text ends up in the CLI's error messages.
mod fields {
    use super::MAX_CONFIG_LIST_LEN;
    use core::fmt;
    use core::net::{IpAddr, SocketAddr};
    use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
    use serde::Serializer;
    use std::time::Duration;

    /// `Duration` as a whole number of seconds.
    pub(super) mod secs {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_u64(d.as_secs())
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
            struct Secs;
            impl Visitor<'_> for Secs {
                type Value = Duration;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an integer number of seconds")
                }
                fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
                    Ok(Duration::from_secs(v))
                }
                fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
                    u64::try_from(v)
                        .map(Duration::from_secs)
                        .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
                }
            }
            d.deserialize_u64(Secs)
        }
    }

    const SOCKET: &str = "a socket address like \"0.0.0.0:8000\" (ip:port, IPv6 in brackets)";
    const SOCKET_PORT53: &str = "a socket address like \"192.0.2.1:53\" (the port may be left out)";

    /// A socket address; `empty_is_none` lets `""` mean none; `default_port` allows a bare IP.
    struct Socket {
        expected: &'static str,
        default_port: Option<u16>,
        empty_is_none: bool,
    }

    impl Visitor<'_> for Socket {
        type Value = Option<SocketAddr>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expected)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<SocketAddr>, E> {
            if s.is_empty() && self.empty_is_none {
                return Ok(None);
            }
            if let Ok(a) = s.parse::<SocketAddr>() {
                return Ok(Some(a));
            }
            if let (Some(port), Ok(ip)) = (self.default_port, s.parse::<IpAddr>()) {
                return Ok(Some(SocketAddr::new(ip, port)));
            }
            Err(E::custom(format_args!("expected {}", self.expected)))
        }
    }

    pub(super) mod socket {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(a: &SocketAddr, s: S) -> Result<S::Ok, S::Error> {
            s.collect_str(a)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
            let v = Socket {
                expected: SOCKET,
                default_port: None,
                empty_is_none: false,
            };
            d.deserialize_str(v)?
                .ok_or_else(|| de::Error::custom(format_args!("expected {SOCKET}")))
        }
    }

    /// `None` is written as `""`.
    pub(crate) fn serialize_opt<S: Serializer>(
        a: &Option<impl fmt::Display>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match a {
            Some(a) => s.collect_str(a),
            None => s.serialize_str(""),
        }
    }

    pub(super) mod opt_socket {
        pub(crate) use super::serialize_opt as serialize;
        use super::*;

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<SocketAddr>, D::Error> {
            d.deserialize_str(Socket {
                expected: SOCKET,
                default_port: None,
                empty_is_none: true,
            })
        }
    }

    pub(super) mod opt_socket_port53 {
        pub(crate) use super::serialize_opt as serialize;
        use super::*;

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<SocketAddr>, D::Error> {
            d.deserialize_str(Socket {
                expected: SOCKET_PORT53,
                default_port: Some(53),
                empty_is_none: true,
            })
        }
    }

    /// An optional string: `""` means none.
    pub(super) mod opt_string {
        pub(crate) use super::serialize_opt as serialize;
        use super::*;

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<String>, D::Error> {
            struct OptString;
            impl Visitor<'_> for OptString {
                type Value = Option<String>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a string")
                }
                fn visit_str<E: de::Error>(self, s: &str) -> Result<Option<String>, E> {
                    Ok((!s.is_empty()).then(|| s.to_string()))
                }
            }
            d.deserialize_str(OptString)
        }
    }

    /// Non-empty strings, at most [`MAX_CONFIG_LIST_LEN`] of them.
    pub(super) mod list {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v)
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Vec<String>, D::Error> {
            struct List;
            impl<'de> Visitor<'de> for List {
                type Value = Vec<String>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("an array of strings")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
                    let mut out = Vec::new();
                    while let Some(s) = seq.next_element::<String>()? {
                        if s.trim().is_empty() {
                            return Err(de::Error::custom("entries must not be empty"));
                        }
                        if out.len() == MAX_CONFIG_LIST_LEN {
                            let mut n = out.len() + 1;
                            while seq.next_element::<IgnoredAny>()?.is_some() {
                                n += 1;
                            }
                            return Err(de::Error::custom(format_args!(
                                "must list at most {MAX_CONFIG_LIST_LEN} entries, found {n}"
                            )));
                        }
                        out.push(s);
                    }
                    Ok(out)
                }
            }
            d.deserialize_seq(List)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        assert_eq!(Config::default().validate(), Ok(()));
        let local = Config::local("127.0.0.1:1".parse().unwrap());
        assert_eq!(local.validate(), Ok(()));
        assert!(local.network.peers.bootstrap_nodes.is_empty());
    }

    #[test]
    fn range_errors_name_the_key() {
        let mut c = Config::default();
        c.network.peers.max_connections = 0;
        let e = c.validate().unwrap_err();
        assert_eq!(
            e.to_string(),
            "network.peers.max_connections = 0: must be between 1 and 10000"
        );
        let mut c = Config::default();
        c.network.proxy_password = Some("hunter2".into());
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "network.proxy_password");
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
