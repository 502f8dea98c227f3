//! Persistence across a crash: ban a peer, `kill -9` the node, start it again on the same data
//! dir: the ban and the known peers are still there. And a corrupt peer database is moved
//! aside with a clear message, never wiped and never a panic.

mod common;
use common::*;

#[test]
fn ban_and_known_peers_survive_kill_9() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = quiet_config(tmp.path(), "");
    let cfg = cfg.to_str().unwrap();
    let dir = tmp.path().join("main");
    let mut node = NodeProc::start(&dir, &["--config", cfg]);
    let peer = NodeProc::start(&tmp.path().join("peer"), &["--config", cfg]);
    let o = node.cli(&["peer", "add", &peer.addr]);
    assert!(stdout(&o).contains("successfully"), "{}", stderr(&o));
    let o = node.cli(&[
        "peer",
        "ban",
        &peer.id,
        "--for",
        "1d",
        "--reason",
        "restart test",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("banned"), "{}", stdout(&o));
    let o = node.cli(&["peer", "ban", "198.51.100.0/24"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id_before = node.id.clone();

    node.kill9();
    let o = cli(&dir, &["status"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no node is running"), "{}", stderr(&o));

    let node = NodeProc::start(&dir, &["--config", cfg]);
    assert_eq!(node.id, id_before, "the identity key is reused");
    let bans = node.list_json("banned");
    let targets: Vec<&str> = bans["bans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["target"].as_str().unwrap())
        .collect();
    assert!(targets.contains(&peer.id.as_str()), "{bans}");
    assert!(targets.contains(&"198.51.100.0/24"), "{bans}");
    let ban = bans["bans"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["target"] == peer.id.as_str())
        .unwrap();
    assert_eq!(ban["reason"], "restart test");
    assert!(ban["expires"].is_string(), "{ban}");
    let known = node.list_json("known");
    // Once a handshake proved the id, the book pins it: quantum://<id>@<address>.
    let entry = known["known"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["address"].as_str().unwrap().ends_with(&peer.addr))
        .unwrap_or_else(|| panic!("{} not known: {known}", peer.addr));
    assert_eq!(entry["node_id"], peer.id.as_str(), "{entry}");
    // The ban is enforced after the restart.
    let o = node.cli(&["peer", "add", &peer.addr]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("banned"), "{}", stderr(&o));
}

#[test]
fn corrupt_database_is_moved_aside() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("peers.redb"), vec![0x42u8; 16 * 1024]).unwrap();
    let node = NodeProc::start(&dir, &[]);
    let log = node.log_text();
    assert!(log.contains("was unusable"), "{log}");
    assert!(log.contains("moved it aside"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("peers.redb.corrupt-")
        })
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        std::fs::read(aside[0].path()).unwrap(),
        vec![0x42u8; 16 * 1024]
    );
    assert!(node.cli(&["status"]).status.success());
}
