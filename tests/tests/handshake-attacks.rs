//! Each handshake attack of the core issue, against real nodes in memory: replayed handshakes,
//! bad signatures, wrong versions, stale timestamps, identity mismatch, self-connection,
//! duplicate node ids, messages before the handshake completes, garbage; and for the sealed
//! channel of protocol version 2, a man in the middle that swaps the ML-KEM key or ciphertext,
//! and peers offering version 1 or another cipher suite.

use qudag_peer::channel;
use qudag_peer::handshake::{self, HandshakeError, LocalHello};
use qudag_peer::rng::Rng;
use qudag_peer::wire::{HandshakeBody, HandshakeResponse, Message, MessageType, Ping};
use qudag_peer::Identity;
use qudag_peer::{CommandError, Event, PeerError};
use qudag_peer::{Direction, DisconnectReason, PeerState, Priority};
use qudag_peer_tests::script::frames;
use qudag_peer_tests::{keys, Net};
use serde_bytes::ByteBuf;
use std::net::SocketAddr;
use std::time::Duration;

fn local<'a>(id: &'a Identity, unix_secs: u64, caps: &'a [String]) -> LocalHello<'a> {
    LocalHello {
        identity: id,
        capabilities: caps,
        user_agent: "attacker/1",
        listen_addr: None,
        unix_secs,
        max_skew: Duration::from_secs(300),
        quic_listen_addr: None,
    }
}

fn unix_secs(net: &Net) -> u64 {
    net.unix_start.as_secs()
}

fn disconnect_reason(msgs: &[Message]) -> Option<DisconnectReason> {
    msgs.iter().find_map(|m| match m {
        Message::Disconnect(d) => Some(DisconnectReason::from_code(d.reason)),
        _ => None,
    })
}

fn failures(net: &Net, i: usize) -> Vec<PeerError> {
    net.nodes[i]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::ConnectionFailed { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

/// Records a genuine `HandshakeResponse` from `target` to a Hello of the attacker's.
fn capture_response(net: &mut Net, target: usize, attacker: &Identity) -> Vec<u8> {
    let raw = net.raw_connect(target, "127.0.0.250:1000".parse().unwrap());
    let caps = vec![];
    let (_, hello) = handshake::initiate(
        &local(attacker, unix_secs(net), &caps),
        None,
        &mut Rng::from_seed([1; 32]),
    );
    net.raw_send(raw, &hello.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    let got = net.raw_take(raw);
    assert!(matches!(frames(&got)[0], Message::HandshakeResponse(_)));
    got
}

#[test]
fn replayed_response_cannot_impersonate_the_responder() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let attacker = keys::identity(900);
    let b_id = net.nodes[b].node.node_id();
    let recorded = capture_response(&mut net, b, &attacker);

    // A dials "B" (pinned id) at an address the attacker answers, and gets the recording.
    let fake: SocketAddr = "127.0.0.251:8000".parse().unwrap();
    let raw = net.raw_listen(fake);
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&format!("quantum://{b_id}@{fake}"), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_millis(20));
    assert!(matches!(
        frames(&net.raw_take(raw))[0],
        Message::Handshake(_)
    ));
    net.raw_send(raw, &recorded);
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        net.add_results(a),
        vec![Err(PeerError::HandshakeFailed(
            HandshakeError::BadSignature
        ))]
    );
    assert_eq!(
        disconnect_reason(&frames(&net.raw_take(raw))),
        Some(DisconnectReason::HandshakeFailed)
    );
    assert!(net.nodes[a].node.connected_peers().is_empty());
}

#[test]
fn replayed_confirmation_cannot_impersonate_the_initiator() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let a_id = net.nodes[a].node.node_id();
    let attacker = keys::identity(901);
    let caps = vec![];

    // A dials the attacker, who answers honestly as itself: A's Hello and Confirm are captured.
    let trap: SocketAddr = "127.0.0.252:8000".parse().unwrap();
    let raw = net.raw_listen(trap);
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&trap.to_string(), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_millis(20));
    let hello_bytes = net.raw_take(raw);
    let Message::Handshake(hello) = &frames(&hello_bytes)[0] else {
        panic!("expected a Handshake")
    };
    let (_, reply, _) = handshake::on_hello(
        hello,
        &local(&attacker, unix_secs(&net), &caps),
        &mut Rng::from_seed([2; 32]),
    )
    .unwrap();
    net.raw_send(raw, &reply.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    let confirm_bytes: Vec<u8> = net.raw_take(raw);
    assert!(matches!(
        frames(&confirm_bytes)[0],
        Message::HandshakeConfirm(_)
    ));

    // Replaying both to B: B's fresh nonce makes the captured confirmation worthless.
    let raw2 = net.raw_connect(b, "127.0.0.253:1000".parse().unwrap());
    net.raw_send(raw2, &hello_bytes);
    net.run_for(Duration::from_millis(20));
    assert!(matches!(
        frames(&net.raw_take(raw2))[0],
        Message::HandshakeResponse(_)
    ));
    let only_confirm = Message::HandshakeConfirm(match &frames(&confirm_bytes)[0] {
        Message::HandshakeConfirm(c) => c.clone(),
        _ => unreachable!(),
    });
    net.raw_send(raw2, &only_confirm.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        disconnect_reason(&frames(&net.raw_take(raw2))),
        Some(DisconnectReason::HandshakeFailed)
    );
    assert!(failures(&net, b).contains(&PeerError::HandshakeFailed(HandshakeError::BadSignature)));
    assert!(!net.nodes[b].node.connected_peers().contains(&a_id));
    assert!(net.raws[raw2].closed);
}

#[test]
fn bad_signatures_are_refused_both_ways() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let attacker = keys::identity(902);
    let caps = vec![];

    // Initiator side: a response whose signature has one flipped bit.
    let fake: SocketAddr = "127.0.0.254:8000".parse().unwrap();
    let raw = net.raw_listen(fake);
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&fake.to_string(), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_millis(20));
    let Message::Handshake(hello) = &frames(&net.raw_take(raw))[0] else {
        panic!()
    };
    let (_, reply, _) = handshake::on_hello(
        hello,
        &local(&attacker, unix_secs(&net), &caps),
        &mut Rng::from_seed([3; 32]),
    )
    .unwrap();
    let Message::HandshakeResponse(mut r) = reply else {
        panic!()
    };
    r.signature[100] ^= 1;
    net.raw_send(raw, &Message::HandshakeResponse(r).encode().unwrap());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        net.add_results(a),
        vec![Err(PeerError::HandshakeFailed(
            HandshakeError::BadSignature
        ))]
    );

    // Responder side: a confirmation with a flipped bit.
    let raw = net.raw_connect(b, "127.0.1.1:1000".parse().unwrap());
    let (st, hello) = handshake::initiate(
        &local(&attacker, unix_secs(&net), &caps),
        None,
        &mut Rng::from_seed([4; 32]),
    );
    net.raw_send(raw, &hello.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    let Message::HandshakeResponse(resp) = &frames(&net.raw_take(raw))[0] else {
        panic!()
    };
    let (confirm, _, _) =
        handshake::on_response(&st, resp, &local(&attacker, unix_secs(&net), &caps)).unwrap();
    let Message::HandshakeConfirm(mut c) = confirm else {
        panic!()
    };
    c.signature[7] ^= 0x80;
    net.raw_send(raw, &Message::HandshakeConfirm(c).encode().unwrap());
    net.run_for(Duration::from_millis(20));
    assert!(failures(&net, b).contains(&PeerError::HandshakeFailed(HandshakeError::BadSignature)));
    assert!(net.nodes[b].node.peers().is_empty());
}

#[test]
fn an_honest_scripted_peer_is_accepted() {
    // The control for the tests above: the same script, unmodified, connects.
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(903);
    let caps = vec!["routing".to_string()];
    let raw = net.raw_connect(b, "127.0.1.2:1000".parse().unwrap());
    let (st, hello) = handshake::initiate(
        &local(&attacker, unix_secs(&net), &caps),
        None,
        &mut Rng::from_seed([5; 32]),
    );
    net.raw_send(raw, &hello.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    let Message::HandshakeResponse(resp) = &frames(&net.raw_take(raw))[0] else {
        panic!()
    };
    let (confirm, peer, _) =
        handshake::on_response(&st, resp, &local(&attacker, unix_secs(&net), &caps)).unwrap();
    assert_eq!(peer.node_id, net.nodes[b].node.node_id());
    net.raw_send(raw, &confirm.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        net.nodes[b].node.connected_peers(),
        vec![attacker.node_id()]
    );
    assert_eq!(net.nodes[b].node.peers()[0].capabilities, caps);
}

fn hello_with(id: &Identity, f: impl FnOnce(&mut HandshakeBody)) -> Vec<u8> {
    let caps = vec![];
    let (_, m) = handshake::initiate(&local(id, 0, &caps), None, &mut Rng::from_seed([6; 32]));
    let Message::Handshake(h) = m else { panic!() };
    let mut body = HandshakeBody::from_cbor(MessageType::Handshake, &h.body).unwrap();
    f(&mut body);
    Message::Handshake(qudag_peer::wire::Handshake {
        body: ByteBuf::from(body.to_cbor()),
    })
    .encode()
    .unwrap()
}

#[test]
fn wrong_version_is_refused_with_a_reason() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(904);
    let now_secs = unix_secs(&net);
    let raw = net.raw_connect(b, "127.0.1.3:1000".parse().unwrap());
    net.raw_send(
        raw,
        &hello_with(&attacker, |h| {
            h.version = 7;
            h.min_version = 5;
            h.timestamp = now_secs;
        }),
    );
    net.run_for(Duration::from_millis(20));
    let got = frames(&net.raw_take(raw));
    assert_eq!(
        disconnect_reason(&got),
        Some(DisconnectReason::IncompatibleVersion)
    );
    let Message::Disconnect(d) = &got[0] else {
        panic!()
    };
    assert!(
        d.text.contains("2..=2") && d.text.contains("5..=7"),
        "{}",
        d.text
    );
    assert!(net.raws[raw].closed);
}

#[test]
fn stale_timestamp_is_refused() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(905);
    let stale = unix_secs(&net) - 3600;
    let raw = net.raw_connect(b, "127.0.1.4:1000".parse().unwrap());
    net.raw_send(raw, &hello_with(&attacker, |h| h.timestamp = stale));
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        disconnect_reason(&frames(&net.raw_take(raw))),
        Some(DisconnectReason::HandshakeFailed)
    );
    assert!(matches!(
        failures(&net, b)[..],
        [PeerError::HandshakeFailed(HandshakeError::ClockSkew {
            skew_secs: -3600,
            max_secs: 300
        })]
    ));
    // Within the window is fine.
    let ok = unix_secs(&net) + 299;
    let raw = net.raw_connect(b, "127.0.1.5:1000".parse().unwrap());
    net.raw_send(raw, &hello_with(&attacker, |h| h.timestamp = ok));
    net.run_for(Duration::from_millis(20));
    assert!(matches!(
        frames(&net.raw_take(raw))[0],
        Message::HandshakeResponse(_)
    ));
}

#[test]
fn pinned_identity_mismatch_fails() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let c = net.add_node();
    let c_id = net.nodes[c].node.node_id();
    let b_id = net.nodes[b].node.node_id();
    let b_addr = net.nodes[b].addr;
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&format!("quantum://{c_id}@{b_addr}"), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(
        net.add_results(a),
        vec![Err(PeerError::HandshakeFailed(
            HandshakeError::IdentityMismatch {
                expected: c_id,
                actual: b_id
            }
        ))]
    );
    assert!(net.nodes[a].node.connected_peers().is_empty());
    // The right pin connects.
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&format!("quantum://{b_id}@{b_addr}"), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[a].node.connected_peers(), vec![b_id]);
}

#[test]
fn self_connection_is_detected() {
    let mut net = Net::new();
    let a = net.add_node();
    let a_addr = net.nodes[a].addr.to_string();
    let a_id = net.nodes[a].node.node_id();
    let now = net.now;
    assert_eq!(
        net.nodes[a]
            .node
            .add_peer(&format!("quantum://{a_id}@{a_addr}"), Priority::Normal, now),
        Err(CommandError::SelfConnection)
    );
    net.nodes[a]
        .node
        .add_peer(&a_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let r = net.add_results(a);
    assert_eq!(r.len(), 1);
    assert!(
        matches!(
            &r[0],
            Err(PeerError::Refused {
                reason: DisconnectReason::SelfConnection,
                ..
            })
        ),
        "{r:?}"
    );
    assert!(net.nodes[a].node.peers().is_empty());
    net.check_invariants().unwrap();
}

#[test]
fn simultaneous_open_keeps_one_connection_on_both_sides() {
    for round in 0..4 {
        let mut net = Net::new();
        let a = net.add_node_cfg(|_| {});
        let b = net.add_node_cfg(|_| {});
        if round % 2 == 1 {
            net.latency = Duration::from_millis(1 + round as u64 * 7);
        }
        let (aa, ba) = (net.nodes[a].addr.to_string(), net.nodes[b].addr.to_string());
        let now = net.now;
        net.nodes[a]
            .node
            .add_peer(&ba, Priority::Normal, now)
            .unwrap();
        net.nodes[b]
            .node
            .add_peer(&aa, Priority::Normal, now)
            .unwrap();
        net.run_for(Duration::from_secs(2));
        let pa = net.nodes[a].node.peers();
        let pb = net.nodes[b].node.peers();
        assert_eq!(pa.len(), 1, "{pa:?}");
        assert_eq!(pb.len(), 1, "{pb:?}");
        assert_eq!(pa[0].status, PeerState::Connected);
        assert_ne!(
            pa[0].direction, pb[0].direction,
            "both kept the same connection"
        );
        // The kept connection is the one opened by the lower node id.
        let a_low = net.nodes[a].node.node_id() < net.nodes[b].node.node_id();
        assert_eq!(pa[0].direction == Direction::Outbound, a_low);
        net.check_invariants().unwrap();
    }
}

#[test]
fn second_connection_from_the_same_identity_is_refused() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    // A twin of A: same key, another address.
    let twin_cfg = qudag_peer::Config::local("127.0.3.1:8000".parse().unwrap());
    let twin = net.add_node_with(twin_cfg, keys::identity(a as u64), 77);
    let b_addr = net.nodes[b].addr.to_string();
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&b_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let first = net.nodes[b].node.peers()[0].conn;
    let now = net.now;
    net.nodes[twin]
        .node
        .add_peer(&b_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let pb = net.nodes[b].node.peers();
    assert_eq!(pb.len(), 1);
    assert_eq!(pb[0].conn, first, "the existing connection is kept");
    assert!(net.nodes[twin].events.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::DuplicateConnection,
            by_peer: true,
            ..
        }
    )));
    net.check_invariants().unwrap();
}

#[test]
fn messages_before_the_handshake_completes_are_refused() {
    let mut net = Net::new();
    let b = net.add_node();
    // A ping instead of a Handshake.
    let raw = net.raw_connect(b, "127.0.1.6:1000".parse().unwrap());
    net.raw_send(raw, &Message::Ping(Ping { nonce: 1 }).encode().unwrap());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        disconnect_reason(&frames(&net.raw_take(raw))),
        Some(DisconnectReason::ProtocolViolation)
    );
    assert!(net.raws[raw].closed);

    // An application payload after the Hello, before the confirmation.
    let attacker = keys::identity(906);
    let caps = vec![];
    let raw = net.raw_connect(b, "127.0.1.7:1000".parse().unwrap());
    let (_, hello) = handshake::initiate(
        &local(&attacker, unix_secs(&net), &caps),
        None,
        &mut Rng::from_seed([8; 32]),
    );
    net.raw_send(raw, &hello.encode().unwrap());
    let app = Message::App(qudag_peer::wire::App {
        payload: ByteBuf::from(b"early".to_vec()),
    });
    net.raw_send(raw, &app.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    let got = frames(&net.raw_take(raw));
    assert!(matches!(got[0], Message::HandshakeResponse(_)));
    assert_eq!(
        disconnect_reason(&got),
        Some(DisconnectReason::ProtocolViolation)
    );
    assert!(!net.nodes[b]
        .events
        .iter()
        .any(|e| matches!(e, Event::Message { .. })));
    assert!(net.nodes[b].node.peers().is_empty());
}

#[test]
fn garbage_and_hostile_lengths_are_refused() {
    let mut net = Net::new();
    let b = net.add_node();
    let raw = net.raw_connect(b, "127.0.1.8:1000".parse().unwrap());
    net.raw_send(raw, &[0xff; 64]);
    net.run_for(Duration::from_millis(20));
    assert!(net.raws[raw].closed);
    let raw = net.raw_connect(b, "127.0.1.9:1000".parse().unwrap());
    net.raw_send(
        raw,
        &[0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0xde, 0xad, 0xbe, 0xef],
    );
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        disconnect_reason(&frames(&net.raw_take(raw))),
        Some(DisconnectReason::InvalidMessage)
    );
    assert!(net.nodes[b].node.peers().is_empty());
    net.check_invariants().unwrap();
}

#[test]
fn a_man_in_the_middle_substituting_its_kem_key_is_detected() {
    // M relays A's Hello to B with its own encapsulation key (so B encapsulates to M), then
    // relays B's answer to A either unchanged or with the ciphertext re-encapsulated to A's
    // key. Either way the transcript A signs differs from B's: B's signature fails at A.
    for (round, swap_ciphertext) in [(0u8, false), (1, true)] {
        let mut net = Net::new();
        let a = net.add_node();
        let b = net.add_node();
        let b_id = net.nodes[b].node.node_id();
        let fake: SocketAddr = format!("127.0.2.{}:8000", 1 + round).parse().unwrap();
        let to_a = net.raw_listen(fake);
        let now = net.now;
        net.nodes[a]
            .node
            .add_peer(&format!("quantum://{b_id}@{fake}"), Priority::Normal, now)
            .unwrap();
        net.run_for(Duration::from_millis(20));
        let Message::Handshake(h) = &frames(&net.raw_take(to_a))[0] else {
            panic!("expected A's Handshake")
        };
        let mut body = HandshakeBody::from_cbor(MessageType::Handshake, &h.body).unwrap();
        let a_key = body.kem.clone().into_vec();
        let mut m_rng = Rng::from_seed([42; 32]);
        let (m_secret, m_key) = channel::kem_keygen(&mut m_rng);
        body.kem = ByteBuf::from(m_key);
        let to_b = net.raw_connect(b, format!("127.0.2.{}:1000", 10 + round).parse().unwrap());
        let forged = Message::Handshake(qudag_peer::wire::Handshake {
            body: ByteBuf::from(body.to_cbor()),
        });
        net.raw_send(to_b, &forged.encode().unwrap());
        net.run_for(Duration::from_millis(20));
        let Message::HandshakeResponse(mut r) = frames(&net.raw_take(to_b))[0].clone() else {
            panic!("B answers the relayed Hello")
        };
        let mut rb = HandshakeBody::from_cbor(MessageType::HandshakeResponse, &r.body).unwrap();
        // M does learn the secret B encapsulated to M's key...
        assert!(channel::kem_decapsulate(&m_secret, &rb.kem).is_some());
        if swap_ciphertext {
            let (ct, _) = channel::kem_encapsulate(&a_key, &mut m_rng).unwrap();
            rb.kem = ByteBuf::from(ct);
            r.body = ByteBuf::from(rb.to_cbor());
        }
        net.raw_send(to_a, &Message::HandshakeResponse(r).encode().unwrap());
        net.run_for(Duration::from_millis(20));
        // ...but A refuses the session: B signed a transcript with M's key in it.
        assert_eq!(
            net.add_results(a),
            vec![Err(PeerError::HandshakeFailed(
                HandshakeError::BadSignature
            ))],
            "round {round}"
        );
        assert_eq!(
            disconnect_reason(&frames(&net.raw_take(to_a))),
            Some(DisconnectReason::HandshakeFailed)
        );
        // B never gets a confirmation it could accept, and gives up at its handshake timeout.
        net.run_for(Duration::from_secs(6));
        assert!(net.nodes[a].node.connected_peers().is_empty());
        assert!(net.nodes[b].node.connected_peers().is_empty());
        assert!(net.raws[to_b].closed);
        net.check_invariants().unwrap();
    }
}

/// A version-1 Hello as a v1 node sent it: no `suite`, no `kem`.
#[derive(serde::Serialize)]
struct V1Body {
    version: u32,
    min_version: u32,
    public_key: ByteBuf,
    capabilities: Vec<String>,
    timestamp: u64,
    nonce: ByteBuf,
    user_agent: String,
    listen_addr: Option<String>,
}

#[test]
fn a_peer_offering_version_1_is_refused_as_incompatible() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(907);
    let now_secs = unix_secs(&net);
    // A v2 body that claims version 1 only, and a genuine v1 body without the new fields.
    let mut v1 = Vec::new();
    ciborium::into_writer(
        &V1Body {
            version: 1,
            min_version: 1,
            public_key: ByteBuf::from(attacker.public_key().to_vec()),
            capabilities: vec![],
            timestamp: now_secs,
            nonce: ByteBuf::from(vec![1u8; 32]),
            user_agent: "old/1".into(),
            listen_addr: None,
        },
        &mut v1,
    )
    .unwrap();
    let hellos = [
        hello_with(&attacker, |h| {
            h.version = 1;
            h.min_version = 1;
            h.timestamp = now_secs;
        }),
        Message::Handshake(qudag_peer::wire::Handshake {
            body: ByteBuf::from(v1),
        })
        .encode()
        .unwrap(),
    ];
    for (i, hello) in hellos.iter().enumerate() {
        let raw = net.raw_connect(b, format!("127.0.2.{}:1000", 20 + i).parse().unwrap());
        net.raw_send(raw, hello);
        net.run_for(Duration::from_millis(20));
        let got = frames(&net.raw_take(raw));
        assert!(!got
            .iter()
            .any(|m| matches!(m, Message::HandshakeResponse(_))));
        let Some(Message::Disconnect(d)) = got.first() else {
            panic!("{got:?}")
        };
        assert_eq!(
            DisconnectReason::from_code(d.reason),
            DisconnectReason::IncompatibleVersion
        );
        assert!(
            d.text.contains("2..=2") && d.text.contains("1..=1"),
            "{}",
            d.text
        );
        assert!(net.raws[raw].closed);
    }
    assert!(net.nodes[b].node.peers().is_empty());
}

#[test]
fn a_peer_offering_another_suite_is_refused_with_a_reason() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(908);
    let now_secs = unix_secs(&net);
    let raw = net.raw_connect(b, "127.0.2.30:1000".parse().unwrap());
    net.raw_send(
        raw,
        &hello_with(&attacker, |h| {
            h.suite = "x25519-plaintext".into();
            h.timestamp = now_secs;
        }),
    );
    net.run_for(Duration::from_millis(20));
    let got = frames(&net.raw_take(raw));
    let Some(Message::Disconnect(d)) = got.first() else {
        panic!("{got:?}")
    };
    assert_eq!(
        DisconnectReason::from_code(d.reason),
        DisconnectReason::IncompatibleVersion
    );
    assert!(
        d.text.contains("unsupported cipher suite") && d.text.contains("x25519-plaintext"),
        "{}",
        d.text
    );
    assert!(matches!(
        &failures(&net, b)[..],
        [PeerError::HandshakeFailed(HandshakeError::UnsupportedSuite { offered })]
            if offered == "x25519-plaintext"
    ));
}

#[test]
fn a_responder_answering_with_version_1_or_another_suite_is_refused() {
    type Tweak = fn(&mut HandshakeBody);
    let cases: [(&str, Tweak); 2] = [
        ("version", |b| {
            b.version = 1;
            b.min_version = 1;
        }),
        ("suite", |b| b.suite = "none".into()),
    ];
    for (i, (what, tweak)) in cases.into_iter().enumerate() {
        let mut net = Net::new();
        let a = net.add_node();
        let attacker = keys::identity(909);
        let caps = vec![];
        let fake: SocketAddr = format!("127.0.2.{}:8000", 40 + i).parse().unwrap();
        let raw = net.raw_listen(fake);
        let now = net.now;
        net.nodes[a]
            .node
            .add_peer(&fake.to_string(), Priority::Normal, now)
            .unwrap();
        net.run_for(Duration::from_millis(20));
        let Message::Handshake(hello) = &frames(&net.raw_take(raw))[0] else {
            panic!()
        };
        let (_, reply, _) = handshake::on_hello(
            hello,
            &local(&attacker, unix_secs(&net), &caps),
            &mut Rng::from_seed([11; 32]),
        )
        .unwrap();
        let Message::HandshakeResponse(r) = reply else {
            panic!()
        };
        let mut body = HandshakeBody::from_cbor(MessageType::HandshakeResponse, &r.body).unwrap();
        tweak(&mut body);
        let r = HandshakeResponse {
            body: ByteBuf::from(body.to_cbor()),
            signature: r.signature,
        };
        net.raw_send(raw, &Message::HandshakeResponse(r).encode().unwrap());
        net.run_for(Duration::from_millis(20));
        let results = net.add_results(a);
        let expected = match what {
            "version" => matches!(
                &results[..],
                [Err(PeerError::HandshakeFailed(
                    HandshakeError::IncompatibleVersion { .. }
                ))]
            ),
            _ => matches!(
                &results[..],
                [Err(PeerError::HandshakeFailed(
                    HandshakeError::UnsupportedSuite { .. }
                ))]
            ),
        };
        assert!(expected, "{what}: {results:?}");
        assert_eq!(
            disconnect_reason(&frames(&net.raw_take(raw))),
            Some(DisconnectReason::IncompatibleVersion)
        );
        assert!(net.nodes[a].node.connected_peers().is_empty());
    }
}
