//! Benchmarks for qudag-peer. Speed is measured here, never asserted in tests.
//!
//! - `cargo bench -p qudag-peer-benches --bench figures` prints every figure of
//!   `docs/BENCHMARKS.md` with the ratio to its floor, both measured in the same run;
//! - `cargo bench -p qudag-peer-benches --bench codec` is a criterion micro-benchmark per
//!   message type.
//!
//! This library holds the small timing helpers the bench binaries share.
#![warn(missing_docs)]

use std::time::{Duration, Instant};

/// Runs `f` repeatedly for about `budget` (after a short warm-up) and returns the mean time per
/// call. `f` returns a value that is kept alive so the work is not optimised away.
pub fn time_per_call<T>(budget: Duration, mut f: impl FnMut() -> T) -> Duration {
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        std::hint::black_box(f());
    }
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < budget || n < 3 {
        std::hint::black_box(f());
        n += 1;
    }
    start.elapsed() / n
}

/// Measures two workloads interleaved in rounds (so a noisy neighbour hits both alike) and
/// returns the median per-call times of each.
pub fn paired<A, B>(
    rounds: usize,
    budget: Duration,
    mut a: impl FnMut() -> A,
    mut b: impl FnMut() -> B,
) -> (Duration, Duration) {
    let mut ta = Vec::with_capacity(rounds);
    let mut tb = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        ta.push(time_per_call(budget, &mut a));
        tb.push(time_per_call(budget, &mut b));
    }
    ta.sort();
    tb.sort();
    (ta[rounds / 2], tb[rounds / 2])
}

/// Formats a duration in µs with two decimals.
pub fn us(d: Duration) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6)
}
