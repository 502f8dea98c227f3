//! The core's metrics match what happened: connections, disconnections by reason, handshake
//! failures by cause, dial outcomes, PEX and DNS traffic, bans by origin, latency, and the
//! netgroup concentration of connected peers.

use qudag_peer::Priority;
use qudag_peer_tests::Net;
use std::time::Duration;

#[test]
fn figures_match_reality() {
    let mut net = Net::new();
    let hub = net.add_node();
    let a = net.add_node();
    let b = net.add_node();
    net.dial_all(&[a, b], hub);
    // One dial to nowhere.
    let now = net.now;
    net.nodes[hub]
        .node
        .add_peer("127.0.99.1:8000", Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(2));

    let m = net.nodes[hub].node.metrics(net.now);
    assert_eq!(m.peers_by_status["connected"], 2);
    assert_eq!(m.connected_by_direction["inbound"], 2);
    assert_eq!(m.counters.connections.get("inbound"), Some(&2));
    assert_eq!(m.counters.dial_outcomes.get("connect_failed"), Some(&1));
    assert_eq!(
        m.counters.handshake_failures.get("connect_failed"),
        Some(&1)
    );
    assert_eq!(
        m.counters.pex_requests_received, 2,
        "each dialer asked once"
    );
    assert_eq!(m.counters.pex_answers_sent, 2);
    assert!(m.counters.latency.count >= 2);
    assert_eq!(m.peers.len(), 2);
    assert!(m
        .peers
        .iter()
        .all(|p| p.latency_seconds == Some(0.01) && p.bytes_received > 0));
    // Two loopback addresses: two netgroups, evenly used.
    assert_eq!(m.concentration.per_netgroup.len(), 2);
    assert!((m.concentration.hhi - 0.5).abs() < 1e-9);
    assert!((m.concentration.entropy_bits - 1.0).abs() < 1e-9);
    assert_eq!(m.reputation_distribution.values().sum::<usize>(), 2);

    // One operator ban disconnects a peer.
    let a_id = net.nodes[a].node.node_id().to_string();
    let now = net.now;
    net.nodes[hub].node.ban(&a_id, None, "test", now).unwrap();
    net.run_for(Duration::from_secs(1));
    let m = net.nodes[hub].node.metrics(net.now);
    assert_eq!(m.counters.bans.get("operator"), Some(&1));
    assert_eq!(m.active_bans, 1);
    assert_eq!(m.counters.disconnections.get("banned"), Some(&1));
    assert_eq!(m.peers_by_status["connected"], 1);
    assert_eq!(
        m.concentration.hhi, 1.0,
        "one peer left: fully concentrated"
    );
    let dialer = net.nodes[a].node.metrics(net.now);
    assert_eq!(dialer.counters.pex_requests_sent, 1);
    assert_eq!(dialer.counters.dials, 1);
}
