//! # qudag-peer-runtime: one driver for every runtime
//!
//! The Tokio and smol adapters differ only in how they spawn tasks, open sockets and wait
//! for time, which is the [`Runtime`] trait, and in their event broadcast channel. Everything
//! else lives here once (after quinn's `runtime` module):
//!
//! - [`spawn`]: binds the listeners, creates the node and starts the driver, the one task
//!   that owns the node, with its reader and writer tasks, dials (TCP, QUIC, and through the
//!   SOCKS5 proxy, whose bytes the core negotiates), DNS sockets and QUIC accepts.
//! - [`NodeHandle`], generic over the adapter's event channel ([`Events`]); each adapter
//!   exports it as `NodeHandle` with its own channel. Its commands travel on an
//!   `async-channel`, which works under any executor.
//! - [`Control`], the driver's bookkeeping: running commands against the node, matching
//!   `AddPeerFinished`/`RemovePeerFinished` to the waiting handle, and the shutdown deadline.
//! - [`new_node`] and [`dns_route`], the start-up and DNS routing steps.
//! - [`quic`]: QUIC as a second transport (configuration, TLS, endpoints, and the dial,
//!   accept, read and write steps the driver runs in its tasks).
//!
//! Nothing here reads a clock except [`new_node`] (the wall clock, once, at start) and the
//! driver, through [`Runtime::now`].
#![warn(missing_docs)]

mod driver;
pub mod quic;
mod runtime;

pub use driver::spawn;
pub use runtime::Runtime;

use async_channel::{Receiver, Sender};
use qudag_peer::{
    Ban, CommandError, Config, DurableState, Event, Identity, Node, NodeId, PeerError, PeerInfo,
    Priority, Report, ReputationScore, RequestId, UnixMillis,
};
use rand_core::{OsRng, TryRngCore};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Bytes read from a TCP socket or QUIC stream at a time (a TCP reader's buffer is on the
/// stack, only while the socket is polled).
pub const READ_CHUNK: usize = 16 * 1024;

type Call = Box<dyn FnOnce(&mut Node, Instant) + Send>;
type Start = Box<dyn FnOnce(&mut Node, Instant) -> Result<RequestId, CommandError> + Send>;
type Reply<T> = Sender<T>;

/// What a handle asks of the driver; the driver hands it to [`Control::on_cmd`].
pub struct Cmd(CmdKind);

enum CmdKind {
    /// Run against the node (the closure replies itself).
    Call(Call),
    /// Start a request; its finishing event goes back.
    Request(Start, Reply<Result<Event, PeerError>>),
    /// `Node::shutdown`, then stop once it completes.
    Shutdown(Reply<()>),
}

/// The driver's end of the command channel: it ends once every [`NodeHandle`] is dropped.
pub type Commands = Receiver<Cmd>;

/// An adapter's event channel, as a handle holds it without keeping it open.
pub trait Events: Clone + Send + Sync + 'static {
    /// What [`NodeHandle::events`] returns.
    type Receiver;
    /// A new subscriber, seeing every event from now on (one that has already ended if the
    /// node has stopped).
    fn subscribe(&self) -> Self::Receiver;
}

/// Creates the node the way every driver does: a seed from the OS, the wall clock once, and
/// the saved records (`Node::restore`) in force before it dials or accepts anyone.
pub fn new_node(
    config: Config,
    identity: Identity,
    state: Option<DurableState>,
) -> io::Result<Node> {
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
    Ok(node)
}

/// Where an `Output::DnsQuery` goes: `(local address to bind, server)`, reading
/// `/etc/resolv.conf` when no resolver is configured; `None` drops the query.
pub fn dns_route(server: Option<SocketAddr>) -> Option<(SocketAddr, SocketAddr)> {
    let conf = || std::fs::read_to_string(qudag_peer::RESOLV_CONF_PATH).ok();
    qudag_peer::udp_route(server, conf)
}

/// Talks to a running node. Cheap to clone; every clone drives the same node.
#[derive(Clone)]
pub struct NodeHandle<E> {
    cmds: Sender<Cmd>,
    events: E,
    node_id: NodeId,
    local_addr: SocketAddr,
    quic_addr: Option<SocketAddr>,
}

impl<E> std::fmt::Debug for NodeHandle<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("node_id", &self.node_id)
            .field("local_addr", &self.local_addr)
            .field("quic_addr", &self.quic_addr)
            .finish_non_exhaustive()
    }
}

impl<E: Events> NodeHandle<E> {
    /// A handle for the node `node_id` listening on `local_addr` (TCP) and `quic_addr` (QUIC,
    /// if it listens there), and the command channel its driver reads.
    pub fn new(
        events: E,
        node_id: NodeId,
        local_addr: SocketAddr,
        quic_addr: Option<SocketAddr>,
    ) -> (Self, Commands) {
        let (cmds, rx) = async_channel::unbounded();
        let handle = NodeHandle {
            cmds,
            events,
            node_id,
            local_addr,
            quic_addr,
        };
        (handle, rx)
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The address the listener is bound to (and advertised).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The UDP address the QUIC listener is bound to (and advertised), when
    /// `network.quic_listen` is set.
    pub fn quic_addr(&self) -> Option<SocketAddr> {
        self.quic_addr
    }

    /// Every event from now on. The receiver ends when the node stops.
    pub fn events(&self) -> E::Receiver {
        self.events.subscribe()
    }

    /// Dials `address` (any format the core parses) and waits for the handshake's outcome. A
    /// refusal at once (`Node::add_peer`'s [`CommandError`]) comes back as
    /// [`PeerError::Command`], like one decided after a DNS lookup.
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
    ) -> Result<Ban, CommandError> {
        let (target, reason) = (target.to_string(), reason.to_string());
        self.call(move |n, now| n.ban(&target, duration, &reason, now))
            .await?
    }

    /// Lifts a ban.
    pub async fn unban(&self, target: &str) -> Result<Ban, CommandError> {
        let target = target.to_string();
        self.call(move |n, now| n.unban(&target, now)).await?
    }

    /// The active bans.
    pub async fn bans(&self) -> Vec<Ban> {
        self.call(|n, now| n.bans(now)).await.unwrap_or_default()
    }

    /// Reports an observation about a peer to its reputation (see `Node::report`).
    pub async fn report(
        &self,
        peer: NodeId,
        report: Report,
    ) -> Result<ReputationScore, CommandError> {
        self.call(move |n, now| n.report(&peer, report, now)).await
    }

    /// Spec 6.4's `report_invalid_message`.
    pub async fn report_invalid_message(
        &self,
        peer: NodeId,
    ) -> Result<ReputationScore, CommandError> {
        self.report(peer, Report::InvalidMessage).await
    }

    /// Runs `f` on the node inside the driver (for queries this handle has no method for).
    pub async fn with_node<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> Result<T, CommandError> {
        self.call(f).await
    }

    /// Every live connection.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        self.call(|n, _| n.peers()).await.unwrap_or_default()
    }

    /// Sends an application payload to a connected peer.
    pub async fn send_app(&self, peer: NodeId, payload: Vec<u8>) -> Result<(), CommandError> {
        self.call(move |n, _| n.send_app(&peer, &payload)).await?
    }

    /// Disconnects every peer gracefully, waits for [`Event::ShutdownComplete`] (at most the
    /// configured `disconnect_timeout` plus one second), then stops the driver.
    pub async fn shutdown(&self) {
        let (tx, rx) = async_channel::bounded(1);
        if self.cmds.send(Cmd(CmdKind::Shutdown(tx))).await.is_ok() {
            let _ = rx.recv().await;
        }
    }

    /// Runs `f` on the node inside the driver and returns its result.
    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> T + Send + 'static,
    ) -> Result<T, CommandError> {
        let (tx, rx) = async_channel::bounded(1);
        let call: Call = Box::new(move |n, now| drop(tx.try_send(f(n, now))));
        self.cmds
            .send(Cmd(CmdKind::Call(call)))
            .await
            .map_err(|_| CommandError::ShuttingDown)?;
        rx.recv().await.map_err(|_| CommandError::ShuttingDown)
    }

    /// Starts a request with `f` and waits for the event that finishes it.
    async fn request(
        &self,
        f: impl FnOnce(&mut Node, Instant) -> Result<RequestId, CommandError> + Send + 'static,
    ) -> Result<Event, PeerError> {
        let (tx, rx) = async_channel::bounded(1);
        self.cmds
            .send(Cmd(CmdKind::Request(Box::new(f), tx)))
            .await
            .map_err(|_| PeerError::ShuttingDown)?;
        rx.recv().await.map_err(|_| PeerError::ShuttingDown)?
    }
}

/// The driver's bookkeeping besides sockets: requests waiting for their finishing event, and
/// the shutdown (who waits for it, and when the driver stops regardless).
#[derive(Default)]
pub struct Control {
    requests: HashMap<RequestId, Reply<Result<Event, PeerError>>>,
    stopping: Vec<Reply<()>>,
    stop_at: Option<Instant>,
    shutdown_complete: bool,
}

impl Control {
    /// Carries out a handle's command against the node.
    pub fn on_cmd(&mut self, node: &mut Node, cmd: Cmd, now: Instant) {
        match cmd.0 {
            CmdKind::Call(f) => f(node, now),
            CmdKind::Request(start, reply) => match start(node, now) {
                Ok(request) => {
                    self.requests.insert(request, reply);
                }
                Err(e) => {
                    let _ = reply.try_send(Err(PeerError::Command(e)));
                }
            },
            CmdKind::Shutdown(reply) => {
                self.stopping.push(reply);
                self.begin_shutdown(node, now);
            }
        }
    }

    /// Starts `Node::shutdown` (once) and sets the deadline: the configured
    /// `disconnect_timeout` plus one second. Also what a driver does when every handle is gone.
    pub fn begin_shutdown(&mut self, node: &mut Node, now: Instant) {
        if self.stop_at.is_none() {
            node.shutdown(now);
            let grace = node.config().network.peers.disconnect_timeout;
            self.stop_at = Some(now + grace + Duration::from_secs(1));
        }
    }

    /// Notes an event from the node before the driver publishes it: answers the request it
    /// finishes, and notes `ShutdownComplete`.
    pub fn on_event(&mut self, event: &Event) {
        let request = match event {
            Event::AddPeerFinished { request, .. } | Event::RemovePeerFinished { request, .. } => {
                *request
            }
            Event::ShutdownComplete => {
                self.shutdown_complete = true;
                return;
            }
            _ => return,
        };
        if let Some(reply) = self.requests.remove(&request) {
            let _ = reply.try_send(Ok(event.clone()));
        }
    }

    /// When the driver next wakes, given the node's `wake`; `None` once it should stop (the
    /// shutdown completed or its deadline passed).
    pub fn wake(&self, wake: Instant, now: Instant) -> Option<Instant> {
        match self.stop_at {
            Some(_) if self.shutdown_complete => None,
            Some(stop_at) if now >= stop_at => None,
            Some(stop_at) => Some(wake.min(stop_at)),
            None => Some(wake),
        }
    }

    /// Answers everyone waiting in [`NodeHandle::shutdown`]; the driver calls it last.
    pub fn finish(&mut self) {
        for reply in self.stopping.drain(..) {
            let _ = reply.try_send(());
        }
    }
}
