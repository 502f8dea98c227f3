//! The driver: one task per node, the same for every [`Runtime`].
//!
//! It owns the sans-IO [`Node`] and only carries bytes and time: it waits for the earliest of
//! an accepted TCP socket or QUIC connection, a report from a socket task (bytes, a close, a
//! finished dial, a DNS datagram), a command from a [`NodeHandle`], or the core's next
//! `Output::Timeout`; feeds that to the node; then performs every output (`Transmit` to the
//! connection's writer task, `Dial` in a connect task, `Close`, `DnsQuery` from a UDP socket,
//! `Event` to the subscribers). Every limit, timeout, retry and decision is the core's. A dial
//! through the SOCKS5 proxy is a plain TCP dial to the proxy: the core negotiates SOCKS5 in
//! the bytes it transmits and receives.
//!
//! Per connection there are two tasks: a reader (cancelled when the connection is closed) and
//! a writer (which ends, flushing and shutting down its half, when the driver drops its
//! queue). A reader reads into a stack buffer that lives only while the socket is polled, so
//! an idle connection holds no read buffer.
use crate::quic::{self, Pending, QuicEndpoints, QuicStream};
use crate::{dns_route, new_node, Commands, Control, Events, NodeHandle, Runtime, READ_CHUNK};
use async_channel::{Receiver, Sender};
use futures_lite::{future, FutureExt};
use qudag_peer::{
    Config, ConnId, DurableState, Event, Identity, Input, IoFailure, Node, Output, Transport,
};
use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// The queues between the driver and its tasks, all made here. Both are unbounded today:
/// the core bounds what it queues per connection, and a report is small.
mod queue {
    use super::Io;
    use async_channel::{Receiver, Sender};

    /// A connection's writer queue: its `Output::Transmit`s, in order.
    pub(super) fn writer() -> (Sender<Vec<u8>>, Receiver<Vec<u8>>) {
        async_channel::unbounded()
    }

    /// What the socket tasks report to the driver.
    pub(super) fn reports<S>() -> (Sender<Io<S>>, Receiver<Io<S>>) {
        async_channel::unbounded()
    }
}

/// A connected transport: the runtime's TCP stream `T`, or a QUIC connection's stream.
pub(crate) enum Stream<T> {
    Tcp(T),
    Quic(QuicStream),
}

/// What a socket task reports to its driver; `S` is the connected stream.
pub(crate) enum Io<S> {
    /// A dial finished.
    Connected(ConnId, S),
    /// An inbound QUIC connection opened its stream (see [`quic::accept`]).
    QuicAccepted(SocketAddr, QuicStream),
    /// A dial failed.
    ConnectFailed(ConnId, IoFailure),
    /// Bytes read from a connection.
    Data(ConnId, Vec<u8>),
    /// A connection's reader or writer stopped.
    Closed(ConnId, IoFailure),
    /// A datagram on a DNS socket.
    Dns(Vec<u8>),
}

type Report<R> = Io<Stream<<R as Runtime>::Tcp>>;

/// What woke the driver.
enum Wake<R: Runtime> {
    Accepted(io::Result<(R::Tcp, SocketAddr)>),
    Quic(Option<Box<quinn::Incoming>>),
    Io(Report<R>),
    Cmd(Option<crate::Cmd>),
    Timer,
}

/// Starts a node on `rt`: binds `config.network.listen` and, if set,
/// `config.network.quic_listen` (port 0 picks a free port, which is then the advertised one),
/// creates the node (restoring `state`, see [`new_node`]) and spawns its driver. Events go to
/// `publish`; `events` is what the handles subscribe to. The driver runs until
/// [`NodeHandle::shutdown`] or until every handle is dropped (which shuts down the same way).
pub fn spawn<R: Runtime, E: Events>(
    rt: R,
    mut config: Config,
    identity: Identity,
    state: Option<DurableState>,
    events: E,
    publish: impl FnMut(Event) + Send + 'static,
) -> io::Result<NodeHandle<E>> {
    let listener = std::net::TcpListener::bind(config.network.listen)?;
    listener.set_nonblocking(true)?;
    let local_addr = listener.local_addr()?;
    let listener = rt.listener(listener)?;
    config.network.listen = local_addr;
    let quinn = rt.quinn();
    let quic = QuicEndpoints::new(&config, quinn.clone())?;
    config.network.quic_listen = quic.local_addr();
    let node = new_node(config, identity, state)?;
    let (handle, cmds) = NodeHandle::new(events, node.node_id(), local_addr, quic.local_addr());
    let (io, io_rx) = queue::reports();
    let driver = Driver {
        rt: rt.clone(),
        quinn,
        node,
        io,
        publish: Box::new(publish),
        writers: HashMap::new(),
        tasks: HashMap::new(),
        dns: HashMap::new(),
        control: Control::default(),
        quic,
        pending: Pending::default(),
    };
    rt.spawn_detached(driver.run(listener, cmds, io_rx));
    Ok(handle)
}

/// The task that owns the node.
struct Driver<R: Runtime> {
    rt: R,
    quinn: Arc<dyn quinn::Runtime>,
    node: Node,
    io: Sender<Report<R>>,
    publish: Box<dyn FnMut(Event) + Send>,
    /// Per open connection: its writer task's queue (dropping it flushes and shuts down).
    writers: HashMap<ConnId, Sender<Vec<u8>>>,
    /// Per connection: its dial task while connecting, then its reader task (drop = cancel).
    tasks: HashMap<ConnId, R::Task>,
    /// Per local address: a UDP socket for DNS queries and its reader task (drop = cancel).
    dns: HashMap<SocketAddr, (Arc<R::Udp>, R::Task)>,
    control: Control,
    /// The QUIC endpoints (the listening one if `network.quic_listen` is set).
    quic: QuicEndpoints,
    /// Inbound QUIC connections waiting for their stream.
    pending: Pending,
}

/// A future that ends at `at`, on `quinn`'s timer.
fn sleep_until(quinn: &dyn quinn::Runtime, at: Instant) -> impl Future<Output = ()> + Send {
    let mut timer = quinn.new_timer(at);
    future::poll_fn(move |cx| timer.as_mut().poll(cx))
}

impl<R: Runtime> Driver<R> {
    async fn run(mut self, listener: R::Listener, cmds: Commands, io: Receiver<Report<R>>) {
        let mut handles_alive = true;
        let server = self.quic.server().cloned();
        let mut quic_open = server.is_some();
        let mut timer = self.quinn.new_timer(self.rt.now());
        loop {
            let wake = self.perform();
            let Some(wake) = self.control.wake(wake, self.rt.now()) else {
                break;
            };
            timer.as_mut().reset(wake);
            let woke = async { Wake::<R>::Io(io.recv().await.expect("the driver holds a sender")) }
                .race(async {
                    if handles_alive {
                        Wake::Cmd(cmds.recv().await.ok())
                    } else {
                        future::pending().await
                    }
                })
                .race(async { Wake::Accepted(R::accept(&listener).await) })
                .race(async {
                    match &server {
                        Some(server) if quic_open => {
                            Wake::Quic(server.accept().await.map(Box::new))
                        }
                        _ => future::pending().await,
                    }
                })
                .race(async {
                    future::poll_fn(|cx| timer.as_mut().poll(cx)).await;
                    Wake::Timer
                })
                .await;
            let now = self.rt.now();
            match woke {
                Wake::Accepted(Ok((tcp, remote))) => {
                    let conn = self.node.accept(remote, now);
                    self.open(conn, Stream::Tcp(tcp));
                }
                Wake::Accepted(Err(_)) => {}
                Wake::Quic(Some(incoming)) => self.accept_quic(*incoming),
                Wake::Quic(None) => quic_open = false,
                Wake::Io(msg) => self.on_io(msg, now),
                Wake::Cmd(Some(cmd)) => self.control.on_cmd(&mut self.node, cmd, now),
                Wake::Cmd(None) => {
                    handles_alive = false;
                    self.control.begin_shutdown(&mut self.node, now);
                }
                Wake::Timer => self.node.handle_input(Input::Timeout { now }),
            }
        }
        self.tasks.clear();
        self.dns.clear();
        self.writers.clear();
        self.quic.close();
        self.control.finish();
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
                Output::Dial {
                    conn,
                    addr,
                    transport,
                } => self.dial(conn, addr, transport),
                Output::Close { conn } => {
                    self.close(conn);
                }
                Output::DnsQuery { server, bytes, .. } => {
                    if let Some((bind, server)) = dns_route(server) {
                        self.send_dns(bind, server, &bytes);
                    }
                }
                Output::Event(event) => {
                    self.control.on_event(&event);
                    (self.publish)(event);
                }
                Output::Timeout { at, .. } => return at,
                _ => {}
            }
        }
    }

    /// Feeds a socket report to the node, unless the node already closed that connection.
    fn on_io(&mut self, msg: Report<R>, now: Instant) {
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
                if self.close(conn) {
                    self.node.handle_input(Input::Closed { conn, cause, now });
                }
            }
            Io::QuicAccepted(remote, stream) => {
                let conn = self.node.accept_via(remote, Transport::Quic, now);
                self.open(conn, Stream::Quic(stream));
            }
            Io::Dns(data) => self
                .node
                .handle_input(Input::DnsResponse { data: &data, now }),
        }
    }

    /// Starts the reader and writer tasks of a connected socket.
    fn open(&mut self, conn: ConnId, stream: Stream<R::Tcp>) {
        let (tx, rx) = queue::writer();
        let (io, report) = (self.io.clone(), self.io.clone());
        let reader = match stream {
            Stream::Tcp(tcp) => {
                let (rd, wr) = R::split(tcp);
                self.rt.spawn_detached(write_loop::<R>(wr, rx, conn, io));
                self.rt.spawn(read_loop::<R>(rd, conn, report))
            }
            Stream::Quic(QuicStream {
                conn: q,
                send,
                recv,
            }) => {
                let write = quic::write_loop((q, send), rx, conn, move |m| io.try_send(m).is_ok());
                self.rt.spawn_detached(write);
                let read = quic::read_loop(recv, conn, move |m| report.try_send(m).is_ok());
                self.rt.spawn(read)
            }
        };
        self.writers.insert(conn, tx);
        self.tasks.insert(conn, reader);
    }

    /// Drops `conn`'s writer (which flushes and shuts it down) and cancels its reader; `false`
    /// if it had no writer.
    fn close(&mut self, conn: ConnId) -> bool {
        let open = self.writers.remove(&conn).is_some();
        self.tasks.remove(&conn);
        open
    }

    /// Dials `addr` over `transport` in a task that reports [`Io::Connected`] or
    /// [`Io::ConnectFailed`].
    fn dial(&mut self, conn: ConnId, addr: SocketAddr, transport: Transport) {
        let io = self.io.clone();
        let dial = match transport {
            Transport::Quic => {
                let endpoint = self.quic.for_dial(addr);
                self.rt.spawn(async move {
                    let r = match endpoint {
                        Ok(endpoint) => quic::dial(endpoint, addr).await,
                        Err(e) => Err(IoFailure::from_io_error(&e)),
                    };
                    let _ = io.try_send(match r {
                        Ok(stream) => Io::Connected(conn, Stream::Quic(stream)),
                        Err(cause) => Io::ConnectFailed(conn, cause),
                    });
                })
            }
            _ => self.rt.spawn(async move {
                let _ = io.try_send(match R::connect(addr).await {
                    Ok(tcp) => Io::Connected(conn, Stream::Tcp(tcp)),
                    Err(e) => Io::ConnectFailed(conn, IoFailure::from_io_error(&e)),
                });
            }),
        };
        self.tasks.insert(conn, dial);
    }

    /// Sends a DNS query from a UDP socket bound to `bind` (opened, with a reader task that
    /// reports [`Io::Dns`], on first use). A failed send is dropped: the core retries.
    fn send_dns(&mut self, bind: SocketAddr, server: SocketAddr, bytes: &[u8]) {
        if !self.dns.contains_key(&bind) {
            let Ok(socket) = std::net::UdpSocket::bind(bind)
                .and_then(|s| s.set_nonblocking(true).map(|()| s))
                .and_then(|s| self.rt.udp(s))
            else {
                return;
            };
            let socket = Arc::new(socket);
            let reader = self
                .rt
                .spawn(dns_loop::<R>(socket.clone(), self.io.clone()));
            self.dns.insert(bind, (socket, reader));
        }
        let _ = R::try_send_to(&self.dns[&bind].0, bytes, server);
    }

    /// Completes an inbound QUIC connection in a task that reports its stream, giving up
    /// after the core's `handshake_timeout`.
    fn accept_quic(&mut self, incoming: quinn::Incoming) {
        let Some((incoming, slot)) = quic::admit(incoming, &self.pending) else {
            return;
        };
        let wait = self.node.config().network.peers.handshake_timeout;
        let deadline = sleep_until(&*self.quinn, self.rt.now() + wait);
        let io = self.io.clone();
        self.rt.spawn_detached(async move {
            if let Some((remote, stream)) = quic::accept(incoming, slot, deadline).await {
                let _ = io.try_send(Io::QuicAccepted(remote, stream));
            }
        });
    }
}

/// A TCP connection's reader task: reports each chunk read, then how the stream ended.
async fn read_loop<R: Runtime>(mut rd: R::Reader, conn: ConnId, io: Sender<Report<R>>) {
    loop {
        let read = future::poll_fn(|cx| {
            // The buffer lives on the stack during this poll only: an idle connection (a
            // pending read) holds none.
            let mut buf = [0u8; READ_CHUNK];
            R::poll_read(&mut rd, cx, &mut buf).map_ok(|n| buf[..n].to_vec())
        })
        .await;
        let (msg, last) = match read {
            Ok(data) if data.is_empty() => (Io::Closed(conn, IoFailure::Eof), true),
            Ok(data) => (Io::Data(conn, data), false),
            Err(e) => (Io::Closed(conn, IoFailure::from_io_error(&e)), true),
        };
        if io.try_send(msg).is_err() || last {
            return;
        }
    }
}

/// A TCP connection's writer task: writes what the driver queues until the driver drops the
/// queue, then shuts down the writing half. A failed write is reported.
async fn write_loop<R: Runtime>(
    mut wr: R::Writer,
    rx: Receiver<Vec<u8>>,
    conn: ConnId,
    io: Sender<Report<R>>,
) {
    while let Ok(bytes) = rx.recv().await {
        if let Err(e) = R::write_all(&mut wr, &bytes).await {
            let _ = io.try_send(Io::Closed(conn, IoFailure::from_io_error(&e)));
            return;
        }
    }
    R::shutdown(wr).await;
}

/// A DNS socket's reader task: reports each datagram; skips transient errors.
async fn dns_loop<R: Runtime>(socket: Arc<R::Udp>, io: Sender<Report<R>>) {
    let mut buf = vec![0u8; qudag_peer::MAX_DNS_RESPONSE_LEN];
    loop {
        let msg = match R::recv(&socket, &mut buf).await {
            Ok(n) => Io::Dns(buf[..n].to_vec()),
            Err(e) if qudag_peer::transient_udp_error(e.kind()) => continue,
            Err(_) => return,
        };
        if io.try_send(msg).is_err() {
            return;
        }
    }
}
