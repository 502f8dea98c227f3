//! Hosts with their own addresses: five network namespaces joined by veth pairs to a bridge,
//! one `qudag-peer-tokio` node in each on real sockets.
//!
//! `netns_discovery_partition_recovery` builds a switch namespace (a bridge) and five host
//! namespaces `10.77.0.1`..`10.77.0.5` (addresses only inside those namespaces; nothing is
//! routed anywhere else), then re-runs this test binary inside each host namespace
//! (`ip netns exec <ns> <this binary> --exact netns_child --ignored`, the node's index in
//! `QUDAG_NETNS_CHILD`). Each child prints its events and status as `QN ...` lines. Checked:
//! 1. discovery from one bootstrap address (host 0, which has none): host 0 is connected to
//!    every other host and every host learned every other's address (PEX);
//! 2. host 0's switch port goes down: every other host and host 0 itself see the ping timeout
//!    (`PeerDisconnected` with `InactivityTimeout`);
//! 3. the port comes back: host 0's maintenance loop connects it again.
//!
//! The core's netgroup diversity allows one automatic outbound connection per /16, and all
//! hosts share 10.77/16, so the mesh is a star around the bootstrap host plus whatever the
//! others dial after losing it; "find each other" is therefore checked as full knowledge plus
//! a connected network, not a full mesh.
//!
//! Needs root and `ip netns`; otherwise prints "skipped: needs root and ip netns" and passes.
//! Namespaces and child processes are removed on every exit path (Drop guards); every wait is
//! bounded, and a child exits by itself after 150 s or when the parent's pipe closes.

use qudag_peer::PeerState;
use qudag_peer::{Config, Event};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOSTS: usize = 5;
const PORT: u16 = 7100;
const CHILD_ENV: &str = "QUDAG_NETNS_CHILD";
const CHILD_LIFETIME: Duration = Duration::from_secs(150);

fn host_addr(i: usize) -> String {
    format!("10.77.0.{}:{PORT}", i + 1)
}

fn ip_bin() -> &'static str {
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("ip")
}

fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new(ip_bin())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The namespaces; deleted on drop (which also removes their veths and the bridge).
struct Netns {
    switch: String,
    hosts: Vec<String>,
    created: Vec<String>,
}

impl Netns {
    fn build() -> Result<Netns, String> {
        let prefix = format!("qn{}", std::process::id());
        let mut n = Netns {
            switch: format!("{prefix}sw"),
            hosts: (0..HOSTS).map(|i| format!("{prefix}h{i}")).collect(),
            created: Vec::new(),
        };
        let sw = n.switch.clone();
        ip(&["netns", "add", &sw])?;
        n.created.push(sw.clone());
        ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &sw, "link", "set", "br0", "up"])?;
        for (i, h) in n.hosts.clone().iter().enumerate() {
            ip(&["netns", "add", h])?;
            n.created.push(h.clone());
            let port = format!("v{i}");
            ip(&[
                "-n", &sw, "link", "add", &port, "type", "veth", "peer", "name", "eth0",
            ])?;
            ip(&["-n", &sw, "link", "set", "eth0", "netns", h])?;
            ip(&["-n", &sw, "link", "set", &port, "master", "br0", "up"])?;
            let cidr = format!("10.77.0.{}/24", i + 1);
            ip(&["-n", h, "addr", "add", &cidr, "dev", "eth0"])?;
            ip(&["-n", h, "link", "set", "eth0", "up"])?;
            ip(&["-n", h, "link", "set", "lo", "up"])?;
        }
        Ok(n)
    }

    /// Brings host `i`'s switch port up or down.
    fn set_port(&self, i: usize, up: bool) {
        let state = if up { "up" } else { "down" };
        ip(&["-n", &self.switch, "link", "set", &format!("v{i}"), state]).expect("set port");
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        for ns in self.created.drain(..).rev() {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("cleanup: {e}");
            }
        }
    }
}

/// The node processes; killed on drop.
struct Nodes(Vec<Child>);

impl Drop for Nodes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What the children reported.
#[derive(Default)]
struct Seen {
    ids: BTreeMap<usize, String>,
    connected: BTreeMap<usize, BTreeSet<String>>,
    known: BTreeMap<usize, BTreeSet<String>>,
    /// (host, peer id, reason) of every `PeerDisconnected`.
    disconnects: Vec<(usize, String, String)>,
}

impl Seen {
    fn take(&mut self, host: usize, line: &str) {
        let w: Vec<&str> = line.split(' ').collect();
        let set = |s: &str| -> BTreeSet<String> {
            s.split(',')
                .filter(|x| !x.is_empty() && *x != "-")
                .map(str::to_string)
                .collect()
        };
        match w.as_slice() {
            ["ready", id] => drop(self.ids.insert(host, id.to_string())),
            ["status", conn, known] => {
                self.connected.insert(host, set(conn));
                self.known.insert(host, set(known));
            }
            ["disconnected", peer, reason] => {
                self.disconnects
                    .push((host, peer.to_string(), reason.to_string()))
            }
            _ => {}
        }
    }
}

/// Reads children's lines until `done` holds or `limit` passes (then panics with `what`).
fn wait_for(
    rx: &mpsc::Receiver<(usize, String)>,
    seen: &mut Seen,
    limit: Duration,
    what: &str,
    done: impl Fn(&Seen) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !done(seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left.min(Duration::from_millis(500))) {
            Ok((host, line)) => seen.take(host, &line),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!("every node exited: {what}"),
        }
        if Instant::now() >= deadline && !done(seen) {
            panic!(
                "timed out after {limit:?} waiting for {what}; connected {:?}, known {:?}, \
                 disconnects {:?}",
                seen.connected, seen.known, seen.disconnects
            );
        }
    }
}

#[test]
fn netns_discovery_partition_recovery() {
    let net = match Netns::build() {
        Ok(net) => net,
        Err(e) => {
            eprintln!("skipped: needs root and ip netns ({e})");
            return;
        }
    };
    // Keys first, so the children find them in the pool instead of generating in parallel.
    for i in 0..HOSTS {
        qudag_peer_tests::keys::identity(100 + i as u64);
    }
    let exe = std::env::current_exe().expect("test binary");
    let exe = exe.to_str().expect("utf-8 path");
    let (tx, rx) = mpsc::channel();
    let mut nodes = Nodes(Vec::new());
    for (i, ns) in net.hosts.iter().enumerate() {
        let mut child = Command::new(ip_bin())
            .args([
                "netns",
                "exec",
                ns,
                exe,
                "netns_child",
                "--exact",
                "--ignored",
            ])
            .args(["--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, i.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a node");
        let out = child.stdout.take().expect("stdout");
        nodes.0.push(child);
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // libtest may print "test netns_child ... " before the first line.
                if let Some(at) = line.find("QN ") {
                    if tx.send((i, line[at + 3..].to_string())).is_err() {
                        return;
                    }
                }
            }
        });
    }
    drop(tx);
    let mut seen = Seen::default();
    wait_for(&rx, &mut seen, Duration::from_secs(30), "nodes up", |s| {
        s.ids.len() == HOSTS
    });
    let ids = seen.ids.clone();
    let others = |i: usize| (0..HOSTS).filter(move |&j| j != i);

    // 1. Discovery from the one bootstrap address.
    let all_known = |s: &Seen| {
        (0..HOSTS).all(|i| {
            let want: BTreeSet<String> = others(i).map(host_addr).collect();
            s.known.get(&i).is_some_and(|k| k.is_superset(&want))
        })
    };
    let hub_linked = |s: &Seen| {
        let want: BTreeSet<String> = (1..HOSTS).map(|j| ids[&j].clone()).collect();
        s.connected.get(&0).is_some_and(|c| c.is_superset(&want))
    };
    wait_for(&rx, &mut seen, Duration::from_secs(30), "discovery", |s| {
        all_known(s) && hub_linked(s)
    });
    eprintln!("discovered: {:?}", seen.connected);

    // 2. Cut host 0 off: everyone notices through the ping timeout.
    let cut_at = seen.disconnects.len();
    net.set_port(0, false);
    let noticed = |s: &Seen| {
        let new = &s.disconnects[cut_at..];
        let timed_out = |host: usize, peer: &str| {
            new.iter()
                .any(|(h, p, r)| *h == host && p == peer && r == "InactivityTimeout")
        };
        (1..HOSTS).all(|j| timed_out(j, &ids[&0]) && timed_out(0, &ids[&j]))
    };
    wait_for(
        &rx,
        &mut seen,
        Duration::from_secs(20),
        "the cut noticed",
        noticed,
    );
    let hub_alone = |s: &Seen| s.connected.get(&0).is_some_and(BTreeSet::is_empty);
    wait_for(
        &rx,
        &mut seen,
        Duration::from_secs(5),
        "host 0 alone",
        hub_alone,
    );

    // 3. Back again: the maintenance loop reconnects host 0 (after at most one 30 s back-off
    // of the addresses it failed to reach meanwhile).
    net.set_port(0, true);
    let hub_back = |s: &Seen| s.connected.get(&0).is_some_and(|c| !c.is_empty());
    wait_for(
        &rx,
        &mut seen,
        Duration::from_secs(60),
        "host 0 back",
        hub_back,
    );
    eprintln!("recovered: {:?}", seen.connected);
    drop(nodes);
    drop(net);
}

/// One node inside a namespace; run by `netns_discovery_partition_recovery`, never directly.
#[test]
#[ignore = "helper: started inside a network namespace by netns_discovery_partition_recovery"]
fn netns_child() {
    let Some(i) = std::env::var(CHILD_ENV)
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
    else {
        return;
    };
    // Exit when the parent goes away (its pipe closes) or after a bounded lifetime.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    std::thread::spawn(|| {
        std::thread::sleep(CHILD_LIFETIME);
        std::process::exit(0);
    });
    let mut c = Config::local(host_addr(i).parse().expect("address"));
    c.network.allow_private_addresses = true;
    let p = &mut c.network.peers;
    p.ping_interval = Duration::from_millis(300);
    p.inactivity_timeout = Duration::from_millis(1500);
    p.connection_timeout = Duration::from_secs(1);
    p.handshake_timeout = Duration::from_secs(1);
    p.disconnect_timeout = Duration::from_secs(1);
    p.discovery_interval = Duration::from_secs(1);
    if i > 0 {
        p.bootstrap_nodes = vec![host_addr(0)];
    }
    let identity = qudag_peer_tests::keys::identity(100 + i as u64);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let node = qudag_peer_tokio::spawn(c, identity).expect("spawn");
        let mut events = node.events();
        println!("QN ready {}", node.node_id().to_hex());
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Ok(Event::PeerDisconnected { peer, reason, .. }) => {
                        println!("QN disconnected {} {reason:?}", peer.to_hex());
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(_) => return,
                },
                _ = tick.tick() => {
                    let connected: Vec<String> = node
                        .peers()
                        .await
                        .into_iter()
                        .filter(|p| p.status == PeerState::Connected)
                        .filter_map(|p| p.id.map(|id| id.to_hex()))
                        .collect();
                    let known: Vec<String> = node
                        .with_node(|n, _| {
                            n.address_book()
                                .iter()
                                .map(|e| e.addr.without_id().to_string())
                                .collect()
                        })
                        .await
                        .unwrap_or_default();
                    let list = |v: Vec<String>| if v.is_empty() { "-".into() } else { v.join(",") };
                    println!("QN status {} {}", list(connected), list(known));
                }
            }
        }
    });
}
