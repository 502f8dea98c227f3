//! The control socket is mode 0600 and refuses other users: run the client as `nobody` when
//! the tests run as root (CI does); otherwise the cross-user part is skipped with a note.

mod common;
use common::*;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::time::Duration;

const NOBODY: u32 = 65534;

#[test]
fn socket_is_private_and_other_uids_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let node = NodeProc::start(&dir, &[]);
    let sock = dir.join("control.sock");
    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket mode {mode:o}");
    let key = std::fs::metadata(dir.join("node.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key, 0o600, "identity key mode {key:o}");

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("note: not running as root; skipping the other-uid part of the test");
        return;
    }
    // A copy of the binary that `nobody` may execute.
    let bin_dir = tmp.path().join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let bin = bin_dir.join("qudag");
    std::fs::copy(BIN, &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&bin_dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let as_nobody = || {
        let mut c = std::process::Command::new(&bin);
        c.args(["status", "--data-dir"])
            .arg(&dir)
            .env_remove("QUDAG_DATA_DIR")
            .env("NO_COLOR", "1")
            .env("HOME", "/")
            .current_dir("/")
            .uid(NOBODY)
            .gid(NOBODY);
        run_with_deadline(c, Duration::from_secs(30))
    };
    // The 0600 socket keeps nobody out (the data dir is traversable here on purpose).
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = as_nobody();
    assert_eq!(o.status.code(), Some(1), "{} {}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());

    // Loosen the socket: the node itself refuses the other uid (SO_PEERCRED).
    std::fs::set_permissions(&sock, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody();
    assert_eq!(o.status.code(), Some(1), "{} {}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("refused: uid 65534"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    // Still fine for the owner.
    assert!(node.cli(&["status"]).status.success());
    assert!(node
        .log_text()
        .contains("refused a control connection from uid 65534"));
}

#[test]
fn wrong_protocol_version_is_refused() {
    use std::io::{BufRead, BufReader, Write};
    let tmp = tempfile::tempdir().unwrap();
    let node = NodeProc::start(&tmp.path().join("node"), &[]);
    let mut s = std::os::unix::net::UnixStream::connect(node.dir.join("control.sock")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"{\"version\":99,\"command\":\"status\"}\n")
        .unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["ok"], false);
    assert!(v["error"].as_str().unwrap().contains("version 99"), "{v}");
}
