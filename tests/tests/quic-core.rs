//! The core's side of QUIC, in memory: `quic://` dials say `Transport::Quic`, inbound
//! connections carry the transport they came on, the handshake advertises
//! `network.quic_listen` and the peer files it as a `quic://<id>@ip:port` address, and
//! `proxy_all` keeps QUIC dials away from the SOCKS5 proxy.

use qudag_peer::Priority;
use qudag_peer::{CommandError, Output};
use qudag_peer::{Config, Node, UnixMillis};
use qudag_peer::{PeerAddress, Transport};
use qudag_peer_tests::{keys, Net};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn node(f: impl FnOnce(&mut Config)) -> (Node, Instant) {
    let mut c = Config::local("127.0.0.1:8000".parse().unwrap());
    f(&mut c);
    let now = Instant::now();
    (
        Node::new(
            c,
            keys::identity(0),
            [1; 32],
            now,
            UnixMillis(1_760_000_000_000),
        ),
        now,
    )
}

/// The `(addr, transport)` of every `Output::Dial` until the node waits.
fn dials(n: &mut Node) -> Vec<(SocketAddr, Transport)> {
    let mut out = Vec::new();
    for _ in 0..1000 {
        match n.poll_output() {
            Output::Dial {
                addr, transport, ..
            } => out.push((addr, transport)),
            Output::Timeout { .. } => return out,
            _ => {}
        }
    }
    panic!("the node never waited");
}

#[test]
fn dial_says_which_transport() {
    let (mut n, now) = node(|_| {});
    n.add_peer("quic://127.0.0.2:9001", Priority::Normal, now)
        .unwrap();
    n.add_peer("127.0.0.3:9000", Priority::Normal, now).unwrap();
    assert_eq!(
        dials(&mut n),
        vec![
            ("127.0.0.2:9001".parse().unwrap(), Transport::Quic),
            ("127.0.0.3:9000".parse().unwrap(), Transport::Tcp),
        ]
    );
    let peers = n.peers();
    assert_eq!(peers[0].transport, Transport::Quic);
    assert_eq!(peers[1].transport, Transport::Tcp);
    // The same socket over TCP is another connection, not a duplicate ...
    n.add_peer("127.0.0.2:9001", Priority::Normal, now).unwrap();
    // ... but the same socket over QUIC again is.
    let again = n.add_peer("quic://127.0.0.2:9001", Priority::Normal, now);
    assert!(
        matches!(again, Err(CommandError::AlreadyConnected(_))),
        "{again:?}"
    );
}

#[test]
fn proxy_all_refuses_quic_but_a_plain_proxy_does_not() {
    let proxy: SocketAddr = "127.0.0.9:1080".parse().unwrap();
    let (mut n, now) = node(|c| {
        c.network.proxy = Some(proxy);
        c.network.proxy_all = true;
    });
    let r = n.add_peer("quic://127.0.0.2:9001", Priority::Normal, now);
    assert!(matches!(r, Err(CommandError::QuicThroughProxy(_))), "{r:?}");
    assert!(dials(&mut n).is_empty());
    // A proxy for onions only: QUIC to an IP goes direct.
    let (mut n, now) = node(|c| c.network.proxy = Some(proxy));
    n.add_peer("quic://127.0.0.2:9001", Priority::Normal, now)
        .unwrap();
    assert_eq!(
        dials(&mut n),
        vec![("127.0.0.2:9001".parse().unwrap(), Transport::Quic)]
    );
}

#[test]
fn accepted_connections_carry_their_transport() {
    let (mut n, now) = node(|_| {});
    n.accept_via("127.0.0.5:40000".parse().unwrap(), Transport::Quic, now);
    n.accept("127.0.0.6:40000".parse().unwrap(), now);
    let mut peers = n.peers();
    peers.sort_by_key(|p| p.address);
    assert_eq!(peers[0].transport, Transport::Quic);
    assert_eq!(peers[1].transport, Transport::Tcp);
}

#[test]
fn handshake_advertises_the_quic_listener() {
    let mut net = Net::new();
    let a = net.add_node_cfg(|c| {
        let mut q = c.network.listen;
        q.set_port(q.port() + 1);
        c.network.quic_listen = Some(q);
    });
    let b = net.add_node();
    let quic = net.nodes[a].node.config().network.quic_listen.unwrap();
    let a_id = net.nodes[a].node.node_id();
    net.dial(b, a);
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[b].node.connected_peers(), vec![a_id]);
    let pb = &net.nodes[b].node.peers()[0];
    assert_eq!(pb.quic_listen_addr, Some(quic));
    assert_eq!(pb.transport, Transport::Tcp);
    // b files it as a pinned QUIC address, proven by the signed handshake.
    let mut want = PeerAddress::from_socket_addr_via(quic, Transport::Quic);
    want.expected_id = Some(a_id);
    let entry = net.nodes[b].node.address_book().get(&want);
    assert!(
        entry.is_some_and(|e| e.last_success.is_some()),
        "{:?}",
        net.nodes[b]
            .node
            .address_book()
            .iter()
            .map(|e| e.addr.to_string())
            .collect::<Vec<_>>()
    );
    // a has no QUIC peer to learn about.
    assert_eq!(net.nodes[a].node.peers()[0].quic_listen_addr, None);
    let per_transport = &net.nodes[b]
        .node
        .metrics(net.now)
        .counters
        .connections_by_transport;
    assert_eq!(per_transport.get("tcp"), Some(&1));
}
