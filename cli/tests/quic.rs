//! `qudag start --quic-listen` and `qudag peer add quic://...` over loopback: the real binary,
//! both nodes as processes, the peer connected over QUIC.

mod common;
use common::*;

#[test]
fn peer_add_over_quic() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = quiet_config(tmp.path(), "");
    let cfg = cfg.to_str().unwrap();
    let node = NodeProc::start(&tmp.path().join("main"), &["--config", cfg]);
    let peer = NodeProc::start(
        &tmp.path().join("p1"),
        &["--config", cfg, "--quic-listen", "127.0.0.1:0"],
    );

    // The peer says where it accepts QUIC; the node without a QUIC listener says so too.
    let status = |n: &NodeProc| -> serde_json::Value {
        let o = n.cli(&["status", "--format", "json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        serde_json::from_slice(&o.stdout).unwrap()
    };
    let quic = status(&peer)["quic_listen_address"]
        .as_str()
        .expect("quic_listen_address")
        .to_string();
    assert!(quic.starts_with("quic://127.0.0.1:"), "{quic}");
    assert!(status(&node)["quic_listen_address"].is_null());
    let o = peer.cli(&["status"]);
    assert!(stdout(&o).contains(&quic), "{}", stdout(&o));

    let o = node.cli(&["peer", "add", &quic]);
    assert!(o.status.success(), "add failed: {}", stderr(&o));
    assert!(stdout(&o).contains(&peer.id), "{}", stdout(&o));

    let v = node.list_json("connected");
    assert_eq!(v["summary"]["total_peers"], 1, "{v}");
    assert_eq!(v["peers"][0]["transport"], "quic", "{v}");
    assert_eq!(v["peers"][0]["quic_listen_address"], quic.as_str(), "{v}");
    let v = peer.list_json("connected");
    assert_eq!(v["peers"][0]["transport"], "quic", "{v}");
    assert_eq!(v["peers"][0]["direction"], "inbound", "{v}");

    // Removed by its quic:// address, like any other address.
    let o = node.cli(&["peer", "remove", &quic]);
    assert!(o.status.success(), "remove failed: {}", stderr(&o));
    assert_eq!(node.list_json("all")["summary"]["total_peers"], 0);
}
