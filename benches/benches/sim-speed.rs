//! Simulator speed: simulated node-seconds per wall second for networks of 100 and 1,000 nodes
//! (and 10,000 with `QUDAG_SIM_BENCH_10K=1`), real cores and real dilithium3 handshakes.
//!
//! `cargo bench -p qudag-peer-benches --bench sim-speed`. Under `cargo test` (no `--bench`) it
//! runs one tiny network as a smoke test.

use qudag_peer_tests::sim::{add_honest, Model, Sim};
use std::time::{Duration, Instant};

fn run(nodes: usize, sim_secs: u64) -> (Duration, f64) {
    let mut sim = Sim::new(1, Model::default());
    // Warm the key pool outside the timed part (key generation is the pool's, not the simulator's).
    for i in 0..nodes as u64 {
        let _ = qudag_peer_tests::keys::identity(i);
    }
    add_honest(&mut sim, nodes, 3, Duration::from_secs(20), |_, _| {});
    let t0 = Instant::now();
    sim.run_for(Duration::from_secs(sim_secs))
        .expect("the simulation's invariants hold");
    let wall = t0.elapsed();
    (wall, nodes as f64 * sim_secs as f64 / wall.as_secs_f64())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut sizes = vec![(100usize, 300u64), (1000, 120)];
    if std::env::var("QUDAG_SIM_BENCH_10K").is_ok() {
        sizes.push((10_000, 60));
    }
    if !bench {
        sizes = vec![(20, 30)];
    }
    println!("simulator speed (bootstrap from 3 seeds, nodes joining over 20 s, default model)");
    for (n, secs) in sizes {
        let (wall, rate) = run(n, secs);
        println!("  {n:>6} nodes × {secs:>3} s simulated: {:>7.2} s wall, {rate:>9.0} node-seconds per wall second", wall.as_secs_f64());
    }
}
