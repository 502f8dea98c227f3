//! # qudag-peer-tokio: the Tokio adapter for `qudag-peer`
//!
//! [`spawn`] binds a TCP listener (and, with `network.quic_listen`, a QUIC endpoint) and starts
//! one driver task that owns the sans-IO [`Node`]. The driver only carries bytes and time: it
//! waits for the earliest of an accepted socket or QUIC stream, bytes or a close from a connection's reader task, a finished dial, a
//! command from a [`NodeHandle`], or the core's next `Output::Timeout`; feeds that to the
//! node; then performs every output (`Transmit` to the connection's writer task, `Dial` in a
//! connect task, `Close`, `Event` to subscribers). Every limit, timeout, retry and decision is
//! the core's; the runtime-independent parts of the handle and the driver (commands, pending
//! requests, shutdown, which outputs and socket reports go where) are `qudag_peer_runtime`'s.
//! This crate reads the monotonic clock (`Instant::now`); `qudag_peer_runtime::new_node`
//! reads the wall clock once at start.
//!
//! ```no_run
//! use qudag_peer::{Identity, PUBLIC_KEY_LEN};
//! use qudag_peer::{Config, Event};
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let key = std::fs::read("node.key")?; // public key then secret key
//!     let identity = Identity::from_bytes(&key[..PUBLIC_KEY_LEN], &key[PUBLIC_KEY_LEN..])?;
//!     let node = qudag_peer_tokio::spawn(Config::local("0.0.0.0:8000".parse()?), identity)?;
//!     let mut events = node.events();
//!     node.add_peer("203.0.113.7:8000", Default::default()).await?;
//!     while let Ok(event) = events.recv().await {
//!         match event {
//!             Event::PeerConnected { peer, address, .. } => println!("+ {peer} at {address}"),
//!             Event::PeerDisconnected { peer, reason, .. } => println!("- {peer}: {reason}"),
//!             _ => {}
//!         }
//!     }
//!     Ok(())
//! }
//! ```
#![warn(missing_docs)]

use async_channel::Sender;
use qudag_peer::{Config, ConnId, Event, Identity, Input, Node, Transport};
use qudag_peer::{DurableState, IoFailure};
use qudag_peer_runtime::quic::{self, Pending, QuicEndpoints, QuicStream};
use qudag_peer_runtime::{new_node, Commands, Control, Events, Sockets, Stream};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, mpsc};
use tokio::task::JoinHandle;

/// Bytes read from a socket at a time (a stack buffer, only while the socket is readable).
pub const READ_CHUNK: usize = 16 * 1024;

/// Events buffered per subscriber; a slower subscriber gets `RecvError::Lagged`.
pub const EVENT_CAPACITY: usize = 1024;

/// What a socket task reports.
type Io = qudag_peer_runtime::Io<Stream<TcpStream>>;

/// Starts a node: binds `config.network.listen` and, if set, `config.network.quic_listen`
/// (port 0 picks a free port, which is then the advertised one) and spawns its driver with `tokio::spawn`, so call it inside a runtime.
/// The driver runs until [`NodeHandle::shutdown`] or until every handle is dropped (which
/// shuts down the same way).
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
    let listener = std::net::TcpListener::bind(config.network.listen)?;
    listener.set_nonblocking(true)?;
    let listener = TcpListener::from_std(listener)?;
    let local_addr = listener.local_addr()?;
    config.network.listen = local_addr;
    let quic = QuicEndpoints::new(&config, Arc::new(quinn::TokioRuntime))?;
    config.network.quic_listen = quic.local_addr();
    let node = new_node(config, identity, state)?;
    let events = broadcast::channel(EVENT_CAPACITY).0;
    let (handle, cmds) = NodeHandle::new(
        TokioEvents(events.downgrade()),
        node.node_id(),
        local_addr,
        quic.local_addr(),
    );
    let (io, io_rx) = mpsc::unbounded_channel();
    let driver = Driver {
        node,
        io,
        events,
        writers: HashMap::new(),
        tasks: HashMap::new(),
        dns: HashMap::new(),
        control: Control::default(),
        quic,
        pending: Pending::default(),
    };
    tokio::spawn(driver.run(listener, cmds, io_rx));
    Ok(handle)
}

/// Talks to a running node. Cheap to clone; every clone drives the same node. Its
/// [`events`](qudag_peer_runtime::NodeHandle::events) are a Tokio `broadcast::Receiver`.
pub type NodeHandle = qudag_peer_runtime::NodeHandle<TokioEvents>;

/// The event channel a [`NodeHandle`] subscribes to, held without keeping it open.
#[derive(Clone, Debug)]
pub struct TokioEvents(broadcast::WeakSender<Event>);

impl Events for TokioEvents {
    type Receiver = broadcast::Receiver<Event>;

    fn subscribe(&self) -> broadcast::Receiver<Event> {
        match self.0.upgrade() {
            Some(tx) => tx.subscribe(),
            None => broadcast::channel(1).1,
        }
    }
}

/// The task that owns the node.
struct Driver {
    node: Node,
    io: mpsc::UnboundedSender<Io>,
    events: broadcast::Sender<Event>,
    /// Per open connection: its writer task's queue (dropping it flushes and shuts down).
    writers: HashMap<ConnId, Sender<Vec<u8>>>,
    /// Per connection: its dial task while connecting, then its reader task.
    tasks: HashMap<ConnId, JoinHandle<()>>,
    /// Per local address: a UDP socket for DNS queries and its reader task.
    dns: HashMap<SocketAddr, (Arc<UdpSocket>, JoinHandle<()>)>,
    control: Control,
    /// The QUIC endpoints (the listening one if `network.quic_listen` is set).
    quic: QuicEndpoints,
    /// Inbound QUIC connections waiting for their stream.
    pending: Pending,
}

impl Driver {
    async fn run(
        mut self,
        listener: TcpListener,
        cmds: Commands,
        mut io: mpsc::UnboundedReceiver<Io>,
    ) {
        let mut handles_alive = true;
        let server = self.quic.server().cloned();
        let mut quic_open = server.is_some();
        loop {
            let wake = self.perform();
            let Some(wake) = self.control.wake(wake, Instant::now()) else {
                break;
            };
            tokio::select! {
                accepted = listener.accept() => {
                    if let Ok((stream, remote)) = accepted {
                        let conn = self.node.accept(remote, Instant::now());
                        self.open(conn, Stream::Tcp(stream));
                    }
                }
                incoming = async { server.as_ref()?.accept().await }, if quic_open => {
                    match incoming {
                        Some(incoming) => self.accept_quic(incoming),
                        None => quic_open = false,
                    }
                }
                Some(msg) = io.recv() => self.on_io(msg, Instant::now()),
                cmd = cmds.recv(), if handles_alive => match cmd {
                    Ok(cmd) => self.control.on_cmd(&mut self.node, cmd, Instant::now()),
                    Err(_) => {
                        handles_alive = false;
                        self.control.begin_shutdown(&mut self.node, Instant::now());
                    }
                },
                () = tokio::time::sleep_until(wake.into()) => {
                    self.node.handle_input(Input::Timeout { now: Instant::now() });
                }
            }
        }
        let dns = self.dns.drain().map(|(_, (_, task))| task);
        for task in self.tasks.drain().map(|(_, task)| task).chain(dns) {
            task.abort();
        }
        self.writers.clear();
        self.quic.close();
        self.control.finish();
    }

    /// Completes an inbound QUIC connection in a task that reports its stream.
    fn accept_quic(&mut self, incoming: quinn::Incoming) {
        let Some((incoming, slot)) = quic::admit(incoming, &self.pending) else {
            return;
        };
        let wait = self.node.config().network.peers.handshake_timeout;
        let io = self.io.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::sleep(wait);
            if let Some((remote, stream)) = quic::accept(incoming, slot, deadline).await {
                let _ = io.send(Io::QuicAccepted(remote, stream));
            }
        });
    }
}

impl Sockets for Driver {
    type Stream = Stream<TcpStream>;

    fn node(&mut self) -> &mut Node {
        &mut self.node
    }

    fn end_dial(&mut self, conn: ConnId) -> bool {
        self.tasks.remove(&conn).is_some()
    }

    fn is_open(&self, conn: ConnId) -> bool {
        self.writers.contains_key(&conn)
    }

    fn quic_stream(stream: QuicStream) -> Self::Stream {
        Stream::Quic(stream)
    }

    fn open(&mut self, conn: ConnId, stream: Self::Stream) {
        let (tx, rx) = async_channel::unbounded::<Vec<u8>>();
        let stream = match stream {
            Stream::Tcp(stream) => stream,
            Stream::Quic(QuicStream {
                conn: q,
                send,
                recv,
            }) => {
                let io = self.io.clone();
                tokio::spawn(quic::write_loop((q, send), rx, conn, move |m| {
                    io.send(m).is_ok()
                }));
                let io = self.io.clone();
                let reader = tokio::spawn(quic::read_loop(recv, conn, move |m| io.send(m).is_ok()));
                self.writers.insert(conn, tx);
                self.tasks.insert(conn, reader);
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        let (rd, mut wr) = stream.into_split();
        let io = self.io.clone();
        tokio::spawn(async move {
            while let Ok(bytes) = rx.recv().await {
                if let Err(e) = wr.write_all(&bytes).await {
                    let _ = io.send(Io::Closed(conn, IoFailure::from_io_error(&e)));
                    return;
                }
            }
            let _ = wr.shutdown().await;
        });
        let io = self.io.clone();
        let reader = tokio::spawn(async move {
            loop {
                // Wait for readiness first and read into a stack buffer that never lives
                // across an await: an idle connection holds no read buffer (READ_CHUNK).
                let ready = rd.readable().await;
                let mut buf = [0u8; READ_CHUNK];
                let (msg, last) = match ready.and_then(|()| rd.try_read(&mut buf)) {
                    Ok(0) => (Io::Closed(conn, IoFailure::Eof), true),
                    Ok(n) => (Io::Data(conn, buf[..n].to_vec()), false),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => (Io::Closed(conn, IoFailure::from_io_error(&e)), true),
                };
                if io.send(msg).is_err() || last {
                    return;
                }
            }
        });
        self.writers.insert(conn, tx);
        self.tasks.insert(conn, reader);
    }

    fn close(&mut self, conn: ConnId) -> bool {
        let open = self.writers.remove(&conn).is_some();
        if let Some(task) = self.tasks.remove(&conn) {
            task.abort();
        }
        open
    }

    fn transmit(&mut self, conn: ConnId, bytes: Vec<u8>) {
        if let Some(writer) = self.writers.get(&conn) {
            let _ = writer.try_send(bytes);
        }
    }

    fn dial(&mut self, conn: ConnId, addr: SocketAddr, transport: Transport) {
        let io = self.io.clone();
        let dial = match transport {
            Transport::Quic => {
                let endpoint = self.quic.for_dial(addr);
                tokio::spawn(async move {
                    let r = match endpoint {
                        Ok(endpoint) => quic::dial(endpoint, addr).await,
                        Err(e) => Err(IoFailure::from_io_error(&e)),
                    };
                    let _ = io.send(match r {
                        Ok(stream) => Io::Connected(conn, Stream::Quic(stream)),
                        Err(cause) => Io::ConnectFailed(conn, cause),
                    });
                })
            }
            _ => tokio::spawn(async move {
                let _ = io.send(match TcpStream::connect(addr).await {
                    Ok(stream) => Io::Connected(conn, Stream::Tcp(stream)),
                    Err(e) => Io::ConnectFailed(conn, IoFailure::from_io_error(&e)),
                });
            }),
        };
        self.tasks.insert(conn, dial);
    }

    fn send_dns(&mut self, bind: SocketAddr, server: SocketAddr, bytes: &[u8]) {
        if !self.dns.contains_key(&bind) {
            let Ok(socket) = std::net::UdpSocket::bind(bind)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(UdpSocket::from_std)
            else {
                return;
            };
            let (socket, io) = (Arc::new(socket), self.io.clone());
            let rd = socket.clone();
            let reader = tokio::spawn(async move {
                let mut buf = vec![0u8; qudag_peer::MAX_DNS_RESPONSE_LEN];
                loop {
                    let msg = match rd.recv(&mut buf).await {
                        Ok(n) => Io::Dns(buf[..n].to_vec()),
                        Err(e) if qudag_peer::transient_udp_error(e.kind()) => continue,
                        Err(_) => return,
                    };
                    if io.send(msg).is_err() {
                        return;
                    }
                }
            });
            self.dns.insert(bind, (socket, reader));
        }
        let _ = self.dns[&bind].0.try_send_to(bytes, server);
    }

    fn control(&mut self) -> &mut Control {
        &mut self.control
    }

    fn publish(&mut self, event: Event) {
        let _ = self.events.send(event);
    }
}
