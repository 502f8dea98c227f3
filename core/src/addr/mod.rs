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

use core::net::{IpAddr, SocketAddr};
use std::fmt;
use std::str::FromStr;

use crate::id::{NodeId, NodeIdError};

mod netgroup;
mod parse;

pub use netgroup::NetGroup;
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub use netgroup::{classify, netgroup, AddrClass};
use parse::{parse_host_port, parse_quic};

/// The port used by `quantum://` addresses that do not give one.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const DEFAULT_PORT: u16 = 8000;

/// The longest address string [`PeerAddress::parse`] looks at, in bytes (before trimming).
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_ADDRESS_LEN: usize = 512;

/// The longest hostname accepted (RFC 1123 / RFC 1035), without a trailing dot.
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub const MAX_HOSTNAME_LEN: usize = 253;

/// The longest label of a hostname (RFC 1035).
pub(crate) const MAX_LABEL_LEN: usize = 63;

/// Characters of a v3 onion address before `.onion`.
pub(crate) const ONION_V3_LEN: usize = 56;

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
    /// Parses any of the accepted forms: `ip:port`, `[ipv6]:port`, `domain:port`, `<v3 onion>.onion:port`,
    /// `quantum://<node id>@<host>[:port]`, `quic://<host>:port` and `quic://<node id>@<host>[:port]`
    /// (`docs/CLI.md` and the `addr` module documentation give the details).
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

    /// The `AddrClass` of an IP host; `None` for domains and onions.
    pub fn class(&self) -> Option<AddrClass> {
        match self.host {
            Host::Ip(ip) => Some(classify(ip)),
            Host::Domain(_) | Host::Onion(_) => None,
        }
    }

    /// The [`NetGroup`] of the host: `netgroup` for IPs, [`NetGroup::Onion`] for onions and
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
    /// Longer than `MAX_ADDRESS_LEN` (512 bytes).
    #[error("address too long: {len} bytes, the limit is {max}")]
    TooLong {
        /// The input's length in bytes.
        len: usize,
        /// `MAX_ADDRESS_LEN`.
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
    /// A hostname longer than `MAX_HOSTNAME_LEN` (253 bytes).
    #[error("invalid hostname {host:?}: {len} characters long, the limit is {max}")]
    HostnameTooLong {
        /// The host part.
        host: String,
        /// Its length in bytes.
        len: usize,
        /// `MAX_HOSTNAME_LEN`.
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

#[cfg(test)]
mod tests {
    use super::parse::{base32_decode, parse_port};
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
