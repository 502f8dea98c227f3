//! Hostile peers in memory, for the defences of `docs/SECURITY.md` that other suites do not
//! show: a banned peer reconnecting (by address and by identity), a slowloris handshake, a frame
//! one byte over the limit, and a peer that never acknowledges a disconnect. (The same attacks
//! over real sockets belong to the malicious-peer suite of the CLI work.)

use qudag_peer::handshake::{self, LocalHello};
use qudag_peer::node::Event;
use qudag_peer::peer::DisconnectReason;
use qudag_peer::rng::Rng;
use qudag_peer::wire::{Message, MAX_FRAME_LEN};
use qudag_peer::Identity;
use qudag_peer_tests::script::{connect_as, frames};
use qudag_peer_tests::{keys, Net};
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
    connect_as(&mut net, raw, &attacker, &[]);
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
        reason(&frames(&net.raw_take(raw))),
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
    connect_as(&mut net, raw, &attacker, &[]);
    let now = net.now;
    let id = attacker.node_id().to_string();
    net.nodes[b].node.remove_peer(&id, false, now).unwrap();
    net.run_for(Duration::from_secs(4));
    assert_eq!(
        reason(&frames(&net.raw_take(raw))),
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
