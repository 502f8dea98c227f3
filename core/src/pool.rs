//! The connection pool: every live connection, the limits, and the node-id index.
//!
//! Invariants (checked by `Pool::check_invariants` in tests and by the simulator):
//! - `len() <= max_connections`: a connection occupies a slot from the moment it is dialed or
//!   accepted until it is closed, handshakes included, so a flood of half-open connections
//!   cannot grow memory past the limit;
//! - outbound connections still connecting are at most `limits.max_pending_dials`;
//! - `by_node` maps each node id to at most one `Connected` connection, and only those.

use crate::addr::Transport;
use crate::channel::RekeyLimits;
use crate::handshake::{HandshakeState, PeerHello};
use crate::limits::Limits;

use crate::id::{ConnId, NodeId, RequestId};
use crate::peer::{Direction, DisconnectReason, PeerInfo, PeerState, Priority};
use crate::time::UnixMillis;
use crate::wire::FrameDecoder;
use core::net::SocketAddr;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How many of `max_connections` are kept for address-fetch connections with the default
/// [`Limits::max_fetch_slots`]: see [`fetch_slots_with`].
#[cfg_attr(not(feature = "test-support"), allow(dead_code))] // for harnesses
#[cfg_attr(not(feature = "test-support"), allow(unreachable_pub))] // for harnesses
pub fn fetch_slots(max_connections: usize) -> usize {
    fetch_slots_with(max_connections, Limits::default().max_fetch_slots)
}

/// How many of `max_connections` are kept for address-fetch connections: a tenth, at most
/// `max_fetch_slots` (none for pools under 10). When the other slots are full, a newcomer is
/// still admitted to learn addresses (one `GetPeers` answered, then `ConnectionLimitReached`),
/// so a full node everyone knows — a seed — keeps introducing new nodes without evicting anyone.
pub(crate) fn fetch_slots_with(max_connections: usize, max_fetch_slots: usize) -> usize {
    (max_connections / 10).min(max_fetch_slots)
}

/// How a connection that we are closing will end.
#[derive(Debug)]
pub(crate) struct Closing {
    pub reason: DisconnectReason,
    pub deadline: Instant,
}

/// The transport under a connection: who dialed, where, how, and the bytes not yet framed.
#[derive(Debug)]
pub(crate) struct Link {
    pub direction: Direction,
    pub remote: SocketAddr,
    /// The transport carrying this connection.
    pub transport: Transport,
    /// The book address this outbound connection dialed.
    pub dial_addr: Option<crate::addr::PeerAddress>,
    /// For a dial through the SOCKS5 proxy: the negotiation (kept once done, as the mark of
    /// a proxied connection). `remote` is then the target's socket address for an IP target,
    /// the proxy's address for a `.onion` or host name.
    pub socks: Option<Box<crate::socks5::Socks5Client>>,
    pub decoder: FrameDecoder,
}

impl Link {
    pub(crate) fn new(direction: Direction, remote: SocketAddr) -> Link {
        Link {
            direction,
            remote,
            transport: Transport::Tcp,
            dial_addr: None,
            socks: None,
            decoder: FrameDecoder::new(),
        }
    }
}

/// The handshake and the sealed channel it yields, and what the peer said about itself.
#[derive(Debug)]
pub(crate) struct Session {
    pub hs: HandshakeState,
    /// Seals our frames once the handshake is done (after `HandshakeConfirm`).
    pub sealer: Option<Box<crate::channel::Sealer>>,
    /// Opens the peer's frames once the handshake is done.
    pub opener: Option<Box<crate::channel::Opener>>,
    /// The keys the channel started with (for `Node::session_keys`).
    pub keys: Option<Box<crate::channel::SessionKeys>>,
    /// Proven once `Connected`; claimed while awaiting the confirmation.
    pub hello: Option<PeerHello>,
    /// The TCP listen address the peer advertised (resolved against the observed IP).
    pub listen_addr: Option<SocketAddr>,
    /// The QUIC listen address the peer advertised (resolved against the observed IP).
    pub quic_listen_addr: Option<SocketAddr>,
    pub connected_since: Option<UnixMillis>,
}

impl Session {
    pub(crate) fn new() -> Session {
        Session {
            hs: HandshakeState::AwaitHello,
            sealer: None,
            opener: None,
            keys: None,
            hello: None,
            listen_addr: None,
            quic_listen_addr: None,
            connected_since: None,
        }
    }

    /// Switches to the sealed channel.
    pub(crate) fn install_keys(&mut self, keys: &crate::channel::SessionKeys, limits: RekeyLimits) {
        let (sealer, opener) = keys.split(limits);
        self.sealer = Some(Box::new(sealer));
        self.opener = Some(Box::new(opener));
        self.keys = Some(Box::new(keys.clone()));
    }
}

/// Keep-alive: the outstanding ping, the latency estimate, when the peer was last heard.
#[derive(Debug)]
pub(crate) struct KeepAlive {
    /// The nonce and send time of the unanswered ping.
    pub ping: Option<(u64, Instant)>,
    pub next_ping: Instant,
    pub latency: Option<Duration>,
    pub last_recv: Instant,
}

impl KeepAlive {
    pub(crate) fn new(now: Instant) -> KeepAlive {
        KeepAlive {
            ping: None,
            next_ping: now,
            latency: None,
            last_recv: now,
        }
    }

    /// A pong for `nonce` at `now`: the round trip, if it answers the outstanding ping. The
    /// estimate moves by 1/`ewma_div` of the difference.
    pub(crate) fn on_pong(&mut self, nonce: u64, now: Instant, ewma_div: u32) -> Option<Duration> {
        let (sent_nonce, sent) = self.ping?;
        if sent_nonce != nonce {
            return None;
        }
        self.ping = None;
        let rtt = now.saturating_duration_since(sent);
        let div = ewma_div.max(1);
        self.latency = Some(match self.latency {
            None => rtt,
            Some(l) => (l * (div - 1) + rtt) / div,
        });
        Some(rtt)
    }
}

/// A token bucket: `burst` tokens, one more per `period`, refilled lazily by whole periods.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    pub tokens: u32,
    /// When the next token is added.
    pub refill_at: Instant,
}

impl TokenBucket {
    pub(crate) fn full(burst: u32, period: Duration, now: Instant) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            refill_at: now + period,
        }
    }

    /// Adds the tokens earned since the last refill; returns whether a new period began.
    pub(crate) fn refill(&mut self, burst: u32, period: Duration, now: Instant) -> bool {
        if now < self.refill_at {
            return false;
        }
        let secs = period.as_secs().max(1);
        let periods = 1 + now.saturating_duration_since(self.refill_at).as_secs() / secs;
        self.tokens = (self.tokens as u64 + periods).min(burst as u64) as u32;
        self.refill_at = now + period;
        true
    }

    /// Takes a token if there is one.
    pub(crate) fn try_take(&mut self) -> bool {
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }
}

/// Peer exchange with one peer: the rate limit on its requests and our own requests to it.
/// The PEX rate limit lives here and only here.
#[derive(Debug)]
pub(crate) struct PexState {
    /// `GetPeers` requests this peer may still make.
    pub bucket: TokenBucket,
    /// Refused PEX messages in the current refill period.
    pub strikes: u32,
    /// When we sent a `GetPeers` that is still unanswered.
    pub asked: Option<Instant>,
    /// When to ask this (outbound) peer for addresses next.
    pub next: Option<Instant>,
}

impl PexState {
    pub(crate) fn new(limits: &Limits, now: Instant) -> PexState {
        PexState {
            bucket: TokenBucket::full(limits.pex_burst, limits.pex_refill, now),
            strikes: 0,
            asked: None,
            next: None,
        }
    }

    /// Refills the bucket; a new period forgives strikes.
    fn refill(&mut self, limits: &Limits, now: Instant) {
        if self.bucket.refill(limits.pex_burst, limits.pex_refill, now) {
            self.strikes = 0;
        }
    }

    /// Whether the peer may make a `GetPeers` request now (takes a token if so).
    pub(crate) fn allow_request(&mut self, limits: &Limits, now: Instant) -> bool {
        self.refill(limits, now);
        self.bucket.try_take()
    }

    /// Counts a refused PEX message; true when the strikes add up to one protocol violation
    /// (every `pex_flood_strikes` within one refill period).
    pub(crate) fn strike(&mut self, limits: &Limits, now: Instant) -> bool {
        self.refill(limits, now);
        self.strikes += 1;
        if self.strikes >= limits.pex_flood_strikes {
            self.strikes = 0;
            return true;
        }
        false
    }
}

/// Traffic counters of one connection.
#[derive(Debug)]
pub(crate) struct Stats {
    pub messages_sent: u64,
    pub messages_received: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub last_activity: UnixMillis,
}

impl Stats {
    pub(crate) fn new(unix: UnixMillis) -> Stats {
        Stats {
            messages_sent: 0,
            messages_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            last_activity: unix,
        }
    }

    pub(crate) fn messages(&self) -> u64 {
        self.messages_sent + self.messages_received
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.bytes_sent + self.bytes_received
    }
}

/// One connection and everything the node knows about its peer.
#[derive(Debug)]
pub(crate) struct Conn {
    pub id: ConnId,
    pub state: PeerState,
    pub priority: Priority,
    /// An `add_peer` waiting for this connection's outcome.
    pub request: Option<RequestId>,
    /// A `remove_peer` waiting for this connection to close.
    pub remove_request: Option<RequestId>,
    /// The id a `quantum://` dial pinned.
    pub expected_id: Option<NodeId>,
    /// Connect or handshake deadline (for an address-fetch connection: its grace).
    pub deadline: Instant,
    pub closing: Option<Closing>,
    /// The instant under which this connection sits in the timer index, if any.
    pub timer_at: Option<Instant>,
    /// An inbound connection admitted only to fetch addresses: the node is full, so it answers
    /// one `GetPeers` and closes with `ConnectionLimitReached`.
    pub fetch_only: bool,
    pub link: Link,
    pub session: Session,
    pub keepalive: KeepAlive,
    pub pex: PexState,
    pub stats: Stats,
}

impl Conn {
    pub(crate) fn node_id(&self) -> Option<NodeId> {
        match self.state {
            PeerState::Connected => self.session.hello.as_ref().map(|h| h.node_id),
            _ => self.expected_id,
        }
    }

    pub(crate) fn info(&self, reputation: u32) -> PeerInfo {
        let connected = self.state == PeerState::Connected;
        PeerInfo {
            conn: self.id,
            id: self.node_id(),
            address: self.link.remote,
            status: self.state,
            direction: self.link.direction,
            priority: self.priority,
            version: self
                .session
                .hello
                .as_ref()
                .filter(|_| connected)
                .map(|h| h.version),
            connected_since: self.session.connected_since,
            last_activity: self.stats.last_activity,
            messages_sent: self.stats.messages_sent,
            messages_received: self.stats.messages_received,
            bytes_sent: self.stats.bytes_sent,
            bytes_received: self.stats.bytes_received,
            latency: self.keepalive.latency,
            reputation,
            capabilities: self
                .session
                .hello
                .as_ref()
                .filter(|_| connected)
                .map(|h| h.capabilities.clone())
                .unwrap_or_default(),
            user_agent: self
                .session
                .hello
                .as_ref()
                .filter(|_| connected)
                .map(|h| h.user_agent.clone())
                .unwrap_or_default(),
            listen_addr: self.session.listen_addr,
            transport: self.link.transport,
            quic_listen_addr: self.session.quic_listen_addr,
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
    /// `limits.max_pending_dials`.
    pub max_pending_dials: usize,
    /// `limits.max_fetch_slots`.
    max_fetch_slots: usize,
    conns: BTreeMap<ConnId, Conn>,
    by_node: BTreeMap<NodeId, ConnId>,
    /// How many of `conns` are address-fetch connections (`fetch_only` is set before
    /// [`Pool::insert`] and never changes), so [`Pool::long_lived`], asked on every accept,
    /// does not scan the pool.
    fetch_only: usize,
}

impl Pool {
    pub(crate) fn new(max_connections: usize, limits: &Limits) -> Pool {
        Pool {
            max_connections,
            max_pending_dials: limits.max_pending_dials,
            max_fetch_slots: limits.max_fetch_slots,
            conns: BTreeMap::new(),
            by_node: BTreeMap::new(),
            fetch_only: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.conns.len()
    }

    pub(crate) fn is_full(&self) -> bool {
        self.conns.len() >= self.max_connections
    }

    /// Connections that hold a long-lived slot (every one but address-fetch connections).
    pub(crate) fn long_lived(&self) -> usize {
        self.conns.len() - self.fetch_only
    }

    /// Long-lived slots: `max_connections` less the address-fetch slots.
    pub(crate) fn long_lived_cap(&self) -> usize {
        self.max_connections - fetch_slots_with(self.max_connections, self.max_fetch_slots)
    }

    pub(crate) fn pending_dials(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.state == PeerState::Connecting)
            .count()
    }

    pub(crate) fn insert(&mut self, conn: Conn) {
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

    pub(crate) fn get(&self, id: ConnId) -> Option<&Conn> {
        self.conns.get(&id)
    }

    pub(crate) fn get_mut(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(&id)
    }

    pub(crate) fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let c = self.conns.remove(&id)?;
        self.fetch_only -= usize::from(c.fetch_only);
        if let Some(n) = c.session.hello.as_ref().map(|h| h.node_id) {
            if self.by_node.get(&n) == Some(&id) {
                self.by_node.remove(&n);
            }
        }
        Some(c)
    }

    /// Records that `id` is the connected connection for `node`.
    pub(crate) fn bind_node(&mut self, node: NodeId, id: ConnId) {
        self.by_node.insert(node, id);
    }

    pub(crate) fn by_node(&self, node: &NodeId) -> Option<ConnId> {
        self.by_node.get(node).copied()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.conns.values()
    }

    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.conns.keys().copied().collect()
    }

    pub(crate) fn counts(&self) -> PoolCounts {
        let mut c = PoolCounts::default();
        for conn in self.conns.values() {
            match (conn.state, conn.link.direction) {
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
    #[cfg(feature = "test-support")]
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
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
        if self.pending_dials() > self.max_pending_dials {
            return Err(format!(
                "{} pending dials exceed {}",
                self.pending_dials(),
                self.max_pending_dials
            ));
        }
        for (node, id) in &self.by_node {
            let Some(c) = self.conns.get(id) else {
                return Err(format!("by_node points {node} at missing {id}"));
            };
            if c.state != PeerState::Connected
                || c.session.hello.as_ref().map(|h| h.node_id) != Some(*node)
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
