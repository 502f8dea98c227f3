//! Spec 6.1 connection tests, driven in memory: lifecycle, timeouts, the connection limit,
//! graceful disconnect, shutdown, determinism.

use qudag_peer::{CommandError, Event, PeerError, Stage};
use qudag_peer::{Direction, DisconnectReason, PeerState, Priority};
use qudag_peer_tests::Net;
use std::time::Duration;

#[test]
fn test_connection_lifecycle() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let b_addr = net.nodes[b].addr.to_string();
    let b_id = net.nodes[b].node.node_id();
    let a_id = net.nodes[a].node.node_id();
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&b_addr, Priority::Normal, now)
        .unwrap();
    let st = net.nodes[a].node.peers();
    assert_eq!(st.len(), 1);
    assert_eq!(st[0].status, PeerState::Connecting);
    net.run_for(Duration::from_secs(1));

    assert_eq!(net.add_results(a), vec![Ok(b_id)]);
    assert_eq!(net.nodes[a].node.connected_peers(), vec![b_id]);
    assert_eq!(net.nodes[b].node.connected_peers(), vec![a_id]);
    let pa = &net.nodes[a].node.peers()[0];
    assert_eq!(pa.status, PeerState::Connected);
    assert_eq!(pa.direction, Direction::Outbound);
    assert_eq!(pa.version, Some(2));
    assert_eq!(pa.capabilities, vec!["pex".to_string()]);
    assert!(pa.user_agent.starts_with("qudag/"));
    assert!(pa.connected_since.is_some());
    // One Ping/Pong round trip on 5 ms links: 10 ms.
    assert_eq!(pa.latency, Some(Duration::from_millis(10)));
    assert!(pa.messages_sent >= 3 && pa.messages_received >= 2, "{pa:?}");
    assert!(pa.bytes_sent > 2000 && pa.bytes_received > 5000, "{pa:?}");
    let pb = &net.nodes[b].node.peers()[0];
    assert_eq!(pb.direction, Direction::Inbound);
    assert_eq!(
        pb.listen_addr,
        Some(net.nodes[a].addr),
        "the advertised listen address is known"
    );

    // Keep-alive: an hour of idling does not disconnect anyone.
    net.run_for(Duration::from_secs(3600));
    assert_eq!(net.nodes[a].node.connected_peers(), vec![b_id]);

    // Graceful removal, acknowledged.
    let now = net.now;
    let req = net.nodes[a].node.remove_peer(&b_addr, false, now).unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[a].events.iter().any(|e| matches!(e,
        Event::RemovePeerFinished { request, peer: Some(p), acked: true, .. } if *request == req && *p == b_id)));
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::UserRequested,
            by_peer: true,
            ..
        }
    )));
    assert!(net.nodes[a].node.peers().is_empty());
    assert!(net.nodes[b].node.peers().is_empty());
    // A removed peer stays removed: A's maintenance pass does not dial it again on its own (B
    // may still dial A: `remove` without `--ban` does not refuse it)...
    net.frozen.insert(b);
    net.run_for(Duration::from_secs(60));
    assert!(!net.nodes[a]
        .node
        .peers()
        .iter()
        .any(|p| p.direction == Direction::Outbound));
    // ...but the operator can add it back at any time.
    net.frozen.remove(&b);
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&b_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[a].node.connected_peers(), vec![b_id]);
    net.check_invariants().unwrap();
}

#[test]
fn remove_by_id_prefix_and_unknown_peer() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let b_addr = net.nodes[b].addr.to_string();
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&b_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let b_id = net.nodes[b].node.node_id();
    let now = net.now;
    assert!(matches!(
        net.nodes[a].node.remove_peer("127.9.9.9:8000", false, now),
        Err(CommandError::UnknownPeer(_))
    ));
    assert!(matches!(
        net.nodes[a].node.remove_peer("not an address", false, now),
        Err(CommandError::InvalidAddress(_))
    ));
    net.nodes[a]
        .node
        .remove_peer(&b_id.short(), false, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[a].node.peers().is_empty());
}

#[test]
fn test_connection_timeout() {
    let mut net = Net::new();
    let a = net.add_node();
    let hole: std::net::SocketAddr = "127.0.0.200:8000".parse().unwrap();
    net.black_holes.insert(hole);
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&hole.to_string(), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_millis(9_999));
    assert!(
        net.add_results(a).is_empty(),
        "still waiting before connection_timeout"
    );
    net.run_for(Duration::from_millis(2));
    assert_eq!(
        net.add_results(a),
        vec![Err(PeerError::Timeout(Stage::Connect))]
    );
    assert!(net.nodes[a].node.peers().is_empty());
}

#[test]
fn test_handshake_timeout_silent_peer() {
    let mut net = Net::new();
    let a = net.add_node();
    // A peer that accepts TCP and then says nothing.
    let silent: std::net::SocketAddr = "127.0.0.201:8000".parse().unwrap();
    let raw = net.raw_listen(silent);
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&silent.to_string(), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_millis(4_900));
    assert!(net.add_results(a).is_empty());
    assert!(!net.raw_take(raw).is_empty(), "our Handshake was sent");
    net.run_for(Duration::from_millis(200));
    assert_eq!(
        net.add_results(a),
        vec![Err(PeerError::Timeout(Stage::Handshake))]
    );
    assert!(net.raws[raw].closed);

    // Inbound: a peer that connects and says nothing is dropped after handshake_timeout.
    let raw = net.raw_connect(a, "127.0.0.202:5555".parse().unwrap());
    assert_eq!(net.nodes[a].node.peers().len(), 1);
    net.run_for(Duration::from_millis(5_100));
    assert!(net.nodes[a].node.peers().is_empty());
    assert!(net.raws[raw].closed);
}

#[test]
fn test_max_connections() {
    let mut net = Net::new();
    let hub = net.add_node_cfg(|c| {
        c.network.peers.max_connections = 3;
        c.network.peers.min_connections = 1;
    });
    let others: Vec<usize> = (0..5).map(|_| net.add_node()).collect();
    net.dial_all(&others, hub);
    net.run_for(Duration::from_secs(2));
    assert_eq!(net.nodes[hub].node.connected_peers().len(), 3);
    let refused: Vec<_> = others
        .iter()
        .flat_map(|&o| net.add_results(o))
        .filter(|r| {
            matches!(
                r,
                Err(PeerError::Refused {
                    reason: DisconnectReason::ConnectionLimitReached,
                    ..
                })
            )
        })
        .collect();
    assert_eq!(
        refused.len(),
        2,
        "two dialers are told the limit is reached"
    );

    // The hub itself cannot dial out when full.
    let now = net.now;
    let extra = net.add_node();
    let extra_addr = net.nodes[extra].addr.to_string();
    assert_eq!(
        net.nodes[hub]
            .node
            .add_peer(&extra_addr, Priority::Normal, now),
        Err(CommandError::ConnectionLimitReached { max: 3 })
    );
    // ...unless the operator says it matters: a high-priority add evicts an inbound peer.
    net.nodes[hub]
        .node
        .add_peer(&extra_addr, Priority::High, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[hub].node.connected_peers().len(), 3);
    assert!(net.nodes[hub]
        .node
        .connected_peers()
        .contains(&net.nodes[extra].node.node_id()));
    net.check_invariants().unwrap();
}

#[test]
fn inactivity_timeout_disconnects_a_dead_peer() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let b_addr = net.nodes[b].addr;
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&b_addr.to_string(), Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    // B vanishes without closing: its node stops being driven (frozen), links stay up.
    net.frozen.insert(b);
    net.run_for(Duration::from_secs(89));
    assert_eq!(net.nodes[a].node.connected_peers().len(), 1);
    net.run_for(Duration::from_secs(2));
    assert!(net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::InactivityTimeout,
            by_peer: false,
            ..
        }
    )));
    assert!(net.nodes[a].node.peers().is_empty());
}

#[test]
fn graceful_shutdown_waits_for_acks() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let c = net.add_node();
    for t in [b, c] {
        let addr = net.nodes[t].addr.to_string();
        let now = net.now;
        net.nodes[a]
            .node
            .add_peer(&addr, Priority::Normal, now)
            .unwrap();
    }
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[a].node.connected_peers().len(), 2);
    let now = net.now;
    net.nodes[a].node.shutdown(now);
    net.run_for(Duration::from_millis(50));
    assert!(net.nodes[a].events.contains(&Event::ShutdownComplete));
    for t in [b, c] {
        assert!(net.nodes[t].events.iter().any(|e| matches!(
            e,
            Event::PeerDisconnected {
                reason: DisconnectReason::Shutdown,
                by_peer: true,
                ..
            }
        )));
    }
    let now = net.now;
    assert_eq!(
        net.nodes[a]
            .node
            .add_peer("127.0.0.9:8000", Priority::Normal, now),
        Err(CommandError::ShuttingDown)
    );
}

#[test]
fn address_errors_are_immediate() {
    let mut net = Net::new();
    let a = net.add_node();
    let now = net.now;
    let n = &mut net.nodes[a].node;
    assert!(matches!(
        n.add_peer("1.2.3.4", Priority::Normal, now),
        Err(CommandError::InvalidAddress(_))
    ));
    assert!(matches!(
        n.add_peer("1.2.3.4:0", Priority::Normal, now),
        Err(CommandError::InvalidAddress(_))
    ));
    let onion = format!("{}.onion:8000", "a".repeat(55) + "d");
    assert!(matches!(
        n.add_peer(&onion, Priority::Normal, now),
        Err(CommandError::ProxyRequired(_)) | Err(CommandError::InvalidAddress(_))
    ));
}

fn scenario() -> Vec<String> {
    let mut net = Net::new();
    let nodes: Vec<usize> = (0..4).map(|_| net.add_node()).collect();
    for &i in &nodes[1..] {
        let addr = net.nodes[nodes[0]].addr.to_string();
        let now = net.now;
        net.nodes[i]
            .node
            .add_peer(&addr, Priority::Normal, now)
            .unwrap();
    }
    net.run_for(Duration::from_secs(120));
    let now = net.now;
    let t = net.nodes[1].node.node_id().to_string();
    net.nodes[0].node.remove_peer(&t, false, now).unwrap();
    net.run_for(Duration::from_secs(10));
    net.trace
}

#[test]
fn same_seed_and_keys_give_identical_bytes() {
    let a = scenario();
    let b = scenario();
    assert!(
        a.len() > 50,
        "the scenario did something: {} outputs",
        a.len()
    );
    assert_eq!(a, b);
}
