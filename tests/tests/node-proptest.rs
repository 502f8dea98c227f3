//! Random operation sequences against a small in-memory network: the pool never exceeds its
//! limits, the state machine never leaves its diagram (debug assertions in the core), timers and
//! indexes stay consistent, and nothing panics.

use proptest::prelude::*;
use qudag_peer::Priority;
use qudag_peer_tests::Net;
use std::time::Duration;

#[derive(Debug, Clone)]
enum Op {
    Add { from: usize, to: usize, high: bool },
    AddText { from: usize, text: String },
    Remove { from: usize, to: usize },
    Raw { target: usize, bytes: Vec<u8> },
    Wait { ms: u64 },
    Shutdown { node: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..5usize, 0..6usize, any::<bool>()).prop_map(|(from, to, high)| Op::Add { from, to, high }),
        1 => (0..5usize, "[a-z0-9.:/@\\[\\]]{0,30}").prop_map(|(from, text)| Op::AddText { from, text }),
        2 => (0..5usize, 0..5usize).prop_map(|(from, to)| Op::Remove { from, to }),
        2 => (0..5usize, prop::collection::vec(any::<u8>(), 0..64)).prop_map(|(target, bytes)| Op::Raw { target, bytes }),
        3 => (0..20_000u64).prop_map(|ms| Op::Wait { ms }),
        1 => (0..5usize).prop_map(|node| Op::Shutdown { node }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn random_operations_keep_every_invariant(ops in prop::collection::vec(op(), 1..40)) {
        let mut net = Net::new();
        for i in 0..5 {
            net.add_node_cfg(|c| {
                c.network.peers.max_connections = 2 + i % 3;
                c.network.peers.min_connections = 1;
            });
        }
        let mut raw_port = 1000u16;
        for op in ops {
            let now = net.now;
            match op {
                Op::Add { from, to, high } => {
                    // Index 5 is an address nobody listens on.
                    let addr = if to < 5 { net.nodes[to].addr.to_string() } else { "127.0.9.9:8000".to_string() };
                    let p = if high { Priority::High } else { Priority::Normal };
                    let _ = net.nodes[from].node.add_peer(&addr, p, now);
                }
                Op::AddText { from, text } => {
                    let _ = net.nodes[from].node.add_peer(&text, Priority::Low, now);
                }
                Op::Remove { from, to } => {
                    let id = net.nodes[to].node.node_id().to_string();
                    let _ = net.nodes[from].node.remove_peer(&id, false, now);
                }
                Op::Raw { target, bytes } => {
                    raw_port += 1;
                    let raw = net.raw_connect(target, format!("127.0.7.1:{raw_port}").parse().unwrap());
                    net.raw_send(raw, &bytes);
                }
                Op::Wait { ms } => net.run_for(Duration::from_millis(ms)),
                Op::Shutdown { node } => net.nodes[node].node.shutdown(now),
            }
            net.run_for(Duration::from_millis(30));
            prop_assert!(net.check_invariants().is_ok(), "{:?}", net.check_invariants());
            for n in &net.nodes {
                let max = n.node.config().network.peers.max_connections;
                prop_assert!(n.node.peers().len() <= max);
            }
        }
    }
}
