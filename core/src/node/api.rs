//! The node's contract with its driver: what goes in ([`Input`]), what comes out
//! ([`Output`], [`Event`]), why it wakes ([`WakeReason`]) and what it keeps across restarts
//! ([`DurableState`]). Plain data: no logic beyond [`IoFailure`]'s mapping of I/O errors.

use super::PeerError;
use crate::addr::Transport;
use crate::addrbook::Entry;
use crate::bans::Ban;
use crate::id::{ConnId, NodeId, RequestId};
use crate::peer::{Direction, DisconnectReason};
use crate::reputation::{ReputationRecord, ThresholdAction};
use crate::time::UnixMillis;
use core::net::SocketAddr;
use std::time::{Duration, Instant};

/// The user agent this implementation announces.
pub const USER_AGENT: &str = concat!("qudag/", env!("CARGO_PKG_VERSION"));

/// Capabilities announced by default.
pub(crate) const DEFAULT_CAPABILITIES: [&str; 1] = ["pex"];

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
