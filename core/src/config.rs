//! Node configuration: every key of the spec's section 8 plus the few the implementation needs.
//!
//! The core takes the parsed [`Config`]; reading `~/.qudag/config.toml` from disk is the CLI's
//! job. Durations are whole seconds in the file. Every field documents its default; every
//! limit is checked by [`Config::validate`].

use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

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

/// The default address of the metrics endpoint and dashboard, `127.0.0.1:9184` (loopback:
/// peer data stays on the machine unless the operator configures another address).
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9184";

/// The whole configuration.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct Config {
    /// `[network]`.
    pub network: NetworkConfig,
    /// `[metrics]`.
    pub metrics: MetricsConfig,
    /// `[limits]`: the protocol tunables, each with its default and bounds
    /// (see [`crate::limits::Limits`]). Every key may be left out. (Serialized with
    /// `#[serde(default)]` once `Config` derives serde.)
    pub limits: crate::limits::Limits,
}

/// `[metrics]`: the node's Prometheus endpoint and live dashboard (served by the CLI node; the
/// core only carries the settings).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// `enabled`: serve `/metrics` and the dashboard. Default true.
    pub enabled: bool,
    /// `listen`: the address to serve them on. Default `127.0.0.1:9184`; port 0 lets the OS
    /// pick one. Another interface than loopback is used only when configured here.
    pub listen: SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: true,
            listen: DEFAULT_METRICS_LISTEN
                .parse()
                .expect("constant address parses"),
        }
    }
}

impl MetricsConfig {
    /// Whether `listen` is reachable from other machines (not a loopback address).
    pub fn is_exposed(&self) -> bool {
        !self.listen.ip().is_loopback()
    }
}

/// `[network]`: transport, discovery and reputation settings.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// `listen`: the address to accept connections on and to advertise. Default `0.0.0.0:8000`.
    pub listen: SocketAddr,
    /// `quic_listen`: a UDP address to accept QUIC connections on as well (and to advertise in
    /// the handshake as `quic://ip:port`). Default none: no QUIC listener (the node can still
    /// dial `quic://` addresses).
    pub quic_listen: Option<SocketAddr>,
    /// `dns_resolver`: the DNS server for seeds and hostnames; `None` = the system resolver
    /// (the adapter reads the first nameserver of `/etc/resolv.conf`).
    pub dns_resolver: Option<SocketAddr>,
    /// `proxy`: a SOCKS5 proxy (`host:port`) for `.onion` addresses. Default none.
    pub proxy: Option<SocketAddr>,
    /// `proxy_all`: send every outbound dial through `proxy`. Default false.
    pub proxy_all: bool,
    /// `proxy_username`: the username for the proxy's username/password authentication
    /// (RFC 1929), 1–255 bytes; set together with `proxy_password`. Default none (the proxy
    /// is offered "no authentication" only).
    pub proxy_username: Option<String>,
    /// `proxy_password`: the password going with `proxy_username`, 1–255 bytes. Default none.
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

// ---------------------------------------------------------------------------------------------
// TOML loading
// ---------------------------------------------------------------------------------------------

/// The longest configuration text [`Config::from_toml_str`] accepts, in bytes (1 MiB).
pub const MAX_CONFIG_TEXT_LEN: usize = 1 << 20;

/// The most entries `bootstrap_nodes` or `dns_seeds` may list.
pub const MAX_CONFIG_LIST_LEN: usize = 1024;

/// What error messages show instead of the proxy password.
const HIDDEN: &str = "<hidden>";

/// The file name used in error messages.
const FILE_NAME: &str = "config.toml";

/// Every key of the file, dotted, in file order (tables included).
const KNOWN_KEYS: [&str; 32] = [
    "network",
    "network.listen",
    "network.quic_listen",
    "network.dns_resolver",
    "network.proxy",
    "network.proxy_all",
    "network.proxy_username",
    "network.proxy_password",
    "network.allow_private_addresses",
    "network.peers",
    "network.peers.max_connections",
    "network.peers.min_connections",
    "network.peers.connection_timeout",
    "network.peers.handshake_timeout",
    "network.peers.discovery_interval",
    "network.peers.bootstrap_nodes",
    "network.peers.use_default_bootstrap",
    "network.peers.dns_seeds",
    "network.peers.ping_interval",
    "network.peers.inactivity_timeout",
    "network.peers.disconnect_timeout",
    "network.peers.max_clock_skew",
    "network.reputation",
    "network.reputation.min_relay_reputation",
    "network.reputation.min_consensus_reputation",
    "network.reputation.auto_disconnect_threshold",
    "network.reputation.auto_ban_threshold",
    "network.reputation.decay_rate",
    "network.reputation.ban_duration",
    "metrics",
    "metrics.enabled",
    "metrics.listen",
];

/// Why a configuration file was rejected.
///
/// Displays as `config.toml line 4: network.peers.max_connections = 0: must be between 1 and
/// 10000`; the line and key parts are left out when unknown.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The dotted key at fault, e.g. `network.peers.max_connections`; `None` for syntax errors.
    pub key: Option<String>,
    /// The 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// The offending value as written in the file (for type and range errors).
    pub value: Option<String>,
    /// What is wrong, e.g. `must be between 1 and 10000` or `unknown key (did you mean ...?)`.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FILE_NAME)?;
        if let Some(line) = self.line {
            write!(f, " line {line}")?;
        }
        f.write_str(": ")?;
        if let Some(key) = &self.key {
            f.write_str(key)?;
            if let Some(value) = &self.value {
                write!(f, " = {value}")?;
            }
            f.write_str(": ")?;
        }
        f.write_str(&self.message)
    }
}

/// A TOML value with the byte spans of its nested values and keys.
#[derive(Debug)]
enum Raw {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Datetime,
    Array(Vec<Sp>),
    Table(Vec<(String, Sp)>),
}

/// A [`Raw`] value with its byte span in the text, when the parser knows it (tables created
/// implicitly by a header such as `[network.peers]` for `network` have none).
///
/// `toml::Spanned` cannot be used: it fails on values without a span. This speaks the same
/// serde protocol (the `serde_spanned` struct name and field names, which `toml` recognises)
/// and falls back to a span-less value.
#[derive(Debug)]
struct Sp {
    span: Option<core::ops::Range<usize>>,
    raw: Raw,
}

const SPANNED_NAME: &str = "$__serde_spanned_private_Spanned";
const SPANNED_START: &str = "$__serde_spanned_private_start";
const SPANNED_END: &str = "$__serde_spanned_private_end";
const SPANNED_VALUE: &str = "$__serde_spanned_private_value";
const SPANNED_FIELDS: &[&str] = &[SPANNED_START, SPANNED_END, SPANNED_VALUE];

/// The key toml uses to smuggle a datetime through serde.
const TOML_DATETIME_KEY: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Sp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Sp, D::Error> {
        d.deserialize_struct(SPANNED_NAME, SPANNED_FIELDS, SpVisitor)
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Raw, D::Error> {
        Ok(d.deserialize_any(SpVisitor)?.raw)
    }
}

struct SpVisitor;

fn unspanned<E>(raw: Raw) -> Result<Sp, E> {
    Ok(Sp { span: None, raw })
}

impl<'de> Visitor<'de> for SpVisitor {
    type Value = Sp;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Sp, E> {
        unspanned(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Sp, E> {
        unspanned(Raw::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Sp, E> {
        unspanned(Raw::Int(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Sp, E> {
        unspanned(Raw::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Sp, E> {
        unspanned(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Sp, E> {
        unspanned(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sp, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Sp>()? {
            items.push(item);
        }
        unspanned(Raw::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sp, A::Error> {
        let mut entries = Vec::new();
        let mut first = true;
        while let Some(key) = map.next_key::<String>()? {
            if first && key == SPANNED_START {
                // The spanned protocol: start, end, value, in that order.
                let start: usize = map.next_value()?;
                let mut end = start;
                let mut raw = None;
                while let Some(field) = map.next_key::<String>()? {
                    if field == SPANNED_END {
                        end = map.next_value()?;
                    } else if field == SPANNED_VALUE {
                        raw = Some(map.next_value::<Raw>()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                let raw = raw.ok_or_else(|| serde::de::Error::missing_field(SPANNED_VALUE))?;
                return Ok(Sp {
                    span: Some(start..end),
                    raw,
                });
            }
            first = false;
            if key == TOML_DATETIME_KEY {
                map.next_value::<serde::de::IgnoredAny>()?;
                return unspanned(Raw::Datetime);
            }
            let value = map.next_value::<Sp>()?;
            entries.push((key, value));
        }
        unspanned(Raw::Table(entries))
    }
}

impl Sp {
    fn get_ref(&self) -> &Raw {
        &self.raw
    }

    /// Where the value starts, or for a span-less table, where its first spanned part starts.
    fn start(&self) -> Option<usize> {
        if let Some(span) = &self.span {
            return Some(span.start);
        }
        match &self.raw {
            Raw::Table(entries) => entries.iter().filter_map(|(_, v)| v.start()).min(),
            Raw::Array(items) => items.iter().filter_map(Sp::start).min(),
            _ => None,
        }
    }
}

impl Raw {
    /// The value's type in words, for "found ..." messages.
    fn type_name(&self) -> &'static str {
        match self {
            Raw::Str(_) => "a string",
            Raw::Int(_) => "an integer",
            Raw::Float(_) => "a float",
            Raw::Bool(_) => "a boolean",
            Raw::Datetime => "a datetime",
            Raw::Array(_) => "an array",
            Raw::Table(_) => "a table",
        }
    }

    /// The value as it would be written in TOML (short form, for messages).
    fn display(&self) -> String {
        match self {
            Raw::Str(s) => format!("{s:?}"),
            Raw::Int(i) => i.to_string(),
            Raw::Float(x) => x.to_string(),
            Raw::Bool(b) => b.to_string(),
            Raw::Datetime => "<datetime>".to_string(),
            Raw::Array(_) => "[...]".to_string(),
            Raw::Table(_) => "{...}".to_string(),
        }
    }
}

/// Maps byte offsets to 1-based line numbers.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn line(&self, offset: usize) -> usize {
        let end = offset.min(self.0.len());
        self.0.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    /// The line where `v` starts, when known.
    fn of(&self, v: &Sp) -> Option<usize> {
        v.start().map(|o| self.line(o))
    }
}

/// The walk over the parsed file: records where each key was, builds the [`Config`].
struct Loader<'a> {
    lines: Lines<'a>,
    /// dotted key → (line, value as written), for attaching lines to `validate()`'s errors.
    seen: BTreeMap<String, (Option<usize>, String)>,
}

impl Loader<'_> {
    fn err(
        &self,
        key: &str,
        line: Option<usize>,
        value: Option<String>,
        message: String,
    ) -> ConfigError {
        ConfigError {
            key: Some(key.to_string()),
            line,
            value,
            message,
        }
    }

    fn type_err(&self, key: &str, v: &Sp, expected: &str) -> ConfigError {
        let line = self.lines.of(v);
        let found = v.get_ref();
        self.err(
            key,
            line,
            Some(found.display()),
            format!("expected {expected}, found {}", found.type_name()),
        )
    }

    fn unknown(&self, key: &str, line: Option<usize>) -> ConfigError {
        let message = match suggest(key) {
            Some(s) => format!("unknown key (did you mean {s}?)"),
            None => "unknown key".to_string(),
        };
        self.err(key, line, None, message)
    }

    /// The entries of table `v` at `key`, each with its dotted key; records them as seen.
    fn table<'v>(&mut self, key: &str, v: &'v Sp) -> Result<Vec<(String, &'v Sp)>, ConfigError> {
        let Raw::Table(entries) = v.get_ref() else {
            return Err(self.type_err(key, v, "a table"));
        };
        let mut out = Vec::with_capacity(entries.len());
        for (k, value) in entries {
            let dotted = if key.is_empty() {
                k.clone()
            } else {
                format!("{key}.{}", k)
            };
            let line = self.lines.of(value);
            // A quoted key containing a dot is one key, never a path: unknown.
            if k.contains('.') || !is_known(&dotted) {
                return Err(self.unknown(&dotted, line));
            }
            self.seen
                .insert(dotted.clone(), (line, value.get_ref().display()));
            out.push((dotted, value));
        }
        Ok(out)
    }

    fn int(&self, key: &str, v: &Sp, expected: &str) -> Result<i64, ConfigError> {
        match v.get_ref() {
            Raw::Int(i) => Ok(*i),
            _ => Err(self.type_err(key, v, expected)),
        }
    }

    fn bool(&self, key: &str, v: &Sp) -> Result<bool, ConfigError> {
        match v.get_ref() {
            Raw::Bool(b) => Ok(*b),
            _ => Err(self.type_err(key, v, "a boolean (true or false)")),
        }
    }

    fn string<'v>(&self, key: &str, v: &'v Sp, expected: &str) -> Result<&'v str, ConfigError> {
        match v.get_ref() {
            Raw::Str(s) => Ok(s),
            _ => Err(self.type_err(key, v, expected)),
        }
    }

    /// A socket address; `default_port` allows a bare IP address.
    fn socket(
        &self,
        key: &str,
        v: &Sp,
        default_port: Option<u16>,
    ) -> Result<SocketAddr, ConfigError> {
        let expected = if default_port.is_some() {
            "a socket address like \"192.0.2.1:53\" (the port may be left out)"
        } else {
            "a socket address like \"0.0.0.0:8000\" (ip:port, IPv6 in brackets)"
        };
        let s = self.string(key, v, expected)?;
        if let Ok(a) = s.parse::<SocketAddr>() {
            return Ok(a);
        }
        if let (Some(port), Ok(ip)) = (default_port, s.parse::<core::net::IpAddr>()) {
            return Ok(SocketAddr::new(ip, port));
        }
        Err(self.err(
            key,
            self.lines.of(v),
            Some(v.get_ref().display()),
            format!("expected {expected}"),
        ))
    }

    /// An optional string: the empty string means none.
    fn opt_string(&self, key: &str, v: &Sp) -> Result<Option<String>, ConfigError> {
        let s = self.string(key, v, "a string")?;
        Ok((!s.is_empty()).then(|| s.to_string()))
    }

    /// An optional socket address: the empty string means none.
    fn opt_socket(
        &self,
        key: &str,
        v: &Sp,
        default_port: Option<u16>,
    ) -> Result<Option<SocketAddr>, ConfigError> {
        if matches!(v.get_ref(), Raw::Str(s) if s.is_empty()) {
            return Ok(None);
        }
        self.socket(key, v, default_port).map(Some)
    }

    fn strings(&self, key: &str, v: &Sp) -> Result<Vec<String>, ConfigError> {
        const EXPECTED: &str = "an array of strings";
        let Raw::Array(items) = v.get_ref() else {
            return Err(self.type_err(key, v, EXPECTED));
        };
        if items.len() > MAX_CONFIG_LIST_LEN {
            return Err(self.err(
                key,
                self.lines.of(v),
                None,
                format!(
                    "must list at most {MAX_CONFIG_LIST_LEN} entries, found {}",
                    items.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            match item.get_ref() {
                Raw::Str(s) if s.trim().is_empty() => {
                    return Err(self.err(
                        key,
                        self.lines.of(item),
                        Some(item.get_ref().display()),
                        "entries must not be empty".to_string(),
                    ))
                }
                Raw::Str(s) => out.push(s.clone()),
                _ => return Err(self.type_err(key, item, EXPECTED)),
            }
        }
        Ok(out)
    }

    /// Whole seconds. Negative values become 0, which `validate()` or the caller rejects.
    fn secs(
        &self,
        key: &str,
        v: &Sp,
        negatives: &mut Vec<String>,
    ) -> Result<Duration, ConfigError> {
        let i = self.int(key, v, "an integer number of seconds")?;
        if i < 0 {
            negatives.push(key.to_string());
        }
        Ok(Duration::from_secs(u64::try_from(i).unwrap_or(0)))
    }

    /// A count. Negative values become 0, which `validate()` or the caller rejects.
    fn count(&self, key: &str, v: &Sp, negatives: &mut Vec<String>) -> Result<usize, ConfigError> {
        let i = self.int(key, v, "an integer")?;
        if i < 0 {
            negatives.push(key.to_string());
            return Ok(0);
        }
        Ok(usize::try_from(i).unwrap_or(usize::MAX))
    }

    /// A reputation score: anything outside `u32` becomes `u32::MAX`, which `validate()` rejects.
    fn score(&self, key: &str, v: &Sp) -> Result<u32, ConfigError> {
        let i = self.int(key, v, "an integer")?;
        Ok(u32::try_from(i).unwrap_or(u32::MAX))
    }

    fn float(&self, key: &str, v: &Sp) -> Result<f64, ConfigError> {
        match v.get_ref() {
            Raw::Float(x) => Ok(*x),
            Raw::Int(i) => Ok(*i as f64),
            _ => Err(self.type_err(key, v, "a number")),
        }
    }

    fn load(&mut self, doc: &Sp) -> Result<Config, ConfigError> {
        let mut c = Config::default();
        let mut negatives = Vec::new();
        for (key, v) in self.table("", doc)? {
            if key == "metrics" {
                let m = &mut c.metrics;
                for (key, v) in self.table(&key, v)? {
                    match key.as_str() {
                        "metrics.enabled" => m.enabled = self.bool(&key, v)?,
                        "metrics.listen" => m.listen = self.socket(&key, v, None)?,
                        _ => {}
                    }
                }
                continue;
            }
            // "network" and "metrics" are the only known top-level keys.
            let n = &mut c.network;
            for (key, v) in self.table(&key, v)? {
                match key.as_str() {
                    "network.listen" => n.listen = self.socket(&key, v, None)?,
                    "network.quic_listen" => n.quic_listen = self.opt_socket(&key, v, None)?,
                    "network.dns_resolver" => {
                        n.dns_resolver = self.opt_socket(&key, v, Some(53))?
                    }
                    "network.proxy" => n.proxy = self.opt_socket(&key, v, None)?,
                    "network.proxy_all" => n.proxy_all = self.bool(&key, v)?,
                    "network.proxy_username" => n.proxy_username = self.opt_string(&key, v)?,
                    "network.proxy_password" => {
                        n.proxy_password = self.opt_string(&key, v)?;
                        // Keep the password out of error messages.
                        if let Some(seen) = self.seen.get_mut(&key) {
                            seen.1 = HIDDEN.to_string();
                        }
                    }
                    "network.allow_private_addresses" => {
                        n.allow_private_addresses = self.bool(&key, v)?
                    }
                    "network.peers" => {
                        let p = &mut n.peers;
                        for (key, v) in self.table(&key, v)? {
                            let neg = &mut negatives;
                            match key.rsplit('.').next().unwrap_or("") {
                                "max_connections" => {
                                    p.max_connections = self.count(&key, v, neg)?
                                }
                                "min_connections" => {
                                    p.min_connections = self.count(&key, v, neg)?
                                }
                                "connection_timeout" => {
                                    p.connection_timeout = self.secs(&key, v, neg)?
                                }
                                "handshake_timeout" => {
                                    p.handshake_timeout = self.secs(&key, v, neg)?
                                }
                                "discovery_interval" => {
                                    p.discovery_interval = self.secs(&key, v, neg)?
                                }
                                "bootstrap_nodes" => p.bootstrap_nodes = self.strings(&key, v)?,
                                "use_default_bootstrap" => {
                                    p.use_default_bootstrap = self.bool(&key, v)?
                                }
                                "dns_seeds" => p.dns_seeds = self.strings(&key, v)?,
                                "ping_interval" => p.ping_interval = self.secs(&key, v, neg)?,
                                "inactivity_timeout" => {
                                    p.inactivity_timeout = self.secs(&key, v, neg)?
                                }
                                "disconnect_timeout" => {
                                    p.disconnect_timeout = self.secs(&key, v, neg)?
                                }
                                "max_clock_skew" => p.max_clock_skew = self.secs(&key, v, neg)?,
                                _ => {}
                            }
                        }
                    }
                    "network.reputation" => {
                        let r = &mut n.reputation;
                        for (key, v) in self.table(&key, v)? {
                            match key.rsplit('.').next().unwrap_or("") {
                                "min_relay_reputation" => {
                                    r.min_relay_reputation = self.score(&key, v)?
                                }
                                "min_consensus_reputation" => {
                                    r.min_consensus_reputation = self.score(&key, v)?
                                }
                                "auto_disconnect_threshold" => {
                                    r.auto_disconnect_threshold = self.score(&key, v)?
                                }
                                "auto_ban_threshold" => {
                                    r.auto_ban_threshold = self.score(&key, v)?
                                }
                                "decay_rate" => r.decay_rate = self.float(&key, v)?,
                                "ban_duration" => {
                                    r.ban_duration = self.secs(&key, v, &mut negatives)?
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Err(e) = c.validate() {
            return Err(self.range_error(&c, e));
        }
        // Negative values of keys that allow 0 (validate() accepted the 0 put in their place).
        if let Some(key) = negatives.first() {
            let (line, value) = self.seen.get(key).cloned().unwrap_or((None, String::new()));
            return Err(self.err(key, line, Some(value), "must not be negative".to_string()));
        }
        Ok(c)
    }

    /// `validate()`'s error with the line and value as written. For a rule relating two keys,
    /// when the key named is not in the file (it has its default), the error names the other
    /// key, which is.
    fn range_error(&self, c: &Config, e: RangeError) -> ConfigError {
        let p = &c.network.peers;
        let r = &c.network.reputation;
        if !self.seen.contains_key(e.key) {
            let swapped = match e.key {
                "network.peers.min_connections" => Some((
                    "network.peers.max_connections",
                    format!("must be at least min_connections ({})", p.min_connections),
                )),
                "network.peers.inactivity_timeout" => Some((
                    "network.peers.ping_interval",
                    format!(
                        "must be less than inactivity_timeout ({})",
                        p.inactivity_timeout.as_secs()
                    ),
                )),
                "network.reputation.auto_ban_threshold" => Some((
                    "network.reputation.auto_disconnect_threshold",
                    format!(
                        "must be at least auto_ban_threshold ({})",
                        r.auto_ban_threshold
                    ),
                )),
                _ => None,
            };
            if let Some((other, message)) = swapped {
                if let Some((line, value)) = self.seen.get(other) {
                    return self.err(other, *line, Some(value.clone()), message);
                }
            }
        }
        let (line, value) = match self.seen.get(e.key) {
            Some((line, value)) => (*line, value.clone()),
            None => (None, e.value),
        };
        ConfigError {
            key: Some(e.key.to_string()),
            line,
            value: Some(value),
            message: e.allowed,
        }
    }
}

fn is_known(key: &str) -> bool {
    KNOWN_KEYS.contains(&key)
}

/// The known key closest to an unknown one: the same last part in another table, else a key
/// of the same table within a small edit distance.
fn suggest(key: &str) -> Option<&'static str> {
    let (table, leaf) = key.rsplit_once('.').unwrap_or(("", key));
    let known = || KNOWN_KEYS.iter().copied();
    if let Some(k) = known().find(|k| k.rsplit('.').next() == Some(leaf)) {
        return Some(k);
    }
    known()
        .filter(|k| k.rsplit_once('.').map_or("", |(t, _)| t) == table)
        .map(|k| (edit_distance(leaf, k.rsplit('.').next().unwrap_or(k)), k))
        .filter(|(d, _)| *d <= 3 && *d * 3 <= leaf.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Levenshtein distance (keys are short: quadratic is fine).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

impl Config {
    /// Parses a configuration file's text (the format of spec section 8, documented key by
    /// key in `docs/CONFIG.md`). Missing keys take their defaults; empty text is the default
    /// configuration. The result has passed [`Config::validate`].
    ///
    /// Errors name the dotted key, the 1-based line and, for range errors, what is allowed:
    /// TOML syntax errors, unknown keys (with a suggestion when one is close), values of the
    /// wrong type, unparsable socket addresses, and out-of-range values.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        if text.len() > MAX_CONFIG_TEXT_LEN {
            return Err(ConfigError {
                key: None,
                line: None,
                value: None,
                message: format!(
                    "the file is {} bytes; at most {MAX_CONFIG_TEXT_LEN} are read",
                    text.len()
                ),
            });
        }
        let lines = Lines(text);
        let doc: Sp = match toml::from_str::<Raw>(text) {
            Ok(raw) => Sp { span: None, raw },
            Err(e) => {
                return Err(ConfigError {
                    key: None,
                    line: e.span().map(|s| lines.line(s.start)),
                    value: None,
                    message: format!("TOML syntax error: {}", e.message().trim_end()),
                })
            }
        };
        Loader {
            lines,
            seen: BTreeMap::new(),
        }
        .load(&doc)
    }

    /// A commented example file with every key at its default; it parses back to
    /// [`Config::default`].
    pub fn default_toml() -> String {
        let d = Config::default();
        let n = &d.network;
        let p = &n.peers;
        let r = &n.reputation;
        let list = |items: &[String]| {
            let mut s = String::from("[\n");
            for i in items {
                s.push_str(&format!("    {i:?},\n"));
            }
            s.push(']');
            s
        };
        format!(
            r#"# QuDAG node configuration (~/.qudag/config.toml). Every key is optional: a missing
# key takes the default shown here. Durations are whole seconds. See docs/CONFIG.md.

[network]
# Address to accept connections on and to advertise.
listen = "{listen}"

# UDP address ("ip:port") to accept QUIC connections on as well. Left out: no QUIC
# listener (quic:// addresses can still be dialed).
# quic_listen = "0.0.0.0:8001"

# DNS server for seeds and host names ("ip" or "ip:port", port 53 by default).
# Left out: the system resolver.
# dns_resolver = "192.0.2.53:53"

# SOCKS5 proxy ("ip:port") for .onion addresses. Left out: none.
# proxy = "127.0.0.1:9050"

# Send every outbound connection through `proxy`.
proxy_all = {proxy_all}

# Username/password authentication to the proxy (RFC 1929), each 1 to 255 bytes,
# both or neither. Left out: the proxy is offered "no authentication" only.
# proxy_username = "qudag"
# proxy_password = "secret"

# Accept private and loopback addresses from peer exchange and DNS.
allow_private_addresses = {allow_private}

[network.peers]
# Maximum number of peer connections (1..=10000)
max_connections = {max_connections}

# Minimum number of peer connections to maintain (at most max_connections)
min_connections = {min_connections}

# Connection timeout in seconds (1..=86400)
connection_timeout = {connection_timeout}

# Handshake timeout in seconds (1..=86400)
handshake_timeout = {handshake_timeout}

# Peer discovery interval in seconds (1..=86400)
discovery_interval = {discovery_interval}

# Bootstrap nodes
bootstrap_nodes = {bootstrap_nodes}

# Fall back to the built-in bootstrap nodes when bootstrap_nodes is empty
use_default_bootstrap = {use_default_bootstrap}

# DNS seeds for peer discovery (names whose TXT records list peer addresses)
dns_seeds = {dns_seeds}

# Seconds between keep-alive pings on a quiet connection (1..=86400)
ping_interval = {ping_interval}

# Seconds without any frame before disconnecting (greater than ping_interval)
inactivity_timeout = {inactivity_timeout}

# Seconds to wait for a disconnect acknowledgement (1..=86400)
disconnect_timeout = {disconnect_timeout}

# Seconds a handshake timestamp may differ from our clock
max_clock_skew = {max_clock_skew}

[network.reputation]
# Minimum reputation for message relay (0..=100)
min_relay_reputation = {min_relay}

# Minimum reputation for consensus participation (0..=100)
min_consensus_reputation = {min_consensus}

# Auto-disconnect threshold (0..=100)
auto_disconnect_threshold = {auto_disconnect}

# Auto-ban threshold (0..=100, at most auto_disconnect_threshold)
auto_ban_threshold = {auto_ban}

# Reputation decay rate (per day, 0.0..=1.0)
decay_rate = {decay_rate:?}

# Seconds an automatic ban lasts
ban_duration = {ban_duration}

[metrics]
# Serve the Prometheus endpoint (/metrics) and the live dashboard (/).
enabled = {metrics_enabled}

# Address to serve them on ("ip:port"; port 0 lets the OS pick). Loopback by default: the
# pages show peer addresses. Use another interface only behind a firewall or a proxy.
listen = "{metrics_listen}"
"#,
            listen = n.listen,
            proxy_all = n.proxy_all,
            allow_private = n.allow_private_addresses,
            max_connections = p.max_connections,
            min_connections = p.min_connections,
            connection_timeout = p.connection_timeout.as_secs(),
            handshake_timeout = p.handshake_timeout.as_secs(),
            discovery_interval = p.discovery_interval.as_secs(),
            bootstrap_nodes = list(&p.bootstrap_nodes),
            use_default_bootstrap = p.use_default_bootstrap,
            dns_seeds = list(&p.dns_seeds),
            ping_interval = p.ping_interval.as_secs(),
            inactivity_timeout = p.inactivity_timeout.as_secs(),
            disconnect_timeout = p.disconnect_timeout.as_secs(),
            max_clock_skew = p.max_clock_skew.as_secs(),
            min_relay = r.min_relay_reputation,
            min_consensus = r.min_consensus_reputation,
            auto_disconnect = r.auto_disconnect_threshold,
            auto_ban = r.auto_ban_threshold,
            decay_rate = r.decay_rate,
            ban_duration = r.ban_duration.as_secs(),
            metrics_enabled = d.metrics.enabled,
            metrics_listen = d.metrics.listen,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The file of spec section 8, verbatim.
    const SPEC_EXAMPLE: &str = r#"[network.peers]
# Maximum number of peer connections
max_connections = 50

# Minimum number of peer connections to maintain
min_connections = 5

# Connection timeout in seconds
connection_timeout = 10

# Handshake timeout in seconds
handshake_timeout = 5

# Peer discovery interval in seconds
discovery_interval = 300

# Bootstrap nodes
bootstrap_nodes = [
    "bootstrap1.qudag.network:8000",
    "bootstrap2.qudag.network:8000",
    "bootstrap3.qudag.network:8000"
]

# DNS seeds for peer discovery
dns_seeds = [
    "seed.qudag.network",
    "nodes.qudag.network"
]

[network.reputation]
# Minimum reputation for message relay
min_relay_reputation = 30

# Minimum reputation for consensus participation
min_consensus_reputation = 50

# Auto-disconnect threshold
auto_disconnect_threshold = 20

# Auto-ban threshold
auto_ban_threshold = 10

# Reputation decay rate (per day)
decay_rate = 0.1
"#;

    fn err(text: &str) -> ConfigError {
        match Config::from_toml_str(text) {
            Ok(c) => panic!("accepted {text:?}: {c:?}"),
            Err(e) => e,
        }
    }

    /// Asserts the error names `key` at `line` and its message contains `needle`.
    fn assert_err(text: &str, key: &str, line: usize, needle: &str) -> ConfigError {
        let e = err(text);
        assert_eq!(e.key.as_deref(), Some(key), "{e}");
        assert_eq!(e.line, Some(line), "{e}");
        assert!(e.to_string().contains(needle), "{e:?} lacks {needle:?}");
        e
    }

    #[test]
    fn spec_example_parses_to_spec_values() {
        let c = Config::from_toml_str(SPEC_EXAMPLE).unwrap();
        let p = &c.network.peers;
        let r = &c.network.reputation;
        assert_eq!(p.max_connections, 50);
        assert_eq!(p.min_connections, 5);
        assert_eq!(p.connection_timeout, Duration::from_secs(10));
        assert_eq!(p.handshake_timeout, Duration::from_secs(5));
        assert_eq!(p.discovery_interval, Duration::from_secs(300));
        assert_eq!(p.bootstrap_nodes, DEFAULT_BOOTSTRAP_NODES);
        assert_eq!(p.dns_seeds, DEFAULT_DNS_SEEDS);
        assert_eq!(r.min_relay_reputation, 30);
        assert_eq!(r.min_consensus_reputation, 50);
        assert_eq!(r.auto_disconnect_threshold, 20);
        assert_eq!(r.auto_ban_threshold, 10);
        assert_eq!(r.decay_rate, 0.1);
        // The spec's values are the defaults.
        assert_eq!(c, Config::default());
    }

    #[test]
    fn empty_file_and_default_toml_are_defaults() {
        assert_eq!(Config::from_toml_str("").unwrap(), Config::default());
        assert_eq!(
            Config::from_toml_str("# nothing\n\n").unwrap(),
            Config::default()
        );
        assert_eq!(
            Config::from_toml_str("[network]\n").unwrap(),
            Config::default()
        );
        let text = Config::default_toml();
        assert_eq!(Config::from_toml_str(&text).unwrap(), Config::default());
        // Every key is in the example, set or commented out.
        for key in KNOWN_KEYS {
            let leaf = key.rsplit('.').next().unwrap();
            assert!(text.contains(leaf), "default_toml lacks {key}");
        }
        // The commented-out examples are valid too.
        let uncommented = text
            .replace("# dns_resolver", "dns_resolver")
            .replace("# quic_listen", "quic_listen")
            .replace("# proxy =", "proxy =");
        let c = Config::from_toml_str(&uncommented).unwrap();
        assert_eq!(
            c.network.dns_resolver,
            Some("192.0.2.53:53".parse().unwrap())
        );
        assert_eq!(c.network.proxy, Some("127.0.0.1:9050".parse().unwrap()));
        assert_eq!(c.network.quic_listen, Some("0.0.0.0:8001".parse().unwrap()));
    }

    #[test]
    fn every_key_is_read() {
        let text = r#"
[network]
listen = "[2001:db8::1]:9000"
quic_listen = "[2001:db8::1]:9001"
dns_resolver = "192.0.2.53"
proxy = "127.0.0.1:9050"
proxy_all = true
allow_private_addresses = true

[network.peers]
max_connections = 10000
min_connections = 0
connection_timeout = 1
handshake_timeout = 86400
discovery_interval = 60
bootstrap_nodes = []
use_default_bootstrap = false
dns_seeds = ["seed.example.org"]
ping_interval = 10
inactivity_timeout = 11
disconnect_timeout = 2
max_clock_skew = 0

[network.reputation]
min_relay_reputation = 100
min_consensus_reputation = 0
auto_disconnect_threshold = 40
auto_ban_threshold = 40
decay_rate = 1
ban_duration = 3600
"#;
        let c = Config::from_toml_str(text).unwrap();
        let n = &c.network;
        assert_eq!(n.listen, "[2001:db8::1]:9000".parse().unwrap());
        assert_eq!(n.quic_listen, Some("[2001:db8::1]:9001".parse().unwrap()));
        assert_eq!(n.dns_resolver, Some("192.0.2.53:53".parse().unwrap()));
        assert_eq!(n.proxy, Some("127.0.0.1:9050".parse().unwrap()));
        assert!(n.proxy_all && n.allow_private_addresses);
        let p = &n.peers;
        assert_eq!(
            (p.max_connections, p.min_connections),
            (MAX_MAX_CONNECTIONS, 0)
        );
        assert_eq!(p.connection_timeout, Duration::from_secs(1));
        assert_eq!(p.handshake_timeout, Duration::from_secs(86_400));
        assert_eq!(p.discovery_interval, Duration::from_secs(60));
        assert!(p.bootstrap_nodes.is_empty() && !p.use_default_bootstrap);
        assert_eq!(p.dns_seeds, ["seed.example.org"]);
        assert_eq!(p.ping_interval, Duration::from_secs(10));
        assert_eq!(p.inactivity_timeout, Duration::from_secs(11));
        assert_eq!(p.disconnect_timeout, Duration::from_secs(2));
        assert_eq!(p.max_clock_skew, Duration::ZERO);
        let r = &n.reputation;
        assert_eq!(r.min_relay_reputation, 100);
        assert_eq!(r.min_consensus_reputation, 0);
        assert_eq!(
            (r.auto_disconnect_threshold, r.auto_ban_threshold),
            (40, 40)
        );
        assert_eq!(r.decay_rate, 1.0);
        assert_eq!(r.ban_duration, Duration::from_secs(3600));
        // Empty strings mean "none" for the optional addresses.
        let c = Config::from_toml_str("[network]\ndns_resolver = \"\"\nproxy = \"\"\n").unwrap();
        assert_eq!((c.network.dns_resolver, c.network.proxy), (None, None));
        // Dotted keys and inline tables are the same keys.
        let c = Config::from_toml_str("network.peers.max_connections = 7\n").unwrap();
        assert_eq!(c.network.peers.max_connections, 7);
        let c = Config::from_toml_str("[network]\npeers = { min_connections = 2 }\n").unwrap();
        assert_eq!(c.network.peers.min_connections, 2);
    }

    #[test]
    fn metrics_section() {
        let d = Config::default().metrics;
        assert!(d.enabled && !d.is_exposed());
        assert_eq!(d.listen, "127.0.0.1:9184".parse().unwrap());
        let c = Config::from_toml_str("[metrics]\nenabled = false\nlisten = \"0.0.0.0:9100\"\n")
            .unwrap();
        assert!(!c.metrics.enabled && c.metrics.is_exposed());
        assert_eq!(c.metrics.listen, "0.0.0.0:9100".parse().unwrap());
        let c = Config::from_toml_str("metrics.listen = \"[::1]:0\"\n").unwrap();
        assert!(!c.metrics.is_exposed());
        assert_eq!(c.network, Config::default().network);
        assert_err(
            "[metrics]\nlisten = \"localhost:9184\"\n",
            "metrics.listen",
            2,
            "expected a socket address",
        );
        assert_err(
            "\n[metrics]\nenabled = \"yes\"\n",
            "metrics.enabled",
            3,
            "expected a boolean",
        );
        assert_err("metrics = 3\n", "metrics", 1, "expected a table");
    }

    #[test]
    fn display_format() {
        let e = err("[network.peers]\n\n\nmax_connections = 0\n");
        assert_eq!(
            e.to_string(),
            "config.toml line 4: network.peers.max_connections = 0: must be between 1 and 10000"
        );
    }

    #[test]
    fn unknown_keys_in_each_section() {
        assert_err("netwrk = 1\n", "netwrk", 1, "did you mean network?");
        assert_err(
            "[network]\nlisten = \"0.0.0.0:1\"\nlisen = 1\n",
            "network.lisen",
            3,
            "did you mean network.listen?",
        );
        assert_err(
            "[network.peers]\nmax_conections = 3\n",
            "network.peers.max_conections",
            2,
            "unknown key (did you mean network.peers.max_connections?)",
        );
        assert_err(
            "\n[network.reputation]\ndecay = 0.5\n",
            "network.reputation.decay",
            3,
            "unknown key",
        );
        // Right key, wrong table.
        assert_err(
            "[network.peers]\nban_duration = 5\n",
            "network.peers.ban_duration",
            2,
            "did you mean network.reputation.ban_duration?",
        );
        // Nothing close: no suggestion.
        let e = assert_err(
            "[network.peers]\nzzzzzzzz = 5\n",
            "network.peers.zzzzzzzz",
            2,
            "unknown key",
        );
        assert_eq!(e.message, "unknown key");
        // Unknown tables.
        assert_err(
            "[network.peer]\nmax_connections = 3\n",
            "network.peer",
            1,
            "did you mean network.peers?",
        );
        assert_err("[metric]\n", "metric", 1, "did you mean metrics?");
        assert_err(
            "[metrics]\nlistn = \"127.0.0.1:1\"\n",
            "metrics.listn",
            2,
            "did you mean metrics.listen?",
        );
        // A quoted key with a dot is not a path.
        assert_err(
            "[network]\n\"peers.max_connections\" = 3\n",
            "network.peers.max_connections",
            2,
            "unknown key",
        );
    }

    #[test]
    fn wrong_types() {
        assert_err(
            "[network.peers]\nconnection_timeout = \"10\"\n",
            "network.peers.connection_timeout",
            2,
            "network.peers.connection_timeout = \"10\": expected an integer number of seconds, found a string",
        );
        assert_err(
            "[network.peers]\nhandshake_timeout = 2.5\n",
            "network.peers.handshake_timeout",
            2,
            "expected an integer number of seconds, found a float",
        );
        assert_err(
            "[network.peers]\nmax_connections = true\n",
            "network.peers.max_connections",
            2,
            "expected an integer, found a boolean",
        );
        assert_err(
            "[network]\nproxy_all = \"yes\"\n",
            "network.proxy_all",
            2,
            "expected a boolean (true or false), found a string",
        );
        assert_err(
            "[network.reputation]\ndecay_rate = \"0.1\"\n",
            "network.reputation.decay_rate",
            2,
            "expected a number, found a string",
        );
        assert_err(
            "[network.reputation]\nauto_ban_threshold = 1.5\n",
            "network.reputation.auto_ban_threshold",
            2,
            "expected an integer, found a float",
        );
        assert_err(
            "[network.peers]\ndns_seeds = \"seed.example.org\"\n",
            "network.peers.dns_seeds",
            2,
            "expected an array of strings, found a string",
        );
        // The line of the offending element.
        assert_err(
            "[network.peers]\nbootstrap_nodes = [\n  \"192.0.2.1:8000\",\n  8000,\n]\n",
            "network.peers.bootstrap_nodes",
            4,
            "expected an array of strings, found an integer",
        );
        assert_err(
            "[network.peers]\ndns_seeds = [\"\"]\n",
            "network.peers.dns_seeds",
            2,
            "must not be empty",
        );
        assert_err(
            "network = 5\n",
            "network",
            1,
            "expected a table, found an integer",
        );
        assert_err(
            "[network]\npeers = 5\n",
            "network.peers",
            2,
            "expected a table, found an integer",
        );
        assert_err(
            "[network.peers]\nmax_clock_skew = 1979-05-27\n",
            "network.peers.max_clock_skew",
            2,
            "found a datetime",
        );
        assert_err(
            "[network]\nlisten = 8000\n",
            "network.listen",
            2,
            "expected a socket address",
        );
    }

    #[test]
    fn bad_socket_addresses() {
        assert_err(
            "[network]\nlisten = \"0.0.0.0:1\"\n\nquic_listen = \"0.0.0.0\"\n",
            "network.quic_listen",
            4,
            "network.quic_listen = \"0.0.0.0\": expected a socket address",
        );
        assert_err(
            "[network]\nquic_listen = 8001\n",
            "network.quic_listen",
            2,
            "expected a socket address",
        );
        assert_err(
            "[network]\nlisten = \"localhost:8000\"\n",
            "network.listen",
            2,
            "network.listen = \"localhost:8000\": expected a socket address",
        );
        assert_err(
            "[network]\nlisten = \"0.0.0.0\"\n",
            "network.listen",
            2,
            "expected a socket address",
        );
        assert_err(
            "[network]\nlisten = \"0.0.0.0:70000\"\n",
            "network.listen",
            2,
            "expected a socket address",
        );
        assert_err(
            "[network]\nlisten = \"2001:db8::1:8000\"\n",
            "network.listen",
            2,
            "IPv6 in brackets",
        );
        assert_err(
            "[network]\nproxy = \"127.0.0.1\"\n",
            "network.proxy",
            2,
            "expected a socket address",
        );
        assert_err(
            "[network]\ndns_resolver = \"resolver\"\n",
            "network.dns_resolver",
            2,
            "port may be left out",
        );
    }

    #[test]
    fn each_range_rule() {
        let peers = |kv: &str| format!("[network.peers]\n{kv}\n");
        let rep = |kv: &str| format!("[network.reputation]\n{kv}\n");
        assert_err(
            &peers("max_connections = 0"),
            "network.peers.max_connections",
            2,
            "must be between 1 and 10000",
        );
        assert_err(
            &peers("max_connections = 10001"),
            "network.peers.max_connections",
            2,
            "= 10001: must be between 1 and 10000",
        );
        assert_err(
            &peers("max_connections = -1"),
            "network.peers.max_connections",
            2,
            "= -1: must be between 1 and 10000",
        );
        assert!(Config::from_toml_str(&peers("max_connections = 10000")).is_ok());
        assert!(Config::from_toml_str(&peers("max_connections = 1\nmin_connections = 1")).is_ok());
        assert_err(
            &peers("max_connections = 10\nmin_connections = 11"),
            "network.peers.min_connections",
            3,
            "must be at most max_connections",
        );
        // min_connections left at its default (5): the error names max_connections.
        assert_err(
            &peers("max_connections = 4"),
            "network.peers.max_connections",
            2,
            "must be at least min_connections (5)",
        );
        assert_err(
            &peers("min_connections = -1"),
            "network.peers.min_connections",
            2,
            "= -1: must not be negative",
        );
        for key in [
            "connection_timeout",
            "handshake_timeout",
            "discovery_interval",
            "ping_interval",
            "disconnect_timeout",
        ] {
            let dotted = format!("network.peers.{key}");
            assert_err(
                &peers(&format!("{key} = 0")),
                &dotted,
                2,
                "must be between 1 and 86400 seconds",
            );
            assert_err(
                &peers(&format!("{key} = -3")),
                &dotted,
                2,
                "= -3: must be between 1 and 86400 seconds",
            );
            let over = format!("[network.peers]\ninactivity_timeout = 90000\n{key} = 86401\n");
            assert_err(
                &over,
                &dotted,
                3,
                "= 86401: must be between 1 and 86400 seconds",
            );
            let at = format!("[network.peers]\ninactivity_timeout = 90000\n{key} = 86400\n");
            assert!(Config::from_toml_str(&at).is_ok(), "{key}");
        }
        assert_err(
            &peers("ping_interval = 30\ninactivity_timeout = 30"),
            "network.peers.inactivity_timeout",
            3,
            "must be greater than ping_interval",
        );
        // inactivity_timeout left at its default (90): the error names ping_interval.
        assert_err(
            &peers("ping_interval = 90"),
            "network.peers.ping_interval",
            2,
            "must be less than inactivity_timeout (90)",
        );
        assert_err(
            &peers("max_clock_skew = -1"),
            "network.peers.max_clock_skew",
            2,
            "must not be negative",
        );
        assert_err(
            &rep("ban_duration = -1"),
            "network.reputation.ban_duration",
            2,
            "must not be negative",
        );
        for key in [
            "min_relay_reputation",
            "min_consensus_reputation",
            "auto_disconnect_threshold",
            "auto_ban_threshold",
        ] {
            let dotted = format!("network.reputation.{key}");
            assert_err(
                &rep(&format!("{key} = 101")),
                &dotted,
                2,
                "= 101: must be between 0 and 100",
            );
            assert_err(
                &rep(&format!("{key} = -1")),
                &dotted,
                2,
                "= -1: must be between 0 and 100",
            );
            assert_err(
                &rep(&format!("{key} = 99999999999")),
                &dotted,
                2,
                "must be between 0 and 100",
            );
        }
        assert!(Config::from_toml_str(&rep("min_relay_reputation = 100")).is_ok());
        assert_err(
            &rep("auto_disconnect_threshold = 30\nauto_ban_threshold = 31"),
            "network.reputation.auto_ban_threshold",
            3,
            "must be at most auto_disconnect_threshold",
        );
        assert_err(
            &rep("auto_disconnect_threshold = 5"),
            "network.reputation.auto_disconnect_threshold",
            2,
            "must be at least auto_ban_threshold (10)",
        );
        assert_err(
            &rep("decay_rate = 1.5"),
            "network.reputation.decay_rate",
            2,
            "= 1.5: must be between 0.0 and 1.0",
        );
        assert_err(
            &rep("decay_rate = -0.1"),
            "network.reputation.decay_rate",
            2,
            "must be between 0.0 and 1.0",
        );
        assert_err(
            &rep("decay_rate = nan"),
            "network.reputation.decay_rate",
            2,
            "must be between 0.0 and 1.0",
        );
        assert!(Config::from_toml_str(&rep("decay_rate = 0")).is_ok());
    }

    #[test]
    fn syntax_errors_have_lines() {
        for (text, line) in [
            ("[network.peers]\nmax_connections = \n", 2),
            ("[network.peers\n", 1),
            ("\n\n[network]\nlisten = \"0.0.0.0:8000\n", 4),
            ("[network]\nproxy_all = true\nproxy_all = false\n", 3),
        ] {
            let e = err(text);
            assert_eq!(e.key, None, "{e}");
            assert_eq!(e.line, Some(line), "{text:?}: {e}");
            assert!(
                e.to_string()
                    .starts_with(&format!("config.toml line {line}: TOML syntax error")),
                "{e}"
            );
        }
    }

    #[test]
    fn limits() {
        let list = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| format!("\"s{i}.example\"")).collect();
            format!("[network.peers]\ndns_seeds = [{}]\n", items.join(","))
        };
        let c = Config::from_toml_str(&list(MAX_CONFIG_LIST_LEN)).unwrap();
        assert_eq!(c.network.peers.dns_seeds.len(), MAX_CONFIG_LIST_LEN);
        assert_err(
            &list(MAX_CONFIG_LIST_LEN + 1),
            "network.peers.dns_seeds",
            2,
            "at most 1024 entries",
        );

        let mut text = String::from("# padding\n");
        text.push_str(&" ".repeat(MAX_CONFIG_TEXT_LEN - text.len()));
        assert_eq!(text.len(), MAX_CONFIG_TEXT_LEN);
        assert_eq!(Config::from_toml_str(&text).unwrap(), Config::default());
        text.push(' ');
        let e = err(&text);
        assert_eq!((e.key, e.line), (None, None));
    }

    #[test]
    fn proxy_credentials() {
        let c = Config::from_toml_str(
            "[network]\nproxy = \"127.0.0.1:9050\"\nproxy_username = \"u\"\nproxy_password = \"p\"\n",
        )
        .unwrap();
        let creds = c.network.proxy_credentials().unwrap();
        assert_eq!((&*creds.username, &*creds.password), ("u", "p"));
        assert_eq!(Config::default().network.proxy_credentials(), None);
        // Empty strings mean none.
        let c = Config::from_toml_str("[network]\nproxy_username = \"\"\nproxy_password = \"\"\n")
            .unwrap();
        assert_eq!(c, Config::default());
        assert_err(
            "[network]\nproxy_username = \"u\"\n",
            "network.proxy_username",
            2,
            "network.proxy_username = \"u\": must be set together with proxy_password",
        );
        let e = assert_err(
            "[network]\n\nproxy_password = \"hunter2\"\n",
            "network.proxy_password",
            3,
            "network.proxy_password = <hidden>: must be set together with proxy_username",
        );
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let long = "x".repeat(256);
        let e = assert_err(
            &format!("[network]\nproxy_username = \"u\"\nproxy_password = \"{long}\"\n"),
            "network.proxy_password",
            3,
            "must be 1 to 255 bytes",
        );
        assert!(!e.to_string().contains(&long), "{e}");
        assert_err(
            &format!("[network]\nproxy_username = \"{long}\"\nproxy_password = \"p\"\n"),
            "network.proxy_username",
            2,
            "must be 1 to 255 bytes",
        );
        assert_err(
            "[network]\nproxy_username = 5\n",
            "network.proxy_username",
            2,
            "expected a string, found an integer",
        );
        assert_err(
            "[network]\nproxy_usrname = \"u\"\n",
            "network.proxy_usrname",
            2,
            "did you mean network.proxy_username?",
        );
    }

    #[test]
    fn unknown_implicit_table_has_a_line() {
        assert_err(
            "# x\n[netwrk.peers]\nmax_connections = 1\n",
            "netwrk",
            2,
            "did you mean network?",
        );
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Config::from_toml_str(&text);
        }

        #[test]
        fn edited_default_never_panics(at in 0usize..4000, insert in "[ -~\n]{0,12}") {
            let mut text = Config::default_toml();
            let at = at.min(text.len());
            if text.is_char_boundary(at) {
                text.insert_str(at, &insert);
            }
            if let Err(e) = Config::from_toml_str(&text) {
                let _ = e.to_string();
            }
        }
    }

    #[test]
    fn edit_distance_and_suggestions() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(
            suggest("network.peers.max_conection"),
            Some("network.peers.max_connections")
        );
        assert_eq!(suggest("network.peers.xyz"), None);
    }
}
