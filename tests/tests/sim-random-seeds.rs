//! Simulation: a small network under every fault and hostile behaviour at once, over many
//! seeds (100 random ones by default; `QUDAG_SIM_SEEDS=N` for more, `QUDAG_SIM_SEED=n` to replay
//! one), and the determinism check: the same seed gives a byte-identical event trace.

use qudag_peer::rng::Rng;
use qudag_peer_tests::sim::{
    add_honest, public_addr, run_seeds, seeds, sim_config, Hostile, Model, PexLie, Sim,
};
use std::time::Duration;

const S: Duration = Duration::from_secs(1);

/// 14 honest nodes and 3 hostile ones on a faulty network (loss, resets, refusals, skew), with
/// crashes and a partition for 150 s; then 180 s without faults. Safety invariants are checked
/// at every step; at the end the honest graph must be connected. (The strict liveness check,
/// `min_connections` honest peers each, is not yet met on every seed after faults: back-off of
/// addresses that failed during the faults delays recovery beyond 180 s — see SIMULATION.md.)
fn mixed(seed: u64) -> Result<Sim, String> {
    let model = Model::faulty();
    let mut sim = Sim::new(seed, model.clone());
    let honest = add_honest(&mut sim, 14, 2, 10 * S, |_, _| {});
    let boot = [public_addr(0), public_addr(1)];
    let hostile = [
        Hostile {
            replay: true,
            garbage_after: Some(60 * S),
            ..Hostile::default()
        },
        Hostile {
            pex_lie: Some(PexLie::Fake),
            pex_flood: true,
            tick: Some(15 * S),
            ..Hostile::default()
        },
        Hostile {
            turn_bad_after: Some(40 * S),
            pong_delay: Some(2 * S),
            tick: Some(3 * S),
            ..Hostile::default()
        },
    ];
    let mut bad = Vec::new();
    for h in hostile {
        let i = sim.nodes.len();
        bad.push(i);
        sim.add_node(sim_config(public_addr(i), &boot), i as u64, Some(h), 5 * S);
    }
    let mut rng = Rng::from_seed([(seed % 251) as u8; 32]);
    for step in 0..10 {
        if step % 2 == 1 {
            let i = honest[rng.below(honest.len())];
            sim.crash(i, S * (10 + rng.below(20) as u32));
        }
        if step == 4 {
            let cut = rng.below(honest.len());
            sim.partition(move |i| u8::from(i < cut));
        }
        if step == 7 {
            sim.heal();
        }
        sim.run_for(15 * S)?;
    }
    sim.check_honest_connected().ok();
    sim.model = model.without_faults();
    bad.iter().for_each(|&i| sim.stop(i));
    sim.run_for(180 * S)?;
    sim.check_all()?;
    Ok(sim)
}

#[test]
fn random_seeds_a() {
    run_seeds("sim-random-seeds", &[1, 2, 3], 50, |seed| {
        mixed(seed).map(|_| ())
    });
}

#[test]
fn random_seeds_b() {
    run_seeds("sim-random-seeds", &[4, 5, 6], 50, |seed| {
        mixed(seed).map(|_| ())
    });
}

#[test]
fn same_seed_same_trace() {
    let seed = seeds(&[7], 0)[0];
    let a = mixed(seed).expect("runs");
    let b = mixed(seed).expect("runs");
    assert_eq!(a.trace_hash(), b.trace_hash(), "seed={seed}: traces differ");
    assert!(a.stats.steps > 1000);
    let c = mixed(seed + 1).expect("runs");
    assert_ne!(a.trace_hash(), c.trace_hash());
}

/// The trace hashes of fixed seeds, pinned: a restructuring must change neither what the nodes
/// do nor the order in which they do it. A change that alters behaviour on purpose updates
/// these values and says why in its commit message.
#[test]
fn pinned_trace_hashes() {
    const PINNED: [(u64, &str); 3] = [
        (
            11,
            "2745ca317644e7495b669e0f12732fbc38e34703e422e18b67cbb78410c082eb",
        ),
        (
            12,
            "6977d8ad090da88e4af44c886eb9f3fc14f70844f945e484e964e3439aeb5e43",
        ),
        (
            13,
            "f5a63243ed30b677f01711cff27ee43d8ce245de69aa5647a2943e7768937f55",
        ),
    ];
    let got: Vec<(u64, String)> = PINNED
        .iter()
        .map(|&(seed, _)| (seed, mixed(seed).expect("runs").trace_hash()))
        .collect();
    for ((seed, want), (_, got)) in PINNED.iter().zip(&got) {
        assert_eq!(got, want, "seed={seed}: the event trace changed");
    }
}
