//! # qudag-peer-smol: the smol adapter for `qudag-peer`
//!
//! [`spawn`] binds a TCP listener and starts one driver task (on smol's global executor) that
//! owns the sans-IO [`Node`]. The driver only carries bytes and time: it waits for the earliest
//! of an accepted socket, bytes or a close from a connection's reader task, a finished dial, a
//! command from a [`NodeHandle`], or the core's next [`Output::Timeout`]; feeds that to the
//! node; then performs every output (`Transmit` to the connection's writer task, `Dial` in a
//! connect task, `Close`, `Event` to subscribers). Every limit, timeout, retry and decision is
//! the core's. This is the only place clocks are read (`Instant::now`, and `SystemTime::now`
//! once at start).
//!
//! Sockets and timers come from `async-io` and tasks from smol's global executor, which runs on
//! its own threads, so a node works under any executor: `smol::block_on`, `async_std`, or a
//! plain `futures_lite::future::block_on`.
//!
//! ```no_run
//! use qudag_peer::identity::{Identity, PUBLIC_KEY_LEN};
//! use qudag_peer::{Config, Event};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     smol::block_on(async {
//!         let key = std::fs::read("node.key")?; // public key then secret key
//!         let identity = Identity::from_bytes(&key[..PUBLIC_KEY_LEN], &key[PUBLIC_KEY_LEN..])?;
//!         let node = qudag_peer_smol::spawn(Config::local("0.0.0.0:8000".parse()?), identity)?;
//!         let mut events = node.events();
//!         node.add_peer("203.0.113.7:8000", Default::default()).await?;
//!         while let Ok(event) = events.recv().await {
//!             match event {
//!                 Event::PeerConnected { peer, address, .. } => println!("+ {peer} at {address}"),
//!                 Event::PeerDisconnected { peer, reason, .. } => println!("- {peer}: {reason}"),
//!                 _ => {}
//!             }
//!         }
//!         Ok(())
//!     })
//! }
//! ```
#![warn(missing_docs)]

use async_channel::{Receiver, Sender};
use async_io::{Async, Timer};
use futures_lite::{future, AsyncReadExt, AsyncWriteExt, FutureExt};
use qudag_peer::bans::Ban;
use qudag_peer::node::{DurableState, IoFailure, PeerError};
use qudag_peer::peer::{PeerInfo, Priority};
use qudag_peer::reputation::{Report, ReputationScore};
use qudag_peer::UnixMillis;
use qudag_peer::{Config, ConnId, Event, Identity, Input, Node, NodeId, Output, RequestId};
use rand_core::{OsRng, TryRngCore};
use smol::Task;
use std::collections::HashMap;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes read from a socket at a time.
pub const READ_CHUNK: usize = 16 * 1024;

/// Events buffered per subscriber; past that a slow subscriber loses the oldest and gets
/// `RecvError::Overflowed`.
pub const EVENT_CAPACITY: usize = 1024;

type Call = Box<dyn FnOnce(&mut Node, Instant) + Send>;
type Start = Box<dyn FnOnce(&mut Node, Instant) -> Result<RequestId, PeerError> + Send>;
type Reply<T> = Sender<T>;

/// What a handle asks of the driver.
enum Cmd {
    /// Run against the node (the closure replies itself).
    Call(Call),
    /// Start a request; its finishing event goes back.
    Request(Start, Reply<Result<Event, PeerError>>),
    /// `Node::shutdown`, then stop once it completes.
    Shutdown(Reply<()>),
}

/// What a socket task reports.
enum Io {
    Connected(ConnId, Async<TcpStream>),
    ConnectFailed(ConnId, IoFailure),
    Data(ConnId, Vec<u8>),
    Closed(ConnId, IoFailure),
    /// A datagram on a DNS socket.
    Dns(Vec<u8>),
}

/// What woke the driver.
enum Wake {
    Accepted(io::Result<(Async<TcpStream>, SocketAddr)>),
    Io(Io),
    Cmd(Option<Cmd>),
    Timer,
}

/// Starts a node: binds `config.network.listen` (port 0 picks a free port, which is then the
/// advertised one) and spawns its driver with `smol::spawn`; callable from any thread, in or
/// out of an async context. The driver runs until [`NodeHandle::shutdown`] or until every
/// handle is dropped (which shuts down the same way).
pub fn spawn(config: Config, identity: Identity) -> io::Result<NodeHandle> {
    spawn_with(config, identity, None)
}

/// [`spawn`], restoring saved records (`Node::restore`) right after the node is created, so
/// known addresses, reputation and bans are in force before it dials or accepts anyone.
pub fn spawn_with(
    mut config: Config,
    identity: Identity,
    state: Option<DurableState>,
) -> io::Result<NodeHandle> {
    let listener = Async::new(TcpListener::bind(config.network.listen)?)?;
    let local_addr = listener.get_ref().local_addr()?;
    config.network.listen = local_addr;
    let mut seed = [0u8; 32];
    OsRng.try_fill_bytes(&mut seed).map_err(io::Error::other)?;
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let now = Instant::now();
    let mut node = Node::new(config, identity, seed, now, UnixMillis(unix));
    if let Some(state) = state {
        node.restore(state, now);
    }
    let node_id = node.node_id();
    let (cmds, cmd_rx) = async_channel::unbounded();
    let (io, io_rx) = async_channel::unbounded();
    let (mut events, events_rx) = async_broadcast::broadcast(EVENT_CAPACITY);
    events.set_overflow(true);
    events.set_await_active(false);
    let handle = NodeHandle {
        cmds,
        events: events_rx.deactivate(),
        node_id,
        local_addr,
    };
    let driver = Driver {
        node,
        io,
        events,
        writers: HashMap::new(),
        tasks: HashMap::new(),
        dns: HashMap::new(),
        requests: HashMap::new(),
        stopping: Vec::new(),
        stop_at: None,
        shutdown_complete: false,
    };
    smol::spawn(driver.run(listener, cmd_rx, io_rx)).detach();
    Ok(handle)
}

/// Talks to a running node. Cheap to clone; every clone drives the same node.
#[derive(Clone)]
pub struct NodeHandle {
    cmds: Sender<Cmd>,
    events: async_broadcast::InactiveReceiver<Event>,
    node_id: NodeId,
    local_addr: SocketAddr,
}

impl std::fmt::Debug for NodeHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("node_id", &self.node_id)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl NodeHandle {
    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The address the listener is bound to (and advertised).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Every event from now on. The receiver ends when the node stops.
    pub fn events(&self) -> async_broadcast::Receiver<Event> {
        self.events.activate_cloned()
    }

    /// Dials `address` (any format the core parses) and waits for the handshake's outcome.
    pub async fn add_peer(&self, address: &str, priority: Priority) -> Result<NodeId, PeerError> {
        let address = address.to_string();
        match self
            .request(move |n, now| n.add_peer(&address, priority, now))
            .await?
        {
            Event::AddPeerFinished { result, .. } => result,
            _ => Err(PeerError::ShuttingDown),
        }
    }

    /// Disconnects a peer (node id, unique id prefix, or address) gracefully and waits until
    /// the connection is closed.
    pub async fn remove_peer(&self, target: &str, ban: bool) -> Result<(), PeerError> {
        let target = target.to_string();
        self.request(move |n, now| n.remove_peer(&target, ban, now))
            .await
            .map(drop)
    }

    /// Bans a node id, an IP address or a CIDR subnet for `duration` (`None`: permanently);
    /// see `Node::ban`.
    pub async fn ban(
        &self,
        target: &str,
        duration: Option<Duration>,
        reason: &str,
    ) -> Result<Ban, PeerError> {
        let (target, reason) = (target.to_string(), reason.to_string());
        self.call(move |n, now| n.ban(&target, duration, &reason, now))
            .await?
    }

    /// Lifts a ban.
    pub async fn unban(&self, target: &str) -> Result<Ban, PeerError> {
        let target = target.to_string();
        self.call(move |n, now| n.unban(&target, now)).await?
    }

    /// The active bans.
    pub async fn bans(&self) -> Vec<Ban> {
        self.call(|n, now| n.bans(now)).await.unwrap_or_default()
    }

    /// Reports an observation about a peer to its reputation (see `Node::report`).
    pub async fn report(&self, peer: NodeId, report: Report) -> Result<ReputationScore, PeerError> {
        self.call(move |n, now| n.report(&peer, report, now)).await
    }

    /// Spec 6.4's `report_invalid_message`.
    pub async fn report_invalid_message(&self, peer: NodeId) -> Result<ReputationScore, PeerError> {
        self.report(peer, Report::InvalidMessage).await
    }

    /// Runs `f` on the node inside the driver (for queries this handle has no method for).
    pub async fn with_node<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> Result<T, PeerError> {
        self.call(f).await
    }

    /// Every live connection.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.call(|n, _| n.peers()).await.unwrap_or_default()
    }

    /// Sends an application payload to a connected peer.
    pub async fn send_app(&self, peer: NodeId, payload: Vec<u8>) -> Result<(), PeerError> {
        self.call(move |n, _| n.send_app(&peer, &payload)).await?
    }

    /// Disconnects every peer gracefully, waits for [`Event::ShutdownComplete`] (at most the
    /// configured `disconnect_timeout` plus one second), then stops the driver.
    pub async fn shutdown(&self) {
        let (tx, rx) = async_channel::bounded(1);
        if self.cmds.send(Cmd::Shutdown(tx)).await.is_ok() {
            let _ = rx.recv().await;
        }
    }

    /// Runs `f` on the node inside the driver and returns its result.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> Result<T, PeerError> {
        let (tx, rx) = async_channel::bounded(1);
        let call: Call = Box::new(move |n, now| drop(tx.try_send(f(n, now))));
        self.cmds
            .send(Cmd::Call(call))
            .await
            .map_err(|_| PeerError::ShuttingDown)?;
        rx.recv().await.map_err(|_| PeerError::ShuttingDown)
    }

    /// Starts a request with `f` and waits for the event that finishes it.
    async fn request(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> Result<RequestId, PeerError> + Send + 'static,
    ) -> Result<Event, PeerError> {
        let (tx, rx) = async_channel::bounded(1);
        self.cmds
            .send(Cmd::Request(Box::new(f), tx))
            .await
            .map_err(|_| PeerError::ShuttingDown)?;
        rx.recv().await.map_err(|_| PeerError::ShuttingDown)?
    }
}

/// The task that owns the node.
struct Driver {
    node: Node,
    io: Sender<Io>,
    events: async_broadcast::Sender<Event>,
    /// Per open connection: its writer task's queue (closing it flushes and shuts down).
    writers: HashMap<ConnId, Sender<Vec<u8>>>,
    /// Per connection: its dial task while connecting, then its reader task (drop = cancel).
    tasks: HashMap<ConnId, Task<()>>,
    /// Per local address: a UDP socket for DNS queries and its reader task (drop = cancel).
    dns: HashMap<SocketAddr, (Arc<Async<UdpSocket>>, Task<()>)>,
    requests: HashMap<RequestId, Reply<Result<Event, PeerError>>>,
    stopping: Vec<Reply<()>>,
    stop_at: Option<Instant>,
    shutdown_complete: bool,
}

impl Driver {
    async fn run(mut self, listener: Async<TcpListener>, cmds: Receiver<Cmd>, io: Receiver<Io>) {
        let mut handles_alive = true;
        loop {
            let mut wake = self.perform();
            if let Some(stop_at) = self.stop_at {
                if self.shutdown_complete || Instant::now() >= stop_at {
                    break;
                }
                wake = wake.min(stop_at);
            }
            let woke = async { Wake::Io(io.recv().await.expect("the driver holds a sender")) }
                .race(async {
                    if handles_alive {
                        Wake::Cmd(cmds.recv().await.ok())
                    } else {
                        future::pending().await
                    }
                })
                .race(async { Wake::Accepted(listener.accept().await) })
                .race(async {
                    Timer::at(wake).await;
                    Wake::Timer
                })
                .await;
            match woke {
                Wake::Accepted(Ok((stream, remote))) => {
                    let conn = self.node.accept(remote, Instant::now());
                    self.open(conn, stream);
                }
                Wake::Accepted(Err(_)) => {}
                Wake::Io(msg) => self.on_io(msg),
                Wake::Cmd(Some(cmd)) => self.on_cmd(cmd),
                Wake::Cmd(None) => {
                    handles_alive = false;
                    self.begin_shutdown();
                }
                Wake::Timer => self.node.handle_input(Input::Timeout {
                    now: Instant::now(),
                }),
            }
        }
        self.tasks.clear();
        self.dns.clear();
        self.writers.clear();
        for reply in self.stopping.drain(..) {
            let _ = reply.try_send(());
        }
    }

    /// Performs every pending output; returns when the node next wants `Input::Timeout`.
    fn perform(&mut self) -> Instant {
        loop {
            match self.node.poll_output() {
                Output::Transmit { conn, bytes } => {
                    if let Some(writer) = self.writers.get(&conn) {
                        let _ = writer.try_send(bytes);
                    }
                }
                Output::Dial { conn, addr } => {
                    let io = self.io.clone();
                    let dial = smol::spawn(async move {
                        let _ = io.try_send(match Async::<TcpStream>::connect(addr).await {
                            Ok(stream) => Io::Connected(conn, stream),
                            Err(e) => Io::ConnectFailed(conn, IoFailure::from_io_error(&e)),
                        });
                    });
                    self.tasks.insert(conn, dial);
                }
                Output::Close { conn } => {
                    self.writers.remove(&conn);
                    self.tasks.remove(&conn);
                }
                Output::DnsQuery { server, bytes, .. } => {
                    let conf = || std::fs::read_to_string(qudag_peer::dns::RESOLV_CONF_PATH).ok();
                    if let Some((bind, server)) = qudag_peer::dns::udp_route(server, conf) {
                        self.send_dns(bind, server, &bytes);
                    }
                }
                Output::Event(event) => self.on_event(event),
                Output::Timeout { at, .. } => return at,
                _ => {}
            }
        }
    }

    /// Sends a DNS query from the UDP socket bound to `bind` (opened, with a reader task that
    /// feeds every datagram back, on first use). A failed send is dropped: the core retries.
    fn send_dns(&mut self, bind: SocketAddr, server: SocketAddr, bytes: &[u8]) {
        if !self.dns.contains_key(&bind) {
            let Ok(socket) = Async::<UdpSocket>::bind(bind) else {
                return;
            };
            let (socket, io) = (Arc::new(socket), self.io.clone());
            let rd = socket.clone();
            let reader = smol::spawn(async move {
                let mut buf = vec![0u8; qudag_peer::dns::MAX_DNS_RESPONSE_LEN];
                loop {
                    let msg = match rd.recv(&mut buf).await {
                        Ok(n) => Io::Dns(buf[..n].to_vec()),
                        Err(e) if qudag_peer::dns::transient_udp_error(e.kind()) => continue,
                        Err(_) => return,
                    };
                    if io.try_send(msg).is_err() {
                        return;
                    }
                }
            });
            self.dns.insert(bind, (socket, reader));
        }
        let _ = self.dns[&bind].0.get_ref().send_to(bytes, server);
    }

    fn on_event(&mut self, event: Event) {
        let request = match &event {
            Event::AddPeerFinished { request, .. } | Event::RemovePeerFinished { request, .. } => {
                Some(*request)
            }
            Event::ShutdownComplete => {
                self.shutdown_complete = true;
                None
            }
            _ => None,
        };
        if let Some(reply) = request.and_then(|r| self.requests.remove(&r)) {
            let _ = reply.try_send(Ok(event.clone()));
        }
        let _ = self.events.try_broadcast(event);
    }

    /// Starts the reader and writer tasks of a connected socket.
    fn open(&mut self, conn: ConnId, stream: Async<TcpStream>) {
        let _ = stream.get_ref().set_nodelay(true);
        let stream = Arc::new(stream);
        let (tx, rx) = async_channel::unbounded::<Vec<u8>>();
        let (io, wr) = (self.io.clone(), stream.clone());
        smol::spawn(async move {
            while let Ok(bytes) = rx.recv().await {
                if let Err(e) = (&*wr).write_all(&bytes).await {
                    let _ = io.try_send(Io::Closed(conn, IoFailure::from_io_error(&e)));
                    return;
                }
            }
            let _ = wr.get_ref().shutdown(Shutdown::Write);
        })
        .detach();
        let io = self.io.clone();
        let reader = smol::spawn(async move {
            let mut buf = vec![0u8; READ_CHUNK];
            loop {
                let (msg, last) = match (&*stream).read(&mut buf).await {
                    Ok(0) => (Io::Closed(conn, IoFailure::Eof), true),
                    Ok(n) => (Io::Data(conn, buf[..n].to_vec()), false),
                    Err(e) => (Io::Closed(conn, IoFailure::from_io_error(&e)), true),
                };
                if io.try_send(msg).is_err() || last {
                    return;
                }
            }
        });
        self.writers.insert(conn, tx);
        self.tasks.insert(conn, reader);
    }

    /// Feeds a socket report to the node, unless the node already closed that connection.
    fn on_io(&mut self, msg: Io) {
        let now = Instant::now();
        match msg {
            Io::Connected(conn, stream) => {
                if self.tasks.remove(&conn).is_some() {
                    self.open(conn, stream);
                    self.node.handle_input(Input::Connected { conn, now });
                }
            }
            Io::ConnectFailed(conn, cause) => {
                if self.tasks.remove(&conn).is_some() {
                    let input = Input::ConnectFailed { conn, cause, now };
                    self.node.handle_input(input);
                }
            }
            Io::Data(conn, data) => {
                if self.writers.contains_key(&conn) {
                    let input = Input::Received {
                        conn,
                        data: &data,
                        now,
                    };
                    self.node.handle_input(input);
                }
            }
            Io::Closed(conn, cause) => {
                if self.writers.remove(&conn).is_some() {
                    self.tasks.remove(&conn);
                    self.node.handle_input(Input::Closed { conn, cause, now });
                }
            }
            Io::Dns(data) => self
                .node
                .handle_input(Input::DnsResponse { data: &data, now }),
        }
    }

    fn on_cmd(&mut self, cmd: Cmd) {
        match cmd {
            Cmd::Call(f) => f(&mut self.node, Instant::now()),
            Cmd::Request(start, reply) => match start(&mut self.node, Instant::now()) {
                Ok(request) => {
                    self.requests.insert(request, reply);
                }
                Err(e) => {
                    let _ = reply.try_send(Err(e));
                }
            },
            Cmd::Shutdown(reply) => {
                self.stopping.push(reply);
                self.begin_shutdown();
            }
        }
    }

    fn begin_shutdown(&mut self) {
        if self.stop_at.is_none() {
            let now = Instant::now();
            self.node.shutdown(now);
            let grace = self.node.config().network.peers.disconnect_timeout;
            self.stop_at = Some(now + grace + Duration::from_secs(1));
        }
    }
}
