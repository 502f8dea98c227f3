//! Spec 6.1 `test_dns_discovery`, end to end in memory: seeds' TXT records and hostnames'
//! A/AAAA records come back as real DNS datagrams (built with hickory-proto) and the node finds
//! its peers through them; failures fall back as the discovery order says.

use qudag_peer::Priority;
use qudag_peer::{DiscoveryStep, Event, Input, PeerError};
use qudag_peer_tests::dns::{Answer, Rtype};
use qudag_peer_tests::Net;
use std::time::Duration;

fn txt(items: &[&str], ttl: u32) -> Answer {
    Answer::Records(items.iter().map(|s| s.to_string()).collect(), ttl)
}

#[test]
fn test_dns_discovery() {
    let mut net = Net::new();
    let seeker = net.add_node_cfg(|c| c.network.peers.dns_seeds = vec!["seed.test".into()]);
    let peers: Vec<usize> = (0..3).map(|_| net.add_node()).collect();
    let id3 = net.nodes[peers[2]].node.node_id();
    let record = format!(
        "{} {}, quantum://{id3}@{} 10.0.0.1:8000 nonsense",
        net.nodes[peers[0]].addr, net.nodes[peers[1]].addr, net.nodes[peers[2]].addr
    );
    net.zone
        .insert(("seed.test".into(), Rtype::Txt), txt(&[&record], 600));
    net.run_for(Duration::from_secs(3));
    let ev = &net.nodes[seeker].events;
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Discovery {
            step: DiscoveryStep::DnsSeeds,
            ..
        }
    )));
    // Three usable addresses; a private one (we listen on loopback) and garbage refused.
    assert!(
        ev.iter().any(|e| matches!(
            e,
            Event::SeedResult {
                result: Ok((3, 2)),
                ..
            }
        )),
        "{ev:?}"
    );
    net.run_for(Duration::from_secs(10));
    let mut connected = net.nodes[seeker].node.connected_peers();
    connected.sort();
    let mut want: Vec<_> = peers.iter().map(|&p| net.nodes[p].node.node_id()).collect();
    want.sort();
    assert_eq!(connected, want);
}

#[test]
fn hostnames_resolve_through_the_core() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let b_ip = net.nodes[b].addr.ip().to_string();
    net.zone.insert(
        ("node-b.test".into(), Rtype::A),
        Answer::Records(vec![b_ip], 300),
    );
    // No AAAA record: NXDOMAIN for that family must not fail the add.
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer("node-b.test:8000", Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let b_id = net.nodes[b].node.node_id();
    assert!(net.nodes[a]
        .events
        .iter()
        .any(|e| matches!(e, Event::AddPeerFinished { result: Ok(id), .. } if *id == b_id)));
    let asked: Vec<_> = net
        .dns_log
        .iter()
        .filter(|(i, n, _)| *i == a && n == "node-b.test")
        .map(|(_, _, t)| *t)
        .collect();
    assert_eq!(asked, vec![Rtype::A, Rtype::Aaaa]);

    // A name that does not exist fails with the resolver's word.
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer("nowhere.test:8000", Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let err = net.nodes[a].events.iter().find_map(|e| match e {
        Event::AddPeerFinished { result: Err(e), .. } => Some(e.clone()),
        _ => None,
    });
    assert!(
        matches!(&err, Some(PeerError::Dns { host, why }) if host == "nowhere.test" && why.contains("NXDOMAIN")),
        "{err:?}"
    );
}

#[test]
fn a_silent_resolver_is_retried_then_the_hardcoded_list_is_the_last_resort() {
    let mut net = Net::new();
    let n = net.add_node_cfg(|c| {
        c.network.peers.dns_seeds = vec!["seed.test".into()];
        c.network.peers.use_default_bootstrap = true;
    });
    net.zone
        .insert(("seed.test".into(), Rtype::Txt), Answer::Silent);
    net.run_for(Duration::from_secs(10));
    let txt_queries = net
        .dns_log
        .iter()
        .filter(|(_, name, t)| name == "seed.test" && *t == Rtype::Txt)
        .count();
    assert_eq!(
        txt_queries,
        qudag_peer::dns::DNS_MAX_ATTEMPTS as usize,
        "sent, then retried"
    );
    let ev = &net.nodes[n].events;
    assert!(ev.iter().any(
        |e| matches!(e, Event::SeedResult { result: Err(why), .. } if why.contains("no answer"))
    ));
    let steps: Vec<DiscoveryStep> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Discovery { step, .. } => Some(*step),
            _ => None,
        })
        .collect();
    assert_eq!(
        steps[..2],
        [DiscoveryStep::DnsSeeds, DiscoveryStep::HardcodedBootstrap],
        "{steps:?}"
    );
    // The hard-coded hosts are then resolved through the same DNS (and do not exist here).
    assert!(net
        .dns_log
        .iter()
        .any(|(_, name, t)| name == "bootstrap1.qudag.network" && *t == Rtype::A));
}

#[test]
fn seed_refresh_respects_discovery_interval_and_ttl() {
    for (ttl, interval, minutes, expected) in [(60u32, 300u64, 16u64, 4usize), (3600, 300, 16, 1)] {
        let mut net = Net::new();
        // Wanting more peers than exist keeps the node asking.
        net.add_node_cfg(|c| {
            c.network.peers.dns_seeds = vec!["seed.test".into()];
            c.network.peers.discovery_interval = Duration::from_secs(interval);
            c.network.peers.min_connections = 8;
        });
        net.zone.insert(
            ("seed.test".into(), Rtype::Txt),
            txt(&["127.0.0.99:8000"], ttl),
        );
        net.run_for(Duration::from_secs(minutes * 60));
        let asked = net
            .dns_log
            .iter()
            .filter(|(_, name, _)| name == "seed.test")
            .count();
        assert_eq!(asked, expected, "ttl {ttl}s, interval {interval}s");
    }
}

#[test]
fn spoofed_answers_are_ignored() {
    let mut net = Net::new();
    let n = net.add_node_cfg(|c| c.network.peers.dns_seeds = vec!["seed.test".into()]);
    net.zone
        .insert(("seed.test".into(), Rtype::Txt), Answer::Silent);
    net.run_for(Duration::from_millis(100));
    // An answer to a question nobody asked (another transaction id).
    let fake_query = {
        let mut c = qudag_peer::dns::DnsClient::new();
        let (_, q) = c
            .start(
                "seed.test",
                qudag_peer::dns::QueryKind::Txt,
                net.now,
                &mut qudag_peer::rng::Rng::from_seed([42; 32]),
            )
            .unwrap();
        q
    };
    let reply = qudag_peer_tests::dns::respond(&fake_query, &txt(&["6.6.6.6:8000"], 60)).unwrap();
    let now = net.now;
    net.nodes[n]
        .node
        .handle_input(Input::DnsResponse { data: &reply, now });
    net.nodes[n].node.handle_input(Input::DnsResponse {
        data: b"garbage",
        now,
    });
    net.run_for(Duration::from_millis(10));
    assert!(!net.nodes[n]
        .events
        .iter()
        .any(|e| matches!(e, Event::SeedResult { .. })));
    assert!(net.nodes[n].node.address_book().is_empty());
}
