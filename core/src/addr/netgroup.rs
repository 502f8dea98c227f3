//! Classification of IP addresses ([`classify`]) and the [`NetGroup`]s used to spread
//! connections across networks ([`netgroup`]).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::fmt;

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
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
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
/// See `netgroup` for how IP addresses are grouped.
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
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
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
