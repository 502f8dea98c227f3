//! Peer exchange and DNS answers with random content never panic and never grow the address
//! book past its bounds (the book's own invariants, checked after every step).

use proptest::prelude::*;
use qudag_peer::addrbook::MAX_ADDRBOOK_ENTRIES;
use qudag_peer::wire::{Message, Peers};
use qudag_peer::Priority;
use qudag_peer_tests::dns::{Answer, Rtype};
use qudag_peer_tests::script::accept_as;
use qudag_peer_tests::{keys, Net};
use std::time::Duration;

fn address_like() -> impl Strategy<Value = String> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>())
            .prop_map(|(ip, p)| format!("{}.{}.{}.{}:{p}", ip[0], ip[1], ip[2], ip[3])),
        (any::<[u16; 8]>(), any::<u16>()).prop_map(|(s, p)| format!(
            "[{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}:{:x}]:{p}",
            s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]
        )),
        "[a-z0-9.-]{1,30}:[0-9]{1,6}",
        "quantum://[0-9a-f]{64}@[a-z0-9.]{1,20}(:[0-9]{1,5})?",
        ".{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn random_peers_answers_keep_the_book_bounded(answers in prop::collection::vec(prop::collection::vec(address_like(), 0..300), 1..4)) {
        let mut net = Net::new();
        let victim = net.add_node_cfg(|c| {
            c.network.peers.discovery_interval = Duration::from_secs(10);
            c.network.allow_private_addresses = true;
        });
        let attacker = keys::identity(970);
        let addr: std::net::SocketAddr = "127.0.9.1:8000".parse().unwrap();
        let raw = net.raw_listen(addr);
        let now = net.now;
        net.nodes[victim].node.add_peer(&addr.to_string(), Priority::Normal, now).unwrap();
        let (_, mut s, _) = accept_as(&mut net, raw, &attacker, &["pex".to_string()]);
        for a in answers {
            s.send_to(&mut net, raw, &Message::Peers(Peers { addresses: a }));
            net.run_for(Duration::from_secs(11));
            let _ = net.raw_take(raw);
            prop_assert!(net.check_invariants().is_ok(), "{:?}", net.check_invariants());
            prop_assert!(net.nodes[victim].node.address_book().len() <= MAX_ADDRBOOK_ENTRIES);
        }
    }

    #[test]
    fn random_seed_records_keep_the_book_bounded(records in prop::collection::vec(prop::collection::vec(address_like(), 0..20).prop_map(|v| v.join(" ")), 0..10), ttl in 0u32..100_000) {
        let mut net = Net::new();
        let n = net.add_node_cfg(|c| c.network.peers.dns_seeds = vec!["seed.test".into()]);
        net.zone.insert(("seed.test".into(), Rtype::Txt), Answer::Records(records, ttl));
        net.run_for(Duration::from_secs(30));
        prop_assert!(net.check_invariants().is_ok(), "{:?}", net.check_invariants());
        prop_assert!(net.nodes[n].node.address_book().len() <= qudag_peer::dns::MAX_TXT_ADDRESSES_PER_ANSWER);
    }
}
