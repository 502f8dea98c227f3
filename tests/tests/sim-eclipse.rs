//! Simulation: an eclipse attempt. An attacker controls 20 % of the addresses (38 nodes spread
//! over 8 /16 networks), advertises only its own addresses in PEX and dials the victim. The
//! victim keeps honest outbound peers and stays in the honest graph.

use qudag_peer::{Direction, PeerState};
use qudag_peer_tests::sim::{
    add_honest, group_addr, public_addr, run_seeds, sim_config, Hostile, Model, PexLie, Sim,
};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn victim_keeps_honest_peers() {
    run_seeds("sim-eclipse", &[1, 2, 3], 2, |seed| {
        let mut sim = Sim::new(seed, Model::default());
        let honest = add_honest(&mut sim, 150, 3, 30 * S, |_, _| {});
        let victim = honest[10];
        let attackers: Vec<_> = (0..38)
            .map(|k| group_addr([60 + (k % 8) as u8, 7], k / 8))
            .collect();
        let lie: Vec<String> = attackers.iter().map(|a| a.to_string()).collect();
        let boot = [
            public_addr(0),
            public_addr(1),
            public_addr(2),
            sim.nodes[victim].addr,
        ];
        let mut bad = Vec::new();
        for (k, a) in attackers.iter().enumerate() {
            let h = Hostile {
                pex_lie: Some(PexLie::Only(lie.clone())),
                ..Hostile::default()
            };
            let idx = sim.add_node(
                sim_config(*a, &boot),
                2000 + k as u64,
                Some(h),
                S * k as u32,
            );
            bad.push(idx);
        }
        for _ in 0..6 {
            sim.run_for(60 * S)?;
            let peers = sim.nodes[victim].node.as_ref().expect("up").peers();
            let honest_out = peers
                .iter()
                .filter(|p| p.status == PeerState::Connected && p.direction == Direction::Outbound)
                .filter(|p| {
                    p.id.and_then(|id| sim.index_of(&id))
                        .is_some_and(|j| sim.nodes[j].is_honest())
                })
                .count();
            if honest_out == 0 {
                return Err(format!("victim eclipsed at {:?}: {peers:?}", sim.elapsed()));
            }
        }
        sim.check_all()?;
        // The attack ends; after a fault-free phase everyone is whole again.
        bad.iter().for_each(|&i| sim.stop(i));
        sim.run_for(180 * S)?;
        // Strict liveness (min_connections honest peers each) is not yet reached 180 s after
        // the attackers vanish: their addresses fill the books and back off one by one.
        sim.check_honest_connected()
    });
}
