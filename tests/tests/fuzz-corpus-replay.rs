//! Replays every fuzz corpus and regression input through its target's body on stable, so a
//! crash found once by `cargo +nightly fuzz` stays a regression test without nightly.
//!
//! `fuzz/corpus/<target>/*` are the seeds and what the fuzzers found interesting (minimised);
//! `fuzz/regressions/<target>/*` are inputs that crashed a target before a fix. A panic names
//! the file. See `docs/FUZZING.md`.

use qudag_peer_tests::fuzz_bodies::TARGETS;
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn replay(target: &str, body: fn(&[u8])) -> usize {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut n = 0;
    for kind in ["corpus", "regressions"] {
        for path in files(&root.join(kind).join(target)) {
            let data = std::fs::read(&path).unwrap();
            let r = std::panic::catch_unwind(|| body(&data));
            assert!(r.is_ok(), "{target}: {} panicked", path.display());
            n += 1;
        }
    }
    n
}

macro_rules! replay_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let (t, body) = *TARGETS.iter().find(|(t, _)| *t == stringify!($name)).unwrap();
            let start = std::time::Instant::now();
            let n = replay(t, body);
            eprintln!("{t}: {n} inputs replayed in {:?}", start.elapsed());
            assert!(n > 0, "fuzz/corpus/{t}/ is empty: seeds are missing");
        }
    )*};
}

replay_tests!(
    frame_decoder,
    message,
    handshake_responder,
    handshake_initiator,
    pex,
    addr,
    dns,
    config,
    ban_target,
    node_ops,
);

#[test]
fn every_target_is_replayed() {
    assert_eq!(TARGETS.len(), 10);
}
