//! A local network of real nodes in memory on virtual time: node 1 is the bootstrap node, the
//! others dial it, handshake with Dilithium3 signatures, ping, and one is removed gracefully.
//!
//! `cargo run --release -p qudag-peer-tests --example local-network -- [NODES]` (default 5).

use qudag_peer::Event;
use qudag_peer::Priority;
use qudag_peer_tests::Net;
use std::time::Duration;

fn main() {
    let n: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 5,
        Some(Ok(n)) if (2..=200).contains(&n) => n,
        Some(_) => {
            eprintln!("usage: local-network [NODES]   (NODES between 2 and 200, default 5)");
            std::process::exit(2);
        }
    };
    let mut net = Net::new();
    for _ in 0..n {
        net.add_node();
    }
    let boot = net.nodes[0].addr.to_string();
    println!(
        "{n} nodes on virtual loopback; bootstrap node {} at {boot}",
        net.nodes[0].node.node_id().short()
    );
    for i in 1..n {
        let now = net.now;
        if let Err(e) = net.nodes[i].node.add_peer(&boot, Priority::Normal, now) {
            eprintln!("node {i}: {e}");
        }
    }
    net.run_for(Duration::from_secs(65));
    for (i, s) in net.nodes.iter().enumerate() {
        for e in &s.events {
            match e {
                Event::PeerConnected {
                    peer,
                    address,
                    direction,
                    ..
                } => {
                    println!(
                        "node {i:>3} {}  connected {direction:?} to {} at {address}",
                        s.node.node_id().short(),
                        peer.short()
                    )
                }
                Event::ConnectionFailed { address, error, .. } => {
                    println!("node {i:>3}  failed {address}: {error}")
                }
                _ => {}
            }
        }
    }
    println!("\nPeer table of the bootstrap node after 65 s (virtual):");
    println!(
        "{:<12} {:<18} {:<10} {:<8} {:<8} {:<9}",
        "Peer ID", "Address", "Status", "Version", "Latency", "Messages"
    );
    for p in net.nodes[0].node.peers() {
        println!(
            "{:<12} {:<18} {:<10} {:<8} {:<8} {:<9}",
            p.id.map(|i| i.short()).unwrap_or_else(|| "-".into()),
            p.address.to_string(),
            p.status.to_string(),
            p.version
                .map(|v| format!("{v}"))
                .unwrap_or_else(|| "-".into()),
            p.latency
                .map(|l| format!("{}ms", l.as_millis()))
                .unwrap_or_else(|| "-".into()),
            p.messages_sent + p.messages_received
        );
    }
    let victim = net.nodes[1].node.node_id().to_string();
    let now = net.now;
    net.nodes[0]
        .node
        .remove_peer(&victim, false, now)
        .expect("node 1 is connected");
    net.run_for(Duration::from_secs(1));
    let acked = net.nodes[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::RemovePeerFinished { acked: true, .. }));
    println!(
        "\nremoved node 1 gracefully (acknowledged: {acked}); bootstrap now has {} peers",
        net.nodes[0].node.connected_peers().len()
    );
    if let Err(e) = net.check_invariants() {
        eprintln!("invariant broken: {e}");
        std::process::exit(1);
    }
}
