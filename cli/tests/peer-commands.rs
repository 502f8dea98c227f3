//! Spec 6.2 over the real binary: nodes as processes on loopback, `peer add` twice,
//! `peer list` (table and JSON), `peer add`/`peer remove` round trip, and the error paths.

mod common;
use common::*;

#[test]
fn peer_list_add_remove_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = quiet_config(tmp.path(), "");
    let cfg = cfg.to_str().unwrap();
    let node = NodeProc::start(&tmp.path().join("main"), &["--config", cfg]);
    let p1 = NodeProc::start(&tmp.path().join("p1"), &["--config", cfg]);
    let p2 = NodeProc::start(&tmp.path().join("p2"), &["--config", cfg]);

    // peer add twice
    for p in [&p1, &p2] {
        let o = node.cli(&["peer", "add", &p.addr]);
        assert!(o.status.success(), "add failed: {}", stderr(&o));
        let out = stdout(&o);
        assert!(out.contains("successfully"), "{out}");
        assert!(out.contains(&p.id), "{out}");
    }

    // peer list shows both
    let o = node.cli(&["peer", "list"]);
    assert!(o.status.success());
    let table = stdout(&o);
    assert!(table.contains(&p1.addr), "{table}");
    assert!(table.contains(&p2.addr), "{table}");
    assert!(table.contains("Connected"), "{table}");
    assert!(table.contains(&p1.id[..8]), "{table}");

    // JSON: summary.total_peers == 2, and the fields of spec 2.2
    let v = node.list_json("all");
    assert_eq!(v["version"], 1);
    assert_eq!(v["summary"]["total_peers"], 2, "{v}");
    assert_eq!(v["summary"]["connected"], 2, "{v}");
    let peer = &v["peers"][0];
    for key in [
        "id",
        "address",
        "status",
        "version",
        "latency_ms",
        "messages_exchanged",
        "reputation_score",
        "connected_since",
        "last_activity",
        "capabilities",
        "bytes_sent",
        "user_agent",
    ] {
        assert!(peer.get(key).is_some(), "missing {key}: {peer}");
    }
    assert_eq!(node.list_json("connected")["summary"]["total_peers"], 2);

    // peer stats: the core's metrics agree with what happened
    let o = node.cli(&["peer", "stats", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let m: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(m["version"], 1);
    assert_eq!(m["peers_by_status"]["connected"], 2, "{m}");
    assert_eq!(m["counters"]["dial_outcomes"]["connected"], 2, "{m}");
    let o = node.cli(&["peer", "stats"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("connected 2"), "{text}");
    assert!(text.contains("Netgroups:"), "{text}");

    // adding the same peer again is a clear error
    let o = node.cli(&["peer", "add", &p1.addr]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("already connected"), "{}", stderr(&o));

    // remove by address
    let o = node.cli(&["peer", "remove", &p1.addr]);
    assert!(o.status.success(), "remove failed: {}", stderr(&o));
    assert!(stdout(&o).contains("removed"), "{}", stdout(&o));
    let v = node.list_json("all");
    assert_eq!(v["summary"]["total_peers"], 1, "{v}");
    assert_eq!(v["peers"][0]["id"], p2.id.as_str());

    // add it back, then remove by id prefix with --ban
    let o = node.cli(&["peer", "add", &p1.addr, "--priority", "high"]);
    assert!(stdout(&o).contains("successfully"), "{}", stderr(&o));
    let o = node.cli(&["peer", "remove", &p1.id[..12], "--ban"]);
    assert!(o.status.success(), "remove --ban failed: {}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("removed") && out.contains("banned"), "{out}");
    let bans = node.list_json("banned");
    assert_eq!(bans["bans"][0]["target"], p1.id.as_str(), "{bans}");
    let o = node.cli(&["peer", "add", &p1.addr]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("banned"), "{}", stderr(&o));

    // unban, info, known
    let o = node.cli(&["peer", "unban", &p1.id]);
    assert!(stdout(&o).contains("unbanned"), "{}", stderr(&o));
    let o = node.cli(&["peer", "info", &p2.id[..10]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let info = stdout(&o);
    assert!(
        info.contains("Reputation:") && info.contains(&p2.addr),
        "{info}"
    );
    let o = node.cli(&["peer", "info", &p2.addr, "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["node_id"], p2.id.as_str());
    assert!(v["reputation"]["validity"].is_u64(), "{v}");
    assert!(v["history"].is_array(), "{v}");
    let known = node.list_json("known");
    assert!(
        known["summary"]["total_known"].as_u64().unwrap() >= 2,
        "{known}"
    );

    // status
    let o = node.cli(&["status", "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(s["connected"], 1, "{s}");
    assert_eq!(s["node_id"], node.id.as_str());

    // graceful stop
    let mut node = node;
    let o = node.cli(&["stop"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Some(st) = node.child.try_wait().unwrap() {
            assert!(st.success(), "node exit {st}: {}", node.log_text());
            break;
        }
        assert!(std::time::Instant::now() < deadline, "node did not stop");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(node.log_text().contains("peer database saved"));
    let o = node.cli(&["status"]);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn errors_are_one_clear_line_and_json_with_format_json() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("none");
    let o = cli(&dir, &["peer", "list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert_eq!(
        err.trim(),
        format!(
            "error: no node is running for data dir {} (start one with: qudag start)",
            dir.display()
        )
    );
    let o = cli(&dir, &["peer", "list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no node is running"));
    assert_eq!(v["version"], 1);

    // usage errors exit 2
    let o = cli(&dir, &["peer", "add"]);
    assert_eq!(o.status.code(), Some(2));
    let o = cli(&dir, &["peer", "list", "--format", "xml"]);
    assert_eq!(o.status.code(), Some(2));
    let o = cli(&dir, &["peer", "ban", "1.2.3.4", "--for", "5 parsecs"]);
    assert_eq!(o.status.code(), Some(2));

    // operational errors from a live node
    let node = NodeProc::start(&tmp.path().join("n"), &[]);
    let o = node.cli(&["peer", "add", "not an address"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("invalid address"), "{}", stderr(&o));
    assert_eq!(stderr(&o).trim().lines().count(), 1, "{}", stderr(&o));
    let port = closed_port();
    let o = node.cli(&["peer", "add", &format!("127.0.0.1:{port}")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("connect failed"), "{}", stderr(&o));
    let o = node.cli(&["peer", "remove", "127.0.0.1:9"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("unknown peer"), "{}", stderr(&o));
    let o = node.cli(&["peer", "remove", "127.0.0.1:9", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown peer"));
    let o = node.cli(&["peer", "unban", "10.0.0.1"]);
    assert!(stderr(&o).contains("not banned"), "{}", stderr(&o));

    // a second node on the same data dir is refused
    let mut c = qudag();
    c.args(["start", "--listen", "127.0.0.1:0", "--no-default-bootstrap"])
        .arg("--data-dir")
        .arg(&node.dir);
    let o = run_with_deadline(c, std::time::Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("already running"), "{}", stderr(&o));
}
