//! # qudag-peer-smol: the smol adapter for `qudag-peer`
//!
//! [`spawn`] binds a TCP listener (and, with `network.quic_listen`, a QUIC endpoint) and starts
//! one driver task (on smol's global executor) that owns the sans-IO `Node`. The driver, its
//! socket tasks and the [`NodeHandle`] are `qudag_peer_runtime`'s, the same for every
//! runtime; this crate is its [`Runtime`] on smol ([`Smol`]: tasks, `async-io` sockets,
//! quinn's `SmolRuntime` for QUIC and timers) and the event channel (`async-broadcast`).
//!
//! Sockets and timers come from `async-io` and tasks from smol's global executor, which runs on
//! its own threads, so a node works under any executor: `smol::block_on`, `async_std`, or a
//! plain `futures_lite::future::block_on`.
//!
//! ```no_run
//! use qudag_peer::{Identity, PUBLIC_KEY_LEN};
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

use async_io::Async;
use futures_lite::{AsyncRead, AsyncWriteExt};
use qudag_peer::{Config, DurableState, Event, Identity};
use qudag_peer_runtime::{Events, Runtime};
use smol::Task;
use std::future::Future;
use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use qudag_peer_runtime::READ_CHUNK;

/// Events buffered per subscriber; past that a slow subscriber loses the oldest and gets
/// `RecvError::Overflowed`.
pub const EVENT_CAPACITY: usize = 1024;

/// Starts a node: binds `config.network.listen` and, if set, `config.network.quic_listen`
/// (port 0 picks a free port, which is then the advertised one) and spawns its driver with
/// `smol::spawn`; callable from any thread, in or out of an async context. The driver runs
/// until [`NodeHandle::shutdown`] or until every handle is dropped (which shuts down the same
/// way).
pub fn spawn(config: Config, identity: Identity) -> io::Result<NodeHandle> {
    spawn_with(config, identity, None)
}

/// [`spawn`], restoring saved records (`Node::restore`) right after the node is created, so
/// known addresses, reputation and bans are in force before it dials or accepts anyone.
pub fn spawn_with(
    config: Config,
    identity: Identity,
    state: Option<DurableState>,
) -> io::Result<NodeHandle> {
    let (mut events, events_rx) = async_broadcast::broadcast(EVENT_CAPACITY);
    events.set_overflow(true);
    events.set_await_active(false);
    let inactive = SmolEvents(events_rx.deactivate());
    let publish = move |event| drop(events.try_broadcast(event));
    qudag_peer_runtime::spawn(Smol, config, identity, state, inactive, publish)
}

/// Talks to a running node. Cheap to clone; every clone drives the same node. Its
/// [`events`](qudag_peer_runtime::NodeHandle::events) are an `async_broadcast::Receiver`.
pub type NodeHandle = qudag_peer_runtime::NodeHandle<SmolEvents>;

/// The event channel a [`NodeHandle`] subscribes to, held without keeping it open.
#[derive(Clone, Debug)]
pub struct SmolEvents(async_broadcast::InactiveReceiver<Event>);

impl Events for SmolEvents {
    type Receiver = async_broadcast::Receiver<Event>;

    fn subscribe(&self) -> async_broadcast::Receiver<Event> {
        self.0.activate_cloned()
    }
}

/// The smol [`Runtime`]: smol's global executor, `async-io` sockets, and quinn's
/// `SmolRuntime`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Smol;

impl Runtime for Smol {
    type Task = Task<()>;
    type Listener = Async<TcpListener>;
    type Tcp = Async<TcpStream>;
    type Reader = Arc<Async<TcpStream>>;
    type Writer = Arc<Async<TcpStream>>;
    type Udp = Async<UdpSocket>;

    fn quinn(&self) -> Arc<dyn quinn::Runtime> {
        Arc::new(quinn::SmolRuntime)
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> Task<()> {
        smol::spawn(task)
    }

    fn spawn_detached(&self, task: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(task).detach();
    }

    fn listener(&self, listener: TcpListener) -> io::Result<Async<TcpListener>> {
        Async::new(listener)
    }

    async fn accept(listener: &Async<TcpListener>) -> io::Result<(Async<TcpStream>, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(addr: SocketAddr) -> io::Result<Async<TcpStream>> {
        Async::<TcpStream>::connect(addr).await
    }

    fn split(tcp: Async<TcpStream>) -> (Self::Reader, Self::Writer) {
        let _ = tcp.get_ref().set_nodelay(true);
        let tcp = Arc::new(tcp);
        (tcp.clone(), tcp)
    }

    fn poll_read(
        reader: &mut Self::Reader,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut &**reader).poll_read(cx, buf)
    }

    async fn write_all(writer: &mut Self::Writer, bytes: &[u8]) -> io::Result<()> {
        (&**writer).write_all(bytes).await
    }

    async fn shutdown(writer: Self::Writer) {
        let _ = writer.get_ref().shutdown(Shutdown::Write);
    }

    fn udp(&self, socket: UdpSocket) -> io::Result<Async<UdpSocket>> {
        Async::new(socket)
    }

    async fn recv(udp: &Async<UdpSocket>, buf: &mut [u8]) -> io::Result<usize> {
        udp.recv(buf).await
    }

    fn try_send_to(udp: &Async<UdpSocket>, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        udp.get_ref().send_to(bytes, to)
    }
}
