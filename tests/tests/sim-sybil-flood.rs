//! Simulation: a Sybil flood. 100 identities in one /16 advertise only each other. Honest nodes
//! keep at most one outbound connection into that network and stay connected to each other.

use qudag_peer::{Direction, PeerState};
use qudag_peer_tests::sim::{
    add_honest, group_addr, public_addr, run_seeds, sim_config, Hostile, Model, PexLie, Sim,
};
use std::net::IpAddr;
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn sybils_from_one_netgroup() {
    run_seeds("sim-sybil-flood", &[1, 2], 2, |seed| {
        let mut sim = Sim::new(seed, Model::default());
        let honest = add_honest(&mut sim, 100, 3, 20 * S, |_, _| {});
        let sybils: Vec<_> = (0..100).map(|k| group_addr([66, 66], k)).collect();
        let lie: Vec<String> = sybils.iter().map(|a| a.to_string()).collect();
        let boot = [public_addr(0), public_addr(1), public_addr(2)];
        let mut bad = Vec::new();
        for (k, a) in sybils.iter().enumerate() {
            let h = Hostile {
                pex_lie: Some(PexLie::Only(lie.clone())),
                ..Hostile::default()
            };
            let idx = sim.add_node(
                sim_config(*a, &boot),
                3000 + k as u64,
                Some(h),
                S * (k as u32 / 5),
            );
            bad.push(idx);
        }
        sim.run_until(300 * S)?;
        for &i in &honest {
            let into_sybil = sim.nodes[i]
                .node
                .as_ref()
                .expect("up")
                .peers()
                .iter()
                .filter(|p| p.status == PeerState::Connected && p.direction == Direction::Outbound)
                .filter(|p| matches!(p.address.ip(), IpAddr::V4(v) if v.octets()[..2] == [66, 66]))
                .count();
            if into_sybil > 1 {
                return Err(format!("node {i} has {into_sybil} outbound Sybil peers"));
            }
        }
        sim.check_all()?;
        sim.check_honest_connected()?;
        bad.iter().for_each(|&i| sim.stop(i));
        sim.run_for(180 * S)?;
        sim.check_liveness()
    });
}
