//! The parser's pieces: `quic://` forms, `host:port`, ports, hostnames (RFC 1123) and v3
//! onion names. [`PeerAddress::parse`] in the parent module puts them together.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    AddrError, Host, PeerAddress, Transport, DEFAULT_PORT, MAX_HOSTNAME_LEN, MAX_LABEL_LEN,
    ONION_V3_LEN,
};
use crate::id::NodeId;

/// Characters of a retired v2 onion address before `.onion`.
const ONION_V2_LEN: usize = 16;

/// The version byte that ends a decoded v3 onion address.
const ONION_V3_VERSION: u8 = 0x03;

/// The part after `quic://`: `host:port`, or `<node id>@host[:port]`.
pub(super) fn parse_quic(rest: &str, input: &str) -> Result<PeerAddress, AddrError> {
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
pub(super) fn parse_host_port(
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
pub(super) fn parse_ipv6(s: &str) -> Result<Ipv6Addr, String> {
    if let Some((_, zone)) = s.split_once('%') {
        return Err(format!("zone ids ('%{zone}') are not supported"));
    }
    s.parse()
        .map_err(|_| format!("{s:?} is not an IPv6 address, e.g. 2001:db8::1"))
}

/// Parses a port: decimal digits (leading zeros allowed), 1-65535.
pub(super) fn parse_port(port: &str, input: &str) -> Result<u16, AddrError> {
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
pub(super) fn parse_host(host: &str) -> Result<Host, AddrError> {
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
pub(super) fn validate_hostname(name: &str, original: &str) -> Result<(), AddrError> {
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
pub(super) fn parse_onion(label: &str, original: &str) -> Result<String, AddrError> {
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
pub(super) fn base32_value(c: char) -> Option<u8> {
    match c {
        'a'..='z' => Some(c as u8 - b'a'),
        '2'..='7' => Some(c as u8 - b'2' + 26),
        _ => None,
    }
}

/// Decodes unpadded base32 whose characters [`base32_value`] accepts; trailing bits that do
/// not fill a byte are dropped.
pub(super) fn base32_decode(s: &str) -> Vec<u8> {
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
