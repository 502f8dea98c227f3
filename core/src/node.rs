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

use crate::addr::{Host, PeerAddress};
use crate::config::Config;
use crate::handshake::{self, HandshakeError, HandshakeState, LocalHello, PeerHello};
use crate::id::{ConnId, NodeId, RequestId};
use crate::identity::Identity;
use crate::peer::{Direction, DisconnectReason, PeerInfo, PeerState, Priority};
use crate::pool::{Closing, Conn, Pool, PoolCounts, MAX_PENDING_DIALS};
use crate::rng::Rng;
use crate::time::{Clock, UnixMillis};
use crate::wire::{self, App, Disconnect, FrameDecoder, Message, MessageType, Ping, WireError};
use core::net::SocketAddr;
use serde_bytes::ByteBuf;
use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

/// The user agent this implementation announces.
pub const USER_AGENT: &str = concat!("qudag/", env!("CARGO_PKG_VERSION"));

/// Capabilities announced by default.
pub const DEFAULT_CAPABILITIES: [&str; 1] = ["pex"];

/// How long the node sleeps with nothing scheduled before it wakes for housekeeping.
pub const IDLE_WAKE: Duration = Duration::from_secs(60);

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
    /// A hostname needs DNS resolution, which this build's node does not perform yet.
    #[error("{0} is a hostname: resolve it first and add the IP address")]
    NeedsResolution(String),
    /// The node is shutting down.
    #[error("the node is shutting down")]
    ShuttingDown,
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
    /// Nothing scheduled.
    Idle,
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
        Node {
            config,
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
        }
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
        match self.timers.first() {
            Some(&(at, conn)) => {
                let reason = match self.pool.get(conn) {
                    Some(c) if c.closing.is_some() => WakeReason::DisconnectAck,
                    Some(c) if c.state == PeerState::Connecting => WakeReason::ConnectTimeout,
                    Some(c) if c.state == PeerState::Handshaking => WakeReason::HandshakeTimeout,
                    _ => WakeReason::KeepAlive,
                };
                (at, reason)
            }
            None => (self.now + IDLE_WAKE, WakeReason::Idle),
        }
    }

    fn conn_deadline(&self, c: &Conn) -> Option<Instant> {
        if let Some(cl) = &c.closing {
            return Some(cl.deadline);
        }
        match c.state {
            PeerState::Connecting | PeerState::Handshaking => Some(c.deadline),
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
        let mut bytes = Vec::new();
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
        } else if self.pool.is_full() {
            Some(DisconnectReason::ConnectionLimitReached)
        } else {
            None
        };
        if let Some(reason) = refusal {
            self.refuse_unpooled(id, reason, "");
            return id;
        }
        let mut c = self.new_conn(id, Direction::Inbound, remote, now);
        self.move_state(&mut c, PeerState::Connecting);
        self.move_state(&mut c, PeerState::Handshaking);
        self.pool.insert(c);
        self.schedule(id);
        id
    }

    fn refuse_unpooled(&mut self, id: ConnId, reason: DisconnectReason, text: &str) {
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

    fn on_received(&mut self, id: ConnId, mut data: &[u8], now: Instant) {
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
            Message::GetPeers(_) | Message::Peers(_) => {}
            m => {
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
                    Ok((st, reply, claimed)) => {
                        if let Some(c) = self.pool.get_mut(id) {
                            c.hs = st;
                            c.hello = Some(claimed);
                        }
                        self.send(id, &reply);
                        Ok(None)
                    }
                    Err(e) => Err(e),
                }
            }
            (HandshakeState::AwaitResponse { .. }, Message::HandshakeResponse(r)) => {
                let unix = self.unix_secs();
                match handshake::on_response(&c.hs, &r, &local_hello!(self, unix)) {
                    Ok((confirm, peer)) => {
                        self.send(id, &confirm);
                        Ok(Some(peer))
                    }
                    Err(e) => Err(e),
                }
            }
            (HandshakeState::AwaitConfirm { .. }, Message::HandshakeConfirm(cf)) => {
                handshake::on_confirm(&c.hs, &cf).map(Some)
            }
            (_, m) => Err(HandshakeError::UnexpectedMessage {
                got: m.message_type(),
                expected: expected.unwrap_or(MessageType::Handshake),
            }),
        };
        match result {
            Ok(None) => {}
            Ok(Some(peer)) => self.on_established(id, peer, now),
            Err(e) => self.fail(id, PeerError::HandshakeFailed(e), None),
        }
    }

    /// The peer proved `peer`. Applies the checks that need the whole node, then connects.
    fn on_established(&mut self, id: ConnId, peer: PeerHello, now: Instant) {
        let Some(c) = self.pool.get(id) else { return };
        let direction = c.direction;
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
        let listen = peer
            .listen_addr
            .as_deref()
            .and_then(|a| resolve_listen(a, self.pool.get(id)?.remote));
        let Some(c) = self.pool.get_mut(id) else {
            return;
        };
        let mut st = c.state;
        let r = st.transition(PeerState::Connected);
        debug_assert!(r.is_ok());
        c.state = st;
        c.hs = HandshakeState::Done;
        c.connected_since = Some(unix);
        c.hello = Some(peer.clone());
        c.listen_addr = listen;
        c.last_recv = now;
        let address = c.remote;
        let request = c.request.take();
        self.pool.bind_node(peer.node_id, id);
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
        let peer = c.hello.as_ref().map(|h| h.node_id);
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
        let sock = match &addr.host {
            Host::Ip(ip) => SocketAddr::new(*ip, addr.port),
            Host::Onion(_) => return Err(PeerError::ProxyRequired(addr.to_string())),
            Host::Domain(_) => return Err(PeerError::NeedsResolution(addr.to_string())),
        };
        if let Some(id) = addr.expected_id {
            if id == self.node_id() {
                return Err(PeerError::HandshakeFailed(HandshakeError::SelfConnection));
            }
            if self.pool.by_node(&id).is_some() {
                return Err(PeerError::AlreadyConnected(id.to_string()));
            }
        }
        if self
            .pool
            .iter()
            .any(|c| c.remote == sock || c.listen_addr == Some(sock))
        {
            return Err(PeerError::AlreadyConnected(sock.to_string()));
        }
        if self.pool.is_full() && !(priority == Priority::High && self.evict_for_high_priority()) {
            return Err(PeerError::ConnectionLimitReached {
                max: self.pool.max_connections,
            });
        }
        if self.pool.pending_dials() >= MAX_PENDING_DIALS {
            return Err(PeerError::TooManyPendingDials);
        }
        let request = self.alloc_request();
        let id = self.alloc_conn();
        let mut c = self.new_conn(id, Direction::Outbound, sock, now);
        c.priority = priority;
        c.request = Some(request);
        c.expected_id = addr.expected_id;
        self.move_state(&mut c, PeerState::Connecting);
        self.pool.insert(c);
        self.outputs.push_back(Output::Dial {
            conn: id,
            addr: sock,
        });
        self.schedule(id);
        Ok(request)
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
    pub fn remove_peer(&mut self, target: &str, now: Instant) -> Result<RequestId, PeerError> {
        self.tick(now);
        let id = self.find_peer(target)?;
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

    // ---------------------------------------------------------------- queries

    /// Every live connection, in connection order.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.pool.iter().map(|c| c.info(50)).collect()
    }

    /// One peer by connection.
    pub fn peer(&self, conn: ConnId) -> Option<PeerInfo> {
        self.pool.get(conn).map(|c| c.info(50))
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
