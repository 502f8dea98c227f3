//! Spec 6.4 security tests and the reputation-driven actions, driven in memory through the
//! node: reputation-based disconnect, bans in both directions and on reconnection, expiry and
//! unban, self-protection, PEX filtering, and persistence without restart amnesty.

use qudag_peer::wire::{GetPeers, Message};
use qudag_peer::PeerAddress;
use qudag_peer::{CommandError, Event, PeerError};
use qudag_peer::{DisconnectReason, Priority};
use qudag_peer::{Report, ThresholdAction};
use qudag_peer_tests::script::connect_as;
use qudag_peer_tests::{keys, Net};
use std::time::Duration;

/// Two connected nodes: `a` dialed `b`.
fn pair(f: impl Fn(&mut qudag_peer::Config) + Copy) -> (Net, usize, usize) {
    let mut net = Net::new();
    let a = net.add_node_cfg(f);
    let b = net.add_node_cfg(f);
    let addr = net.nodes[b].addr.to_string();
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[a].node.connected_peers().len(), 1);
    (net, a, b)
}

#[test]
fn test_reputation_based_disconnect() {
    let (mut net, a, b) = pair(|_| {});
    let peer = net.nodes[b].node.node_id();
    // Nine reports leave the peer connected; the tenth crosses auto_disconnect (20).
    for i in 0..10 {
        let now = net.now;
        let score = net.nodes[a].node.report_invalid_message(&peer, now);
        if i < 8 {
            assert!(score.total >= 20, "report {} gave {}", i + 1, score.total);
        }
        net.run_for(Duration::from_millis(50));
    }
    net.run_for(Duration::from_secs(1));
    assert!(!net.nodes[a].node.connected_peers().contains(&peer));
    assert!(net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::ReputationAction {
            action: ThresholdAction::Disconnect,
            ..
        }
    )));
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::LowReputation,
            by_peer: true,
            ..
        }
    )));
    // It cannot come straight back: its score is still below the threshold.
    let a_addr = net.nodes[a].addr.to_string();
    let now = net.now;
    net.nodes[b]
        .node
        .add_peer(&a_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(
        net.nodes[b].events.iter().any(|e| matches!(
            e,
            Event::AddPeerFinished {
                result: Err(PeerError::Refused {
                    reason: DisconnectReason::LowReputation,
                    ..
                }),
                ..
            }
        )),
        "{:?}",
        net.nodes[b].events
    );
    assert!(!net.nodes[a].node.connected_peers().contains(&peer));
    // The history says why.
    let history = net.nodes[a].node.reputation_history(&peer);
    assert!(
        history
            .iter()
            .filter(|c| c.reason.as_str().contains("invalid"))
            .count()
            >= 1,
        "{history:?}"
    );
    net.check_invariants().unwrap();
}

#[test]
fn test_malicious_peer_handling() {
    let (mut net, a, b) = pair(|_| {});
    let b_id = net.nodes[b].node.node_id();
    let b_addr = net.nodes[b].addr.to_string();
    // The operator bans the peer: it is disconnected at once...
    let now = net.now;
    net.nodes[a]
        .node
        .ban(
            &b_id.to_string(),
            Some(Duration::from_secs(3600)),
            "misbehaving",
            now,
        )
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[a].node.connected_peers().is_empty());
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::PeerDisconnected {
            reason: DisconnectReason::Banned,
            ..
        }
    )));
    // ...our dial to it is refused with Blacklisted (pinned identity)...
    let now = net.now;
    let pinned = format!("quantum://{b_id}@{b_addr}");
    assert!(matches!(
        net.nodes[a].node.add_peer(&pinned, Priority::Normal, now),
        Err(CommandError::Blacklisted(_))
    ));
    // ...an unpinned dial learns the identity in the handshake and is refused then...
    net.nodes[a]
        .node
        .add_peer(&b_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[a].events.iter().any(|e| matches!(
        e,
        Event::AddPeerFinished {
            result: Err(PeerError::Blacklisted(_)),
            ..
        }
    )));
    // ...and its reconnection to us is refused too.
    let a_addr = net.nodes[a].addr.to_string();
    let now = net.now;
    net.nodes[b]
        .node
        .add_peer(&a_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[b].events.iter().any(|e| matches!(
        e,
        Event::AddPeerFinished {
            result: Err(PeerError::Refused {
                reason: DisconnectReason::Banned,
                ..
            }),
            ..
        }
    )));
    assert!(net.nodes[a].node.connected_peers().is_empty());
    net.check_invariants().unwrap();

    // Lifting the ban lets it back in.
    let now = net.now;
    net.nodes[a].node.unban(&b_id.to_string(), now).unwrap();
    assert!(matches!(
        net.nodes[a].node.unban(&b_id.to_string(), now),
        Err(CommandError::NotBanned(_))
    ));
    net.nodes[b]
        .node
        .add_peer(&a_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[a].node.connected_peers(), vec![b_id]);
}

#[test]
fn address_and_subnet_bans_refuse_inbound_and_expire() {
    let mut net = Net::new();
    let a = net.add_node();
    let b = net.add_node();
    let c = net.add_node();
    let a_addr = net.nodes[a].addr.to_string();
    let now = net.now;
    // Ban B's address and C's /32 subnet for one minute.
    let (b_ip, c_net) = (
        net.nodes[b].addr.ip().to_string(),
        format!("{}/32", net.nodes[c].addr.ip()),
    );
    net.nodes[a]
        .node
        .ban(&b_ip, Some(Duration::from_secs(60)), "", now)
        .unwrap();
    net.nodes[a]
        .node
        .ban(&c_net, Some(Duration::from_secs(60)), "", now)
        .unwrap();
    assert!(net.nodes[a]
        .node
        .ban("not-a-target", None, "", now)
        .is_err());
    for n in [b, c] {
        net.nodes[n]
            .node
            .add_peer(&a_addr, Priority::Normal, now)
            .unwrap();
    }
    net.run_for(Duration::from_secs(1));
    for n in [b, c] {
        assert!(net.nodes[n].events.iter().any(|e| matches!(
            e,
            Event::AddPeerFinished {
                result: Err(PeerError::Refused {
                    reason: DisconnectReason::Banned,
                    ..
                }),
                ..
            }
        )));
    }
    assert_eq!(net.nodes[a].node.bans(net.now).len(), 2);
    // After expiry, both get in.
    net.run_for(Duration::from_secs(65));
    assert!(net.nodes[a].node.bans(net.now).is_empty());
    assert_eq!(
        net.nodes[a]
            .events
            .iter()
            .filter(|e| matches!(e, Event::BanRemoved { expired: true, .. }))
            .count(),
        2
    );
    for n in [b, c] {
        let now = net.now;
        let _ = net.nodes[n].node.add_peer(&a_addr, Priority::Normal, now);
    }
    net.run_for(Duration::from_secs(1));
    assert_eq!(net.nodes[a].node.connected_peers().len(), 2);
}

#[test]
fn remove_with_ban() {
    let (mut net, a, b) = pair(|_| {});
    let b_id = net.nodes[b].node.node_id();
    let now = net.now;
    net.nodes[a]
        .node
        .remove_peer(&b_id.to_string(), true, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[a].node.connected_peers().is_empty());
    let bans = net.nodes[a].node.bans(net.now);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].target.to_string(), b_id.to_string());
    assert_eq!(
        bans[0].expires, None,
        "a remove --ban is permanent until lifted"
    );
}

#[test]
fn auto_ban_needs_enough_outbound_peers_and_pauses_on_a_spike() {
    // With min_connections = 1 and a second outbound peer left after the bad one goes, a peer
    // reported into the ban zone is banned.
    let (mut net, a, b) = pair(|c| c.network.peers.min_connections = 1);
    let c = net.add_node_cfg(|c| c.network.peers.min_connections = 1);
    let c_addr = net.nodes[c].addr.to_string();
    let now = net.now;
    net.nodes[a]
        .node
        .add_peer(&c_addr, Priority::Normal, now)
        .unwrap();
    net.run_for(Duration::from_secs(1));
    let peer = net.nodes[b].node.node_id();
    for _ in 0..16 {
        let now = net.now;
        net.nodes[a].node.report(&peer, Report::InvalidMessage, now);
    }
    net.run_for(Duration::from_secs(1));
    assert!(
        net.nodes[a]
            .events
            .iter()
            .any(|e| matches!(e, Event::BanAdded { .. })),
        "{:?}",
        net.nodes[a].events
    );
    assert_eq!(net.nodes[a].node.bans(net.now).len(), 1);

    // With min_connections = 5 and one outbound peer, the same reports only disconnect, and
    // an event says why the ban was held back.
    let (mut net, a, b) = pair(|_| {});
    let peer = net.nodes[b].node.node_id();
    for _ in 0..16 {
        let now = net.now;
        net.nodes[a].node.report(&peer, Report::InvalidMessage, now);
    }
    net.run_for(Duration::from_secs(1));
    assert!(net.nodes[a].node.bans(net.now).is_empty());
    let why = net.nodes[a].events.iter().find_map(|e| match e {
        Event::AutoBanPaused { why, .. } => Some(why.clone()),
        _ => None,
    });
    assert!(
        why.as_deref().is_some_and(|w| w.contains("outbound")),
        "{why:?}"
    );
    assert!(
        net.nodes[a].node.connected_peers().is_empty(),
        "still disconnected"
    );
}

#[test]
fn pex_answers_leave_out_banned_and_low_reputation_peers() {
    let mut net = Net::new();
    let hub = net.add_node();
    let others: Vec<usize> = (0..3).map(|_| net.add_node()).collect();
    net.dial_all(&others, hub);
    net.run_for(Duration::from_secs(1));
    let (bad, banned, good) = (others[0], others[1], others[2]);
    let now = net.now;
    let bad_id = net.nodes[bad].node.node_id();
    // Below min_relay (30) but above auto_disconnect (20): still connected, no longer shared.
    for _ in 0..7 {
        net.nodes[hub]
            .node
            .report(&bad_id, Report::InvalidMessage, now);
    }
    let score = net.nodes[hub].node.reputation(&bad_id, now).total;
    assert!((20..30).contains(&score), "{score}");
    assert!(!net.nodes[hub].node.can_relay(&bad_id));
    assert!(net.nodes[hub]
        .node
        .can_relay(&net.nodes[good].node.node_id()));
    let banned_id = net.nodes[banned].node.node_id().to_string();
    net.nodes[hub].node.ban(&banned_id, None, "", now).unwrap();
    net.run_for(Duration::from_secs(1));

    let asker = keys::identity(960);
    let raw = net.raw_connect(hub, "127.0.8.8:40000".parse().unwrap());
    let (_, mut s, _) = connect_as(&mut net, raw, &asker, &[]);
    s.send_to(&mut net, raw, &Message::GetPeers(GetPeers { max: 100 }));
    net.run_for(Duration::from_millis(20));
    let got = s.take(&mut net, raw);
    let Some(Message::Peers(p)) = got.iter().find(|m| matches!(m, Message::Peers(_))) else {
        panic!("{got:?}")
    };
    let shared: Vec<String> = p
        .addresses
        .iter()
        .map(|a| PeerAddress::parse(a).unwrap().without_id().to_string())
        .collect();
    assert!(
        shared.contains(&net.nodes[good].addr.to_string()),
        "{shared:?}"
    );
    assert!(
        !shared.contains(&net.nodes[bad].addr.to_string()),
        "low reputation left out: {shared:?}"
    );
    assert!(
        !shared.contains(&net.nodes[banned].addr.to_string()),
        "banned left out: {shared:?}"
    );
    // Consensus peers need 50: the bad peer is not offered.
    assert!(!net.nodes[hub].node.consensus_peers().contains(&bad_id));
}

#[test]
fn durable_state_survives_a_restart_without_amnesty() {
    let (mut net, a, b) = pair(|_| {});
    let b_id = net.nodes[b].node.node_id();
    let now = net.now;
    for _ in 0..5 {
        net.nodes[a].node.report_invalid_message(&b_id, now);
    }
    net.nodes[a]
        .node
        .ban(
            "192.0.2.0/24",
            Some(Duration::from_secs(7 * 86_400)),
            "spam range",
            now,
        )
        .unwrap();
    let before = net.nodes[a].node.reputation(&b_id, now);
    let state = net.nodes[a].node.durable_state(now);
    // Through the database's eyes: the records are plain serde data and round-trip losslessly.
    let text = serde_json::to_string(&state).unwrap();
    assert!(text.contains("spam range"));
    let state: qudag_peer::DurableState = serde_json::from_str(&text).unwrap();

    // A new node process one day later, restored from the records.
    let cfg = net.nodes[a].node.config().clone();
    let later = now + Duration::from_secs(86_400);
    let mut fresh = qudag_peer::Node::new(
        cfg,
        keys::identity(a as u64),
        [1; 32],
        later,
        net.unix_start.plus(Duration::from_secs(86_400)),
    );
    fresh.restore(state, later);
    let after = fresh.reputation(&b_id, later);
    assert!(
        after.total < 50,
        "no amnesty: {} after a day (was {})",
        after.total,
        before.total
    );
    assert!(
        after.total > before.total,
        "but decay toward neutral: {} > {}",
        after.total,
        before.total
    );
    assert_eq!(fresh.bans(later).len(), 1);
    assert!(!fresh.address_book().is_empty(), "known addresses kept");
}
