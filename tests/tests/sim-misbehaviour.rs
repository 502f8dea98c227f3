//! Simulation: single hostile behaviours among 30 honest nodes — a handshake replayer, a node
//! that starts sending garbage frames, one that lies about latency by holding its pongs, and
//! one that earns a good reputation and then sends invalid application messages.

use qudag_peer_tests::sim::{add_honest, public_addr, run_seeds, sim_config, Hostile, Model, Sim};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn hostile_behaviours_are_contained() {
    run_seeds("sim-misbehaviour", &[1, 2, 3], 2, |seed| {
        let mut sim = Sim::new(seed, Model::default());
        let honest = add_honest(&mut sim, 30, 3, 10 * S, |_, _| {});
        let boot = [public_addr(0), public_addr(1), public_addr(2)];
        let add = |sim: &mut Sim, h: Hostile| {
            let i = sim.nodes.len();
            sim.add_node(sim_config(public_addr(i), &boot), i as u64, Some(h), 5 * S)
        };
        let replayer = add(
            &mut sim,
            Hostile {
                replay: true,
                ..Hostile::default()
            },
        );
        let garbage = add(
            &mut sim,
            Hostile {
                garbage_after: Some(120 * S),
                ..Hostile::default()
            },
        );
        let slow = add(
            &mut sim,
            Hostile {
                pong_delay: Some(4 * S),
                ..Hostile::default()
            },
        );
        let turncoat = add(
            &mut sim,
            Hostile {
                turn_bad_after: Some(150 * S),
                tick: Some(2 * S),
                ..Hostile::default()
            },
        );
        sim.run_until(110 * S)?;
        // Before turning, the turncoat is a well-liked peer somewhere.
        let liked = honest.iter().any(|&i| {
            let n = sim.nodes[i].node.as_ref().expect("up");
            n.reputation(&sim.nodes[turncoat].id, sim.instant()).total > 50
        });
        if !liked {
            return Err("the turncoat never earned a good reputation".into());
        }
        // The latency liar shows its lie as latency.
        for &i in &honest {
            let n = sim.nodes[i].node.as_ref().expect("up");
            for p in n.peers() {
                if p.id == Some(sim.nodes[slow].id) {
                    if let Some(l) = p.latency {
                        if l < 3 * S {
                            return Err(format!("node {i} measures the pong-holder at {l:?}"));
                        }
                    }
                }
            }
        }
        sim.run_until(400 * S)?;
        if sim.stats.replays == 0 {
            return Err("the replayer never replayed".into());
        }
        if sim.stats.reports == 0 {
            return Err("no invalid message was reported".into());
        }
        for &i in &honest {
            let peers = sim.honest_peers(i);
            let n = sim.nodes[i].node.as_ref().expect("up");
            let connected = n.connected_peers();
            for bad in [garbage, turncoat] {
                if connected.contains(&sim.nodes[bad].id) {
                    return Err(format!(
                        "node {i} still connected to hostile node {bad} ({} honest peers)",
                        peers.len()
                    ));
                }
            }
        }
        sim.check_all()?;
        sim.check_honest_connected()?;
        for i in [replayer, garbage, slow, turncoat] {
            sim.stop(i);
        }
        sim.run_for(180 * S)?;
        sim.check_liveness()
    });
}
