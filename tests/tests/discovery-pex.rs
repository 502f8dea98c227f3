//! Spec 6.1 discovery tests in memory: bootstrap loading, peer exchange (request/response,
//! rate limiting, filtering, caps), a 20-node network found from one bootstrap node, and the
//! eclipse defence against a flooding PEX peer.

use qudag_peer::addrbook::{Source, MAX_ADDRBOOK_ENTRIES, MAX_SOURCE_SHARE_PERCENT};
use qudag_peer::wire::{GetPeers, Message, Peers};
use qudag_peer::PeerAddress;
use qudag_peer::Priority;
use qudag_peer::{DiscoveryStep, Event};
use qudag_peer_tests::script::{accept_as, connect_as};
use qudag_peer_tests::{keys, Net};
use std::time::Duration;

#[test]
fn test_bootstrap_node_loading() {
    let mut net = Net::new();
    let boot = net.add_node();
    let boot_addr = net.nodes[boot].addr.to_string();
    let n = net.add_node_cfg(|c| {
        c.network.peers.bootstrap_nodes = vec![boot_addr.clone(), "not an address".into()]
    });
    // The config list is in the book; a bad entry is a warning, not a crash.
    let book = net.nodes[n].node.address_book();
    let e = book
        .get(&PeerAddress::parse(&boot_addr).unwrap())
        .expect("bootstrap node loaded");
    assert_eq!(e.source, Source::Config);
    net.run_for(Duration::from_secs(6));
    assert!(net.nodes[n]
        .events
        .iter()
        .any(|e| matches!(e, Event::Warning { message } if message.contains("not an address"))));
    assert_eq!(
        net.nodes[n].node.connected_peers(),
        vec![net.nodes[boot].node.node_id()]
    );
    assert!(net.nodes[n].events.iter().any(|e| matches!(
        e,
        Event::Discovery {
            step: DiscoveryStep::Bootstrap,
            ..
        }
    )));

    // No configured list: the hard-coded one is the last resort (its hosts need DNS).
    let lone = net.add_node_cfg(|c| c.network.peers.use_default_bootstrap = true);
    net.run_for(Duration::from_secs(6));
    assert!(net.nodes[lone].events.iter().any(|e| matches!(
        e,
        Event::Discovery {
            step: DiscoveryStep::HardcodedBootstrap,
            ..
        }
    )));
    let hard = PeerAddress::parse("bootstrap1.qudag.network:8000").unwrap();
    assert_eq!(
        net.nodes[lone]
            .node
            .address_book()
            .get(&hard)
            .map(|e| e.source.clone()),
        Some(Source::Bootstrap)
    );
    // A node with its own list never falls back to the hard-coded one.
    assert!(!net.nodes[n].events.iter().any(|e| matches!(
        e,
        Event::Discovery {
            step: DiscoveryStep::HardcodedBootstrap,
            ..
        }
    )));
}

#[test]
fn twenty_nodes_find_each_other_from_one_bootstrap_node() {
    let mut net = Net::new();
    let boot = net.add_node();
    let boot_addr = net.nodes[boot].addr.to_string();
    for _ in 1..20 {
        net.add_node_cfg(|c| {
            c.network.peers.bootstrap_nodes = vec![boot_addr.clone()];
            c.network.peers.discovery_interval = Duration::from_secs(30);
        });
    }
    net.run_for(Duration::from_secs(600));
    net.check_invariants().unwrap();
    for (i, n) in net.nodes.iter().enumerate() {
        let connected = n.node.connected_peers().len();
        assert!(connected >= 5, "node {i} has {connected} peers");
        let known = n.node.address_book().len();
        assert!(known >= 15, "node {i} knows {known} of 19 other addresses");
    }
    // Not everyone is only connected to the bootstrap node: the graph spread out.
    let outbound_to_others = net.nodes[1..]
        .iter()
        .filter(|n| {
            n.node.peers().iter().any(|p| {
                p.address != net.nodes[boot].addr && p.direction == qudag_peer::Direction::Outbound
            })
        })
        .count();
    assert!(outbound_to_others >= 15, "{outbound_to_others}");
}

fn fake_addrs(round: u32, n: u32) -> Vec<String> {
    (0..n)
        .map(|i| format!("{}.{}.{}.{}:8000", 20 + round, (i >> 8) as u8, i as u8, 7))
        .collect()
}

#[test]
fn a_flooding_pex_peer_gets_no_more_than_its_share() {
    let mut net = Net::new();
    let victim = net.add_node_cfg(|c| c.network.peers.discovery_interval = Duration::from_secs(10));
    let attacker = keys::identity(950);
    let caps = vec!["pex".to_string()];
    // The attacker is a public-looking node the victim dials.
    let addr: std::net::SocketAddr = "127.0.5.5:8000".parse().unwrap();
    let raw = net.raw_listen(addr);
    let now = net.now;
    net.nodes[victim]
        .node
        .add_peer(&addr.to_string(), Priority::Normal, now)
        .unwrap();
    let (_, mut s, mut pending) = accept_as(&mut net, raw, &attacker, &caps);
    let cap = MAX_ADDRBOOK_ENTRIES * MAX_SOURCE_SHARE_PERCENT / 100;
    let mut rounds = 0;
    // Answer every GetPeers with 1,000 fresh addresses, for more rounds than the share allows.
    for round in 0..(cap as u32 / 1000 + 3) {
        let asked = pending.iter().any(|m| matches!(m, Message::GetPeers(_)));
        if asked {
            rounds += 1;
            let answer = Message::Peers(Peers {
                addresses: fake_addrs(round, 1000),
            });
            s.send_to(&mut net, raw, &answer);
        }
        net.run_for(Duration::from_secs(11));
        pending = s.take(&mut net, raw);
    }
    assert!(
        rounds > cap / 1000,
        "the victim kept asking ({rounds} rounds)"
    );
    let book = net.nodes[victim].node.address_book();
    let from_attacker = book
        .iter()
        .filter(|e| matches!(&e.source, Source::Pex { peer, .. } if *peer == attacker.node_id()))
        .count();
    assert_eq!(from_attacker, cap, "exactly the share, no more");
    assert!(net.nodes[victim].events.iter().any(|e| matches!(
        e,
        Event::PeersReceived {
            added: 0,
            refused: 1000,
            ..
        }
    )));
    // Unsolicited answers are refused and counted (two in a row: at most one was asked for).
    s.send_to(
        &mut net,
        raw,
        &Message::Peers(Peers {
            addresses: fake_addrs(98, 10),
        }),
    );
    s.send_to(
        &mut net,
        raw,
        &Message::Peers(Peers {
            addresses: fake_addrs(99, 10),
        }),
    );
    net.run_for(Duration::from_millis(20));
    assert!(net.nodes[victim].events.iter().any(|e| matches!(
        e,
        Event::PexRefused {
            why: "unsolicited Peers",
            ..
        }
    )));
    net.check_invariants().unwrap();
}

#[test]
fn test_peer_exchange_protocol() {
    let mut net = Net::new();
    let a = net.add_node();
    // A knows some addresses: a few nodes connected to it.
    let others: Vec<usize> = (0..4).map(|_| net.add_node()).collect();
    net.dial_all(&others, a);
    net.run_for(Duration::from_secs(2));
    let asker = keys::identity(951);
    let raw = net.raw_connect(a, "127.0.6.6:40000".parse().unwrap());
    let (_, mut s, _) = connect_as(&mut net, raw, &asker, &[]);

    // Request and answer: capped by the request, never the asker itself, all known nodes.
    s.send_to(&mut net, raw, &Message::GetPeers(GetPeers { max: 2 }));
    net.run_for(Duration::from_millis(20));
    let got = s.take(&mut net, raw);
    let Some(Message::Peers(p)) = got.iter().find(|m| matches!(m, Message::Peers(_))) else {
        panic!("{got:?}")
    };
    assert_eq!(p.addresses.len(), 2);
    s.send_to(&mut net, raw, &Message::GetPeers(GetPeers { max: 5000 }));
    net.run_for(Duration::from_millis(20));
    let got = s.take(&mut net, raw);
    let Some(Message::Peers(p)) = got.iter().find(|m| matches!(m, Message::Peers(_))) else {
        panic!("{got:?}")
    };
    assert_eq!(p.addresses.len(), 4, "{:?}", p.addresses);
    assert!(!p.addresses.iter().any(|s| s.contains("127.0.6.6")));

    // Rate limit: the burst is 3, the fourth request is refused; a minute later one more.
    s.send_to(&mut net, raw, &Message::GetPeers(GetPeers { max: 10 }));
    s.send_to(&mut net, raw, &Message::GetPeers(GetPeers { max: 10 }));
    net.run_for(Duration::from_millis(20));
    let answers = s
        .take(&mut net, raw)
        .iter()
        .filter(|m| matches!(m, Message::Peers(_)))
        .count();
    assert_eq!(answers, 1);
    assert!(net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::PexRefused {
            why: "GetPeers flood",
            ..
        }
    )));
    net.run_for(Duration::from_secs(61));
    let _ = net.raw_take(raw);
    s.send_to(&mut net, raw, &Message::GetPeers(GetPeers { max: 10 }));
    net.run_for(Duration::from_millis(20));
    assert!(s
        .take(&mut net, raw)
        .iter()
        .any(|m| matches!(m, Message::Peers(_))));
}

#[test]
fn received_addresses_are_validated_before_entering_the_book() {
    let mut net = Net::new();
    let victim = net.add_node_cfg(|c| c.network.peers.min_connections = 1);
    let attacker = keys::identity(952);
    let addr: std::net::SocketAddr = "127.0.5.6:8000".parse().unwrap();
    let raw = net.raw_listen(addr);
    let now = net.now;
    net.nodes[victim]
        .node
        .add_peer(&addr.to_string(), Priority::Normal, now)
        .unwrap();
    let (_, mut s, pending) = accept_as(&mut net, raw, &attacker, &["pex".to_string()]);
    assert!(pending.iter().any(|m| matches!(m, Message::GetPeers(_))));
    let addrs = [
        "8.8.8.8:8000",      // public: kept
        "127.0.0.77:8000",   // loopback, and the victim listens on loopback: kept
        "node.example:8000", // a hostname: kept for DNS
        "10.1.2.3:8000",     // private: refused (the victim is not on a private network)
        "192.0.2.1:8000",    // documentation: refused
        "0.0.0.0:8000",      // unspecified: refused
        "224.0.0.1:8000",    // multicast bogon: refused
        "169.254.1.1:8000",  // link-local: refused
        "8.8.4.4:0",         // port 0: refused
        "garbage",           // refused
    ];
    let answer = Message::Peers(Peers {
        addresses: addrs.iter().map(|s| s.to_string()).collect(),
    });
    s.send_to(&mut net, raw, &answer);
    net.run_for(Duration::from_millis(20));
    let got: Vec<_> = net.nodes[victim]
        .events
        .iter()
        .filter(|e| matches!(e, Event::PeersReceived { .. }))
        .collect();
    assert!(
        matches!(
            got[..],
            [Event::PeersReceived {
                added: 3,
                refused: 7,
                ..
            }]
        ),
        "{got:?}"
    );
    let book = net.nodes[victim].node.address_book();
    for kept in &addrs[..3] {
        assert!(
            book.get(&PeerAddress::parse(kept).unwrap()).is_some(),
            "{kept}"
        );
    }
    net.check_invariants().unwrap();
}
