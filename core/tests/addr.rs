//! The address parser: every accepted form, every error, classification, netgroups and
//! round-trip properties.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use qudag_peer::addr::{classify, netgroup, AddrClass, Host, DEFAULT_PORT, MAX_ADDRESS_LEN};
use qudag_peer::NodeId;
use qudag_peer::{AddrError, NetGroup, PeerAddress, Transport};

/// A real v3 onion service (DuckDuckGo's), 56 characters.
const ONION: &str = "duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad";
/// Another real one (the Tor Project's).
const ONION2: &str = "2gzyxa5ihm7nsggfxnu52rck2vv4rvmdlkiu3zzui5du4xyclen53wid";
const ID_HEX: &str = "a3f2b1c4a3f2b1c4a3f2b1c4a3f2b1c4a3f2b1c4a3f2b1c4a3f2b1c4a3f2b1c4";

fn parse(s: &str) -> PeerAddress {
    PeerAddress::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn id() -> NodeId {
    ID_HEX.parse().unwrap()
}

/// Encodes bytes as lower-case unpadded base32 (test-side twin of the parser's decoder).
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let (mut out, mut acc, mut bits) = (String::new(), 0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
        acc &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// An input, a check of the error variant, and a phrase the message must contain.
type ErrorCase = (String, fn(&AddrError) -> bool, &'static str);

fn onion_label(key: [u8; 32], checksum: [u8; 2], version: u8) -> String {
    let mut bytes = key.to_vec();
    bytes.extend_from_slice(&checksum);
    bytes.push(version);
    base32(&bytes)
}

// ---- happy paths -----------------------------------------------------------------------------

#[test]
fn spec_examples_parse() {
    let a = parse("192.168.1.100:8000");
    assert_eq!(a.host, Host::Ip(ip("192.168.1.100")));
    assert_eq!(a.port, 8000);
    assert_eq!(a.expected_id, None);

    let a = parse("[2001:db8::1]:8000");
    assert_eq!(a.host, Host::Ip(ip("2001:db8::1")));
    assert_eq!(a.port, 8000);

    let a = parse("node1.qudag.network:8000");
    assert_eq!(a.host, Host::Domain("node1.qudag.network".into()));
    assert_eq!(a.port, 8000);

    let a = parse(&format!("{ONION}.onion:8000"));
    assert_eq!(a.host, Host::Onion(ONION.into()));
    assert!(a.is_onion());

    let a = parse(&format!("quantum://{ID_HEX}@node1.qudag.network"));
    assert_eq!(a.host, Host::Domain("node1.qudag.network".into()));
    assert_eq!(a.port, DEFAULT_PORT);
    assert_eq!(DEFAULT_PORT, 8000);
    assert_eq!(a.expected_id, Some(id()));
}

#[test]
fn accepted_forms_and_their_canonical_display() {
    let cases: &[(&str, &str)] = &[
        ("1.2.3.4:1", "1.2.3.4:1"),
        ("  1.2.3.4:65535\n", "1.2.3.4:65535"),
        ("1.2.3.4:08000", "1.2.3.4:8000"),
        ("[::1]:8000", "[::1]:8000"),
        ("[2001:DB8:0:0::1]:9", "[2001:db8::1]:9"),
        ("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80"),
        ("localhost:8000", "localhost:8000"),
        ("Node1.QuDAG.Network:8000", "node1.qudag.network:8000"),
        ("a-b.c0.d:1", "a-b.c0.d:1"),
        ("123.example:1", "123.example:1"),
        ("x.y2:1", "x.y2:1"),
        (
            &format!("{}.ONION:8000", ONION.to_uppercase()),
            &format!("{ONION}.onion:8000"),
        ),
        (
            &format!("{ONION2}.onion:9050"),
            &format!("{ONION2}.onion:9050"),
        ),
        (
            &format!("quantum://{ID_HEX}@1.2.3.4"),
            &format!("quantum://{ID_HEX}@1.2.3.4:8000"),
        ),
        (
            &format!("QUANTUM://{}@[::1]", ID_HEX.to_uppercase()),
            &format!("quantum://{ID_HEX}@[::1]:8000"),
        ),
        (
            &format!("quantum://{ID_HEX}@[::1]:7"),
            &format!("quantum://{ID_HEX}@[::1]:7"),
        ),
        (
            &format!("quantum://{ID_HEX}@{ONION}.onion"),
            &format!("quantum://{ID_HEX}@{ONION}.onion:8000"),
        ),
        (
            &format!("quantum://{ID_HEX}@Host:9000"),
            &format!("quantum://{ID_HEX}@host:9000"),
        ),
        ("quic://1.2.3.4:9000", "quic://1.2.3.4:9000"),
        ("QUIC://[::1]:9000", "quic://[::1]:9000"),
        ("quic://Node1.Example:9000", "quic://node1.example:9000"),
        (
            &format!("quic://{ID_HEX}@1.2.3.4"),
            &format!("quic://{ID_HEX}@1.2.3.4:8000"),
        ),
        (
            &format!("quic://{ID_HEX}@[2001:db8::1]:9001"),
            &format!("quic://{ID_HEX}@[2001:db8::1]:9001"),
        ),
    ];
    for (input, canonical) in cases {
        let a = parse(input);
        assert_eq!(&a.to_string(), canonical, "display of {input:?}");
        assert_eq!(parse(canonical), a, "re-parse of {canonical:?}");
        assert_eq!(input.parse::<PeerAddress>(), Ok(a), "FromStr of {input:?}");
    }
}

#[test]
fn quic_addresses_select_the_transport() {
    let plain = parse("1.2.3.4:9000");
    assert_eq!(plain.transport, Transport::Tcp);
    let pinned = parse(&format!("quantum://{ID_HEX}@1.2.3.4:9000"));
    assert_eq!(pinned.transport, Transport::Tcp, "quantum:// stays TCP");
    let q = parse("quic://1.2.3.4:9000");
    assert_eq!(q.transport, Transport::Quic);
    assert_eq!(q.expected_id, None);
    assert_eq!(q.socket_addr(), plain.socket_addr());
    assert_ne!(
        q, plain,
        "the same socket over another transport is another address"
    );
    assert_eq!(q.without_id(), q);
    let qp = parse(&format!("quic://{ID_HEX}@1.2.3.4:9000"));
    assert_eq!(qp.transport, Transport::Quic);
    assert_eq!(qp.expected_id, pinned.expected_id);
    assert_eq!(qp.without_id(), q, "without_id keeps the transport");
    assert_eq!(
        PeerAddress::from_socket_addr_via("1.2.3.4:9000".parse().unwrap(), Transport::Quic),
        q
    );
    // Serde goes through the same string.
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Wrap {
        a: PeerAddress,
    }
    let text = toml::to_string(&Wrap { a: qp.clone() }).unwrap();
    assert_eq!(text.trim(), format!("a = \"quic://{ID_HEX}@1.2.3.4:9000\""));
    assert_eq!(toml::from_str::<Wrap>(&text).unwrap().a, qp);
    assert_eq!(Transport::Quic.to_string(), "quic");
    assert_eq!(Transport::default(), Transport::Tcp);
}

#[test]
fn longest_valid_labels_and_names() {
    let label = "a".repeat(63);
    assert!(PeerAddress::parse(&format!("{label}.b:1")).is_ok());
    // 4 labels of 63 + 3 dots = 255 > 253; 3 of 63 + one of 61 = 253.
    let name = format!("{label}.{label}.{label}.{}", "b".repeat(61));
    assert_eq!(name.len(), 253);
    assert!(PeerAddress::parse(&format!("{name}:1")).is_ok());
}

#[test]
fn accessors() {
    let a = parse("10.0.0.5:8000");
    assert_eq!(
        a.socket_addr(),
        Some("10.0.0.5:8000".parse::<SocketAddr>().unwrap())
    );
    assert_eq!(a.class(), Some(AddrClass::Private));
    assert_eq!(a.netgroup(), NetGroup::Ipv4([10, 0]));
    assert!(!a.is_onion());

    let d = parse("Seed.QuDAG.network:8000");
    assert_eq!(d.socket_addr(), None);
    assert_eq!(d.class(), None);
    assert_eq!(d.netgroup(), NetGroup::Domain("seed.qudag.network".into()));

    let o = parse(&format!("{ONION}.onion:8000"));
    assert_eq!(o.socket_addr(), None);
    assert_eq!(o.class(), None);
    assert_eq!(o.netgroup(), NetGroup::Onion);

    let q = parse(&format!("quantum://{ID_HEX}@[2001:db8::1]:9000"));
    assert_eq!(q.expected_id, Some(id()));
    let plain = q.without_id();
    assert_eq!(plain.expected_id, None);
    assert_eq!((plain.host.clone(), plain.port), (q.host.clone(), q.port));
    assert_eq!(plain.to_string(), "[2001:db8::1]:9000");

    let sa: SocketAddr = "[fe80::1%2]:8000".parse().unwrap();
    let f = PeerAddress::from_socket_addr(sa);
    assert_eq!(f.to_string(), "[fe80::1]:8000");
    assert_eq!(f.socket_addr().unwrap().ip(), sa.ip());
    let sa: SocketAddr = "127.0.0.3:9".parse().unwrap();
    assert_eq!(PeerAddress::from_socket_addr(sa).socket_addr(), Some(sa));
}

#[test]
fn serde_uses_the_canonical_string() {
    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Wrap {
        a: PeerAddress,
    }
    let w = Wrap {
        a: parse(&format!("quantum://{ID_HEX}@[::1]")),
    };
    let toml = toml::to_string(&w).unwrap();
    assert_eq!(
        toml.trim(),
        format!("a = \"quantum://{ID_HEX}@[::1]:8000\"")
    );
    assert_eq!(toml::from_str::<Wrap>(&toml).unwrap(), w);
    let err = toml::from_str::<Wrap>("a = \"1.2.3.4\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing port"), "{err}");
}

// ---- errors ----------------------------------------------------------------------------------

#[test]
fn every_error_says_what_is_wrong() {
    let long = "a".repeat(MAX_ADDRESS_LEN + 1);
    let label64 = "a".repeat(64);
    let name254 = format!("{0}.{0}.{0}.{1}", "a".repeat(63), "b".repeat(62));
    let v2 = "3g2upl4pq6kufc4m";
    let bad_version = onion_label([7; 32], [1, 2], 0x04);
    let cases: Vec<ErrorCase> = vec![
        (
            "".into(),
            |e| matches!(e, AddrError::Empty),
            "empty address",
        ),
        (
            " \t\n".into(),
            |e| matches!(e, AddrError::Empty),
            "empty address",
        ),
        (
            long.clone(),
            |e| matches!(e, AddrError::TooLong { len: 513, max: 512 }),
            "513 bytes, the limit is 512",
        ),
        (
            "1.2.3.4".into(),
            |e| matches!(e, AddrError::MissingPort { .. }),
            "missing port in \"1.2.3.4\": add one, e.g. 1.2.3.4:8000",
        ),
        (
            "node1.qudag.network".into(),
            |e| matches!(e, AddrError::MissingPort { .. }),
            "e.g. node1.qudag.network:8000",
        ),
        (
            "[::1]".into(),
            |e| matches!(e, AddrError::MissingPort { .. }),
            "e.g. [::1]:8000",
        ),
        (
            format!("{ONION}.onion"),
            |e| matches!(e, AddrError::MissingPort { .. }),
            "missing port",
        ),
        (
            ":8000".into(),
            |e| matches!(e, AddrError::MissingHost { .. }),
            "missing host",
        ),
        (
            "1.2.3.4:80a0".into(),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "invalid port \"80a0\" in \"1.2.3.4:80a0\": not a number",
        ),
        (
            "1.2.3.4:".into(),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "invalid port \"\" in \"1.2.3.4:\": empty",
        ),
        (
            "1.2.3.4:+80".into(),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "not a number",
        ),
        (
            "1.2.3.4:-1".into(),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "not a number",
        ),
        (
            "1.2.3.4:65536".into(),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "\"65536\" in \"1.2.3.4:65536\": greater than 65535",
        ),
        (
            "1.2.3.4:99999999999999999999".into(),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "greater than 65535",
        ),
        (
            "1.2.3.4:0".into(),
            |e| matches!(e, AddrError::PortZero { .. }),
            "port 0 in \"1.2.3.4:0\" is not allowed: ports are 1-65535",
        ),
        (
            "[::1]:000".into(),
            |e| matches!(e, AddrError::PortZero { .. }),
            "ports are 1-65535",
        ),
        (
            format!("quantum://{ID_HEX}@h:0"),
            |e| matches!(e, AddrError::PortZero { .. }),
            "ports are 1-65535",
        ),
        (
            "2001:db8::1".into(),
            |e| matches!(e, AddrError::Ipv6NeedsBrackets { .. }),
            "IPv6 address without brackets",
        ),
        (
            "2001:db8::1:8000".into(),
            |e| matches!(e, AddrError::Ipv6NeedsBrackets { .. }),
            "e.g. [2001:db8::1]:8000",
        ),
        (
            "::1".into(),
            |e| matches!(e, AddrError::Ipv6NeedsBrackets { .. }),
            "brackets",
        ),
        (
            "fe80::1::2:80".into(),
            |e| matches!(e, AddrError::InvalidIpv6 { .. }),
            "needs brackets",
        ),
        (
            "[2001:db8::1:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv6 { .. }),
            "missing closing ']'",
        ),
        (
            "[zz::1]:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv6 { .. }),
            "\"zz::1\" is not an IPv6 address",
        ),
        (
            "[1.2.3.4]:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv6 { .. }),
            "is not an IPv6 address",
        ),
        (
            "[fe80::1%eth0]:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv6 { .. }),
            "zone ids ('%eth0') are not supported",
        ),
        (
            "[::1]8000".into(),
            |e| matches!(e, AddrError::InvalidIpv6 { .. }),
            "unexpected \"8000\" after ']'",
        ),
        (
            "1.2.3:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv4 { .. }),
            "invalid IPv4 address \"1.2.3\"",
        ),
        (
            "256.1.1.1:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv4 { .. }),
            "four numbers 0-255",
        ),
        (
            "01.2.3.4:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv4 { .. }),
            "without leading zeros",
        ),
        (
            "1.2.3.4.5:8000".into(),
            |e| matches!(e, AddrError::InvalidIpv4 { .. }),
            "invalid IPv4",
        ),
        (
            "node_1.qudag.network:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { label, .. } if label == "node_1"),
            "label \"node_1\" contains '_'",
        ),
        (
            "bücher.de:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "punycode",
        ),
        (
            "a b:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "contains ' '",
        ),
        (
            "-node.net:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { label, .. } if label == "-node"),
            "starts with '-'",
        ),
        (
            "node-.net:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "ends with '-'",
        ),
        (
            "node..net:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "is empty",
        ),
        (
            "node.net.:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "trailing dot",
        ),
        (
            ".node.net:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "leading",
        ),
        (
            format!("{label64}.net:8000"),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "is 64 characters long, the limit is 63",
        ),
        (
            format!("{name254}:8000"),
            |e| {
                matches!(
                    e,
                    AddrError::HostnameTooLong {
                        len: 254,
                        max: 253,
                        ..
                    }
                )
            },
            "254 characters long, the limit is 253",
        ),
        (
            "a.123:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "cannot be numeric",
        ),
        (
            "foo:bar:80".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "contains ':'",
        ),
        (
            "peer@1.2.3.4:8000".into(),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "quantum://<node id>@host",
        ),
        (
            format!("{v2}.onion:8000"),
            |e| matches!(e, AddrError::OnionV2Retired { .. }),
            "v2 onion services were retired",
        ),
        (
            format!("{}.onion:8000", v2.to_uppercase()),
            |e| matches!(e, AddrError::OnionV2Retired { .. }),
            "56 characters",
        ),
        (
            "abc.onion:8000".into(),
            |e| matches!(e, AddrError::InvalidOnion { .. }),
            "56 characters before .onion, this one has 3",
        ),
        (
            ".onion:8000".into(),
            |e| matches!(e, AddrError::InvalidOnion { .. }),
            "nothing before .onion",
        ),
        (
            format!("www.{ONION}.onion:8000"),
            |e| matches!(e, AddrError::InvalidOnion { .. }),
            "subdomains",
        ),
        (
            format!("{}1.onion:8000", &ONION[..55]),
            |e| matches!(e, AddrError::InvalidOnion { .. }),
            "'1' at position 55 is not base32",
        ),
        (
            format!("{bad_version}.onion:8000"),
            |e| matches!(e, AddrError::InvalidOnion { .. }),
            "version byte is 0x04, expected 0x03",
        ),
        (
            "quantum://1.2.3.4:8000".into(),
            |e| matches!(e, AddrError::MissingNodeId { .. }),
            "missing node id",
        ),
        (
            "quantum://a3f2b1c4...@node1.qudag.network".into(),
            |e| matches!(e, AddrError::InvalidNodeId { .. }),
            "full 64-hex id is needed",
        ),
        (
            "quantum://abcd@h".into(),
            |e| matches!(e, AddrError::InvalidNodeId { .. }),
            "64 hex characters, this one has 4",
        ),
        (
            format!("quantum://{ID_HEX}@"),
            |e| matches!(e, AddrError::MissingHost { .. }),
            "missing host",
        ),
        (
            format!("quantum://{ID_HEX}@h:x"),
            |e| matches!(e, AddrError::InvalidPort { .. }),
            "not a number",
        ),
        (
            format!("quantum://{ID_HEX}@bad_host"),
            |e| matches!(e, AddrError::InvalidHostname { .. }),
            "'_'",
        ),
        (
            "quic://1.2.3.4".into(),
            |e| matches!(e, AddrError::MissingPort { .. }),
            "missing port",
        ),
        (
            format!("quic://{ONION}.onion:8000"),
            |e| matches!(e, AddrError::QuicOnion { .. }),
            "Tor carries TCP only",
        ),
        (
            format!("quic://{ID_HEX}@{ONION}.onion"),
            |e| matches!(e, AddrError::QuicOnion { .. }),
            "QUIC cannot reach an onion service",
        ),
        (
            "quic://abcd@h".into(),
            |e| matches!(e, AddrError::InvalidNodeId { .. }),
            "64 hex characters, this one has 4",
        ),
        (
            "http://1.2.3.4:8000".into(),
            |e| matches!(e, AddrError::UnknownScheme { scheme, .. } if scheme == "http"),
            "unknown scheme \"http://\"",
        ),
        (
            "tcp://h:1".into(),
            |e| matches!(e, AddrError::UnknownScheme { .. }),
            "only quantum://",
        ),
    ];
    for (input, is_variant, phrase) in &cases {
        let err = PeerAddress::parse(input).expect_err(input);
        assert!(
            is_variant(&err),
            "{input:?} gave the wrong variant: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(phrase),
            "{input:?}: message {msg:?} lacks {phrase:?}"
        );
    }
}

#[test]
fn onion_version_byte_is_checked_and_generated_labels_parse() {
    let good = onion_label([0xab; 32], [0x12, 0x34], 0x03);
    assert_eq!(good.len(), 56);
    assert_eq!(parse(&format!("{good}.onion:1")).host, Host::Onion(good));
    for version in [0x00, 0x02, 0x04, 0xff] {
        let label = onion_label([0xab; 32], [0x12, 0x34], version);
        assert!(matches!(
            PeerAddress::parse(&format!("{label}.onion:1")),
            Err(AddrError::InvalidOnion { .. })
        ));
    }
}

// ---- classification --------------------------------------------------------------------------

#[test]
fn classification_table() {
    use AddrClass::*;
    let table: &[(&str, AddrClass)] = &[
        ("0.0.0.0", Unspecified),
        ("0.0.0.1", Bogon),
        ("0.255.255.255", Bogon),
        ("127.0.0.1", Loopback),
        ("127.255.255.254", Loopback),
        ("10.0.0.1", Private),
        ("10.255.255.255", Private),
        ("172.16.0.1", Private),
        ("172.31.255.255", Private),
        ("172.15.255.255", Public),
        ("172.32.0.0", Public),
        ("192.168.1.100", Private),
        ("100.64.0.1", Private),
        ("100.127.255.255", Private),
        ("100.63.255.255", Public),
        ("100.128.0.0", Public),
        ("169.254.1.1", LinkLocal),
        ("192.0.2.1", Documentation),
        ("198.51.100.7", Documentation),
        ("203.0.113.255", Documentation),
        ("192.0.0.8", Bogon),
        ("198.18.0.1", Bogon),
        ("198.19.255.255", Bogon),
        ("198.20.0.0", Public),
        ("224.0.0.1", Bogon),
        ("239.255.255.255", Bogon),
        ("240.0.0.1", Bogon),
        ("255.255.255.255", Bogon),
        ("1.1.1.1", Public),
        ("8.8.8.8", Public),
        ("223.255.255.255", Public),
        ("::", Unspecified),
        ("::1", Loopback),
        ("::ffff:127.0.0.1", Loopback),
        ("::ffff:10.1.2.3", Private),
        ("::ffff:8.8.8.8", Public),
        ("::ffff:0.0.0.0", Unspecified),
        ("::ffff:224.0.0.1", Bogon),
        ("64:ff9b::8.8.8.8", Public),
        ("64:ff9b::10.0.0.1", Bogon),
        ("2002:0808:0808::1", Public),
        ("2002:c0a8:0101::1", Bogon),
        ("fc00::1", Private),
        ("fd12:3456::1", Private),
        ("fe80::1", LinkLocal),
        ("febf::1", LinkLocal),
        ("fec0::1", Bogon),
        ("2001:db8::1", Documentation),
        ("2001:db8:ffff::1", Documentation),
        ("3fff::1", Documentation),
        ("3fff:0fff::1", Documentation),
        ("3fff:1000::1", Public),
        ("2001:2::1", Bogon),
        ("2001:10::1", Bogon),
        ("2001:20::1", Bogon),
        ("ff02::1", Bogon),
        ("100::1", Bogon),
        ("::1.2.3.4", Bogon),
        ("4000::1", Bogon),
        ("2001::1", Public),
        ("2001:4860:4860::8888", Public),
        ("2a00:1450::1", Public),
    ];
    for (addr, class) in table {
        assert_eq!(classify(ip(addr)), *class, "{addr}");
    }
}

#[test]
fn class_display() {
    assert_eq!(AddrClass::LinkLocal.to_string(), "link-local");
    assert_eq!(AddrClass::Public.to_string(), "public");
    assert_eq!(AddrClass::Bogon.to_string(), "bogon");
}

// ---- netgroups -------------------------------------------------------------------------------

#[test]
fn netgroups() {
    // Distinct loopback addresses are distinct groups (local test networks).
    assert_ne!(netgroup(ip("127.0.0.1")), netgroup(ip("127.0.0.2")));
    assert_eq!(
        netgroup(ip("127.0.0.5")),
        NetGroup::Loopback(ip("127.0.0.5"))
    );
    assert!(netgroup(ip("127.0.0.5")).is_loopback());
    assert!(netgroup(ip("::1")).is_loopback());
    assert_eq!(
        netgroup(ip("::ffff:127.0.0.9")),
        NetGroup::Loopback(ip("127.0.0.9"))
    );
    // A /16 is one group.
    assert_eq!(netgroup(ip("1.2.3.4")), netgroup(ip("1.2.9.9")));
    assert_eq!(netgroup(ip("1.2.3.4")), NetGroup::Ipv4([1, 2]));
    assert!(!netgroup(ip("1.2.3.4")).is_loopback());
    assert_ne!(netgroup(ip("1.2.3.4")), netgroup(ip("1.3.3.4")));
    assert_eq!(netgroup(ip("192.168.1.1")), NetGroup::Ipv4([192, 168]));
    // Embedded IPv4 groups as that IPv4.
    assert_eq!(netgroup(ip("::ffff:1.2.3.4")), netgroup(ip("1.2.200.1")));
    assert_eq!(netgroup(ip("64:ff9b::1.2.3.4")), NetGroup::Ipv4([1, 2]));
    assert_eq!(netgroup(ip("2002:0102:0304::1")), NetGroup::Ipv4([1, 2]));
    // IPv6 by /32.
    assert_eq!(
        netgroup(ip("2001:db8:1::1")),
        netgroup(ip("2001:db8:ffff::2"))
    );
    assert_ne!(netgroup(ip("2001:db8::1")), netgroup(ip("2001:db9::1")));
    assert_eq!(
        netgroup(ip("2001:db8::1")),
        NetGroup::Ipv6([0x20, 0x01, 0x0d, 0xb8])
    );
    // Display.
    assert_eq!(NetGroup::Ipv4([1, 2]).to_string(), "1.2.0.0/16");
    assert_eq!(
        NetGroup::Ipv6([0x20, 0x01, 0x0d, 0xb8]).to_string(),
        "2001:db8::/32"
    );
    assert_eq!(netgroup(ip("127.0.0.5")).to_string(), "loopback 127.0.0.5");
    assert_eq!(NetGroup::Onion.to_string(), "onion");
    assert_eq!(
        NetGroup::Domain("seed.qudag.network".into()).to_string(),
        "dns:seed.qudag.network"
    );
    // Onions share one group.
    let a = parse(&format!("{ONION}.onion:1"));
    let b = parse(&format!("{ONION2}.onion:1"));
    assert_eq!(a.netgroup(), b.netgroup());
}

// ---- properties ------------------------------------------------------------------------------

fn arb_host() -> impl Strategy<Value = Host> {
    let label = "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?";
    let domain = (
        proptest::collection::vec(label, 0..4),
        "[a-z]([a-z0-9-]{0,10}[a-z0-9])?",
    )
        .prop_map(|(mut labels, last)| {
            labels.push(last);
            Host::Domain(labels.join("."))
        });
    let onion =
        (any::<[u8; 32]>(), any::<[u8; 2]>()).prop_map(|(k, c)| Host::Onion(onion_label(k, c, 3)));
    prop_oneof![any::<IpAddr>().prop_map(Host::Ip), domain, onion]
}

fn arb_address() -> impl Strategy<Value = PeerAddress> {
    (
        arb_host(),
        1..=u16::MAX,
        proptest::option::of(any::<[u8; 32]>()),
    )
        .prop_map(|(host, port, id)| {
            // QUIC for every other non-onion address (Tor carries TCP only).
            let quic = !matches!(host, Host::Onion(_)) && port % 2 == 0;
            PeerAddress {
                host,
                port,
                expected_id: id.map(NodeId),
                transport: if quic {
                    Transport::Quic
                } else {
                    Transport::Tcp
                },
            }
        })
}

/// Strings near the grammar: address-ish characters and prefixes, to reach deep branches.
fn addressish() -> impl Strategy<Value = String> {
    let body = "[0-9a-fA-Z:.\\[\\]@%_ -]{0,70}";
    prop_oneof![
        body.prop_map(|s| s),
        body.prop_map(|s| format!("quantum://{ID_HEX}@{s}")),
        body.prop_map(|s| format!("quantum://{s}")),
        body.prop_map(|s| format!("quic://{ID_HEX}@{s}")),
        body.prop_map(|s| format!("quic://{s}")),
        (body, 0u32..100_000).prop_map(|(s, p)| format!("{s}:{p}")),
        (body, 0u32..100_000).prop_map(|(s, p)| format!("[{s}]:{p}")),
        "[a-z2-7]{50,60}".prop_map(|s| format!("{s}.onion:8000")),
        any::<String>(),
    ]
}

proptest! {
    #[test]
    fn display_parse_round_trip(a in arb_address()) {
        let s = a.to_string();
        prop_assert_eq!(PeerAddress::parse(&s), Ok(a.clone()));
        if a.expected_id.is_none() {
            if let Host::Ip(ip) = a.host {
                let sock = SocketAddr::new(ip, a.port);
                prop_assert_eq!(PeerAddress::from_socket_addr_via(sock, a.transport), a);
            }
        }
    }

    #[test]
    fn random_strings_never_panic_and_parse_is_idempotent(s in addressish()) {
        if let Ok(a) = PeerAddress::parse(&s) {
            prop_assert_eq!(PeerAddress::parse(&a.to_string()), Ok(a.clone()));
            prop_assert!(a.port >= 1);
        }
    }

    #[test]
    fn classify_and_netgroup_never_panic(v4 in any::<Ipv4Addr>(), v6 in any::<Ipv6Addr>()) {
        let _ = classify(IpAddr::V4(v4));
        let _ = classify(IpAddr::V6(v6));
        // An IPv4-mapped address behaves exactly like its IPv4 address.
        let mapped = IpAddr::V6(v4.to_ipv6_mapped());
        prop_assert_eq!(classify(mapped), classify(IpAddr::V4(v4)));
        prop_assert_eq!(netgroup(mapped), netgroup(IpAddr::V4(v4)));
        prop_assert_eq!(netgroup(IpAddr::V6(v6)).to_string().is_empty(), false);
    }
}
