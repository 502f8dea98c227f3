//! `qudag testnet` on a fresh machine: no config, no data dir, loopback only. Three nodes, all
//! but the first knowing only the first, find each other through peer exchange.

mod common;
use common::*;
use std::time::Duration;

#[test]
fn testnet_nodes_find_each_other() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = qudag();
    c.args(["testnet", "--nodes", "3", "--duration", "20s"])
        .env("HOME", tmp.path())
        .current_dir(tmp.path());
    let o = run_with_deadline(c, Duration::from_secs(90));
    let out = stdout(&o);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("qudag testnet: 3 nodes on loopback"), "{out}");
    assert!(out.contains("Peers of node 1:"), "{out}");
    assert!(out.contains("Connected"), "{out}");
    assert!(
        out.contains("3 of 3 nodes are connected to every other node"),
        "{out}"
    );
    assert!(out.contains("testnet stopped"), "{out}");
    // Nothing was written: no ~/.qudag on a fresh machine.
    assert!(!tmp.path().join(".qudag").exists());
}
