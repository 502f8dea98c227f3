//! `qudag testnet`: N real nodes (real Dilithium3 keys, real TCP on loopback, real handshakes)
//! in this one process through the tokio adapter. Node 1 listens on 127.0.0.1, node k on
//! 127.0.0.k (falling back to 127.0.0.1 where only that address exists); every node but the
//! first knows only node 1 (`bootstrap_nodes`), there are no built-in bootstrap nodes, no DNS
//! seeds and nothing is written to disk. Peer exchange runs every
//! [`TESTNET_DISCOVERY_INTERVAL`], so the table shows the nodes finding each other within
//! seconds. Runs until Ctrl-C or `--duration`.

use crate::error::Error;
use crate::render::{peer_table, PeerView, Style};
use pqcrypto_traits::sign::{PublicKey as _, SecretKey as _};
use qudag_peer::{Config, Identity};
use qudag_peer_tokio::NodeHandle;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Peer-exchange interval of testnet nodes (the default is 300 s).
pub const TESTNET_DISCOVERY_INTERVAL: Duration = Duration::from_secs(5);

/// Most nodes a testnet may have.
pub const MAX_TESTNET_NODES: usize = 100;

/// Runs the testnet; returns when it has shut down.
pub fn run(nodes: usize, duration: Option<Duration>) -> Result<(), Error> {
    if std::env::var_os("RUST_LOG").is_some() {
        crate::daemon::init_logging();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Start(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(run_async(nodes, duration))
}

fn spawn_node(i: usize, bootstrap: Option<SocketAddr>, n: usize) -> Result<NodeHandle, Error> {
    let (pk, sk) = pqcrypto_dilithium::dilithium3::keypair();
    let identity = Identity::from_bytes(pk.as_bytes(), sk.as_bytes())
        .map_err(|e| Error::Start(format!("key: {e}")))?;
    let config = |ip: Ipv4Addr| {
        let mut c = Config::local(SocketAddr::new(IpAddr::V4(ip), 0));
        c.network.peers.discovery_interval = TESTNET_DISCOVERY_INTERVAL;
        c.network.peers.min_connections = (n - 1).min(8);
        c.network.peers.max_connections = (n + 8).max(16);
        if let Some(b) = bootstrap {
            c.network.peers.bootstrap_nodes = vec![b.to_string()];
        }
        c
    };
    let ip = Ipv4Addr::new(127, 0, 0, (i + 1).min(254) as u8);
    match qudag_peer_tokio::spawn_with(config(ip), identity.clone(), None) {
        Ok(h) => Ok(h),
        Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
            qudag_peer_tokio::spawn_with(config(Ipv4Addr::LOCALHOST), identity, None).map_err(|e| {
                Error::Start(format!("node {}: cannot listen on 127.0.0.1: {e}", i + 1))
            })
        }
        Err(e) => Err(Error::Start(format!(
            "node {}: cannot listen on {ip}: {e}",
            i + 1
        ))),
    }
}

async fn run_async(n: usize, duration: Option<Duration>) -> Result<(), Error> {
    let started = Instant::now();
    let mut handles: Vec<NodeHandle> = Vec::with_capacity(n);
    for i in 0..n {
        let boot = handles.first().map(NodeHandle::local_addr);
        handles.push(spawn_node(i, boot, n)?);
    }
    let tty = std::io::stdout().is_terminal();
    let style = Style {
        color: crate::util::color_stdout(),
    };
    // A closed stdout (`qudag testnet | head`) must not stop the nodes half-way: output
    // failures are ignored here and the shutdown below still runs.
    let _ = crate::util::out(&format!(
        "qudag testnet: {n} nodes on loopback; node 1 ({}) at {} is the bootstrap node, the others know only it.\n",
        handles[0].node_id().short(),
        handles[0].local_addr()
    ));
    let _ = crate::util::out(&format!(
        "Peer exchange every {} s. {}\n",
        TESTNET_DISCOVERY_INTERVAL.as_secs(),
        match duration {
            Some(d) => format!("Running for {} s (Ctrl-C stops earlier).", d.as_secs()),
            None => "Press Ctrl-C to stop.".to_string(),
        }
    ));
    let mut last = String::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    // `--duration` is at most util::MAX_DURATION; checked all the same (no overflow panic).
    let deadline = duration.and_then(|d| tokio::time::Instant::now().checked_add(d));
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut stopped_by_user = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut ctrl_c => { stopped_by_user = true; }
        }
        let (rows, table) = snapshot(&handles, style).await;
        let t = format!("t = {:>3} s\n", started.elapsed().as_secs());
        if tty {
            let _ = crate::util::out(&format!("\x1b[2J\x1b[H{t}{rows}{table}"));
        } else if rows != last {
            // Plain output (a pipe, a file, CI): a frame only when who-knows-whom changed.
            let _ = crate::util::out(&format!("{t}{rows}{table}\n"));
            last = rows;
        }
        if stopped_by_user || deadline.is_some_and(|d| tokio::time::Instant::now() >= d) {
            break;
        }
    }
    let (mesh, total) = mesh_count(&handles).await;
    let _ = crate::util::out(&format!(
        "\nAfter {} s: {mesh} of {total} nodes are connected to every other node. Shutting down…\n",
        started.elapsed().as_secs()
    ));
    let shutdowns: Vec<_> = handles
        .iter()
        .map(|h| {
            let h = h.clone();
            tokio::spawn(async move { h.shutdown().await })
        })
        .collect();
    for s in shutdowns {
        let _ = s.await;
    }
    let _ = crate::util::out("testnet stopped\n");
    Ok(())
}

async fn mesh_count(handles: &[NodeHandle]) -> (usize, usize) {
    let mut full = 0;
    for h in handles {
        let c = h
            .with_node(|n, _| n.connected_peers().len())
            .await
            .unwrap_or(0);
        if c + 1 >= handles.len() {
            full += 1;
        }
    }
    (full, handles.len())
}

/// One screen: a row per node (its connected peers by node number, its address-book size),
/// then node 1's peer table (spec 2.2).
async fn snapshot(handles: &[NodeHandle], style: Style) -> (String, String) {
    let number: BTreeMap<String, usize> = handles
        .iter()
        .enumerate()
        .map(|(i, h)| (h.node_id().to_hex(), i + 1))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<5} {:<12} {:<16} {:>9} {:>6}  Connected to",
        "Node", "ID", "Listen", "Connected", "Known"
    );
    let mut first_peers = Vec::new();
    for (i, h) in handles.iter().enumerate() {
        let (peers, known) = h
            .with_node(|n, _| (n.peers(), n.address_book().len()))
            .await
            .unwrap_or_default();
        let mut linked: Vec<usize> = peers
            .iter()
            .filter(|p| p.status == qudag_peer::PeerState::Connected)
            .filter_map(|p| p.id.and_then(|id| number.get(&id.to_hex()).copied()))
            .collect();
        linked.sort_unstable();
        linked.dedup();
        let _ = writeln!(
            out,
            "{:<5} {:<12} {:<16} {:>9} {:>6}  {}",
            i + 1,
            h.node_id().short(),
            h.local_addr().to_string(),
            linked.len(),
            known,
            linked
                .iter()
                .map(|k| k.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        );
        if i == 0 {
            first_peers = peers.iter().map(PeerView::from_info).collect();
        }
    }
    let mut table = String::from("\nPeers of node 1:\n");
    table.push_str(&peer_table(&first_peers, style));
    (out, table)
}
