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

use crate::addr::{classify, AddrClass, Host, NetGroup, PeerAddress};
use crate::addrbook::{AddOutcome, AddrBook, Entry, Source, MAX_ADDRBOOK_ENTRIES};
use crate::bans::{Ban, BanList, BanOrigin, BanTarget};
use crate::config::Config;
use crate::dns::{DnsClient, DnsOutcome, DnsTimeoutAction, QueryKind};
use crate::handshake::{self, HandshakeError, HandshakeState, LocalHello, PeerHello};
use crate::id::{ConnId, NodeId, RequestId};
use crate::identity::Identity;
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

    fn send(&mut self, id: ConnId, msg: &Message) {
        // Sized for the common small frames, so encoding does not regrow the buffer.
        let mut bytes = Vec::with_capacity(64);
        if let Err(e) = msg.encode_into(&mut bytes) {
            // Our own messages are built within the limits; an error is a bug.
            debug_assert!(
                false,
                "encoding our own {:?} failed: {e}",
                msg.message_type()
            );
            return;
        }
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
            hello: None,
            listen_addr: None,
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

    /// A new inbound transport connection from `remote`. Returns the id to use for its inputs.
    /// If the node refuses it (pool full, shutting down) the outputs say so: a `Disconnect`
    /// frame with the reason, then `Close`.
    pub fn accept(&mut self, remote: SocketAddr, now: Instant) -> ConnId {
        self.tick(now);
        let id = self.alloc_conn();
        let refusal = if self.shutting_down {
            Some(DisconnectReason::Shutdown)
        } else if self.ban_of(Some(remote.ip()), None, now).is_some() {
            Some(DisconnectReason::Banned)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.refuse_unpooled(id, reason, "");
            return id;
        }
        // Long-lived slots full: evict a peer of an over-represented netgroup, else admit the
        // newcomer to an address-fetch slot, else refuse.
        let mut fetch_only = false;
        if self.pool.long_lived() >= self.pool.long_lived_cap()
            && !self.make_room_for_inbound(remote, now)
        {
            if self.pool.is_full() {
                self.refuse_unpooled(id, DisconnectReason::ConnectionLimitReached, "");
                return id;
            }
            fetch_only = true;
        }
        let mut c = self.new_conn(id, Direction::Inbound, remote, now);
        c.fetch_only = fetch_only;
        self.move_state(&mut c, PeerState::Connecting);
        self.move_state(&mut c, PeerState::Handshaking);
        self.pool.insert(c);
        self.schedule(id);
        id
    }

    fn refuse_unpooled(&mut self, id: ConnId, reason: DisconnectReason, text: &str) {
        bump(&mut self.counters.inbound_refused, reason.as_str());
        let msg = Message::Disconnect(Disconnect {
            reason: reason.code(),
            text: text.to_string(),
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
                    Some(c) => c.decoder.next_message(),
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
                    Err(e) => return self.on_wire_error(id, e),
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
                    Ok((confirm, peer)) => Ok(Some((peer, Some(confirm)))),
                    Err(e) => Err(PeerError::HandshakeFailed(e)),
                }
            }
            (HandshakeState::AwaitConfirm { .. }, Message::HandshakeConfirm(cf)) => {
                handshake::on_confirm(&c.hs, &cf)
                    .map(|p| Some((p, None)))
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
            Ok(Some((peer, confirm))) => self.on_established(id, peer, confirm, now),
            Err(e) => self.fail(id, e, None),
        }
    }

    /// The peer proved `peer`. Applies the checks that need the whole node, then connects.
    fn on_established(
        &mut self,
        id: ConnId,
        peer: PeerHello,
        confirm: Option<Message>,
        now: Instant,
    ) {
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
            let keep_new = match other_dir {
                Some(od) if od != direction => initiator(direction) < initiator(od),
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
        let listen = peer.listen_addr.as_deref().and_then(|a| {
            let c = self.pool.get(id)?;
            // Tunnelled to a name, the socket's address is the proxy's: it tells nothing.
            let named = c
                .dial_addr
                .as_ref()
                .is_some_and(|d| d.socket_addr().is_none());
            if c.socks.is_some() && named {
                let l = PeerAddress::parse(a).ok()?.socket_addr()?;
                return (!l.ip().is_unspecified()).then_some(l);
            }
            resolve_listen(a, c.remote)
        });
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
        c.last_recv = now;
        let address = c.remote;
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
        if direction == Direction::Outbound {
            bump(&mut self.counters.dial_outcomes, "connected");
        }
        self.reputation
            .report(peer.node_id, Report::Connected, unix);
        if let Some(a) = &dial_addr {
            self.book.mark_success(a, peer.node_id, unix);
        }
        if let Some(l) = listen {
            let mut a = PeerAddress::from_socket_addr(l);
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
            self.send(
                id,
                &Message::Disconnect(Disconnect {
                    reason: reason.code(),
                    text,
                }),
            );
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

    // ---------------------------------------------------------------- operator commands

    /// Dials `address` (any format of [`PeerAddress::parse`]). Checks that can fail at once do;
    /// the final outcome arrives as [`Event::AddPeerFinished`] with the returned id.
    /// Dials `address` (any format of [`PeerAddress::parse`]; hostnames are resolved through
    /// the core's DNS). Checks that can fail at once do; the final outcome arrives as
    /// [`Event::AddPeerFinished`] with the returned id.
    pub fn add_peer(
        &mut self,
        address: &str,
        priority: Priority,
        now: Instant,
    ) -> Result<RequestId, PeerError> {
        self.tick(now);
        if self.shutting_down {
            return Err(PeerError::ShuttingDown);
        }
        let addr = PeerAddress::parse(address)?;
        if let Some(id) = addr.expected_id {
            if id == self.node_id() {
                return Err(PeerError::HandshakeFailed(HandshakeError::SelfConnection));
            }
            if self.pool.by_node(&id).is_some() {
                return Err(PeerError::AlreadyConnected(id.to_string()));
            }
            if let Some(why) = self.ban_of(None, Some(&id), now) {
                return Err(PeerError::Blacklisted(why));
            }
        }
        match (&addr.host, self.proxy_for(&addr)) {
            (Host::Ip(ip), _) => {
                let sock = SocketAddr::new(*ip, addr.port);
                self.check_dial(sock, priority)?;
                let request = self.alloc_request();
                let unix = self.clock.unix(now);
                self.book
                    .add(addr.clone(), Source::Operator, unix, &mut self.rng);
                self.dial(sock, addr, priority, Some(request), now);
                Ok(request)
            }
            // A name the proxy resolves: `.onion` always, host names with `proxy_all`.
            (Host::Onion(_) | Host::Domain(_), Some(proxy)) => {
                self.check_proxied_dial(&addr, priority)?;
                let request = self.alloc_request();
                let unix = self.clock.unix(now);
                self.book
                    .add(addr.clone(), Source::Operator, unix, &mut self.rng);
                self.dial(proxy, addr, priority, Some(request), now);
                Ok(request)
            }
            (Host::Onion(_), None) => Err(PeerError::ProxyRequired(addr.to_string())),
            (Host::Domain(_), None) => {
                if self.pool.is_full() && priority != Priority::High {
                    return Err(PeerError::ConnectionLimitReached {
                        max: self.pool.max_connections,
                    });
                }
                let request = self.alloc_request();
                let unix = self.clock.unix(now);
                self.book
                    .add(addr.clone(), Source::Operator, unix, &mut self.rng);
                self.resolve(addr, Some(request), priority, now)?;
                Ok(request)
            }
        }
    }

    /// The checks every dial passes: not already connected to that address, room in the pool
    /// (a high-priority dial may evict), not too many dials in flight.
    fn check_dial(&mut self, sock: SocketAddr, priority: Priority) -> Result<(), PeerError> {
        if let Some(why) = self.ban_of(Some(sock.ip()), None, self.now) {
            return Err(PeerError::Blacklisted(why));
        }
        if self
            .pool
            .iter()
            .any(|c| c.remote == sock || c.listen_addr == Some(sock))
        {
            return Err(PeerError::AlreadyConnected(sock.to_string()));
        }
        self.check_room(priority)
    }

    /// [`Node::check_dial`] for a name the proxy resolves (no socket address to compare).
    fn check_proxied_dial(
        &mut self,
        addr: &PeerAddress,
        priority: Priority,
    ) -> Result<(), PeerError> {
        let key = addr.without_id();
        if self
            .pool
            .iter()
            .any(|c| c.dial_addr.as_ref().is_some_and(|d| d.without_id() == key))
        {
            return Err(PeerError::AlreadyConnected(key.to_string()));
        }
        self.check_room(priority)
    }

    /// Room among the long-lived slots (a high-priority dial may evict) and not too many dials
    /// in flight.
    fn check_room(&mut self, priority: Priority) -> Result<(), PeerError> {
        let full = |n: &Self| n.pool.is_full() || n.pool.long_lived() >= n.pool.long_lived_cap();
        if full(self)
            && !(priority == Priority::High && self.evict_for_high_priority() && !full(self))
        {
            return Err(PeerError::ConnectionLimitReached {
                max: self.pool.max_connections,
            });
        }
        if self.pool.pending_dials() >= MAX_PENDING_DIALS {
            return Err(PeerError::TooManyPendingDials);
        }
        Ok(())
    }

    /// Asks the resolver for a hostname's A and AAAA records, to dial the first usable address.
    fn resolve(
        &mut self,
        target: PeerAddress,
        request: Option<RequestId>,
        priority: Priority,
        now: Instant,
    ) -> Result<(), PeerError> {
        let Host::Domain(name) = &target.host else {
            return Ok(());
        };
        let name = name.clone();
        for kind in [QueryKind::A, QueryKind::Aaaa] {
            let purpose = DnsPurpose::Resolve {
                target: target.clone(),
                request,
                priority,
            };
            self.ask_dns(&name, kind, purpose, now)
                .map_err(|why| PeerError::Dns {
                    host: name.clone(),
                    why,
                })?;
        }
        Ok(())
    }

    /// Starts a DNS question, or joins the identical one already in flight.
    fn ask_dns(
        &mut self,
        name: &str,
        kind: QueryKind,
        purpose: DnsPurpose,
        now: Instant,
    ) -> Result<(), String> {
        let key = (name.to_ascii_lowercase(), kind);
        if let Some(v) = self.dns_purposes.get_mut(&key) {
            v.push(purpose);
            return Ok(());
        }
        let (id, bytes) = self
            .dns
            .start(name, kind, now, &mut self.rng)
            .map_err(|e| e.to_string())?;
        self.dns_purposes.insert(key, vec![purpose]);
        self.counters.dns_queries += 1;
        let server = self.config.network.dns_resolver;
        self.outputs
            .push_back(Output::DnsQuery { id, server, bytes });
        Ok(())
    }

    fn resolving(&self, target: &PeerAddress) -> bool {
        self.dns_purposes.values().flatten().any(
            |p| matches!(p, DnsPurpose::Resolve { target: t, .. } if t.without_id() == target.without_id()),
        )
    }

    fn on_dns(&mut self, outcome: DnsOutcome, now: Instant) {
        match outcome {
            DnsOutcome::Txt { name, records, ttl } => {
                let key = (name.to_ascii_lowercase(), QueryKind::Txt);
                if self.dns_purposes.remove(&key).is_none() {
                    return;
                }
                let unix = self.clock.unix(now);
                let (mut added, mut refused) = (0, 0);
                for token in crate::dns::txt_records_to_address_strings(&records) {
                    match PeerAddress::parse(&token) {
                        Ok(a) if self.in_scope(&a) => {
                            match self.book.add(
                                a,
                                Source::DnsSeed(name.clone()),
                                unix,
                                &mut self.rng,
                            ) {
                                AddOutcome::Added => added += 1,
                                AddOutcome::Refreshed => {}
                                _ => refused += 1,
                            }
                        }
                        _ => refused += 1,
                    }
                }
                let wait = ttl.max(self.config.network.peers.discovery_interval);
                self.seed_next.insert(name.clone(), now + wait);
                self.event(Event::SeedResult {
                    seed: name,
                    result: Ok((added, refused)),
                });
            }
            DnsOutcome::Addresses {
                name, kind, ips, ..
            } => {
                if ips.is_empty() {
                    return self.on_dns_failed(&name, kind, "no addresses", now);
                }
                let purposes = self
                    .dns_purposes
                    .remove(&(name.to_ascii_lowercase(), kind))
                    .unwrap_or_default();
                for p in purposes {
                    if let DnsPurpose::Resolve {
                        target,
                        request,
                        priority,
                    } = p
                    {
                        self.dial_resolved(target, &ips, request, priority, now);
                    }
                }
            }
            DnsOutcome::NxDomain { name, kind } => {
                self.on_dns_failed(&name, kind, "no such domain (NXDOMAIN)", now)
            }
            DnsOutcome::ServFail { name, kind } => {
                self.on_dns_failed(&name, kind, "the resolver failed (SERVFAIL)", now)
            }
            DnsOutcome::Truncated { name, kind } => {
                self.on_dns_failed(&name, kind, "the answer was truncated", now)
            }
            DnsOutcome::Error { name, kind, rcode } => self.on_dns_failed(
                &name,
                kind,
                &format!("the resolver answered with code {rcode}"),
                now,
            ),
        }
    }

    fn on_dns_failed(&mut self, name: &str, kind: QueryKind, why: &str, now: Instant) {
        self.counters.dns_failures += 1;
        let purposes = self
            .dns_purposes
            .remove(&(name.to_ascii_lowercase(), kind))
            .unwrap_or_default();
        for p in purposes {
            match p {
                DnsPurpose::Seed => {
                    let wait = self.config.network.peers.discovery_interval;
                    self.seed_next.insert(name.to_string(), now + wait);
                    self.event(Event::SeedResult {
                        seed: name.to_string(),
                        result: Err(why.to_string()),
                    });
                }
                DnsPurpose::Resolve {
                    target, request, ..
                } => {
                    // The other address family may still answer, or already did.
                    let dialing = self.pool.iter().any(|c| {
                        c.dial_addr
                            .as_ref()
                            .is_some_and(|a| a.without_id() == target.without_id())
                    });
                    if self.resolving(&target) || dialing {
                        continue;
                    }
                    let unix = self.clock.unix(now);
                    self.book.mark_failure(&target, unix);
                    if let Some(request) = request {
                        let host = target.host.to_string();
                        let result = Err(PeerError::Dns {
                            host,
                            why: why.to_string(),
                        });
                        self.event(Event::AddPeerFinished { request, result });
                    }
                }
            }
        }
    }

    fn dial_resolved(
        &mut self,
        target: PeerAddress,
        ips: &[core::net::IpAddr],
        request: Option<RequestId>,
        priority: Priority,
        now: Instant,
    ) {
        // Already dialing it (the other address family answered first)?
        if self.pool.iter().any(|c| {
            c.dial_addr
                .as_ref()
                .is_some_and(|a| a.without_id() == target.without_id())
        }) {
            return;
        }
        let operator = request.is_some();
        let sock = ips
            .iter()
            .map(|ip| SocketAddr::new(*ip, target.port))
            .find(|s| operator || self.in_scope(&PeerAddress::from_socket_addr(*s)));
        let result = match sock {
            Some(sock) => self.check_dial(sock, priority).map(|()| sock),
            None => Err(PeerError::Dns {
                host: target.host.to_string(),
                why: "no usable address".into(),
            }),
        };
        match result {
            Ok(sock) => self.dial(sock, target, priority, request, now),
            Err(e) => {
                if let Some(request) = request {
                    self.event(Event::AddPeerFinished {
                        request,
                        result: Err(e),
                    });
                }
            }
        }
    }

    /// The SOCKS5 proxy `addr` is dialed through, if any: `.onion` addresses, and every
    /// address with `network.proxy_all`, when `network.proxy` is set.
    fn proxy_for(&self, addr: &PeerAddress) -> Option<SocketAddr> {
        let n = &self.config.network;
        n.proxy.filter(|_| n.proxy_all || addr.is_onion())
    }

    /// Opens an outbound connection (the caller has checked room and policy). `sock` is the
    /// connection's remote address: the target's, or for a name the proxy resolves, the
    /// proxy's. A proxied dial connects to the proxy and negotiates SOCKS5 first.
    fn dial(
        &mut self,
        sock: SocketAddr,
        addr: PeerAddress,
        priority: Priority,
        request: Option<RequestId>,
        now: Instant,
    ) {
        self.counters.dials += 1;
        let id = self.alloc_conn();
        let mut c = self.new_conn(id, Direction::Outbound, sock, now);
        c.priority = priority;
        c.request = request;
        c.expected_id = addr.expected_id;
        let unix = self.clock.unix(now);
        self.book.mark_attempt(&addr, unix);
        let proxy = self.proxy_for(&addr);
        if proxy.is_some() {
            let target = match &addr.host {
                Host::Ip(ip) => SocksTarget::Ip(SocketAddr::new(*ip, addr.port)),
                Host::Onion(_) | Host::Domain(_) => SocksTarget::Domain {
                    name: addr.host.to_string(),
                    port: addr.port,
                },
            };
            let creds = self.config.network.proxy_credentials();
            c.socks = Some(Box::new(Socks5Client::new(target, creds)));
        }
        c.dial_addr = Some(addr);
        self.move_state(&mut c, PeerState::Connecting);
        self.pool.insert(c);
        self.outputs.push_back(Output::Dial {
            conn: id,
            addr: proxy.unwrap_or(sock),
        });
        self.schedule(id);
    }

    // ---------------------------------------------------------------- discovery

    /// The periodic pass: PEX rounds with outbound peers, then dials to keep `min_connections`.
    fn maintenance(&mut self, now: Instant) {
        let unix = self.clock.unix(now);
        self.removed.retain(|_, until| *until > now);
        for ban in self.bans.expire(unix) {
            self.event(Event::BanRemoved { ban, expired: true });
        }
        self.book.age(unix);
        for id in self.pool.ids() {
            let Some(c) = self.pool.get_mut(id) else {
                continue;
            };
            if c.pex_asked.is_some_and(|t| now >= t + PEX_ANSWER_TIMEOUT) {
                c.pex_asked = None;
            }
            let due = c.state == PeerState::Connected
                && c.closing.is_none()
                && c.pex_asked.is_none()
                && c.next_pex.is_some_and(|t| now >= t);
            if due {
                self.ask_peers(id, now);
            }
        }
        if !self.shutting_down {
            self.fill_outbound(now);
        }
    }

    fn ask_peers(&mut self, id: ConnId, now: Instant) {
        let interval = self.config.network.peers.discovery_interval;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        c.pex_asked = Some(now);
        c.next_pex = Some(now + interval);
        self.counters.pex_requests_sent += 1;
        self.send(
            id,
            &Message::GetPeers(GetPeers {
                max: PEX_REQUEST_MAX,
            }),
        );
    }

    /// Dials book addresses until `min_connections` outbound connections exist or are pending;
    /// falls back through the discovery steps when the book has nothing dialable.
    fn fill_outbound(&mut self, now: Instant) {
        let min = self.config.network.peers.min_connections;
        let resolving: BTreeSet<String> = self
            .dns_purposes
            .values()
            .flatten()
            .filter_map(|p| match p {
                DnsPurpose::Resolve {
                    target,
                    request: None,
                    ..
                } => Some(target.without_id().to_string()),
                _ => None,
            })
            .collect();
        let outbound = self
            .pool
            .iter()
            .filter(|c| c.direction == Direction::Outbound)
            .count()
            + resolving.len();
        let connected_out = self
            .pool
            .iter()
            .filter(|c| c.direction == Direction::Outbound && c.state == PeerState::Connected)
            .count();
        let short = min.saturating_sub(connected_out);
        if short == 0 {
            self.last_step = None;
            return;
        }
        // Keep a few more dials in flight than the shortfall: after a fault many known
        // addresses are dead and each costs a whole connect timeout to find out.
        let need = (short + DIAL_SPARE).saturating_sub(outbound - connected_out);
        if need == 0 {
            return;
        }
        let room = self
            .pool
            .long_lived_cap()
            .saturating_sub(self.pool.long_lived());
        let room = room.min(MAX_PENDING_DIALS.saturating_sub(self.pool.pending_dials()));
        if room == 0 {
            return;
        }
        let unix = self.clock.unix(now);
        let used: BTreeSet<NetGroup> = self
            .pool
            .iter()
            .filter(|c| c.direction == Direction::Outbound)
            .map(|c| PeerAddress::from_socket_addr(c.remote).netgroup())
            .collect();
        let busy: BTreeSet<SocketAddr> = self
            .pool
            .iter()
            .flat_map(|c| [Some(c.remote), c.listen_addr])
            .flatten()
            .collect();
        let ids: BTreeSet<NodeId> = self.pool.iter().filter_map(|c| c.node_id()).collect();
        let me = self.node_id();
        let own = self.config.network.listen;
        let (proxy, proxy_all) = (self.config.network.proxy, self.config.network.proxy_all);
        let dialing: BTreeSet<PeerAddress> = self
            .pool
            .iter()
            .filter_map(|c| c.dial_addr.as_ref().map(PeerAddress::without_id))
            .collect();
        let bans = &self.bans;
        // Short of peers: ask the outbound peers for addresses now rather than at their next
        // discovery round (their rate limit allows one request a minute).
        // (A peer's last request was at next_pex − discovery_interval.)
        let interval = self.config.network.peers.discovery_interval;
        let ask: Vec<ConnId> = self
            .pool
            .iter()
            .filter(|c| {
                c.direction == Direction::Outbound
                    && c.state == PeerState::Connected
                    && c.closing.is_none()
            })
            .filter(|c| {
                c.pex_asked.is_none()
                    && c.next_pex
                        .is_some_and(|t| t <= now + interval.saturating_sub(PEX_REFILL))
            })
            .map(|c| c.id)
            .collect();
        let connected_sources: BTreeSet<NodeId> = ids.clone();
        let removed = &self.removed;
        let picks = self.book.select_preferring(
            need.min(room),
            unix,
            &mut self.rng,
            &used,
            |e: &Entry| {
                e.node_id.is_some_and(|n| {
                    n == me
                        || ids.contains(&n)
                        || bans.check_node(&n, unix).is_some()
                        || removed.contains_key(&n)
                }) || e
                    .addr
                    .socket_addr()
                    .is_some_and(|s| bans.check_ip(s.ip(), unix).is_some())
                    || match (&e.addr.host, e.addr.socket_addr()) {
                        (_, Some(s)) => busy.contains(&s) || s == own,
                        // A name the proxy resolves (onion always, host names with proxy_all).
                        _ if proxy.is_some() && (proxy_all || e.addr.is_onion()) => {
                            dialing.contains(&e.addr.without_id())
                        }
                        (Host::Domain(_), _) => {
                            resolving.contains(&e.addr.without_id().to_string())
                        }
                        // Onion addresses need the SOCKS5 proxy.
                        _ => true,
                    }
            },
            |e: &Entry| match &e.source {
                Source::Pex { peer, .. } => connected_sources.contains(peer),
                _ => true,
            },
        );
        for id in ask {
            self.ask_peers(id, now);
        }
        if let Some(first) = picks.first() {
            let proven = self
                .book
                .get(first)
                .is_some_and(|e| e.last_success.is_some());
            let step = if proven {
                DiscoveryStep::KnownAddresses
            } else {
                DiscoveryStep::Bootstrap
            };
            self.log_step(
                step,
                format!(
                    "{outbound} of {min} outbound connections; dialing {} address(es)",
                    picks.len()
                ),
            );
        }
        let mut picks = picks;
        if picks.is_empty() {
            // Nothing dialable: after a network fault every known address may be backing off
            // for minutes. Retry one proven address per pass regardless.
            picks = self.book.select_proven_ignoring_backoff(
                1,
                unix,
                &mut self.rng,
                &used,
                |e: &Entry| {
                    e.node_id.is_some_and(|n| {
                        n == me || ids.contains(&n) || self.bans.check_node(&n, unix).is_some()
                    }) || e.addr.socket_addr().is_none_or(|s| {
                        busy.contains(&s) || s == own || self.bans.check_ip(s.ip(), unix).is_some()
                    })
                },
            );
        }
        let dialed = picks.len();
        for addr in picks {
            match (addr.socket_addr(), self.proxy_for(&addr)) {
                (Some(sock), _) | (None, Some(sock)) => {
                    self.dial(sock, addr, Priority::Normal, None, now)
                }
                (None, None) => {
                    let _ = self.resolve(addr, None, Priority::Normal, now);
                }
            }
        }
        if dialed >= need {
            return;
        }
        // DNS seeds: each asked again no sooner than max(discovery_interval, TTL).
        let seeds: Vec<String> = self.config.network.peers.dns_seeds.clone();
        let mut asked = 0;
        for seed in &seeds {
            let due = self.seed_next.get(seed).is_none_or(|t| now >= *t);
            let pending = self
                .dns_purposes
                .contains_key(&(seed.to_ascii_lowercase(), QueryKind::Txt));
            if due && !pending {
                match self.ask_dns(seed, QueryKind::Txt, DnsPurpose::Seed, now) {
                    Ok(()) => asked += 1,
                    Err(why) => {
                        self.seed_next.insert(
                            seed.clone(),
                            now + self.config.network.peers.discovery_interval,
                        );
                        self.event(Event::SeedResult {
                            seed: seed.clone(),
                            result: Err(why),
                        });
                    }
                }
            }
        }
        if asked > 0 {
            self.log_step(
                DiscoveryStep::DnsSeeds,
                format!("{outbound} of {min} outbound connections and no dialable known address"),
            );
        }
        let seeds_pending = seeds.iter().any(|s| {
            self.dns_purposes
                .contains_key(&(s.to_ascii_lowercase(), QueryKind::Txt))
        });
        if !seeds_pending
            && !self.hardcoded_added
            && self.config.network.peers.bootstrap_nodes.is_empty()
            && self.config.network.peers.use_default_bootstrap
        {
            self.hardcoded_added = true;
            for b in crate::config::DEFAULT_BOOTSTRAP_NODES {
                if let Ok(a) = PeerAddress::parse(b) {
                    self.book.add(a, Source::Bootstrap, unix, &mut self.rng);
                }
            }
            self.log_step(
                DiscoveryStep::HardcodedBootstrap,
                format!("{outbound} of {min} outbound connections and no other source left"),
            );
            // Try them now rather than at the next pass (this cannot recurse again: the flag is set).
            self.fill_outbound(now);
        }
    }

    fn log_step(&mut self, step: DiscoveryStep, reason: String) {
        if self.last_step != Some(step) {
            self.last_step = Some(step);
            self.event(Event::Discovery { step, reason });
        }
    }

    /// Whether an address learned from a peer or a seed is in a scope this node can use:
    /// public addresses always; loopback ones when we listen on loopback, private ones when we
    /// listen on a private address, either with `allow_private_addresses`; never bogons,
    /// documentation, link-local or unspecified addresses.
    fn in_scope(&self, addr: &PeerAddress) -> bool {
        let Some(class) = addr.class() else {
            return true;
        };
        let own = classify(self.config.network.listen.ip());
        let allow = self.config.network.allow_private_addresses;
        match class {
            AddrClass::Public => true,
            AddrClass::Loopback => allow || own == AddrClass::Loopback,
            AddrClass::Private => allow || own == AddrClass::Private,
            _ => false,
        }
    }

    fn on_get_peers(&mut self, id: ConnId, g: GetPeers, now: Instant) {
        self.counters.pex_requests_received += 1;
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        refill_pex(c, now);
        let Some(peer) = c.node_id() else { return };
        if c.pex_tokens == 0 {
            self.pex_strike(id, peer, "GetPeers flood", now);
            return;
        }
        c.pex_tokens -= 1;
        let asker: [Option<SocketAddr>; 2] = [Some(c.remote), c.listen_addr];
        let max = g.max.min(PEX_REQUEST_MAX) as usize;
        let own = self.config.network.listen;
        let unix = self.clock.unix(now);
        let (bans, rep) = (&self.bans, &self.reputation);
        // Only addresses a handshake verified within ADDR_MAX_AGE are gossiped: an address a
        // liar invented never succeeds, so it never spreads beyond the liar.
        let sample = self.book.sample(max, &mut self.rng, |e: &Entry| {
            e.last_success
                .is_some_and(|t| unix.since(t) < crate::addrbook::ADDR_MAX_AGE)
                && e.node_id != Some(peer)
                && e.addr.socket_addr().is_none_or(|s| {
                    s != own && !asker.contains(&Some(s)) && bans.check_ip(s.ip(), unix).is_none()
                })
                && e.node_id.is_none_or(|n| {
                    bans.check_node(&n, unix).is_none()
                        && rep.thresholds().can_relay(rep.score(&n, unix).total)
                })
        });
        let addresses = sample.iter().map(|a| a.to_string()).collect();
        self.counters.pex_answers_sent += 1;
        self.send(id, &Message::Peers(Peers { addresses }));
        if self.pool.get(id).is_some_and(|c| c.fetch_only) {
            self.disconnect(
                id,
                DisconnectReason::ConnectionLimitReached,
                "the node is full; here are addresses",
                false,
            );
        }
    }

    /// A refused PEX message: an event always, a protocol violation every
    /// [`PEX_FLOOD_STRIKES`] within one refill period.
    fn pex_strike(&mut self, id: ConnId, peer: NodeId, why: &'static str, now: Instant) {
        self.counters.pex_refused += 1;
        self.event(Event::PexRefused { peer, why });
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        refill_pex(c, now);
        c.pex_strikes += 1;
        if c.pex_strikes >= PEX_FLOOD_STRIKES {
            c.pex_strikes = 0;
            self.report(&peer, Report::ProtocolViolation(Violation::PexFlood), now);
        }
    }

    fn on_peers(&mut self, id: ConnId, p: Peers, now: Instant) {
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let Some(peer) = c.node_id() else { return };
        if c.pex_asked.take().is_none() {
            self.pex_strike(id, peer, "unsolicited Peers", now);
            return;
        }
        let group = PeerAddress::from_socket_addr(c.remote)
            .netgroup()
            .to_string();
        let unix = self.clock.unix(now);
        let (mut added, mut refused) = (0, 0);
        for text in p.addresses.iter().take(PEX_REQUEST_MAX as usize) {
            let ok = match PeerAddress::parse(text) {
                Ok(a) if self.in_scope(&a) && a.expected_id != Some(self.node_id()) => {
                    let src = Source::Pex {
                        peer,
                        group: group.clone(),
                    };
                    match self.book.add(a, src, unix, &mut self.rng) {
                        AddOutcome::Added => {
                            added += 1;
                            true
                        }
                        AddOutcome::Refreshed => true,
                        _ => false,
                    }
                }
                _ => false,
            };
            if !ok {
                refused += 1;
            }
        }
        self.counters.pex_answers_received += 1;
        self.counters.pex_addresses_added += added as u64;
        self.event(Event::PeersReceived {
            peer,
            added,
            refused,
        });
    }

    /// A full pool makes room for a newcomer by dropping one inbound peer, so that a node
    /// everyone knows (a seed) keeps introducing new nodes instead of serving its first
    /// `max_connections` forever (found by the simulator: 1,000 nodes could not bootstrap from
    /// 3 full seeds). Outbound, high-priority, closing and recently connected peers
    /// ([`INBOUND_EVICTION_PROTECT`]) are never dropped; the victim is the newest peer of the
    /// netgroup holding the most inbound peers, and a newcomer from that very netgroup is
    /// refused instead (a flood from one network cannot evict anyone else).
    fn make_room_for_inbound(&mut self, remote: SocketAddr, now: Instant) -> bool {
        let unix = self.clock.unix(now);
        let mut groups: BTreeMap<NetGroup, Vec<ConnId>> = BTreeMap::new();
        for c in self.pool.iter() {
            let old_enough = c
                .connected_since
                .is_some_and(|t| unix.since(t) >= INBOUND_EVICTION_PROTECT);
            if c.direction == Direction::Inbound
                && c.state == PeerState::Connected
                && c.priority < Priority::High
                && c.closing.is_none()
                && old_enough
            {
                let g = PeerAddress::from_socket_addr(c.remote).netgroup();
                groups.entry(g).or_default().push(c.id);
            }
        }
        let Some((group, ids)) = groups.iter().max_by_key(|(_, ids)| ids.len()) else {
            return false;
        };
        // Only concentration is evicted: with every inbound peer in its own netgroup nobody is
        // dropped (newcomers get an address-fetch slot instead), so honest peers do not churn.
        if ids.len() < 2 {
            return false;
        }
        if *group == PeerAddress::from_socket_addr(remote).netgroup() && ids.len() > 1 {
            return false;
        }
        let Some(&victim) = ids.iter().max() else {
            return false;
        };
        self.disconnect(
            victim,
            DisconnectReason::ConnectionLimitReached,
            "making room for a new peer",
            false,
        );
        !self.pool.is_full()
    }

    /// Makes room for a high-priority dial by dropping the inbound, non-high-priority connection
    /// that matters least (lowest priority, then newest). Returns whether a slot was freed.
    fn evict_for_high_priority(&mut self) -> bool {
        let victim = self
            .pool
            .iter()
            .filter(|c| {
                c.direction == Direction::Inbound
                    && c.priority < Priority::High
                    && c.closing.is_none()
            })
            .min_by_key(|c| (c.priority, std::cmp::Reverse(c.id)))
            .map(|c| c.id);
        match victim {
            Some(v) => {
                self.disconnect(
                    v,
                    DisconnectReason::ConnectionLimitReached,
                    "making room for a priority peer",
                    false,
                );
                !self.pool.is_full()
            }
            None => false,
        }
    }

    /// Disconnects the peer named by `target`: a node id (64 hex characters, or a unique prefix
    /// of at least 8), or an address. Graceful: `Disconnect{UserRequested}`, then wait for the
    /// ack up to `disconnect_timeout`. [`Event::RemovePeerFinished`] follows.
    pub fn remove_peer(
        &mut self,
        target: &str,
        ban: bool,
        now: Instant,
    ) -> Result<RequestId, PeerError> {
        self.tick(now);
        let id = self.find_peer(target)?;
        if ban {
            let t = match self.pool.get(id).and_then(|c| c.node_id()) {
                Some(n) => n.to_string(),
                None => self
                    .pool
                    .get(id)
                    .map(|c| c.remote.ip().to_string())
                    .unwrap_or_default(),
            };
            let unix = self.clock.unix(now);
            let target: BanTarget = t.parse().map_err(|e: crate::bans::BanTargetError| {
                PeerError::InvalidBanTarget(e.to_string())
            })?;
            self.bans
                .ban(
                    target,
                    "removed and banned by the operator",
                    BanOrigin::Operator,
                    unix,
                    None,
                )
                .map_err(|e| PeerError::BanList(e.to_string()))?;
            let canonical = target.canonical();
            bump(&mut self.counters.bans, "operator");
            let added = self
                .bans
                .list(unix)
                .find(|b| b.target == canonical)
                .cloned();
            if let Some(b) = added {
                self.event(Event::BanAdded { ban: b });
            }
        }
        if let Some(n) = self.pool.get(id).and_then(|c| c.node_id()) {
            if self.removed.len() >= MAX_REMOVED_COOLDOWNS {
                let oldest = self
                    .removed
                    .iter()
                    .min_by_key(|(_, t)| **t)
                    .map(|(k, _)| *k);
                if let Some(k) = oldest {
                    self.removed.remove(&k);
                }
            }
            self.removed.insert(n, now + REMOVED_COOLDOWN);
        }
        let request = self.alloc_request();
        if let Some(c) = self.pool.get_mut(id) {
            c.remove_request = Some(request);
        }
        self.disconnect(
            id,
            DisconnectReason::UserRequested,
            "removed by the operator",
            true,
        );
        Ok(request)
    }

    /// The connection an operator means by `target` (node id, unique id prefix, or address).
    pub fn find_peer(&self, target: &str) -> Result<ConnId, PeerError> {
        let t = target.trim();
        let unknown = || PeerError::UnknownPeer(t.to_string());
        let hexish = t.trim_end_matches("...");
        if hexish.len() >= 8 && hexish.chars().all(|c| c.is_ascii_hexdigit()) {
            let lower = hexish.to_ascii_lowercase();
            let matches: Vec<ConnId> = self
                .pool
                .iter()
                .filter(|c| c.node_id().is_some_and(|n| n.to_hex().starts_with(&lower)))
                .map(|c| c.id)
                .collect();
            return match matches.as_slice() {
                [one] => Ok(*one),
                [] => Err(unknown()),
                _ => Err(PeerError::UnknownPeer(format!(
                    "{t} (ambiguous: {} peers match)",
                    matches.len()
                ))),
            };
        }
        let addr = PeerAddress::parse(t)?;
        let sock = addr.socket_addr();
        self.pool
            .iter()
            .find(|c| {
                sock.is_some_and(|s| c.remote == s || c.listen_addr == Some(s))
                    || addr.expected_id.is_some_and(|e| c.node_id() == Some(e))
            })
            .map(|c| c.id)
            .ok_or_else(unknown)
    }

    /// Sends an application payload to a connected peer.
    pub fn send_app(&mut self, peer: &NodeId, payload: &[u8]) -> Result<(), PeerError> {
        if payload.len() > wire::MAX_APP_PAYLOAD {
            return Err(PeerError::ProtocolViolation(format!(
                "payload of {} bytes exceeds {}",
                payload.len(),
                wire::MAX_APP_PAYLOAD
            )));
        }
        let id = self
            .pool
            .by_node(peer)
            .ok_or_else(|| PeerError::UnknownPeer(peer.to_string()))?;
        self.send(
            id,
            &Message::App(App {
                payload: ByteBuf::from(payload.to_vec()),
            }),
        );
        Ok(())
    }

    /// Closes every connection: connected peers get `Disconnect{Shutdown}` and up to
    /// `disconnect_timeout` to acknowledge; [`Event::ShutdownComplete`] follows. New dials and
    /// accepts are refused from now on.
    pub fn shutdown(&mut self, now: Instant) {
        self.tick(now);
        self.shutting_down = true;
        for id in self.pool.ids() {
            match self.pool.get(id).map(|c| c.state) {
                Some(PeerState::Connected) => {
                    self.disconnect(id, DisconnectReason::Shutdown, "", true)
                }
                Some(_) => self.fail(
                    id,
                    PeerError::ShuttingDown,
                    Some(DisconnectReason::Shutdown),
                ),
                None => {}
            }
        }
        self.after_removal();
    }

    // ---------------------------------------------------------------- reputation and bans

    /// Records what the application observed about a connected (or known) peer — an invalid
    /// or valid message, a consensus participation or violation, a relay success or failure —
    /// and applies the thresholds: below `auto_disconnect_threshold` the peer is disconnected
    /// (`LowReputation`), below `auto_ban_threshold` it is also banned for `ban_duration`
    /// (unless automatic bans are paused, see [`Event::AutoBanPaused`]).
    pub fn report(&mut self, peer: &NodeId, report: Report, now: Instant) -> ReputationScore {
        self.tick(now);
        let unix = self.clock.unix(now);
        let score = self.reputation.report(*peer, report, unix);
        self.apply_thresholds(peer, score, now);
        score
    }

    /// Shorthand for `report(peer, Report::InvalidMessage, now)` (spec 6.4).
    pub fn report_invalid_message(&mut self, peer: &NodeId, now: Instant) -> ReputationScore {
        self.report(peer, Report::InvalidMessage, now)
    }

    fn apply_thresholds(&mut self, peer: &NodeId, score: ReputationScore, now: Instant) {
        let action = self.reputation.thresholds().action(score.total);
        let Some(conn) = self.pool.by_node(peer) else {
            if action == ThresholdAction::Ban {
                self.auto_ban(peer, score, now);
            }
            return;
        };
        match action {
            ThresholdAction::None => {}
            ThresholdAction::Disconnect => {
                self.event(Event::ReputationAction {
                    peer: *peer,
                    score: score.total,
                    action,
                });
                let text = format!(
                    "reputation {} below {}",
                    score.total,
                    self.reputation.thresholds().auto_disconnect
                );
                self.disconnect(conn, DisconnectReason::LowReputation, &text, false);
            }
            ThresholdAction::Ban => {
                self.event(Event::ReputationAction {
                    peer: *peer,
                    score: score.total,
                    action,
                });
                if self.auto_ban(peer, score, now) {
                    self.disconnect(
                        conn,
                        DisconnectReason::Banned,
                        "reputation below the ban threshold",
                        false,
                    );
                } else {
                    let text = format!(
                        "reputation {} below {}",
                        score.total,
                        self.reputation.thresholds().auto_disconnect
                    );
                    self.disconnect(conn, DisconnectReason::LowReputation, &text, false);
                }
            }
        }
    }

    /// Bans `peer` automatically unless self-protection says not to; returns whether it did.
    fn auto_ban(&mut self, peer: &NodeId, score: ReputationScore, now: Instant) -> bool {
        while self
            .auto_bans
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) > AUTO_BAN_WINDOW)
        {
            self.auto_bans.pop_front();
        }
        let connected = self.pool.counts().connected().max(1);
        let outbound = self
            .pool
            .iter()
            .filter(|c| c.direction == Direction::Outbound && c.state == PeerState::Connected)
            .count();
        let min = self.config.network.peers.min_connections;
        let why = if self.auto_bans.len() + 1 > AUTO_BAN_SPIKE_MIN
            && (self.auto_bans.len() + 1) * 100 > connected * AUTO_BAN_SPIKE_PERCENT
        {
            Some(format!(
                "{} automatic bans within {} s against {connected} connected peers: our own network may be at fault",
                self.auto_bans.len() + 1,
                AUTO_BAN_WINDOW.as_secs()
            ))
        } else if outbound < min {
            Some(format!("only {outbound} of {min} outbound peers connected"))
        } else {
            None
        };
        if let Some(why) = why {
            self.event(Event::AutoBanPaused { peer: *peer, why });
            return false;
        }
        self.auto_bans.push_back(now);
        bump(&mut self.counters.bans, "automatic");
        let unix = self.clock.unix(now);
        let duration = Some(self.config.network.reputation.ban_duration);
        let reason = format!(
            "reputation {} below {}",
            score.total,
            self.reputation.thresholds().auto_ban
        );
        match self.bans.ban(
            BanTarget::Node(*peer),
            &reason,
            BanOrigin::Automatic,
            unix,
            duration,
        ) {
            Ok(_) => {
                if let Some(ban) = self.bans.check_node(peer, unix).cloned() {
                    self.event(Event::BanAdded { ban });
                }
                true
            }
            Err(e) => {
                self.event(Event::Warning {
                    message: format!("could not ban {peer}: {e}"),
                });
                false
            }
        }
    }

    /// Bans a node id (64 hex characters), an IP address (a port is ignored) or a subnet in
    /// CIDR form, for `duration` (`None`: permanently). Connected peers it covers are
    /// disconnected with `Banned`; they cannot connect again in either direction until the ban
    /// expires or is lifted.
    pub fn ban(
        &mut self,
        target: &str,
        duration: Option<Duration>,
        reason: &str,
        now: Instant,
    ) -> Result<Ban, PeerError> {
        self.tick(now);
        let target: BanTarget = target
            .trim()
            .parse()
            .map_err(|e: crate::bans::BanTargetError| PeerError::InvalidBanTarget(e.to_string()))?;
        let unix = self.clock.unix(now);
        let reason = if reason.trim().is_empty() {
            "banned by the operator"
        } else {
            reason
        };
        self.bans
            .ban(target, reason, BanOrigin::Operator, unix, duration)
            .map_err(|e| PeerError::BanList(e.to_string()))?;
        let ban = self
            .bans
            .list(unix)
            .find(|b| b.target == target.canonical())
            .cloned()
            .ok_or_else(|| PeerError::BanList("the ban did not take".into()))?;
        bump(&mut self.counters.bans, "operator");
        self.event(Event::BanAdded { ban: ban.clone() });
        self.enforce_bans(now);
        Ok(ban)
    }

    /// Lifts a ban; the target as given to [`Node::ban`].
    pub fn unban(&mut self, target: &str, now: Instant) -> Result<Ban, PeerError> {
        self.tick(now);
        let t: BanTarget = target
            .trim()
            .parse()
            .map_err(|e: crate::bans::BanTargetError| PeerError::InvalidBanTarget(e.to_string()))?;
        let ban = self
            .bans
            .unban(&t)
            .ok_or_else(|| PeerError::NotBanned(target.trim().to_string()))?;
        self.event(Event::BanRemoved {
            ban: ban.clone(),
            expired: false,
        });
        Ok(ban)
    }

    /// The active bans.
    pub fn bans(&self, now: Instant) -> Vec<Ban> {
        self.bans.list(self.clock.unix(now)).cloned().collect()
    }

    /// Disconnects every connection a ban now covers.
    fn enforce_bans(&mut self, now: Instant) {
        let unix = self.clock.unix(now);
        let banned: Vec<ConnId> = self
            .pool
            .iter()
            .filter(|c| {
                self.bans.check_ip(c.remote.ip(), unix).is_some()
                    || c.node_id()
                        .is_some_and(|n| self.bans.check_node(&n, unix).is_some())
            })
            .map(|c| c.id)
            .collect();
        for id in banned {
            self.disconnect(id, DisconnectReason::Banned, "banned", false);
        }
    }

    /// The ban covering a peer's address or identity, as text for an error.
    fn ban_of(
        &self,
        ip: Option<core::net::IpAddr>,
        id: Option<&NodeId>,
        now: Instant,
    ) -> Option<String> {
        let unix = self.clock.unix(now);
        let b = ip
            .and_then(|ip| self.bans.check_ip(ip, unix))
            .or_else(|| id.and_then(|n| self.bans.check_node(n, unix)))?;
        Some(format!("{} is banned ({})", b.target, b.reason))
    }

    /// The refusal for a peer whose score is below `auto_disconnect_threshold`, if it is.
    fn low_reputation(&self, peer: &NodeId, now: Instant) -> Option<PeerError> {
        let score = self.reputation.score(peer, self.clock.unix(now)).total;
        let threshold = self.reputation.thresholds().auto_disconnect;
        (score < threshold).then_some(PeerError::LowReputation { score, threshold })
    }

    /// A peer's reputation now (neutral if unknown).
    pub fn reputation(&self, peer: &NodeId, now: Instant) -> ReputationScore {
        self.reputation.score(peer, self.clock.unix(now))
    }

    /// Why a peer has its score: the recent changes, oldest first.
    pub fn reputation_history(&self, peer: &NodeId) -> Vec<ScoreChange> {
        self.reputation.history(peer).cloned().collect()
    }

    /// Whether messages may be relayed to and from `peer` (reputation ≥ `min_relay_reputation`).
    pub fn can_relay(&self, peer: &NodeId) -> bool {
        let unix = self.clock.unix(self.now);
        self.reputation
            .thresholds()
            .can_relay(self.reputation.score(peer, unix).total)
    }

    /// Connected peers fit for consensus (reputation ≥ `min_consensus_reputation`), in id order.
    pub fn consensus_peers(&self) -> Vec<NodeId> {
        let unix = self.clock.unix(self.now);
        self.connected_peers()
            .into_iter()
            .filter(|p| {
                self.reputation
                    .thresholds()
                    .can_consensus(self.reputation.score(p, unix).total)
            })
            .collect()
    }

    /// Everything worth keeping across a restart, as plain records for the peer database.
    pub fn durable_state(&self, now: Instant) -> DurableState {
        let unix = self.clock.unix(now);
        DurableState {
            saved_at: unix,
            addresses: self.book.records(),
            reputation: self.reputation.records(unix),
            bans: self.bans.records(),
        }
    }

    /// Loads saved records (at start, before connecting). Decay and expiry are applied from
    /// the records' own times to `now`, so a restart is neither an amnesty nor a permanent grudge.
    pub fn restore(&mut self, state: DurableState, now: Instant) {
        let unix = self.clock.unix(now);
        self.book.restore(state.addresses);
        self.reputation.restore(state.reputation, unix);
        self.bans.restore(state.bans, unix);
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
            },
            PeerError::Timeout(Stage::Connect) => "connect_timeout",
            PeerError::Timeout(Stage::Handshake) => "handshake_timeout",
            PeerError::ConnectFailed(_) => "connect_failed",
            PeerError::Refused { .. } => "refused",
            PeerError::Closed(_) => "closed",
            PeerError::ProtocolViolation(_) => "protocol_violation",
            PeerError::UnknownPeer(_) => "unknown_peer",
            PeerError::ProxyRequired(_) => "proxy_required",
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
        PeerError::HandshakeFailed(HandshakeError::IncompatibleVersion { .. }) => {
            DisconnectReason::IncompatibleVersion
        }
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
fn resolve_listen(advertised: &str, observed: SocketAddr) -> Option<SocketAddr> {
    let a = PeerAddress::parse(advertised).ok()?.socket_addr()?;
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
