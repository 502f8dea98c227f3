//! Shared helpers for the CLI tests: run the real `qudag` binary with a deadline, and start
//! nodes as processes on loopback with no default bootstrap nodes and no DNS seeds.
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_qudag");

/// A `qudag` command with a clean environment (no data-dir variable, no colors).
pub fn qudag() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("QUDAG_DATA_DIR")
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// Runs `cmd`, killing it and panicking if it takes longer than `limit`.
pub fn run_with_deadline(mut cmd: Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qudag");
    wait_with_deadline(&mut child, limit, &format!("{cmd:?}"))
}

/// Waits for a spawned child (stdout and stderr piped) at most `limit`.
pub fn wait_with_deadline(child: &mut Child, limit: Duration, what: &str) -> Output {
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

/// Runs `qudag <args> --data-dir <dir>` with a 60 s deadline.
pub fn cli(dir: &Path, args: &[&str]) -> Output {
    let mut c = qudag();
    c.args(args).arg("--data-dir").arg(dir);
    run_with_deadline(c, Duration::from_secs(60))
}

/// stdout as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A node running as a `qudag start` process; killed (SIGKILL) on drop.
pub struct NodeProc {
    pub dir: PathBuf,
    pub child: Child,
    pub log: PathBuf,
    pub addr: String,
    pub id: String,
    /// Where its metrics endpoint and dashboard are served, when they are.
    pub metrics: Option<String>,
}

impl NodeProc {
    /// Starts a node on 127.0.0.1 (port picked by the OS) in `dir` and waits until its control
    /// socket answers (at most 30 s). Its metrics endpoint gets a free port too (so that tests
    /// running side by side never share one), unless `extra` says otherwise.
    pub fn start(dir: &Path, extra: &[&str]) -> NodeProc {
        std::fs::create_dir_all(dir).expect("data dir");
        let log = dir.with_extension("log");
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log file");
        let mut c = qudag();
        c.args(["start", "--listen", "127.0.0.1:0", "--no-default-bootstrap"]);
        if !extra
            .iter()
            .any(|a| *a == "--metrics-listen" || *a == "--no-metrics")
        {
            c.args(["--metrics-listen", "127.0.0.1:0"]);
        }
        c.args(extra)
            .arg("--data-dir")
            .arg(dir)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(logfile);
        let child = c.spawn().expect("spawn qudag start");
        let mut node = NodeProc {
            dir: dir.to_path_buf(),
            child,
            log,
            addr: String::new(),
            id: String::new(),
            metrics: None,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(s) = node.child.try_wait().expect("try_wait") {
                panic!("qudag start exited early ({s}): {}", node.log_text());
            }
            let o = cli(dir, &["status", "--format", "json"]);
            if o.status.success() {
                let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("status json");
                node.addr = v["listen_address"].as_str().expect("listen").to_string();
                node.id = v["node_id"].as_str().expect("id").to_string();
                node.metrics = v["metrics_address"].as_str().map(str::to_string);
                return node;
            }
            assert!(
                Instant::now() < deadline,
                "node did not come up within 30 s: {}",
                node.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The node's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs a CLI command against this node.
    pub fn cli(&self, args: &[&str]) -> Output {
        cli(&self.dir, args)
    }

    /// `peer list --format json` (or another filter).
    pub fn list_json(&self, filter: &str) -> serde_json::Value {
        let o = self.cli(&["peer", "list", "--format", "json", "--filter", filter]);
        assert!(o.status.success(), "peer list failed: {}", stderr(&o));
        serde_json::from_slice(&o.stdout).expect("peer list json")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port where nothing listens (bound, then released).
pub fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A config file for test nodes that never dial by themselves (`min_connections = 0`), so the
/// only connections are the ones a test makes with `peer add` (otherwise the maintenance pass
/// redials removed peers and peer exchange makes nodes dial each other, and counts move).
pub fn quiet_config(dir: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("config dir");
    let path = dir.join(format!("quiet-{}.toml", extra.len()));
    std::fs::write(
        &path,
        format!("[network.peers]\nmin_connections = 0\n{extra}"),
    )
    .expect("write config");
    path
}
