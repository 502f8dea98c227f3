//! Simulation: 1,000 nodes bootstrap from 3 seed nodes.
//!
//! Default: 1,000 nodes joining over the first minute, 4 simulated minutes. `QUDAG_SIM_NODES`
//! and `QUDAG_SIM_MINUTES` make it bigger or longer (e.g. 1,000 nodes for 60 minutes).

use qudag_peer_tests::sim::{add_honest, run_seeds, Model, Sim};
use std::time::Duration;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Every node reaches `min_connections` honest peers and the graph is connected after four
/// simulated minutes. This failed before address-fetch slots (see SIMULATION.md, finding 2).
#[test]
fn bootstrap_1000_nodes_from_3_seeds() {
    bootstrap(env("QUDAG_SIM_NODES", 1000));
}

#[test]
fn bootstrap_100_nodes_from_3_seeds() {
    bootstrap(100);
}

fn bootstrap(nodes: usize) {
    let minutes = env("QUDAG_SIM_MINUTES", 4) as u64;
    run_seeds("sim-bootstrap", &[1], 0, |seed| {
        let mut sim = Sim::new(seed, Model::default());
        add_honest(&mut sim, nodes, 3, Duration::from_secs(60), |_, _| {});
        let t = std::time::Instant::now();
        sim.run_until(Duration::from_secs(60 * minutes))?;
        eprintln!(
            "seed={seed}: {nodes} nodes, {minutes} simulated min in {:.1?}: {:?}",
            t.elapsed(),
            sim.stats
        );
        sim.check_all()?;
        sim.check_liveness()
    });
}
