//! The loader: the client side of the real-socket benchmark, run as its own OS process.
//!
//! Every connection is driven by a real core [`Node`] (its own fresh identity,
//! `max_connections = 1`) through `handle_input`/`poll_output` over a Tokio socket bound to
//! its own loopback source address ([`source_ip`]). Nothing here knows the handshake's
//! messages, so the loader follows any change of the protocol without edits.
//!
//! Protocol with the parent, one line each way: the loader prints `ready` once its identities
//! exist; `go N` on its stdin asks for `N` connected peers in total, answered by
//! `reached C failures F` (`C` connected now, `F` connections that failed in this stage);
//! `quit` or the end of stdin ends the process. It also ends after [`MAX_LIFETIME`].

use qudag_peer::IoFailure;
use qudag_peer::Priority;
use qudag_peer::{Config, ConnId, Event, Identity, Input, Node, Output, UnixMillis};
use std::io::{BufRead, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Connections with a handshake in flight at once (a deeper queue would only wait inside the
/// node and run into its handshake timeout).
pub const IN_FLIGHT: usize = 64;
/// Connections that may fail in one stage before the loader reports what it has.
pub const MAX_FAILURES: usize = 100;
/// How long one stage may take.
pub const STAGE_TIMEOUT: Duration = Duration::from_secs(300);
/// The loader exits after this long, whatever happens.
pub const MAX_LIFETIME: Duration = Duration::from_secs(900);
/// Bytes read from a socket at a time.
pub const READ_BUF: usize = 4096;
/// The port each loader node advertises as its listen port (nothing listens there: the
/// loader only dials).
pub const ADVERTISED_PORT: u16 = 9;

/// The loopback source address of connection `i`: 127.1.0.1 onwards, one per connection.
pub fn source_ip(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x7f01_0001u32.wrapping_add(i as u32)))
}

/// What a connection task reports to the loader's main loop.
enum Report {
    Connected,
    Ended { was_connected: bool, why: String },
}

/// Runs the loader process against the node at `server` with `identities` fresh identities
/// (generated before `ready`); never returns.
pub fn run(server: SocketAddr, identities: Vec<Identity>) -> ! {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let (cmd_tx, mut cmd_rx) = mpsc::unbounded_channel::<usize>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            match line.trim().strip_prefix("go ").map(str::parse) {
                Some(Ok(n)) if cmd_tx.send(n).is_ok() => {}
                _ => break,
            }
        }
        std::process::exit(0);
    });
    say("ready");
    rt.block_on(async move {
        let end = tokio::time::Instant::now() + MAX_LIFETIME;
        let sem = Arc::new(Semaphore::new(IN_FLIGHT));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut ids = identities.into_iter().enumerate();
        let (mut connected, mut pending) = (0usize, 0usize);
        while let Ok(Some(target)) = tokio::time::timeout_at(end, cmd_rx.recv()).await {
            let stage_end = tokio::time::Instant::now() + STAGE_TIMEOUT;
            let mut failures = 0;
            while connected < target && failures <= MAX_FAILURES {
                while connected + pending < target {
                    let Some((i, id)) = ids.next() else { break };
                    tokio::spawn(connection(i, server, id, sem.clone(), tx.clone()));
                    pending += 1;
                }
                if pending == 0 {
                    break;
                }
                match tokio::time::timeout_at(stage_end, rx.recv()).await {
                    Ok(Some(Report::Connected)) => {
                        pending -= 1;
                        connected += 1;
                    }
                    Ok(Some(Report::Ended { was_connected, why })) => {
                        if was_connected {
                            connected -= 1;
                        } else {
                            pending -= 1;
                        }
                        failures += 1;
                        if failures <= 5 {
                            eprintln!("loader: a connection ended: {why}");
                        }
                    }
                    _ => break,
                }
            }
            say(&format!("reached {connected} failures {failures}"));
        }
    });
    std::process::exit(0)
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// One connection's task: waits for a handshake slot, then drives its node until the
/// connection ends, reporting `Connected` once and `Ended` at the end.
async fn connection(
    i: usize,
    server: SocketAddr,
    identity: Identity,
    slots: Arc<Semaphore>,
    reports: mpsc::UnboundedSender<Report>,
) {
    let mut slot = slots.acquire_owned().await.ok();
    let mut was_connected = false;
    let why = drive(i, server, identity, &mut slot, &mut was_connected, &reports).await;
    let _ = reports.send(Report::Ended { was_connected, why });
}

async fn drive(
    i: usize,
    server: SocketAddr,
    identity: Identity,
    slot: &mut Option<OwnedSemaphorePermit>,
    was_connected: &mut bool,
    reports: &mpsc::UnboundedSender<Report>,
) -> String {
    let src = source_ip(i);
    let mut config = Config::local(SocketAddr::new(src, ADVERTISED_PORT));
    config.network.peers.max_connections = 1;
    config.network.peers.min_connections = 1;
    let mut seed = [7u8; 32];
    seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut node = Node::new(config, identity, seed, Instant::now(), UnixMillis(unix));
    if let Err(e) = node.add_peer(&server.to_string(), Priority::Normal, Instant::now()) {
        return format!("add_peer: {e}");
    }
    let mut sock: Option<(ConnId, OwnedReadHalf, OwnedWriteHalf)> = None;
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let wake = loop {
            match node.poll_output() {
                Output::Dial { conn, addr, .. } if addr == server && sock.is_none() => {
                    let now = Instant::now();
                    match connect(src, server).await {
                        Ok(s) => {
                            let _ = s.set_nodelay(true);
                            let (rd, wr) = s.into_split();
                            sock = Some((conn, rd, wr));
                            node.handle_input(Input::Connected { conn, now });
                        }
                        Err(e) => {
                            let cause = IoFailure::from_io_error(&e);
                            node.handle_input(Input::ConnectFailed { conn, cause, now });
                        }
                    }
                }
                // Only the node under test is ever dialed.
                Output::Dial { conn, .. } => {
                    let cause = IoFailure::from_io_kind(std::io::ErrorKind::ConnectionRefused);
                    let now = Instant::now();
                    node.handle_input(Input::ConnectFailed { conn, cause, now });
                }
                Output::Transmit { conn, bytes } => {
                    if let Some((c, _, wr)) = sock.as_mut().filter(|s| s.0 == conn) {
                        if let Err(e) = wr.write_all(&bytes).await {
                            return format!("write on {c:?}: {e}");
                        }
                    }
                }
                Output::Close { conn } if sock.as_ref().is_some_and(|s| s.0 == conn) => {
                    return "closed by the loader's node".into();
                }
                Output::Event(Event::PeerConnected { .. }) => {
                    slot.take();
                    *was_connected = true;
                    let _ = reports.send(Report::Connected);
                }
                Output::Timeout { at, .. } => break at,
                _ => {}
            }
        };
        let Some((conn, rd, _)) = sock.as_mut() else {
            return "never connected".into();
        };
        let conn = *conn;
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => return "closed by the node under test".into(),
                Err(e) => return format!("read: {e}"),
                Ok(n) => node.handle_input(Input::Received { conn, data: &buf[..n], now: Instant::now() }),
            },
            () = tokio::time::sleep_until(wake.into()) => {
                node.handle_input(Input::Timeout { now: Instant::now() });
            }
        }
    }
}

async fn connect(src: IpAddr, server: SocketAddr) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(src, 0))?;
    socket.connect(server).await
}
