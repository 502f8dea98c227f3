//! Hostile peers in memory, for the defences of `docs/SECURITY.md` that other suites do not
//! show: a banned peer reconnecting (by address and by identity), a slowloris handshake, a frame
//! one byte over the limit, a peer that never acknowledges a disconnect, and sealed frames that
//! were tampered with, truncated, reordered or replayed, or that straddle a rekey. (The same attacks
//! over real sockets belong to the malicious-peer suite of the CLI work.)

use qudag_peer::channel::RekeyLimits;
use qudag_peer::handshake::{self, LocalHello};
use qudag_peer::rng::Rng;
use qudag_peer::wire::{App, Message, Ping, MAX_APP_PAYLOAD};
use qudag_peer::DisconnectReason;
use qudag_peer::Event;
use qudag_peer::Identity;
use qudag_peer::MAX_FRAME_LEN;
use qudag_peer_tests::script::{connect_as, frames, Session};
use qudag_peer_tests::{keys, Net};
use serde_bytes::ByteBuf;
use std::net::SocketAddr;
use std::time::Duration;

fn reason(msgs: &[Message]) -> Option<DisconnectReason> {
    msgs.iter().find_map(|m| match m {
        Message::Disconnect(d) => Some(DisconnectReason::from_code(d.reason)),
        _ => None,
    })
}

fn hello(net: &Net, id: &Identity) -> Vec<u8> {
    let caps: Vec<String> = vec![];
    let local = LocalHello {
        identity: id,
        capabilities: &caps,
        user_agent: "hostile/1",
        listen_addr: None,
        unix_secs: net.unix_start.as_secs(),
        max_skew: Duration::from_secs(300),
        quic_listen_addr: None,
    };
    let (_, m) = handshake::initiate(&local, None, &mut Rng::from_seed([3; 32]));
    m.encode().unwrap()
}

#[test]
fn a_banned_peer_cannot_come_back_by_address_or_by_identity() {
    let mut net = Net::new();
    let b = net.add_node();
    let now = net.now;
    // By address: refused at accept, before any handshake work.
    net.nodes[b]
        .node
        .ban("127.0.3.0/24", None, "hostile subnet", now)
        .unwrap();
    let raw = net.raw_connect(b, "127.0.3.9:4000".parse().unwrap());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        reason(&frames(&net.raw_take(raw))),
        Some(DisconnectReason::Banned)
    );
    assert!(net.raws[raw].closed);
    assert!(net.nodes[b].node.peers().is_empty());

    // By identity, from a fresh address: refused as soon as the Handshake names the id.
    let attacker = keys::identity(960);
    net.nodes[b]
        .node
        .ban(&attacker.node_id().to_string(), None, "", now)
        .unwrap();
    let raw = net.raw_connect(b, "127.0.4.9:4000".parse().unwrap());
    net.raw_send(raw, &hello(&net, &attacker));
    net.run_for(Duration::from_millis(20));
    let got = frames(&net.raw_take(raw));
    assert!(
        !got.iter()
            .any(|m| matches!(m, Message::HandshakeResponse(_))),
        "no signature is spent on a banned id"
    );
    assert_eq!(reason(&got), Some(DisconnectReason::Banned));
    assert!(net.raws[raw].closed);

    // Lifted: the same identity connects.
    net.nodes[b]
        .node
        .unban(&attacker.node_id().to_string(), now)
        .unwrap();
    let raw = net.raw_connect(b, "127.0.4.10:4000".parse().unwrap());
    let (_, mut s, _) = connect_as(&mut net, raw, &attacker, &[]);
    assert_eq!(
        net.nodes[b].node.connected_peers(),
        vec![attacker.node_id()]
    );
    // Banned while connected: disconnected with the reason.
    let now = net.now;
    net.nodes[b]
        .node
        .ban(&attacker.node_id().to_string(), None, "", now)
        .unwrap();
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        reason(&s.take(&mut net, raw)),
        Some(DisconnectReason::Banned)
    );
    net.run_for(Duration::from_secs(6));
    assert!(net.nodes[b].node.connected_peers().is_empty());
    net.check_invariants().unwrap();
}

#[test]
fn a_slowloris_handshake_is_cut_off_at_the_handshake_timeout() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(961);
    let bytes = hello(&net, &attacker);
    let raw = net.raw_connect(b, "127.0.5.9:4000".parse().unwrap());
    // One byte a second: the node hears from the peer all the time, but the handshake does not
    // complete within handshake_timeout (5 s) of the accept.
    for byte in bytes.iter().take(6) {
        net.raw_send(raw, std::slice::from_ref(byte));
        net.run_for(Duration::from_secs(1));
    }
    assert!(net.raws[raw].closed, "still open after 6 s of dribbling");
    assert!(net.nodes[b].node.peers().is_empty());
    net.check_invariants().unwrap();
}

#[test]
fn a_frame_one_byte_over_the_limit_is_refused_before_its_body() {
    let mut net = Net::new();
    let b = net.add_node();
    let raw = net.raw_connect(b, "127.0.6.9:4000".parse().unwrap());
    // Only the prefix is sent: the refusal does not wait for (or buffer) the 1 MiB body.
    net.raw_send(raw, &(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        reason(&frames(&net.raw_take(raw))),
        Some(DisconnectReason::InvalidMessage)
    );
    assert!(net.raws[raw].closed);
    // Exactly at the limit is a legal header: the node waits for the body (and would time the
    // handshake out), holding no more than one frame.
    let raw = net.raw_connect(b, "127.0.6.10:4000".parse().unwrap());
    net.raw_send(raw, &(MAX_FRAME_LEN as u32).to_be_bytes());
    net.raw_send(raw, &[1u8; 4096]);
    net.run_for(Duration::from_millis(20));
    assert!(!net.raws[raw].closed);
    net.check_invariants().unwrap();
    net.run_for(Duration::from_secs(6));
    assert!(net.raws[raw].closed);
}

#[test]
fn a_peer_that_never_acks_a_disconnect_is_closed_after_the_disconnect_timeout() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(962);
    let raw = net.raw_connect(b, "127.0.7.9:4000".parse().unwrap());
    let (_, mut s, _) = connect_as(&mut net, raw, &attacker, &[]);
    let now = net.now;
    let id = attacker.node_id().to_string();
    net.nodes[b].node.remove_peer(&id, false, now).unwrap();
    net.run_for(Duration::from_secs(4));
    assert_eq!(
        reason(&s.take(&mut net, raw)),
        Some(DisconnectReason::UserRequested)
    );
    assert!(!net.raws[raw].closed, "waiting for the ack");
    net.run_for(Duration::from_secs(2));
    assert!(net.raws[raw].closed, "closed after disconnect_timeout");
    assert!(net.nodes[b].node.peers().is_empty());
    // The operator is answered either way.
    assert!(net.nodes[b]
        .events
        .iter()
        .any(|e| matches!(e, Event::RemovePeerFinished { .. })));
    net.check_invariants().unwrap();
}

#[test]
fn a_netgroup_flooding_connection_attempts_is_limited_and_others_still_get_in() {
    use qudag_peer::inbound_limit::{
        INBOUND_NETGROUP_BURST, INBOUND_NETGROUP_REFILL, RATE_LIMITED_LABEL,
    };
    let mut net = Net::new();
    // Room in the pool for every attempt, so only the netgroup limit can refuse.
    let b = net.add_node_cfg(|c| c.network.peers.max_connections = 1000);
    let burst = INBOUND_NETGROUP_BURST as usize;
    // One /16 (20.1.0.0/16), many hosts, all at once: the burst is admitted, the next refused.
    let mut raws = Vec::new();
    for i in 0..burst + 10 {
        let from = SocketAddr::from(([20, 1, (i / 200) as u8, 1 + (i % 200) as u8], 4000));
        raws.push(net.raw_connect(b, from));
    }
    net.run_for(Duration::from_millis(20));
    let refused: Vec<_> = raws
        .iter()
        .filter(|&&r| net.raws[r].closed)
        .copied()
        .collect();
    assert_eq!(refused.len(), 10, "exactly the attempts over the burst");
    assert!(raws[..burst].iter().all(|&r| !net.raws[r].closed));
    for r in refused {
        assert_eq!(
            reason(&frames(&net.raw_take(r))),
            Some(DisconnectReason::ConnectionLimitReached)
        );
    }
    let now = net.now;
    let m = net.nodes[b].node.metrics(now);
    assert_eq!(
        m.counters.inbound_refused.get(RATE_LIMITED_LABEL),
        Some(&10)
    );
    assert_eq!(m.inbound_netgroups_tracked, 1);
    // Another netgroup is not affected: an honest peer completes a handshake.
    let honest = keys::identity(963);
    let raw = net.raw_connect(b, "20.2.0.1:4000".parse().unwrap());
    connect_as(&mut net, raw, &honest, &[]);
    assert_eq!(net.nodes[b].node.connected_peers(), vec![honest.node_id()]);
    // One refill period later the flooding netgroup has exactly one attempt more.
    net.run_for(INBOUND_NETGROUP_REFILL);
    let one = net.raw_connect(b, "20.1.9.1:4000".parse().unwrap());
    let two = net.raw_connect(b, "20.1.9.2:4000".parse().unwrap());
    net.run_for(Duration::from_millis(20));
    assert!(!net.raws[one].closed);
    assert!(net.raws[two].closed);
    net.check_invariants().unwrap();
}

/// What a node does with a sealed frame that does not open: one scripted peer per attack.
fn sealed_attack(n: u8, attack: impl FnOnce(&mut Session) -> Vec<u8>) {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(963 + n as u64);
    let raw = net.raw_connect(b, format!("127.0.8.{}:4000", 10 + n).parse().unwrap());
    let (_, mut s, _) = connect_as(&mut net, raw, &attacker, &[]);
    assert_eq!(
        net.nodes[b].node.connected_peers(),
        vec![attacker.node_id()]
    );
    let bytes = attack(&mut s);
    net.raw_send(raw, &bytes);
    net.run_for(Duration::from_millis(20));
    // The node says why (sealed: its own direction is intact) and closes.
    let got = s.take(&mut net, raw);
    assert_eq!(
        reason(&got),
        Some(DisconnectReason::ProtocolViolation),
        "attack {n}: {got:?}"
    );
    assert!(net.raws[raw].closed, "attack {n}");
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::ProtocolViolation,
            ..
        }
    )));
    assert!(net.nodes[b].node.connected_peers().is_empty());
    net.check_invariants().unwrap();
}

fn ping(n: u64) -> Message {
    Message::Ping(Ping { nonce: n })
}

#[test]
fn a_tampered_sealed_frame_ends_the_connection_with_protocol_violation() {
    // A bit flipped in the ciphertext, in the tag, and in the length-covered header byte.
    for (n, at) in [(0u8, 4usize), (1, 6), (2, usize::MAX)] {
        sealed_attack(n, |s| {
            let mut f = s.send(&ping(7));
            let i = if at == usize::MAX { f.len() - 1 } else { at };
            f[i] ^= 0x80;
            f
        });
    }
}

#[test]
fn a_truncated_sealed_frame_ends_the_connection_with_protocol_violation() {
    sealed_attack(3, |s| {
        // The frame cut by one byte, with a length prefix that matches the cut.
        let f = s.send(&ping(7));
        let mut cut = f[..f.len() - 1].to_vec();
        let len = (cut.len() - 4) as u32;
        cut[..4].copy_from_slice(&len.to_be_bytes());
        cut
    });
    // Shorter than a header and a tag.
    sealed_attack(4, |_| {
        let mut f = 10u32.to_be_bytes().to_vec();
        f.extend_from_slice(&[0u8; 10]);
        f
    });
}

#[test]
fn a_reordered_sealed_frame_ends_the_connection_with_protocol_violation() {
    sealed_attack(5, |s| {
        let first = s.send(&ping(1));
        let mut second = s.send(&ping(2));
        second.extend_from_slice(&first);
        second
    });
}

#[test]
fn a_replayed_sealed_frame_ends_the_connection_with_protocol_violation() {
    sealed_attack(6, |s| {
        let f = s.send(&ping(1));
        [f.clone(), f].concat()
    });
}

#[test]
fn a_plain_frame_after_the_handshake_ends_the_connection_with_protocol_violation() {
    sealed_attack(7, |_| ping(1).encode().unwrap());
}

#[test]
fn a_sealed_frame_at_the_size_limit_is_read_and_one_over_is_refused_before_its_body() {
    let mut net = Net::new();
    let b = net.add_node();
    let attacker = keys::identity(975);
    let raw = net.raw_connect(b, "127.0.8.40:4000".parse().unwrap());
    let (_, mut s, _) = connect_as(&mut net, raw, &attacker, &[]);
    // The largest App payload fits in a sealed frame under MAX_FRAME_LEN.
    let big = Message::App(App {
        payload: ByteBuf::from(vec![5u8; MAX_APP_PAYLOAD]),
    });
    let f = s.send(&big);
    assert!(f.len() - 4 <= MAX_FRAME_LEN);
    net.raw_send(raw, &f);
    net.run_for(Duration::from_millis(20));
    assert!(net.nodes[b]
        .events
        .iter()
        .any(|e| matches!(e, Event::Message { payload, .. } if payload.len() == MAX_APP_PAYLOAD)));
    assert!(!net.raws[raw].closed);
    // A sealed length one over the limit is refused from its prefix alone.
    net.raw_send(raw, &(MAX_FRAME_LEN as u32 + 1).to_be_bytes());
    net.run_for(Duration::from_millis(20));
    assert_eq!(
        reason(&s.take(&mut net, raw)),
        Some(DisconnectReason::InvalidMessage)
    );
    assert!(net.raws[raw].closed);
    net.check_invariants().unwrap();
}

#[test]
fn both_directions_keep_talking_across_rekeys() {
    let limits = RekeyLimits {
        frames: 3,
        bytes: u64::MAX,
    };
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    net.nodes[a].node.set_rekey_limits(limits);
    net.nodes[b].node.set_rekey_limits(limits);
    net.dial(a, b);
    net.run_for(Duration::from_secs(1));
    let (ida, idb) = (net.nodes[a].node.node_id(), net.nodes[b].node.node_id());
    assert_eq!(net.nodes[a].node.connected_peers(), vec![idb]);
    // Pings, pongs and the PEX exchange already used some frames; 20 messages each way go
    // through several rekeys in both directions.
    for i in 0..20u8 {
        net.nodes[a].node.send_app(&idb, &[i; 8]).unwrap();
        net.nodes[b].node.send_app(&ida, &[100 + i; 8]).unwrap();
        net.run_for(Duration::from_millis(5));
    }
    net.run_for(Duration::from_secs(1));
    let got = |n: usize| -> Vec<Vec<u8>> {
        net.nodes[n]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Message { payload, .. } => Some(payload.clone()),
                _ => None,
            })
            .collect()
    };
    assert_eq!(got(b), (0..20u8).map(|i| vec![i; 8]).collect::<Vec<_>>());
    assert_eq!(
        got(a),
        (0..20u8).map(|i| vec![100 + i; 8]).collect::<Vec<_>>()
    );
    assert_eq!(net.nodes[a].node.connected_peers(), vec![idb]);
    assert_eq!(net.nodes[b].node.connected_peers(), vec![ida]);
    net.check_invariants().unwrap();
}

#[test]
fn a_scripted_peer_rekeys_exactly_at_the_node_limit() {
    // The node rekeys after 2 frames each way; a scripted peer with the same limits talks to
    // it across the limit, and one with a limit of 3 is cut off at the third frame.
    for (peer_frames, survives) in [(2u64, true), (3, false)] {
        let mut net = Net::new();
        let b = net.add_node();
        net.nodes[b].node.set_rekey_limits(RekeyLimits {
            frames: 2,
            bytes: u64::MAX,
        });
        let attacker = keys::identity(976 + peer_frames);
        let raw = net.raw_connect(b, "127.0.8.50:4000".parse().unwrap());
        let mut s = connect_as_with(&mut net, raw, &attacker, peer_frames);
        for i in 0..3u64 {
            s.send_to(&mut net, raw, &ping(i));
            net.run_for(Duration::from_millis(5));
        }
        net.run_for(Duration::from_millis(20));
        let got = s.take(&mut net, raw);
        if survives {
            assert!(s.error.is_none(), "{:?}", s.error);
            assert_eq!(
                got.iter().filter(|m| matches!(m, Message::Pong(_))).count(),
                3,
                "{got:?}"
            );
            assert!(!net.raws[raw].closed);
        } else {
            assert!(
                net.raws[raw].closed,
                "a peer that does not rekey at 2 is cut off"
            );
        }
    }
}

/// `connect_as` with a session that rekeys after `frames` frames.
fn connect_as_with(net: &mut Net, raw: usize, id: &Identity, rekey_frames: u64) -> Session {
    let caps: Vec<String> = vec![];
    let elapsed = net.now.saturating_duration_since(net.start);
    let local = LocalHello {
        identity: id,
        capabilities: &caps,
        user_agent: "hostile/1",
        listen_addr: None,
        unix_secs: net.unix_start.plus(elapsed).as_secs(),
        max_skew: Duration::from_secs(300),
        quic_listen_addr: None,
    };
    let (st, m) = handshake::initiate(&local, None, &mut Rng::from_seed([4; 32]));
    net.raw_send(raw, &m.encode().unwrap());
    net.run_for(Duration::from_millis(20));
    let got = frames(&net.raw_take(raw));
    let Some(Message::HandshakeResponse(r)) = got.first().cloned() else {
        panic!("{got:?}")
    };
    let (confirm, _, keys) = handshake::on_response(&st, &r, &local).unwrap();
    net.raw_send(raw, &confirm.encode().unwrap());
    let mut s = Session::with_limits(
        &keys,
        RekeyLimits {
            frames: rekey_frames,
            bytes: u64::MAX,
        },
    );
    net.run_for(Duration::from_millis(20));
    // The node's first ping (sealed) arrives right after the confirmation.
    let first = s.take(net, raw);
    assert!(first.iter().any(|m| matches!(m, Message::Ping(_))));
    s
}
