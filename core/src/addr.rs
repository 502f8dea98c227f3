//! Peer addresses: the project's one address parser, plus classification and netgroups.
//!
//! # Accepted forms (spec 3.2)
//!
//! | form            | example                                         | port                 |
//! |-----------------|-------------------------------------------------|----------------------|
//! | IPv4            | `192.168.1.100:8000`                            | required             |
//! | IPv6            | `[2001:db8::1]:8000`                            | required             |
//! | domain          | `node1.qudag.network:8000`                      | required             |
//! | onion (v3)      | `<56 base32 characters>.onion:8000`             | required             |
//! | identity-pinned | `quantum://<64-hex node id>@<any host above>`   | optional, default [`DEFAULT_PORT`] |
//! | QUIC            | `quic://<IP or domain>:9000`                    | required             |
//! | QUIC, pinned    | `quic://<64-hex node id>@<IP or domain>`        | optional, default [`DEFAULT_PORT`] |
//!
//! Every form without `quic://` is reached over TCP ([`Transport::Tcp`]); `quic://` selects
//! [`Transport::Quic`] (a UDP port). A `quic://` address may pin an identity the same way as
//! `quantum://` does; without `@` it is a plain `host:port` and needs its port. Onion hosts
//! are refused after `quic://` ([`AddrError::QuicOnion`]): Tor carries TCP only.
//!
//! Surrounding whitespace is trimmed. Inputs longer than [`MAX_ADDRESS_LEN`] bytes are refused
//! before anything else is looked at. IPv6 addresses always need brackets (`[::1]:8000`);
//! a bare IPv6 address is refused with a message saying so. Domains follow RFC 1123 and are
//! lower-cased; onion addresses must be v3 (v2 was retired by Tor in 2021) and are lower-cased.
//!
//! [`PeerAddress`]'s `Display` is canonical: `parse(&a.to_string()) == Ok(a)` for every parsed
//! address, and the `quantum://` and `quic://` forms always spell their port out. Serde uses
//! the same string.
//!
//! # Classification and netgroups
//!
//! [`classify`] sorts an IP address into an [`AddrClass`] (public, private, loopback, ...) so the
//! discovery code can drop addresses that cannot be reached; [`netgroup`] maps an address to
//! the [`NetGroup`] used to spread connections across networks (at most a few peers per /16).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::fmt;
use std::str::FromStr;

use crate::id::{NodeId, NodeIdError};

/// The port used by `quantum://` addresses that do not give one.
pub const DEFAULT_PORT: u16 = 8000;

/// The longest address string [`PeerAddress::parse`] looks at, in bytes (before trimming).
pub const MAX_ADDRESS_LEN: usize = 512;

/// The longest hostname accepted (RFC 1123 / RFC 1035), without a trailing dot.
pub const MAX_HOSTNAME_LEN: usize = 253;

/// The longest label of a hostname (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// Characters of a v3 onion address before `.onion`.
pub const ONION_V3_LEN: usize = 56;

/// Characters of a retired v2 onion address before `.onion`.
const ONION_V2_LEN: usize = 16;

/// The version byte that ends a decoded v3 onion address.
const ONION_V3_VERSION: u8 = 0x03;

/// The transport a connection runs on. The frames are the same on both: the core does not
/// care which one carried them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Transport {
    /// A TCP stream (every address form except `quic://`).
    #[default]
    Tcp,
    /// One bidirectional QUIC stream on its own QUIC connection (`quic://` addresses).
    Quic,
}

impl Transport {
    /// `tcp` or `quic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Quic => "quic",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host part of a [`PeerAddress`].
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Host {
    /// A literal IPv4 or IPv6 address.
    Ip(IpAddr),
    /// A DNS name, lower-cased and valid under RFC 1123, without a trailing dot. Resolving it
    /// is the runtime's job.
    Domain(String),
    /// A Tor v3 onion service: the 56 lower-case base32 characters, without `.onion`.
    Onion(String),
}

impl fmt::Display for Host {
    /// The host as written in an address, except that IPv6 is shown without brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(ip) => write!(f, "{ip}"),
            Host::Domain(name) => f.write_str(name),
            Host::Onion(label) => write!(f, "{label}.onion"),
        }
    }
}

/// A peer's address: where to dial, and optionally which node must answer.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerAddress {
    /// Where the peer is.
    pub host: Host,
    /// The TCP port, 1-65535 for every parsed address.
    pub port: u16,
    /// The node id a `quantum://` (or pinned `quic://`) address pins: the handshake must
    /// prove this identity.
    pub expected_id: Option<NodeId>,
    /// The transport to dial: [`Transport::Quic`] for `quic://` addresses, else TCP.
    pub transport: Transport,
}

impl PeerAddress {
    /// Parses any of the forms in the [module documentation](self).
    pub fn parse(s: &str) -> Result<PeerAddress, AddrError> {
        if s.len() > MAX_ADDRESS_LEN {
            return Err(AddrError::TooLong {
                len: s.len(),
                max: MAX_ADDRESS_LEN,
            });
        }
        let input = s.trim();
        if input.is_empty() {
            return Err(AddrError::Empty);
        }
        let Some((scheme, rest)) = input.split_once("://") else {
            let (host, port) = parse_host_port(input, input, None)?;
            return Ok(PeerAddress {
                host,
                port,
                expected_id: None,
                transport: Transport::Tcp,
            });
        };
        if scheme.eq_ignore_ascii_case("quic") {
            return parse_quic(rest, input);
        }
        if !scheme.eq_ignore_ascii_case("quantum") {
            return Err(AddrError::UnknownScheme {
                scheme: scheme.to_string(),
                input: input.to_string(),
            });
        }
        let Some((id, host_port)) = rest.split_once('@') else {
            return Err(AddrError::MissingNodeId {
                input: input.to_string(),
            });
        };
        let expected_id: NodeId = id.parse().map_err(|reason| AddrError::InvalidNodeId {
            id: id.to_string(),
            reason,
        })?;
        let (host, port) = parse_host_port(host_port, input, Some(DEFAULT_PORT))?;
        Ok(PeerAddress {
            host,
            port,
            expected_id: Some(expected_id),
            transport: Transport::Tcp,
        })
    }

    /// The address of a socket, with no pinned identity. An IPv6 scope id and flow label are
    /// dropped. The port is kept as it is, so a port-0 socket address gives a `PeerAddress`
    /// that does not parse back (port 0 cannot be dialled).
    pub fn from_socket_addr(a: SocketAddr) -> PeerAddress {
        PeerAddress {
            host: Host::Ip(a.ip()),
            port: a.port(),
            expected_id: None,
            transport: Transport::Tcp,
        }
    }

    /// [`PeerAddress::from_socket_addr`] with the given transport.
    pub fn from_socket_addr_via(a: SocketAddr, transport: Transport) -> PeerAddress {
        PeerAddress {
            transport,
            ..PeerAddress::from_socket_addr(a)
        }
    }

    /// The socket address to dial, when the host is a literal IP address (`None` for domains,
    /// which need resolving, and onions, which go through the proxy).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.host {
            Host::Ip(ip) => Some(SocketAddr::new(ip, self.port)),
            Host::Domain(_) | Host::Onion(_) => None,
        }
    }

    /// Whether the host is a Tor onion service.
    pub fn is_onion(&self) -> bool {
        matches!(self.host, Host::Onion(_))
    }

    /// The [`AddrClass`] of an IP host; `None` for domains and onions.
    pub fn class(&self) -> Option<AddrClass> {
        match self.host {
            Host::Ip(ip) => Some(classify(ip)),
            Host::Domain(_) | Host::Onion(_) => None,
        }
    }

    /// The [`NetGroup`] of the host: [`netgroup`] for IPs, [`NetGroup::Onion`] for onions and
    /// [`NetGroup::Domain`] for (unresolved) domains.
    pub fn netgroup(&self) -> NetGroup {
        match &self.host {
            Host::Ip(ip) => netgroup(*ip),
            Host::Onion(_) => NetGroup::Onion,
            Host::Domain(name) => NetGroup::Domain(name.clone()),
        }
    }

    /// The same host, port and transport with no pinned identity.
    pub fn without_id(&self) -> PeerAddress {
        PeerAddress {
            host: self.host.clone(),
            port: self.port,
            expected_id: None,
            transport: self.transport,
        }
    }
}

impl FromStr for PeerAddress {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PeerAddress::parse(s)
    }
}

impl fmt::Display for PeerAddress {
    /// The canonical form: `host:port`, `[ipv6]:port`, or `quantum://<id>@host:port` when an
    /// identity is pinned (the port is always written); QUIC addresses start with `quic://`
    /// (`quic://host:port`, `quic://<id>@host:port`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.transport, &self.expected_id) {
            (Transport::Quic, Some(id)) => write!(f, "quic://{id}@")?,
            (Transport::Quic, None) => f.write_str("quic://")?,
            (_, Some(id)) => write!(f, "quantum://{id}@")?,
            (_, None) => {}
        }
        match &self.host {
            Host::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]:{}", self.port),
            host => write!(f, "{host}:{}", self.port),
        }
    }
}

impl serde::Serialize for PeerAddress {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PeerAddress {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a [`PeerAddress`]. Every message names the part that is wrong and says
/// what was expected, for an operator typing `qudag peer add`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddrError {
    /// Nothing but whitespace.
    #[error(
        "empty address: expected host:port, e.g. 192.168.1.100:8000, [2001:db8::1]:8000, \
         node1.qudag.network:8000 or quantum://<node id>@host"
    )]
    Empty,
    /// Longer than [`MAX_ADDRESS_LEN`].
    #[error("address too long: {len} bytes, the limit is {max}")]
    TooLong {
        /// The input's length in bytes.
        len: usize,
        /// [`MAX_ADDRESS_LEN`].
        max: usize,
    },
    /// A plain (non-`quantum://`) address without a port.
    #[error("missing port in {input:?}: add one, e.g. {input}:8000")]
    MissingPort {
        /// The trimmed input.
        input: String,
    },
    /// Nothing before the port.
    #[error("missing host in {input:?}: expected host:port, e.g. 192.168.1.100:8000")]
    MissingHost {
        /// The trimmed input.
        input: String,
    },
    /// The port is empty, not a number, or above 65535.
    #[error("invalid port {port:?} in {input:?}: {why}")]
    InvalidPort {
        /// The trimmed input.
        input: String,
        /// The text after the last `:`.
        port: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// Port 0.
    #[error("port 0 in {input:?} is not allowed: ports are 1-65535")]
    PortZero {
        /// The trimmed input.
        input: String,
    },
    /// An IPv6 address without the brackets it needs.
    #[error(
        "{input:?} looks like an IPv6 address without brackets: put the address in brackets \
         and the port after them, e.g. [2001:db8::1]:8000"
    )]
    Ipv6NeedsBrackets {
        /// The trimmed input.
        input: String,
    },
    /// The text in brackets (or the text after them) is wrong.
    #[error("invalid IPv6 address in {input:?}: {why}")]
    InvalidIpv6 {
        /// The trimmed input.
        input: String,
        /// What is wrong.
        why: String,
    },
    /// Digits and dots that do not make an IPv4 address.
    #[error(
        "invalid IPv4 address {host:?}: expected four numbers 0-255 separated by dots, \
         without leading zeros, e.g. 192.168.1.100"
    )]
    InvalidIpv4 {
        /// The host part.
        host: String,
    },
    /// A hostname longer than [`MAX_HOSTNAME_LEN`].
    #[error("invalid hostname {host:?}: {len} characters long, the limit is {max}")]
    HostnameTooLong {
        /// The host part.
        host: String,
        /// Its length in bytes.
        len: usize,
        /// [`MAX_HOSTNAME_LEN`].
        max: usize,
    },
    /// A label of a hostname breaks RFC 1123.
    #[error("invalid hostname {host:?}: label {label:?} {why}")]
    InvalidHostname {
        /// The host part.
        host: String,
        /// The offending label (text between dots).
        label: String,
        /// What is wrong with it.
        why: String,
    },
    /// A 16-character (v2) onion address.
    #[error(
        "{host:?} is a v2 onion address: v2 onion services were retired by Tor in 2021; \
         use the service's v3 address (56 characters before .onion)"
    )]
    OnionV2Retired {
        /// The host part.
        host: String,
    },
    /// A `.onion` host that is not a valid v3 address.
    #[error("invalid onion address {host:?}: {why}")]
    InvalidOnion {
        /// The host part.
        host: String,
        /// What is wrong.
        why: String,
    },
    /// A `quantum://` address without `<node id>@`.
    #[error("missing node id in {input:?}: expected quantum://<64-hex node id>@host[:port]")]
    MissingNodeId {
        /// The trimmed input.
        input: String,
    },
    /// The node id of a `quantum://` address does not parse.
    #[error(
        "invalid node id {id:?} in quantum:// address (the full 64-hex id is needed, \
         not the short form): {reason}"
    )]
    InvalidNodeId {
        /// The text between `quantum://` and `@`.
        id: String,
        /// Why it is not a node id.
        reason: NodeIdError,
    },
    /// A `quic://` address with an onion host: Tor carries TCP only.
    #[error(
        "{input:?}: QUIC cannot reach an onion service (Tor carries TCP only); use the plain \
         host:port or quantum://<node id>@host form"
    )]
    QuicOnion {
        /// The trimmed input.
        input: String,
    },
    /// A scheme other than `quantum://` and `quic://`.
    #[error(
        "unknown scheme \"{scheme}://\" in {input:?}: only quantum://<node id>@host[:port], \
         quic://host:port, quic://<node id>@host[:port] or a plain host:port is accepted"
    )]
    UnknownScheme {
        /// The text before `://`.
        scheme: String,
        /// The trimmed input.
        input: String,
    },
}

/// The part after `quic://`: `host:port`, or `<node id>@host[:port]`.
fn parse_quic(rest: &str, input: &str) -> Result<PeerAddress, AddrError> {
    let (expected_id, host_port, default_port) = match rest.split_once('@') {
        Some((id, host_port)) => {
            let id: NodeId = id.parse().map_err(|reason| AddrError::InvalidNodeId {
                id: id.to_string(),
                reason,
            })?;
            (Some(id), host_port, Some(DEFAULT_PORT))
        }
        None => (None, rest, None),
    };
    let (host, port) = parse_host_port(host_port, input, default_port)?;
    if matches!(host, Host::Onion(_)) {
        return Err(AddrError::QuicOnion {
            input: input.to_string(),
        });
    }
    Ok(PeerAddress {
        host,
        port,
        expected_id,
        transport: Transport::Quic,
    })
}

/// Splits `host:port` or `[ipv6]:port`. `default_port` is used when there is no port
/// (`quantum://`); without one, a missing port is an error. `input` is for messages.
fn parse_host_port(
    s: &str,
    input: &str,
    default_port: Option<u16>,
) -> Result<(Host, u16), AddrError> {
    let missing_port = || match default_port {
        Some(port) => Ok(port),
        None => Err(AddrError::MissingPort {
            input: input.to_string(),
        }),
    };
    if let Some(rest) = s.strip_prefix('[') {
        let invalid = |why: String| AddrError::InvalidIpv6 {
            input: input.to_string(),
            why,
        };
        let (inside, after) = rest
            .split_once(']')
            .ok_or_else(|| invalid("missing closing ']'".into()))?;
        let ip = parse_ipv6(inside).map_err(invalid)?;
        let port = if after.is_empty() {
            missing_port()?
        } else if let Some(port) = after.strip_prefix(':') {
            parse_port(port, input)?
        } else {
            return Err(invalid(format!(
                "unexpected {after:?} after ']': expected ':' and a port"
            )));
        };
        return Ok((Host::Ip(IpAddr::V6(ip)), port));
    }

    let (host, port) = match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    };
    if host.contains(':') {
        // Two or more colons: an IPv6 address that forgot its brackets, or garbage.
        if s.parse::<Ipv6Addr>().is_ok() || host.parse::<Ipv6Addr>().is_ok() {
            return Err(AddrError::Ipv6NeedsBrackets {
                input: input.to_string(),
            });
        }
        if s.chars()
            .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return Err(AddrError::InvalidIpv6 {
                input: input.to_string(),
                why: "not a valid IPv6 address, and an IPv6 address needs brackets: [2001:db8::1]:8000".into(),
            });
        }
    }
    if host.is_empty() {
        return Err(AddrError::MissingHost {
            input: input.to_string(),
        });
    }
    let host = parse_host(host)?;
    let port = match port {
        Some(port) => parse_port(port, input)?,
        None => missing_port()?,
    };
    Ok((host, port))
}

/// Parses the text inside brackets.
fn parse_ipv6(s: &str) -> Result<Ipv6Addr, String> {
    if let Some((_, zone)) = s.split_once('%') {
        return Err(format!("zone ids ('%{zone}') are not supported"));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not an IPv6 address, e.g. 2001:db8::1"))
}

/// Parses a port: decimal digits (leading zeros allowed), 1-65535.
fn parse_port(port: &str, input: &str) -> Result<u16, AddrError> {
    let invalid = |why| AddrError::InvalidPort {
        input: input.to_string(),
        port: port.to_string(),
        why,
    };
    if port.is_empty() {
        return Err(invalid("empty, expected a number 1-65535"));
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("not a number, expected 1-65535"));
    }
    let digits = port.trim_start_matches('0');
    if digits.is_empty() {
        return Err(AddrError::PortZero {
            input: input.to_string(),
        });
    }
    // At most 5 significant digits fit; more would overflow the parse below.
    match digits.parse::<u32>() {
        Ok(n) if digits.len() <= 5 && n <= u32::from(u16::MAX) => Ok(n as u16),
        _ => Err(invalid("greater than 65535")),
    }
}

/// Parses a host that is not bracketed: IPv4, onion or domain.
fn parse_host(host: &str) -> Result<Host, AddrError> {
    if host.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return host
            .parse::<Ipv4Addr>()
            .map(|ip| Host::Ip(IpAddr::V4(ip)))
            .map_err(|_| AddrError::InvalidIpv4 {
                host: host.to_string(),
            });
    }
    let lower = host.to_ascii_lowercase();
    if let Some(label) = lower.strip_suffix(".onion") {
        return parse_onion(label, host).map(Host::Onion);
    }
    validate_hostname(&lower, host)?;
    Ok(Host::Domain(lower))
}

/// Checks a lower-cased hostname against RFC 1123. `original` is for messages.
fn validate_hostname(name: &str, original: &str) -> Result<(), AddrError> {
    if name.len() > MAX_HOSTNAME_LEN {
        return Err(AddrError::HostnameTooLong {
            host: original.to_string(),
            len: name.len(),
            max: MAX_HOSTNAME_LEN,
        });
    }
    let bad = |label: &str, why: String| AddrError::InvalidHostname {
        host: original.to_string(),
        label: label.to_string(),
        why,
    };
    let mut last = "";
    for label in name.split('.') {
        if label.is_empty() {
            return Err(bad(
                label,
                "is empty (a leading or trailing dot, or two dots in a row)".into(),
            ));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
        {
            let why = match c {
                '@' => "contains '@': a node id goes in quantum://<node id>@host".to_string(),
                ':' => "contains ':': an IPv6 address goes in brackets, e.g. [2001:db8::1]:8000"
                    .to_string(),
                c if !c.is_ascii() => format!(
                    "contains {c:?}: hostnames use a-z, 0-9 and '-'; write international names \
                     in punycode (xn--...)"
                ),
                c => format!("contains {c:?}: hostnames use only a-z, 0-9 and '-'"),
            };
            return Err(bad(label, why));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(bad(
                label,
                format!(
                    "is {} characters long, the limit is {MAX_LABEL_LEN}",
                    label.len()
                ),
            ));
        }
        if label.starts_with('-') {
            return Err(bad(label, "starts with '-'".into()));
        }
        if label.ends_with('-') {
            return Err(bad(label, "ends with '-'".into()));
        }
        last = label;
    }
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(
            last,
            "is all digits: the last label of a hostname cannot be numeric".into(),
        ));
    }
    Ok(())
}

/// Checks the lower-cased part before `.onion` and returns it.
///
/// A v3 address is base32 (`a-z2-7`) of 35 bytes: public key (32), checksum (2), version (1).
/// The version byte must be 3. The checksum is **not** verified: it is a truncated SHA3-256,
/// which this crate does not depend on; a mistyped address fails later, at the Tor proxy.
fn parse_onion(label: &str, original: &str) -> Result<String, AddrError> {
    let invalid = |why: String| AddrError::InvalidOnion {
        host: original.to_string(),
        why,
    };
    if label.is_empty() {
        return Err(invalid(format!(
            "nothing before .onion, expected {ONION_V3_LEN} base32 characters"
        )));
    }
    if label.contains('.') {
        return Err(invalid(format!(
            "subdomains of onion services are not supported: give the {ONION_V3_LEN}-character \
             service address alone"
        )));
    }
    let len = label.chars().count();
    if len == ONION_V2_LEN {
        return Err(AddrError::OnionV2Retired {
            host: original.to_string(),
        });
    }
    if len != ONION_V3_LEN {
        return Err(invalid(format!(
            "a v3 onion address has {ONION_V3_LEN} characters before .onion, this one has {len}"
        )));
    }
    if let Some((i, c)) = label
        .chars()
        .enumerate()
        .find(|(_, c)| base32_value(*c).is_none())
    {
        return Err(invalid(format!(
            "{c:?} at position {i} is not base32 (a-z, 2-7)"
        )));
    }
    let decoded = base32_decode(label);
    let version = decoded[decoded.len() - 1];
    if version != ONION_V3_VERSION {
        return Err(invalid(format!(
            "version byte is {version:#04x}, expected {ONION_V3_VERSION:#04x} (v3): probably a typo"
        )));
    }
    Ok(label.to_string())
}

/// The value of one lower-case RFC 4648 base32 character.
fn base32_value(c: char) -> Option<u8> {
    match c {
        'a'..='z' => Some(c as u8 - b'a'),
        '2'..='7' => Some(c as u8 - b'2' + 26),
        _ => None,
    }
}

/// Decodes unpadded base32 whose characters [`base32_value`] accepts; trailing bits that do
/// not fill a byte are dropped.
fn base32_decode(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.chars() {
        acc = (acc << 5) | u32::from(base32_value(c).unwrap_or(0));
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

/// What kind of network an IP address belongs to.
///
/// See [`classify`] for the ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AddrClass {
    /// `0.0.0.0` or `::`: "any address", never a peer.
    Unspecified,
    /// The host itself: `127.0.0.0/8`, `::1`.
    Loopback,
    /// Private networks: RFC 1918, carrier-grade NAT, IPv6 unique-local.
    Private,
    /// Link-local: `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// Reserved for documentation and examples.
    Documentation,
    /// Not a unicast address anyone can have: reserved, multicast, broadcast, benchmarking,
    /// unallocated.
    Bogon,
    /// Globally routable unicast.
    Public,
}

impl fmt::Display for AddrClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddrClass::Unspecified => "unspecified",
            AddrClass::Loopback => "loopback",
            AddrClass::Private => "private",
            AddrClass::LinkLocal => "link-local",
            AddrClass::Documentation => "documentation",
            AddrClass::Bogon => "bogon",
            AddrClass::Public => "public",
        })
    }
}

/// Classifies an IP address. The first matching rule wins.
///
/// IPv4:
/// - `0.0.0.0` Unspecified; the rest of `0.0.0.0/8` Bogon;
/// - `127.0.0.0/8` Loopback;
/// - `10.0.0.0/8`, `172.16.0.0/12`, `192.168.0.0/16`, `100.64.0.0/10` (carrier-grade NAT)
///   Private;
/// - `169.254.0.0/16` LinkLocal;
/// - `192.0.2.0/24`, `198.51.100.0/24`, `203.0.113.0/24` Documentation;
/// - `192.0.0.0/24` (IETF assignments), `198.18.0.0/15` (benchmarking), `224.0.0.0/4`
///   (multicast), `240.0.0.0/4` (reserved, including `255.255.255.255`) Bogon;
/// - everything else Public.
///
/// IPv6:
/// - `::ffff:a.b.c.d` (IPv4-mapped): exactly as the IPv4 address `a.b.c.d`;
/// - `::` Unspecified; `::1` Loopback;
/// - `64:ff9b::/96` (NAT64) and `2002::/16` (6to4) embed an IPv4 address: Public when that
///   address is Public, else Bogon (these prefixes must not carry non-global IPv4 addresses);
/// - `fc00::/7` (unique-local) Private; `fe80::/10` LinkLocal;
/// - `2001:db8::/32` and `3fff::/20` Documentation;
/// - `2001:2::/48` (benchmarking), `2001:10::/28` and `2001:20::/28` (ORCHID) Bogon;
/// - anything outside `2000::/3` (global unicast) Bogon: multicast `ff00::/8`, discard
///   `100::/64`, IPv4-compatible `::a.b.c.d`, site-local `fec0::/10`, unallocated space;
/// - everything else Public (including Teredo `2001::/32`).
pub fn classify(ip: IpAddr) -> AddrClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddrClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if ip.is_unspecified() => AddrClass::Unspecified,
        (0, _, _) => AddrClass::Bogon,
        (127, _, _) => AddrClass::Loopback,
        (10, _, _) | (172, 16..=31, _) | (192, 168, _) | (100, 64..=127, _) => AddrClass::Private,
        (169, 254, _) => AddrClass::LinkLocal,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddrClass::Documentation,
        (192, 0, 0) | (198, 18..=19, _) | (224..=255, _, _) => AddrClass::Bogon,
        _ => AddrClass::Public,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddrClass {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    if ip.is_unspecified() {
        return AddrClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddrClass::Loopback;
    }
    if let Some(v4) = translated_ipv4(ip) {
        return match classify_v4(v4) {
            AddrClass::Public => AddrClass::Public,
            _ => AddrClass::Bogon,
        };
    }
    let s = ip.segments();
    if s[0] & 0xfe00 == 0xfc00 {
        AddrClass::Private
    } else if s[0] & 0xffc0 == 0xfe80 {
        AddrClass::LinkLocal
    } else if (s[0] == 0x2001 && s[1] == 0x0db8) || (s[0] == 0x3fff && s[1] & 0xf000 == 0) {
        AddrClass::Documentation
    } else if (s[0] == 0x2001 && s[1] == 0x0002 && s[2] == 0)
        || (s[0] == 0x2001 && matches!(s[1] & 0xfff0, 0x0010 | 0x0020))
        || s[0] & 0xe000 != 0x2000
    {
        AddrClass::Bogon
    } else {
        AddrClass::Public
    }
}

/// The IPv4 address embedded by NAT64 (`64:ff9b::/96`, in the last 32 bits) or 6to4
/// (`2002::/16`, in bits 16-47). IPv4-mapped addresses are handled separately.
fn translated_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let o = ip.octets();
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else {
        None
    }
}

/// The network a peer is in, for spreading connections: peers in the same group are
/// probably run by the same operator or reached through the same provider.
///
/// See [`netgroup`] for how IP addresses are grouped.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum NetGroup {
    /// An IPv4 /16: the first two octets.
    Ipv4([u8; 2]),
    /// An IPv6 /32: the first four octets.
    Ipv6([u8; 4]),
    /// One loopback address: every loopback address is its own group, so local test networks
    /// on distinct `127.x.y.z` addresses are not limited to one peer.
    Loopback(IpAddr),
    /// Every onion service: one group, as Bitcoin Core groups a whole overlay network, since
    /// onion addresses say nothing about who runs them.
    Onion,
    /// A domain that has not been resolved yet, by its lower-case name.
    Domain(String),
}

impl NetGroup {
    /// Whether this is a loopback address's group.
    pub fn is_loopback(&self) -> bool {
        matches!(self, NetGroup::Loopback(_))
    }
}

impl fmt::Display for NetGroup {
    /// `1.2.0.0/16`, `2001:db8::/32`, `loopback 127.0.0.5`, `onion` or `dns:<name>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetGroup::Ipv4([a, b]) => write!(f, "{a}.{b}.0.0/16"),
            NetGroup::Ipv6([a, b, c, d]) => {
                let prefix = Ipv6Addr::from([*a, *b, *c, *d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                write!(f, "{prefix}/32")
            }
            NetGroup::Loopback(ip) => write!(f, "loopback {ip}"),
            NetGroup::Onion => f.write_str("onion"),
            NetGroup::Domain(name) => write!(f, "dns:{name}"),
        }
    }
}

/// The [`NetGroup`] of an IP address.
///
/// - Loopback addresses (`127.0.0.0/8`, `::1`, and IPv4-mapped loopback) are each their own
///   [`NetGroup::Loopback`] group: distinct `127.x.y.z` addresses give distinct groups.
/// - Other IPv4 addresses group by /16, whatever their class: private networks are distinct
///   subnets too, and unroutable ones are filtered by [`classify`], not here.
/// - IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002::/16`) addresses
///   group as the IPv4 address they embed.
/// - Other IPv6 addresses group by /32.
pub fn netgroup(ip: IpAddr) -> NetGroup {
    match ip {
        IpAddr::V4(v4) if v4.is_loopback() => NetGroup::Loopback(ip),
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            NetGroup::Ipv4([a, b])
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return netgroup(IpAddr::V4(v4));
            }
            if v6.is_loopback() {
                return NetGroup::Loopback(ip);
            }
            if let Some(v4) = translated_ipv4(v6) {
                let [a, b, _, _] = v4.octets();
                return NetGroup::Ipv4([a, b]);
            }
            let [a, b, c, d, ..] = v6.octets();
            NetGroup::Ipv6([a, b, c, d])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_decodes_rfc4648_vectors() {
        // RFC 4648 section 10, lower-cased and unpadded.
        assert_eq!(base32_decode(""), b"");
        assert_eq!(base32_decode("my"), b"f");
        assert_eq!(base32_decode("mzxq"), b"fo");
        assert_eq!(base32_decode("mzxw6"), b"foo");
        assert_eq!(base32_decode("mzxw6yq"), b"foob");
        assert_eq!(base32_decode("mzxw6ytb"), b"fooba");
        assert_eq!(base32_decode("mzxw6ytboi"), b"foobar");
        assert_eq!(base32_decode(&"a".repeat(ONION_V3_LEN)).len(), 35);
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("1", "x"), Ok(1));
        assert_eq!(parse_port("65535", "x"), Ok(65535));
        assert_eq!(parse_port("0000065535", "x"), Ok(65535));
        assert_eq!(
            parse_port("00", "x"),
            Err(AddrError::PortZero { input: "x".into() })
        );
        assert!(matches!(
            parse_port("65536", "x"),
            Err(AddrError::InvalidPort { .. })
        ));
        assert!(matches!(
            parse_port("１", "x"),
            Err(AddrError::InvalidPort { .. })
        ));
    }

    #[test]
    fn length_is_checked_before_trimming() {
        let padded = format!("{}1.2.3.4:1", " ".repeat(MAX_ADDRESS_LEN));
        assert!(matches!(
            PeerAddress::parse(&padded),
            Err(AddrError::TooLong { .. })
        ));
        let exactly = format!("{}1.2.3.4:1", " ".repeat(MAX_ADDRESS_LEN - 9));
        assert_eq!(exactly.len(), MAX_ADDRESS_LEN);
        assert!(PeerAddress::parse(&exactly).is_ok());
    }
}
