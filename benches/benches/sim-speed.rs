//! Simulator speed: simulated node-seconds per wall second for networks of 100, 1,000 and
//! 10,000 nodes, real cores and real dilithium3 handshakes, each over the same simulated minute
//! (nodes joining over the first 20 s) so the rates compare. A run stops early, at a whole
//! simulated second, once it has taken [`WALL_LIMIT`]; the rate is over what it simulated.
//!
//! `cargo bench -p qudag-peer-benches --bench sim-speed` (`QUDAG_SIM_BENCH_SKIP_10K=1` leaves out
//! the 10,000-node network). Under `cargo test` (no `--bench`) it runs one tiny network as a
//! smoke test.

use qudag_peer_tests::sim::{add_honest, Model, Sim};
use std::time::{Duration, Instant};

/// Wall time after which one network's run stops (at the next simulated second).
const WALL_LIMIT: Duration = Duration::from_secs(240);

/// Runs `nodes` nodes for up to `sim_secs` simulated seconds; returns the wall time, the
/// simulated seconds reached and the node-seconds per wall second.
fn run(nodes: usize, sim_secs: u64) -> (Duration, u64, f64) {
    let mut sim = Sim::new(1, Model::default());
    // Warm the key pool outside the timed part (key generation is the pool's, not the simulator's).
    for i in 0..nodes as u64 {
        let _ = qudag_peer_tests::keys::identity(i);
    }
    add_honest(&mut sim, nodes, 3, Duration::from_secs(20), |_, _| {});
    let t0 = Instant::now();
    let mut done = 0;
    while done < sim_secs && t0.elapsed() < WALL_LIMIT {
        sim.run_for(Duration::from_secs(1))
            .expect("the simulation's invariants hold");
        done += 1;
    }
    let wall = t0.elapsed();
    (wall, done, nodes as f64 * done as f64 / wall.as_secs_f64())
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut sizes = vec![(100usize, 60u64), (1000, 60)];
    if std::env::var("QUDAG_SIM_BENCH_SKIP_10K").is_err() {
        sizes.push((10_000, 60));
    }
    if !bench {
        sizes = vec![(20, 30)];
    }
    println!("simulator speed (bootstrap from 3 seeds, nodes joining over 20 s, default model)");
    let mut first: Option<f64> = None;
    for (n, secs) in sizes {
        let (wall, done, rate) = run(n, secs);
        let growth = first.map_or(String::new(), |r| {
            format!("  (wall per node-second x{:.2} vs the smallest)", r / rate)
        });
        first.get_or_insert(rate);
        println!(
            "  {n:>6} nodes × {done:>3} s simulated: {:>7.2} s wall, {rate:>9.0} node-seconds per wall second{growth}",
            wall.as_secs_f64()
        );
    }
}
