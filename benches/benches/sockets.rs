//! Real sockets: one node (Tokio adapter, then smol adapter) accepting authenticated connections
//! on loopback from a loader process; handshakes per second against two cores' crypto floor,
//! and memory per connected peer at 1,000 and ~10,000 peers. Also the core's own heap per
//! connected peer, measured in memory.
//!
//! `cargo bench -p qudag-peer-benches --bench sockets`. Under `cargo test` (no `--bench`) it
//! runs a smoke pass with 20 peers per runtime.
//!
//! The binary plays three roles, chosen by `QUDAG_SOCKETS_ROLE`: unset, it is the driver (core
//! heap, then one node process per runtime); `node` runs the node under test and starts its
//! loader; `loader` is [`qudag_peer_benches::loader`].

use pqcrypto_dilithium::dilithium3;
use qudag_peer::channel;
use qudag_peer::config::MAX_MAX_CONNECTIONS;
use qudag_peer::pool::fetch_slots;
use qudag_peer::{Config, Identity, Node, UnixMillis};
use qudag_peer_benches::{
    connect_in_memory, cpu_time, live_heap_bytes, loader, us, vm_rss_bytes, Counting,
};
use qudag_peer_tests::keys;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROLE: &str = "QUDAG_SOCKETS_ROLE";
const RUNTIME: &str = "QUDAG_SOCKETS_RUNTIME";
const STAGES: &str = "QUDAG_SOCKETS_STAGES";
const SERVER: &str = "QUDAG_SOCKETS_SERVER";
const IDENTITIES: &str = "QUDAG_SOCKETS_IDENTITIES";
const FLOOR_MS: &str = "QUDAG_SOCKETS_FLOOR_MS";

/// How long a node process (with its loader) may run before the driver kills it.
const NODE_PROCESS_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the loader may take to generate its identities.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the node may take to see the peers the loader reports connected.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(20);

fn main() {
    match std::env::var(ROLE).as_deref() {
        Ok("loader") => loader_role(),
        Ok("node") => node_role(),
        _ => driver(),
    }
}

fn env_usize(key: &str) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{key} must be a number"))
}

/// The most peers a node with `MAX_MAX_CONNECTIONS` keeps connected: the rest are
/// address-fetch slots.
fn max_long_lived() -> usize {
    MAX_MAX_CONNECTIONS - fetch_slots(MAX_MAX_CONNECTIONS)
}

fn node_config(listen: SocketAddr) -> Config {
    let mut c = Config::local(listen);
    c.network.peers.max_connections = MAX_MAX_CONNECTIONS;
    // The node under test only accepts: it must not spend the run dialing.
    c.network.peers.min_connections = 0;
    c
}

fn driver() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let stages: Vec<usize> = if smoke {
        vec![20]
    } else {
        vec![1_000, max_long_lived()]
    };
    let floor_ms = if smoke { 50 } else { 2_000 };
    let kind = if smoke {
        "smoke (not a measurement)"
    } else {
        "full"
    };
    println!("qudag-peer on real sockets ({kind} run)\n");

    // The core's own state per connected peer: heap bytes of one node before and after its
    // peers connect in memory (the clients are dropped; the node keeps every connection).
    for &n in &stages {
        let ids: Vec<Identity> = (0..n).map(|_| keys::fresh_identity()).collect();
        let now = Instant::now();
        let server_addr: SocketAddr = "127.0.0.1:8000".parse().expect("valid");
        let mut server = Node::new(
            node_config(server_addr),
            keys::identity(0),
            [1; 32],
            now,
            UNIX,
        );
        let before = live_heap_bytes();
        let mut laps = Vec::new();
        let mut lap = Instant::now();
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 && i % LAP == 0 {
                laps.push(lap.elapsed());
                lap = Instant::now();
            }
            let src = loader::source_ip(i);
            let cfg = Config::local(SocketAddr::new(src, loader::ADVERTISED_PORT));
            let mut seed = [2u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            let mut client = Node::new(cfg, id, seed, now, UNIX);
            let remote = SocketAddr::new(src, 40_000);
            connect_in_memory(&mut client, &mut server, server_addr, remote, now)
                .expect("the in-memory handshake completes");
        }
        let grown = live_heap_bytes() - before;
        assert_eq!(server.counts().connected(), n, "every peer is connected");
        println!(
            "core state per connected peer (in memory, {n} peers): {} B heap",
            grown / n as i64
        );
        if let (Some(first), Some(last)) = (laps.first(), laps.last()) {
            println!(
                "  in-memory handshake (both sides, one thread): {} per handshake for the first {LAP} peers, {} for the last full {LAP} (x{:.2})",
                us(*first / LAP as u32),
                us(*last / LAP as u32),
                last.as_secs_f64() / first.as_secs_f64()
            );
        }
    }
    println!();

    for runtime in ["tokio", "smol"] {
        let stages_arg: Vec<String> = stages.iter().map(usize::to_string).collect();
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(ROLE, "node")
            .env(RUNTIME, runtime)
            .env(STAGES, stages_arg.join(","))
            .env(FLOOR_MS, floor_ms.to_string())
            .env("SMOL_THREADS", "2")
            .spawn()
            .expect("spawns the node process");
        let status = wait_bounded(&mut child, NODE_PROCESS_TIMEOUT);
        assert!(
            status.is_some_and(|s| s.success()),
            "the {runtime} node process failed: {status:?}"
        );
    }
}

const UNIX: UnixMillis = UnixMillis(1_760_000_000_000);

/// Handshakes per timed lap of the in-memory run.
const LAP: usize = 500;

/// Waits for `child` at most `limit`; kills it past that. `None` if it had to be killed.
fn wait_bounded(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

fn loader_role() {
    let server: SocketAddr = std::env::var(SERVER)
        .ok()
        .and_then(|s| s.parse().ok())
        .expect("QUDAG_SOCKETS_SERVER is an address");
    let _ = qudag_peer_benches::raise_nofile_limit();
    let ids = (0..env_usize(IDENTITIES))
        .map(|_| keys::fresh_identity())
        .collect();
    loader::run(server, ids)
}

/// Two cores' crypto floor: "one side's crypto" units per second on two threads at once. A
/// unit is a sign+verify pair plus half of the ML-KEM-768 work (keygen + encapsulation +
/// decapsulation, done every other unit). A handshake needs two units in all (one per side),
/// so the floor is half this in handshakes per second.
fn crypto_pairs_per_sec(budget: Duration) -> f64 {
    let t0 = Instant::now();
    let threads: Vec<_> = (0..2u8)
        .map(|t| {
            std::thread::spawn(move || {
                let (pk, sk) = dilithium3::keypair();
                let mut rng = qudag_peer::rng::Rng::from_seed([t; 32]);
                let mut msg = [t; 65];
                let mut n = 0u64;
                let start = Instant::now();
                while start.elapsed() < budget {
                    msg[..8].copy_from_slice(&n.to_le_bytes());
                    let sig = dilithium3::detached_sign(&msg, &sk);
                    let ok = dilithium3::verify_detached_signature(&sig, &msg, &pk).is_ok();
                    assert!(ok, "a fresh signature verifies");
                    if n.is_multiple_of(2) {
                        let (dk, ek) = channel::kem_keygen(&mut rng);
                        let (ct, ss) = channel::kem_encapsulate(&ek, &mut rng).expect("valid key");
                        assert_eq!(channel::kem_decapsulate(&dk, &ct), Some(ss));
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();
    let pairs: u64 = threads.into_iter().map(|t| t.join().expect("joins")).sum();
    pairs as f64 / t0.elapsed().as_secs_f64()
}

/// The node under test, on either adapter.
enum Server {
    Tokio(tokio::runtime::Runtime, qudag_peer_tokio::NodeHandle),
    Smol(qudag_peer_smol::NodeHandle),
}

impl Server {
    fn start(runtime: &str) -> Server {
        let config = node_config("127.0.0.1:0".parse().expect("valid"));
        let identity = keys::identity(0);
        match runtime {
            "tokio" => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("a tokio runtime");
                let handle = rt
                    .block_on(async { qudag_peer_tokio::spawn(config, identity) })
                    .expect("the node starts");
                Server::Tokio(rt, handle)
            }
            "smol" => Server::Smol(qudag_peer_smol::spawn(config, identity).expect("starts")),
            other => panic!("unknown runtime {other}"),
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Tokio(_, h) => h.local_addr(),
            Server::Smol(h) => h.local_addr(),
        }
    }

    fn connected(&self) -> usize {
        let count = |n: &mut Node, _| n.counts().connected();
        match self {
            Server::Tokio(rt, h) => rt.block_on(h.with_node(count)),
            Server::Smol(h) => smol::block_on(h.with_node(count)),
        }
        .expect("the node runs")
    }
}

/// The loader process and the lines it prints.
struct Loader {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Loader {
    fn start(server: SocketAddr, identities: usize) -> Loader {
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .env(ROLE, "loader")
            .env(SERVER, server.to_string())
            .env(IDENTITIES, identities.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawns the loader");
        let stdin = child.stdin.take().expect("piped");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let mut loader = Loader {
            child,
            stdin,
            lines,
        };
        let ready = loader.line(READY_TIMEOUT);
        assert_eq!(ready.as_deref(), Some("ready"), "the loader starts");
        loader
    }

    fn line(&mut self, timeout: Duration) -> Option<String> {
        self.lines.recv_timeout(timeout).ok()
    }

    /// Asks for `target` connected peers in total; returns (connected, failures) as reported.
    fn go(&mut self, target: usize) -> (usize, usize) {
        writeln!(self.stdin, "go {target}").expect("the loader reads");
        self.stdin.flush().expect("the loader reads");
        let line = self
            .line(loader::STAGE_TIMEOUT + Duration::from_secs(30))
            .expect("the loader answers");
        let mut words = line.split_whitespace();
        let mut field = |name: &str| {
            assert_eq!(words.next(), Some(name), "unexpected loader line {line:?}");
            words.next().and_then(|w| w.parse().ok()).expect("a count")
        };
        (field("reached"), field("failures"))
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        wait_bounded(&mut self.child, Duration::from_secs(5));
    }
}

fn node_role() {
    let runtime = std::env::var(RUNTIME).expect("QUDAG_SOCKETS_RUNTIME");
    let stages: Vec<usize> = std::env::var(STAGES)
        .expect("QUDAG_SOCKETS_STAGES")
        .split(',')
        .map(|s| s.parse().expect("a count"))
        .collect();
    let floor_budget = Duration::from_millis(env_usize(FLOOR_MS) as u64);
    let nofile = qudag_peer_benches::raise_nofile_limit().expect("raises RLIMIT_NOFILE");
    let last = *stages.last().expect("a stage");
    assert!(
        nofile as usize > last + 100,
        "RLIMIT_NOFILE {nofile} is too low for {last} peers"
    );

    let pairs_before = crypto_pairs_per_sec(floor_budget);
    let server = Server::start(&runtime);
    let _ = server.connected();
    std::thread::sleep(Duration::from_millis(200));
    let (rss0, heap0) = (vm_rss_bytes().unwrap_or(0), live_heap_bytes());
    let mut loader = Loader::start(server.addr(), last + loader::MAX_FAILURES);

    let (me, loader_pid) = (std::process::id(), loader.child.id());
    let mut figures = Vec::new();
    let mut prev = 0;
    for &target in &stages {
        let cpu0 = (cpu_time(me), cpu_time(loader_pid));
        let t0 = Instant::now();
        let (reached, failures) = loader.go(target);
        let settle_end = Instant::now() + SETTLE_TIMEOUT;
        let mut seen = server.connected();
        while seen < reached && Instant::now() < settle_end {
            std::thread::sleep(Duration::from_millis(5));
            seen = server.connected();
        }
        let secs = t0.elapsed().as_secs_f64();
        assert_eq!(
            (reached, seen),
            (target, target),
            "{runtime}: the loader reached {reached} (with {failures} failures), the node sees {seen}"
        );
        let new = (target - prev) as u32;
        let per = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => (b.saturating_sub(a) / new).as_secs_f64() * 1e6,
            _ => f64::NAN,
        };
        let cpu = (per(cpu0.0, cpu_time(me)), per(cpu0.1, cpu_time(loader_pid)));
        let rate = new as f64 / secs;
        prev = target;
        std::thread::sleep(Duration::from_secs(1));
        let rss = vm_rss_bytes().unwrap_or(0).saturating_sub(rss0);
        let heap = live_heap_bytes() - heap0;
        figures.push((target, rate, cpu, rss, heap, failures));
    }
    let pairs_after = crypto_pairs_per_sec(floor_budget);
    drop(loader);

    let floor = (pairs_before + pairs_after) / 2.0 / 2.0;
    println!("{runtime}: node on 127.0.0.1 (2 worker threads), loader in its own process");
    println!(
        "  crypto floor on 2 cores: {:.0} handshakes/s (one-side units/s ÷ 2: before {pairs_before:.0}, after {pairs_after:.0})",
        floor
    );
    // One side's floor on one core: a sign+verify pair and half the ML-KEM work.
    let pair_us = 2.0 / ((pairs_before + pairs_after) / 2.0) * 1e6;
    println!(
        "  one side's floor: sign+verify + half of ML-KEM {pair_us:.0} µs of CPU per handshake"
    );
    for (target, rate, (node_cpu, loader_cpu), rss, heap, failures) in figures {
        println!(
            "  {target:>5} peers: {rate:>6.0} handshakes/s (ratio to floor {:.2}); CPU per handshake: node {node_cpu:.0} µs (x{:.2} the floor), loader {loader_cpu:.0} µs (x{:.2})",
            rate / floor,
            node_cpu / pair_us,
            loader_cpu / pair_us,
        );
        println!(
            "         RSS +{:.1} MiB = {:.1} KiB/peer, heap {:.1} KiB/peer, {failures} failed connections",
            rss as f64 / (1 << 20) as f64,
            rss as f64 / 1024.0 / target as f64,
            heap as f64 / 1024.0 / target as f64,
        );
    }
    println!();
}
