//! Spec 6.3: 100 concurrent `qudag peer add` processes against one node.
//!
//! The targets: 5 real peer nodes (each asked for about ten times, so most of those requests
//! meet "already connected" or the connection limit) and loopback ports where nothing listens
//! (a clear "connect failed: connection refused"). The node runs with `max_connections = 4`,
//! so the limit is reached. Every invocation must finish with exit 0 and `successfully`, or
//! exit 1 and one `error:` line; the node must keep answering and never list more than
//! `max_connections` connections (sampled while the adds run, and at the end).

mod common;
use common::*;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const MAX: u64 = 4;

#[test]
fn hundred_concurrent_adds_respect_max_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = quiet_config(tmp.path(), &format!("max_connections = {MAX}\n"));
    let cfg = cfg.to_str().unwrap();
    let node = NodeProc::start(&tmp.path().join("main"), &["--config", cfg]);
    let quiet = quiet_config(tmp.path(), "");
    let peers: Vec<NodeProc> = (0..5)
        .map(|i| {
            NodeProc::start(
                &tmp.path().join(format!("p{i}")),
                &["--config", quiet.to_str().unwrap()],
            )
        })
        .collect();
    let closed: Vec<u16> = (0..10).map(|_| closed_port()).collect();

    // Sample the node's connection count while the adds run.
    let stop = Arc::new(AtomicBool::new(false));
    let max_seen = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, max_seen, dir) = (stop.clone(), max_seen.clone(), node.dir.clone());
        std::thread::spawn(move || {
            let mut samples = 0;
            while !stop.load(Ordering::Relaxed) {
                let o = cli(&dir, &["peer", "list", "--format", "json"]);
                assert!(o.status.success(), "node stopped answering: {}", stderr(&o));
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
                let total = v["summary"]["total_peers"].as_u64().unwrap();
                max_seen.fetch_max(total, Ordering::Relaxed);
                samples += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            samples
        })
    };

    let mut children = Vec::new();
    for i in 0..100 {
        let addr = if i % 2 == 0 {
            peers[(i / 2) % peers.len()].addr.clone()
        } else {
            format!("127.0.0.1:{}", closed[(i / 2) % closed.len()])
        };
        let mut c = qudag();
        c.args(["peer", "add", &addr, "--data-dir"])
            .arg(&node.dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        children.push((addr, c.spawn().expect("spawn peer add")));
    }
    let (mut ok, mut failed) = (0, 0);
    for (addr, mut child) in children {
        let o = wait_with_deadline(&mut child, Duration::from_secs(120), &addr);
        let (out, err) = (stdout(&o), stderr(&o));
        assert!(!err.contains("panicked"), "{addr}: {err}");
        match o.status.code() {
            Some(0) => {
                assert!(out.contains("successfully"), "{addr}: {out}");
                ok += 1;
            }
            Some(1) => {
                assert_eq!(err.trim().lines().count(), 1, "{addr}: {err}");
                assert!(err.starts_with("error: cannot add peer"), "{addr}: {err}");
                assert!(
                    err.contains("already connected")
                        || err.contains("connection limit reached")
                        || err.contains("connect failed")
                        || err.contains("too many connection attempts")
                        || err.contains("duplicate")
                        || err.contains("refused")
                        || err.contains("timed out")
                        || err.contains("handshake failed")
                        || err.contains("closed before the handshake"),
                    "{addr}: unexpected error {err}"
                );
                failed += 1;
            }
            other => panic!("{addr}: exit {other:?}: {out} {err}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.join().expect("sampler");
    println!(
        "{ok} added, {failed} refused; {samples} samples, at most {} connections",
        max_seen.load(Ordering::Relaxed)
    );
    assert_eq!(ok + failed, 100);
    assert!(ok >= 1, "no add succeeded");
    assert!(
        ok as u64 <= MAX,
        "{ok} adds succeeded with max_connections = {MAX}"
    );
    assert!(
        max_seen.load(Ordering::Relaxed) <= MAX,
        "saw {} connections",
        max_seen.load(Ordering::Relaxed)
    );
    let v = node.list_json("all");
    assert!(v["summary"]["total_peers"].as_u64().unwrap() <= MAX, "{v}");
    let o = node.cli(&["status", "--format", "json"]);
    assert!(o.status.success(), "node died: {}", node.log_text());
    assert!(!node.log_text().contains("panicked"));
}
