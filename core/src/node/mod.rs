//! The [`Node`]: inputs in, outputs out.
//!
//! Drive it like this (see the crate docs for a complete loop):
//! 1. feed every event of the outside world with [`Node::handle_input`] (bytes received, a dial
//!    that connected or failed, a closed socket, a timer that fired) or [`Node::accept`] for a
//!    new inbound socket, and operator commands with [`Node::add_peer`], [`Node::remove_peer`]…;
//! 2. then call [`Node::poll_output`] until it returns [`Output::Timeout`], performing each
//!    output; 3. wait until that instant or the next input, whichever comes first.
//!
//! The node never panics on input: bytes from peers, operator strings and out-of-order calls
//! (data for a connection it already closed) are errors or are ignored.

use crate::addr::{classify, AddrClass, Host, NetGroup, PeerAddress, Transport};
use crate::addrbook::{AddOutcome, AddrBook, Entry, Source, MAX_ADDRBOOK_ENTRIES};
use crate::bans::{Ban, BanList, BanOrigin, BanTarget};
use crate::channel::{ChannelError, RekeyLimits, Sealer, SessionKeys};
use crate::config::Config;
use crate::dns::{DnsClient, DnsOutcome, DnsTimeoutAction, QueryKind};
use crate::handshake::{self, HandshakeError, HandshakeState, LocalHello, PeerHello};
use crate::id::{ConnId, NodeId, RequestId};
use crate::identity::Identity;
use crate::inbound_limit::{InboundLimiter, RATE_LIMITED_LABEL};
use crate::metrics::{bump, Concentration, Counters, MetricsSnapshot, PeerFigures};
use crate::peer::{Direction, DisconnectReason, PeerInfo, PeerState, Priority};
use crate::pool::{Closing, Conn, Pool, PoolCounts, MAX_PENDING_DIALS};
use crate::reputation::{
    DisconnectKind, Report, ReputationRecord, ReputationScore, ReputationTable, ScoreChange,
    ThresholdAction, Violation,
};
use crate::rng::Rng;
use crate::socks5::{Socks5Client, Socks5Error, Step as SocksStep, Target as SocksTarget};
use crate::time::{Clock, UnixMillis};
use crate::wire::{
    self, App, Disconnect, FrameDecoder, GetPeers, Message, MessageType, Peers, Ping, WireError,
};
use core::net::SocketAddr;
use serde_bytes::ByteBuf;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// The user agent this implementation announces.
pub const USER_AGENT: &str = concat!("qudag/", env!("CARGO_PKG_VERSION"));

/// Capabilities announced by default.
pub const DEFAULT_CAPABILITIES: [&str; 1] = ["pex"];

/// Interval of the maintenance pass: dial to keep `min_connections`, PEX rounds.
pub const MAINTENANCE_INTERVAL: Duration = Duration::from_secs(5);

/// Window over which automatic bans are counted for self-protection.
pub const AUTO_BAN_WINDOW: Duration = Duration::from_secs(60);

/// Automatic bans pause when more than this percentage of connected peers was banned within
/// [`AUTO_BAN_WINDOW`] (and more than [`AUTO_BAN_SPIKE_MIN`] bans)...
pub const AUTO_BAN_SPIKE_PERCENT: usize = 25;

/// ...and more than this many bans happened in the window.
pub const AUTO_BAN_SPIKE_MIN: usize = 3;

/// After an operator's `remove_peer`, the node does not dial that identity again on its own for
/// this long (the operator can still `add_peer` it).
pub const REMOVED_COOLDOWN: Duration = Duration::from_secs(3600);

/// Most identities remembered as recently removed (the oldest is forgotten first).
pub const MAX_REMOVED_COOLDOWNS: usize = 1024;

/// Dials a node below `min_connections` keeps in flight beyond its shortfall.
pub const DIAL_SPARE: usize = 2;

/// `GetPeers` requests a peer may make in a burst.
pub const PEX_BURST: u32 = 3;

/// A peer earns one more `GetPeers` request per this interval.
pub const PEX_REFILL: Duration = Duration::from_secs(60);

/// Refused PEX messages (requests over the rate limit, unsolicited answers) within one refill
/// period that count as one protocol violation against the peer. Fewer are only refused: an
/// eager but honest peer is not punished, a flood is.
pub const PEX_FLOOD_STRIKES: u32 = 5;

/// How long an unanswered `GetPeers` stays outstanding.
pub const PEX_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Most addresses asked for in one `GetPeers` (and given in one answer).
pub const PEX_REQUEST_MAX: u32 = wire::MAX_PEX_ADDRESSES as u32;

/// How long an address-fetch connection (see `pool::fetch_slots`) may stay before it is closed
/// without having asked for addresses.
pub const FETCH_GRACE: Duration = Duration::from_secs(10);

/// An inbound peer connected for less than this is never evicted to make room for a newcomer.
pub const INBOUND_EVICTION_PROTECT: Duration = Duration::from_secs(30);

/// Smoothing of the latency estimate: each new sample weighs 1/`LATENCY_EWMA_DIV`.
pub const LATENCY_EWMA_DIV: u32 = 4;

/// Why a transport operation failed, as the adapter saw it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, thiserror::Error)]
#[non_exhaustive]
pub enum IoFailure {
    /// The remote refused the connection.
    #[error("connection refused")]
    Refused,
    /// The connection was reset.
    #[error("connection reset")]
    Reset,
    /// The transport itself timed out.
    #[error("timed out")]
    TimedOut,
    /// No route to the host or network.
    #[error("unreachable")]
    Unreachable,
    /// The remote closed the stream.
    #[error("closed by the remote")]
    Eof,
    /// Anything else, with the OS's words.
    #[error("{0}")]
    Other(String),
}

impl IoFailure {
    /// The failure an I/O error of `kind` stands for. Pure: adapters call it on the errors their
    /// sockets return; the core itself never sees an `std::io::Error`.
    pub fn from_io_kind(kind: std::io::ErrorKind) -> IoFailure {
        use std::io::ErrorKind as K;
        match kind {
            K::ConnectionRefused => IoFailure::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => IoFailure::Reset,
            K::TimedOut => IoFailure::TimedOut,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => {
                IoFailure::Unreachable
            }
            K::UnexpectedEof => IoFailure::Eof,
            other => IoFailure::Other(other.to_string()),
        }
    }

    /// [`IoFailure::from_io_kind`] of the error's kind, keeping the OS's words for `Other`.
    pub fn from_io_error(e: &std::io::Error) -> IoFailure {
        match IoFailure::from_io_kind(e.kind()) {
            IoFailure::Other(_) => IoFailure::Other(e.to_string()),
            f => f,
        }
    }
}

/// Which stage timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub enum Stage {
    /// The transport connect (`connection_timeout`).
    Connect,
    /// The handshake (`handshake_timeout`).
    Handshake,
}

/// Why an operator command or a connection attempt failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// The address did not parse.
    #[error("invalid address: {0}")]
    InvalidAddress(#[from] crate::addr::AddrError),
    /// The address or identity is banned.
    #[error("blacklisted: {0}")]
    Blacklisted(String),
    /// The pool is full.
    #[error("connection limit reached ({max} connections)")]
    ConnectionLimitReached {
        /// `max_connections`.
        max: usize,
    },
    /// Too many dials in flight.
    #[error("too many connection attempts in progress (at most {MAX_PENDING_DIALS})")]
    TooManyPendingDials,
    /// Already connected (or connecting) to that peer.
    #[error("already connected to {0}")]
    AlreadyConnected(String),
    /// The handshake failed.
    #[error("handshake failed: {0}")]
    HandshakeFailed(#[from] HandshakeError),
    /// A stage took too long.
    #[error("{0:?} timed out")]
    Timeout(Stage),
    /// The transport connect failed.
    #[error("connect failed: {0}")]
    ConnectFailed(IoFailure),
    /// The peer closed the connection, with a reason.
    #[error("the peer refused the connection: {reason}{}", if text.is_empty() { String::new() } else { format!(" ({text})") })]
    Refused {
        /// The peer's reason.
        reason: DisconnectReason,
        /// The peer's words.
        text: String,
    },
    /// The connection broke or was closed by us before the handshake finished.
    #[error("connection closed before the handshake completed: {0}")]
    Closed(String),
    /// The peer sent something that is not the protocol.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
    /// No connection matches the address or id.
    #[error("unknown peer: {0}")]
    UnknownPeer(String),
    /// A `.onion` address without `network.proxy`.
    #[error("{0} is an onion address: set network.proxy to a SOCKS5 proxy (e.g. Tor at 127.0.0.1:9050) to reach it")]
    ProxyRequired(String),
    /// The SOCKS5 proxy refused or failed the connection (a dial failure for the address book).
    #[error("SOCKS5 proxy: {0}")]
    Proxy(Socks5Error),
    /// A hostname could not be resolved.
    #[error("cannot resolve {host}: {why}")]
    Dns {
        /// The hostname.
        host: String,
        /// What went wrong.
        why: String,
    },
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
    /// A ban target that is not a node id, an IP address or a CIDR subnet.
    #[error("invalid ban target: {0}")]
    InvalidBanTarget(String),
    /// The ban list refused the ban.
    #[error("ban list: {0}")]
    BanList(String),
    /// `unban` of something that is not banned.
    #[error("{0} is not banned")]
    NotBanned(String),
    /// The peer's reputation is below `auto_disconnect_threshold`; it may come back once its
    /// score has decayed above it.
    #[error("reputation {score} is below the disconnect threshold {threshold}")]
    LowReputation {
        /// The peer's total score.
        score: u32,
        /// `auto_disconnect_threshold`.
        threshold: u32,
    },
    /// A `quic://` address while `network.proxy_all` sends every dial through the SOCKS5
    /// proxy, which carries TCP only.
    #[error("{0} is a QUIC address, but network.proxy_all sends every dial through the SOCKS5 proxy, which carries TCP only: use the peer's TCP address")]
    QuicThroughProxy(String),
}

/// Everything a node keeps across restarts, as plain records (the CLI stores them in its
/// database and hands them back to [`Node::restore`]).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct DurableState {
    /// When the records were taken.
    pub saved_at: UnixMillis,
    /// The address book.
    pub addresses: Vec<Entry>,
    /// Reputation, each record with its own time.
    pub reputation: Vec<ReputationRecord>,
    /// Bans with their expiry.
    pub bans: Vec<Ban>,
}

/// Something the node tells the application.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A handshake completed: the peer proved `peer`.
    PeerConnected {
        /// The connection.
        conn: ConnId,
        /// The proven identity.
        peer: NodeId,
        /// Remote socket address.
        address: SocketAddr,
        /// Who dialed.
        direction: Direction,
    },
    /// A connected peer went away.
    PeerDisconnected {
        /// The connection.
        conn: ConnId,
        /// The identity it had.
        peer: NodeId,
        /// Remote socket address.
        address: SocketAddr,
        /// Why.
        reason: DisconnectReason,
        /// True when the peer initiated the disconnect (or the transport failed).
        by_peer: bool,
    },
    /// A connection ended before the handshake completed.
    ConnectionFailed {
        /// The connection.
        conn: ConnId,
        /// Remote socket address.
        address: SocketAddr,
        /// Why.
        error: PeerError,
    },
    /// The outcome of [`Node::add_peer`].
    AddPeerFinished {
        /// The request.
        request: RequestId,
        /// The proven peer, or why not.
        result: Result<NodeId, PeerError>,
    },
    /// [`Node::remove_peer`] finished: the connection is closed.
    RemovePeerFinished {
        /// The request.
        request: RequestId,
        /// The peer's id, if it had completed the handshake.
        peer: Option<NodeId>,
        /// Remote socket address.
        address: SocketAddr,
        /// Whether the peer acknowledged the disconnect before the timeout.
        acked: bool,
    },
    /// An application payload from a connected peer.
    Message {
        /// The sender.
        peer: NodeId,
        /// The payload.
        payload: Vec<u8>,
    },
    /// A latency sample from a Ping/Pong round trip.
    Latency {
        /// The peer.
        peer: NodeId,
        /// The round-trip time.
        rtt: Duration,
    },
    /// After [`Node::shutdown`]: every connection is closed.
    ShutdownComplete,
    /// The node is below `min_connections` outbound and turns to a discovery source.
    Discovery {
        /// Which source.
        step: DiscoveryStep,
        /// Why, in words.
        reason: String,
    },
    /// A peer's `Peers` answer was processed.
    PeersReceived {
        /// The peer.
        peer: NodeId,
        /// Addresses new to the book.
        added: usize,
        /// Addresses refused (malformed, out of scope, over the source's share).
        refused: usize,
    },
    /// A peer-exchange message was refused and counted against the peer.
    PexRefused {
        /// The peer.
        peer: NodeId,
        /// Why.
        why: &'static str,
    },
    /// A peer's reputation crossed a threshold and the node acted.
    ReputationAction {
        /// The peer.
        peer: NodeId,
        /// Its total score.
        score: u32,
        /// What the thresholds called for.
        action: ThresholdAction,
    },
    /// An automatic ban was not applied: self-protection (too many bans at once, or too few
    /// outbound peers) says the fault may be ours. The peer is disconnected instead.
    AutoBanPaused {
        /// The peer that would have been banned.
        peer: NodeId,
        /// Why the ban was held back.
        why: String,
    },
    /// A ban was added (by the operator or automatically).
    BanAdded {
        /// The ban.
        ban: Ban,
    },
    /// A ban was lifted or expired.
    BanRemoved {
        /// The ban.
        ban: Ban,
        /// True when it expired, false when lifted.
        expired: bool,
    },
    /// A DNS seed answered (or failed).
    SeedResult {
        /// The seed name.
        seed: String,
        /// Addresses added and refused, or what went wrong.
        result: Result<(usize, usize), String>,
    },
    /// Something the operator should know that is not an error of a request (e.g. an invalid
    /// bootstrap address in the configuration).
    Warning {
        /// The message.
        message: String,
    },
}

/// The discovery sources, in the order the node falls back through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub enum DiscoveryStep {
    /// Addresses that worked before.
    KnownAddresses,
    /// The configured bootstrap nodes (and other untried addresses in the book).
    Bootstrap,
    /// TXT records of the DNS seeds.
    DnsSeeds,
    /// The hard-coded bootstrap nodes.
    HardcodedBootstrap,
}

/// Which timer a wake-up is for (for debugging busy loops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WakeReason {
    /// A connect deadline.
    ConnectTimeout,
    /// A handshake deadline.
    HandshakeTimeout,
    /// A keep-alive ping or inactivity check.
    KeepAlive,
    /// Waiting for a `DisconnectAck`.
    DisconnectAck,
    /// The periodic maintenance pass.
    Maintenance,
    /// A DNS query's retry deadline.
    Dns,
}

/// What the runtime must do next.
#[derive(Debug)]
#[must_use]
#[non_exhaustive]
pub enum Output {
    /// Write `bytes` to the connection, in order.
    Transmit {
        /// The connection.
        conn: ConnId,
        /// The bytes (whole frames).
        bytes: Vec<u8>,
    },
    /// Open a transport connection; report `Input::Connected` or `Input::ConnectFailed`.
    Dial {
        /// The id to report back with.
        conn: ConnId,
        /// Where to connect.
        addr: SocketAddr,
        /// Which transport: TCP, or one bidirectional stream on a new QUIC connection. The
        /// frames carried are the same either way. (A dial through the SOCKS5 proxy is TCP.)
        transport: Transport,
    },
    /// Close the connection after writing everything queued for it. Send no further input
    /// for it (it is ignored if sent).
    Close {
        /// The connection.
        conn: ConnId,
    },
    /// Send `bytes` as one UDP datagram to `server` (or, if `None`, to the system resolver: the
    /// first nameserver of `/etc/resolv.conf`), and feed any answer back with
    /// `Input::DnsResponse`. Retries and timeouts are the core's business.
    DnsQuery {
        /// The transaction id (for logs; the core matches answers itself).
        id: u16,
        /// The resolver, from `network.dns_resolver`.
        server: Option<SocketAddr>,
        /// The query.
        bytes: Vec<u8>,
    },
    /// Tell the application.
    Event(Event),
    /// Nothing more to do until `at` (or the next input): call `handle_input(Input::Timeout)` then.
    Timeout {
        /// When to wake.
        at: Instant,
        /// Which timer that is.
        reason: WakeReason,
    },
}

/// Something that happened in the outside world.
#[derive(Debug)]
#[non_exhaustive]
pub enum Input<'a> {
    /// An `Output::Dial` connected.
    Connected {
        /// The connection.
        conn: ConnId,
        /// Current time.
        now: Instant,
    },
    /// An `Output::Dial` failed.
    ConnectFailed {
        /// The connection.
        conn: ConnId,
        /// The cause.
        cause: IoFailure,
        /// Current time.
        now: Instant,
    },
    /// Bytes arrived (any split: the node reassembles frames).
    Received {
        /// The connection.
        conn: ConnId,
        /// The bytes.
        data: &'a [u8],
        /// Current time.
        now: Instant,
    },
    /// The transport closed or failed (not after an `Output::Close`).
    Closed {
        /// The connection.
        conn: ConnId,
        /// The cause.
        cause: IoFailure,
        /// Current time.
        now: Instant,
    },
    /// A datagram arrived from the DNS resolver.
    DnsResponse {
        /// The datagram.
        data: &'a [u8],
        /// Current time.
        now: Instant,
    },
    /// The time given by `Output::Timeout` (or later) has come.
    Timeout {
        /// Current time.
        now: Instant,
    },
}

/// What this node says about itself in a handshake. A macro rather than a method so that the
/// borrow of these fields stays disjoint from the RNG the handshake draws from.
macro_rules! local_hello {
    ($node:expr, $unix_secs:expr) => {
        LocalHello {
            identity: &$node.identity,
            capabilities: &$node.capabilities,
            user_agent: &$node.user_agent,
            listen_addr: Some($node.config.network.listen.to_string()),
            unix_secs: $unix_secs,
            max_skew: $node.config.network.peers.max_clock_skew,
            quic_listen_addr: $node
                .config
                .network
                .quic_listen
                .map(|a| PeerAddress::from_socket_addr_via(a, Transport::Quic).to_string()),
        }
    };
}

/// A QuDAG peer-management node: the sans-IO core.
#[derive(Debug)]
pub struct Node {
    config: Config,
    identity: Identity,
    rng: Rng,
    clock: Clock,
    now: Instant,
    pool: Pool,
    timers: BTreeSet<(Instant, ConnId)>,
    outputs: VecDeque<Output>,
    next_conn: u64,
    next_request: u64,
    capabilities: Vec<String>,
    user_agent: String,
    shutting_down: bool,
    shutdown_reported: bool,
    book: AddrBook,
    next_maintenance: Instant,
    hardcoded_added: bool,
    last_step: Option<DiscoveryStep>,
    dns: DnsClient,
    /// Why each pending DNS question was asked, by (lower-case name, kind).
    dns_purposes: BTreeMap<(String, QueryKind), Vec<DnsPurpose>>,
    /// When each seed may be asked again.
    seed_next: BTreeMap<String, Instant>,
    reputation: ReputationTable,
    bans: BanList,
    /// When recent automatic bans happened (self-protection).
    auto_bans: VecDeque<Instant>,
    counters: Counters,
    /// Identities an operator removed, and until when the node leaves them alone.
    removed: BTreeMap<NodeId, Instant>,
    /// Inbound attempts per netgroup (token buckets).
    inbound_limit: InboundLimiter,
    /// When the sealed channel of each new connection rekeys.
    rekey_limits: RekeyLimits,
}

/// Why a DNS question was asked.
#[derive(Clone, Debug)]
enum DnsPurpose {
    /// A seed's TXT record.
    Seed,
    /// A hostname to dial.
    Resolve {
        target: PeerAddress,
        request: Option<RequestId>,
        priority: Priority,
    },
}

impl Node {
    /// A node with `config`, signing as `identity`, drawing randomness from `rng_seed`. `now` and
    /// `unix_now` anchor the node's notion of wall-clock time.
    pub fn new(
        config: Config,
        identity: Identity,
        rng_seed: [u8; 32],
        now: Instant,
        unix_now: UnixMillis,
    ) -> Node {
        let max = config.network.peers.max_connections;
        let mut node = Node {
            config: config.clone(),
            identity,
            rng: Rng::from_seed(rng_seed),
            clock: Clock::new(now, unix_now),
            now,
            pool: Pool::new(max),
            timers: BTreeSet::new(),
            outputs: VecDeque::new(),
            next_conn: 1,
            next_request: 1,
            capabilities: DEFAULT_CAPABILITIES.iter().map(|s| s.to_string()).collect(),
            user_agent: USER_AGENT.to_string(),
            shutting_down: false,
            shutdown_reported: false,
            book: AddrBook::new(MAX_ADDRBOOK_ENTRIES),
            next_maintenance: now,
            hardcoded_added: false,
            last_step: None,
            dns: DnsClient::new(),
            dns_purposes: BTreeMap::new(),
            seed_next: BTreeMap::new(),
            reputation: ReputationTable::new(&config.network.reputation),
            bans: BanList::new(),
            auto_bans: VecDeque::new(),
            counters: Counters::default(),
            removed: BTreeMap::new(),
            inbound_limit: InboundLimiter::default(),
            rekey_limits: RekeyLimits::default(),
        };
        let unix = node.clock.unix(now);
        for b in node.config.network.peers.bootstrap_nodes.clone() {
            match PeerAddress::parse(&b) {
                Ok(a) => {
                    node.book.add(a, Source::Config, unix, &mut node.rng);
                }
                Err(e) => node.event(Event::Warning {
                    message: format!("bootstrap node {b:?} ignored: {e}"),
                }),
            }
        }
        node
    }

    /// Replaces the advertised capabilities (at most [`wire::MAX_CAPABILITIES`], each
    /// 1–[`wire::MAX_CAPABILITY_LEN`] bytes; others are dropped).
    pub fn set_capabilities(&mut self, caps: &[&str]) {
        self.capabilities = caps
            .iter()
            .filter(|c| !c.is_empty() && c.len() <= wire::MAX_CAPABILITY_LEN)
            .take(wire::MAX_CAPABILITIES)
            .map(|s| s.to_string())
            .collect();
    }

    /// Replaces the rekey limits of the sealed channel for connections established from now on
    /// (default: [`crate::channel::REKEY_AFTER_FRAMES`], [`crate::channel::REKEY_AFTER_BYTES`]).
    /// Both peers must use the same limits, so this is for tests and simulations that exercise
    /// rekeying at small values; a deployed node keeps the defaults.
    pub fn set_rekey_limits(&mut self, limits: RekeyLimits) {
        self.rekey_limits = limits;
    }

    /// The session keys a connection's sealed channel started with (`None` before the switch
    /// to sealed frames, or for an unknown connection), from this node's point of view: `send`
    /// seals what it sends. For simulators and fuzz harnesses that play the peer's part or
    /// rewrite this node's traffic; the embedding process owns these secrets as it owns the
    /// identity's secret key. Later keys follow from these by the rekey rule.
    pub fn session_keys(&self, conn: ConnId) -> Option<SessionKeys> {
        self.pool.get(conn)?.keys.as_deref().cloned()
    }

    /// A sealer in the state of the peer's on `conn`: what it returns seals the frames this
    /// node expects next from that peer (`None` before the switch to sealed frames, or for an
    /// unknown connection). Like [`Node::session_keys`], for harnesses that play the peer.
    pub fn peer_sealer(&self, conn: ConnId) -> Option<crate::channel::Sealer> {
        Some(self.pool.get(conn)?.opener.as_deref()?.peer_sealer())
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Wall-clock time at `now`.
    pub fn unix_time(&self, now: Instant) -> UnixMillis {
        self.clock.unix(now)
    }

    fn tick(&mut self, now: Instant) {
        if now > self.now {
            self.now = now;
        }
    }

    // ---------------------------------------------------------------- outputs and timers

    /// The next thing to do. Call until it returns [`Output::Timeout`].
    pub fn poll_output(&mut self) -> Output {
        if let Some(o) = self.outputs.pop_front() {
            return o;
        }
        let (at, reason) = self.poll_timeout();
        Output::Timeout { at, reason }
    }

    /// When the node next needs `Input::Timeout`, and why.
    pub fn poll_timeout(&self) -> (Instant, WakeReason) {
        let mut best = (self.next_maintenance, WakeReason::Maintenance);
        if let Some(at) = self.dns.poll_timeout() {
            if at < best.0 {
                best = (at, WakeReason::Dns);
            }
        }
        if let Some(&(at, conn)) = self.timers.first() {
            if at < best.0 {
                let reason = match self.pool.get(conn) {
                    Some(c) if c.closing.is_some() => WakeReason::DisconnectAck,
                    Some(c) if c.state == PeerState::Connecting => WakeReason::ConnectTimeout,
                    Some(c) if c.state == PeerState::Handshaking => WakeReason::HandshakeTimeout,
                    _ => WakeReason::KeepAlive,
                };
                best = (at, reason);
            }
        }
        best
    }

    fn conn_deadline(&self, c: &Conn) -> Option<Instant> {
        if let Some(cl) = &c.closing {
            return Some(cl.deadline);
        }
        match c.state {
            PeerState::Connecting | PeerState::Handshaking => Some(c.deadline),
            PeerState::Connected if c.fetch_only => Some(c.deadline),
            PeerState::Connected => {
                let idle = c.last_recv + self.config.network.peers.inactivity_timeout;
                Some(if c.ping.is_some() {
                    idle
                } else {
                    idle.min(c.next_ping)
                })
            }
            _ => None,
        }
    }

    /// Makes sure the timer index holds an entry no later than the connection's deadline.
    /// Entries are lazy: a deadline that moved later is found when the entry fires.
    fn schedule(&mut self, id: ConnId) {
        let Some(c) = self.pool.get(id) else { return };
        let Some(at) = self.conn_deadline(c) else {
            return;
        };
        if let Some(old) = c.timer_at {
            if old <= at {
                return;
            }
            self.timers.remove(&(old, id));
        }
        self.timers.insert((at, id));
        if let Some(c) = self.pool.get_mut(id) {
            c.timer_at = Some(at);
        }
    }

    fn unschedule(&mut self, c: &Conn) {
        if let Some(at) = c.timer_at {
            self.timers.remove(&(at, c.id));
        }
    }

    /// `msg` as one frame, sealed with `sealer` once the connection has one.
    fn frame_of(msg: &Message, sealer: Option<&mut Sealer>) -> Option<Vec<u8>> {
        // Sized for the common small frames, so encoding does not regrow the buffer.
        let mut bytes = Vec::with_capacity(64);
        if let Err(e) = msg.encode_into(&mut bytes) {
            // Our own messages are built within the limits; an error is a bug.
            debug_assert!(
                false,
                "encoding our own {:?} failed: {e}",
                msg.message_type()
            );
            return None;
        }
        // After the handshake every frame is sealed.
        match sealer.map(|s| s.seal_frame(&bytes)) {
            None => Some(bytes),
            Some(Ok(sealed)) => Some(sealed),
            Some(Err(e)) => {
                // Within the frame limit and 2^64 frames: an error is a bug.
                debug_assert!(
                    false,
                    "sealing our own {:?} failed: {e}",
                    msg.message_type()
                );
                None
            }
        }
    }

    fn send(&mut self, id: ConnId, msg: &Message) {
        let sealer = self.pool.get_mut(id).and_then(|c| c.sealer.as_deref_mut());
        let Some(bytes) = Node::frame_of(msg, sealer) else {
            return;
        };
        if let Some(c) = self.pool.get_mut(id) {
            c.messages_sent += 1;
            c.bytes_sent += bytes.len() as u64;
        }
        self.outputs.push_back(Output::Transmit { conn: id, bytes });
    }

    fn event(&mut self, e: Event) {
        self.outputs.push_back(Output::Event(e));
    }

    fn alloc_conn(&mut self) -> ConnId {
        let id = ConnId(self.next_conn);
        self.next_conn += 1;
        id
    }

    fn alloc_request(&mut self) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        id
    }

    fn new_conn(&self, id: ConnId, direction: Direction, remote: SocketAddr, now: Instant) -> Conn {
        let p = &self.config.network.peers;
        let deadline = now
            + match direction {
                Direction::Outbound => p.connection_timeout,
                Direction::Inbound => p.handshake_timeout,
            };
        Conn {
            id,
            state: PeerState::Discovered,
            direction,
            remote,
            priority: Priority::Normal,
            request: None,
            remove_request: None,
            expected_id: None,
            hs: HandshakeState::AwaitHello,
            decoder: FrameDecoder::new(),
            sealer: None,
            opener: None,
            keys: None,
            hello: None,
            listen_addr: None,
            transport: Transport::Tcp,
            quic_listen_addr: None,
            deadline,
            connected_since: None,
            last_recv: now,
            last_activity: self.clock.unix(now),
            messages_sent: 0,
            messages_received: 0,
            bytes_sent: 0,
            bytes_received: 0,
            ping: None,
            next_ping: now,
            latency: None,
            closing: None,
            timer_at: None,
            dial_addr: None,
            socks: None,
            pex_asked: None,
            next_pex: None,
            pex_tokens: PEX_BURST,
            pex_strikes: 0,
            fetch_only: false,
            pex_refill: now + PEX_REFILL,
        }
    }

    fn unix_secs(&self) -> u64 {
        self.clock.unix(self.now).as_secs()
    }

    // ---------------------------------------------------------------- inputs

    /// A new inbound TCP connection from `remote`: [`Node::accept_via`] with
    /// [`Transport::Tcp`].
    pub fn accept(&mut self, remote: SocketAddr, now: Instant) -> ConnId {
        self.accept_via(remote, Transport::Tcp, now)
    }

    /// A new inbound transport connection from `remote`, carried by `transport` (for QUIC:
    /// once the peer opened its bidirectional stream). Returns the id to use for its inputs.
    /// If the node refuses it (pool full, shutting down) the outputs say so: a `Disconnect`
    /// frame with the reason, then `Close`.
    pub fn accept_via(&mut self, remote: SocketAddr, transport: Transport, now: Instant) -> ConnId {
        self.tick(now);
        let id = self.alloc_conn();
        let refusal = if self.shutting_down {
            Some((
                DisconnectReason::Shutdown,
                DisconnectReason::Shutdown.as_str(),
            ))
        } else if self.ban_of(Some(remote.ip()), None, now).is_some() {
            Some((DisconnectReason::Banned, DisconnectReason::Banned.as_str()))
        } else if !self
            .inbound_limit
            .try_acquire(crate::addr::netgroup(remote.ip()), now)
        {
            // Too many attempts from this netgroup: refused before any handshake work, with a
            // metrics label of its own (the wire has no closer reason).
            Some((DisconnectReason::ConnectionLimitReached, RATE_LIMITED_LABEL))
        } else {
            None
        };
        if let Some((reason, label)) = refusal {
            self.refuse_unpooled(id, reason, label);
            return id;
        }
        // Long-lived slots full: evict a peer of an over-represented netgroup, else admit the
        // newcomer to an address-fetch slot, else refuse.
        let mut fetch_only = false;
        if self.pool.long_lived() >= self.pool.long_lived_cap()
            && !self.make_room_for_inbound(remote, now)
        {
            if self.pool.is_full() {
                let reason = DisconnectReason::ConnectionLimitReached;
                self.refuse_unpooled(id, reason, reason.as_str());
                return id;
            }
            fetch_only = true;
        }
        let mut c = self.new_conn(id, Direction::Inbound, remote, now);
        c.fetch_only = fetch_only;
        c.transport = transport;
        self.move_state(&mut c, PeerState::Connecting);
        self.move_state(&mut c, PeerState::Handshaking);
        self.pool.insert(c);
        self.schedule(id);
        id
    }

    fn refuse_unpooled(&mut self, id: ConnId, reason: DisconnectReason, label: &'static str) {
        bump(&mut self.counters.inbound_refused, label);
        let msg = Message::Disconnect(Disconnect {
            reason: reason.code(),
            text: String::new(),
        });
        self.send(id, &msg);
        self.outputs.push_back(Output::Close { conn: id });
    }

    /// Feeds one input. Never panics; inputs for unknown connections are ignored.
    pub fn handle_input(&mut self, input: Input<'_>) {
        match input {
            Input::Connected { conn, now } => {
                self.tick(now);
                self.on_connected(conn, now);
            }
            Input::ConnectFailed { conn, cause, now } => {
                self.tick(now);
                if self
                    .pool
                    .get(conn)
                    .is_some_and(|c| c.state == PeerState::Connecting)
                {
                    self.fail(conn, PeerError::ConnectFailed(cause), None);
                }
            }
            Input::Received { conn, data, now } => {
                self.tick(now);
                self.on_received(conn, data, now);
            }
            Input::Closed { conn, cause, now } => {
                self.tick(now);
                self.on_closed(conn, cause);
            }
            Input::DnsResponse { data, now } => {
                self.tick(now);
                if let Ok(outcome) = self.dns.handle_response(data, now) {
                    self.on_dns(outcome, now);
                }
            }
            Input::Timeout { now } => {
                self.tick(now);
                self.on_timeout(now);
            }
        }
    }

    fn move_state(&self, c: &mut Conn, to: PeerState) {
        let r = c.state.transition(to);
        debug_assert!(r.is_ok(), "{:?}", r);
    }

    fn on_connected(&mut self, id: ConnId, now: Instant) {
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        if c.state != PeerState::Connecting {
            return;
        }
        // Through the proxy: the SOCKS5 negotiation first, still under `connection_timeout`.
        if let Some(socks) = c.socks.as_mut() {
            if socks.is_started() {
                return;
            }
            match socks.start() {
                Ok(bytes) => self.outputs.push_back(Output::Transmit { conn: id, bytes }),
                Err(e) => self.fail(id, PeerError::Proxy(e), None),
            }
            return;
        }
        self.start_handshake(id, now);
    }

    /// Sends our hello on a freshly connected (or freshly tunnelled) outbound connection.
    fn start_handshake(&mut self, id: ConnId, now: Instant) {
        let hs_timeout = self.config.network.peers.handshake_timeout;
        let Some(c) = self.pool.get(id) else { return };
        if c.state != PeerState::Connecting {
            return;
        }
        let expected = c.expected_id;
        let unix = self.unix_secs();
        let (hs, msg) = handshake::initiate(&local_hello!(self, unix), expected, &mut self.rng);
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let mut st = c.state;
        let r = st.transition(PeerState::Handshaking);
        debug_assert!(r.is_ok());
        c.state = st;
        c.hs = hs;
        c.deadline = now + hs_timeout;
        c.last_recv = now;
        self.send(id, &msg);
        self.schedule(id);
    }

    /// Feeds the proxy's bytes to a running SOCKS5 negotiation. Returns the bytes left for the
    /// frame decoder: all of `data` when no negotiation is running, the peer's first bytes when
    /// the tunnel opened mid-`data`, `None` when nothing is left.
    fn on_proxy_bytes<'d>(
        &mut self,
        id: ConnId,
        mut data: &'d [u8],
        now: Instant,
    ) -> Option<&'d [u8]> {
        let c = self.pool.get_mut(id)?;
        let Some(socks) = c.socks.as_mut().filter(|s| !s.is_connected()) else {
            return Some(data);
        };
        if c.state != PeerState::Connecting || !socks.is_started() {
            return Some(data);
        }
        let result = loop {
            match socks.receive(data) {
                Ok((n, step)) => {
                    data = data.get(n..).unwrap_or_default();
                    match step {
                        SocksStep::NeedMore => return None,
                        SocksStep::Send(bytes) => {
                            self.outputs.push_back(Output::Transmit { conn: id, bytes });
                            if data.is_empty() {
                                return None;
                            }
                        }
                        SocksStep::Connected { .. } => break Ok(()),
                    }
                }
                Err(e) => break Err(e),
            }
        };
        match result {
            Ok(()) => {
                self.start_handshake(id, now);
                (!data.is_empty()).then_some(data)
            }
            Err(e) => {
                self.fail(id, PeerError::Proxy(e), None);
                None
            }
        }
    }

    fn on_received(&mut self, id: ConnId, data: &[u8], now: Instant) {
        let Some(mut data) = self.on_proxy_bytes(id, data, now) else {
            return;
        };
        let unix = self.clock.unix(now);
        match self.pool.get_mut(id) {
            Some(c) if matches!(c.state, PeerState::Handshaking | PeerState::Connected) => {
                c.bytes_received += data.len() as u64;
                c.last_recv = now;
                c.last_activity = unix;
            }
            _ => return,
        }
        while !data.is_empty() {
            let pushed = match self.pool.get_mut(id) {
                Some(c) => c.decoder.push(data),
                None => return,
            };
            match pushed {
                Ok(n) => data = &data[n..],
                Err(e) => return self.on_wire_error(id, e),
            }
            loop {
                let next = match self.pool.get_mut(id) {
                    Some(c) if c.state.is_terminal() => return,
                    Some(c) => match c.opener.as_mut() {
                        Some(opener) => c.decoder.next_with(|p| opener.open(p)),
                        None => c.decoder.next_message().map_err(ChannelError::Wire),
                    },
                    None => return,
                };
                match next {
                    Ok(Some(msg)) => {
                        if let Some(c) = self.pool.get_mut(id) {
                            c.messages_received += 1;
                        }
                        self.on_message(id, msg, now);
                    }
                    Ok(None) => break,
                    Err(ChannelError::Wire(e)) => return self.on_wire_error(id, e),
                    Err(e) => return self.on_channel_error(id, e),
                }
            }
        }
        self.schedule(id);
    }

    fn on_wire_error(&mut self, id: ConnId, e: WireError) {
        let Some(c) = self.pool.get(id) else { return };
        if c.state == PeerState::Connected {
            if let Some(p) = c.node_id() {
                let unix = self.clock.unix(self.now);
                self.reputation
                    .report(p, Report::ProtocolViolation(Violation::BadFrame), unix);
            }
            self.disconnect(id, DisconnectReason::InvalidMessage, &e.to_string(), false);
        } else {
            self.fail(
                id,
                PeerError::HandshakeFailed(HandshakeError::Malformed(e)),
                None,
            );
        }
    }

    /// A sealed frame that did not open (tampered, truncated, reordered, replayed): the stream
    /// can no longer be trusted, the connection ends with `ProtocolViolation`.
    fn on_channel_error(&mut self, id: ConnId, e: ChannelError) {
        let Some(c) = self.pool.get(id) else { return };
        if let Some(p) = c.node_id() {
            let unix = self.clock.unix(self.now);
            self.reputation
                .report(p, Report::ProtocolViolation(Violation::BadFrame), unix);
        }
        self.disconnect(
            id,
            DisconnectReason::ProtocolViolation,
            &e.to_string(),
            false,
        );
    }

    /// Switches a connection to the sealed channel.
    fn install_keys(&mut self, id: ConnId, keys: &SessionKeys) {
        let limits = self.rekey_limits;
        if let Some(c) = self.pool.get_mut(id) {
            let (sealer, opener) = keys.split(limits);
            c.sealer = Some(Box::new(sealer));
            c.opener = Some(Box::new(opener));
            c.keys = Some(Box::new(keys.clone()));
        }
    }

    fn on_message(&mut self, id: ConnId, msg: Message, now: Instant) {
        let Some(c) = self.pool.get(id) else { return };
        let state = c.state;
        let closing = c.closing.is_some();
        match msg {
            Message::Disconnect(d) => {
                let reason = DisconnectReason::from_code(d.reason);
                if state == PeerState::Connected {
                    if !closing {
                        self.send(id, &Message::DisconnectAck);
                    }
                    self.finish_close(id, reason, true, closing);
                } else {
                    self.fail(
                        id,
                        PeerError::Refused {
                            reason,
                            text: d.text,
                        },
                        None,
                    );
                }
            }
            Message::DisconnectAck => {
                if closing {
                    let reason = self
                        .pool
                        .get(id)
                        .and_then(|c| c.closing.as_ref())
                        .map(|c| c.reason);
                    self.finish_close(
                        id,
                        reason.unwrap_or(DisconnectReason::UserRequested),
                        false,
                        true,
                    );
                }
            }
            _ if closing => {}
            m if state == PeerState::Handshaking => self.on_handshake_message(id, m, now),
            Message::Ping(p) => self.send(id, &Message::Pong(p)),
            Message::Pong(p) => self.on_pong(id, p, now),
            Message::App(a) => {
                if let Some(peer) = self.pool.get(id).and_then(|c| c.node_id()) {
                    self.event(Event::Message {
                        peer,
                        payload: a.payload.into_vec(),
                    });
                }
            }
            Message::GetPeers(g) => self.on_get_peers(id, g, now),
            Message::Peers(p) => self.on_peers(id, p, now),
            m => {
                if let Some(p) = self.pool.get(id).and_then(|c| c.node_id()) {
                    let unix = self.clock.unix(now);
                    self.reputation.report(
                        p,
                        Report::ProtocolViolation(Violation::Handshake),
                        unix,
                    );
                }
                let what = format!("{:?} after the handshake", m.message_type());
                self.disconnect(id, DisconnectReason::ProtocolViolation, &what, false);
            }
        }
    }

    fn on_pong(&mut self, id: ConnId, p: Ping, now: Instant) {
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let Some((nonce, sent)) = c.ping else { return };
        if nonce != p.nonce {
            return;
        }
        c.ping = None;
        let rtt = now.saturating_duration_since(sent);
        c.latency = Some(match c.latency {
            None => rtt,
            Some(l) => (l * (LATENCY_EWMA_DIV - 1) + rtt) / LATENCY_EWMA_DIV,
        });
        let peer = c.node_id();
        if let Some(peer) = peer {
            let unix = self.clock.unix(now);
            self.reputation.report(peer, Report::Latency(rtt), unix);
            self.counters.latency.observe(rtt.as_secs_f64());
            self.event(Event::Latency { peer, rtt });
        }
    }

    fn on_handshake_message(&mut self, id: ConnId, msg: Message, now: Instant) {
        let Some(c) = self.pool.get(id) else { return };
        let expected = c.hs.expects();
        let result = match (&c.hs, msg) {
            (HandshakeState::AwaitHello, Message::Handshake(h)) => {
                let unix = self.unix_secs();
                match handshake::on_hello(&h, &local_hello!(self, unix), &mut self.rng) {
                    // Refusals on the claimed id are safe before it is proven: claiming someone
                    // else's id only gets the claimant refused.
                    Ok((_, _, claimed))
                        if self.ban_of(None, Some(&claimed.node_id), now).is_some() =>
                    {
                        let why = self
                            .ban_of(None, Some(&claimed.node_id), now)
                            .unwrap_or_default();
                        Err(PeerError::Blacklisted(why))
                    }
                    Ok((_, _, claimed)) if self.low_reputation(&claimed.node_id, now).is_some() => {
                        Err(self
                            .low_reputation(&claimed.node_id, now)
                            .unwrap_or(PeerError::ShuttingDown))
                    }
                    Ok((st, reply, claimed)) => {
                        if let Some(c) = self.pool.get_mut(id) {
                            c.hs = st;
                            c.hello = Some(claimed);
                        }
                        self.send(id, &reply);
                        Ok(None)
                    }
                    Err(e) => Err(PeerError::HandshakeFailed(e)),
                }
            }
            (HandshakeState::AwaitResponse { .. }, Message::HandshakeResponse(r)) => {
                let unix = self.unix_secs();
                match handshake::on_response(&c.hs, &r, &local_hello!(self, unix)) {
                    Ok((confirm, peer, keys)) => Ok(Some((peer, Some(confirm), keys))),
                    Err(e) => Err(PeerError::HandshakeFailed(e)),
                }
            }
            (HandshakeState::AwaitConfirm { .. }, Message::HandshakeConfirm(cf)) => {
                handshake::on_confirm(&c.hs, &cf)
                    .map(|(p, keys)| Some((p, None, keys)))
                    .map_err(PeerError::HandshakeFailed)
            }
            (_, m) => Err(PeerError::HandshakeFailed(
                HandshakeError::UnexpectedMessage {
                    got: m.message_type(),
                    expected: expected.unwrap_or(MessageType::Handshake),
                },
            )),
        };
        match result {
            Ok(None) => {}
            Ok(Some((peer, confirm, keys))) => self.on_established(id, peer, confirm, keys, now),
            Err(e) => self.fail(id, e, None),
        }
    }

    /// The peer proved `peer`. Applies the checks that need the whole node, then connects.
    ///
    /// The channel switches to sealed frames right after `HandshakeConfirm`: the responder
    /// (no `confirm` to send) at once, since the initiator seals everything after its
    /// confirmation; the initiator right after sending it. A refusal before that point goes out
    /// in plain text, one after it sealed, matching what the peer expects.
    fn on_established(
        &mut self,
        id: ConnId,
        peer: PeerHello,
        confirm: Option<Message>,
        keys: SessionKeys,
        now: Instant,
    ) {
        if confirm.is_none() {
            self.install_keys(id, &keys);
        }
        let Some(c) = self.pool.get(id) else { return };
        let direction = c.direction;
        if let Some(why) = self.ban_of(Some(c.remote.ip()), Some(&peer.node_id), now) {
            return self.fail(
                id,
                PeerError::Blacklisted(why),
                Some(DisconnectReason::Banned),
            );
        }
        if let Some(err) = self.low_reputation(&peer.node_id, now) {
            return self.fail(id, err, Some(DisconnectReason::LowReputation));
        }
        if let Some(confirm) = confirm {
            self.send(id, &confirm);
            self.install_keys(id, &keys);
        }
        if let Some(other_id) = self.pool.by_node(&peer.node_id) {
            let other_dir = self.pool.get(other_id).map(|o| o.direction);
            // Both sides apply the same rule, so they keep the same connection: the one whose
            // initiator has the lower node id; if both were opened by the same side, the older.
            let initiator = |d: Direction| {
                if d == Direction::Outbound {
                    self.node_id()
                } else {
                    peer.node_id
                }
            };
            // A connection already closing (an operator removal waiting for its ack) cannot be
            // replaced: closing it is under way, and dropping it from the index while it is
            // still connected would leave two connections to one node (found by the node_ops
            // fuzzer). The newcomer is refused; the peer reconnects once the old one is gone.
            let other_closing = self.pool.get(other_id).is_some_and(|o| o.closing.is_some());
            let keep_new = match other_dir {
                Some(od) if od != direction && !other_closing => {
                    initiator(direction) < initiator(od)
                }
                _ => false,
            };
            if keep_new {
                self.disconnect(other_id, DisconnectReason::DuplicateConnection, "", false);
            } else {
                let err = PeerError::AlreadyConnected(peer.node_id.to_string());
                self.fail(id, err, Some(DisconnectReason::DuplicateConnection));
                return;
            }
        }
        let unix = self.clock.unix(now);
        let resolve = |a: Option<&str>, transport: Transport| {
            let a = a?;
            let c = self.pool.get(id)?;
            // Tunnelled to a name, the socket's address is the proxy's: it tells nothing.
            let named = c
                .dial_addr
                .as_ref()
                .is_some_and(|d| d.socket_addr().is_none());
            if c.socks.is_some() && named {
                let l = PeerAddress::parse(a).ok()?;
                let l = l.socket_addr().filter(|_| l.transport == transport)?;
                return (!l.ip().is_unspecified()).then_some(l);
            }
            resolve_listen(a, transport, c.remote)
        };
        let listen = resolve(peer.listen_addr.as_deref(), Transport::Tcp);
        let quic_listen = resolve(peer.quic_listen_addr.as_deref(), Transport::Quic);
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let mut st = c.state;
        let r = st.transition(PeerState::Connected);
        debug_assert!(r.is_ok());
        c.state = st;
        c.hs = HandshakeState::Done;
        c.connected_since = Some(unix);
        if c.fetch_only {
            c.deadline = now + FETCH_GRACE;
        }
        c.hello = Some(peer.clone());
        c.listen_addr = listen;
        c.quic_listen_addr = quic_listen;
        c.last_recv = now;
        let address = c.remote;
        let transport = c.transport;
        let request = c.request.take();
        let dial_addr = c.dial_addr.clone();
        let wants_pex =
            direction == Direction::Outbound && peer.capabilities.iter().any(|c| c == "pex");
        self.pool.bind_node(peer.node_id, id);
        bump(
            &mut self.counters.connections,
            if direction == Direction::Outbound {
                "outbound"
            } else {
                "inbound"
            },
        );
        bump(
            &mut self.counters.connections_by_transport,
            transport.as_str(),
        );
        if direction == Direction::Outbound {
            bump(&mut self.counters.dial_outcomes, "connected");
        }
        self.reputation
            .report(peer.node_id, Report::Connected, unix);
        if let Some(a) = &dial_addr {
            self.book.mark_success(a, peer.node_id, unix);
        }
        // The signed handshake vouches for both listen addresses alike.
        let listens = [(listen, Transport::Tcp), (quic_listen, Transport::Quic)];
        for (l, transport) in listens {
            let Some(l) = l else { continue };
            let mut a = PeerAddress::from_socket_addr_via(l, transport);
            a.expected_id = Some(peer.node_id);
            if self.in_scope(&a) {
                self.book
                    .add(a.clone(), Source::Handshake, unix, &mut self.rng);
                self.book.mark_success(&a, peer.node_id, unix);
            }
        }
        if wants_pex {
            self.ask_peers(id, now);
        }
        self.event(Event::PeerConnected {
            conn: id,
            peer: peer.node_id,
            address,
            direction,
        });
        if let Some(request) = request {
            self.event(Event::AddPeerFinished {
                request,
                result: Ok(peer.node_id),
            });
        }
        // A first ping right away gives a latency figure within one round trip.
        self.send_ping(id, now);
        self.schedule(id);
    }

    fn send_ping(&mut self, id: ConnId, now: Instant) {
        let nonce = self.rng.next_u64();
        let interval = self.config.network.peers.ping_interval;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        c.ping = Some((nonce, now));
        c.next_ping = now + interval;
        self.send(id, &Message::Ping(Ping { nonce }));
    }

    fn on_closed(&mut self, id: ConnId, cause: IoFailure) {
        let Some(c) = self.pool.get(id) else { return };
        match c.state {
            PeerState::Connected => {
                let (reason, closing) = match &c.closing {
                    Some(cl) => (cl.reason, true),
                    None => (DisconnectReason::NetworkError, false),
                };
                self.finish_close_inner(id, reason, !closing, false, false);
            }
            _ => {
                let err = match c.state {
                    PeerState::Connecting => PeerError::ConnectFailed(cause),
                    _ => PeerError::Closed(cause.to_string()),
                };
                self.fail_inner(id, err, None, false);
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.dns.poll_timeout().is_some_and(|t| t <= now) {
            for action in self.dns.handle_timeout(now, &mut self.rng) {
                match action {
                    DnsTimeoutAction::Retry { new_id, bytes, .. } => {
                        self.counters.dns_queries += 1;
                        let server = self.config.network.dns_resolver;
                        self.outputs.push_back(Output::DnsQuery {
                            id: new_id,
                            server,
                            bytes,
                        });
                    }
                    DnsTimeoutAction::Failed { name, kind, .. } => {
                        self.on_dns_failed(&name, kind, "no answer from the resolver", now)
                    }
                }
            }
        }
        if now >= self.next_maintenance {
            self.next_maintenance = now + MAINTENANCE_INTERVAL;
            self.maintenance(now);
        }
        while let Some(&(at, id)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, id));
            if let Some(c) = self.pool.get_mut(id) {
                c.timer_at = None;
            }
            self.on_conn_timer(id, now);
            self.schedule(id);
        }
    }

    fn on_conn_timer(&mut self, id: ConnId, now: Instant) {
        let p = &self.config.network.peers;
        let (inactivity, _) = (p.inactivity_timeout, p.ping_interval);
        let Some(c) = self.pool.get(id) else { return };
        if let Some(cl) = &c.closing {
            if now >= cl.deadline {
                let reason = cl.reason;
                self.finish_close(id, reason, false, false);
            }
            return;
        }
        match c.state {
            PeerState::Connecting if now >= c.deadline => {
                self.fail(id, PeerError::Timeout(Stage::Connect), None)
            }
            PeerState::Handshaking if now >= c.deadline => {
                self.fail(id, PeerError::Timeout(Stage::Handshake), None)
            }
            PeerState::Connected if c.fetch_only && now >= c.deadline => self.disconnect(
                id,
                DisconnectReason::ConnectionLimitReached,
                "the node is full",
                false,
            ),
            PeerState::Connected if c.fetch_only => {}
            PeerState::Connected => {
                if now >= c.last_recv + inactivity {
                    self.disconnect(id, DisconnectReason::InactivityTimeout, "", false);
                } else if c.ping.is_none() && now >= c.next_ping {
                    self.send_ping(id, now);
                }
            }
            _ => {}
        }
    }

    // ---------------------------------------------------------------- ending connections

    /// Fails a connection that never got connected: tells the peer why (if the transport is
    /// up), closes it, reports the outcome.
    fn fail(&mut self, id: ConnId, error: PeerError, reason: Option<DisconnectReason>) {
        self.fail_inner(id, error, reason, true)
    }

    fn fail_inner(
        &mut self,
        id: ConnId,
        error: PeerError,
        reason: Option<DisconnectReason>,
        transport_up: bool,
    ) {
        let Some(mut c) = self.pool.remove(id) else {
            return;
        };
        self.unschedule(&c);
        let reason = reason.unwrap_or_else(|| reason_for(&error));
        if transport_up
            && c.state == PeerState::Handshaking
            && !matches!(error, PeerError::Refused { .. })
        {
            let text = truncate(&error.to_string(), wire::MAX_DISCONNECT_TEXT_LEN);
            let msg = Message::Disconnect(Disconnect {
                reason: reason.code(),
                text,
            });
            // Out of the pool already: sealed with the connection's own sealer, if it has one
            // (a responder that refuses right after the confirmation).
            if let Some(bytes) = Node::frame_of(&msg, c.sealer.as_deref_mut()) {
                self.outputs.push_back(Output::Transmit { conn: id, bytes });
            }
        }
        if transport_up {
            self.outputs.push_back(Output::Close { conn: id });
        }
        self.move_state(&mut c, PeerState::Failed);
        bump(&mut self.counters.handshake_failures, error.kind());
        if c.direction == Direction::Outbound {
            let outcome = match &error {
                PeerError::ConnectFailed(_) => "connect_failed",
                PeerError::Timeout(_) => "timeout",
                PeerError::HandshakeFailed(_) => "handshake_failed",
                PeerError::Refused { .. } => "refused",
                _ => "other",
            };
            bump(&mut self.counters.dial_outcomes, outcome);
        }
        self.counters.closed_messages += c.messages_sent + c.messages_received;
        self.counters.closed_bytes += c.bytes_sent + c.bytes_received;
        if let Some(a) = &c.dial_addr {
            let unix = self.clock.unix(self.now);
            match &error {
                PeerError::AlreadyConnected(_) | PeerError::ShuttingDown => {}
                PeerError::HandshakeFailed(HandshakeError::SelfConnection)
                | PeerError::Refused {
                    reason: DisconnectReason::SelfConnection,
                    ..
                } => {
                    self.book.remove(a);
                }
                _ => self.book.mark_failure(a, unix),
            }
        }
        self.event(Event::ConnectionFailed {
            conn: id,
            address: c.remote,
            error: error.clone(),
        });
        if let Some(request) = c.request {
            self.event(Event::AddPeerFinished {
                request,
                result: Err(error),
            });
        }
        if let Some(request) = c.remove_request {
            let address = c.remote;
            self.event(Event::RemovePeerFinished {
                request,
                peer: None,
                address,
                acked: false,
            });
        }
        self.after_removal();
    }

    /// Starts closing a connected peer: `Disconnect{reason}` now; with `graceful`, wait for the
    /// ack up to `disconnect_timeout`, else close at once.
    fn disconnect(&mut self, id: ConnId, reason: DisconnectReason, text: &str, graceful: bool) {
        let Some(c) = self.pool.get(id) else { return };
        if c.closing.is_some() {
            return;
        }
        if c.state != PeerState::Connected {
            self.fail(id, PeerError::Closed(reason.to_string()), Some(reason));
            return;
        }
        let text = truncate(text, wire::MAX_DISCONNECT_TEXT_LEN);
        self.send(
            id,
            &Message::Disconnect(Disconnect {
                reason: reason.code(),
                text,
            }),
        );
        if graceful {
            let deadline = self.now + self.config.network.peers.disconnect_timeout;
            if let Some(c) = self.pool.get_mut(id) {
                c.closing = Some(Closing { reason, deadline });
            }
            self.schedule(id);
        } else {
            self.finish_close(id, reason, false, false);
        }
    }

    fn finish_close(&mut self, id: ConnId, reason: DisconnectReason, by_peer: bool, acked: bool) {
        self.finish_close_inner(id, reason, by_peer, acked, true)
    }

    fn finish_close_inner(
        &mut self,
        id: ConnId,
        reason: DisconnectReason,
        by_peer: bool,
        acked: bool,
        transport_up: bool,
    ) {
        let Some(mut c) = self.pool.remove(id) else {
            return;
        };
        self.unschedule(&c);
        if transport_up {
            self.outputs.push_back(Output::Close { conn: id });
        }
        self.move_state(&mut c, PeerState::Disconnected);
        bump(&mut self.counters.disconnections, reason.as_str());
        self.counters.closed_messages += c.messages_sent + c.messages_received;
        self.counters.closed_bytes += c.bytes_sent + c.bytes_received;
        let peer = c.hello.as_ref().map(|h| h.node_id);
        if by_peer && reason == DisconnectReason::ConnectionLimitReached {
            // The peer is full (it may have answered our GetPeers first): try it again later.
            if let Some(a) = &c.dial_addr {
                let unix = self.clock.unix(self.now);
                self.book.mark_failure(a, unix);
            }
        }
        if let Some(p) = peer {
            let kind = match (by_peer, reason) {
                (false, _) => DisconnectKind::Local,
                (true, DisconnectReason::NetworkError) => DisconnectKind::Unclean,
                (true, _) => DisconnectKind::Clean,
            };
            let unix = self.clock.unix(self.now);
            self.reputation.report(p, Report::Disconnected(kind), unix);
        }
        if let Some(peer) = peer {
            self.event(Event::PeerDisconnected {
                conn: id,
                peer,
                address: c.remote,
                reason,
                by_peer,
            });
        }
        if let Some(request) = c.remove_request {
            self.event(Event::RemovePeerFinished {
                request,
                peer,
                address: c.remote,
                acked,
            });
        }
        self.after_removal();
    }

    fn after_removal(&mut self) {
        if self.shutting_down && !self.shutdown_reported && self.pool.len() == 0 {
            self.shutdown_reported = true;
            self.event(Event::ShutdownComplete);
        }
    }

    // ---------------------------------------------------------------- metrics

    /// The counters and the gauges computed from the node's state at `now`.
    pub fn metrics(&self, now: Instant) -> MetricsSnapshot {
        let unix = self.clock.unix(now);
        let counts = self.pool.counts();
        let mut peers = Vec::new();
        let mut groups = Vec::new();
        let mut distribution = BTreeMap::new();
        for c in self.pool.iter().filter(|c| c.state == PeerState::Connected) {
            let Some(id) = c.node_id() else { continue };
            let reputation = self.reputation.score(&id, unix).total;
            let netgroup = PeerAddress::from_socket_addr(c.remote)
                .netgroup()
                .to_string();
            *distribution
                .entry(crate::metrics::reputation_bucket(reputation))
                .or_insert(0) += 1;
            groups.push(netgroup.clone());
            peers.push(PeerFigures {
                id: id.to_hex(),
                netgroup,
                messages: c.messages_sent + c.messages_received,
                bytes_sent: c.bytes_sent,
                bytes_received: c.bytes_received,
                latency_seconds: c.latency.map(|l| l.as_secs_f64()),
                reputation,
            });
        }
        MetricsSnapshot {
            total_peers: counts.total(),
            peers_by_status: [
                ("connecting", counts.connecting),
                ("handshaking", counts.handshaking),
                ("connected", counts.connected()),
            ]
            .into_iter()
            .collect(),
            connected_by_direction: [("inbound", counts.inbound), ("outbound", counts.outbound)]
                .into_iter()
                .collect(),
            known_addresses: self.book.len(),
            inbound_netgroups_tracked: self.inbound_limit.tracked(),
            buffered_bytes: self.pool.iter().map(|c| c.decoder.buffered()).sum(),
            active_bans: self.bans.list(unix).count(),
            reputation_distribution: distribution,
            concentration: Concentration::from_groups(groups.iter().map(String::as_str)),
            peers,
            counters: self.counters.clone(),
        }
    }

    // ---------------------------------------------------------------- queries

    /// Every live connection, in connection order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.pool.iter().map(|c| c.info(self.score_of(c))).collect()
    }

    fn score_of(&self, c: &Conn) -> u32 {
        let unix = self.clock.unix(self.now);
        c.node_id().map_or(crate::reputation::NEUTRAL_SCORE, |n| {
            self.reputation.score(&n, unix).total
        })
    }

    /// One peer by connection.
    pub fn peer(&self, conn: ConnId) -> Option<PeerInfo> {
        self.pool.get(conn).map(|c| c.info(self.score_of(c)))
    }

    /// The address book.
    pub fn address_book(&self) -> &AddrBook {
        &self.book
    }

    /// The per-netgroup limit on inbound attempts (read-only: tokens per netgroup, table size).
    pub fn inbound_limiter(&self) -> &InboundLimiter {
        &self.inbound_limit
    }

    /// Connection counts.
    pub fn counts(&self) -> PoolCounts {
        self.pool.counts()
    }

    /// The connected peers' ids, in id order.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        let mut v: Vec<NodeId> = self
            .pool
            .iter()
            .filter(|c| c.state == PeerState::Connected)
            .filter_map(|c| c.node_id())
            .collect();
        v.sort();
        v
    }

    /// Checks the node's internal invariants (pool limits, identity index, timers); for tests
    /// and the simulator. Returns a description of the first broken one.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.pool.check_invariants()?;
        self.book.check_invariants()?;
        if self.inbound_limit.tracked() > crate::inbound_limit::MAX_INBOUND_NETGROUPS_TRACKED {
            return Err(format!(
                "{} netgroups tracked by the inbound limit",
                self.inbound_limit.tracked()
            ));
        }
        for c in self.pool.iter() {
            if self.conn_deadline(c).is_some() && c.timer_at.is_none() {
                return Err(format!("{} has a deadline but no timer", c.id));
            }
            if c.decoder.buffered() > wire::LENGTH_PREFIX_LEN + wire::MAX_FRAME_LEN {
                return Err(format!("{} buffers {} bytes", c.id, c.decoder.buffered()));
            }
        }
        Ok(())
    }
}

/// Adds the `GetPeers` tokens earned since the last refill; a new period forgives strikes.
fn refill_pex(c: &mut Conn, now: Instant) {
    if now >= c.pex_refill {
        let periods =
            1 + now.saturating_duration_since(c.pex_refill).as_secs() / PEX_REFILL.as_secs();
        c.pex_tokens = (c.pex_tokens as u64 + periods).min(PEX_BURST as u64) as u32;
        c.pex_refill = now + PEX_REFILL;
        c.pex_strikes = 0;
    }
}

impl PeerError {
    /// A short snake_case label for logs and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            PeerError::InvalidAddress(_) => "invalid_address",
            PeerError::Blacklisted(_) => "banned",
            PeerError::ConnectionLimitReached { .. } => "connection_limit",
            PeerError::TooManyPendingDials => "pending_dials",
            PeerError::AlreadyConnected(_) => "duplicate",
            PeerError::HandshakeFailed(e) => match e {
                HandshakeError::IncompatibleVersion { .. } => "incompatible_version",
                HandshakeError::ClockSkew { .. } => "clock_skew",
                HandshakeError::BadSignature => "bad_signature",
                HandshakeError::IdentityMismatch { .. } => "identity_mismatch",
                HandshakeError::SelfConnection => "self_connection",
                HandshakeError::UnexpectedMessage { .. } => "unexpected_message",
                HandshakeError::Malformed(_) => "malformed",
                HandshakeError::UnsupportedSuite { .. } => "unsupported_suite",
                HandshakeError::BadKemKey => "bad_kem_key",
            },
            PeerError::Timeout(Stage::Connect) => "connect_timeout",
            PeerError::Timeout(Stage::Handshake) => "handshake_timeout",
            PeerError::ConnectFailed(_) => "connect_failed",
            PeerError::Refused { .. } => "refused",
            PeerError::Closed(_) => "closed",
            PeerError::ProtocolViolation(_) => "protocol_violation",
            PeerError::UnknownPeer(_) => "unknown_peer",
            PeerError::ProxyRequired(_) => "proxy_required",
            PeerError::QuicThroughProxy(_) => "quic_through_proxy",
            PeerError::Dns { .. } => "dns",
            PeerError::ShuttingDown => "shutdown",
            PeerError::InvalidBanTarget(_) | PeerError::BanList(_) | PeerError::NotBanned(_) => {
                "ban"
            }
            PeerError::LowReputation { .. } => "low_reputation",
            PeerError::Proxy(_) => "proxy",
        }
    }
}

fn reason_for(e: &PeerError) -> DisconnectReason {
    match e {
        PeerError::HandshakeFailed(
            HandshakeError::IncompatibleVersion { .. } | HandshakeError::UnsupportedSuite { .. },
        ) => DisconnectReason::IncompatibleVersion,
        PeerError::HandshakeFailed(HandshakeError::SelfConnection) => {
            DisconnectReason::SelfConnection
        }
        PeerError::HandshakeFailed(HandshakeError::UnexpectedMessage { .. }) => {
            DisconnectReason::ProtocolViolation
        }
        PeerError::HandshakeFailed(HandshakeError::Malformed(_)) => {
            DisconnectReason::InvalidMessage
        }
        PeerError::HandshakeFailed(_) | PeerError::Timeout(_) => DisconnectReason::HandshakeFailed,
        PeerError::Blacklisted(_) => DisconnectReason::Banned,
        PeerError::LowReputation { .. } => DisconnectReason::LowReputation,
        PeerError::AlreadyConnected(_) => DisconnectReason::DuplicateConnection,
        PeerError::ConnectionLimitReached { .. } => DisconnectReason::ConnectionLimitReached,
        PeerError::ShuttingDown => DisconnectReason::Shutdown,
        PeerError::ProtocolViolation(_) => DisconnectReason::ProtocolViolation,
        PeerError::Refused { reason, .. } => *reason,
        _ => DisconnectReason::NetworkError,
    }
}

/// The dialable address a peer advertised: an unspecified IP means "the IP you see me at".
/// An advertised listen address of `transport` (a `quic://` address for QUIC, a plain one for
/// TCP) as a socket address, its unspecified IP replaced by the `observed` one.
fn resolve_listen(
    advertised: &str,
    transport: Transport,
    observed: SocketAddr,
) -> Option<SocketAddr> {
    let a = PeerAddress::parse(advertised).ok()?;
    if a.transport != transport {
        return None;
    }
    let a = a.socket_addr()?;
    if a.ip().is_unspecified() {
        Some(SocketAddr::new(observed.ip(), a.port()))
    } else {
        Some(a)
    }
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::IoFailure;
    use std::io::{Error, ErrorKind};

    #[test]
    fn io_errors_map_to_failures() {
        assert_eq!(
            IoFailure::from_io_kind(ErrorKind::ConnectionRefused),
            IoFailure::Refused
        );
        assert_eq!(
            IoFailure::from_io_kind(ErrorKind::BrokenPipe),
            IoFailure::Reset
        );
        assert_eq!(
            IoFailure::from_io_kind(ErrorKind::HostUnreachable),
            IoFailure::Unreachable
        );
        assert_eq!(
            IoFailure::from_io_kind(ErrorKind::UnexpectedEof),
            IoFailure::Eof
        );
        let e = Error::other("disk on fire");
        assert_eq!(
            IoFailure::from_io_error(&e),
            IoFailure::Other("disk on fire".into())
        );
    }
}

mod dialing;
mod discovery;
mod trust;
