//! Simulation: churn. Every simulated minute 10 % of the nodes crash and restart 10–40 s later
//! from their durable records (address book, reputation, bans), for five minutes; after a
//! fault-free phase every honest node is back with its `min_connections` honest peers.

use qudag_peer::rng::Rng;
use qudag_peer_tests::sim::{add_honest, run_seeds, Model, Sim};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

#[test]
fn ten_percent_crash_every_minute() {
    run_seeds("sim-churn", &[1, 2], 1, |seed| {
        let mut sim = Sim::new(seed, Model::default());
        let n = 100;
        add_honest(&mut sim, n, 3, 20 * S, |_, _| {});
        let mut rng = Rng::from_seed([seed as u8; 32]);
        sim.run_until(60 * S)?;
        for _ in 0..5 {
            let mut idx: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut idx);
            for &i in &idx[..n / 10] {
                let down = 10 + rng.below(30) as u64;
                sim.crash(i, S * down as u32);
            }
            sim.run_for(60 * S)?;
        }
        assert!(sim.stats.crashes >= 50);
        sim.run_for(180 * S)?;
        sim.check_all()?;
        sim.check_liveness()
    });
}
