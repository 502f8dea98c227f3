//! The connection pool: every live connection, the limits, and the node-id index.
//!
//! Invariants (checked by `Pool::check_invariants` in tests and by the simulator):
//! - `len() <= max_connections`: a connection occupies a slot from the moment it is dialed or
//!   accepted until it is closed, handshakes included, so a flood of half-open connections
//!   cannot grow memory past the limit;
//! - outbound connections still connecting are at most [`MAX_PENDING_DIALS`];
//! - `by_node` maps each node id to at most one `Connected` connection, and only those.

use crate::addr::Transport;
use crate::handshake::{HandshakeState, PeerHello};

use crate::id::{ConnId, NodeId, RequestId};
use crate::peer::{Direction, DisconnectReason, PeerInfo, PeerState, Priority};
use crate::time::UnixMillis;
use crate::wire::FrameDecoder;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Most outbound connections in `Connecting` at once.
pub const MAX_PENDING_DIALS: usize = 64;

/// Most address-fetch slots (see [`fetch_slots`]).
pub const MAX_FETCH_SLOTS: usize = 8;

/// How many of `max_connections` are kept for address-fetch connections: a tenth, at most
/// [`MAX_FETCH_SLOTS`] (none for pools under 10). When the other slots are full, a newcomer is
/// still admitted to learn addresses (one `GetPeers` answered, then `ConnectionLimitReached`),
/// so a full node everyone knows — a seed — keeps introducing new nodes without evicting anyone.
pub fn fetch_slots(max_connections: usize) -> usize {
    (max_connections / 10).min(MAX_FETCH_SLOTS)
}

/// How a connection that we are closing will end.
#[derive(Debug)]
pub(crate) struct Closing {
    pub reason: DisconnectReason,
    pub deadline: Instant,
}

/// One connection and everything the node knows about its peer.
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: ConnId,
    pub state: PeerState,
    pub direction: Direction,
    pub remote: SocketAddr,
    pub priority: Priority,
    /// An `add_peer` waiting for this connection's outcome.
    pub request: Option<RequestId>,
    /// A `remove_peer` waiting for this connection to close.
    pub remove_request: Option<RequestId>,
    /// The id a `quantum://` dial pinned.
    pub expected_id: Option<NodeId>,
    pub hs: HandshakeState,
    pub decoder: FrameDecoder,
    /// Seals our frames once the handshake is done (after `HandshakeConfirm`).
    pub sealer: Option<Box<crate::channel::Sealer>>,
    /// Opens the peer's frames once the handshake is done.
    pub opener: Option<Box<crate::channel::Opener>>,
    /// The keys the channel started with (for `Node::session_keys`).
    pub keys: Option<Box<crate::channel::SessionKeys>>,
    /// Proven once `Connected`; claimed while awaiting the confirmation.
    pub hello: Option<PeerHello>,
    pub listen_addr: Option<SocketAddr>,
    /// The transport carrying this connection.
    pub transport: Transport,
    /// The QUIC listen address the peer advertised (resolved against the observed IP).
    pub quic_listen_addr: Option<SocketAddr>,
    /// Connect or handshake deadline.
    pub deadline: Instant,
    pub connected_since: Option<UnixMillis>,
    pub last_recv: Instant,
    pub last_activity: UnixMillis,
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub ping: Option<(u64, Instant)>,
    pub next_ping: Instant,
    pub latency: Option<Duration>,
    pub closing: Option<Closing>,
    /// The instant under which this connection sits in the timer index, if any.
    pub timer_at: Option<Instant>,
    /// The book address this outbound connection dialed.
    pub dial_addr: Option<crate::addr::PeerAddress>,
    /// For a dial through the SOCKS5 proxy: the negotiation (kept once done, as the mark of
    /// a proxied connection). `remote` is then the target's socket address for an IP target,
    /// the proxy's address for a `.onion` or host name.
    pub socks: Option<Box<crate::socks5::Socks5Client>>,
    /// When we sent a `GetPeers` that is still unanswered.
    pub pex_asked: Option<Instant>,
    /// When to ask this (outbound) peer for addresses next.
    pub next_pex: Option<Instant>,
    /// `GetPeers` requests this peer may still make (token bucket).
    pub pex_tokens: u32,
    /// When the next token is added.
    pub pex_refill: Instant,
    /// Refused PEX messages in the current refill period.
    pub pex_strikes: u32,
    /// An inbound connection admitted only to fetch addresses: the node is full, so it answers
    /// one `GetPeers` and closes with `ConnectionLimitReached`.
    pub fetch_only: bool,
}

impl Conn {
    pub fn node_id(&self) -> Option<NodeId> {
        match self.state {
            PeerState::Connected => self.hello.as_ref().map(|h| h.node_id),
            _ => self.expected_id,
        }
    }

    pub fn info(&self, reputation: u32) -> PeerInfo {
        let connected = self.state == PeerState::Connected;
        PeerInfo {
            conn: self.id,
            id: self.node_id(),
            address: self.remote,
            status: self.state,
            direction: self.direction,
            priority: self.priority,
            version: self.hello.as_ref().filter(|_| connected).map(|h| h.version),
            connected_since: self.connected_since,
            last_activity: self.last_activity,
            messages_sent: self.messages_sent,
            messages_received: self.messages_received,
            bytes_sent: self.bytes_sent,
            bytes_received: self.bytes_received,
            latency: self.latency,
            reputation,
            capabilities: self
                .hello
                .as_ref()
                .filter(|_| connected)
                .map(|h| h.capabilities.clone())
                .unwrap_or_default(),
            user_agent: self
                .hello
                .as_ref()
                .filter(|_| connected)
                .map(|h| h.user_agent.clone())
                .unwrap_or_default(),
            listen_addr: self.listen_addr,
            transport: self.transport,
            quic_listen_addr: self.quic_listen_addr,
        }
    }
}

/// Counts of connections by state and direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PoolCounts {
    /// Outbound, still connecting.
    pub connecting: usize,
    /// Handshake in progress (either direction).
    pub handshaking: usize,
    /// Connected inbound.
    pub inbound: usize,
    /// Connected outbound.
    pub outbound: usize,
}

impl PoolCounts {
    /// Connected peers, both directions.
    pub fn connected(&self) -> usize {
        self.inbound + self.outbound
    }

    /// Every live connection.
    pub fn total(&self) -> usize {
        self.connecting + self.handshaking + self.inbound + self.outbound
    }
}

/// The live connections.
#[derive(Debug)]
pub(crate) struct Pool {
    pub max_connections: usize,
    conns: BTreeMap<ConnId, Conn>,
    by_node: BTreeMap<NodeId, ConnId>,
    /// How many of `conns` are address-fetch connections (`fetch_only` is set before
    /// [`Pool::insert`] and never changes), so [`Pool::long_lived`], asked on every accept,
    /// does not scan the pool.
    fetch_only: usize,
}

impl Pool {
    pub fn new(max_connections: usize) -> Pool {
        Pool {
            max_connections,
            conns: BTreeMap::new(),
            by_node: BTreeMap::new(),
            fetch_only: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.conns.len()
    }

    pub fn is_full(&self) -> bool {
        self.conns.len() >= self.max_connections
    }

    /// Connections that hold a long-lived slot (every one but address-fetch connections).
    pub fn long_lived(&self) -> usize {
        self.conns.len() - self.fetch_only
    }

    /// Long-lived slots: `max_connections` less the address-fetch slots.
    pub fn long_lived_cap(&self) -> usize {
        self.max_connections - fetch_slots(self.max_connections)
    }

    pub fn pending_dials(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.state == PeerState::Connecting)
            .count()
    }

    pub fn insert(&mut self, conn: Conn) {
        debug_assert!(
            !self.conns.contains_key(&conn.id),
            "connection ids are never reused"
        );
        debug_assert!(
            self.conns.len() < self.max_connections,
            "insert only after checking room"
        );
        self.fetch_only += usize::from(conn.fetch_only);
        self.conns.insert(conn.id, conn);
    }

    pub fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    pub fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(&id)
    }

    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let c = self.conns.remove(&id)?;
        self.fetch_only -= usize::from(c.fetch_only);
        if let Some(n) = c.hello.as_ref().map(|h| h.node_id) {
            if self.by_node.get(&n) == Some(&id) {
                self.by_node.remove(&n);
            }
        }
        Some(c)
    }

    /// Records that `id` is the connected connection for `node`.
    pub fn bind_node(&mut self, node: NodeId, id: ConnId) {
        self.by_node.insert(node, id);
    }

    pub fn by_node(&self, node: &NodeId) -> Option<ConnId> {
        self.by_node.get(node).copied()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values()
    }

    pub fn ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    pub fn counts(&self) -> PoolCounts {
        let mut c = PoolCounts::default();
        for conn in self.conns.values() {
            match (conn.state, conn.direction) {
                (PeerState::Connecting, _) => c.connecting += 1,
                (PeerState::Handshaking, _) => c.handshaking += 1,
                (PeerState::Connected, Direction::Inbound) => c.inbound += 1,
                (PeerState::Connected, Direction::Outbound) => c.outbound += 1,
                _ => {}
            }
        }
        c
    }

    /// Checks the module's invariants; returns a description of the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        if self.conns.len() > self.max_connections {
            return Err(format!(
                "{} connections exceed max_connections {}",
                self.conns.len(),
                self.max_connections
            ));
        }
        let fetch_only = self.conns.values().filter(|c| c.fetch_only).count();
        if fetch_only != self.fetch_only {
            return Err(format!(
                "{fetch_only} address-fetch connections, but {} counted",
                self.fetch_only
            ));
        }
        if self.pending_dials() > MAX_PENDING_DIALS {
            return Err(format!(
                "{} pending dials exceed {MAX_PENDING_DIALS}",
                self.pending_dials()
            ));
        }
        for (node, id) in &self.by_node {
            let Some(c) = self.conns.get(id) else {
                return Err(format!("by_node points {node} at missing {id}"));
            };
            if c.state != PeerState::Connected || c.hello.as_ref().map(|h| h.node_id) != Some(*node)
            {
                return Err(format!(
                    "by_node entry {node} -> {id} is not a connected connection to that node"
                ));
            }
        }
        let connected = self
            .conns
            .values()
            .filter(|c| c.state == PeerState::Connected)
            .count();
        if connected != self.by_node.len() {
            return Err(format!(
                "{connected} connected but {} indexed by node id",
                self.by_node.len()
            ));
        }
        for c in self.conns.values() {
            if c.state.is_terminal() || c.state == PeerState::Discovered {
                return Err(format!(
                    "{} in state {} is still in the pool",
                    c.id, c.state
                ));
            }
        }
        Ok(())
    }
}
