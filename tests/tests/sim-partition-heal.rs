//! Simulation: a network splits in two for two minutes, then heals. Invariants hold
//! throughout; after a fault-free phase the honest graph is whole again.

use qudag_peer_tests::sim::{add_honest, run_seeds, Model, Sim};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn partition_and_heal() {
    run_seeds("sim-partition-heal", &[1, 2, 3], 2, |seed| {
        let mut sim = Sim::new(seed, Model::default());
        add_honest(&mut sim, 60, 3, 20 * S, |_, _| {});
        sim.run_until(120 * S)?;
        sim.check_liveness()?;
        sim.partition(|i| (i % 2) as u8);
        sim.run_for(120 * S)?;
        sim.heal();
        sim.run_for(300 * S)?;
        sim.check_all()?;
        sim.check_liveness()
    });
}
