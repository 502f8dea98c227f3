//! # qudag-peer-tokio: the Tokio adapter for `qudag-peer`
//!
//! [`spawn`] binds a TCP listener (and, with `network.quic_listen`, a QUIC endpoint) and starts
//! one driver task (with `tokio::spawn`) that owns the sans-IO `Node`. The driver, its socket
//! tasks and the [`NodeHandle`] are `qudag_peer_runtime`'s, the same for every runtime; this
//! crate is its [`Runtime`] on Tokio ([`Tokio`]: tasks, TCP, UDP, quinn's `TokioRuntime` for
//! QUIC and timers) and the event channel (a Tokio `broadcast`).
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

use qudag_peer::{Config, DurableState, Event, Identity};
use qudag_peer_runtime::{Events, Runtime};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

pub use qudag_peer_runtime::READ_CHUNK;

/// Events buffered per subscriber; a slower subscriber gets `RecvError::Lagged`.
pub const EVENT_CAPACITY: usize = 1024;

/// Starts a node: binds `config.network.listen` and, if set, `config.network.quic_listen`
/// (port 0 picks a free port, which is then the advertised one) and spawns its driver with
/// `tokio::spawn`, so call it inside a runtime. The driver runs until
/// [`NodeHandle::shutdown`] or until every handle is dropped (which shuts down the same way).
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
    let events = broadcast::channel(EVENT_CAPACITY).0;
    let weak = TokioEvents(events.downgrade());
    let publish = move |event| drop(events.send(event));
    qudag_peer_runtime::spawn(Tokio, config, identity, state, weak, publish)
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

/// The Tokio [`Runtime`]: `tokio::spawn`, `tokio::net`, and quinn's `TokioRuntime`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

/// A Tokio task that is aborted when dropped.
#[derive(Debug)]
pub struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Runtime for Tokio {
    type Task = AbortOnDrop;
    type Listener = TcpListener;
    type Tcp = TcpStream;
    type Reader = OwnedReadHalf;
    type Writer = OwnedWriteHalf;
    type Udp = UdpSocket;

    fn quinn(&self) -> Arc<dyn quinn::Runtime> {
        Arc::new(quinn::TokioRuntime)
    }

    fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) -> AbortOnDrop {
        AbortOnDrop(tokio::spawn(task))
    }

    fn spawn_detached(&self, task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    fn listener(&self, listener: std::net::TcpListener) -> io::Result<TcpListener> {
        TcpListener::from_std(listener)
    }

    async fn accept(listener: &TcpListener) -> io::Result<(TcpStream, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect(addr).await
    }

    fn split(tcp: TcpStream) -> (OwnedReadHalf, OwnedWriteHalf) {
        let _ = tcp.set_nodelay(true);
        tcp.into_split()
    }

    fn poll_read(
        reader: &mut OwnedReadHalf,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(buf);
        Pin::new(reader)
            .poll_read(cx, &mut buf)
            .map_ok(|()| buf.filled().len())
    }

    async fn write_all(writer: &mut OwnedWriteHalf, bytes: &[u8]) -> io::Result<()> {
        writer.write_all(bytes).await
    }

    async fn shutdown(mut writer: OwnedWriteHalf) {
        let _ = writer.shutdown().await;
    }

    fn udp(&self, socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        UdpSocket::from_std(socket)
    }

    async fn recv(udp: &UdpSocket, buf: &mut [u8]) -> io::Result<usize> {
        udp.recv(buf).await
    }

    fn try_send_to(udp: &UdpSocket, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        udp.try_send_to(bytes, to)
    }
}
