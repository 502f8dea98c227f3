//! The seed corpora of `fuzz/corpus/<target>/seed-*`, generated reproducibly: hand-made valid
//! inputs of every kind (every message type, every address form, a valid config, DNS answers,
//! ban targets, operation sequences).
//!
//! ```text
//! cargo test -p qudag-peer-tests --test fuzz-seeds -- --ignored
//! ```
//!
//! rewrites the `seed-*` files (and, only if it is missing, `tests/data/fuzz-keys.bin`, the
//! fixed identities every target uses). The replay test checks that these files are present
//! and still decode; `fuzz_seeds_are_current` below checks that they are what this generator
//! produces.

use qudag_peer::channel;
use qudag_peer::wire::{
    App, Disconnect, GetPeers, Handshake, HandshakeBody, HandshakeConfirm, HandshakeResponse,
    Message, MessageType, Peers, Ping, NONCE_LEN,
};
use qudag_peer::Config;
use qudag_peer::PeerAddress;
use qudag_peer_tests::dns as zone;
use qudag_peer_tests::fuzz_bodies::{self as fb, KEY_COUNT};
use qudag_peer_tests::keys;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn body(i: usize, kem_len: usize) -> HandshakeBody {
    HandshakeBody {
        version: 2,
        min_version: 2,
        public_key: ByteBuf::from(fb::identity(i).public_key().to_vec()),
        capabilities: vec!["pex".into(), "routing".into()],
        timestamp: fb::UNIX_START.as_secs(),
        nonce: ByteBuf::from(vec![i as u8; NONCE_LEN]),
        user_agent: "qudag/0.1.0".into(),
        listen_addr: Some("0.0.0.0:8000".into()),
        suite: channel::SUITE.into(),
        kem: ByteBuf::from(vec![i as u8; kem_len]),
        quic_listen_addr: Some("quic://0.0.0.0:8001".into()),
    }
}

/// The seed messages: one of every message type. The types that had seeds before the shared
/// examples table existed keep their hand-made values (real keys, so the committed corpus stays
/// byte-identical); every other type takes its entries from the table ([`Message::examples`]),
/// so a new message type gets its seeds without an edit here.
fn every_message() -> Vec<(&'static str, Message)> {
    let mut msgs = hand_made_messages();
    let covered: BTreeSet<MessageType> = msgs.iter().map(|(_, m)| m.message_type()).collect();
    for (name, m) in Message::examples() {
        if !covered.contains(&m.message_type()) {
            msgs.push((name, m));
        }
    }
    msgs
}

fn hand_made_messages() -> Vec<(&'static str, Message)> {
    let sig = ByteBuf::from(vec![3u8; qudag_peer::identity::SIGNATURE_LEN]);
    vec![
        (
            "handshake",
            Message::Handshake(Handshake {
                body: ByteBuf::from(body(1, channel::KEM_ENCAPSULATION_KEY_LEN).to_cbor()),
            }),
        ),
        (
            "handshake_response",
            Message::HandshakeResponse(HandshakeResponse {
                body: ByteBuf::from(body(2, channel::KEM_CIPHERTEXT_LEN).to_cbor()),
                signature: sig.clone(),
            }),
        ),
        (
            "handshake_confirm",
            Message::HandshakeConfirm(HandshakeConfirm { signature: sig }),
        ),
        ("ping", Message::Ping(Ping { nonce: 7 })),
        ("pong", Message::Pong(Ping { nonce: u64::MAX })),
        (
            "disconnect",
            Message::Disconnect(Disconnect {
                reason: 1,
                text: "bye".into(),
            }),
        ),
        ("disconnect_ack", Message::DisconnectAck),
        ("get_peers", Message::GetPeers(GetPeers { max: 1000 })),
        (
            "peers",
            Message::Peers(Peers {
                addresses: addresses().iter().map(|s| s.to_string()).collect(),
            }),
        ),
        (
            "app",
            Message::App(App {
                payload: ByteBuf::from(b"hello".to_vec()),
            }),
        ),
    ]
}

fn addresses() -> Vec<String> {
    let id = fb::identity(1).node_id();
    vec![
        "192.168.1.100:8000".into(),
        "8.8.8.8:8000".into(),
        "[2001:db8::1]:8000".into(),
        "[::1]:9000".into(),
        "node1.qudag.network:8000".into(),
        "vww6ybal4bd7szmgncyruucpgfkqahzddi37ktceo3ah7ngmcopnpyyd.onion:8000".into(),
        format!("quantum://{id}@127.0.0.5:8000"),
        format!("quantum://{id}@[2a00:1450::5]"),
        format!("quantum://{id}@peer.example.org"),
        "10.0.0.1:0".into(),
        "0.0.0.0:8000".into(),
    ]
}

fn frame(m: &Message) -> Vec<u8> {
    m.encode().unwrap()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn lp(s: &str) -> Vec<u8> {
    let mut v = vec![s.len() as u8];
    v.extend_from_slice(s.as_bytes());
    v
}

/// The fields `body_from` reads: flags, key, version, min_version, skew (i16 + multiplier),
/// capabilities, user agent, listen address.
fn fields(flags: u8, key: u8, version: u8, skew: i16, listen: &str) -> Vec<u8> {
    let mut v = vec![flags | 1, key, version, 2];
    v.extend_from_slice(&skew.to_be_bytes());
    v.push(0);
    v.push(1);
    v.extend(lp("pex"));
    v.extend(lp("fuzz/1"));
    v.extend(lp(listen));
    v
}

fn seeds() -> BTreeMap<&'static str, Vec<(String, Vec<u8>)>> {
    let mut out: BTreeMap<&str, Vec<(String, Vec<u8>)>> = BTreeMap::new();
    let msgs = every_message();
    let ping = frame(&Message::Ping(Ping { nonce: 1 }));
    let get = frame(&Message::GetPeers(GetPeers { max: 10 }));

    // frame_decoder: one message per file, everything in one stream, a 4 GiB prefix.
    let mut all = vec![0x5a];
    for (name, m) in &msgs {
        out.entry("frame_decoder")
            .or_default()
            .push((name.to_string(), cat(&[&[1], &frame(m)])));
        all.extend(frame(m));
    }
    out.entry("frame_decoder").or_default().extend([
        ("all".to_string(), all),
        (
            "huge_prefix".to_string(),
            vec![3, 0xff, 0xff, 0xff, 0xff, 1],
        ),
    ]);

    // message: payloads (frame without the length prefix), and a bare handshake body.
    for (name, m) in &msgs {
        out.entry("message")
            .or_default()
            .push((name.to_string(), frame(m)[4..].to_vec()));
    }
    out.entry("message").or_default().push((
        "handshake_body".into(),
        body(1, channel::KEM_ENCAPSULATION_KEY_LEN).to_cbor(),
    ));

    // handshake_responder: each stage with the valid bytes for it.
    let (hello, confirm) = fb::responder_frames();
    out.insert(
        "handshake_responder",
        vec![
            (
                "stage0_valid".into(),
                // No ping after the confirmation: frames after it are sealed (a plain one ends
                // the connection, which the corpus reaches from here by mutation).
                cat(&[&[0, 0, 0], &hello, &confirm]),
            ),
            (
                "stage0_split".into(),
                cat(&[&[0, 9, 200], &hello, &confirm]),
            ),
            ("stage1_confirm".into(), cat(&[&[1, 0, 0], &confirm])),
            ("stage2_ping".into(), cat(&[&[2, 0, 0], &ping, &get])),
            (
                "stage3_fields".into(),
                cat(&[&[3, 0, 0], &fields(0, 1, 2, 0, "0.0.0.0:9000"), &ping]),
            ),
            (
                "stage3_forged".into(),
                cat(&[&[3, 0, 0], &fields(4, 2, 2, 10, "[::1]:8000")]),
            ),
            (
                "stage3_skew".into(),
                cat(&[&[3, 0, 0], &fields(0, 3, 3, 20000, "x.example:1")]),
            ),
        ],
    );

    // handshake_initiator.
    let resp = fb::initiator_frame(0, false);
    out.insert(
        "handshake_initiator",
        vec![
            ("stage0_valid".into(), cat(&[&[0, 0, 0], &resp])),
            (
                "stage1_fields".into(),
                cat(&[&[1, 0, 0, 0], &fields(0, 1, 2, 0, "0.0.0.0:8000"), &ping]),
            ),
            (
                "stage1_pinned".into(),
                cat(&[&[1, 0, 0, 3], &fields(0, 1, 2, 0, "127.0.0.2:8000")]),
            ),
            (
                "stage1_mismatch".into(),
                cat(&[&[1, 0, 0, 5], &fields(0, 1, 2, 0, "127.0.0.2:8000")]),
            ),
            ("stage2_ping".into(), cat(&[&[2, 0, 0], &ping, &get])),
        ],
    );

    // pex: every address form, for each listen address; a raw Peers frame.
    let list = addresses().join("\n");
    let mut pex = Vec::new();
    for v in 0..8u8 {
        pex.push((format!("list_{v}"), cat(&[&[v, 0], list.as_bytes()])));
    }
    pex.push(("raw_peers".into(), cat(&[&[0, 128], &frame(&msgs[8].1)])));
    pex.push(("twice".into(), cat(&[&[2, 1], list.as_bytes()])));
    out.insert("pex", pex);

    // addr.
    out.insert(
        "addr",
        addresses()
            .into_iter()
            .enumerate()
            .map(|(i, a)| (format!("form_{i}"), a.into_bytes()))
            .collect(),
    );

    // dns: client answers of each kind (raw datagrams), built answers, node answers.
    let (_, queries, _) = fb::dns_client(Instant::now());
    let answers = [
        zone::Answer::Records(
            vec!["qudag:1.2.3.4:8000 qudag:[2001:db8::1]:8000".into()],
            300,
        ),
        zone::Answer::Records(vec!["1.2.3.4".into(), "5.6.7.8".into()], 30),
        zone::Answer::Records(vec!["2001:db8::2".into()], 100_000),
    ];
    let mut dns = Vec::new();
    for (i, (q, a)) in queries.iter().zip(&answers).enumerate() {
        let d = zone::respond(q, a).unwrap();
        dns.push((format!("client_raw_{i}"), cat(&[&[(i as u8) << 3], &d])));
    }
    dns.push(("client_nx".into(), cat(&[&[4], &d_answer(0, &[])])));
    dns.push((
        "client_txt".into(),
        cat(&[&[4], &d_answer(2, &["qudag:8.8.8.8:8000", "junk"])]),
    ));
    let h = fb::dns_node();
    for (i, (_, q)) in h.dns.iter().enumerate().take(3) {
        let a = match zone::question(q).map(|x| x.1) {
            Some(zone::Rtype::Txt) => &answers[0],
            Some(zone::Rtype::A) => &answers[1],
            _ => &answers[2],
        };
        let d = zone::respond(q, a).unwrap();
        dns.push((format!("node_raw_{i}"), cat(&[&[1 | ((i as u8) << 3)], &d])));
        dns.push((
            format!("node_built_{i}"),
            cat(&[
                &[5 | ((i as u8) << 3)],
                &d_answer(2, &["qudag:1.2.3.4:8000", "10.0.0.1"]),
            ]),
        ));
    }
    out.insert("dns", dns);

    // config.
    out.insert(
        "config",
        vec![
            ("default".into(), Config::default_toml().into_bytes()),
            (
                "small".into(),
                b"[network]\nlisten = \"127.0.0.1:9000\"\n\n[network.peers]\nmax_connections = 3\nmin_connections = 1\nbootstrap_nodes = [\"127.0.0.2:8000\", \"seed.example:8000\"]\ndns_seeds = [\"seed.example.org\"]\n\n[network.reputation]\ndecay_rate = 0.5\n"
                    .to_vec(),
            ),
        ],
    );

    // ban_target.
    let id = fb::identity(1).node_id().to_string();
    out.insert(
        "ban_target",
        [
            id.as_str(),
            "1.2.3.4",
            "1.2.3.4:8000",
            "[2001:db8::1]:8000",
            "::ffff:10.0.0.1",
            "10.0.0.0/8",
            "2001:db8::/32",
            "::ffff:10.0.0.0/104",
            "0.0.0.0/0",
        ]
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("target_{i}"), s.as_bytes().to_vec()))
        .collect(),
    );

    // node_ops: a few sessions (see `node_ops` for the operation encoding).
    let accept_handshake: Vec<u8> = vec![
        0x00, 1, // config: loopback, max 1, min 1
        0, 4, 7, // accept from 127.0.0.1:1007
        6, 0, 1, // peer step: open (key 1)
        6, 0, 1, // peer step: confirm
        10, 50, // wait 0.5 s
        18, 0, 0, 0, 0, 0, 9, // ping
        18, 0, 2, 0, 0, 0, 10, // get peers
        12, 4, // remove peer by id (key 1)
        11, 200, // wait, force timeout
    ];
    let dial_handshake: Vec<u8> = vec![
        0x10, 1, // config: loopback, max 3, min 1
        1, 0, 1, // add_peer 127.0.0.2:8000
        2, 0, // connected
        6, 0, 2, // peer step: answer the node's Handshake (key 2)
        18, 0, 3, 2, 5, b'1', b'.', b'2', b'.', b'3', 4, b'x', b':', b'1', b'0', // peers
        13, 1, 30, // ban 127.0.0.0/8 for 30 s
        14, 1, // unban it
        10, 255, 10, 255, // wait
    ];
    let dns_session: Vec<u8> = vec![
        0x88, 2, // config: a DNS seed, max 6, min 2
        11, 0, // timeout now: discovery
        10, 200, // wait 73 s
        16, 3, 5, b'q', b'u', b'd', b'a', b'g', // answer the last query
        1, 4, 1, // add_peer host.example.org:8000
        16, 1, // answer
        17, 0,  // report key 0
        15, // shutdown
        11, 0,
    ];
    out.insert(
        "node_ops",
        vec![
            ("accept_handshake".into(), accept_handshake),
            ("dial_handshake".into(), dial_handshake),
            ("dns_session".into(), dns_session),
        ],
    );
    out
}

fn d_answer(kind: u8, items: &[&str]) -> Vec<u8> {
    let mut v = vec![kind, 0, 0, 1, 44, items.len() as u8];
    for i in items {
        v.extend(lp(i));
    }
    v
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run explicitly"]
fn generate_fuzz_seeds() {
    let keys = root().join("tests/data/fuzz-keys.bin");
    if std::fs::metadata(&keys).map(|m| m.len()).unwrap_or(0) == 0 {
        let mut bytes = Vec::new();
        for _ in 0..KEY_COUNT {
            let id = keys::fresh_identity();
            bytes.extend_from_slice(id.public_key());
            bytes.extend_from_slice(id.secret_key());
        }
        std::fs::write(&keys, bytes).unwrap();
        panic!("wrote {}: rebuild and run again", keys.display());
    }
    for (target, files) in seeds() {
        let dir = root().join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).unwrap();
        }
    }
}

#[test]
fn fuzz_seeds_are_current() {
    let mut stale = Vec::new();
    for (target, files) in seeds() {
        let dir = root().join("fuzz/corpus").join(target);
        for (name, bytes) in files {
            let path = dir.join(format!("seed-{name}"));
            if std::fs::read(&path).ok().as_ref() != Some(&bytes) {
                stale.push(path.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "seed files differ from the generator (rerun it with --ignored): {stale:?}"
    );
    // The seeds reach the states they were made for.
    let s = seeds();
    let get = |t: &str, n: &str| s[t].iter().find(|(x, _)| x == n).unwrap().1.clone();
    for (t, n) in [
        ("handshake_responder", "stage0_valid"),
        ("handshake_responder", "stage1_confirm"),
        ("handshake_responder", "stage3_fields"),
    ] {
        let h = fb::handshake_responder_run(&get(t, n));
        assert_eq!(h.max_connected, 1, "{t}/{n} does not connect");
    }
    for n in ["stage0_valid", "stage1_fields", "stage1_pinned"] {
        let h = fb::handshake_initiator_run(&get("handshake_initiator", n)).unwrap();
        assert_eq!(
            h.max_connected, 1,
            "handshake_initiator/{n} does not connect"
        );
    }
    let h = fb::handshake_initiator_run(&get("handshake_initiator", "stage1_mismatch")).unwrap();
    assert_eq!(h.max_connected, 0, "a pinned id mismatch connected");
    let h = fb::handshake_responder_run(&get("handshake_responder", "stage3_forged"));
    assert_eq!(h.max_connected, 0, "a forged confirmation connected");
    for n in ["accept_handshake", "dial_handshake"] {
        let h = fb::node_ops_run(&get("node_ops", n));
        assert_eq!(h.max_connected, 1, "node_ops/{n} does not connect");
    }
    let h = fb::node_ops_run(&get("node_ops", "dns_session"));
    assert!(!h.dns.is_empty(), "node_ops/dns_session sends no DNS query");
    // Sanity: every seed address form parses.
    for a in addresses() {
        if !a.ends_with(":0") {
            assert!(PeerAddress::parse(&a).is_ok(), "{a}");
        }
    }
}
