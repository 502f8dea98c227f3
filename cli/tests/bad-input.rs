//! Bad operator input (issue 8, item 4), over the real binary: every command with malformed
//! arguments, a configuration file with each kind of error, a corrupt peer database, a data
//! dir without permissions. Each is a clear error, a non-zero exit (2 for usage errors, 1 for
//! operational ones, as docs/CLI.md defines), a JSON error document with `--format json`, and
//! no data lost: the running node's peers, bans and known addresses are unchanged, files in
//! the data dir are byte-identical, nothing is written where a start was refused.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

const NOBODY: u32 = 65534;

/// What the node holds that bad input must not change: live peers (id, address, status),
/// bans (target, reason, expiry) and known addresses.
fn node_state(node: &NodeProc) -> serde_json::Value {
    let peers = node.list_json("all");
    let bans = node.list_json("banned");
    let known = node.list_json("known");
    let pick = |v: &serde_json::Value, list: &str, keys: &[&str]| -> serde_json::Value {
        let mut items: Vec<serde_json::Value> = v[list]
            .as_array()
            .unwrap_or_else(|| panic!("no {list} in {v}"))
            .iter()
            .map(|item| {
                keys.iter()
                    .map(|k| (k.to_string(), item[*k].clone()))
                    .collect::<serde_json::Map<_, _>>()
                    .into()
            })
            .collect();
        items.sort_by_key(|i| i.to_string());
        items.into()
    };
    serde_json::json!({
        "peers": pick(&peers, "peers", &["id", "address", "status"]),
        "bans": pick(&bans, "bans", &["target", "reason", "expires"]),
        "known": pick(&known, "known", &["address", "node_id"]),
    })
}

/// One malformed invocation: its arguments, the exit code and phrases stderr must contain.
struct Case {
    args: Vec<String>,
    code: i32,
    needles: Vec<String>,
}

fn case(args: &[&str], code: i32, needles: &[&str]) -> Case {
    Case {
        args: args.iter().map(|s| s.to_string()).collect(),
        code,
        needles: needles.iter().map(|s| s.to_string()).collect(),
    }
}

/// Whether `args` name a command with a `--format` option.
fn has_format(args: &[String]) -> bool {
    match args.first().map(String::as_str) {
        Some("status") => true,
        Some("peer") => args.len() > 1 && args[1] != "help",
        _ => false,
    }
}

/// Runs every case against `node`: exit code, stderr phrases, a single `error:` line for
/// operational errors, the JSON error document with `--format json` where the command has
/// that option, and the node's state unchanged afterwards.
fn check_cases(node: &NodeProc, cases: &[Case]) {
    let before = node_state(node);
    for c in cases {
        let args: Vec<&str> = c.args.iter().map(String::as_str).collect();
        let o = node.cli(&args);
        let (out, err) = (stdout(&o), stderr(&o));
        assert_eq!(
            o.status.code(),
            Some(c.code),
            "{args:?}: exit {:?}\nstdout: {out}\nstderr: {err}",
            o.status.code()
        );
        for n in &c.needles {
            assert!(
                err.contains(n.as_str()),
                "{args:?}: {n:?} not in stderr: {err}"
            );
        }
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            out.is_empty(),
            "{args:?}: an error printed to stdout: {out}"
        );
        if c.code == 1 {
            assert!(err.starts_with("error: "), "{args:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        }
        // The same in JSON mode: the error document on stdout, nothing on stderr.
        let format_is_the_error = c.needles.iter().any(|n| n.contains("'xml'"));
        if has_format(&c.args) && !format_is_the_error {
            let mut json_args = args.clone();
            json_args.extend(["--format", "json"]);
            let o = node.cli(&json_args);
            assert_eq!(
                o.status.code(),
                Some(c.code),
                "{json_args:?}: {}",
                stderr(&o)
            );
            let v: serde_json::Value = serde_json::from_slice(&o.stdout)
                .unwrap_or_else(|e| panic!("{json_args:?}: not JSON ({e}): {}", stdout(&o)));
            assert_eq!(v["version"], 1, "{v}");
            let message = v["error"]["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{v}"));
            assert!(!message.is_empty(), "{json_args:?}: {v}");
            if c.code == 1 {
                // The same message as the text line.
                assert_eq!(format!("error: {message}"), err.trim_end(), "{json_args:?}");
            }
            assert!(stderr(&o).is_empty(), "{json_args:?}: {}", stderr(&o));
        }
        assert_eq!(
            node_state(node),
            before,
            "{args:?} changed the node's state"
        );
    }
}

/// A node with one connected peer, a subnet ban and a known address, to check bad input
/// changes none of it.
fn node_with_state(tmp: &Path) -> (NodeProc, NodeProc) {
    // No dialing of its own and no peer exchange during the test (the longest interval
    // allowed): the state changes only if a command changes it.
    let cfg = quiet_config(tmp, "discovery_interval = 86400\n");
    let cfg = cfg.to_str().unwrap();
    let node = NodeProc::start(&tmp.join("main"), &["--config", cfg]);
    let peer = NodeProc::start(&tmp.join("peer"), &["--config", cfg]);
    let o = node.cli(&["peer", "add", &peer.addr]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = node.cli(&["peer", "ban", "10.0.0.0/8", "--reason", "bad input test"]);
    assert!(o.status.success(), "{}", stderr(&o));
    (node, peer)
}

#[test]
fn malformed_arguments_are_usage_errors_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _peer) = node_with_state(tmp.path());
    let long_reason = "x".repeat(qudag_peer::MAX_BAN_REASON_LEN + 1);
    let max_reason = "x".repeat(qudag_peer::MAX_BAN_REASON_LEN);
    let too_long = "a".repeat(qudag_cli::MAX_TARGET_LEN + 1);
    let too_long_addr = format!("{}:80", "a".repeat(70_000));
    let mut cases = vec![
        // Unknown commands and flags, missing and extra arguments.
        case(
            &["frobnicate"],
            2,
            &["unrecognized subcommand 'frobnicate'"],
        ),
        case(&["peer"], 2, &["Usage: qudag peer"]),
        case(&["peer", "frobnicate"], 2, &["unrecognized subcommand"]),
        case(&["status", "extra"], 2, &["unexpected argument 'extra'"]),
        case(
            &["status", "--bogus"],
            2,
            &["unexpected argument '--bogus'"],
        ),
        case(&["stop", "--bogus"], 2, &["unexpected argument '--bogus'"]),
        case(&["stop", "now"], 2, &["unexpected argument 'now'"]),
        case(
            &["peer", "stats", "--bogus"],
            2,
            &["unexpected argument '--bogus'"],
        ),
        case(
            &["peer", "list", "--bogus"],
            2,
            &["unexpected argument '--bogus'"],
        ),
        case(
            &["peer", "list", "--filter", "friends"],
            2,
            &["invalid value 'friends'", "--filter"],
        ),
        case(
            &["peer", "list", "--filter"],
            2,
            &["a value is required for '--filter"],
        ),
        case(&["peer", "add"], 2, &["required", "<ADDRESS>"]),
        case(
            &["peer", "add", ""],
            2,
            &["'<ADDRESS>'", "must not be empty"],
        ),
        case(&["peer", "add", "   "], 2, &["must not be empty"]),
        case(
            &["peer", "add", "127.0.0.1:80", "127.0.0.1:81"],
            2,
            &["unexpected argument '127.0.0.1:81'"],
        ),
        case(
            &["peer", "add", "127.0.0.1:80", "--priority", "urgent"],
            2,
            &["invalid value 'urgent'", "--priority"],
        ),
        case(
            &["peer", "add", "127.0.0.1:80", "--bogus"],
            2,
            &["unexpected argument '--bogus'"],
        ),
        case(&["peer", "remove"], 2, &["required", "<TARGET>"]),
        case(&["peer", "remove", ""], 2, &["must not be empty"]),
        case(
            &["peer", "remove", "127.0.0.1:80", "--ban=maybe"],
            2,
            &["--ban"],
        ),
        case(&["peer", "ban"], 2, &["required", "<TARGET>"]),
        case(&["peer", "ban", ""], 2, &["must not be empty"]),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for"],
            2,
            &["a value is required for '--for"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", ""],
            2,
            &["invalid duration", "whole number"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "0s"],
            2,
            &["invalid duration", "must be positive"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "5y"],
            2,
            &["unknown unit \"y\""],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "1.5h"],
            2,
            &["unknown unit"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "10M"],
            2,
            &["unknown unit \"M\""],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "h"],
            2,
            &["whole number"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "-5m"],
            2,
            &["unexpected argument '-5'"],
        ),
        case(
            &[
                "peer",
                "ban",
                "10.1.0.0/16",
                "--for",
                "99999999999999999999s",
            ],
            2,
            &["too long"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "99999999999999999w"],
            2,
            &["too long"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--reason", "two\nlines"],
            2,
            &["--reason", "one line"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--reason", &long_reason],
            2,
            &["--reason", "at most 256"],
        ),
        case(&["peer", "unban"], 2, &["required", "<TARGET>"]),
        case(&["peer", "unban", ""], 2, &["must not be empty"]),
        case(&["peer", "info"], 2, &["required", "<TARGET>"]),
        case(&["peer", "info", ""], 2, &["must not be empty"]),
        // Over MAX_TARGET_LEN: refused by the client (before, a target over the control
        // socket's request limit reached the node cut off: "malformed request: EOF …").
        case(
            &["peer", "add", &too_long_addr],
            2,
            &["'<ADDRESS>'", "at most 1024"],
        ),
        case(
            &["peer", "ban", &too_long],
            2,
            &["'<TARGET>'", "at most 1024"],
        ),
        case(&["peer", "unban", &too_long], 2, &["at most 1024"]),
        case(&["peer", "remove", &too_long], 2, &["at most 1024"]),
        case(&["peer", "info", &too_long], 2, &["at most 1024"]),
        // `--data-dir` without a value.
        case(
            &["status", "--data-dir"],
            2,
            &["a value is required for '--data-dir"],
        ),
        // `qudag start` with bad addresses: refused before anything is touched (the data dir
        // is the running node's: a start that got further would say "already running").
        case(
            &["start", "--listen", ""],
            2,
            &["invalid value", "--listen"],
        ),
        case(
            &["start", "--listen", "host:"],
            2,
            &["invalid value 'host:'", "--listen"],
        ),
        case(&["start", "--listen", ":80"], 2, &["invalid value ':80'"]),
        case(
            &["start", "--listen", "127.0.0.1:65536"],
            2,
            &["invalid value '127.0.0.1:65536'"],
        ),
        case(
            &["start", "--listen", "127.0.0.1"],
            2,
            &["invalid value '127.0.0.1'"],
        ),
        case(
            &["start", "--listen", "garbage"],
            2,
            &["invalid value 'garbage'"],
        ),
        case(
            &["start", "--bootstrap", ""],
            2,
            &["--bootstrap", "empty address"],
        ),
        case(
            &["start", "--bootstrap", "host:"],
            2,
            &["--bootstrap", "invalid port"],
        ),
        case(&["start", "--bootstrap", ":80"], 2, &["missing host"]),
        case(&["start", "--bootstrap", "127.0.0.1:0"], 2, &["port 0"]),
        case(
            &["start", "--bootstrap", "127.0.0.1:65536"],
            2,
            &["greater than 65535"],
        ),
        case(
            &["start", "--bootstrap", "expyuzz4wqqyqhjn.onion:80"],
            2,
            &["v2 onion"],
        ),
        case(
            &["start", "--bootstrap", "quantum://zz@127.0.0.1:80"],
            2,
            &["invalid node id"],
        ),
        case(&["start", "--bootstrap", "garbage"], 2, &["missing port"]),
        case(
            &["start", "--config"],
            2,
            &["a value is required for '--config"],
        ),
        case(&["start", "--bogus"], 2, &["unexpected argument '--bogus'"]),
        // `qudag testnet` with bad numbers and durations (refused before any node starts).
        case(&["testnet", "--nodes", "1"], 2, &["1 is not in 2..=100"]),
        case(
            &["testnet", "--nodes", "101"],
            2,
            &["101 is not in 2..=100"],
        ),
        case(&["testnet", "--nodes", "abc"], 2, &["invalid value 'abc'"]),
        case(
            &["testnet", "--nodes", "-3"],
            2,
            &["unexpected argument '-3'"],
        ),
        case(
            &["testnet", "--nodes", "70000"],
            2,
            &["invalid value '70000'"],
        ),
        case(&["testnet", "--duration", "0s"], 2, &["must be positive"]),
        case(&["testnet", "--duration", "soon"], 2, &["invalid duration"]),
        // Beyond util::MAX_DURATION (100 years): an overflow panic in testnet before.
        case(
            &["testnet", "--duration", "18446744073709551615s"],
            2,
            &["too long"],
        ),
        case(
            &["testnet", "--duration", "36501d"],
            2,
            &["too long", "at most 36500d"],
        ),
        case(
            &["peer", "ban", "10.1.0.0/16", "--for", "5215w"],
            2,
            &["too long"],
        ),
    ];
    // A bad --format for every command that has one.
    for cmd in [
        &["status"][..],
        &["peer", "list"],
        &["peer", "add", "127.0.0.1:80"],
        &["peer", "remove", "127.0.0.1:80"],
        &["peer", "ban", "10.1.0.0/16"],
        &["peer", "unban", "10.1.0.0/16"],
        &["peer", "info", "127.0.0.1:80"],
        &["peer", "stats"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--format", "xml"]);
        cases.push(case(&args, 2, &["invalid value 'xml' for '--format"]));
    }
    check_cases(&node, &cases);

    // At the limit: a reason of exactly MAX_BAN_REASON_LEN bytes is taken whole.
    let o = node.cli(&["peer", "ban", "10.2.0.0/16", "--reason", &max_reason]);
    assert!(o.status.success(), "{}", stderr(&o));
    let bans = node.list_json("banned");
    assert!(
        bans["bans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["reason"] == max_reason.as_str()),
        "{bans}"
    );

    // JSON mode reaches usage errors too, with `--format=json` as well.
    let o = node.cli(&["peer", "add", "--format=json"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("<ADDRESS>"),
        "{v}"
    );
    // --help and --version are not errors.
    for args in [&["peer", "add", "--help"][..], &["--version"]] {
        let o = node.cli(args);
        assert_eq!(o.status.code(), Some(0), "{args:?}: {}", stderr(&o));
        assert!(!stdout(&o).is_empty());
    }
}

#[test]
fn operational_errors_are_one_clear_line_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, peer) = node_with_state(tmp.path());
    // An 8-hex prefix that is neither this node's peer nor anything else connected.
    let unknown_prefix = ["abcdef12", "12345678"]
        .into_iter()
        .find(|p| !peer.id.starts_with(p))
        .unwrap();
    let unknown_id = format!("{}{}", unknown_prefix, "0".repeat(56));
    let id63 = "a".repeat(63);
    let bad_quantum = format!("quantum://{id63}@127.0.0.1:80");
    let at_limit = "g".repeat(qudag_cli::MAX_TARGET_LEN);
    let at_limit_addr = format!("{}:80", "a".repeat(qudag_cli::MAX_TARGET_LEN - 3));
    let cases = vec![
        // peer add: every malformed address form of spec 3.2.
        case(
            &["peer", "add", "host:"],
            1,
            &["cannot add peer host:", "invalid address", "invalid port"],
        ),
        case(
            &["peer", "add", ":80"],
            1,
            &["invalid address", "missing host"],
        ),
        case(
            &["peer", "add", "127.0.0.1:0"],
            1,
            &["invalid address", "port 0"],
        ),
        case(
            &["peer", "add", "127.0.0.1:65536"],
            1,
            &["invalid address", "greater than 65535"],
        ),
        case(&["peer", "add", "[::1:80"], 1, &["invalid address"]),
        case(&["peer", "add", "300.1.2.3:80"], 1, &["invalid address"]),
        case(
            &["peer", "add", "expyuzz4wqqyqhjn.onion:80"],
            1,
            &["invalid address", "v2 onion"],
        ),
        case(
            &["peer", "add", "quantum://zz@127.0.0.1:80"],
            1,
            &["invalid address", "invalid node id"],
        ),
        case(
            &["peer", "add", &bad_quantum],
            1,
            &["invalid address", "64 hex characters"],
        ),
        case(
            &["peer", "add", "quantum://@127.0.0.1:80"],
            1,
            &["invalid address"],
        ),
        case(
            &["peer", "add", "garbage"],
            1,
            &["invalid address", "missing port"],
        ),
        case(
            &["peer", "add", "http://127.0.0.1:80"],
            1,
            &["invalid address", "unknown scheme"],
        ),
        // At MAX_TARGET_LEN: sent, and refused by the address parser.
        case(&["peer", "add", &at_limit_addr], 1, &["invalid address"]),
        case(&["peer", "ban", &at_limit], 1, &["invalid ban target"]),
        // A banned address and an already connected peer.
        case(&["peer", "add", "10.1.2.3:8000"], 1, &["banned"]),
        case(&["peer", "add", &peer.addr], 1, &["already connected"]),
        // peer remove / info: bad id prefixes and addresses.
        case(
            &["peer", "remove", "abcd"],
            1,
            &[
                "cannot remove abcd",
                "unknown peer",
                "at least 8 hex characters",
            ],
        ),
        case(
            &["peer", "remove", "zzzzzzzz"],
            1,
            &["unknown peer", "node-id prefix (8+ hex characters)"],
        ),
        case(&["peer", "remove", unknown_prefix], 1, &["unknown peer"]),
        case(&["peer", "remove", &unknown_id], 1, &["unknown peer"]),
        case(
            &["peer", "remove", "1.2.3.4"],
            1,
            &["unknown peer", "missing port"],
        ),
        case(&["peer", "remove", "127.0.0.1:9"], 1, &["unknown peer"]),
        case(
            &["peer", "remove", "127.0.0.1:9", "--ban"],
            1,
            &["unknown peer"],
        ),
        case(
            &["peer", "info", "abcd"],
            1,
            &["unknown peer", "at least 8 hex characters"],
        ),
        case(
            &["peer", "info", "zzzzzzzz"],
            1,
            &["unknown peer", "node-id prefix"],
        ),
        case(&["peer", "info", unknown_prefix], 1, &["unknown peer"]),
        case(&["peer", "info", "1.2.3.4"], 1, &["unknown peer"]),
        case(&["peer", "info", &id63], 1, &["unknown peer"]),
        // peer ban: bad CIDRs, addresses and ids.
        case(
            &["peer", "ban", "10.0.0.0/33"],
            1,
            &["cannot ban", "not a subnet", "/33"],
        ),
        case(
            &["peer", "ban", "2001:db8::/129"],
            1,
            &["not a subnet", "/129"],
        ),
        case(&["peer", "ban", "10.0.0.0/"], 1, &["not a subnet"]),
        case(&["peer", "ban", "/8"], 1, &["not a subnet"]),
        case(&["peer", "ban", "10.0.0.0/x"], 1, &["not a subnet"]),
        case(&["peer", "ban", "300.1.1.1"], 1, &["invalid ban target"]),
        case(
            &["peer", "ban", "garbage"],
            1,
            &["invalid ban target", "subnet"],
        ),
        case(
            &["peer", "ban", "abc"],
            1,
            &["not a node id", "64 hex characters"],
        ),
        case(&["peer", "ban", &id63], 1, &["not a node id"]),
        // peer unban: bad targets and targets that are not banned.
        case(
            &["peer", "unban", "garbage"],
            1,
            &["cannot unban", "invalid ban target"],
        ),
        case(&["peer", "unban", "10.0.0.0/33"], 1, &["not a subnet"]),
        case(&["peer", "unban", unknown_prefix], 1, &["not a node id"]),
        case(&["peer", "unban", "10.0.0.1"], 1, &["not banned"]),
        case(&["peer", "unban", "10.0.0.0/16"], 1, &["not banned"]),
        case(&["peer", "unban", &unknown_id], 1, &["not banned"]),
        // The node's own id.
        case(&["peer", "ban", &node.id], 1, &["this node's own id"]),
    ];
    check_cases(&node, &cases);
    // The node still answers, and the peer is still connected.
    let s = node.cli(&["status", "--format", "json"]);
    let s: serde_json::Value = serde_json::from_slice(&s.stdout).unwrap();
    assert_eq!(s["connected"], 1, "{s}");
}

#[test]
fn an_empty_qudag_data_dir_is_unset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut c = qudag();
    c.arg("status")
        .env("QUDAG_DATA_DIR", "")
        .env("HOME", tmp.path());
    let o = run_with_deadline(c, Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(
        stderr(&o).trim_end(),
        format!(
            "error: no node is running for data dir {} (start one with: qudag start)",
            tmp.path().join(".qudag").display()
        )
    );
}

#[test]
fn a_closed_or_full_stdout_is_no_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let (node, _peer) = node_with_state(tmp.path());
    // `qudag peer list --format json | head -0`: the reader is gone before the output.
    let mut c = qudag();
    c.args(["peer", "list", "--format", "json", "--data-dir"])
        .arg(&node.dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    drop(child.stdout.take());
    let mut err = child.stderr.take().unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut err, &mut text).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    // `> /dev/full`: a clear error, exit 1.
    if let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") {
        let mut c = qudag();
        c.args(["status", "--data-dir"])
            .arg(&node.dir)
            .stdout(full)
            .stderr(Stdio::piped());
        let o = c.output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("error: cannot write the output"),
            "{}",
            stderr(&o)
        );
    } else {
        println!("note: no /dev/full here; the full-stdout part is skipped");
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration files
// ---------------------------------------------------------------------------------------------

/// Every file under `dir` with its bytes and mode (a missing dir is an empty map).
fn snapshot_dir(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&p).unwrap();
        let bytes = if meta.is_file() {
            std::fs::read(&p).unwrap()
        } else {
            Vec::new()
        };
        out.insert(p, (bytes, meta.permissions().mode()));
    }
    out
}

fn start_args(dir: &Path, extra: &[&str]) -> Command {
    let mut c = qudag();
    c.args(["start", "--listen", "127.0.0.1:0", "--no-default-bootstrap"])
        .args(extra)
        .arg("--data-dir")
        .arg(dir);
    c
}

#[test]
fn config_file_errors_name_file_line_and_key_and_write_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    // (what, file text, phrases the error must contain: the line and the key)
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            "TOML syntax",
            b"[network]\nlisten = \"127.0.0.1:0\"\n[network.peers\nmax_connections = 5\n".to_vec(),
            vec!["line 3", "TOML syntax error"],
        ),
        (
            "unterminated string",
            b"[network]\nlisten = \"127.0.0.1:0\n".to_vec(),
            vec!["line 2", "TOML syntax error"],
        ),
        (
            "unknown key",
            b"[network.peers]\nmax_conections = 5\n".to_vec(),
            vec![
                "line 2",
                "network.peers.max_conections",
                "unknown key",
                "did you mean network.peers.max_connections",
            ],
        ),
        (
            "unknown section",
            b"[network]\nlisten = \"127.0.0.1:0\"\n\n[netwrk.peers]\nmax_connections = 5\n"
                .to_vec(),
            vec![
                "line 4",
                "netwrk",
                "unknown section",
                "did you mean network",
            ],
        ),
        (
            "unknown nested section",
            b"[network.peer]\nmax_connections = 5\n".to_vec(),
            vec![
                "line 1",
                "network.peer",
                "unknown section",
                "did you mean network.peers",
            ],
        ),
        (
            "wrong type",
            b"[network.peers]\nmax_connections = \"many\"\n".to_vec(),
            vec![
                "line 2",
                "network.peers.max_connections",
                "expected an integer",
            ],
        ),
        (
            "wrong type (table for a value)",
            b"[network]\nlisten = { port = 8000 }\n".to_vec(),
            vec!["line 2", "network.listen", "expected a socket address"],
        ),
        (
            "out of range",
            b"[network.peers]\nmin_connections = 0\nmax_connections = 0\n".to_vec(),
            vec![
                "line 3",
                "network.peers.max_connections = 0",
                "must be between 1 and 10000",
            ],
        ),
        (
            "out of range (limit + 1)",
            b"[network.peers]\nmax_connections = 10001\n".to_vec(),
            vec!["line 2", "max_connections = 10001", "between 1 and 10000"],
        ),
        (
            "negative",
            b"[network.peers]\nmax_clock_skew = -5\n".to_vec(),
            vec![
                "line 2",
                "network.peers.max_clock_skew",
                "must not be negative",
            ],
        ),
        (
            "out of range (float)",
            b"[network.reputation]\ndecay_rate = 1.5\n".to_vec(),
            vec![
                "line 2",
                "network.reputation.decay_rate",
                "between 0.0 and 1.0",
            ],
        ),
        (
            "invalid listen address",
            b"[network]\nlisten = \"host:\"\n".to_vec(),
            vec!["line 2", "network.listen", "expected a socket address"],
        ),
        (
            "invalid proxy address",
            b"[network]\nproxy = \"127.0.0.1:99999\"\n".to_vec(),
            vec!["line 2", "network.proxy"],
        ),
        (
            "invalid bootstrap address",
            b"[network.peers]\nbootstrap_nodes = [\n  \"127.0.0.1:8000\",\n  \"host:\",\n]\n"
                .to_vec(),
            vec![
                "line 4",
                "network.peers.bootstrap_nodes",
                "\"host:\"",
                "invalid port",
            ],
        ),
        (
            "v2 onion bootstrap address",
            b"[network.peers]\nbootstrap_nodes = ['expyuzz4wqqyqhjn.onion:8000']\n".to_vec(),
            vec!["line 2", "network.peers.bootstrap_nodes", "v2 onion"],
        ),
        (
            "not UTF-8",
            b"[network]\nlisten = \"\xff\xfe\"\n".to_vec(),
            vec!["cannot read config file", "UTF-8"],
        ),
    ];
    let mut messages = String::new();
    for (i, (what, text, needles)) in cases.iter().enumerate() {
        let file = tmp.path().join(format!("bad-{i}.toml"));
        std::fs::write(&file, text).unwrap();
        // 1. --config FILE with a data dir that does not exist yet: it is not created.
        let dir = tmp.path().join(format!("fresh-{i}"));
        let o = run_with_deadline(
            start_args(&dir, &["--config", file.to_str().unwrap()]),
            Duration::from_secs(60),
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.starts_with(&format!("error: config file {}", file.display()))
                || err.starts_with(&format!(
                    "error: cannot read config file {}",
                    file.display()
                )),
            "{what}: {err}"
        );
        for n in needles {
            assert!(err.contains(n), "{what}: {n:?} not in {err}");
        }
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
        assert!(!dir.exists(), "{what}: the data dir was created");
        messages.push_str(&format!(
            "{what}:\n  {}\n",
            err.trim_end().replace(&file.display().to_string(), "FILE")
        ));
        // 2. config.toml in an existing data dir: every file stays as it was.
        let dir = tmp.path().join(format!("existing-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.toml"), text).unwrap();
        std::fs::write(dir.join("node.key"), b"not read before the config is good").unwrap();
        std::fs::write(dir.join("peers.redb"), b"not opened either").unwrap();
        let before = snapshot_dir(&dir);
        let o = run_with_deadline(start_args(&dir, &[]), Duration::from_secs(60));
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(err.contains("config.toml"), "{what}: {err}");
        for n in needles {
            assert!(err.contains(n), "{what}: {n:?} not in {err}");
        }
        assert_eq!(snapshot_dir(&dir), before, "{what}: the data dir changed");
    }
    // The messages as the operator sees them (the file's path replaced by FILE).
    insta::assert_snapshot!("config_file_errors", messages);
    // A config file that is missing, or a directory.
    for (what, file) in [
        ("missing", tmp.path().join("no-such.toml")),
        ("a directory", tmp.path().to_path_buf()),
    ] {
        let dir = tmp.path().join("never");
        let o = run_with_deadline(
            start_args(&dir, &["--config", file.to_str().unwrap()]),
            Duration::from_secs(60),
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.starts_with(&format!(
                "error: cannot read config file {}",
                file.display()
            )),
            "{what}: {err}"
        );
        assert!(!dir.exists(), "{what}");
    }
}

// ---------------------------------------------------------------------------------------------
// Peer database and identity key
// ---------------------------------------------------------------------------------------------

const META: redb::TableDefinition<&str, u64> = redb::TableDefinition::new("meta");
const ADDRESSES: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("addresses");

/// A peer database written directly with redb: `schema_version` and one address record.
fn write_db(path: &Path, schema_version: u64, address_record: &[u8]) {
    let db = redb::Database::create(path).unwrap();
    let tx = db.begin_write().unwrap();
    {
        let mut meta = tx.open_table(META).unwrap();
        meta.insert("schema_version", schema_version).unwrap();
        meta.insert("saved_at", 1_760_000_000_000u64).unwrap();
        tx.open_table(ADDRESSES)
            .unwrap()
            .insert("192.0.2.1:8000", address_record)
            .unwrap();
    }
    tx.commit().unwrap();
}

/// The files in `dir` whose name starts with `prefix`.
fn files_starting(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn an_unusable_peer_database_is_moved_aside_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let unix_now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // (what, how to make the file, the suffix it is moved aside with, phrase in the log)
    type Make = Box<dyn Fn(&Path)>;
    let cases: Vec<(&str, Make, &str, &str)> = vec![
        (
            "garbage bytes",
            Box::new(|p: &Path| std::fs::write(p, vec![0x42u8; 16 * 1024]).unwrap()),
            "corrupt",
            "was unusable",
        ),
        (
            "a newer schema",
            Box::new(|p: &Path| write_db(p, 2, br#"{"from":"the future"}"#)),
            "newer",
            "schema version 2 is newer",
        ),
        (
            "a truncated database (redb panicked on it: the node crashed)",
            Box::new(|p: &Path| {
                write_db(p, 1, br#"{"truncated":true}"#);
                let len = std::fs::metadata(p).unwrap().len();
                let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
                f.set_len(len / 2).unwrap();
            }),
            "corrupt",
            "the database library failed on it",
        ),
        (
            "a record that does not decode",
            Box::new(|p: &Path| write_db(p, 1, b"not json")),
            "corrupt",
            "addresses record",
        ),
    ];
    for (i, (what, make, suffix, phrase)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("node-{i}"));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("peers.redb");
        make(&db);
        let original = std::fs::read(&db).unwrap();
        // Earlier moved-aside files around this second are never overwritten.
        let prefix = format!("peers.redb.{suffix}-");
        for t in unix_now.saturating_sub(2)..unix_now + 120 {
            std::fs::write(dir.join(format!("{prefix}{t}")), format!("earlier {t}")).unwrap();
        }
        let earlier = snapshot_dir(&dir);
        let node = NodeProc::start(&dir, &[]);
        let log = node.log_text();
        assert!(log.contains(phrase), "{what}: {log}");
        assert!(log.contains("moved it aside"), "{what}: {log}");
        assert!(!log.contains("panicked"), "{what}: {log}");
        for (p, (bytes, _)) in &earlier {
            if p != &db {
                assert_eq!(
                    &std::fs::read(p).unwrap(),
                    bytes,
                    "{what}: {} changed",
                    p.display()
                );
            }
        }
        let aside: Vec<PathBuf> = files_starting(&dir, &prefix)
            .into_iter()
            .filter(|p| !earlier.contains_key(p))
            .collect();
        assert_eq!(aside.len(), 1, "{what}: {aside:?}");
        assert_eq!(
            std::fs::read(&aside[0]).unwrap(),
            original,
            "{what}: the moved-aside file is not the original"
        );
        assert!(
            log.contains(&aside[0].display().to_string()),
            "{what}: {log}"
        );
        // The node runs on a new, empty database.
        assert!(node.cli(&["status"]).status.success());
        let known = node.list_json("known");
        assert_eq!(known["summary"]["total_known"], 0, "{what}: {known}");
    }
}

#[test]
fn a_data_dir_too_long_for_the_control_socket_is_refused_before_it_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().display().to_string().len();
    // data dir + "/control.sock" one byte over MAX_SOCKET_PATH_LEN.
    let len = (qudag_cli::util::MAX_SOCKET_PATH_LEN + 1)
        .checked_sub(base + "/".len() + "/control.sock".len())
        .filter(|l| *l > 1)
        .expect("the temp dir path is too long for this test (set TMPDIR shorter)");
    let name = "d".repeat(len);
    let dir = tmp.path().join(&name);
    assert_eq!(
        dir.join("control.sock").as_os_str().len(),
        qudag_cli::util::MAX_SOCKET_PATH_LEN + 1
    );
    let o = run_with_deadline(start_args(&dir, &[]), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is too long for a Unix socket"),
        "{}",
        stderr(&o)
    );
    assert!(!dir.exists());
    let o = cli(&dir, &["status"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is too long for a Unix socket"),
        "{}",
        stderr(&o)
    );
    // At the limit it is fine.
    let dir = tmp.path().join(&name[1..]);
    let node = NodeProc::start(&dir, &[]);
    assert!(node.cli(&["status"]).status.success());
}

#[test]
fn unreadable_database_and_identity_files_are_errors_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    // The peer database is a directory: exit 1, it is left alone.
    let dir = tmp.path().join("db-dir");
    std::fs::create_dir_all(dir.join("peers.redb")).unwrap();
    std::fs::write(dir.join("peers.redb").join("keep"), b"keep me").unwrap();
    let o = run_with_deadline(start_args(&dir, &[]), Duration::from_secs(60));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("error: cannot open peer database"), "{err}");
    assert_eq!(
        std::fs::read(dir.join("peers.redb").join("keep")).unwrap(),
        b"keep me"
    );
    assert!(!dir.join("control.sock").exists());
    // A file (or a symlink) where the control socket goes is not removed as "stale".
    let dir = tmp.path().join("sock-file");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("control.sock"), b"a file, not a socket").unwrap();
    let o = run_with_deadline(start_args(&dir, &[]), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("exists and is not a control socket"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read(dir.join("control.sock")).unwrap(),
        b"a file, not a socket"
    );
    let dir = tmp.path().join("sock-link");
    std::fs::create_dir_all(&dir).unwrap();
    let target = tmp.path().join("precious");
    std::fs::write(&target, b"precious").unwrap();
    std::os::unix::fs::symlink(&target, dir.join("control.sock")).unwrap();
    let o = run_with_deadline(start_args(&dir, &[]), Duration::from_secs(60));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(std::fs::symlink_metadata(dir.join("control.sock")).is_ok());
    assert_eq!(std::fs::read(&target).unwrap(), b"precious");
    // An identity key of the wrong size: exit 1, byte-identical afterwards.
    let dir = tmp.path().join("bad-key");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("node.key"), b"short").unwrap();
    let before = snapshot_dir(&dir);
    let o = run_with_deadline(start_args(&dir, &[]), Duration::from_secs(60));
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("identity key"), "{err}");
    assert!(err.contains("has 5 bytes"), "{err}");
    assert_eq!(snapshot_dir(&dir), before);
}

// ---------------------------------------------------------------------------------------------
// Data directory permissions
// ---------------------------------------------------------------------------------------------

/// Runs `qudag <args> --data-dir <dir>` as another user: `nobody` when the tests run as root
/// (root ignores permission bits, so a chmod alone would prove nothing), else as ourselves
/// (an ordinary user is bound by the bits). The binary is copied where `nobody` may run it.
struct OtherUser {
    bin: PathBuf,
    root: bool,
}

impl OtherUser {
    fn new(tmp: &Path) -> OtherUser {
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let bin_dir = tmp.join("bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let bin = bin_dir.join("qudag");
        std::fs::copy(BIN, &bin).unwrap();
        for (p, mode) in [
            (&bin, 0o755),
            (&bin_dir, 0o755),
            (&tmp.to_path_buf(), 0o755),
        ] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        }
        OtherUser { bin, root }
    }

    fn uid(&self) -> u32 {
        if self.root {
            NOBODY
        } else {
            // SAFETY: geteuid has no preconditions.
            unsafe { libc::geteuid() }
        }
    }

    /// Gives `path` to the user the commands run as.
    fn own(&self, path: &Path) {
        if self.root {
            std::os::unix::fs::chown(path, Some(NOBODY), Some(NOBODY)).unwrap();
        }
    }

    fn run(&self, dir: &Path, args: &[&str]) -> Output {
        let mut c = Command::new(&self.bin);
        c.args(args)
            .arg("--data-dir")
            .arg(dir)
            .env_remove("QUDAG_DATA_DIR")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .env("HOME", "/")
            .current_dir("/")
            .stdin(Stdio::null());
        if self.root {
            c.uid(NOBODY).gid(NOBODY);
        }
        run_with_deadline(c, Duration::from_secs(60))
    }
}

const START: &[&str] = &["start", "--listen", "127.0.0.1:0", "--no-default-bootstrap"];

#[test]
fn a_data_dir_without_permissions_is_a_clear_error_and_nothing_is_deleted() {
    let tmp = tempfile::tempdir().unwrap();
    let user = OtherUser::new(tmp.path());
    if !user.root {
        println!("note: not root; the permission cases run as this user, not as nobody");
    }
    let uid = user.uid().to_string();

    // A data dir that is a file.
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    user.own(&file);
    for args in [START, &["status"], &["peer", "list", "--format", "json"]] {
        let o = user.run(&file, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let text = if args.contains(&"json") {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
            v["error"]["message"].as_str().unwrap().to_string()
        } else {
            stderr(&o)
        };
        assert!(
            text.contains(&format!("data dir {} is not a directory", file.display())),
            "{args:?}: {text}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), b"not a directory");
    }

    // Data dirs of the user with existing files, each mode keeping the user out.
    for (what, mode) in [
        ("no permissions (000)", 0o000),
        ("read-only (500)", 0o500),
        ("not searchable (600)", 0o600),
        ("write-only (300)", 0o300),
    ] {
        let dir = tmp.path().join(format!("mode-{mode:o}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("node.key"), b"an identity key").unwrap();
        std::fs::write(dir.join("peers.redb"), b"a peer database").unwrap();
        std::fs::write(
            dir.join("config.toml"),
            b"[network.peers]\nmin_connections = 0\n",
        )
        .unwrap();
        for f in ["node.key", "peers.redb", "config.toml"] {
            user.own(&dir.join(f));
        }
        user.own(&dir);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        let o = user.run(&dir, START);
        let err = stderr(&o);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(o.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains(&format!(
                "error: data dir {} is not usable by uid {uid}",
                dir.display()
            )),
            "{what}: {err}"
        );
        assert!(err.contains("Permission denied"), "{what}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: {err}");
        assert_eq!(
            std::fs::read(dir.join("node.key")).unwrap(),
            b"an identity key"
        );
        assert_eq!(
            std::fs::read(dir.join("peers.redb")).unwrap(),
            b"a peer database"
        );
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 3, "{what}: {names:?}");
    }

    // A client command on a data dir the user cannot enter.
    let dir = tmp.path().join("closed");
    std::fs::create_dir_all(&dir).unwrap();
    user.own(&dir);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o000)).unwrap();
    let o = user.run(&dir, &["status"]);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("permission denied on data dir {}", dir.display())),
        "{}",
        stderr(&o)
    );

    // Another user's data dir (root's, 0700) when running as nobody, and a data dir that
    // cannot be created (its parent is not writable).
    if user.root {
        let dir = tmp.path().join("roots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let o = user.run(&dir, START);
        assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("is not usable by uid 65534"),
            "{}",
            stderr(&o)
        );
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
    let parent = tmp.path().join("parent");
    std::fs::create_dir_all(&parent).unwrap();
    user.own(&parent);
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o555)).unwrap();
    let dir = parent.join("data");
    let o = user.run(&dir, START);
    std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!("cannot create data dir {}", dir.display())),
        "{}",
        stderr(&o)
    );
    assert!(!dir.exists());
}
